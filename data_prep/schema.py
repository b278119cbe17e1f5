"""The one row schema every data builder writes (SPEC §4), with validation and a streaming writer.

A builder only maps its raw records into :class:`SpatialItem`; everything else — prompt text,
image encoding, the parquet types, validation, reject bookkeeping, the command line — lives here,
so every parquet file has the same columns and types and any mix of them concatenates.

API
---
``OUTPUT_INSTRUCTION``
    The output-format instruction (``<think>``/``<bbox>``/``<answer>``) appended to every prompt.
    One template with a ``{letters}`` field (e.g. ``"A, B, C"``); the answer is the option letter.
``option_letters(n) -> list[str]``
    ``["A", "B", ...]`` for ``1 <= n <= 26``.
``build_prompt(question, choices, num_images) -> list[dict]``
    The chat messages: one user turn ``"<image>\\n{question}\\nOptions:\\n(A) ...\\n(B) ...\\n{instruction}"``
    with one ``<image>`` per image (``"Image 1: <image>\\nImage 2: <image>\\n..."`` when several).
``encode_image(obj, root=None) -> {"bytes": bytes, "path": str}``
    Accepts a ``PIL.Image``, encoded bytes, a file path, or a ``{"bytes", "path"}`` dict (Hugging Face
    ``Image(decode=False)`` form; relative paths are resolved against ``root``). JPEG and PNG bytes are
    kept as they are; anything else (and in-memory PIL images) is encoded as PNG. The result always
    decodes; otherwise :class:`RowRejected` (reason ``image_decode``) is raised.
``SpatialItem(...).to_row(index) -> dict``
    A builder's mapped record -> one parquet row (the contract's exact layout). ``answer`` is a letter
    (``"B"``, ``"(B)"``), a 0-based index, or the exact text of one choice. ``image_sizes`` is read from
    the images when not given. Raises :class:`RowRejected` when the item cannot form a row.
``ROW_SCHEMA``
    The explicit ``pyarrow`` schema of a row.
``validate_row(row) -> None``
    Raises :class:`RowRejected` (``.reason`` a short code from :data:`REJECT_REASONS`, ``.detail`` the
    specifics) unless every image decodes, ``<image>`` placeholders equal the image count, the answer is
    one of the choices' letters, boxes are finite, ordered and inside image 0, question and choices are
    non-empty, and no image is more elongated than Qwen2.5-VL accepts (aspect ratio 200).
``RowWriter(out_path, reject_path=None, max_reject_share=0.05, row_group_size=256, token_budget=None,
tokenizer=None, min_pixels=..., max_pixels=..., factor=28)``
    ``add(item_or_exception, source_id) -> bool`` validates and appends in row groups (memory stays flat in
    the number of rows), records a reject as a JSON line ``{"source_id", "reason", "detail"}`` in
    ``<out>.rejects.jsonl`` and counts prompts over ``token_budget``. ``add`` also takes an existing row
    dict (re-indexed unless ``keep_index=True``; used by ``data_prep.mix`` and ``data_prep.difficulty_filter``).
    ``close() -> WriteSummary``; raises :class:`TooManyRejects` when the rejected share exceeds
    ``max_reject_share``. Also a context manager; the file appears under its name only on ``close()``.
``estimate_prompt_tokens(row, tokenizer=None, min_pixels=..., max_pixels=..., factor=28) -> int``
    Prompt length in tokens: text + Qwen2.5-VL image tokens after ``smart_resize`` + template overhead.
``load_source(source, split, default_hf_id, name=None) -> Source``
    Records of a local file / directory (parquet, jsonl, json, csv; a ``save_to_disk`` folder) or, when
    ``source`` is not a local path, a Hugging Face dataset id streamed through ``datasets`` (images kept as
    their original bytes). ``Source`` is iterable (dicts) and has ``root`` for relative image paths.
``builder_cli(description, build_fn, argv=None, default_source=None, default_split="train",
add_arguments=None, with_source=True) -> int``
    The command line every builder shares: ``--out FILE.parquet --source DIR_OR_HF_ID --split S --limit N
    --max-reject-share F --seed S --token-budget T --row-group-size R``. ``build_fn(args)`` yields
    ``(item_or_exception, source_id)`` pairs; ``add_arguments(parser)`` adds builder-specific options.
    Logs the summary, shows tqdm progress, returns the exit code (1 on too many rejects).

A builder module is then::

    def build(args):
        for rec in load_source(args.source, args.split, default_hf_id="org/name"):
            try:
                yield SpatialItem(data_source="name", question=rec["q"], ...), str(rec["id"])
            except Exception as exc:  # a malformed source record becomes a counted reject
                yield exc, str(rec.get("id", ""))

    def main(argv=None) -> int:
        return builder_cli(__doc__, build, argv, default_source="org/name")
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import logging
import math
import numbers
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from fgrpo_verl.image_budget import MAX_PIXELS, MIN_PIXELS

logger = logging.getLogger(__name__)

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


class TooManyRejects(RuntimeError):
    """Raised by :meth:`RowWriter.close` when the rejected share exceeds ``max_reject_share``."""

    def __init__(self, summary: WriteSummary) -> None:
        super().__init__(
            f"{summary.num_rejected} of {summary.num_rejected + summary.written} source rows rejected "
            f"(share {summary.reject_share:.3f} > max {summary.max_reject_share}); "
            f"see {summary.reject_path}"
        )
        self.summary = summary


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


# --------------------------------------------------------------------------- token budget


TEMPLATE_TOKENS = 24  # Qwen2.5-VL chat template around one user turn: system prompt and role markers
CHARS_PER_TOKEN = 4  # rough English text rate of the Qwen2.5 vocabulary when no tokenizer is given


def estimate_prompt_tokens(
    row: Mapping[str, Any],
    tokenizer: Any = None,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = MAX_PIXELS,
    factor: int = 28,
) -> int:
    """Prompt length of ``row`` in tokens, as Qwen2.5-VL will see it.

    ``tokens = text + Σ_images [(h'/factor)·(w'/factor) + 2] + TEMPLATE_TOKENS`` where
    ``(h', w') = smart_resize(h, w, factor, min_pixels, max_pixels)``: each ``factor``-sized block of
    the resized image is one ``<|image_pad|>`` token (14 px patches merged 2x2), plus the vision
    start/end markers. Text tokens are counted with ``tokenizer`` when given, else estimated as
    ``ceil(chars / CHARS_PER_TOKEN)``. Pass the same pixel bounds as the training processor.
    """
    # The project's copy of Qwen2.5-VL's resize rule (the one rewards use for the box frame), imported
    # here because the reward package pulls in torch.
    from reward_fns import smart_resize

    text = "".join(m["content"] for m in row["prompt"]).replace(IMAGE_PLACEHOLDER, "")
    if tokenizer is not None:
        text_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    else:
        text_tokens = math.ceil(len(text) / CHARS_PER_TOKEN)
    image_tokens = 0
    for width, height in row["extra_info"]["image_sizes"]:
        h, w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        image_tokens += (h // factor) * (w // factor) + 2
    return text_tokens + image_tokens + TEMPLATE_TOKENS


# --------------------------------------------------------------------------- writer


@dataclasses.dataclass
class WriteSummary:
    """What a :class:`RowWriter` wrote: counts, reject reasons and prompts over the token budget."""

    out_path: str
    reject_path: str
    written: int
    rejected: dict[str, int]
    max_reject_share: float
    token_budget: int | None
    over_budget: int
    over_budget_examples: list[str]
    max_prompt_tokens: int | None

    @property
    def num_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def reject_share(self) -> float:
        total = self.written + self.num_rejected
        return self.num_rejected / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["num_rejected"] = self.num_rejected
        out["reject_share"] = self.reject_share
        return out


class RowWriter:
    """Validate rows and stream them into one parquet file in row groups; rejects go to a JSONL file.

    Rows are buffered ``row_group_size`` at a time and written with ``pyarrow.parquet.ParquetWriter``,
    so memory holds at most one row group whatever the number of rows. The file is written as
    ``<out>.partial`` and renamed on :meth:`close`, so a crashed build never leaves a plausible output.
    ``extra_info.index`` is the running count of written rows (unique within the file).
    """

    EXAMPLES_KEPT = 20

    def __init__(
        self,
        out_path: str | os.PathLike,
        reject_path: str | os.PathLike | None = None,
        max_reject_share: float = 0.05,
        row_group_size: int = 256,
        token_budget: int | None = None,
        tokenizer: Any = None,
        min_pixels: int = MIN_PIXELS,
        max_pixels: int = MAX_PIXELS,
        factor: int = 28,
    ) -> None:
        if not 0.0 <= max_reject_share <= 1.0:
            raise ValueError(f"max_reject_share must be in [0, 1], got {max_reject_share}")
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        self.out_path = Path(out_path)
        self.reject_path = (
            Path(reject_path) if reject_path else self.out_path.with_name(self.out_path.name + ".rejects.jsonl")
        )
        self.max_reject_share = max_reject_share
        self.row_group_size = row_group_size
        self.token_budget = token_budget
        self._token_args = {
            "tokenizer": tokenizer,
            "min_pixels": min_pixels,
            "max_pixels": max_pixels,
            "factor": factor,
        }
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.out_path.with_name(self.out_path.name + ".partial")
        self._writer = pq.ParquetWriter(self._partial, ROW_SCHEMA)
        self._rejects = open(self.reject_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._buffer: list[dict[str, Any]] = []
        self._rejected: Counter[str] = Counter()
        self._written = 0
        self._over_budget = 0
        self._over_examples: list[str] = []
        self._max_tokens: int | None = None
        self._closed = False

    @property
    def written(self) -> int:
        return self._written

    def add(
        self, item: SpatialItem | Mapping[str, Any] | BaseException, source_id: str = "", keep_index: bool = False
    ) -> bool:
        """Validate and buffer one item or existing row; record a reject. True if written.

        An existing row is re-indexed with the running count unless ``keep_index`` (a subset of one
        file keeps its indices, which stay unique).
        """
        if self._closed:
            raise RuntimeError(f"RowWriter for {self.out_path} is closed")
        try:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, SpatialItem):
                row = item.to_row(self._written)
            else:
                row = dict(item)
                if not keep_index:
                    row["extra_info"] = {**row["extra_info"], "index": self._written}
            validate_row(row)
        except RowRejected as exc:
            self._reject(source_id, exc.reason, exc.detail)
            return False
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except Exception as exc:  # a builder bug or malformed source record: counted, never silent
            self._reject(source_id, "builder_error", f"{type(exc).__name__}: {exc}")
            return False
        if self.token_budget is not None:
            self._count_tokens(row, source_id)
        self._buffer.append(row)
        self._written += 1
        if len(self._buffer) >= self.row_group_size:
            self._flush()
        return True

    def _reject(self, source_id: str, reason: str, detail: str) -> None:
        self._rejected[reason] += 1
        record = {"source_id": str(source_id), "reason": reason, "detail": detail}
        self._rejects.write(json.dumps(record) + "\n")
        logger.debug("rejected %s: %s %s", source_id, reason, detail)

    def _count_tokens(self, row: Mapping[str, Any], source_id: str) -> None:
        tokens = estimate_prompt_tokens(row, **self._token_args)
        self._max_tokens = tokens if self._max_tokens is None else max(self._max_tokens, tokens)
        if tokens > self.token_budget:
            self._over_budget += 1
            if len(self._over_examples) < self.EXAMPLES_KEPT:
                self._over_examples.append(f"{source_id or row['extra_info']['index']}:{tokens}")

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=ROW_SCHEMA))
            self._buffer = []

    def summary(self) -> WriteSummary:
        return WriteSummary(
            out_path=str(self.out_path),
            reject_path=str(self.reject_path),
            written=self._written,
            rejected=dict(sorted(self._rejected.items())),
            max_reject_share=self.max_reject_share,
            token_budget=self.token_budget,
            over_budget=self._over_budget,
            over_budget_examples=list(self._over_examples),
            max_prompt_tokens=self._max_tokens,
        )

    def abort(self) -> None:
        """Close the files without publishing the output (the ``.partial`` file is removed)."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self._rejects.close()
        self._partial.unlink(missing_ok=True)

    def close(self) -> WriteSummary:
        """Flush, publish the parquet file, and return the summary; raise :class:`TooManyRejects` if needed.

        The output is published even when too many rows were rejected (its rows are valid), so the
        rejects can be inspected next to it; the exception is what makes the build fail.
        """
        if not self._closed:
            self._flush()
            self._writer.close()
            self._rejects.close()
            os.replace(self._partial, self.out_path)
            self._closed = True
        summary = self.summary()
        if summary.token_budget is not None and summary.over_budget:
            logger.warning(
                "%d prompts exceed the token budget of %d (max %s), e.g. %s",
                summary.over_budget,
                summary.token_budget,
                summary.max_prompt_tokens,
                ", ".join(summary.over_budget_examples[:5]),
            )
        if summary.reject_share > self.max_reject_share:
            raise TooManyRejects(summary)
        return summary

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------- sources

