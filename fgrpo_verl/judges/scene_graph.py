"""Check a reasoning sentence's visual claims against a scene graph (the offline grounding judge).

Scene graph (``extra_info.scene_graph``, JSON text or dict)::

    {"image_size": [w, h], "objects": [{"id": 0, "name": "red circle", "shape": "circle",
     "color": "red", "box": [x1, y1, x2, y2]}, ...]}          # boxes in original pixels

Claims read from a sentence, each true or false:
- **existence**: a mention ``[the|a|an|one] [<colour>] <shape>`` (with a colour, or with a
  determiner when it has none) claims such an object exists; ``no <colour> <shape>`` claims
  none does. Colours and shapes come from a fixed vocabulary plus the graph's own values, so a
  mention of an object that is not in the picture is caught.
- **relation**: ``<mention> … left of / right of / above / below / larger than / bigger than /
  smaller than … <mention>`` (nearest mentions on either side of the phrase; "not" between the
  first mention and the phrase negates it) holds if some pair of matching objects satisfies it,
  by box centres (image y grows downwards) or box areas.
- **box**: each ``<bbox>[x1,y1,x2,y2]</bbox>`` must have IoU ≥ 0.5 with some object's box,
  compared in the frame the policy sees (object boxes mapped with ``smart_resize`` when an
  image config is given).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from fgrpo_verl.config import ImageConfig
from reward_fns import parse_bboxes, to_model_frame

COLOURS: tuple[str, ...] = (
    "red", "green", "blue", "yellow", "purple", "orange", "black", "white", "gray", "grey",
    "pink", "brown", "cyan", "magenta",
)  # fmt: skip
SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "rectangle", "star", "ellipse", "oval", "diamond", "hexagon",
    "pentagon", "cross", "heart", "cube", "sphere", "cylinder", "cone",
)  # fmt: skip
BOX_IOU_THRESHOLD = 0.5

Box = tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    box: Box

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@dataclasses.dataclass(frozen=True)
class SceneGraph:
    image_size: tuple[int, int] | None
    objects: tuple[SceneObject, ...]


def load_scene_graph(raw: Mapping[str, Any] | str | None) -> SceneGraph | None:
    """Parse a scene graph; ``None`` for ``None`` or ``""``; ``ValueError`` naming the bad field otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        return _load_json(raw)
    return _from_mapping(raw)


@functools.lru_cache(maxsize=256)
def _load_json(text: str) -> SceneGraph:
    # Every sentence of a rollout carries the same graph text: parse it once.
    return _from_mapping(json.loads(text))


def _from_mapping(graph: Any) -> SceneGraph:
    if not isinstance(graph, Mapping) or not isinstance(graph.get("objects"), list):
        raise ValueError("scene_graph must be an object with an 'objects' list")
    objects = []
    for i, obj in enumerate(graph["objects"]):
        box = obj.get("box") if isinstance(obj, Mapping) else None
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise ValueError(f"scene_graph.objects[{i}] needs a 4-number box, got {obj!r}")
        name = str(obj.get("name", "")).lower().split()
        colour = str(obj.get("color") or (name[0] if len(name) > 1 else "")).lower()
        shape = str(obj.get("shape") or (name[-1] if name else "")).lower()
        if not shape:
            raise ValueError(f"scene_graph.objects[{i}] needs a shape or a name, got {obj!r}")
        objects.append(SceneObject(colour, shape, tuple(float(v) for v in box)))
    size = graph.get("image_size")
    image_size = (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) and len(size) == 2 else None
    return SceneGraph(image_size, tuple(objects))


@dataclasses.dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    colour: str | None
    shape: str
    negated: bool


