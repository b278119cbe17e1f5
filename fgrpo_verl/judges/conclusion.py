"""Which option a piece of reasoning concludes with, read by rules (the offline consistency judge).

The *concluding sentences* of a reasoning text are those with a conclusion marker ("so",
"therefore", "thus", "hence", "answer", "conclude", "final", "correct", "must be", "which
means", "I choose", "matches", …) plus its last sentence. Scanning them from the end, the
first that names an option decides:
- by letter: ``(B)``, ``option B`` / ``choice b``, ``answer is B`` / ``answer: B`` — the last
  such reference in the sentence, ignoring ones negated by "not", "rather than", "instead of";
- else by the text of exactly one option (whole words, not negated; an option whose text lies
  inside a longer matched option's text yields to it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reward_fns import matched_choice, normalize_answer, split_sentences

_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[).:]\s*(.+?)\s*$", re.MULTILINE)
_MARKER = re.compile(
    r"\b(?:so|therefore|thus|hence|consequently|answer|conclu\w*|final\w*|correct|must\s+be|which\s+means|"
    r"that\s+means|this\s+means|i\s+(?:choose|pick|select)|matches|corresponds)\b",
    re.IGNORECASE,
)
_LETTER_REF = re.compile(
    r"\((?P<paren>[A-Z])\)"
    r"|\b(?:option|choice)(?:\s+\(?|\s*\()(?P<named>[A-Za-z])\b\)?"
    r"|\banswer\s*(?:is|:|would\s+be|should\s+be|must\s+be)?\s*(?P<answer>[A-Z])\b(?!['’])",
    re.IGNORECASE,
)
_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|\brather\s+than|\binstead\s+of|\bisn'?t|\bnor)\s*(?:the\s+)?(?:option\s+)?$", re.IGNORECASE
)


def options_in_question(question: str) -> list[str]:
    """Option texts listed in ``question`` as lines ``(A) text`` / ``A. text`` / ``A) text``, in letter order.

    Only a run of consecutive letters starting at ``A`` counts; no such run gives ``[]``.
    """
    options: list[str] = []
    for letter, text in _OPTION_LINE.findall(question):
        if ord(letter) - ord("A") == len(options):
            options.append(text)
    return options


def concluding_sentences(think: str) -> list[str]:
    """The concluding sentences of ``think`` (see the module docstring), last first."""
    sentences = split_sentences(think)
    return [s for i, s in enumerate(sentences) if i == len(sentences) - 1 or _MARKER.search(s)][::-1]


def _negated(sentence: str, start: int) -> bool:
    return _NEGATION_BEFORE.search(sentence[max(0, start - 24) : start]) is not None


def _letter_in(sentence: str, n_options: int | None) -> int | None:
    chosen = None
    for match in _LETTER_REF.finditer(sentence):
        paren, named, answer = match.group("paren"), match.group("named"), match.group("answer")
        if paren is not None and not paren.isupper():
            continue  # "(a)" is more often an enumeration than an option
        if answer is not None and not answer.isupper():
            continue  # "the answer is a red circle"
        index = ord((paren or named or answer).upper()) - ord("A")
        if (n_options is None or index < n_options) and not _negated(sentence, match.start()):
            chosen = index
    return chosen


def _text_in(sentence: str, options: Sequence[str]) -> int | None:
    text = f" {normalize_answer(sentence)} "
    found: dict[int, str] = {}
    for index, option in enumerate(options):
        wanted = normalize_answer(option)
        position = text.find(f" {wanted} ") if wanted else -1
        if position >= 0 and not _negated(text, position + 1):
            found[index] = wanted
    # "left" yields to "top left" when both match.
    longest = {i for i, t in found.items() if not any(t != other and t in other for other in found.values())}
    return longest.pop() if len(longest) == 1 else None


def concluded_option(think: str, options: Sequence[str]) -> int | None:
    """Index (A = 0) of the option ``think`` concludes with, or ``None`` when none is identifiable.

    With ``options == []`` only letter references count (any letter).
    """
    for sentence in concluding_sentences(think):
        index = _letter_in(sentence, len(options) or None)
        if index is None and options:
            index = _text_in(sentence, options)
        if index is not None:
            return index
    return None


def answer_option(answer: str, options: Sequence[str]) -> int | None:
    """Index of the option ``answer`` names (letter or full text, ``reward_fns.matched_choice``).

    With ``options == []`` a bare letter form (``B``, ``(B)``, ``Option B``) still names option ``B``.
    """
    if options:
        return matched_choice(answer, options)
    match = re.fullmatch(r"\s*(?:option\s+|choice\s+)?\(?([A-Za-z])\)?[.:)]?\s*", answer, re.IGNORECASE)
    return ord(match.group(1).upper()) - ord("A") if match else None


def concludes_answer(question: str, think: str, answer: str) -> bool:
    """Whether ``think`` concludes the option (or, for free-form answers, the value) ``answer`` gives.

    Multiple choice (options listed in the question, or a letter answer): the concluded
    option equals the answer's option. Free form: the answer's normalised text appears as
    whole words in the last concluding sentence. Nothing identifiable on either side: False.
    """
    options = options_in_question(question)
    wanted = answer_option(answer, options)
    if wanted is not None:
        return concluded_option(think, options) == wanted
    if options:
        return False
    value = normalize_answer(answer)
    conclusions = concluding_sentences(think)
    return bool(value) and bool(conclusions) and f" {value} " in f" {normalize_answer(conclusions[0])} "
