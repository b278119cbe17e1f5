"""Sentence splitting of reasoning text with the ``pysbd`` sentence-boundary library.

Around pysbd:

* ``<bbox>…</bbox>`` spans are swapped for letter-only placeholders before splitting and
  restored after, so the numbers, commas and brackets inside a box never end a sentence.
* A fast path. pysbd costs several milliseconds on a 150-word paragraph, mostly in its
  abbreviation scan, and the reward loop splits every rollout. In plain prose every ``.``,
  ``!`` or ``?`` is a decimal point or ends a word of two or more letters that is not one of
  pysbd's English abbreviations (or a whole number, or an option letter ``(B)``), and is
  followed by the end of the text or by whitespace and a capital letter; there are no quotes,
  no line-start markers and nothing pysbd could read as a list. Such text has only one
  segmentation, and the fast path produces it with one regex pass.
* Cutting before pysbd. Other text is first cut at those certain sentence ends, outside
  parentheses and quotes, unless it holds something pysbd reads across sentences (list runs
  such as "1." … "2.", stray quotes, line-start markers, double punctuation such as "?!").
  Pieces that are plain take the fast path; the rest go to pysbd one piece at a time, so pysbd
  sees a sentence or two instead of a paragraph.
* No text is lost: pysbd's segments are mapped back onto the input (see :func:`_pysbd_split`).
* A piece longer than :data:`PYSBD_MAX_CHARS` (8000 characters) goes to pysbd in chunks cut after
  a sentence mark or at a space: pysbd is super-linear on long runs without a sentence end, and
  no real sentence is that long.

Up to that cap the result is pysbd's segmentation of the whole text; the tests check that on
generated text full of abbreviations, numbers, list items, quotes and boxes.
"""

from __future__ import annotations

import functools
import re

import pysbd
from pysbd.lang.english import English
from pysbd.lists_item_replacer import ListItemReplacer

_BBOX_SPAN = re.compile(r"<bbox>[^<>]*</bbox>")
_PLACEHOLDER_ALPHABET = "abcdefghijklmnopqrstuvwxyz"

# Patterns here start with a literal or a character class where possible: Python's re skips ahead
# to such a first character quickly, while a leading look-behind is tried at every offset.

# Characters the fast path understands; anything else (quotes, brackets, ellipses, tabs) defers to pysbd.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9 ,;:'.!?()%=+*/\-\n]*")
# An apostrophe not followed by a letter, or not preceded by one.
_APOSTROPHE_OUTSIDE_WORD = re.compile(r"'(?:(?![A-Za-z])|(?<![A-Za-z]'))")
# Flat, balanced parentheses only.
_FLAT_PARENS = re.compile(r"[^()]*(?:\([^()]*\)[^()]*)*")
_PAREN_CONTENT = re.compile(r"\(([^()]*)\)")
# Parenthesised items pysbd may read as list markers: (a), (iv), (IV), (3); and any inner sentence mark.
_LISTY_PAREN = re.compile(r"[a-z]|[ivxlcdm]+|[IVXLCDM]{2,}|\d+|.*[.!?].*")
_DECIMAL_POINT = re.compile(r"\.(?<=\d\.)(?=\d)")
# A sentence mark followed by the end of the text or by whitespace and a capital letter...
_MARK_BEFORE_CAPITAL = re.compile(r"[.!?](?=\s+[A-Z]|\s*$)")
# ...certainly ends a sentence when it comes right after a word of 2+ letters, a whole number
# (with an optional %) or an option letter "(B)". Searched in the 32 characters before the mark.
_TOKEN_BEFORE_MARK = re.compile(r"(?<![\w.(])([A-Za-z]{2,}|\d+%?|\([A-Z]\))\Z")
_BREAK = re.compile(r"[.!?]\s+|\n+")
# What makes pysbd look beyond one sentence, so that text holding it is not cut: quotes (text
# between quotes is never split, so cuts must lie outside them), bullets or markers at line
# starts, list items, which it recognises as runs of consecutive numbers or letters ("1." … "2.",
# "(a)" … "(b)") anywhere in the text, and double punctuation: pysbd skips its double-punctuation
# rules for a whole line when the line starts with one.
_DOUBLE_PUNCTUATION = ("?!", "!?", "??", "!!")
_LINE_MARKER = re.compile(r"^\s*(?:[-*\u2022\u2043]|\w{1,3}[.)]|\()", re.MULTILINE)
# Digit runs and lower-case words right before "." or ")"; _has_list_run looks at what precedes them.
_NUMBER_BEFORE_MARK = re.compile(r"\d+[.)]")
# (at most five letters: the longest list marker pysbd knows is the roman numeral "xviii")
_WORD_BEFORE_MARK = re.compile(r"\b[a-z]{1,5}(?=[.)])")

