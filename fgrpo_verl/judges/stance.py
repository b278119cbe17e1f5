"""Whether a sentence of reasoning affirms or denies a statement, read by rules (true/false and yes/no items).

A *claim* is the statement a true/false item quotes ("The car is behind the suitcase.") or the
statement a yes/no question asks about ("Is the cup left of the laptop?" → "the cup is left of
the laptop"; "Is there a cat?" → a cat exists). :func:`parse_claim` reads it as subject, relation
and object: head nouns (last word of the noun phrase, singular) and the relation's key words.

:func:`stance` reads one sentence and returns ``True`` (affirms), ``False`` (denies) or ``None``:

1. **Verdicts** about the statement win: adjectives in a sentence about the statement or after
   "it is" / "this is" ("the statement is (not) true / correct / accurate", "it is not accurate
   to say …", "Overall, false."), "(not) the case", verbs when the sentence names the statement
   ("this confirms / contradicts / aligns with the statement", "the claim does not hold"), and
   "yes" / "no" closing a clause ("Yes, …", "So, no.", "the answer is no"). Each has a polarity;
   a negator ("not", "n't", "never", "no", "hardly") among the three words before it flips it.
   The last verdict in the sentence counts.
2. Otherwise **restatements**: each occurrence of the relation's key word, of its opposite
   ("left" ↔ "right", "above" ↔ "below", "in front" ↔ "behind", "near" ↔ "far", "inside" ↔
   "outside", "bigger" ↔ "smaller", …) or of its inverse ("contains" ↔ "inside") with the claim's
   subject before it and its object (or nothing) after it, in the same clause. Subject and
   object swapped around an asymmetric relation, an opposite relation, or a negator between
   the subject and the relation each flip the polarity. A pronoun (it, he, she, they) with no
   noun before it stands for the subject. The last restatement in the sentence counts.
   For an existence claim: "there is no X", "I don't see any X", "no X is visible" deny; "there
   is a X", "I see a X", "X is visible" affirm.
"""

from __future__ import annotations

import dataclasses
import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_DETERMINERS = frozenset(
    {"the", "a", "an", "this", "that", "these", "those", "any", "some", "its", "his", "her", "their"}
)
_COPULAS = frozenset({"is", "are", "was", "were", "be", "being"})
_AUXILIARIES = frozenset({"is", "are", "was", "were", "does", "do", "did", "can", "could", "has", "have", "will"})
_NEGATORS = frozenset({"not", "no", "never", "neither", "nor", "hardly", "isn't", "aren't", "doesn't", "don't",
                       "didn't", "wasn't", "weren't", "cannot", "can't", "won't", "nothing", "none"})  # fmt: skip
_PRONOUNS = frozenset({"it", "he", "she", "they", "its", "his", "her", "their"})
# Words that end a subject noun phrase in a question ("Is the dog inside the car?"): prepositions,
# relation words, and any word ending in -ing / -er followed by "than" is handled in _subject_end.
_PREPOSITIONS = frozenset({
    "on", "in", "at", "to", "of", "under", "over", "above", "below", "behind", "beside", "near", "inside",
    "outside", "beneath", "underneath", "between", "by", "with", "next", "left", "right", "far", "close",
    "into", "onto", "against", "around", "across", "along", "toward", "towards", "facing", "ahead",
    "away", "off", "touching", "part", "attached", "surrounding", "within", "atop", "past", "beyond",
})  # fmt: skip
_STOPWORDS = frozenset({"the", "a", "an", "of", "to", "at", "side", "is", "are", "from", "with", "as", "and",
                        "hand", "part", "image", "picture", "photo", "same"})  # fmt: skip

# Relation groups: each key word maps to (group, sign); sign -1 is the opposite of sign +1.
_GROUPS: dict[str, tuple[str, int]] = {}
for _group, _pos, _neg in (
    ("lr", "left leftmost", "right rightmost"),
    ("ud", "above over top atop higher upper up", "below under underneath beneath lower bottom down"),
    ("fb", "front ahead before", "behind"),
    (
        "near",
        "near nearby close closer next beside adjacent touching touch touches by against",
        "far farther away distant apart",
    ),
    ("in", "inside in into within contains contain containing", "outside out"),
    ("on", "on onto", "off"),
    ("size", "bigger larger taller longer wider", "smaller shorter narrower tinier"),
):
    for _word in _pos.split():
        _GROUPS[_word] = (_group, 1)
    for _word in _neg.split():
        _GROUPS[_word] = (_group, -1)
