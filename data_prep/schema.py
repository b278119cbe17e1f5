"""The row contract every data builder writes (SPEC §4): the parquet schema, the prompt, image encoding and validation.

A builder only maps its raw records into :class:`SpatialItem`; :meth:`SpatialItem.to_row` turns one into a
row of :data:`ROW_SCHEMA` and :func:`validate_row` checks it, so every parquet file has the same columns and
types and any mix of them concatenates. The rest of ``data_prep``: :mod:`~data_prep.writer` (streaming
writer, rejects, token budget), :mod:`~data_prep.readers` and :mod:`~data_prep.sources` (reading user files,
choosing local or Hugging Face), :mod:`~data_prep.mapping` (helpers for mapping records),
:mod:`~data_prep.cli` (the shared command line). A builder module is then::

    def build(args):
        rows = records(args.source, args.split, default_hf_id="org/name")
        return guarded(rows, lambda rec, sid: SpatialItem("name", rec["q"], ...), lambda n, rec: str(rec["id"]))

    def main(argv=None) -> int:
        return builder_cli(__doc__, build, argv, default_source="org/name")
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image

IMAGE_PLACEHOLDER = "<image>"
MAX_ASPECT_RATIO = 200  # Qwen2.5-VL's smart_resize raises beyond this long/short side ratio
ABILITY = "spatial"

OUTPUT_INSTRUCTION = (
    "First think step by step inside <think> </think> tags. When your reasoning refers to an object, "
    "give its location in the image as <bbox>[x1, y1, x2, y2]</bbox> in pixel coordinates. "
    "Then give only the letter of the correct option ({letters}) inside <answer> </answer> tags, "
    "e.g. <think>...</think><answer>A</answer>."
)

# Short, stable reject codes (the JSONL ``reason`` and the keys of ``WriteSummary.rejected``).
REJECT_REASONS: tuple[str, ...] = (
    "builder_error",  # the builder raised while mapping the source record
    "empty_question",
    "empty_choices",
    "duplicate_choices",
    "too_many_choices",
    "missing_answer",
    "answer_not_in_choices",
    "no_images",
    "image_decode",
    "image_size_mismatch",
    "image_aspect",  # long side over 200x the short side: Qwen2.5-VL's resize refuses it
    "placeholder_mismatch",
    "box_invalid",
    "box_out_of_bounds",
    "bad_row",  # a structurally malformed row dict (missing keys, wrong types)
    "bad_field",  # a source field of the wrong type, e.g. a string where a list of options belongs
    "bad_encoding",  # a source line or record whose bytes are not UTF-8 (data_prep.readers)
    "bad_json",  # a source line that is not JSON, or where a JSON document breaks off
    "not_a_record",  # a source line or element that is not an object / a CSV row with too many fields
)

ROW_SCHEMA = pa.schema(
    [
        pa.field("data_source", pa.string(), nullable=False),
        pa.field("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        pa.field("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
        pa.field("ability", pa.string()),
        pa.field("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        pa.field(
            "extra_info",
            pa.struct(
                [
                    ("index", pa.int64()),
                    ("split", pa.string()),
                    ("question", pa.string()),
                    ("choices", pa.list_(pa.string())),
                    ("answer", pa.string()),
                    ("answer_text", pa.string()),
                    ("gt_boxes", pa.list_(pa.list_(pa.float64()))),
                    ("image_sizes", pa.list_(pa.list_(pa.int64()))),
                    ("scene_graph", pa.string()),
                    ("circular_id", pa.string()),
                    ("rotation", pa.int64()),
                    ("source_id", pa.string()),
                ]
            ),
        ),
    ]
)


class RowRejected(ValueError):
    """A source record that cannot become a valid row; ``reason`` is one of :data:`REJECT_REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}; expected one of {REJECT_REASONS}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------- prompt


def option_letters(n: int) -> list[str]:
    """The first ``n`` option letters, ``A`` upwards (at most 26 options)."""
    if not 1 <= n <= 26:
        raise ValueError(f"number of options must be in 1..26, got {n}")
    return [chr(ord("A") + i) for i in range(n)]


def build_prompt(question: str, choices: list[str], num_images: int) -> list[dict[str, str]]:
    """Chat messages for one item: images first, then the question, the lettered options and the instruction."""
    letters = option_letters(len(choices))
    if num_images == 1:
        image_part = f"{IMAGE_PLACEHOLDER}\n"
    else:
        # Several views (e.g. MindCube): number them so the question can refer to "image 2".
        image_part = "".join(f"Image {i + 1}: {IMAGE_PLACEHOLDER}\n" for i in range(num_images))
    options = "\n".join(f"({letter}) {text}" for letter, text in zip(letters, choices, strict=True))
    instruction = OUTPUT_INSTRUCTION.format(letters=", ".join(letters))
    content = f"{image_part}{question.strip()}\nOptions:\n{options}\n{instruction}"
    return [{"role": "user", "content": content}]


# --------------------------------------------------------------------------- images

_KEEP_FORMATS = ("JPEG", "PNG")


def _decode(data: bytes) -> Image.Image:
    """Fully decode encoded bytes (``Image.open`` alone only reads the header; truncation shows on load)."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _png_bytes(img: Image.Image) -> bytes:
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def encode_image(obj: Any, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Encode one image as ``{"bytes": <PNG or JPEG bytes>, "path": str}``; raise ``RowRejected`` if it fails."""
    path = ""
    if isinstance(obj, Mapping):
        path = str(obj.get("path") or "")
        data = obj.get("bytes")
        if data is None:
            if not path:
                raise RowRejected("image_decode", "image dict has neither bytes nor path")
            obj = path
        else:
            obj = bytes(data)
    if isinstance(obj, str | os.PathLike):
        file = Path(obj)
        if not file.is_absolute() and root is not None:
            file = Path(root) / file
        path = path or str(obj)
        try:
            obj = file.read_bytes()
        except OSError as exc:
            raise RowRejected("image_decode", f"cannot read image file {file}: {exc}") from exc
    if isinstance(obj, Image.Image):
        try:
            return {"bytes": _png_bytes(obj), "path": path}
        except (OSError, ValueError) as exc:
            raise RowRejected("image_decode", f"cannot encode PIL image: {exc}") from exc
    if isinstance(obj, bytes | bytearray | memoryview):
        data = bytes(obj)
        try:
            img = _decode(data)
        except Exception as exc:  # PIL raises several unrelated types for bad data
            raise RowRejected("image_decode", f"{type(exc).__name__}: {exc}") from exc
        if img.format in _KEEP_FORMATS:
            return {"bytes": data, "path": path}
        return {"bytes": _png_bytes(img), "path": path}
    raise RowRejected("image_decode", f"unsupported image object of type {type(obj).__name__}")


def _image_size(image: Mapping[str, Any], i: int) -> tuple[int, int]:
    """``(w, h)`` of an encoded image after a full decode; ``RowRejected`` if it does not decode."""
    data = image.get("bytes") if isinstance(image, Mapping) else None
    if not isinstance(data, bytes | bytearray) or not data:
        raise RowRejected("image_decode", f"image {i} has no bytes")
    try:
        return _decode(bytes(data)).size
    except Exception as exc:  # PIL raises several unrelated types for bad data
        raise RowRejected("image_decode", f"image {i}: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- items and rows

_LETTER_RE = re.compile(r"^\(?\s*([A-Za-z])\s*[).:]?$")


def _answer_index(answer: str | int | None, choices: list[str]) -> int:
    """Resolve a letter (``B``, ``(B)``, ``B.``), a 0-based index or a choice's exact text to an index."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        raise RowRejected("missing_answer", "no answer given")
    if isinstance(answer, bool):
        raise RowRejected("missing_answer", f"answer must be a letter, index or choice text, got {answer!r}")
    if isinstance(answer, numbers.Integral):  # numpy integers from pandas/parquet sources included
        answer = int(answer)
        if 0 <= answer < len(choices):
            return answer
        raise RowRejected("answer_not_in_choices", f"answer index {answer} outside 0..{len(choices) - 1}")
    text = str(answer).strip()
    match = _LETTER_RE.match(text)
    if match:
        idx = ord(match.group(1).upper()) - ord("A")
        if idx < len(choices):
            return idx
    folded = [c.strip().casefold() for c in choices]
    if text.casefold() in folded:
        return folded.index(text.casefold())
    raise RowRejected("answer_not_in_choices", f"answer {text!r} names none of {len(choices)} choices")


@dataclasses.dataclass
class SpatialItem:
    """One multiple-choice question as a builder maps it from its source.

    ``answer``: a letter, a 0-based index or one choice's exact text. ``images``: anything
    :func:`encode_image` accepts. ``gt_boxes``: ``[x1, y1, x2, y2]`` in original pixels of image 0.
    ``image_sizes``: ``[w, h]`` per image, read from the images when ``None``. ``scene_graph``: the
    contract's scene-graph dict (synthetic data) or ``None``. ``circular_id``/``rotation``: set for one
    rotation of a circular-evaluation group. ``image_root``: where relative image paths start.
    """

    data_source: str
    question: str
    choices: list[str]
    answer: str | int | None
    images: list[Any]
    gt_boxes: list[list[float]] = dataclasses.field(default_factory=list)
    image_sizes: list[list[int]] | None = None
    scene_graph: dict[str, Any] | None = None
    split: str = "train"
    source_id: str = ""
    circular_id: str = ""
    rotation: int = 0
    image_root: str | None = None  # base directory for relative image paths

    def to_row(self, index: int) -> dict[str, Any]:
        """The parquet row (contract layout) with ``extra_info.index = index``; not yet validated."""
        question = (self.question or "").strip()
        if not question:
            raise RowRejected("empty_question", "question is empty")
        if isinstance(self.choices, str | bytes):  # a string is not a list of options ("LR" is not L and R)
            raise RowRejected(
                "bad_field", f"choices must be a list of option texts, got the string {self.choices!r:.80}"
            )
        choices = [str(c).strip() for c in (self.choices or [])]
        if not choices or any(not c for c in choices):
            raise RowRejected("empty_choices", f"choices missing or containing an empty option: {self.choices!r}")
        if len(choices) > 26:
            raise RowRejected("too_many_choices", f"{len(choices)} choices (at most 26)")
        if len({c.casefold() for c in choices}) != len(choices):
            raise RowRejected("duplicate_choices", f"choices repeat an option: {choices!r}")
        answer_idx = _answer_index(self.answer, choices)
        if not self.images:
            raise RowRejected("no_images", "item has no images")
        images = [encode_image(img, self.image_root) for img in self.images]
        if self.image_sizes is None:
            sizes = [list(_image_size(img, i)) for i, img in enumerate(images)]
        else:
            sizes = [[int(v) for v in size] for size in self.image_sizes]
        letter = option_letters(len(choices))[answer_idx]
        return {
            "data_source": self.data_source,
            "prompt": build_prompt(question, choices, len(images)),
            "images": images,
            "ability": ABILITY,
            "reward_model": {"style": "rule", "ground_truth": letter},
            "extra_info": {
                "index": int(index),
                "split": self.split,
                "question": question,
                "choices": choices,
                "answer": letter,
                "answer_text": choices[answer_idx],
                "gt_boxes": [[float(v) for v in box] for box in (self.gt_boxes or [])],
                "image_sizes": sizes,
                "scene_graph": json.dumps(self.scene_graph, sort_keys=True) if self.scene_graph else "",
                "circular_id": self.circular_id,
                "rotation": int(self.rotation),
                "source_id": str(self.source_id),
            },
        }


def _check_boxes(boxes: Any, size: list[int]) -> None:
    width, height = size
    for i, box in enumerate(boxes):
        if len(box) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in box):
            raise RowRejected("box_invalid", f"box {i} is not four finite numbers: {box!r}")
        x1, y1, x2, y2 = box
        if not (x1 < x2 and y1 < y2):
            raise RowRejected("box_invalid", f"box {i} is not ordered x1<x2, y1<y2: {box!r}")
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise RowRejected("box_out_of_bounds", f"box {i} {box!r} outside image 0 of size {width}x{height}")


def validate_row(row: Mapping[str, Any]) -> None:
    """Raise :class:`RowRejected` unless ``row`` satisfies the contract (see the module docstring)."""
    try:
        extra = row["extra_info"]
        prompt = row["prompt"]
        images = row["images"]
        choices = list(extra["choices"])
        question = extra["question"]
        ground_truth = row["reward_model"]["ground_truth"]
        answer = extra["answer"]
        sizes = [list(s) for s in extra["image_sizes"]]
        boxes = [list(b) for b in extra["gt_boxes"]]
        index = extra["index"]
        content = "".join(m["content"] for m in prompt)
    except (KeyError, TypeError) as exc:
        raise RowRejected("bad_row", f"row lacks a required field: {exc!r}") from exc
    if not isinstance(row.get("data_source"), str) or not row["data_source"]:
        raise RowRejected("bad_row", "data_source is empty")
    if not isinstance(index, int) or isinstance(index, bool):
        raise RowRejected("bad_row", f"extra_info.index must be an int, got {index!r}")
    if not isinstance(question, str) or not question.strip():
        raise RowRejected("empty_question", "question is empty")
    if not choices or any(not isinstance(c, str) or not c.strip() for c in choices):
        raise RowRejected("empty_choices", f"choices missing or containing an empty option: {choices!r}")
    if not answer:
        raise RowRejected("missing_answer", "extra_info.answer is empty")
    if len(choices) > 26:
        raise RowRejected("too_many_choices", f"{len(choices)} choices (at most 26)")
    letters = option_letters(len(choices))
    if answer not in letters:
        raise RowRejected("answer_not_in_choices", f"answer {answer!r} is not one of {letters}")
    rotation = extra.get("rotation", 0)
    if not isinstance(rotation, int) or not 0 <= rotation < len(choices):
        raise RowRejected("bad_row", f"extra_info.rotation {rotation!r} outside 0..{len(choices) - 1}")
    if ground_truth != answer:
        raise RowRejected("bad_row", f"reward_model.ground_truth {ground_truth!r} != extra_info.answer {answer!r}")
    if not images:
        raise RowRejected("no_images", "row has no images")
    placeholders = content.count(IMAGE_PLACEHOLDER)
    if placeholders != len(images):
        raise RowRejected(
            "placeholder_mismatch", f"{placeholders} {IMAGE_PLACEHOLDER} placeholders, {len(images)} images"
        )
    if len(sizes) != len(images):
        raise RowRejected("image_size_mismatch", f"{len(sizes)} image_sizes for {len(images)} images")
    for i, image in enumerate(images):
        actual = list(_image_size(image, i))
        if actual != sizes[i]:
            raise RowRejected("image_size_mismatch", f"image {i} decodes as {actual}, image_sizes says {sizes[i]}")
        if max(actual) > MAX_ASPECT_RATIO * min(actual):
            raise RowRejected("image_aspect", f"image {i} of size {actual[0]}x{actual[1]} is too elongated")
    _check_boxes(boxes, sizes[0])
    graph = extra.get("scene_graph", "")
    if graph:
        try:
            json.loads(graph)
        except (TypeError, ValueError) as exc:
            raise RowRejected("bad_row", f"scene_graph is not JSON text: {exc}") from exc