_TABLE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv")


def _iter_table_file(path: Path, field: str | None) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        # Batches keep memory flat for large image tables.
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            yield from batch.to_pylist()
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{lineno}: not a JSON line: {exc}") from exc
    elif suffix == ".json":
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if field is not None:
            data = data[field]
        if isinstance(data, Mapping):
            # {id: record} layouts: keep the key as "_key" so builders can use it as source id.
            data = [{"_key": key, **value} for key, value in data.items()]
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records (or pass field=...)")
        yield from data
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)
    else:
        raise ValueError(f"{path}: unsupported table format {suffix!r} (expected one of {_TABLE_SUFFIXES})")


def _split_files(directory: Path, split: str | None) -> list[Path]:
    """Table files of ``split`` in ``directory``: ``<split>/*``, ``<split>*.<ext>`` or ``data/<split>-*``."""
    tables = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in _TABLE_SUFFIXES)
    if split is None:
        return tables
    chosen = [
        p
        for p in tables
        if split in p.relative_to(directory).parts[:-1] or re.match(rf"^{re.escape(split)}([-_.].*)?$", p.stem)
    ]
    return chosen or ([] if len(tables) > 1 else tables)


@dataclasses.dataclass
class Source:
    """Records of one dataset split; iterate for dicts. ``root``: base directory for relative paths."""

    description: str
    root: Path | None
    _factory: Callable[[], Iterator[dict[str, Any]]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._factory()


def _hf_records(hf_id: str, split: str | None, name: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(hf_id, name, split=split, streaming=True)
    except Exception as exc:  # datasets raises many types for network / hub failures
        raise RuntimeError(
            f"cannot load Hugging Face dataset {hf_id!r} (split {split!r}): {type(exc).__name__}: {exc}. "
            f"(No local path {hf_id!r} exists either.) Without network access, pass --source DIR with a local copy."
        ) from exc
    # Keep the source's own encoded bytes (usually JPEG) instead of decoding and re-encoding to PNG.
    yield from ds.decode(False)


def load_source(
    source: str | os.PathLike | None, split: str | None, default_hf_id: str | None = None, name: str | None = None
) -> Source:
    """Records from a local copy or a Hugging Face dataset.

    ``source`` may be a table file (parquet, jsonl, json, csv), a directory of them (the files of
    ``split`` are chosen by folder or file-name prefix, e.g. ``test/*.parquet``, ``test.jsonl``,
    ``data/test-00000-of-00001.parquet``; a lone file is used whatever its name), a ``save_to_disk``
    folder, or a Hugging Face id (default ``default_hf_id``), streamed through ``datasets``.
    """
    source = source if source is not None else default_hf_id
    if source is None:
        raise ValueError("no --source given and the builder has no default Hugging Face id")
    path = Path(source)
    if path.is_file():
        return Source(str(path), path.parent, lambda: _iter_table_file(path, None))
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return Source(str(path), path, lambda: _iter_saved(path, split))
        files = _split_files(path, split)
        if not files:
            raise FileNotFoundError(f"no table files for split {split!r} under {path} (looked for {_TABLE_SUFFIXES})")
        return Source(
            f"{path} ({len(files)} files)",
            path,
            lambda: itertools.chain.from_iterable(_iter_table_file(f, None) for f in files),
        )
    if os.sep in str(source) and not re.match(r"^[\w.-]+/[\w.-]+$", str(source)):
        raise FileNotFoundError(f"source {source!r} is neither an existing path nor a Hugging Face id")
    return Source(f"hf:{source}", None, lambda: _hf_records(str(source), split, name))


def _iter_saved(path: Path, split: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise KeyError(f"{path}: split {split!r} not in {list(ds)}")
        ds = ds[split]
    yield from ds.to_iterable_dataset().decode(False)


# --------------------------------------------------------------------------- command line


def builder_cli(
    description: str | None,
    build_fn: Callable[[argparse.Namespace], Iterable[tuple[SpatialItem | BaseException, str]]],
    argv: list[str] | None = None,
    default_source: str | None = None,
    default_split: str | None = "train",
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    with_source: bool = True,
) -> int:
    """Parse the shared builder options, stream ``build_fn(args)`` into a :class:`RowWriter`, return the exit code.

    ``--limit N`` stops after N source records (written or rejected). Returns 0 on success and 1 when
    the rejected share exceeds ``--max-reject-share``; the summary is logged as JSON either way.
    ``with_source=False`` leaves out ``--source`` and ``--limit`` (generators that read no dataset);
    ``args.source`` and ``args.limit`` are then ``None``. The progress bar's total is ``--limit``, or
    ``--num`` for a generator that defines it.
    """
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output parquet file")
    if with_source:
        parser.add_argument(
            "--source", default=default_source, help=f"local dir/file or HF id (default {default_source})"
        )
        parser.add_argument("--limit", type=int, default=None, help="stop after N source records")
    parser.add_argument(
        "--split", default=default_split, help=f"split to read and label rows with (default {default_split})"
    )
    parser.add_argument("--max-reject-share", type=float, default=0.05, help="exit 1 when more are rejected")
    parser.add_argument("--seed", type=int, default=0, help="seed for any shuffling the builder does")
    parser.add_argument("--token-budget", type=int, default=None, help="report prompts longer than this (tokens)")
    parser.add_argument("--min-pixels", type=int, default=MIN_PIXELS, help="processor min_pixels for --token-budget")
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help="processor max_pixels for --token-budget")
    parser.add_argument("--row-group-size", type=int, default=256, help="rows per parquet row group")
    parser.add_argument("--log-level", default="INFO")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if not with_source:
        args.source, args.limit = None, None
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be >= 0")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    writer = RowWriter(
        args.out,
        max_reject_share=args.max_reject_share,
        row_group_size=args.row_group_size,
        token_budget=args.token_budget,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
    )
    pairs = build_fn(args)
    if args.limit is not None:
        pairs = itertools.islice(pairs, args.limit)
    total = args.limit if args.limit is not None else getattr(args, "num", None)
    try:
        for item, source_id in tqdm(pairs, total=total, desc=Path(args.out).name, unit="row", mininterval=2.0):
            writer.add(item, source_id)
    except BaseException:
        writer.abort()
        raise
    try:
        summary = writer.close()
    except TooManyRejects as exc:
        logger.error("%s", exc)
        logger.info("summary: %s", json.dumps(exc.summary.to_dict()))
        return 1
    logger.info("summary: %s", json.dumps(summary.to_dict()))
    return 0