# Relations that stay true with subject and object swapped.
_SYMMETRIC = frozenset({"near"})
# "X contains Y" is "Y inside X": the same group with subject and object swapped.
_INVERSE = frozenset({"contains", "contain", "containing"})

# Other names of the same head noun (and pronouns for people).
_SYNONYMS: dict[str, frozenset[str]] = {
    "person": frozenset(
        {
            "person",
            "people",
            "man",
            "men",
            "woman",
            "women",
            "boy",
            "girl",
            "child",
            "kid",
            "lady",
            "guy",
            "player",
            "rider",
            "skier",
            "surfer",
            "skateboarder",
            "he",
            "she",
            "him",
            "her",
            "farmer",
            "cyclist",
        }
    ),
    "tv": frozenset({"tv", "television", "screen"}),
    "couch": frozenset({"couch", "sofa"}),
    "sofa": frozenset({"couch", "sofa"}),
    "phone": frozenset({"phone", "cellphone", "smartphone"}),
    "remote": frozenset({"remote", "control"}),
    "bicycle": frozenset({"bicycle", "bike"}),
    "motorcycle": frozenset({"motorcycle", "motorbike", "bike"}),
    "car": frozenset({"car", "vehicle"}),
    "airplane": frozenset({"airplane", "plane", "aircraft"}),
    "cup": frozenset({"cup", "mug"}),
    "bird": frozenset({"bird", "seagull", "gull", "pigeon"}),
    "meter": frozenset({"meter"}),
    "hydrant": frozenset({"hydrant"}),
    "refrigerator": frozenset({"refrigerator", "fridge"}),
}

# Adjectives that judge the statement: they count when the sentence is about the statement (or
# the answer), after "it is" / "this is", in "(not) X to say", or standing alone ("Overall, true.").
_VERDICT_ADJECTIVES: dict[str, bool] = {
    "true": True, "correct": True, "accurate": True, "valid": True, "right": True, "confirmed": True,
    "supported": True, "consistent": True,
    "false": False, "incorrect": False, "inaccurate": False, "wrong": False, "invalid": False, "untrue": False,
    "refuted": False, "disproved": False, "inconsistent": False, "contradicted": False,
}  # fmt: skip
# Verbs and relational words that judge the statement only when the sentence names it
# ("this confirms the statement", "the claim does not hold", "opposite to what the statement says").
_VERDICT_VERBS: dict[str, bool] = {
    "confirms": True, "confirm": True, "holds": True, "hold": True, "matches": True, "match": True,
    "supports": True, "aligns": True, "align": True, "agrees": True, "agree": True,
    "contradicts": False, "contradict": False, "refutes": False, "refute": False, "opposite": False,
    "contrary": False,
}  # fmt: skip
_ABOUT_STATEMENT = re.compile(r"\b(?:statement|claim|caption|description|assertion|answer)s?\b")
_IT_IS = re.compile(
    r"\b(?:it|this|that)(?:'s|\s+is|\s+was|\s+(?:would|could|might|may|must)\s+be|\s+seems|\s+appears)\b"
)
_THE_CASE = re.compile(r"\bthe\s+case\b")
# "Yes." / "So, no." / "Therefore: yes." / "the answer is no": yes or no closing a clause.
_YES_NO = re.compile(
    r"(?:^|[,.;:!]\s*|\b(?:so|thus|hence|therefore|then|answer\s+is|answer\s+would\s+be|answer)\s*[,:]?\s*)"
    r"(yes|no)(?=\s*(?:[,.!;:]|$))"
)
_HEDGE = re.compile(r"\b(?:could|might|may|possibly|perhaps|maybe)\b")


