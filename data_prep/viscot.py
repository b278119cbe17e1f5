"""Visual CoT (Shao et al. 2024): VQA with the key region's box -> verl parquet (training).

    python -m data_prep.viscot --out viscot.parquet --source VISCOT_DIR [--image-dir DIR] [--split train]
        [--subsets gqa,openimages,...] [--distractors 3] [--limit N]

Two raw layouts of Hugging Face ``deepcs233/Visual-CoT`` are read (both confirmed from the repository's
``tools/convert_data_to_llava_format.py``, which writes the first from the second):

1. ``viscot_363k.json`` (used when present under ``--source``): a list of
   ``{dataset, split, question_id, image: [path, path + "###[x1, y1, x2, y2]"], conversations}`` with
   ``conversations`` = human ``"<image>\\n<question> Please provide the bounding box ..."``, gpt (the
   box, normalised to the padded square), human ``"<image>"``, gpt ``<answer>``. The box after ``###``
   is the union of the annotated boxes in original pixels, xyxy; that one is used.
2. ``metadata/<dataset>_cot_<split>.jsonl`` (otherwise): ``{dataset, split, image, question, answer,
   bboxs, width, height}`` with ``bboxs`` a list of xyxy boxes in original pixels (all kept).

Images are looked up under ``--image-dir`` (default ``--source``) as the path given, then
``cot/<dataset>/<image>`` and ``cot_image_data/<dataset>/<image>`` (the image archive's layout;
``visual7w`` images sit under ``v7w``). Both files load whole into memory (the 363k json is ~345 MB).

Answers are free-form: ``yes``/``no`` -> ``["yes", "no"]``, whole numbers -> four consecutive numbers,
other text -> ``--distractors`` other answers of the same ``dataset`` (seeded per item by ``--seed``),
which needs one extra pass over the annotation file.

| source field                       | our field                                                    |
|------------------------------------|--------------------------------------------------------------|
| ``image[0]`` / ``image``           | ``images[0]``                                                |
| ``conversations[0]`` / ``question``| ``extra_info.question`` (``<image>`` and the box request removed) |
| last gpt turn / ``answer``         | ``extra_info.answer_text``; choices by the free-form rule    |
| ``image[1]`` after ``###`` / ``bboxs`` | ``extra_info.gt_boxes`` (xyxy px, unchanged)             |
| ``dataset``                        | distractor group; ``--subsets`` filter; ``source_id`` prefix |
| ``question_id`` / line number      | ``extra_info.source_id`` = ``<dataset>/<id>``                |
"""

from __future__ import annotations

import argparse
import json
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
    log_skips,
    to_xyxy,
)
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import load_source, resolve_image

CONVERTED_FILE = "viscot_363k.json"
IMAGE_DIR_ALIASES = {"visual7w": "v7w", "textcap": "textvqa"}
_BOX_REQUEST = re.compile(r"\s*Please (?:think step by step and )?provide the bounding box coordinate.*$", re.DOTALL)


def clean_question(text: str) -> str:
    """The question without ``<image>`` tokens and without VisCoT's box-request suffix."""
    return _BOX_REQUEST.sub("", text.replace("<image>", "")).strip()


def fields(raw: Mapping[str, Any]) -> tuple[str, str, str, list[Any]]:
    """``(image path, question, answer, boxes)`` of a record in either layout (boxes xyxy px)."""
    if "conversations" in raw:
        turns = raw["conversations"]
        gpt = [t["value"] for t in turns if t.get("from") == "gpt"]
        if not gpt:
            raise RowRejected("missing_answer", "no gpt turn in conversations")
        paths = [str(p) for p in raw["image"]]
        boxes = [json.loads(p.partition("###")[2]) for p in paths if "###" in p]
        return paths[0].partition("###")[0], clean_question(turns[0]["value"]), str(gpt[-1]), boxes
    return str(raw["image"]), clean_question(str(raw["question"])), str(raw["answer"]), list(raw.get("bboxs") or [])


