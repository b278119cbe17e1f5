"""SAT (Spatial Aptitude Training, Ray et al. 2024): synthetic ProcTHOR spatial QA -> verl parquet (training).

    python -m data_prep.sat --out sat_train.parquet [--source array/SAT | DIR] [--split train] [--limit N]

Source: Hugging Face ``array/SAT`` (files ``SAT_train.parquet``, ``SAT_static.parquet``,
``SAT_val.parquet``, ``SAT_test.parquet``; splits ``train``/``static``/``val``/``test``), or a local
copy of those parquet files (``--source DIR`` picks ``SAT_<split>.parquet``, or give the file).
Confirmed from the dataset card's feature list; the test split (real images) is built by
``data_prep.sat_real`` with circular evaluation.

| source field      | our field                                                             |
|-------------------|-----------------------------------------------------------------------|
| ``image_bytes``   | ``images`` (a list: one image, or two for motion questions)           |
| ``question``      | ``extra_info.question``                                               |
| ``answers``       | ``extra_info.choices``, shuffled per item (seeded by ``--seed`` and   |
|                   | the row id): the card asks to randomise them before presenting        |
| ``correct_answer``| ``extra_info.answer`` (the letter of the matching option text)        |
| ``question_type`` | ``extra_info.source_id`` (``<split>/<row>/<question_type>``)          |
| (none)            | ``gt_boxes`` empty: SAT ships no boxes                                 |
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import ItemStream, guarded, item_rng, normalize_text, shuffle_choices, text_list
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import records

HF_ID = "array/SAT"
ANNOTATIONS = ("SAT_{split}.parquet", "{split}.parquet")


def correct_index(answers: list[str], correct: Any) -> int:
    """Index of ``correct`` among ``answers`` (compared after normalisation)."""
    keys = [normalize_text(a) for a in answers]
    key = normalize_text(correct)
    if not key:
        raise RowRejected("missing_answer", "correct_answer is empty")
    if key not in keys:
        raise RowRejected("answer_not_in_choices", f"correct_answer {correct!r} is none of {answers!r}")
    return keys.index(key)


def to_item(
    raw: Mapping[str, Any], source_id: str, split: str, seed: int, data_source: str = "sat", shuffle: bool = True
) -> SpatialItem:
    """One SAT record -> one item (choices shuffled when ``shuffle``)."""
    answers = text_list(raw["answers"], "answers")
    idx = correct_index(answers, raw["correct_answer"])
    if shuffle:
        answers, idx = shuffle_choices(answers, idx, item_rng(seed, source_id))
    return SpatialItem(
        data_source=data_source,
        question=str(raw["question"]),
        choices=answers,
        answer=idx,
        images=list(raw["image_bytes"]),
        split=split,
        source_id=source_id,
    )


def source_id(split: str, n: int, raw: Mapping[str, Any]) -> str:
    return f"{split}/{n}/{raw.get('question_type') or ''}".rstrip("/")


def build(args: argparse.Namespace) -> ItemStream:
    recs = records(args.source, args.split, HF_ID, ANNOTATIONS)
    return guarded(
        recs,
        lambda raw, sid: to_item(raw, sid, args.split, args.seed),
        lambda n, raw: source_id(args.split, n, raw),
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=HF_ID, default_split="train")


if __name__ == "__main__":
    raise SystemExit(main())
