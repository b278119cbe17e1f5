"""RealWorldQA (xAI; real-world spatial and driving scenes) -> verl parquet (evaluation).

    python -m data_prep.realworldqa --out realworldqa.parquet [--source xai-org/RealworldQA | DIR]
        [--split test] [--limit N]

Source: Hugging Face ``xai-org/RealworldQA`` (split ``test``; fields ``image``, ``question``, ``answer``,
confirmed from lmms-eval's task), or a local parquet export of it (``--source DIR`` with
``test*.parquet`` / ``data/test-*.parquet``, or the file). Most questions list their options as lines
``"A. ..."`` followed by "Please answer directly with only the letter of the correct option and nothing
else."; the answer is then a letter. The others are free-form ("Please answer directly with a single
word or number.").

Multiple-choice questions keep their options in order. Free-form answers get choices by the shared rule
(``data_prep.mapping.freeform_choices``): ``yes``/``no`` -> ``["yes", "no"]``; a whole number ``n`` ->
four consecutive numbers containing ``n``; other text -> ``--distractors`` other free-form answers of
the benchmark. The answer-only instruction lines are dropped from the question (our prompt has its own).
The free-form pool needs one extra pass over the source: with a hub id the images are streamed twice,
so a local copy is faster.

| source field | our field                                                                        |
|--------------|----------------------------------------------------------------------------------|
| ``image``    | ``images[0]``                                                                    |
| ``question`` | ``extra_info.question`` (stem) and ``extra_info.choices`` (the ``A.`` lines)      |
| ``answer``   | ``extra_info.answer`` (letter; free-form text -> its option's letter)             |
| (row)        | ``extra_info.source_id`` = ``<split>/<row>``                                     |
| (none)       | ``gt_boxes`` empty                                                               |
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import (
    AnswerPool,
    ItemStream,
    answer_pool,
    freeform_choices,
    guarded,
    item_rng,
    letter_index,
    split_inline_options,
)
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import records

HF_ID = "xai-org/RealworldQA"
POOL_GROUP = "realworldqa"
_INSTRUCTION = re.compile(r"^\s*Please answer\b.*$", re.IGNORECASE | re.MULTILINE)


def strip_instruction(question: str) -> str:
    """Drop the benchmark's answer-format lines ("Please answer directly with ...")."""
    return _INSTRUCTION.sub("", question).strip()


def free_form_answer(raw: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(pool group, answer)`` for a free-form question (``None`` for a lettered one), for the distractor pool."""
    return None if letter_index(raw["answer"]) is not None else (POOL_GROUP, raw["answer"])


def multiple_choice(raw: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """``(stem, options)`` when the question lists options and the answer names one by letter."""
    parsed = split_inline_options(str(raw["question"]))
    if parsed is None or letter_index(raw["answer"]) is None:
        return None
    return strip_instruction(parsed[0]), parsed[1]


def to_item(raw: Mapping[str, Any], source_id: str, split: str, pool: AnswerPool, seed: int, k: int) -> SpatialItem:
    mc = multiple_choice(raw)
    if mc is not None:
        question, choices = mc
        answer: Any = str(raw["answer"])
    elif letter_index(raw["answer"]) is not None:
        raise RowRejected("empty_choices", f"answer {raw['answer']!r} is an option letter but no options were found")
    else:
        question = strip_instruction(str(raw["question"]))
        choices, answer = freeform_choices(raw["answer"], pool, POOL_GROUP, item_rng(seed, source_id), k)
    return SpatialItem(
        data_source="realworldqa",
        question=question,
        choices=choices,
        answer=answer,
        images=[raw["image"]],
        split=split,
        source_id=source_id,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--distractors", type=int, default=3, help="distractors for free-form text answers")


def build(args: argparse.Namespace) -> ItemStream:
    recs = records(args.source, args.split, HF_ID)
    pool = answer_pool(recs, free_form_answer)
    return guarded(
        recs,
        lambda raw, sid: to_item(raw, sid, args.split, pool, args.seed, args.distractors),
        lambda n, raw: f"{args.split}/{n}",
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=HF_ID, default_split="test", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
