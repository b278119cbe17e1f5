"""Read a judge model's label out of its reply — only an explicit, unambiguous one.

The judges are asked for the label alone, and with constrained decoding the reply *is* a
label. Servers without constrained decoding, and chatty models, still add markdown, a
preamble or a ``<think>`` block, so :func:`parse_verdict` accepts those — but it never guesses:

1. **Cap, then strip reasoning.** Only the last :data:`MAX_REPLY_CHARS` characters are read
   (the verdict comes last). Text up to the last ``</think>`` and from an unclosed ``<think>``
   is dropped, with plain ``str.find`` calls, so a reply of 30 000 ``<think>`` tags costs one
   linear pass. NFKC folds full-width letters (``ＹＥＳ``) to ASCII.
2. **One token pass.** Words and clause punctuation are read left to right once; a label
   occurrence is *negated* when ``not``/``never``/``isn't``/… precedes it in the same clause
   (at most :data:`_NEGATION_WINDOW` words back), *keyed* when ``verdict``/``label``/``answer``/…
   precedes it in the same clause, *standalone* when it is the only word on its line.
3. **Decide.** Explicit evidence = keyed and standalone occurrences plus any plain mention
   *after* the last explicit one (a trailing "…but really NO" voids a verdict). Without explicit
   evidence, every plain mention is evidence. The reply's label is the evidence's one distinct
   label; two different labels, none, or a negated mention of the label chosen → ``None``
   (the client asks again once, then counts a failure, SPEC §1).

A negated label is therefore never read as that label ("not correct" is not CORRECT, and not
INCORRECT either: the judge must say INCORRECT). Labels are single words, matched as whole words,
case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

CONSISTENCY_LABELS: tuple[str, ...] = ("YES", "NO", "UNCERTAIN")
GROUNDING_LABELS: tuple[str, ...] = ("CORRECT", "INCORRECT", "SKIP")

#: Characters of a reply that are read; the tail is kept because a verdict comes last.
MAX_REPLY_CHARS = 4000

_TOKENS = re.compile(r"[a-z]+(?:['’][a-z]+)?|\n|[.,;!?()\[\]]")
_CLAUSE_BREAKS = frozenset(".,;!?()[]")
_NEGATORS = frozenset(
    {"not", "never", "cannot", "neither", "nor", "without", "hardly", "barely", "isnt", "arent", "wasnt", "dont",
     "doesnt", "wont", "cant", "shouldnt", "wouldnt"}
)  # fmt: skip
_KEYS = frozenset(
    {"verdict", "label", "answer", "judgement", "judgment", "decision", "output", "classification", "rating", "result"}
)
_NEGATION_WINDOW = 4
_KEY_WINDOW = 3


@dataclass(frozen=True)
class _Mention:
    label: str
    negated: bool
    explicit: bool
    position: int


def _visible(text: str) -> str:
    """The capped reply without reasoning blocks, NFKC-folded and lower-cased (linear time)."""
    text = unicodedata.normalize("NFKC", text[-MAX_REPLY_CHARS:]).lower()
    close = text.rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>") :]
    opening = text.find("<think>")
    if opening >= 0:
        text = text[:opening]
    return text


def _mentions(text: str, labels: dict[str, str]) -> list[_Mention]:
    """Every label occurrence in ``text`` with its negation / explicitness (one pass over the tokens)."""
    mentions: list[_Mention] = []
    clause: list[str] = []  # words since the last clause break
    line_words = 0
    line_mention: int | None = None  # index in mentions of the line's first word, if it was a label

    def end_line() -> None:
        if line_words == 1 and line_mention is not None:
            m = mentions[line_mention]
            mentions[line_mention] = _Mention(m.label, m.negated, True, m.position)

    for match in _TOKENS.finditer(text):
        token = match.group(0)
        if token == "\n":
            end_line()
            clause, line_words, line_mention = [], 0, None
            continue
        if token in _CLAUSE_BREAKS:
            clause = []
            continue
        word = token.replace("’", "").replace("'", "")
        label = labels.get(word)
        if label is not None:
            negated = any(w in _NEGATORS for w in clause[-_NEGATION_WINDOW:])
            keyed = any(w in _KEYS for w in clause[-_KEY_WINDOW:])
            if line_words == 0:
                line_mention = len(mentions)
            mentions.append(_Mention(label, negated, keyed and not negated, match.start()))
        line_words += 1
        clause.append(word)
    end_line()
    return mentions


def parse_verdict(text: str | None, labels: Sequence[str]) -> str | None:
    """The one label ``text`` states explicitly (upper case), or ``None`` (see the module docstring).

    ``labels``: the allowed labels, single words (e.g. :data:`CONSISTENCY_LABELS`).
    """
    bad = [label for label in labels if not re.fullmatch(r"[A-Za-z]+", label)]
    if bad or not labels:
        raise ValueError(f"judge labels must be single words of letters, got {list(labels)!r}")
    if not text:
        return None
    by_word = {label.lower(): label.upper() for label in labels}
    mentions = _mentions(_visible(text), by_word)
    explicit = [m for m in mentions if m.explicit]
    if explicit:
        last = explicit[-1].position
        evidence = explicit + [m for m in mentions if not m.negated and not m.explicit and m.position > last]
    else:
        evidence = [m for m in mentions if not m.negated]
    named = {m.label for m in evidence}
    if len(named) != 1:
        return None
    label = named.pop()
    if any(m.negated and m.label == label for m in mentions):
        return None
    return label