#: Longest text handed to pysbd in one call (see :func:`_chunks`).
PYSBD_MAX_CHARS = 8000

_ABBREVIATIONS = frozenset(
    a.strip().lower()
    for a in (
        *English.Abbreviation.ABBREVIATIONS,
        *English.Abbreviation.PREPOSITIVE_ABBREVIATIONS,
        *English.Abbreviation.NUMBER_ABBREVIATIONS,
    )
)


def _segmenter() -> pysbd.Segmenter:
    # A new Segmenter per call: it keeps the text being split on itself, so one shared instance
    # would mix up calls from different threads, and building one costs about a microsecond.
    # clean=False keeps the text as written (no whitespace or character rewriting).
    return pysbd.Segmenter(language="en", clean=False)


def _protect_boxes(text: str) -> tuple[str, list[str], str]:
    """Replace each bbox span by ``<prefix><letters>``; the prefix does not occur in ``text``."""
    boxes = _BBOX_SPAN.findall(text)
    if not boxes:
        return text, boxes, ""
    prefix = "Qzbbox"
    while prefix.lower() in text.lower():
        prefix += "q"
    width = 1
    while len(_PLACEHOLDER_ALPHABET) ** width < len(boxes):
        width += 1
    counter = iter(range(len(boxes)))

    def placeholder(_: re.Match[str]) -> str:
        index, letters = next(counter), []
        for _digit in range(width):
            index, rem = divmod(index, len(_PLACEHOLDER_ALPHABET))
            letters.append(_PLACEHOLDER_ALPHABET[rem])
        return prefix + "".join(reversed(letters))

    return _BBOX_SPAN.sub(placeholder, text), boxes, prefix


def _restore_boxes(sentence: str, boxes: list[str], prefix: str) -> str:
    if not boxes:
        return sentence

    def original(match: re.Match[str]) -> str:
        index = 0
        for letter in match.group(1):
            index = index * len(_PLACEHOLDER_ALPHABET) + _PLACEHOLDER_ALPHABET.index(letter)
        return boxes[index]

    return re.sub(re.escape(prefix) + r"([a-z]+)", original, sentence)


def _certain_ends(text: str) -> list[int]:
    """Offsets just after the sentence marks that certainly end a sentence."""
    ends = []
    for mark in _MARK_BEFORE_CAPITAL.finditer(text):
        token = _TOKEN_BEFORE_MARK.search(text, max(0, mark.start() - 32), mark.start())
        if token is not None and token.group(1).lower() not in _ABBREVIATIONS:
            ends.append(mark.end())
    return ends


def _split_plain(text: str) -> list[str]:
    """Cut after every sentence mark that is followed by whitespace, and at newlines."""
    parts, start = [], 0
    for match in _BREAK.finditer(text):
        cut = match.start() + 1 if match.group()[0] in ".!?" else match.start()
        parts.append(text[start:cut])
        start = match.end()
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _fast_split(text: str) -> list[str] | None:
    """The segmentation of plain prose, or ``None`` when pysbd's rules are needed."""
    if _PLAIN_TEXT.fullmatch(text) is None or _APOSTROPHE_OUTSIDE_WORD.search(text):
        return None
    if _LINE_MARKER.search(text) or _FLAT_PARENS.fullmatch(text) is None or _has_list_run(text):
        return None
    if any(_LISTY_PAREN.fullmatch(content.strip()) for content in _PAREN_CONTENT.findall(text)):
        return None
    marks = text.count(".") + text.count("!") + text.count("?") - len(_DECIMAL_POINT.findall(text))
    if len(_certain_ends(text)) != marks:
        return None
    return _split_plain(text)


def _pysbd_split(text: str) -> list[str]:
    """pysbd's segmentation, mapped back onto ``text`` so that no character is lost.

    In its non-destructive mode pysbd silently drops a segment it rewrote and then cannot find
    in the input (e.g. the ``?!`` of ``no.?!``); such text is kept with the sentence before it.
    """
    spans: list[list[int]] = []
    pos = 0
    for segment in _segmenter().segment(text):
        part = segment.strip()
        start = text.find(part, pos) if part else -1
        if start < 0:
            continue
        if text[pos:start].strip():
            if spans:
                spans[-1][1] = start
            else:
                start = pos
        spans.append([start, start + len(part)])
        pos = start + len(part)
    if text[pos:].strip():
        if spans:
            spans[-1][1] = len(text)
        else:
            spans.append([pos, len(text)])
    return [text[start:end].strip() for start, end in spans]


