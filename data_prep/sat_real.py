"""SAT-Real (the real-image test split of SAT) -> verl parquet for circular evaluation.

    python -m data_prep.sat_real --out sat_real.parquet [--source array/SAT | DIR] [--split test] [--limit N]

Source: Hugging Face ``array/SAT``, split ``test`` (150 real-image dynamic questions; file
``SAT_test.parquet``), or a local copy (``--source DIR`` picks ``SAT_<split>.parquet``). Same fields as
``data_prep.sat`` (confirmed from the dataset card).

Circular evaluation: every question with ``n`` options becomes ``n`` rows, rotation ``r = 0..n-1``
presenting ``choices[r:] + choices[:r]`` of the source order; the answer letter follows the rotation.
All rotations share ``extra_info.circular_id``; a question counts as correct only if every rotation is
answered correctly (``fgrpo_verl.evaluate``). ``--limit N`` counts source questions here, so a limited
build never holds a partial rotation group.

| source field      | our field                                                                 |
|-------------------|---------------------------------------------------------------------------|
| ``image_bytes``   | ``images``                                                                |
| ``question``      | ``extra_info.question``                                                   |
| ``answers``       | ``extra_info.choices``, rotated by ``extra_info.rotation``                |
| ``correct_answer``| ``extra_info.answer`` (letter of the matching option after rotation)      |
| (row position)    | ``extra_info.circular_id`` = ``sat_real/<split>/<row>``; ``source_id`` too |
| ``question_type`` | appended to ``source_id``                                                 |
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

from data_prep import sat
from data_prep.cli import builder_cli
from data_prep.mapping import ItemStream, guarded, rotate
from data_prep.schema import SpatialItem
from data_prep.sources import records

DATA_SOURCE = "sat_real"


def to_items(raw: Mapping[str, Any], source_id: str, split: str) -> list[SpatialItem]:
    """One SAT-Real question -> one item per rotation of its choices."""
    base = sat.to_item(raw, source_id, split, seed=0, data_source=DATA_SOURCE, shuffle=False)
    circular_id = f"{DATA_SOURCE}/{source_id.split('/')[0]}/{source_id.split('/')[1]}"
    out = []
    for r in range(len(base.choices)):
        choices, idx = rotate(base.choices, int(base.answer), r)
        out.append(dataclasses.replace(base, choices=choices, answer=idx, circular_id=circular_id, rotation=r))
    return out


def build(args: argparse.Namespace) -> ItemStream:
    # builder_cli would cut --limit rows, possibly inside a rotation group; count questions instead.
    limit, args.limit = args.limit, None
    recs = records(args.source, args.split, sat.HF_ID, sat.ANNOTATIONS)
    rows = recs if limit is None else itertools.islice(recs, limit)
    return guarded(
        rows,
        lambda raw, sid: to_items(raw, sid, args.split),
        lambda n, raw: sat.source_id(args.split, n, raw),
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=sat.HF_ID, default_split="test")


if __name__ == "__main__":
    raise SystemExit(main())
