"""What several builders need to map a raw record into a :class:`~data_prep.schema.SpatialItem`.

Box frames (:func:`to_xyxy`), inline options (:func:`split_inline_options`), multiple choice for free-form
answers (:func:`freeform_choices`), reproducible per-item draws (:func:`item_rng`), circular-evaluation
rotations (:func:`rotate`) and the guarded record -> item stream (:func:`guarded`) that
:func:`data_prep.cli.builder_cli` writes. Reading the records is :mod:`data_prep.sources`.
"""

from __future__ import annotations

import io
import logging
import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from data_prep.schema import RowRejected, SpatialItem

logger = logging.getLogger(__name__)

EDGE_TOLERANCE_PX = 1.0
YES_NO = ["yes", "no"]
TRUE_FALSE = ["true", "false"]

ItemStream = Iterator[tuple[SpatialItem | BaseException, str]]

# --------------------------------------------------------------------------- fields


def text_list(value: Any, field: str) -> list[str]:
    """A source field that must be a list of texts (options, answers) as ``list[str]``.

    A string (``"LR"``), a mapping or a list holding ``None``/objects is a ``bad_field`` reject, never
    split into characters. Numbers are written as text; numpy arrays from parquet sources are lists.
    """
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise RowRejected("bad_field", f"{field} must be a list of texts, got {type(value).__name__} {value!r:.80}")
    bad = [v for v in value if isinstance(v, bool) or not isinstance(v, str | int | float)]
    if bad:
        raise RowRejected("bad_field", f"{field} must hold texts, got {bad[0]!r:.80}")
    return [str(v) for v in value]


# --------------------------------------------------------------------------- boxes

_LAYOUTS = ("xyxy", "xywh", "yyxx", "tlhw")
_SCALES = ("px", "norm1", "norm1000")


def to_xyxy(box: Any, fmt: str, size: Sequence[int]) -> list[float]:
    """Convert one box from the source frame ``fmt`` to ``[x1, y1, x2, y2]`` in original pixels.

    ``fmt`` names the layout and the scale: ``xyxy`` / ``xywh`` / ``yyxx`` (``[y0, y1, x0, x1]``) /
    ``tlhw`` (``{"top", "left", "height", "width"}``), each in ``px`` (pixels), ``norm1`` (fractions of
    the image size) or ``norm1000`` (0..1000 of the image size), e.g. ``"xywh_px"``. With image size ``(w, h)``: ``xywh`` -> ``[x, y, x + bw, y + bh]``; ``yyxx`` ``[y0, y1, x0, x1]`` ->
    ``[x0, y0, x1, y1]``; ``tlhw`` -> ``[left, top, left + width, top + height]``; then ``norm1``
    multiplies x by ``w`` and y by ``h``, ``norm1000`` by ``w / 1000`` and ``h / 1000``.
    """
    layout, _, scale = fmt.partition("_")
    if layout not in _LAYOUTS or scale not in _SCALES:
        raise ValueError(f"unknown box format {fmt!r}; expected <{'|'.join(_LAYOUTS)}>_<{'|'.join(_SCALES)}>")
    if layout == "tlhw":
        if not isinstance(box, Mapping):
            raise RowRejected("box_invalid", f"expected a {{top, left, height, width}} box, got {box!r}")
        vals = [float(box["left"]), float(box["top"]), float(box["width"]), float(box["height"])]
        layout = "xywh"
    else:
        try:
            vals = [float(v) for v in box]
        except (TypeError, ValueError) as exc:
            raise RowRejected("box_invalid", f"box is not numeric: {box!r}") from exc
        if len(vals) != 4:
            raise RowRejected("box_invalid", f"box does not have four numbers: {box!r}")
    if layout == "xywh":
        x1, y1, x2, y2 = vals[0], vals[1], vals[0] + vals[2], vals[1] + vals[3]
    elif layout == "yyxx":
        x1, y1, x2, y2 = vals[2], vals[0], vals[3], vals[1]
    else:
        x1, y1, x2, y2 = vals
    width, height = float(size[0]), float(size[1])
    if scale == "norm1":
        x1, x2, y1, y2 = x1 * width, x2 * width, y1 * height, y2 * height
    elif scale == "norm1000":
        x1, x2, y1, y2 = x1 * width / 1000, x2 * width / 1000, y1 * height / 1000, y2 * height / 1000
    return _clip_edges([x1, y1, x2, y2], width, height)


