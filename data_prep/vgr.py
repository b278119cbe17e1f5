"""VGR-SFT (Visual Grounded Reasoning, Wang et al. 2025): questions with grounded regions -> verl parquet (training).

    python -m data_prep.vgr --out vgr.parquet --source VGR_DIR [--files '*short*.parquet']
        [--image-dir DIR] [--box-frame norm1|norm1000|px] [--distractors 3] [--limit N]

Source: Hugging Face ``BytedanceDouyinContent/VGR`` (``vgr_shortcot.parquet`` and ``vgr_longcot.parquet``:
a short and a long reasoning version of the same questions, hence ``--files`` picking one of them,
default the short one) with the images of ``lmms-lab/LLaVA-NeXT-Data``'s ``llava_next_raw_format``
(``--image-dir``, default ``<source>/llava_next_raw_format`` when present): the ``image`` field is a path
relative to that folder (e.g. ``ai2d/abc_images/311.png``), written as a string or a one-element list.

Layout confirmed by third-party code that reads the release (``THX-21/FoveaToken``:
``scripts/preprocess_vgr.py``, ``scripts/inspect_vgr_longcot.py``, README): the two file names, the
columns ``image`` and ``conversations`` (LLaVA ``[{from, value}]``), regions in the gpt turns written as
``<SOT>[x1, y1, x2, y2]<EOT><image>`` with coordinates as fractions of the original image in [0, 1]
(``--box-frame norm1``), and replies holding ``<think>...</think>``. The paper's figures print
pixel-like values, so boxes outside the image are still rejected, and a build with more than
``--max-reject-share`` rejects exits non-zero: a wrong frame cannot pass silently.

The final answer is read from the last gpt turn: an ``answer`` column if the row has one; else the text
after the last ``</think>`` (the paper's replies end "... the correct answer is the mesocarp.
</think> Final answer: D"), or the whole reply when it has no ``</think>``; in that text the last
``<answer>...</answer>``, else the last ``\\boxed{...}``, else the last line with a leading
"Final answer:" / "Answer:" / "... answer is" stripped (the last such phrase on the line counts).
Answers longer than 100 characters are rejected as unparsed.

Questions that list options (AI2D) keep them; other answers get choices by the shared free-form rule
(``yes``/``no``; whole numbers -> four consecutive numbers; other text -> ``--distractors`` other
answers of the same sub-dataset, i.e. the first folder of ``image``, seeded per item).

| source field                        | our field                                                  |
|-------------------------------------|------------------------------------------------------------|
| ``image`` (string or ``[string]``)  | ``images[0]`` (``<image-dir>/<image>``)                    |
| first human turn                    | ``extra_info.question`` (``<image>`` removed; stem + options when listed) |
| last gpt turn (final answer)        | ``extra_info.answer`` / ``answer_text``                    |
| ``<sot>[...]<eot>`` in the gpt turns | ``extra_info.gt_boxes`` (``--box-frame`` -> xyxy px, duplicates dropped) |
| ``id`` (or row position)            | ``extra_info.source_id`` = ``<file>/<id>``                 |
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator, Mapping
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
    split_inline_options,
    to_xyxy,
)
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import hf_id_of, load_source, resolve_image

HF_ID = "BytedanceDouyinContent/VGR"
MAX_ANSWER_CHARS = 100
_REGION = re.compile(r"<sot>\s*\[([^\]]*)\]\s*<eot>", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_THINK_END = re.compile(r"</think>", re.IGNORECASE)
# Greedy ".*" so that the last "answer is"/"answer:" on the line wins ("... answer is X. Final answer: D" -> D).
_ANSWER_IS = re.compile(r"^.*\b(?:final answer|answer)\s*(?:is\s*:?|[:：])\s*(.+?)\s*$", re.IGNORECASE)
_LEADING_LETTER = re.compile(r"^\(?([A-Za-z])\)?(?:[.:)]\s+\S.*|\s*)$", re.DOTALL)


def turns(raw: Mapping[str, Any], role: str) -> list[str]:
    names = {"human": ("human", "user"), "gpt": ("gpt", "assistant")}[role]
    return [str(t["value"]) for t in raw["conversations"] if t.get("from") in names]


def final_answer(raw: Mapping[str, Any], reply: str) -> str:
    """The short final answer of a reasoning reply (rules in the module docstring)."""
    if raw.get("answer") not in (None, ""):
        text = str(raw["answer"])
    else:
        parts = _THINK_END.split(reply)
        tail = parts[-1] if len(parts) > 1 else reply
        tail = _REGION.sub("", tail).replace("<image>", "")
        if tags := _ANSWER_TAG.findall(tail):
            text = tags[-1]
        elif boxed := _BOXED.findall(tail):
            text = boxed[-1]
        else:
            lines = [line.strip() for line in tail.splitlines() if line.strip()]
            if not lines:
                where = "after </think>" if len(parts) > 1 else "in the reply"
                raise RowRejected("missing_answer", f"no text {where}")
            match = _ANSWER_IS.search(lines[-1])
            text = match.group(1) if match else lines[-1]
    text = text.strip().rstrip(".").strip()
    if not text or len(text) > MAX_ANSWER_CHARS:
        raise RowRejected("missing_answer", f"no short final answer in the reply (got {text[:60]!r}...)")
    return text


def image_name(raw: Mapping[str, Any]) -> str:
    """The row's image path: a string, or a list holding exactly one string."""
    value = raw.get("image")
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise RowRejected("bad_row", f"image lists {len(value)} paths; a VGR row has one image")
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        raise RowRejected("no_images", f"image is {value!r}, not a path")
    return value.strip()