def _alternatives(words: set[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _mentions(sentence: str, graph: SceneGraph) -> list[_Mention]:
    colours = set(COLOURS) | {o.colour for o in graph.objects if o.colour}
    shapes = set(SHAPES) | {o.shape for o in graph.objects}
    pattern = re.compile(
        rf"\b(?:(?P<det>the|a|an|one|no|any)\s+)?(?:(?P<colour>{_alternatives(colours)})\s+)?"
        rf"(?P<shape>{_alternatives(shapes)})(?:e?s)?\b",
        re.IGNORECASE,
    )
    found = []
    for m in pattern.finditer(sentence):
        det = (m.group("det") or "").lower()
        if m.group("colour") or det:
            colour = m.group("colour").lower() if m.group("colour") else None
            found.append(_Mention(m.start(), m.end(), colour, m.group("shape").lower(), det == "no"))
    return found


def _matching(mention: _Mention, graph: SceneGraph) -> list[SceneObject]:
    return [
        o for o in graph.objects if o.shape == mention.shape and (mention.colour is None or o.colour == mention.colour)
    ]


_RELATIONS: tuple[tuple[str, Callable[[SceneObject, SceneObject], bool]], ...] = (
    (r"(?:to\s+the\s+|on\s+the\s+)?left(?:\s+side)?\s+of", lambda a, b: a.centre[0] < b.centre[0]),
    (r"(?:to\s+the\s+|on\s+the\s+)?right(?:\s+side)?\s+of", lambda a, b: a.centre[0] > b.centre[0]),
    (r"above|on\s+top\s+of|higher\s+than", lambda a, b: a.centre[1] < b.centre[1]),
    (r"below|under(?:neath)?|beneath|lower\s+than", lambda a, b: a.centre[1] > b.centre[1]),
    (r"(?:larger|bigger)\s+than", lambda a, b: a.area > b.area),
    (r"smaller\s+than", lambda a, b: a.area < b.area),
)


def _relation_claims(sentence: str, mentions: list[_Mention], graph: SceneGraph) -> list[bool]:
    claims = []
    for phrase, holds in _RELATIONS:
        for m in re.finditer(rf"\b(?:{phrase})\b", sentence, re.IGNORECASE):
            before = [x for x in mentions if x.end <= m.start() and not x.negated]
            after = [x for x in mentions if x.start >= m.end() and not x.negated]
            if not before or not after:
                continue
            subject, obj = before[-1], after[0]
            negated = re.search(r"\bnot\b|n't\b", sentence[subject.end : m.start()], re.IGNORECASE) is not None
            truth = any(holds(a, b) for a in _matching(subject, graph) for b in _matching(obj, graph) if a is not b)
            claims.append(truth != negated)
    return claims


def _iou(a: Box, b: Box) -> float:
    """``|a ∩ b| / |a ∪ b|`` for ``[x1, y1, x2, y2]`` boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _object_boxes(graph: SceneGraph, image: ImageConfig | None) -> list[Box]:
    boxes = [o.box for o in graph.objects]
    if image is None or graph.image_size is None:
        return boxes
    framed = to_model_frame(
        boxes, graph.image_size, factor=image.factor, min_pixels=image.min_pixels, max_pixels=image.max_pixels
    )
    return [tuple(b) for b in framed]


def check_claims(sentence: str, graph: SceneGraph, image: ImageConfig | None = None) -> list[bool]:
    """Truth of every checkable claim in ``sentence`` (see the module docstring), in no particular order."""
    mentions = _mentions(sentence, graph)
    claims = [bool(_matching(m, graph)) != m.negated for m in mentions]
    claims += _relation_claims(sentence, mentions, graph)
    cited = parse_bboxes(sentence)
    if cited:
        boxes = _object_boxes(graph, image)
        claims += [any(_iou(tuple(c), b) >= BOX_IOU_THRESHOLD for b in boxes) for c in cited]
    return claims


def grade_sentence(sentence: str, graph: SceneGraph | None, image: ImageConfig | None = None) -> str:
    """``CORRECT`` if every checkable claim holds, ``INCORRECT`` if any fails, ``SKIP`` if none is checkable."""
    if graph is None:
        return "SKIP"
    claims = check_claims(sentence, graph, image)
    if not claims:
        return "SKIP"
    return "CORRECT" if all(claims) else "INCORRECT"