def _clip_edges(box: list[float], width: float, height: float) -> list[float]:
    """Clip coordinates that overshoot the image by at most ``EDGE_TOLERANCE_PX`` (rounding in the source).

    Anything further is left for validation to reject, so a wrong frame fails loudly instead of being clamped.
    """
    limits = (width, height, width, height)
    out = []
    for v, hi in zip(box, limits, strict=True):
        if -EDGE_TOLERANCE_PX <= v < 0:
            v = 0.0
        elif hi < v <= hi + EDGE_TOLERANCE_PX:
            v = hi
        out.append(v)
    return out


def image_size_of(image: Any, root: Path | None = None) -> tuple[int, int]:
    """``(w, h)`` of an image given as a path, encoded bytes, a ``{"bytes", "path"}`` dict or a PIL image.

    Only the header is read. Needed to scale or clip boxes before the row is built.
    """
    if isinstance(image, Image.Image):
        return image.size
    if isinstance(image, Mapping):
        image = image.get("bytes") or image.get("path") or ""
    try:
        if isinstance(image, bytes | bytearray | memoryview):
            with Image.open(io.BytesIO(bytes(image))) as img:
                return img.size
        path = Path(image)
        if not path.is_absolute() and root is not None:
            path = root / path
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError) as exc:
        raise RowRejected("image_decode", f"cannot read the size of image {str(image)[:200]!r}: {exc}") from exc


# --------------------------------------------------------------------------- options

# An option marker: "(A)", "A.", "A)" or "A:" standing alone (start of text or after whitespace).
_MARKER = re.compile(r"(?:(?<=\s)|^)(?:\(([A-Za-z])\)|([A-Za-z])[.):])(?=\s)")


def split_inline_options(text: str) -> tuple[str, list[str]] | None:
    """Split a question with its options written inline into ``(stem, options)``; ``None`` if there are none.

    Options are the longest run of markers ``A, B, C, ...`` (or ``a, b, c, ...``) in order; the run starts
    at the last ``A`` that a ``B`` follows, so a stray "A." in the question stem is not taken for option A.
    Each option's text ends at the next marker or the end of its line (a trailing instruction line such as
    "Please answer directly with only the letter..." is not part of the last option).
    """
    marks = [(m.start(), m.end(), (m.group(1) or m.group(2))) for m in _MARKER.finditer(text)]
    best: list[tuple[int, int, str]] = []
    for i, (_, _, letter) in enumerate(marks):
        if letter not in ("A", "a"):
            continue
        chain = [marks[i]]
        for mark in marks[i + 1 :]:
            if mark[2] == chr(ord(chain[-1][2]) + 1):
                chain.append(mark)
        if len(chain) >= 2:
            best = chain
    if not best:
        return None
    options = []
    for k, (_, end, _) in enumerate(best):
        stop = best[k + 1][0] if k + 1 < len(best) else len(text)
        segment = text[end:stop].strip()
        options.append(segment.split("\n", 1)[0].strip().rstrip(",;").strip())
    stem = text[: best[0][0]].strip()
    return stem, options


def letter_index(answer: Any) -> int | None:
    """``"B"``, ``"(B)"``, ``"b."`` -> 1; anything else -> ``None``."""
    match = re.fullmatch(r"\s*\(?\s*([A-Za-z])\s*[).:]?\s*", str(answer))
    return ord(match.group(1).upper()) - ord("A") if match else None


# --------------------------------------------------------------------------- free-form answers


def normalize_text(text: Any) -> str:
    """Lower-case, trim, drop surrounding punctuation, collapse spaces (for comparing answers)."""
    return re.sub(r"\s+", " ", str(text).strip().strip(".!?,;:\"'").strip()).casefold()


class AnswerPool:
    """Unique answers per group (e.g. a dataset's sub-source), for drawing distractors.

    Insertion order is kept (a dict), so draws are reproducible for the same source file.
    """

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, str]] = {}

    def add(self, group: str, answer: Any) -> None:
        text = str(answer).strip()
        key = normalize_text(text)
        if key:
            self._groups.setdefault(group, {}).setdefault(key, text)

    def draw(self, group: str, exclude: str, k: int, rng: random.Random) -> list[str]:
        """Up to ``k`` answers of ``group`` that differ from ``exclude`` (after normalisation)."""
        skip = normalize_text(exclude)
        candidates = [text for key, text in self._groups.get(group, {}).items() if key != skip]
        return rng.sample(candidates, min(k, len(candidates)))

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())


def is_whole_number(text: Any) -> bool:
    return re.fullmatch(r"\s*\d{1,9}\s*", str(text)) is not None


