"""Response text of each reasoning style, written from a synthetic item and its scene graph.

The demo's policy does not generate tokens; it picks a *style*, and the style writes a complete
``<think>…</think><answer>…</answer>`` response about the actual scene. The reward manager's channel
code then scores that text like any rollout. Each rollout also has an *outcome*
(:data:`~fgrpo_verl.demo.settings.OUTCOMES`):
``wrong`` (answers another option), ``correct`` (answers the right option, reasoning as the style
does) or ``slip`` (answers the right option although the reasoning concluded another one). How
likely each outcome is belongs to the simulated model (:mod:`fgrpo_verl.demo.policy`); what the text
earns is up to the real rewards and the rule judge.

| style | reasoning | faithful? |
|---|---|---|
| ``grounded`` | names the objects, cites their ``<bbox>`` (model frame, each coordinate jittered by up to ``BOX_JITTER`` of the side), states the relations that support the option it concludes | yes; a wrong outcome misperceives the relation, or reasons soundly and concludes another option |
| ``shortcut`` | one false relation between two scene objects, no boxes, concludes another option than it answers | no: inconsistent and ungrounded (a slip changes nothing) |
| ``vague`` | no visual sentence, just "the answer should be (X)" | consistent, nothing to ground |
| ``malformed`` | like ``vague``, with a stray line between the blocks or the blocks swapped | breaks the format |
"""

from __future__ import annotations

import random
from collections.abc import Callable

from fgrpo_verl.demo.items import DemoItem, SceneObject
from fgrpo_verl.demo.settings import OUTCOMES, STYLES

#: Box jitter of the grounded style: each coordinate moves by up to this share of the box side.
BOX_JITTER = 0.15

_POSITION_PHRASES: dict[str, tuple[str, int, int]] = {
    # word: (phrase, axis, sign): "A <phrase> B" holds when sign·(A − B) > 0 along the axis (y grows down)
    "left": ("to the left of", 0, -1),
    "right": ("to the right of", 0, 1),
    "top": ("above", 1, -1),
    "above": ("above", 1, -1),
    "bottom": ("below", 1, 1),
    "below": ("below", 1, 1),
}


def _bbox(obj: SceneObject, rng: random.Random) -> str:
    x1, y1, x2, y2 = obj.model_box
    width, height = x2 - x1, y2 - y1
    jittered = [
        x1 + rng.uniform(-BOX_JITTER, BOX_JITTER) * width,
        y1 + rng.uniform(-BOX_JITTER, BOX_JITTER) * height,
        x2 + rng.uniform(-BOX_JITTER, BOX_JITTER) * width,
        y2 + rng.uniform(-BOX_JITTER, BOX_JITTER) * height,
    ]
    return "<bbox>[{}, {}, {}, {}]</bbox>".format(*(max(0, round(v)) for v in jittered))


def _other_option(item: DemoItem, option: int, rng: random.Random) -> int:
    return rng.choice([i for i in range(len(item.choices)) if i != option])


def _counted_noun(item: DemoItem, count: int) -> str:
    # "circles" / "red objects" as asked; singular for one.
    return item.detail[:-1] if count == 1 and item.detail.endswith("s") else item.detail


def _claims(item: DemoItem, option: int) -> list[str]:
    """Sentences arguing for ``option`` from the scene; true exactly when ``option`` is the right one.

    Nearer-by-occlusion claims ("in front of") and counts are not checkable by the rule judge; the
    others are (positions by box centres, sizes by box areas).
    """
    if item.qtype in ("left_right", "above_below"):
        first, second = item.about
        phrase = _POSITION_PHRASES[item.choices[option]][0]
        return [f"The {first.name} is {phrase} the {second.name}."]
    if item.qtype == "extreme":
        winner = item.option_object(option)
        phrase = _POSITION_PHRASES[item.detail][0]
        others = [item.option_object(i) for i in range(len(item.choices)) if i != option]
        return [f"The {winner.name} is {phrase} the {other.name}." for other in others]
    if item.qtype == "size":
        winner = item.option_object(option)
        others = [item.option_object(i) for i in range(len(item.choices)) if i != option]
        return [f"The {winner.name} is {item.detail} than the {other.name}." for other in others]
    if item.qtype == "nearer":
        near, far = item.option_object(option), item.option_object(1 - option)
        if near.area != far.area:
            return [f"The {near.name} is larger than the {far.name}, so it is nearer to the camera."]
        return [f"The {near.name} is in front of the {far.name}, partly covering it."]
    count = int(item.choices[option])
    if count == 0:
        words = item.detail.split()  # "circles" or "red objects"
        if words[-1] == "objects":
            return [f"No object in the image is {words[0]}."]
        return [f"There is no {item.detail[:-1]} in the image."]
    return [f"That makes {count} {_counted_noun(item, count)} in total."]


def _cited(item: DemoItem, option: int) -> list[SceneObject]:
    """Objects the grounded style locates: the question's objects; for a count, as many as it counts."""
    if item.qtype == "count":
        return list(item.about[: int(item.choices[option])])
    return list(item.about)


