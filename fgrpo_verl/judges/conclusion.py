"""What a piece of reasoning concludes, read by rules, and whether the answer is that conclusion (the offline consistency judge).

The item's kind decides what a conclusion is:

- **true/false** (options ``true``/``false``, the statement quoted in the question) and **yes/no**
  (options ``yes``/``no``, or a question opening with is/are/does/can/… and a yes/no answer): the
  reasoning affirms or denies the statement (:mod:`fgrpo_verl.judges.stance`: verdicts such as
  "the statement is not true", "it is not accurate to say …", "this confirms the statement",
  a standalone yes/no, or the statement restated or contradicted). The answer's side comes
  from its letter or its word (true/yes/correct vs false/no/incorrect).
- **counting** ("How many …"): the number the reasoning arrives at — an option letter, a number
  (digits or words) before the counted noun, "there are N", "total: N", or the only number of a
  concluding sentence.
- **multiple choice**: the option named by letter (``(B)``, ``option B``, ``answer is B``, ``B is
  correct``, ``choose B``) or by its text (articles ignored; mentions after "not", "rather than",
  "instead of" or "than" do not count; an option whose text lies inside a longer named option's
  text yields to it).
- anything else: the answer's text appears in the last concluding sentence.

Sentences are read from the end; the first that concludes something decides. For multiple
choice and free-form answers only *concluding sentences* count: those with a conclusion marker
("so", "therefore", "thus", "answer", "conclude", "must be", "which means", "I choose", …) and the
last sentence (a last sentence that opens with "but" / "however" / "although" is a caveat, and the
one before it counts as last). The reasoning concludes **nothing** — consistency 0, the rubric's
"uncertain" — when it was cut off mid-sentence (it ends without closing punctuation and its last
line is not an ``Answer: X`` line), when a sentence after the last conclusion says it cannot tell
("hard to say", "not sure", "cannot decide", …), or when the deciding sentence only allows its
side ("could", "might", "maybe") after an earlier sentence took the other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fgrpo_verl.judges.stance import Claim, is_hedged, parse_claim, stance
from reward_fns import matched_choice, normalize_answer, split_sentences
from reward_fns.accuracy import strip_answer_lead_in

_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[).:]\s*(.+?)\s*$", re.MULTILINE)
_MARKER = re.compile(
    r"\b(?:so|therefore|thus|hence|consequently|answer|conclu\w*|final\w*|correct|must\s+be|which\s+means|"
    r"that\s+means|this\s+means|i\s+(?:choose|pick|select)|i'll\s+(?:choose|pick|go)|go\s+with|matches|"
    r"matching|corresponds|total|overall)\b",
    re.IGNORECASE,
)
_CAVEAT = re.compile(r"^\W*(?:hmm\W+)?(?:but|however|although|though|yet)\b", re.IGNORECASE)
_UNCERTAIN = re.compile(
    r"\b(?:hard|difficult|impossible)\s+to\s+(?:say|tell|determine|decide|count|see)|\bnot\s+(?:sure|certain)|"
    r"\bunsure\b|\bunclear\b|\bcan(?:not|'t)\s+(?:decide|tell|determine|be\s+sure)|\bno\s+way\s+to\s+tell",
    re.IGNORECASE,
)
_LETTER_REF = re.compile(
    r"\((?P<paren>[A-Z])\)"
    r"|\b(?:option|choice)(?:\s+\(?|\s*\()(?P<named>[A-Za-z])\b\)?"
    r"|\b(?:option|choice)\s+is\s+\(?(?P<option_is>[A-Z])\b"
    r"|\banswer\s*(?:is|:|would\s+be|should\s+be|must\s+be)?\s*(?P<answer>[A-Z])\b(?!['’])"
    r"|\b(?:choose|pick|select|go\s+with)\s+(?P<chosen>[A-Z])\b"
    r"|\b(?P<bare>[A-Z])\s+(?:is|would\s+be|seems)\s+(?:the\s+)?(?:correct|right|answer|best|"
    r"(?:more|most)\s+(?:plausible|likely|accurate|appropriate|reasonable))\b",
    re.IGNORECASE,
)
_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|\brather\s+than|\binstead\s+of|\bisn'?t|\bnor|\bthan)\s*(?:the\s+|a\s+|an\s+)?(?:option\s+)?$",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[\"“]([^\"“”]{3,})[\"”]")
_YES_NO_QUESTION = re.compile(
    r"^\s*(?:is|are|was|were|does|do|did|can|could|has|have|will|would|should)\b", re.IGNORECASE
)
_HOW_MANY = re.compile(
    r"\bhow\s+many\s+((?:[a-z]+\s+){0,2}?[a-z]+?)(?:\s+(?:are|is|were|can|do|does|in|on)\b|\s*\?|$)", re.IGNORECASE
)
# A text cut off mid-sentence ends in a word that cannot end one, or in a comma, colon or dash.
_DANGLING_END = re.compile(
    r"(?:[,;:(\-–—]|\b(?:the|a|an|of|to|and|or|but|is|are|was|were|be|with|in|on|at|for|from|by|that|which|"
    r"its|their|his|her|this|these|than|as|so|because|while|maybe|also|very|more|not|it)\b)\s*$",
    re.IGNORECASE,
)

_POSITIVE = frozenset({"true", "yes", "correct", "right", "accurate"})
_NEGATIVE = frozenset({"false", "no", "incorrect", "wrong", "inaccurate"})
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate((
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    ))
}  # fmt: skip
_NUMBER = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r"|none|no)\b", re.IGNORECASE)


def options_in_question(question: str) -> list[str]:
    """Option texts listed in ``question`` as lines ``(A) text`` / ``A. text`` / ``A) text``, in letter order.

    Only a run of consecutive letters starting at ``A`` counts; no such run gives ``[]``.
    """
    options: list[str] = []
    for letter, text in _OPTION_LINE.findall(question):
        if ord(letter) - ord("A") == len(options):
            options.append(text)
    return options


def is_cut_off(think: str) -> bool:
    """Whether ``think`` stops mid-sentence: no closing punctuation, and a last word that cannot end a sentence.

    >>> is_cut_off("There is a black remote control lying on the")
    True
    >>> is_cut_off("So the answer is B")
    False
    """
    text = think.strip()
    return not text or (text[-1] not in ".!?)]\"'”’*>" and _DANGLING_END.search(text) is not None)


def _sentences(think: str) -> list[str]:
    # Lines are sentences too: "**Conclusion:** The claim holds." and list items end without a full stop.
    return [s for line in think.splitlines() for s in split_sentences(line)]


def concluding_sentences(think: str) -> list[str]:
    """The concluding sentences of ``think`` (see the module docstring), last first."""
    sentences = _sentences(think)
    last = len(sentences) - 1
    while last > 0 and _CAVEAT.match(sentences[last]) and not _MARKER.search(sentences[last]):
        last -= 1
    return [s for i, s in enumerate(sentences[: last + 1]) if i == last or _MARKER.search(s)][::-1]


def _negated(sentence: str, start: int) -> bool:
    return _NEGATION_BEFORE.search(sentence[max(0, start - 24) : start]) is not None


def _letter_in(sentence: str, n_options: int | None) -> int | None:
    chosen = None
    for match in _LETTER_REF.finditer(sentence):
        letter = next(g for g in match.groups() if g is not None)
        if match.group("named") is None and not letter.isupper():
            continue  # "(a)" is an enumeration, "the answer is a red circle" names no option
        index = ord(letter.upper()) - ord("A")
        if (n_options is None or index < n_options) and not _negated(sentence, match.start()):
            chosen = index
    return chosen


def _option_phrase(option: str) -> str:
    words = normalize_answer(option).split()
    while len(words) > 1 and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)


def _text_in(sentence: str, options: Sequence[str]) -> int | None:
    text = f" {normalize_answer(sentence)} "
    found: dict[int, str] = {}
    for index, option in enumerate(options):
        wanted = _option_phrase(option)
        if not wanted:
            continue
        for match in re.finditer(rf" {re.escape(wanted)}(?:s|es)? ", text):
            if not _negated(text, match.start() + 1):
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
        if _UNCERTAIN.search(sentence):
            return None
    return None


def answer_option(answer: str, options: Sequence[str]) -> int | None:
    """Index of the option ``answer`` names (letter or full text, ``reward_fns.matched_choice``).

    With ``options == []`` a bare letter form (``B``, ``(B)``, ``Option B``) still names option ``B``.
    """
    if options:
        return matched_choice(answer, options)
    match = re.fullmatch(
        r"\s*(?:option\s+|choice\s+)?\(?([A-Za-z])\)?[.:)]?\s*", strip_answer_lead_in(answer), re.IGNORECASE
    )
    return ord(match.group(1).upper()) - ord("A") if match else None


def _side(text: str) -> bool | None:
    words = normalize_answer(text).split()
    if len(words) != 1:
        return None
    return True if words[0] in _POSITIVE else False if words[0] in _NEGATIVE else None


def answer_side(answer: str, options: Sequence[str]) -> bool | None:
    """``True`` / ``False`` when a true/false or yes/no answer says true/yes / false/no (by word or option letter)."""
    index = matched_choice(answer, options) if options else None
    return _side(options[index] if index is not None else strip_answer_lead_in(answer))


def _polar_options(options: Sequence[str]) -> bool:
    return sorted(normalize_answer(o) for o in options) in (["false", "true"], ["no", "yes"])


def _claim_of(question: str) -> Claim | None:
    """The quoted statement of a true/false question, else the yes/no question on its first line."""
    quoted = _QUOTED.findall(question)
    if quoted:
        return parse_claim(quoted[-1])
    first_line = question.strip().splitlines()[0] if question.strip() else ""
    return parse_claim(first_line)


def concluded_side(think: str, claim: Claim | None, options: Sequence[str]) -> bool | None:
    """``True`` / ``False`` when the reasoning concludes the statement holds / does not; ``None`` when it concludes neither."""
    sentences = _sentences(think)
    for position in range(len(sentences) - 1, -1, -1):
        sentence = sentences[position]
        index = _letter_in(sentence, len(options)) if options else None
        side = _side(options[index]) if index is not None else stance(sentence, claim)
        if side is None:
            if _UNCERTAIN.search(sentence):
                return None
            continue
        if is_hedged(sentence) and any(stance(earlier, claim) is (not side) for earlier in sentences[:position]):
            return None  # "… is not X. However, it could be X." ends undecided
        return side
    return None


def _number(word: str) -> int | None:
    word = word.lower()
    if word.isdigit():
        return int(word)
    if word in ("none", "no"):
        return 0
    return _NUMBER_WORDS.get(word)


def _counted_noun(question: str) -> str | None:
    match = _HOW_MANY.search(question)
    return match.group(1).split()[-1].lower().rstrip("s") if match else None


def _count_in(sentence: str, noun: str | None) -> int | None:
    text = sentence.lower()
    total = re.findall(rf"\b(?:total(?:\s+of|:)?|in\s+all|altogether)\s+(\d+|{'|'.join(_NUMBER_WORDS)})\b", text)
    if total:
        return _number(total[-1])  # "three here and two there, a total of five"
    if noun:
        near = re.findall(rf"\b(\d+|{'|'.join(_NUMBER_WORDS)}|no)\s+(?:[a-z-]+\s+){{0,2}}?{re.escape(noun)}", text)
        if near:
            return _number(near[-1])
        if re.search(rf"\bnone\s+of\s+the\s+(?:[a-z]+\s+)?{re.escape(noun)}", text):
            return 0
    stated = re.findall(
        rf"\b(?:there\s+(?:is|are)|total(?:\s+of)?|count(?:\s+of)?|number[a-z\s]*\s+is|makes|gives|is|are|:)\s+(?:only\s+)?"
        rf"(\d+|{'|'.join(_NUMBER_WORDS)})\b",
        text,
    )
    if stated:
        return _number(stated[-1])
    return None


def concluded_count(think: str, noun: str | None, options: Sequence[str]) -> int | None:
    """The count the reasoning arrives at (see the module docstring), or ``None``."""
    for sentence in _sentences(think)[::-1]:
        index = _letter_in(sentence, len(options)) if options else None
        count = _number(normalize_answer(options[index])) if index is not None else _count_in(sentence, noun)
        if count is not None:
            return count
        if _UNCERTAIN.search(sentence):
            return None
    return None


def answer_count(answer: str, options: Sequence[str]) -> int | None:
    """The number a counting answer gives (digits, a number word, or an option holding one)."""
    index = matched_choice(answer, options) if options else None
    text = normalize_answer(options[index] if index is not None else strip_answer_lead_in(answer))
    return _number(text) if len(text.split()) == 1 else None


def concludes_answer(question: str, think: str, answer: str) -> bool:
    """Whether ``think`` concludes what ``answer`` gives (see the module docstring); nothing concluded is ``False``."""
    if is_cut_off(think):
        return False
    options = options_in_question(question)
    if _polar_options(options) or (not options and _YES_NO_QUESTION.match(question) and _side(answer) is not None):
        wanted = answer_side(answer, options)
        return wanted is not None and concluded_side(think, _claim_of(question), options) is wanted
    if _HOW_MANY.search(question):
        count = answer_count(answer, options)
        if count is not None:
            return concluded_count(think, _counted_noun(question), options) == count
    wanted = answer_option(answer, options)
    if wanted is not None:
        return concluded_option(think, options) == wanted
    if options:
        return False
    value = normalize_answer(strip_answer_lead_in(answer))
    conclusions = concluding_sentences(think)
    return bool(value) and bool(conclusions) and f" {value} " in f" {normalize_answer(conclusions[0])} "
