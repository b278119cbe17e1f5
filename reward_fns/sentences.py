"""The trivial-sentence filter for semantic grounding (SPEC §1), with both of its word lists.

Only sentences that carry visual content are sent to the grounding judge. Visual content is an
object word, a colour, a spatial relation, a visual attribute (:data:`VISUAL_WORDS`, read from
``reward_fns/data/visual_vocabulary.txt``: COCO's classes, everyday LVIS / Objects365 / Visual
Genome objects, the synthetic shapes, body and scene parts, colours, relations; plural allowed),
a count ("there are 4", "I count five"), bracketed coordinates or a ``<bbox>``. **Visual content
wins over whatever opens the sentence**: "Therefore, the dog is right of the laptop", "I think
the cup is left of the plate", "Hmm, the box looks larger" are all judged.

A sentence is *trivial* when it makes no visual claim:

1. it names nothing visual (meta-reasoning, arithmetic such as "230 - 50 = 180.", verdicts such
   as "The statement is false.");
2. it is a question ("Is the cat really on the microwave?");
3. after its openers ("so", "therefore", "first,", "okay", "wait", "hmm", …) it starts with a
   planning, restating or answering phrase (:data:`TRIVIAL_PREFIXES`: "let me", "I need to",
   "to determine", "the question asks", "the statement says", "the answer is", …) and no claim
   follows a ":" / ";" / "because" / "since" (or, after "to <verb> …,", the first comma):
   "Let me find the red cup." states an intention, "Let me check: the cup is red." a claim;
4. it only says the reasoning cannot tell ("I am not sure which one is nearer.");
5. it is generic knowledge: a habitual marker ("often", "usually", "typically", "generally",
   "commonly", "tend to", "are known to", "in general") and no reference to this image
   ("the image", "here", "visible", "I see", a box): "Cats often climb onto toilets to get a
   better view.";
6. it defines a word ("The word 'behind' refers to depth.") or says what needs to be done
   ("Both objects need to be visible to compare them.").

Both lists are overridable per call and in the recipe config (``fgrpo.sentences.trivial_prefixes``,
``fgrpo.sentences.visual_words``); an override replaces the list, it does not extend it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources

from reward_fns.segmenter import split_sentences

# fmt: off
#: Leading phrases of planning, restating and answering sentences: a sentence that opens with one
#: (after its openers) states an intention or repeats the question, not what the image shows.
#: Matched case-insensitively, ending at a word boundary.
TRIVIAL_PREFIXES: tuple[str, ...] = (
    "let me", "let's", "lets", "let us", "i need to", "i need", "i will", "i'll", "i should", "i must",
    "i want to", "i would like to", "i'd like to", "i have to", "i am going to", "i'm going to",
    "we need to", "we should", "we must", "we have to", "we can", "we will", "we'll",
    "to answer", "to determine", "to solve", "to find", "to figure", "to verify", "to check", "to decide",
    "to compare", "to count", "to confirm", "to locate", "to identify", "to see",
    "the question asks", "the question is", "this question", "the task is", "we are asked", "i am asked",
    "the statement says", "the statement claims", "the statement states", "the statement is that",
    "the claim states", "the claim is that", "the caption says", "the options are", "looking at the options",
    "the answer", "the correct answer", "the correct option", "the correct choice", "the final answer",
    "answer:", "final answer", "my answer", "i will answer", "i'll go with", "i'll pick", "i choose",
    "calculating", "calculate", "compute", "computing", "subtract", "subtracting", "adding", "multiply",
    "dividing", "divide", "double-check", "double check", "checking", "recheck",
    "compare", "consider", "examine", "look at", "check", "locate", "identify",
)
# fmt: on


def _load_vocabulary() -> tuple[str, ...]:
    text = resources.files("reward_fns").joinpath("data/visual_vocabulary.txt").read_text(encoding="utf-8")
    entries = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return tuple(dict.fromkeys(entry for entry in entries if entry))


#: Words and phrases whose presence is visual content (``reward_fns/data/visual_vocabulary.txt``).
#: Matched case-insensitively as whole words (text is cut into runs of letters and digits, so
#: "top-left" holds "top" and "left"), with an optional plural "s"/"es".
VISUAL_WORDS: tuple[str, ...] = _load_vocabulary()

_OPENERS = re.compile(
    r"^(?:(?:so|therefore|thus|hence|first(?:ly)?|second(?:ly)?|third(?:ly)?|next|then|finally|lastly|now|"
    r"okay|ok|alright|all\s+right|well|wait|hmm+|hm+|oh|ah|actually|also|overall|in\s+conclusion|in\s+summary|"
    r"to\s+summarize|to\s+sum\s+up|but|however|and|yes|no|step\s+\d+|\d+[.)])\b[\s,:.!;-]*)+",
    re.IGNORECASE,
)
_CLAIM_BREAK = re.compile(r"[:;]|\s[-\u2014]\s|\b(?:because|since)\b")
_UNCERTAIN = re.compile(
    r"\b(?:hard|difficult|impossible)\s+to\s+(?:say|tell|determine|decide|count)|\bnot\s+(?:sure|certain)\b|"
    r"\bunsure\b|\bcan(?:not|'t)\s+(?:decide|tell|determine)\b"
)
_BUT = re.compile(r"\b(?:but|though|although)\b")
_HABITUAL = re.compile(
    r"\b(?:often|usually|typically|generally|commonly|normally|frequently|tends?\s+to|(?:are|is)\s+known|"
    r"in\s+general|as\s+a\s+rule)\b"
)
_DEIXIS = re.compile(
    r"\b(?:this|the)\s+(?:image|picture|photo|photograph|scene|frame)\b|\bhere\b|\bvisible\b|\bshown\b|"
    r"\b(?:i|we)\s+(?:can\s+)?(?:see|notice|observe)\b|<bbox>"
)
_DEFINITION = re.compile(r"'[a-z ]+'\s+(?:means|refers\s+to|is\s+defined|indicates)\b|\bneeds?\s+to\b")
# Uses of visual words that are not visual: "that's right", "the right answer", "bear in mind".
_NOT_VISUAL = re.compile(
    r"\b(?:(?:is|are|was|'s|be)\s+right\b(?!\s+(?:of|side|next|beside|behind|above|below|in|on|at|there|corner|edge|half|hand))|"
    r"right\s+(?:answer|option|choice|conclusion|track)|bear\s+in\s+mind|in\s+short|as\s+long\s+as|over\s+time|"
    r"above\s+(?:reasoning|analysis|steps?|observations?|points?)|"
    r"(?:reasoning|analysis|mentioned|stated|noted|discussed|said|shown|explained|see)\s+above)"
)
# Words without which _UNCERTAIN, _DEFINITION and _HABITUAL cannot match, and the words _NOT_VISUAL rewrites.
_CUE_WORDS = frozenset({
    "hard", "difficult", "impossible", "not", "unsure", "unclear", "cannot", "can", "t", "means", "refers",
    "defined", "indicates", "need", "needs", "often", "usually", "typically", "generally", "commonly", "normally",
    "frequently", "tend", "tends", "known", "general", "rule",
})  # fmt: skip
_MAX_CLAUSES = 8
_AMBIGUOUS = frozenset({"right", "above", "bear", "short", "long", "over"})
_NUMBER = r"(?:\d+|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_COUNT = re.compile(
    rf"\bthere\s+(?:is|are|were)\s+(?:only\s+|exactly\s+)?{_NUMBER}\b|\b(?:i\s+)?count(?:ed)?\s+{_NUMBER}\b|"
    rf"\btotal(?:\s+of|:)\s*{_NUMBER}\b"
)

# Coordinates in brackets or parentheses ("[12, 40]", "(120, 35)") and box tags mark a visual claim.
_COORDINATES = re.compile(r"<bbox>|[\[(]\s*[-+]?\d+(?:\.\d+)?\s*,\s*[-+]?\d")
_TOKEN = re.compile(r"[a-z0-9]+")


def _by_identity(build):
    """Cache ``build(words)`` by the identity of the ``words`` tuple.

    The lists are long tuples passed on every call; hashing one for an ``lru_cache`` lookup costs
    more than the rest of the filter, while the same tuple object (the default or the config's
    override) comes back every time.
    """
    built: dict[int, tuple[tuple[str, ...], object]] = {}

    def cached(words: tuple[str, ...]):
        entry = built.get(id(words))
        if entry is None or entry[0] is not words:
            if len(built) >= 32:
                built.clear()
            entry = built[id(words)] = (words, build(words))
        return entry[1]

    return cached


@_by_identity
def _prefix_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    # A prefix that ends in a letter or digit must end at a word boundary ("ok" does not match
    # "okapi"); one that ends in punctuation ("first,") need not.
    alternatives = []
    for prefix in sorted({p.strip().lower() for p in prefixes if p.strip()}):
        alternatives.append(re.escape(prefix) + (r"\b" if prefix[-1].isalnum() else ""))
    return re.compile(r"(?:" + "|".join(alternatives) + r")" if alternatives else r"(?!)", re.IGNORECASE)


@_by_identity
def _visual_vocab(words: tuple[str, ...]) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """Single-token words as a set; multi-token phrases ("next to") as space-joined strings by first token."""
    singles, phrases = set(), {}
    for word in words:
        tokens = _TOKEN.findall(word.lower())
        if len(tokens) == 1:
            singles.add(tokens[0])
        elif tokens:
            phrases.setdefault(tokens[0], []).append(" ".join(tokens))
    return frozenset(singles), {first: tuple(group) for first, group in phrases.items()}


def _mentions_visual_word(tokens: list[str], words: tuple[str, ...]) -> bool:
    # Token lookups in a set rather than one regex alternation of several hundred words: this
    # runs on every sentence of every rollout.
    singles, phrases = _visual_vocab(words)
    for token in tokens:
        if token in singles or (token[-1] == "s" and (token[:-1] in singles or token[:-2] in singles)):
            return True
    starts = [t for t in tokens if t in phrases]
    if starts:
        joined = f" {' '.join(tokens)} "
        return any(f" {p}{suffix} " in joined for t in starts for p in phrases[t] for suffix in ("", "s", "es"))
    return False


def _has_visual_content(text: str, tokens: list[str], words: tuple[str, ...]) -> bool:
    if _AMBIGUOUS.intersection(tokens):
        text = _NOT_VISUAL.sub(" ", text)
        tokens = _TOKEN.findall(text)
    return _mentions_visual_word(tokens, words) or bool(_COORDINATES.search(text) or _COUNT.search(text))


def _claim_part(text: str, prefixes: tuple[str, ...]) -> str:
    """The part of ``text`` that may hold a claim: all of it, or what follows a planning phrase's clause break.

    At most ``_MAX_CLAUSES`` planning clauses are skipped, so a hostile sentence of thousands of
    "check the cup;" costs linear time; what is left after them is read as it is.
    """
    for _ in range(_MAX_CLAUSES):
        text = _OPENERS.sub("", text, count=1)
        opening = _prefix_pattern(prefixes).match(text)
        if opening is None:
            return text
        rest = text[opening.end() :]
        brk = _CLAIM_BREAK.search(rest)
        if brk is None and opening.group(0).lower().startswith("to ") and "," in rest:
            text = rest.split(",", 1)[1].strip()  # "To answer this, note that …": read what follows
            continue
        if brk is None:
            return ""
        text = rest[brk.end() :].strip()
    return text


def is_trivial_sentence(
    sentence: str,
    trivial_prefixes: Iterable[str] | None = None,
    visual_words: Iterable[str] | None = None,
) -> bool:
    """Whether a sentence carries no visual claim (see the module docstring).

    ``trivial_prefixes`` / ``visual_words`` replace :data:`TRIVIAL_PREFIXES` / :data:`VISUAL_WORDS`
    when given.

    >>> is_trivial_sentence("Let me look at the red box.")
    True
    >>> is_trivial_sentence("230 - 50 = 180.")
    True
    >>> is_trivial_sentence("Therefore, the dog is indeed at the right side of the laptop.")
    False
    """
    prefixes = TRIVIAL_PREFIXES if trivial_prefixes is None else tuple(trivial_prefixes)
    words = VISUAL_WORDS if visual_words is None else tuple(visual_words)
    text = sentence.replace("\u2019", "'").replace("**", "").strip().lstrip("*-#>\"' ").lower()
    if not text or text.endswith("?"):
        return True
    text = _claim_part(text, prefixes)
    tokens = _TOKEN.findall(text)
    if not tokens:
        return True
    # The regexes below only run when a word they need is there (this runs on every sentence).
    cues = _CUE_WORDS.intersection(tokens)
    if cues:
        if _UNCERTAIN.search(text) and not _BUT.search(text):
            return True
        if _DEFINITION.search(text) or (_HABITUAL.search(text) and not _DEIXIS.search(text)):
            return True
    return not _has_visual_content(text, tokens, words)


def nontrivial_sentences(
    think: str,
    trivial_prefixes: Iterable[str] | None = None,
    visual_words: Iterable[str] | None = None,
) -> list[str]:
    """The sentences of ``think`` (:func:`~reward_fns.segmenter.split_sentences`) that are not trivial, in order."""
    prefixes = None if trivial_prefixes is None else tuple(trivial_prefixes)
    words = None if visual_words is None else tuple(visual_words)
    return [s for s in split_sentences(think) if not is_trivial_sentence(s, prefixes, words)]
