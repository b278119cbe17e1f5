"""CV-Bench (Cambrian-1's vision-centric benchmark) -> verl parquet (evaluation), 2D and 3D tasks.

    python -m data_prep.cvbench --out cvbench.parquet [--source nyu-visionx/CV-Bench | DIR]
        [--subset 2d|3d|all] [--split test] [--limit N]

Rows get ``data_source`` ``cvbench_2d`` (Relation, Count; ADE20K/COCO images) or ``cvbench_3d``
(Depth, Distance; Omni3D images) from the source's ``type`` field, so one file holds both and the
evaluation reports them apart. ``python -m data_prep.cvbench_2d`` / ``cvbench_3d`` build one subset.

Source: Hugging Face ``nyu-visionx/CV-Bench`` (split ``test``; configs ``2D``/``3D``) or a local copy of
that repository. The current snapshot ships ``test_2d.parquet`` / ``test_3d.parquet`` (images embedded in
an ``image`` column ``{bytes, path}``), ``test_2d.jsonl`` / ``test_3d.jsonl`` (text only, images named
by ``filename`` under ``img/``) and a ``build_img.py`` that recreates ``img/``, but no ``img/`` folder.
Files read from a directory, first match wins:

1. ``<split>_2d.parquet`` / ``<split>_3d.parquet`` (those of the ``--subset``), images embedded;
2. ``<split>_2d.jsonl`` / ``<split>_3d.jsonl``, else ``<split>.jsonl``, with images under ``img/``;
3. ``<split>.parquet`` (an older snapshot's combined file).

A JSONL whose ``img/`` folder is missing (also one passed as ``--source FILE``) is replaced by the
parquet next to it (same name, else ``<split>.parquet``), with one log line saying so; without such a
parquet the build stops with a message naming ``build_img.py``. Field names are confirmed from the
dataset card; the parquet ``image`` struct from third-party loaders that read ``row["image"]["bytes"]``.

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
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import ItemStream, guarded, log_skips, text_list
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import load_source, resolve_image

logger = logging.getLogger(__name__)

HF_ID = "nyu-visionx/CV-Bench"
IMAGE_DIR = "img"
SUBSETS = {"2d": "2D", "3d": "3D"}


def to_item(raw: Mapping[str, Any], source_id: str, split: str, root: Path | None) -> SpatialItem:
    kind = str(raw["type"]).upper()
    if kind not in ("2D", "3D"):
        raise RowRejected("bad_row", f"type {raw['type']!r} is neither 2D nor 3D")
    image = raw.get("image")
    if not image or (isinstance(image, Mapping) and not image.get("bytes") and not image.get("path")):
        image = resolve_image(root, [str(raw["filename"])])
    return SpatialItem(
        data_source=f"cvbench_{kind.lower()}",
        question=str(raw["question"]),
        choices=text_list(raw["choices"], "choices"),
        answer=str(raw["answer"]),
        images=[image],
        split=split,
        source_id=source_id,
        image_root=str(root) if root else None,
    )


def choose_files(root: Path, split: str, kinds: list[str]) -> list[Path]:
    """The annotation files of a local copy for ``kinds``, in the order of the module docstring."""
    stems = [f"{split}_{k.lower()}" for k in kinds]
    parquet = [root / f"{stem}.parquet" for stem in stems]
    if all(p.is_file() for p in parquet):
        return parquet
    jsonl = [root / f"{stem}.jsonl" for stem in stems]
    if not all(p.is_file() for p in jsonl):
        jsonl = [root / f"{split}.jsonl"] if (root / f"{split}.jsonl").is_file() else []
    if jsonl:
        return with_images(jsonl, split)
    if (root / f"{split}.parquet").is_file():
        return [root / f"{split}.parquet"]
    raise SystemExit(f"CV-Bench: no {split}_2d/_3d or {split} .parquet/.jsonl under {root}")


def with_images(jsonl: list[Path], split: str) -> list[Path]:
    """``jsonl`` when its ``img/`` folder exists, else the parquet files beside it that embed the images.

    The JSONL rows only name ``img/...`` files; without that folder every row would be an image reject.
    """
    folder = jsonl[0].parent
    if (folder / IMAGE_DIR).is_dir():
        return jsonl
    embedded = []
    for path in jsonl:
        candidates = (path.with_suffix(".parquet"), folder / f"{split}.parquet")
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise SystemExit(
                f"CV-Bench: {path} names its images under {folder / IMAGE_DIR}/, which is missing, and no parquet "
                f"with embedded images lies beside it; run the dataset's build_img.py or fetch {path.stem}.parquet"
            )
        embedded.append(found)
    embedded = list(dict.fromkeys(embedded))  # two per-type JSONL files may share one combined parquet
    logger.info(
        "CV-Bench: %s/ is missing under %s; reading the images embedded in %s instead of %s",
        IMAGE_DIR, folder, ", ".join(p.name for p in embedded), ", ".join(p.name for p in jsonl),
    )  # fmt: skip
    return embedded


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subset", default="all", choices=["2d", "3d", "all"], help="which task types to keep")


def build(args: argparse.Namespace) -> ItemStream:
    kinds = list(SUBSETS.values()) if args.subset == "all" else [SUBSETS[args.subset]]
    path = Path(args.source) if args.source else None
    files: list[Path] = []
    root: Path | None = None
    if path is not None and path.is_dir():
        files, root = choose_files(path, args.split, kinds), path
    elif path is not None and path.is_file():
        files, root = (with_images([path], args.split) if path.suffix == ".jsonl" else [path]), path.parent
    if files:
        rows: Iterable[dict[str, Any]] = itertools.chain.from_iterable(load_source(str(f), None) for f in files)
    else:
        config = None if len(kinds) == 2 else kinds[0]
        rows = load_source(args.source or HF_ID, args.split, HF_ID, name=config)
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
