"""Read a judge model's verdict out of free-form text.

Judges are asked to end with ``Verdict: <LABEL>``, but real models add markdown, a
reasoning preamble or a ``<think>`` block. :func:`parse_verdict` accepts all of those and
returns the *final* verdict; anything that names none of the allowed labels (or names
several without saying which is final) is unparseable, which the client retries once and
then counts as a failure (SPEC §1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CONSISTENCY_LABELS: tuple[str, ...] = ("YES", "NO", "UNCERTAIN")
GROUNDING_LABELS: tuple[str, ...] = ("CORRECT", "INCORRECT", "SKIP")

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
# Markdown emphasis, code ticks, headings and quote markers carry no meaning for a label.
_MARKDOWN = re.compile(r"[*_`#>]+")
_VERDICT_KEYS = r"(?:final\s+verdict|final\s+answer|final\s+label|verdict|answer|label|judg(?:e)?ment|decision|output)"


def _visible_text(text: str) -> str:
    """Drop reasoning blocks: closed ``<think>…</think>``, text before a lone ``</think>``
    (templates that open the block in the prompt), and an unfinished trailing ``<think>``."""
    text = _THINK_BLOCK.sub(" ", text)
    lowered = text.lower()
    if "</think>" in lowered:
        text = text[lowered.rindex("</think>") + len("</think>") :]
        lowered = text.lower()
    if "<think>" in lowered:
        text = text[: lowered.index("<think>")]
    return _MARKDOWN.sub(" ", text)


def _label_pattern(labels: Sequence[str]) -> str:
    # Longest first so that no label is read as a prefix of another.
    return "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))


def parse_verdict(text: str | None, labels: Sequence[str]) -> str | None:
    """The final label named in ``text`` (upper case), or ``None`` when it is unparseable.

    Order of evidence, case-insensitive, after dropping reasoning blocks and markdown:
    1. the last ``<key> [is|:|=|-] LABEL`` with key one of verdict / final answer / answer /
       label / judgement / decision / output (``Final answer: NO``, ``**Verdict:** yes``);
    2. the last line that is only a label (``YES``, ``**NO**.``);
    3. the last non-empty line, if it names exactly one distinct label.
    """
    if not text:
        return None
    visible = _visible_text(text)
    alternatives = _label_pattern(labels)
    keyed = re.findall(
        rf"\b{_VERDICT_KEYS}\s*(?:is\s*|:|=|-)?\s*[\"'(\[]?\s*({alternatives})\b", visible, re.IGNORECASE
    )
    if keyed:
        return keyed[-1].upper()
    lines = [line.strip(" \t.!:;,\"'()[]") for line in visible.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    for line in reversed(lines):
        if re.fullmatch(rf"(?:{alternatives})", line, re.IGNORECASE):
            return line.upper()
    named = {match.upper() for match in re.findall(rf"\b({alternatives})\b", lines[-1], re.IGNORECASE)}
    return named.pop() if len(named) == 1 else None