def image_candidates(path: str, dataset: str) -> list[str]:
    """Where an image may sit: as given, then under the conversion's ``cot/`` or the archive's ``cot_image_data/``."""
    folder = IMAGE_DIR_ALIASES.get(dataset, dataset)
    name = Path(path).name
    candidates = [path, f"cot/{dataset}/{path}", f"cot/{folder}/{path}", f"cot_image_data/{folder}/{path}"]
    candidates.append(f"cot_image_data/{folder}/{name}")
    return list(dict.fromkeys(candidates))


def to_item(
    raw: Mapping[str, Any], source_id: str, split: str, image_dir: Path, pool: AnswerPool, seed: int, k: int
) -> SpatialItem:
    dataset = str(raw.get("dataset", ""))
    path, question, answer, boxes = fields(raw)
    image = resolve_image(image_dir, image_candidates(path, dataset))
    choices, idx = freeform_choices(answer, pool, dataset, item_rng(seed, source_id), k)
    item = SpatialItem(
        data_source="viscot",
        question=question,
        choices=choices,
        answer=idx,
        images=[image],
        split=split,
        source_id=source_id,
    )
    if boxes:
        size = image_size_of(image)
        item.gt_boxes = [to_xyxy(b, "xyxy_px", size) for b in boxes]
    return item


def annotation_files(source: Path, split: str) -> list[Path]:
    """The converted json if present (or given), else the ``metadata/*_cot_<split>.jsonl`` files."""
    if source.is_file():
        return [source]
    converted = source / CONVERTED_FILE
    if converted.is_file():
        return [converted]
    files = sorted((source / "metadata").glob(f"*_cot_{split}.jsonl")) or sorted(source.glob(f"*_cot_{split}.jsonl"))
    if not files:
        raise SystemExit(f"Visual-CoT: neither {converted} nor metadata/*_cot_{split}.jsonl under {source}")
    return files


def read_all(files: list[Path]) -> Callable[[], Iterator[dict[str, Any]]]:
    """A factory of fresh record iterators over ``files`` (the builder reads them twice)."""

    def rows() -> Iterator[dict[str, Any]]:
        for f in files:
            yield from load_source(str(f), None)

    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-dir", default=None, help="root of the image paths (default: --source)")
    parser.add_argument("--subsets", default=None, help="comma-separated `dataset` values to keep (default all)")
    parser.add_argument("--distractors", type=int, default=3, help="distractors for free-form text answers")


def build(args: argparse.Namespace) -> ItemStream:
    if args.source is None:
        raise SystemExit("Visual-CoT: pass --source with viscot_363k.json or metadata/ (and the images)")
    source = Path(args.source)
    rows = read_all(annotation_files(source, args.split))
    image_dir = Path(args.image_dir) if args.image_dir else (source if source.is_dir() else source.parent)
    keep = set(args.subsets.split(",")) if args.subsets else None
    skipped = {"dataset not in --subsets": 0, "other split": 0}

    def selected() -> Iterator[dict[str, Any]]:
        for raw in rows():
            if keep is not None and raw.get("dataset") not in keep:
                skipped["dataset not in --subsets"] += 1
            elif raw.get("split", args.split) != args.split:
                skipped["other split"] += 1
            else:
                yield raw

    pool = answer_pool(selected(), lambda raw: (str(raw.get("dataset", "")), fields(raw)[2]))
    for key in skipped:  # the pool pass counted them once already
        skipped[key] = 0

    def stream() -> ItemStream:
        yield from guarded(
            selected(),
            lambda raw, sid: to_item(raw, sid, args.split, image_dir, pool, args.seed, args.distractors),
            lambda n, raw: f"{raw.get('dataset', '')}/{raw.get('question_id', n)}",
        )
        log_skips("viscot", skipped)

    return stream()


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=None, default_split="train", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
