"""The trivial-sentence filter for semantic grounding (SPEC §1), with both of its word lists.

Only sentences that make a checkable visual claim are sent to the grounding judge. A sentence
is *trivial* when it opens with a meta-reasoning, planning, hedging or concluding phrase
(:data:`TRIVIAL_PREFIXES`), or when it mentions nothing visual: no word of
:data:`VISUAL_WORDS` (object nouns, colours, shapes, spatial and size terms, image words,
also in plural), no bracketed coordinates and no ``<bbox>``. Pure arithmetic ("230 - 50 = 180.")
is trivial by the second rule.

Both lists are overridable per call and in the recipe config (``fgrpo.sentences.trivial_prefixes``,
``fgrpo.sentences.visual_words``); an override replaces the list, it does not extend it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from reward_fns.segmenter import split_sentences

# fmt: off
#: Leading phrases of meta-reasoning, planning, hedging, restating and concluding sentences.
#: Matched case-insensitively at the start of the sentence, ending at a word boundary.
TRIVIAL_PREFIXES: tuple[str, ...] = (
    "let me", "let's", "lets", "let us", "i need to", "i need", "i will", "i'll", "i should", "i must",
    "i think", "i believe", "i guess", "i'm not sure", "i am not sure", "i can't", "i cannot",
    "we need to", "we should", "we must", "to answer", "to determine", "to solve", "to find", "to figure",
    "first,", "first of all", "firstly", "second,", "secondly", "third,", "next,", "then,", "finally,", "lastly",
    "now,", "okay", "ok", "alright", "all right", "well,", "wait", "hmm", "hm", "oh", "ah", "actually,",
    "maybe", "perhaps", "possibly", "not sure", "it seems", "it's hard to", "it is hard to",
    "therefore", "thus", "hence", "so the answer", "so, the answer", "so the correct", "so, the correct",
    "the answer", "the correct answer", "the correct option", "the final answer", "answer:", "final answer",
    "in conclusion", "in summary", "to summarize", "to sum up", "overall,", "so far", "looking at the options",
    "the question asks", "the question is", "this question", "the options are", "option", "options",
    "calculating", "calculate", "compute", "computing", "subtract", "subtracting", "adding", "multiply",
    "dividing", "divide", "double-check", "double check", "checking", "recheck",
)

#: Words whose presence makes a sentence a visual claim: objects, colours, shapes, spatial
#: relations, sizes and image vocabulary. Matched case-insensitively as whole words (text is cut into
#: runs of letters and digits, so "top-left" holds "top" and "left"), with an optional plural "s"/"es".
VISUAL_WORDS: tuple[str, ...] = (
    # generic and synthetic-scene objects
    "object", "item", "thing", "shape", "circle", "square", "triangle", "rectangle", "ellipse", "oval",
    "star", "diamond", "hexagon", "pentagon", "polygon", "cube", "sphere", "cylinder", "cone", "ball",
    "block", "box", "dot", "line", "arrow", "marker", "sign", "label",
    # people, animals, vehicles
    "person", "people", "man", "men", "woman", "women", "child", "children", "boy", "girl", "face", "hand",
    "dog", "cat", "bird", "horse", "cow", "sheep", "animal", "car", "truck", "bus", "bike", "bicycle",
    "motorcycle", "vehicle", "train", "boat", "plane", "airplane",
    # indoor and outdoor objects
    "chair", "table", "desk", "sofa", "couch", "bed", "pillow", "lamp", "shelf", "shelves",
    "cabinet", "drawer", "counter", "sink", "toilet", "bathtub", "mirror", "tv", "television", "monitor",
    "screen", "computer", "laptop", "keyboard", "phone", "book", "cup", "mug", "glass", "bottle", "bowl",
    "plate", "vase", "plant", "flower", "clock", "picture", "painting", "frame", "door", "window", "wall",
    "floor", "ceiling", "stairs", "rug", "carpet", "curtain", "refrigerator", "fridge", "oven", "microwave",
    "stove", "bag", "backpack", "umbrella", "tree", "building", "house", "road", "street", "sidewalk",
    "fence", "pole", "bench", "grass", "sky", "water", "ground", "room", "kitchen", "bathroom",
    # colours and appearance
    "red", "green", "blue", "yellow", "orange", "purple", "violet", "pink", "brown", "black", "white",
    "gray", "grey", "cyan", "magenta", "gold", "silver", "beige", "colour", "color", "colored", "coloured",
    "dark", "bright", "striped", "shiny", "metallic", "wooden", "transparent",
    # spatial relations and positions
    "left", "right", "above", "below", "under", "underneath", "beneath", "behind", "in front",
    "near", "nearer", "nearest", "far", "farther", "farthest", "further", "furthest", "close",
    "closer", "closest", "next to", "beside", "between", "inside", "outside", "on top", "top",
    "bottom", "upper", "lower", "middle", "center", "centre", "central", "corner", "edge", "side",
    "adjacent", "opposite", "across", "facing", "toward", "towards", "horizontal", "vertical",
    "diagonal", "leftmost", "rightmost", "topmost", "bottommost", "overlap", "overlapping", "touching",
    "distance", "position", "located", "placed", "positioned", "coordinate", "depth", "direction",
    # size and shape comparisons
    "large", "larger", "largest", "big", "bigger", "biggest", "small", "smaller", "smallest", "tiny",
    "tall", "taller", "tallest", "short", "shorter", "shortest", "wide", "wider", "narrow", "long",
    "longer", "height", "width", "size", "area", "flat",
    # the image itself
    "image", "photo", "photograph", "scene", "view", "foreground", "background", "camera", "viewer",
    "visible", "pixel", "px",
)
# fmt: on

# Coordinates in brackets or parentheses ("[12, 40]", "(120, 35)") and box tags mark a visual claim.
_COORDINATES = re.compile(r"<bbox>|[\[(]\s*[-+]?\d+(?:\.\d+)?\s*,\s*[-+]?\d")
_TOKEN = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=32)
def _prefix_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    # A prefix that ends in a letter or digit must end at a word boundary ("ok" does not match
    # "okapi"); one that ends in punctuation ("first,") need not.
    alternatives = []
    for prefix in sorted({p.strip().lower() for p in prefixes if p.strip()}):
        alternatives.append(re.escape(prefix) + (r"\b" if prefix[-1].isalnum() else ""))
    return re.compile(r"(?:" + "|".join(alternatives) + r")" if alternatives else r"(?!)", re.IGNORECASE)


@functools.lru_cache(maxsize=32)
def _visual_vocab(words: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Single-token words as a set, multi-token phrases ("next to") as space-joined strings."""
    singles, phrases = set(), []
    for word in words:
        tokens = _TOKEN.findall(word.lower())
        if len(tokens) == 1:
            singles.add(tokens[0])
        elif tokens:
            phrases.append(" ".join(tokens))
    return frozenset(singles), tuple(phrases)


