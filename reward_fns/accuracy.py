"""The ``acc`` channel: does the extracted answer name the ground truth?

Answer forms (SPEC §1): a leading "Answer:", "The answer is", "Final answer:" (also "The final /
correct answer is", markdown emphasis around the lead-in) is ignored. Multiple-choice answers
may name an option by letter (``B``, ``(B)``, ``B.``, ``Option B``, ``B) text``, ``B: text``) or
by the option's full text. Letters are case-insensitive and only count when they stand alone: the
``B`` of ``Because`` names nothing. For a two-option true/false item, ``yes`` names ``true`` and
``no`` names ``false``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reward_fns.tags import extract_answer

# "Answer:", "**Final answer:**", "The answer is", "The correct answer is:" before the answer itself.
_LEAD_IN = re.compile(
    r"^[\s*_`#>]*(?:(?:the\s+)?(?:final\s+|correct\s+|right\s+)?answer\s*(?:is\b|:)|final\s*:)[\s*_`:]*",
    re.IGNORECASE,
)
_TRUE_FALSE = ("true", "false")
_YES_NO = {"yes": "true", "no": "false"}
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")
# Optional lead-in ("Option", "Answer:", "The correct answer is option"), then a letter that is
# either parenthesised or followed by ) . : or the end, then the option text if any.
_LETTER_FORM = re.compile(
    r"(?:(?:the\s+)?(?:correct\s+|final\s+|right\s+)?(?:answer|option|choice)\s*(?:is\s*)?:?\s*"
    r"(?:option\s+|choice\s+)?)?"
    r"(?:\((?P<paren>[a-z])\)|(?P<bare>[a-z])(?=[).:]|$))[).:]?\s*(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, collapse runs of whitespace to one space, trim.

    >>> normalize_answer("  The Red-Circle,  obviously! ")
    'the redcircle obviously'
    """
    return _SPACES.sub(" ", _PUNCTUATION.sub("", text.lower())).strip()


def strip_answer_lead_in(text: str) -> str:
    """``text`` without a leading "Answer:" / "The answer is" / "Final answer:" and the like (SPEC §1).

    >>> strip_answer_lead_in("**Final answer:** False")
    'False'
    >>> strip_answer_lead_in("The answer is B.")
    'B.'
    """
    return _LEAD_IN.sub("", text.strip(), count=1).strip()


def is_true_false(choices: Sequence[str] | None) -> bool:
    """Whether the options are exactly ``true`` and ``false`` (in either order, any case)."""
    return choices is not None and sorted(normalize_answer(str(c)) for c in choices) == ["false", "true"]


def _yes_no_as_true_false(text: str) -> str:
    # For a true/false item, "Yes." / "no" answer the statement: they name true / false.
    return _YES_NO.get(normalize_answer(text), text)


def _choice_by_text(text: str, choices: Sequence[str]) -> int | None:
    wanted = normalize_answer(text)
    if not wanted:
        return None
    hits = [i for i, choice in enumerate(choices) if normalize_answer(choice) == wanted]
    # Two options with the same text make the answer ambiguous: name neither.
    return hits[0] if len(hits) == 1 else None


def matched_choice(answer_text: str, choices: Sequence[str]) -> int | None:
    """Index of the option that ``answer_text`` names, or ``None``.

    Letter forms are tried first (letter ``A`` is option 0); a letter past the last option is
    not a letter form. In ``B) text`` the text must not be the full text of another option
    (``B) <text of option C>`` contradicts itself and names nothing). Otherwise the answer
    names the one option whose normalised text equals the normalised answer. A lead-in
    ("Answer:", "The answer is", "Final answer:") is ignored; with options ``true``/``false``,
    ``yes``/``no`` name ``true``/``false``.

    >>> matched_choice("Option (B)", ["left", "right"])
    1
    >>> matched_choice("right", ["left", "right"])
    1
    >>> matched_choice("Because it is left", ["left", "right"]) is None
    True
    >>> matched_choice("Answer: No", ["true", "false"])
    1
    """
    choices = [str(choice) for choice in choices]
    text = strip_answer_lead_in(answer_text)
    if is_true_false(choices):
        text = _yes_no_as_true_false(text)
    form = _LETTER_FORM.fullmatch(text)
    if form is not None:
        index = ord((form.group("paren") or form.group("bare")).upper()) - ord("A")
        if index < len(choices):
            rest = form.group("rest").strip()
            by_text = _choice_by_text(rest, choices) if rest else None
            return index if by_text in (None, index) else None
    return _choice_by_text(text, choices)


def accuracy_reward(response: str, ground_truth: str, choices: Sequence[str] | None = None) -> float:
    """SPEC §1 ``acc``: 1.0 if the last ``<answer>`` block names the ground truth, else 0.0.

    With ``choices`` the ground truth (a letter or an option's text) and the answer are both
    resolved to an option index with :func:`matched_choice` and compared. Without choices the
    comparison is ``normalize_answer(answer) == normalize_answer(ground_truth)`` after the answer's
    lead-in is dropped (and, for a ground truth ``true``/``false``, ``yes``/``no`` read as
    ``true``/``false``); when that ground truth is a bare letter, the answer's letter form
    (``Option B``, ``B) text``) is compared instead. No answer block: 0.0.

    Raises ``ValueError`` when the ground truth is empty or, with choices, names none of them
    (a data error, not a wrong answer).

    >>> accuracy_reward("<think>It is on the right.</think><answer>(B)</answer>", "B", ["left", "right"])
    1.0
    """
    if not normalize_answer(ground_truth):
        raise ValueError(f"ground truth is empty: {ground_truth!r}")
    has_choices = choices is not None and len(choices) > 0
    if has_choices:
        truth = matched_choice(ground_truth, choices)
        if truth is None:
            raise ValueError(f"ground truth {ground_truth!r} names none of the choices {list(choices)!r}")
    answer = extract_answer(response)
    if not answer:
        return 0.0
    if has_choices:
        return float(matched_choice(answer, choices) == truth)
    truth_text = normalize_answer(ground_truth)
    if len(truth_text) == 1 and truth_text.isalpha():
        form = _LETTER_FORM.fullmatch(answer)
        if form is not None:
            return float((form.group("paren") or form.group("bare")).lower() == truth_text)
    answer = strip_answer_lead_in(answer)
    if truth_text in _TRUE_FALSE:
        answer = _yes_no_as_true_false(answer)
    return float(normalize_answer(answer) == truth_text)