@dataclasses.dataclass(frozen=True)
class Claim:
    """``subject`` / ``obj``: name sets of the head nouns (``obj`` empty when there is none);
    ``relation``: key words of the relation (lower case); ``existential``: "there is a <obj>"."""

    subject: frozenset[str]
    relation: tuple[str, ...]
    obj: frozenset[str]
    existential: bool = False


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _names(head: str) -> frozenset[str]:
    head = _singular(head)
    return _SYNONYMS.get(head, frozenset({head}))


def _head(phrase: list[str]) -> str | None:
    content = [w for w in phrase if w not in _DETERMINERS and not w.isdigit()]
    return content[-1] if content else None


def parse_claim(text: str) -> Claim | None:
    """The claim of a statement ("The X is <relation> the Y.") or of a yes/no question; ``None`` if unreadable."""
    words = _words(text)
    if words and words[0] in _AUXILIARIES:
        words = words[1:]
    if not words:
        return None
    if words[0] == "there" and len(words) > 2:
        rest = [w for w in words[2:] if w not in _DETERMINERS]
        cut = next((i for i, w in enumerate(rest) if w in _PREPOSITIONS), len(rest))
        head = _head(rest[:cut])
        return Claim(frozenset(), (), _names(head), existential=True) if head else None
    end = _subject_end(words)
    subject = _head(words[:end])
    if subject is None or end >= len(words):
        return None
    predicate = [w for w in words[end:] if w not in _COPULAS]
    # The object is the noun phrase after the last determiner ("… of the laptop"), if any.
    last_det = max((i for i, w in enumerate(predicate) if w in _DETERMINERS), default=-1)
    obj = _head(predicate[last_det + 1 :]) if last_det >= 0 else None
    relation_words = predicate[: last_det if last_det >= 0 else len(predicate)]
    relation = tuple(w for w in relation_words if w not in _STOPWORDS) or tuple(relation_words)
    return Claim(_names(subject), relation, _names(obj) if obj else frozenset())


def _subject_end(words: list[str]) -> int:
    """Index of the first word after the subject noun phrase."""
    for i, word in enumerate(words):
        if i == 0 and word in _DETERMINERS:
            continue
        if word in _COPULAS or word in _PREPOSITIONS or word in _GROUPS or word in _INVERSE:
            return i
        following = words[i + 1] if i + 1 < len(words) else ""
        if i > 0 and word.endswith("ing") and (following in _DETERMINERS or following in _PREPOSITIONS):
            return i  # "is the man wearing a hat", not "the parking meter"
        if i > 0 and following == "than":
            return i
        if i > 0 and word.endswith("s") and i + 1 < len(words) and words[i + 1] in _DETERMINERS:
            return i  # a verb: "the bowl contains the broccoli"
    # No verb found ("Is the traffic light green?"): the last word is the predicate.
    return max(1, len(words) - 1)


def _negated(words: list[str], start: int, end: int) -> bool:
    return any(w in _NEGATORS or w.endswith("n't") for w in words[max(0, start) : end])


def _verdict(words: list[str], text: str) -> bool | None:
    names_statement = _ABOUT_STATEMENT.search(text) is not None
    about = names_statement or _IT_IS.search(text) is not None
    found = None
    for i, word in enumerate(words):
        polarity = _VERDICT_ADJECTIVES.get(word)
        if polarity is not None:
            if word == "right" and not (i > 0 and words[i - 1] in ("is", "it's", "that's", "be", "was", "are")):
                continue  # spatial "to the right", "right side"
            to_say = i + 2 < len(words) and words[i + 1] == "to" and words[i + 2] in ("say", "claim", "state")
            if not (about or len(words) <= 3 or to_say):
                continue
        else:
            polarity = _VERDICT_VERBS.get(word)
            if polarity is None or not names_statement:
                continue
        found = polarity != _negated(words, i - 3, i)
    for match in _THE_CASE.finditer(text):
        before = _words(text[max(0, match.start() - 40) : match.start()])
        found = not _negated(before, len(before) - 3, len(before))
    for match in _YES_NO.finditer(text):
        found = match.group(1) == "yes"
    return found


def _mentions(words: list[str], names: frozenset[str]) -> list[int]:
    # "the car's body" mentions the car.
    return [i for i, w in enumerate(words) if (stem := w.split("'")[0]) in names or _singular(stem) in names]


