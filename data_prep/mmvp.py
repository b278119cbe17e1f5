"""MMVP (Multimodal Visual Patterns, "CLIP-blind pairs") -> verl parquet (evaluation).

    python -m data_prep.mmvp --out mmvp.parquet --source MMVP_DIR [--limit N]

Source layout (a snapshot of Hugging Face ``MMVP/MMVP``; confirmed from loaders of the original CSV):
``Questions.csv`` with columns ``Index, Question, Options, Correct Answer`` and the images
``MMVP Images/<Index>.jpg``. ``Options`` reads ``"(a) Open (b) Closed"`` and ``Correct Answer`` ``"(a)"``.
Loading ``MMVP/MMVP`` through ``datasets`` yields only the images (the CSV is not a configured split),
so ``--source`` must be a local snapshot (``huggingface-cli download MMVP/MMVP --repo-type dataset``).
The 300 questions form 150 pairs with opposite answers; pair accuracy can be computed from
``source_id`` (pairs are ``Index`` 1-2, 3-4, ...).

| source field       | our field                                              |
|--------------------|--------------------------------------------------------|
| ``Index``          | ``images[0]`` = ``MMVP Images/<Index>.jpg``; ``source_id`` |
| ``Question``       | ``extra_info.question``                                |
| ``Options``        | ``extra_info.choices`` (``(a) x (b) y`` -> ``[x, y]``) |
| ``Correct Answer`` | ``extra_info.answer`` (``(a)`` -> ``A``)                |
| (none)             | ``gt_boxes`` empty                                     |
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


def to_item(raw: Mapping[str, Any], source_id: str, root: Path | None) -> SpatialItem:
    parsed = split_inline_options(str(raw["Options"]))
    if parsed is None:
        raise RowRejected("empty_choices", f"cannot read options from {raw['Options']!r}")
    _, options = parsed
    index = str(raw["Index"]).strip()
    return SpatialItem(
        data_source="mmvp",
        question=str(raw["Question"]),
        choices=options,
        answer=str(raw["Correct Answer"]),
        images=[resolve_image(root, [f"MMVP Images/{index}.jpg", f"MMVP Images/{index}.png"])],
        split="test",
        source_id=source_id,
    )


def build(args: argparse.Namespace) -> ItemStream:
    if args.source is None:
        raise SystemExit("MMVP: pass --source with a local snapshot of MMVP/MMVP (Questions.csv, 'MMVP Images/')")
    recs = records(args.source, None, None, ["Questions.csv"])
    return guarded(
        recs,
        lambda raw, sid: to_item(raw, sid, recs.root),
        lambda n, raw: str(raw.get("Index") or n),
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=None, default_split="test")


if __name__ == "__main__":
    raise SystemExit(main())