def freeform_choices(
    answer: Any, pool: AnswerPool | None, group: str, rng: random.Random, num_distractors: int = 3
) -> tuple[list[str], int]:
    """Choices and the correct index for a free-form answer.

    ``yes``/``no`` answers get ``["yes", "no"]``; a whole number ``n`` gets ``num_distractors + 1``
    consecutive whole numbers containing ``n`` (its position drawn); any other text gets up to
    ``num_distractors`` distractors drawn from ``pool`` (same ``group``), the correct option at a drawn position.
    """
    text = str(answer).strip()
    key = normalize_text(text)
    if not key:
        raise RowRejected("missing_answer", "free-form answer is empty")
    if key in YES_NO:
        return list(YES_NO), YES_NO.index(key)
    if is_whole_number(text):
        n = int(text)
        start = max(0, n - rng.randrange(num_distractors + 1))
        return [str(start + i) for i in range(num_distractors + 1)], n - start
    if pool is None:
        raise RowRejected("empty_choices", f"free-form answer {text!r} and no answer pool to draw distractors")
    distractors = pool.draw(group, text, num_distractors, rng)
    if not distractors:
        raise RowRejected("empty_choices", f"no distractors for free-form answer {text!r} in group {group!r}")
    pos = rng.randrange(len(distractors) + 1)
    return distractors[:pos] + [text] + distractors[pos:], pos


# --------------------------------------------------------------------------- ordering


def item_rng(seed: int, key: str) -> random.Random:
    """A generator seeded by ``(seed, key)`` only (string seeds hash deterministically across runs)."""
    return random.Random(f"{seed}:{key}")


def shuffle_choices(choices: Sequence[str], answer_idx: int, rng: random.Random) -> tuple[list[str], int]:
    """A random permutation of ``choices`` and where the correct one went."""
    order = list(range(len(choices)))
    rng.shuffle(order)
    return [choices[i] for i in order], order.index(answer_idx)


def rotate(choices: Sequence[str], answer_idx: int, r: int) -> tuple[list[str], int]:
    """Rotation ``r`` of circular evaluation: ``choices[r:] + choices[:r]``; the answer moves to ``(i - r) mod n``."""
    n = len(choices)
    return list(choices[r:]) + list(choices[:r]), (answer_idx - r) % n


# --------------------------------------------------------------------------- streaming


def guarded(
    rows: Iterable[Mapping[str, Any]],
    to_items: Callable[[Mapping[str, Any], str], SpatialItem | list[SpatialItem]],
    source_id: Callable[[int, Mapping[str, Any]], str],
) -> ItemStream:
    """Map every record; a record that fails to map is yielded as its exception (a counted reject).

    ``source_id(n, record)`` names the record (``n`` is its position in the stream) in rejects and rows;
    ``to_items(record, source_id)`` returns one item or a list of them (e.g. the rotations of a question).
    """
    for n, rec in enumerate(rows):
        try:
            sid = source_id(n, rec)
        except Exception:  # an id field missing in a malformed record must not hide the record
            sid = f"#{n}"
        try:
            out = to_items(rec, sid)
        except Exception as exc:  # RowWriter records the reason together with the source id
            yield exc, sid
            continue
        for item in out if isinstance(out, list) else [out]:
            yield item, sid


def relation_question(subject: str, predicate: str, obj: str) -> str:
    """The yes/no question asked for a (subject, predicate, object) relation triple."""
    return f'Is this spatial relation true in the image: "{subject.strip()} {predicate.strip()} {obj.strip()}"?'


def log_skips(name: str, counts: Mapping[str, int]) -> None:
    """Log deliberate, non-error skips (filtered subsets, undersampling) so they are never silent."""
    for reason, n in sorted(counts.items()):
        if n:
            logger.info("%s: skipped %d source records (%s)", name, n, reason)


def needs_distractors(answer: Any) -> bool:
    """True for a free-form answer that :func:`freeform_choices` completes from an :class:`AnswerPool`."""
    key = normalize_text(answer)
    return bool(key) and key not in YES_NO and not is_whole_number(answer)


def answer_pool(
    rows: Iterable[Mapping[str, Any]], answer_of: Callable[[Mapping[str, Any]], tuple[str, Any] | None]
) -> AnswerPool:
    """One pass over ``rows`` collecting the free-form answers; ``answer_of(row)`` gives ``(group, answer)`` or ``None``.

    A row that cannot be read is skipped here; the item pass rejects it with its reason.
    """
    pool = AnswerPool()
    for raw in rows:
        try:
            got = answer_of(raw)
        except Exception:  # malformed rows are reported by the item pass, not twice
            continue
        if got is not None and needs_distractors(got[1]):
            pool.add(got[0], got[1])
    return pool