def regions(replies: list[str]) -> list[list[float]]:
    """The ``<sot>[...]<eot>`` regions of the replies, in order, without duplicates."""
    out: list[list[float]] = []
    for reply in replies:
        for body in _REGION.findall(reply):
            try:
                box = [float(v) for v in body.split(",")]
            except ValueError as exc:
                raise RowRejected("box_invalid", f"region [{body}] is not numeric") from exc
            if box not in out:
                out.append(box)
    return out


def sub_dataset(raw: Mapping[str, Any]) -> str:
    return image_name(raw).split("/", 1)[0]


def to_item(
    raw: Mapping[str, Any],
    source_id: str,
    split: str,
    image_dir: Path | None,
    pool: AnswerPool,
    seed: int,
    k: int,
    box_frame: str,
) -> SpatialItem:
    asked = turns(raw, "human")
    replies = turns(raw, "gpt")
    if not asked or not replies:
        raise RowRejected("missing_answer", "conversations lack a human or a gpt turn")
    question = asked[0].replace("<image>", "").strip()
    answer_text = final_answer(raw, replies[-1])
    parsed = split_inline_options(question)
    if parsed is not None:
        question, choices = parsed
        letter = _LEADING_LETTER.match(answer_text)
        answer: Any = letter.group(1) if letter else answer_text
    else:
        choices, answer = freeform_choices(answer_text, pool, sub_dataset(raw), item_rng(seed, source_id), k)
    image = resolve_image(image_dir, [image_name(raw)])
    boxes = regions(replies)
    gt_boxes = []
    if boxes:
        size = image_size_of(image)
        gt_boxes = [to_xyxy(b, f"xyxy_{box_frame}", size) for b in boxes]
    return SpatialItem(
        data_source="vgr",
        question=question,
        choices=choices,
        answer=answer,
        images=[image],
        gt_boxes=gt_boxes,
        split=split,
        source_id=source_id,
    )


def source_files(source: Path, pattern: str) -> list[Path]:
    if source.is_file():
        return [source]
    files = sorted(source.glob(pattern)) or sorted(source.glob(f"data/{pattern}"))
    if not files:
        found = sorted(p.name for p in source.rglob("*.parquet"))[:10]
        raise SystemExit(f"VGR: no file matches {pattern!r} under {source} (parquet files there: {found})")
    return files


def read_all(sources: list[str], split: str | None) -> Callable[[], Iterator[dict[str, Any]]]:
    """A factory of fresh iterators over the rows of ``sources``, each tagged with its file stem and row."""

    def rows() -> Iterator[dict[str, Any]]:
        for src in sources:
            for n, raw in enumerate(load_source(src, split, HF_ID)):
                row_id = raw.get("id")
                yield {**raw, "_sid": f"{Path(src).stem}/{n if row_id is None else row_id}"}

    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", default="*short*.parquet", help="which annotation files under --source")
    parser.add_argument("--image-dir", default=None, help="llava_next_raw_format folder (default: under --source)")
    parser.add_argument("--box-frame", default="norm1", choices=["norm1", "norm1000", "px"], help="region scale")
    parser.add_argument("--distractors", type=int, default=3, help="distractors for free-form text answers")


def build(args: argparse.Namespace) -> ItemStream:
    source = Path(args.source)
    if source.exists():
        rows = read_all([str(f) for f in source_files(source, args.files)], None)
        folder: Path | None = source if source.is_dir() else source.parent
    elif hf_id_of(args.source) is not None and args.image_dir is None:  # a missing local path: SourceError
        raise SystemExit("VGR: the hub rows name LLaVA-NeXT images by path only: pass --image-dir")
    else:
        rows, folder = read_all([args.source], args.split), None
    default_images = folder / "llava_next_raw_format" if folder else None
    if args.image_dir:
        image_dir: Path | None = Path(args.image_dir)
    else:
        image_dir = default_images if default_images and default_images.is_dir() else folder

    def reply_answer(raw: Mapping[str, Any]) -> tuple[str, Any] | None:
        asked = turns(raw, "human")
        if asked and split_inline_options(asked[0]) is not None:
            return None
        return sub_dataset(raw), final_answer(raw, turns(raw, "gpt")[-1])

    pool = answer_pool(rows(), reply_answer)
    return guarded(
        rows(),
        lambda raw, sid: to_item(raw, sid, args.split, image_dir, pool, args.seed, args.distractors, args.box_frame),
        lambda n, raw: str(raw["_sid"]),
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=HF_ID, default_split="train", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
