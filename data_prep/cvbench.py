"""CV-Bench (Cambrian-1's vision-centric benchmark) -> verl parquet (evaluation), 2D and 3D tasks.

    python -m data_prep.cvbench --out cvbench.parquet [--source nyu-visionx/CV-Bench | DIR]
        [--subset 2d|3d|all] [--split test] [--limit N]

Rows get ``data_source`` ``cvbench_2d`` (Relation, Count; ADE20K/COCO images) or ``cvbench_3d``
(Depth, Distance; Omni3D images) from the source's ``type`` field, so one file holds both and the
evaluation reports them apart. ``python -m data_prep.cvbench_2d`` / ``cvbench_3d`` build one subset.

Source: Hugging Face ``nyu-visionx/CV-Bench`` (split ``test``; configs ``2D``/``3D``) or a local copy of
that repository: ``test_2d.jsonl`` / ``test_3d.jsonl`` (or ``test.jsonl``) with images under ``img/``
named by the ``filename`` field, or ``test*.parquet`` with the images embedded. Field names are
confirmed from the dataset card.

| source field | our field                                                                      |
|--------------|--------------------------------------------------------------------------------|
| ``type``     | ``data_source`` (``cvbench_2d`` / ``cvbench_3d``); selects ``--subset``        |
| ``image`` / ``filename`` | ``images[0]`` (embedded bytes, else ``<source>/<filename>``)      |
| ``question`` | ``extra_info.question``                                                        |
| ``choices``  | ``extra_info.choices`` (source order)                                          |
| ``answer``   | ``extra_info.answer`` (``"(B)"`` -> ``B``)                                     |
| ``idx``      | ``extra_info.source_id`` (``<task>/<idx>``, with ``task``)                     |
| ``bbox``     | not used: its coordinate format is not documented on the card (only for Omni3D |
|              | images), so ``gt_boxes`` stays empty rather than guessed                       |
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import ItemStream, guarded, log_skips
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import find_annotation, load_source, resolve_image

HF_ID = "nyu-visionx/CV-Bench"
SUBSETS = {"2d": "2D", "3d": "3D"}


def to_item(raw: Mapping[str, Any], source_id: str, split: str, root: Path | None) -> SpatialItem:
    kind = str(raw["type"]).upper()
    if kind not in ("2D", "3D"):
        raise RowRejected("bad_row", f"type {raw['type']!r} is neither 2D nor 3D")
    image = raw.get("image")
    if not image:
        image = resolve_image(root, [str(raw["filename"])])
    return SpatialItem(
        data_source=f"cvbench_{kind.lower()}",
        question=str(raw["question"]),
        choices=[str(c) for c in raw["choices"]],
        answer=str(raw["answer"]),
        images=[image],
        split=split,
        source_id=source_id,
        image_root=str(root) if root else None,
    )


def _local_rows(root: Path, split: str, kinds: list[str]) -> Iterable[dict[str, Any]] | None:
    """Rows from the per-type files (``test_2d.jsonl`` ...) or the combined one; ``None`` if neither exists."""
    per_type = [find_annotation(root, [f"{split}_{k.lower()}.jsonl", f"{split}_{k.lower()}.parquet"]) for k in kinds]
    if all(per_type):
        return itertools.chain.from_iterable(load_source(str(p), None) for p in per_type)
    combined = find_annotation(root, [f"{split}.jsonl", f"{split}.parquet"])
    return load_source(str(combined), None) if combined else None


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subset", default="all", choices=["2d", "3d", "all"], help="which task types to keep")


def build(args: argparse.Namespace) -> ItemStream:
    kinds = list(SUBSETS.values()) if args.subset == "all" else [SUBSETS[args.subset]]
    path = Path(args.source) if args.source else None
    if path is not None and path.is_dir():
        rows = _local_rows(path, args.split, kinds)
        if rows is None:
            raise SystemExit(f"CV-Bench: no {args.split}_2d/_3d or {args.split} jsonl/parquet under {path}")
        root: Path | None = path
    elif path is not None and path.is_file():
        rows, root = load_source(str(path), None), path.parent
    else:
        config = None if len(kinds) == 2 else kinds[0]
        rows, root = load_source(args.source or HF_ID, args.split, HF_ID, name=config), None
    skipped = {"other subset": 0}

    def selected() -> Iterable[dict[str, Any]]:
        for raw in rows:
            if str(raw.get("type", "")).upper() in kinds or str(raw.get("type", "")).upper() not in SUBSETS.values():
                yield raw  # an unknown type is rejected in to_item, not filtered away
            else:
                skipped["other subset"] += 1

    def stream() -> ItemStream:
        yield from guarded(
            selected(),
            lambda raw, sid: to_item(raw, sid, args.split, root),
            lambda n, raw: f"{raw.get('task', '')}/{raw.get('idx', n)}",
        )
        log_skips("cvbench", skipped)

    return stream()


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=HF_ID, default_split="test", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
