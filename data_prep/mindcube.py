"""MindCube (spatial mental modelling from limited views; multi-image) -> verl parquet (evaluation).

    python -m data_prep.mindcube --out mindcube.parquet --source DATA_DIR [--split tinybench] [--limit N]

Source layout (``data.zip`` of Hugging Face ``MLL-Lab/MindCube``, unpacked; confirmed from the
``mll-lab-nu/MindCube`` repository and third-party loaders): ``--source`` is the ``data/`` folder holding
``raw/MindCube_tinybench.jsonl`` (1,050 questions, the usual benchmark), ``raw/MindCube.jsonl`` (the
full set) and ``raw/MindCube_train.jsonl``, plus the images (``other_all_image/...``) whose paths in the
``images`` field are relative to ``data/``. ``--split`` picks ``tinybench`` / ``test`` (full) / ``train``.
The hub repository only holds the zip, so there is no ``datasets`` path.

Options are written inline in the question ("... A. TV B. Wooden dining table ..."): they are split
off the question stem and become the choices, in order.

| source field   | our field                                                                 |
|----------------|---------------------------------------------------------------------------|
| ``images``     | ``images`` (2-4 views; the prompt numbers them "Image 1: <image>" ...)    |
| ``question``   | ``extra_info.question`` (the stem) and ``extra_info.choices`` (options)   |
| ``gt_answer``  | ``extra_info.answer`` (a letter)                                          |
| ``id``         | ``extra_info.source_id``                                                  |
| (none)         | ``gt_boxes`` empty                                                        |
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import ItemStream, guarded, split_inline_options
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import records, resolve_image

FILES = {"tinybench": "MindCube_tinybench.jsonl", "test": "MindCube.jsonl", "train": "MindCube_train.jsonl"}


def to_item(raw: Mapping[str, Any], source_id: str, split: str, root: Path | None) -> SpatialItem:
    parsed = split_inline_options(str(raw["question"]))
    if parsed is None:
        raise RowRejected("empty_choices", "no inline options (A. ... B. ...) found in the question")
    stem, options = parsed
    images = raw["images"]
    if isinstance(images, str):
        images = [images]
    return SpatialItem(
        data_source="mindcube",
        question=stem,
        choices=options,
        answer=str(raw["gt_answer"]),
        images=[resolve_image(root, [str(p)]) for p in images],
        split=split,
        source_id=source_id,
    )


def build(args: argparse.Namespace) -> ItemStream:
    if args.source is None:
        raise SystemExit("MindCube: pass --source with the unpacked data/ folder (raw/*.jsonl and the images)")
    name = FILES.get(args.split, f"{args.split}.jsonl")
    recs = records(args.source, args.split, None, [f"raw/{name}", name])
    root = recs.root
    if root is not None and root.name == "raw":  # --source given as the jsonl: images are relative to data/
        root = root.parent
    return guarded(
        recs,
        lambda raw, sid: to_item(raw, sid, args.split, root),
        lambda n, raw: str(raw.get("id") or f"{args.split}/{n}"),
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=None, default_split="tinybench")


if __name__ == "__main__":
    raise SystemExit(main())
