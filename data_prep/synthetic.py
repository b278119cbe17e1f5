"""Synthetic spatial scenes: coloured shapes with known boxes and multiple-choice spatial questions.

    python -m data_prep.synthetic --out synthetic.parquet --num 10000 --seed 0

Each row is one PIL-rendered scene (224-448 px) of 2-5 shapes (circle, square, triangle) whose names
("red circle") are distinct, every shape at least 60% visible and shapes of one colour apart (so each
reads as one object), and one question about it:

- ``left_right`` / ``above_below``: "Is the A to the left or to the right of the B?" (box centres; asked
  only when the centres differ by at least 12% of the image side);
- ``extreme``: "Which object is furthest to the left / right / highest / lowest?" over 2-4 named objects
  (the winner leads the runner-up by at least 8% of the image side);
- ``size``: "Which is larger / smaller, the A or the B?" and "Which object is the largest / smallest?"
  (sides differ by a factor of at least 1.5, so box area and drawn area agree);
- ``nearer``: "Which object is nearer to the camera, the A or the B?" — shapes are drawn far to near in
  order of increasing size, so the nearer object is the larger one (asked when the sides differ by 1.5x)
  or the one in front where the two visibly overlap;
- ``count``: "How many circles / red objects are there in the image?" with 3-4 numeric options.

Options are shuffled; ``gt_boxes`` are the boxes of the objects the question is about (the counted
objects for ``count``); ``extra_info.scene_graph`` holds ``{"image_size": [w, h], "objects": [{"id",
"name", "shape", "color", "box", "depth"}]}`` with boxes in pixels (``[x1, y1, x2, y2]``, pixels
``x1..x2-1`` are covered) and ``depth`` the drawing order (0 = farthest). Row ``i`` depends only on
``(seed, i)``, so the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw

from data_prep.cli import builder_cli
from data_prep.schema import SpatialItem
from fgrpo_verl.checks import integer_arg

DATA_SOURCE = "synthetic"
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "green": (22, 163, 74),
    "blue": (37, 99, 235),
    "yellow": (234, 179, 8),
    "purple": (147, 51, 234),
    "orange": (249, 115, 22),
    "black": (30, 30, 30),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((245, 245, 240), (232, 238, 244), (242, 236, 226))
IMAGE_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (288, 288), (384, 288), (256, 320), (448, 336))
QUESTION_TYPES: tuple[str, ...] = ("left_right", "above_below", "extreme", "size", "nearer", "count")

MIN_VISIBLE = 0.6  # every object keeps at least this share of its pixels after occlusion
POSITION_GAP = 0.12  # pairwise left/right, above/below: centre gap as a share of the image side
EXTREME_GAP = 0.08  # "furthest left" etc.: lead over the runner-up as a share of the image side
SIZE_RATIO = 1.5  # larger/smaller and size-based nearer: ratio of box sides
SAME_COLOR_GAP = 4  # pixels between the boxes of two shapes of one colour
OVERLAP_SHARE = 0.03  # occlusion-based nearer: overlap as a share of the smaller shape's pixels


@dataclasses.dataclass
class Shape:
    """One drawn object; ``box`` covers pixels ``x1..x2-1``, ``y1..y2-1``; higher ``depth`` is nearer."""

    id: int
    shape: str
    color: str
    box: tuple[int, int, int, int]
    depth: int = 0

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"

    @property
    def side(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2


def _draw(draw: ImageDraw.ImageDraw, obj: Shape, fill: int | tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = obj.box
    if obj.shape == "circle":
        draw.ellipse((x1, y1, x2 - 1, y2 - 1), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=fill)
    else:  # triangle: base along the bottom edge, apex at the top centre
        draw.polygon([(x1, y2 - 1), (x2 - 1, y2 - 1), ((x1 + x2 - 1) / 2, y1)], fill=fill)


def _boxes_near(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = SAME_COLOR_GAP) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _mask(obj: Shape, size: tuple[int, int]) -> np.ndarray:
    canvas = Image.new("1", size, 0)
    _draw(ImageDraw.Draw(canvas), obj, 1)
    return np.asarray(canvas, dtype=bool)


@dataclasses.dataclass
class Scene:
    size: tuple[int, int]
    background: tuple[int, int, int]
    objects: list[Shape]  # in drawing order (far to near)
    masks: list[np.ndarray]  # full (unoccluded) pixel mask per object, same order

    def overlap(self, a: Shape, b: Shape) -> int:
        ia, ib = self.objects.index(a), self.objects.index(b)
        return int(np.count_nonzero(self.masks[ia] & self.masks[ib]))

    def area(self, obj: Shape) -> int:
        return int(np.count_nonzero(self.masks[self.objects.index(obj)]))

    def render(self) -> Image.Image:
        image = Image.new("RGB", self.size, self.background)
        draw = ImageDraw.Draw(image)
        for obj in self.objects:
            _draw(draw, obj, COLORS[obj.color])
        return image

    def graph(self) -> dict:
        return {
            "image_size": list(self.size),
            "objects": [
                {"id": o.id, "name": o.name, "shape": o.shape, "color": o.color, "box": list(o.box), "depth": o.depth}
                for o in sorted(self.objects, key=lambda o: o.id)
            ],
        }


def make_scene(rng: random.Random, max_tries: int = 200) -> Scene:
    """2-5 shapes with distinct names, each at least ``MIN_VISIBLE`` visible; drawn small (far) to large (near)."""
    width, height = rng.choice(IMAGE_SIZES)
    short = min(width, height)
    count = rng.randint(2, 5)
    kinds = rng.sample([(c, s) for c in COLORS for s in SHAPES], count)
    placed: list[Shape] = []
    masks_by_id: dict[int, np.ndarray] = {}
    for _ in range(max_tries):
        side = rng.randint(int(0.15 * short), int(0.38 * short))
        x1, y1 = rng.randint(0, width - side), rng.randint(0, height - side)
        color, shape = kinds[len(placed)]
        candidate = Shape(len(placed), shape, color, (x1, y1, x1 + side, y1 + side))
        if any(o.color == color and _boxes_near(o.box, candidate.box) for o in placed):
            continue  # same-coloured shapes that touch would merge into one blob
        objects = sorted([*placed, candidate], key=lambda o: (o.side, o.id))
        masks_by_id[candidate.id] = _mask(candidate, (width, height))
        masks = [masks_by_id[o.id] for o in objects]
        covered = np.zeros((height, width), dtype=bool)
        visible_ok = True
        for mask in reversed(masks):  # nearest first: what is already covered hides the farther ones
            area = np.count_nonzero(mask)
            if np.count_nonzero(mask & ~covered) < MIN_VISIBLE * area:
                visible_ok = False
                break
            covered |= mask
        if visible_ok:
            placed.append(candidate)
            if len(placed) == count:
                for depth, obj in enumerate(objects):
                    obj.depth = depth
                return Scene((width, height), rng.choice(BACKGROUNDS), objects, masks)
    raise RuntimeError(f"could not place {count} shapes in {max_tries} tries")


@dataclasses.dataclass
class Question:
    text: str
    choices: list[str]
    answer: int
    about: list[Shape]


def _shuffled(rng: random.Random, options: list[str], correct: str) -> tuple[list[str], int]:
    options = list(options)
    rng.shuffle(options)
    return options, options.index(correct)


def _pair_position(rng: random.Random, scene: Scene, axis: int) -> Question | None:
    side = scene.size[axis]
    pairs = [
        (a, b)
        for a in scene.objects
        for b in scene.objects
        if a is not b and abs(a.center[axis] - b.center[axis]) >= POSITION_GAP * side
    ]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    if axis == 0:
        text = f"Is the {a.name} to the left or to the right of the {b.name}?"
        options, correct = ["left", "right"], "left" if a.center[0] < b.center[0] else "right"
    else:
        text = f"Is the {a.name} above or below the {b.name}?"
        options, correct = ["above", "below"], "above" if a.center[1] < b.center[1] else "below"
    choices, answer = _shuffled(rng, options, correct)
    return Question(text, choices, answer, [a, b])


def left_right(rng: random.Random, scene: Scene) -> Question | None:
    return _pair_position(rng, scene, 0)


def above_below(rng: random.Random, scene: Scene) -> Question | None:
    return _pair_position(rng, scene, 1)


_EXTREMES: dict[str, tuple[int, int, str]] = {
    # word: (axis, sign of "more extreme" along the axis, question)
    "left": (0, -1, "Which object is furthest to the left?"),
    "right": (0, 1, "Which object is furthest to the right?"),
    "top": (1, -1, "Which object is highest in the image?"),
    "bottom": (1, 1, "Which object is lowest in the image?"),
}


def extreme(rng: random.Random, scene: Scene) -> Question | None:
    word = rng.choice(sorted(_EXTREMES))
    axis, sign, text = _EXTREMES[word]
    k = rng.randint(2, min(4, len(scene.objects)))
    options = rng.sample(scene.objects, k)
    ranked = sorted(options, key=lambda o: sign * o.center[axis], reverse=True)
    if sign * (ranked[0].center[axis] - ranked[1].center[axis]) < EXTREME_GAP * scene.size[axis]:
        return None
    choices, answer = _shuffled(rng, [o.name for o in options], ranked[0].name)
    return Question(text, choices, answer, options)


def size(rng: random.Random, scene: Scene) -> Question | None:
    larger = rng.random() < 0.5
    k = rng.randint(2, min(4, len(scene.objects)))
    options = rng.sample(scene.objects, k)
    ranked = sorted(options, key=lambda o: o.side, reverse=larger)
    big, small = (ranked[0], ranked[1]) if larger else (ranked[1], ranked[0])
    if big.side < SIZE_RATIO * small.side:
        return None
    if k == 2:
        word = "larger" if larger else "smaller"
        text = f"Which is {word} in the image, the {options[0].name} or the {options[1].name}?"
    else:
        text = f"Which object is the {'largest' if larger else 'smallest'} in the image?"
    choices, answer = _shuffled(rng, [o.name for o in options], ranked[0].name)
    return Question(text, choices, answer, options)


def nearer(rng: random.Random, scene: Scene) -> Question | None:
    pairs = []
    for a in scene.objects:
        for b in scene.objects:
            if a.depth <= b.depth:
                continue
            by_size = a.side >= SIZE_RATIO * b.side
            by_overlap = scene.overlap(a, b) >= OVERLAP_SHARE * min(scene.area(a), scene.area(b))
            if by_size or by_overlap:
                pairs.append((a, b))
    if not pairs:
        return None
    near, far = rng.choice(pairs)
    first, second = (near, far) if rng.random() < 0.5 else (far, near)
    text = f"Which object is nearer to the camera, the {first.name} or the {second.name}?"
    choices, answer = _shuffled(rng, [first.name, second.name], near.name)
    return Question(text, choices, answer, [near, far])


def count(rng: random.Random, scene: Scene) -> Question:
    # Mostly ask about a shape or colour that is present; sometimes about any (the answer may be 0).
    present = rng.random() < 0.8
    if rng.random() < 0.5:
        shape = rng.choice(sorted({o.shape for o in scene.objects}) if present else SHAPES)
        counted = [o for o in scene.objects if o.shape == shape]
        text = f"How many {shape}s are there in the image?"
    else:
        color = rng.choice(sorted({o.color for o in scene.objects}) if present else sorted(COLORS))
        counted = [o for o in scene.objects if o.color == color]
        text = f"How many {color} objects are there in the image?"
    correct = len(counted)
    distractors = rng.sample([n for n in range(6) if n != correct], rng.randint(2, 3))
    choices, answer = _shuffled(rng, [str(n) for n in [correct, *distractors]], str(correct))
    return Question(text, choices, answer, counted)


GENERATORS: dict[str, Callable[[random.Random, Scene], Question | None]] = {
    "left_right": left_right,
    "above_below": above_below,
    "extreme": extreme,
    "size": size,
    "nearer": nearer,
    "count": count,
}


def make_item(seed: int, i: int, split: str = "train", max_tries: int = 100) -> SpatialItem:
    """Row ``i`` of the dataset for ``seed``: a question type, then scenes until one supports it."""
    rng = random.Random(f"fgrpo-synthetic:{seed}:{i}")
    kind = rng.choice(QUESTION_TYPES)
    for _ in range(max_tries):
        scene = make_scene(rng)
        question = GENERATORS[kind](rng, scene)
        if question is not None:
            return SpatialItem(
                data_source=DATA_SOURCE,
                question=question.text,
                choices=question.choices,
                answer=question.answer,
                images=[scene.render()],
                gt_boxes=[list(o.box) for o in question.about],
                image_sizes=[list(scene.size)],
                scene_graph=scene.graph(),
                split=split,
                source_id=f"{DATA_SOURCE}-{seed}-{i}",
            )
    raise RuntimeError(f"no scene supported a {kind!r} question in {max_tries} tries (seed {seed}, row {i})")


def build(args: argparse.Namespace) -> Iterator[tuple[SpatialItem | BaseException, str]]:
    for i in range(args.num):
        yield make_item(args.seed, i, args.split), f"{DATA_SOURCE}-{args.seed}-{i}"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num", type=integer_arg(low=1), required=True, help="number of rows")


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_split="train", add_arguments=_add_arguments, with_source=False)


if __name__ == "__main__":
    sys.exit(main())