def _mentions_visual_word(text: str, words: tuple[str, ...]) -> bool:
    # Token lookups in a set rather than one regex alternation of a few hundred words: this
    # runs on every sentence of every rollout.
    singles, phrases = _visual_vocab(words)
    tokens = _TOKEN.findall(text.lower())
    for token in tokens:
        if token in singles or (token[-1] == "s" and (token[:-1] in singles or token[:-2] in singles)):
            return True
    if phrases:
        joined = f" {' '.join(tokens)} "
        return any(f" {p}{suffix} " in joined for p in phrases for suffix in ("", "s", "es"))
    return False


def is_trivial_sentence(
    sentence: str,
    trivial_prefixes: Iterable[str] | None = None,
    visual_words: Iterable[str] | None = None,
) -> bool:
    """Whether a sentence carries no checkable visual claim (see the module docstring).

    ``trivial_prefixes`` / ``visual_words`` replace :data:`TRIVIAL_PREFIXES` / :data:`VISUAL_WORDS`
    when given.

    >>> is_trivial_sentence("Let me look at the red box.")
    True
    >>> is_trivial_sentence("230 - 50 = 180.")
    True
    >>> is_trivial_sentence("The red circle is left of the cup.")
    False
    """
    prefixes = TRIVIAL_PREFIXES if trivial_prefixes is None else tuple(trivial_prefixes)
    words = VISUAL_WORDS if visual_words is None else tuple(visual_words)
    text = sentence.replace("\u2019", "'").strip().lstrip("*-#>\"' ")
    if not text or _prefix_pattern(prefixes).match(text):
        return True
    return not (_COORDINATES.search(text) or _mentions_visual_word(text, words))


def nontrivial_sentences(
    text: str,
    trivial_prefixes: Iterable[str] | None = None,
    visual_words: Iterable[str] | None = None,
) -> list[str]:
    """The sentences of ``text`` (:func:`~reward_fns.segmenter.split_sentences`) that are not trivial, in order."""
    prefixes = None if trivial_prefixes is None else tuple(trivial_prefixes)
    words = None if visual_words is None else tuple(visual_words)
    return [s for s in split_sentences(text) if not is_trivial_sentence(s, prefixes, words)]
