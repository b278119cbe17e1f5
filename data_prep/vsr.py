"""VSR (Visual Spatial Reasoning, Liu et al. 2023): caption true/false on COCO images -> verl parquet.

    python -m data_prep.vsr --out vsr_test.parquet --source DIR [--split test] [--variant random]
        [--undersample-label-bias] [--image-dir DIR] [--limit N]

Source layout (the GitHub repo ``cambridgeltl/visual-spatial-reasoning``, ``data/``; the same jsonl
files are on Hugging Face as ``cambridgeltl/vsr_random`` / ``cambridgeltl/vsr_zeroshot``):
``splits/<variant>/{train,dev,test}.jsonl`` (or ``<split>.jsonl`` directly under ``--source``) and the
COCO 2017 images in ``images/`` (``--image-dir`` to point elsewhere, e.g. ``trainval2017/``). The jsonl
fields below are confirmed from the repo's README and loaders. The hub repositories hold
``train.jsonl`` / ``dev.jsonl`` / ``test.jsonl``, but ``datasets`` and the hub's parquet export
(``refs/convert/parquet``: ``default/validation/``) call the dev split ``validation``; ``--split dev``
and ``--split validation`` therefore each read whichever of the two names the source has (rows keep
the name given on the command line). The hub rows carry no pixels, so ``--image-dir`` is required with
a hub id.

Each caption becomes the two-option question below with choices ``["true", "false"]``.

| source field | our field                                                                        |
|--------------|----------------------------------------------------------------------------------|
| ``image``    | ``images[0]`` = ``<image-dir>/<image>`` (COCO file name)                         |
| ``caption``  | ``extra_info.question`` = 'Is this statement about the image true or false? ...' |
| ``label``    | ``extra_info.answer``: 1 -> ``true`` (A), 0 -> ``false`` (B)                      |
| ``relation`` | used by ``--undersample-label-bias``; appended to ``source_id``                  |
| (row)        | ``source_id`` = ``<split>/<row>/<relation>``                                     |
| (none)       | ``gt_boxes`` empty: VSR ships no boxes                                           |

``--undersample-label-bias``: for every relation, keep all rows of its rarer label and a seeded random
subset (``--seed``) of equal size of the other label, so each relation is 50/50 true/false and a model
cannot score by a relation's label prior. Dropped rows are counted in the log.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import TRUE_FALSE, ItemStream, guarded, item_rng, log_skips
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import Records, find_annotation, load_source, records, resolve_image

HF_ID = "cambridgeltl/vsr_random"
ANNOTATIONS = ("splits/{variant}/{split}.jsonl", "data/splits/{variant}/{split}.jsonl", "{split}.jsonl")
# The repo's own name first, then the name datasets / the hub's parquet export give the same split.
SPLIT_NAMES = {"dev": ("dev", "validation"), "validation": ("validation", "dev")}


def label_value(label: Any) -> bool:
    """VSR labels are 1/0 (also accepted: true/false strings)."""
    text = str(label).strip().casefold()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise RowRejected("missing_answer", f"label {label!r} is not 0/1")


def to_item(raw: Mapping[str, Any], source_id: str, split: str, image_dir: Path | None) -> SpatialItem:
    caption = str(raw["caption"]).strip()
    name = str(raw["image"])
    return SpatialItem(
        data_source="vsr",
        question=f'Is this statement about the image true or false? "{caption}"',
        choices=list(TRUE_FALSE),
        answer=0 if label_value(raw["label"]) else 1,
        images=[resolve_image(image_dir, [name, f"images/{name}", f"trainval2017/{name}"])],
        split=split,
        source_id=source_id,
    )


def undersample(rows: list[Mapping[str, Any]], seed: int) -> tuple[list[Mapping[str, Any]], int]:
    """Balance true/false within every relation (see module docstring); returns kept rows and the drop count."""
    groups: dict[tuple[str, bool], list[int]] = defaultdict(list)
    keep: set[int] = set()
    for i, raw in enumerate(rows):
        try:
            groups[(str(raw.get("relation", "")), label_value(raw.get("label")))].append(i)
        except RowRejected:
            keep.add(i)  # a malformed label is not balanced away: it reaches the writer and is rejected there
    for relation in sorted({rel for rel, _ in groups}):
        pos, neg = groups.get((relation, True), []), groups.get((relation, False), [])
        n = min(len(pos), len(neg))
        rng = item_rng(seed, f"vsr-undersample/{relation}")
        keep.update(rng.sample(pos, n))
        keep.update(rng.sample(neg, n))
    # "_row" keeps the source position for source_id after rows are dropped.
    kept = [{**raw, "_row": i} for i, raw in enumerate(rows) if i in keep]
    return kept, len(rows) - len(kept)


class FirstSplit:
    """Rows of the first of ``names`` that ``source`` has; the others' errors are reported if none has rows."""

    def __init__(self, source: str, names: Sequence[str]) -> None:
        self.source = source
        self.names = tuple(names)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        failures = []
        for name in self.names:
            try:
                rows = iter(load_source(self.source, name, HF_ID))
                first = next(rows)
            except StopIteration:
                return
            except Exception as exc:  # a missing split surfaces as KeyError, FileNotFoundError or a hub error
                failures.append(f"{name!r}: {type(exc).__name__}: {exc}")
                continue
            yield first
            yield from rows
            return
        raise SystemExit(f"VSR: {self.source} has none of the splits {list(self.names)} ({'; '.join(failures)})")


def split_records(source: str | None, split: str, names: Sequence[str]) -> Records:
    """Records of ``split`` (``dev`` also found as ``validation`` and back); ``names``: local annotation paths."""
    candidates = SPLIT_NAMES.get(split, (split,))
    src = source if source is not None else HF_ID
    path = Path(src)
    if path.is_dir():
        for name in candidates:
            if find_annotation(path, [n.format(split=name) for n in names]) is not None:
                return records(src, name, HF_ID, names)
    if len(candidates) == 1 or path.is_file():
        return records(src, split, HF_ID, names)
    root = path if path.is_dir() else None
    return Records(FirstSplit(src, candidates), root, f"{src} (split {' or '.join(candidates)})")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", default="random", choices=["random", "zeroshot"], help="VSR split family")
    parser.add_argument("--image-dir", default=None, help="COCO image folder (default: <source>/images)")
    parser.add_argument(
        "--undersample-label-bias", action="store_true", help="balance true/false labels within each relation"
    )


def build(args: argparse.Namespace) -> ItemStream:
    names = [n.replace("{variant}", args.variant) for n in ANNOTATIONS]
    recs = split_records(args.source, args.split, names)
    if args.image_dir is None and recs.root is None:
        raise SystemExit("VSR hub rows carry only COCO file names: pass --image-dir with the COCO 2017 images")
    image_dir = Path(args.image_dir) if args.image_dir else recs.root
    rows: Any = recs
    if args.undersample_label_bias:
        rows, dropped = undersample(list(recs), args.seed)
        log_skips("vsr", {"undersampled to balance labels per relation": dropped})
    return guarded(
        rows,
        lambda raw, sid: to_item(raw, sid, args.split, image_dir),
        lambda n, raw: f"{args.split}/{raw.get('_row', n)}/{raw.get('relation', '')}",
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=HF_ID, default_split="test", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