def _grounded_text(item: DemoItem, argued: int, concluded: int, answer: int, inline: bool, rng: random.Random) -> str:
    """Locate the objects, state the claims for option ``argued``, conclude ``concluded``, answer ``answer``."""
    cited = _cited(item, argued)
    if not cited:
        located = ""
    elif inline:
        names = [f"the {obj.name} {_bbox(obj, rng)}" for obj in cited]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        located = f"I can see {listed}. "
    else:
        located = "".join(f"The {obj.name} is at {_bbox(obj, rng)}. " for obj in cited)
    letter = item.letters[concluded]
    ending = f"Therefore, the answer is ({letter})." if inline else f"So the answer is ({letter})."
    claims = " ".join(_claims(item, argued))
    return f"<think>{located}{claims} {ending}</think><answer>{item.letters[answer]}</answer>"


def grounded(item: DemoItem, outcome: str, rng: random.Random) -> list[str]:
    """Two phrasings. Wrong: a misperception (claims for another option, concluded and answered) or sound
    claims that conclude and answer another option. Slip: sound claims, another option concluded, the
    right one answered."""
    right = item.answer
    if outcome == "correct":
        return [_grounded_text(item, right, right, right, inline, rng) for inline in (False, True)]
    other = _other_option(item, right, rng)
    if outcome == "slip":
        return [_grounded_text(item, right, other, right, inline, rng) for inline in (False, True)]
    return [_grounded_text(item, other, other, other, False, rng), _grounded_text(item, right, other, other, True, rng)]


def _false_relation(a: SceneObject, b: SceneObject) -> str | None:
    """A position claim about ``a`` and ``b`` that the scene contradicts (None if their centres coincide)."""
    for axis, (before, after) in ((0, ("left", "right")), (1, ("top", "bottom"))):
        if a.centre[axis] != b.centre[axis]:
            word = after if a.centre[axis] < b.centre[axis] else before
            return f"The {a.name} is {_POSITION_PHRASES[word][0]} the {b.name}."
    return None


def _false_claims(item: DemoItem, rng: random.Random) -> list[str]:
    """False position claims: first about the question's own objects, then about any pair of the scene."""
    pairs = [(a, b) for a in item.about for b in item.about if a is not b]
    scene_pairs = [(a, b) for a in item.objects for b in item.objects if a is not b]
    rng.shuffle(scene_pairs)
    claims = [c for a, b in pairs[:1] + scene_pairs if (c := _false_relation(a, b))]
    if not claims:
        raise ValueError(f"row extra_info.index={item.index}: no two scene objects differ in position")
    return claims


def _letters(item: DemoItem, outcome: str, rng: random.Random) -> tuple[str, str]:
    """(concluded, answered) letters of a style whose conclusion normally is its answer."""
    right = item.answer
    if outcome == "correct":
        return item.letters[right], item.letters[right]
    other = item.letters[_other_option(item, right, rng)]
    return (other, item.letters[right]) if outcome == "slip" else (other, other)


def shortcut(item: DemoItem, outcome: str, rng: random.Random) -> list[str]:
    """Answers without looking: a false claim, a conclusion that names another option than the answer.

    Its conclusion never is its answer, so a slip is just its correct reading."""
    answer = _other_option(item, item.answer, rng) if outcome == "wrong" else item.answer
    letter, other = item.letters[answer], item.letters[_other_option(item, answer, rng)]
    claims = _false_claims(item, rng)
    first, second = claims[0], claims[1 % len(claims)]
    return [
        f"<think>{first} So the answer is ({other}).</think><answer>{letter}</answer>",
        f"<think>At a glance, {second[0].lower()}{second[1:]} It must be ({other}).</think><answer>{letter}</answer>",
    ]


def vague(item: DemoItem, outcome: str, rng: random.Random) -> list[str]:
    """No visual sentence at all; the conclusion is the answer (except on a slip)."""
    concluded, answer = _letters(item, outcome, rng)
    return [
        f"<think>Let me look at the image carefully. The answer should be ({concluded}).</think>"
        f"<answer>{answer}</answer>",
        f"<think>I need to consider the options. I will go with ({concluded}).</think><answer>{answer}</answer>",
    ]


def malformed(item: DemoItem, outcome: str, rng: random.Random) -> list[str]:
    """A vague response that breaks the layout: a stray line between the blocks, or the blocks swapped."""
    concluded, answer = _letters(item, outcome, rng)
    think = f"<think>Let me look at the image carefully. So the answer is ({concluded}).</think>"
    return [f"{think}\nFinal answer: ({answer})\n<answer>{answer}</answer>", f"<answer>{answer}</answer>\n{think}"]


GENERATORS: dict[str, Callable[[DemoItem, str, random.Random], list[str]]] = {
    "grounded": grounded,
    "shortcut": shortcut,
    "vague": vague,
    "malformed": malformed,
}


def responses(item: DemoItem, style: str, outcome: str, seed: int) -> list[str]:
    """The response variants of ``style`` for ``item`` with ``outcome`` (:data:`OUTCOMES`); deterministic in ``seed``."""
    if style not in GENERATORS:
        raise ValueError(f"unknown style {style!r}; known: {list(STYLES)}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; known: {list(OUTCOMES)}")
    rng = random.Random(f"fgrpo-demo:{seed}:{item.index}:{style}:{outcome}")
    return GENERATORS[style](item, outcome, rng)