def _existence(words: list[str], claim: Claim) -> bool | None:
    hits = _mentions(words, claim.obj)
    if not hits:
        return None
    i = hits[-1]
    window = words[max(0, i - 6) : i]
    if _negated(window, 0, len(window)) or "without" in window or "absent" in words[i:]:
        return False
    # "no zebra is visible" is caught above; "the zebra is not there" here.
    return not (i + 2 < len(words) and words[i + 1] in ("is", "are") and words[i + 2] in _NEGATORS)


def _relation_keys(claim: Claim) -> list[tuple[str, tuple[str, int] | None]]:
    """The claim's relation words with their group (``None``: no group, matched literally)."""
    grouped = [(w, _GROUPS[w]) for w in claim.relation if w in _GROUPS]
    # "on top of": "top" says more than "on"; drop the generic in/on when a specific word is there.
    specific = [(w, g) for w, g in grouped if g[0] not in ("in", "on")]
    keys = specific or grouped
    if keys:
        return [(w, g) for w, g in keys]
    return [(w, None) for w in claim.relation]


def _restatement(words: list[str], claim: Claim) -> bool | None:
    keys = _relation_keys(claim)
    if not keys:
        return None
    subjects, objects = set(_mentions(words, claim.subject)), set(_mentions(words, claim.obj))
    found = None
    last_entity = -1  # nearest subject, object or pronoun so far: one pass, linear in the sentence
    for i, word in enumerate(words):
        sign = _relation_sign(word, keys)
        if sign is not None and last_entity >= 0:
            outcome = _triple(words, i, word, sign, last_entity, subjects, objects, claim, keys)
            if outcome is not None:
                found = outcome
        if i in subjects or i in objects or word in _PRONOUNS:
            last_entity = i
    return found


def _triple(
    words: list[str],
    i: int,
    word: str,
    sign: int,
    a: int,
    subjects: set[int],
    objects: set[int],
    claim: Claim,
    keys: list[tuple[str, tuple[str, int] | None]],
) -> bool | None:
    """Polarity of "<entity at a> … <relation word at i> … <entity after>" towards the claim, if it is about it."""
    a_role = "o" if a in objects and a not in subjects else "s"
    after = next((j for j in range(i + 1, min(len(words), i + 8)) if j in subjects or j in objects), None)
    b_role = None if after is None else ("o" if after in objects and after not in subjects else "s")
    if b_role == a_role or (b_role is None and claim.obj and a_role == "o"):
        return None
    group = keys[0][1]
    inverse_claim = bool({w for w, _ in keys} & _INVERSE)
    swapped = a_role == "o"
    if group is not None and group[0] == "in" and (word in _INVERSE) != inverse_claim:
        swapped = not swapped  # "Y contains X" said of "X inside Y", or the other way round
    polarity = sign > 0
    if swapped and (group is None or group[0] not in _SYMMETRIC):
        polarity = not polarity
    if _negated(words, a + 1, i) or (i >= 2 and words[i - 2 : i] == ["rather", "than"]):
        polarity = not polarity
    return polarity


def _relation_sign(word: str, keys: list[tuple[str, tuple[str, int] | None]]) -> int | None:
    """+1 when ``word`` is the claim's relation, -1 when it is the opposite, ``None`` otherwise."""
    for key, group in keys:
        if group is None:
            if _singular(word) == _singular(key) or (len(key) > 4 and word.startswith(key[:-1])):
                return 1
            continue
        other = _GROUPS.get(word)
        if other is not None and other[0] == group[0]:
            return 1 if other[1] == group[1] else -1
    return None


def stance(sentence: str, claim: Claim | None) -> bool | None:
    """``True`` / ``False`` when ``sentence`` affirms / denies ``claim`` (see the module docstring), else ``None``."""
    text = sentence.lower().replace("\u2019", "'")
    words = _words(text)
    verdict = _verdict(words, text)
    if verdict is not None or claim is None:
        return verdict
    if claim.existential:
        return _existence(words, claim)
    return _restatement(words, claim)


def is_hedged(sentence: str) -> bool:
    """Whether ``sentence`` only allows its claim ("could", "might", "may", "possibly", "perhaps", "maybe")."""
    return _HEDGE.search(sentence.lower()) is not None
