"""TreeVGR-RL-37K (V* and VisDrone questions with target boxes) -> verl parquet (training).

    python -m data_prep.treevgr --out treevgr.parquet --source TREEVGR_DIR [--distractors 3] [--limit N]

Source layout (Hugging Face ``HaochenWang/TreeVGR-RL-37K``; ``images.tar.gz`` unpacked next to the
parquet): ``vstar30k_visdrone6k_x1y1x2y2.parquet`` with ``images`` (relative paths such as
``images/0.jpg``), ``problem`` (``"<image>\\n<question>"``), ``answer`` and ``target_instances``
(``[{bbox, name, label}]``). Column names and the absolute-pixel xyxy boxes are confirmed from several
third-party loaders; the file name says x1y1x2y2. Confirmed: the file *is* the V* (~30k) + VisDrone
(~6k) subset named in the FGRPO paper: third-party downloaders fetch just this parquet and
``images.tar.gz`` from the hub repo, and third-party loaders read the file as the whole V*+VisDrone set
(one subsamples it by row order to keep the V*/VisDrone ratio). So every row is read; no per-row subset
tag is known. ``--source`` may be the folder or the parquet file; the hub id works for the parquet
when the images are local (``--image-dir``).

V* questions are free-form (e.g. a colour); VisDrone questions list options in ``problem`` and answer
with a letter (``"(A)"``/``"A"``). Options found inline are used as they are; a free-form answer gets
choices by the shared rule (``yes``/``no``; whole numbers -> four consecutive numbers; other text ->
``--distractors`` other answers of this dataset, seeded per item).

| source field           | our field                                                          |
|------------------------|--------------------------------------------------------------------|
| ``images``             | ``images`` (resolved against the parquet's folder or ``--image-dir``) |
| ``problem``            | ``extra_info.question`` (``<image>`` removed; stem when options inline) |
| ``answer``             | ``extra_info.answer`` (letter, or the free-form option's letter)   |
| ``target_instances[].bbox`` | ``extra_info.gt_boxes`` (xyxy px, unchanged)                  |
| (row position)         | ``extra_info.source_id`` = ``<row>``                               |
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import (
    AnswerPool,
    ItemStream,
    answer_pool,
    freeform_choices,
    guarded,
    image_size_of,
    item_rng,
    letter_index,
    split_inline_options,
    to_xyxy,
)
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import records, resolve_image

HF_ID = "HaochenWang/TreeVGR-RL-37K"
PARQUET = "vstar30k_visdrone6k_x1y1x2y2.parquet"
POOL_GROUP = "treevgr"


def question_text(raw: Mapping[str, Any]) -> str:
    return str(raw["problem"]).replace("<image>", "").strip()


def free_form_answer(raw: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(pool group, answer)`` for a free-form question (``None`` for a lettered one), for the distractor pool."""
    return None if letter_index(raw["answer"]) is not None else (POOL_GROUP, raw["answer"])


def multiple_choice(raw: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """``(stem, options)`` when the problem lists options and the answer is a letter."""
    parsed = split_inline_options(question_text(raw))
    if parsed is None or letter_index(raw["answer"]) is None:
        return None
    return parsed


def to_item(
    raw: Mapping[str, Any], source_id: str, split: str, image_dir: Path | None, pool: AnswerPool, seed: int, k: int
) -> SpatialItem:
    paths = raw["images"]
    if isinstance(paths, str):
        paths = [paths]
    images = [resolve_image(image_dir, [str(p)]) for p in paths]
    mc = multiple_choice(raw)
    if mc is not None:
        (question, choices), answer = mc, str(raw["answer"])
    elif letter_index(raw["answer"]) is not None:
        raise RowRejected("empty_choices", f"answer {raw['answer']!r} is an option letter but no options were found")
    else:
        question = question_text(raw)
        choices, answer = freeform_choices(raw["answer"], pool, POOL_GROUP, item_rng(seed, source_id), k)
    size = image_size_of(images[0])
    boxes = [to_xyxy(inst["bbox"], "xyxy_px", size) for inst in (raw.get("target_instances") or [])]
    return SpatialItem(
        data_source="treevgr",
        question=question,
        choices=choices,
        answer=answer,
        images=images,
        gt_boxes=boxes,
        split=split,
        source_id=source_id,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-dir", default=None, help="root of the `images` paths (default: the parquet's folder)")
    parser.add_argument("--distractors", type=int, default=3, help="distractors for free-form text answers")


def build(args: argparse.Namespace) -> ItemStream:
    recs = records(args.source, args.split, HF_ID, [PARQUET])
    image_dir = Path(args.image_dir) if args.image_dir else recs.root
    pool = answer_pool(recs, free_form_answer)
    return guarded(
        recs,
        lambda raw, sid: to_item(raw, sid, args.split, image_dir, pool, args.seed, args.distractors),
        lambda n, raw: str(n),
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=HF_ID, default_split="train", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