def _has_list_run(text: str) -> bool:
    """Whether ``text`` holds two list-like items pysbd could read as consecutive.

    A superset of pysbd's own test, which pairs items of one kind that follow each other in the
    text: here any two numbers (a run of at most two digits before "." not after a ".", or the
    last two digits before ")"), or any two letters or roman numerals (a lower-case word at the
    start of the text or after whitespace or "(", before "." or ")"), one apart.
    """
    numbers = set()
    for match in _NUMBER_BEFORE_MARK.finditer(text):
        digits, start = match.group()[:-1], match.start()
        if match.group()[-1] == ")":
            numbers.add(int(digits[-2:]))
        elif len(digits) <= 2 and text[start - 1 : start] != ".":
            numbers.add(int(digits))
    if any(n + 1 in numbers for n in numbers) or {0, 9} <= numbers:
        return True
    letters = set()
    for match in _WORD_BEFORE_MARK.finditer(text):
        start = match.start()
        if start == 0 or text[start - 1].isspace() or text[start - 1] == "(":
            letters.add(match.group())
    for alphabet in (ListItemReplacer.LATIN_NUMERALS, ListItemReplacer.ROMAN_NUMERALS):
        positions = {alphabet.index(letter) for letter in letters if letter in alphabet}
        if any(i + 1 in positions for i in positions):
            return True
    return False


def _pieces(text: str) -> list[str]:
    """``text`` cut at certain sentence ends outside parentheses and quotes; uncut where pysbd needs it whole."""
    if (
        _APOSTROPHE_OUTSIDE_WORD.search(text)
        or _LINE_MARKER.search(text)
        or _has_list_run(text)
        or any(pair in text for pair in _DOUBLE_PUNCTUATION)
        or text.count('"') % 2
        or text.count("\u201c") != text.count("\u201d")
    ):
        return [text]
    pieces, start = [], 0
    for end in _certain_ends(text):
        head = text[:end]
        balanced = head.count("(") == head.count(")") and head.count("\u201c") == head.count("\u201d")
        if balanced and head.count('"') % 2 == 0:
            pieces.append(text[start:end])
            start = end
    pieces.append(text[start:])
    return pieces


def _chunks(text: str) -> list[str]:
    """``text`` cut into pieces of at most :data:`PYSBD_MAX_CHARS`, preferably after a sentence mark, else at a space.

    pysbd's rules are super-linear on long runs without a sentence end (a 120 kB run of "(A), not
    option B," takes it half a minute); no real sentence is this long, so cutting there bounds the
    cost and leaves every real segmentation alone.
    """
    chunks, start = [], 0
    while len(text) - start > PYSBD_MAX_CHARS:
        window = text[start : start + PYSBD_MAX_CHARS]
        cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
        cut = cut + 1 if cut > 0 else window.rfind(" ")
        cut = start + (cut if cut > 0 else PYSBD_MAX_CHARS)
        chunks.append(text[start:cut])
        start = cut
    chunks.append(text[start:])
    return chunks


def _split_piece(piece: str) -> list[str]:
    sentences = _fast_split(piece)
    if sentences is not None:
        return sentences
    return [sentence for chunk in _chunks(piece) for sentence in _pysbd_split(chunk)]


@functools.lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[str, ...]:
    protected, boxes, prefix = _protect_boxes(text)
    sentences = _fast_split(protected)
    if sentences is None:
        sentences = [sentence for piece in _pieces(protected) for sentence in _split_piece(piece)]
    return tuple(_restore_boxes(sentence, boxes, prefix) for sentence in sentences)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (stripped, in order, none empty), each ``<bbox>…</bbox>`` kept whole.

    Results are cached by text (the reward manager and the rule judge split the same reasoning).

    >>> split_sentences("The cup <bbox>[1.5, 2, 30, 40]</bbox> is left. Wait. The box is right!")
    ['The cup <bbox>[1.5, 2, 30, 40]</bbox> is left.', 'Wait.', 'The box is right!']
    """
    return list(_split_cached(text))
