"""The demo's questions: synthetic scenes written as verl parquet, read back and parsed for the style generators.

A :class:`DemoItem` is one parquet row (kept whole, it is what the reward manager scores) plus what a
response generator needs to talk about the scene: the question type (recognised from the question
text of :mod:`data_prep.synthetic`), the option texts, the correct option, every scene object with
its box in the model's input frame (``smart_resize`` of ``fgrpo.image``, the frame the policy cites
boxes in), and the objects the question is about (the row's ``gt_boxes``, in their order).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from data_prep import synthetic
from data_prep.schema import option_letters
from fgrpo_verl.config import ImageConfig
from reward_fns import to_model_frame

# One pattern per question template of data_prep.synthetic; ``detail`` names the asked direction/size.
_TEMPLATES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("left_right", re.compile(r"^Is the .+ to the left or to the right of the .+\?$")),
    ("above_below", re.compile(r"^Is the .+ above or below the .+\?$")),
    (
        "extreme",
        re.compile(
            r"^Which object is (?:furthest to the (?P<detail>left|right)|(?P<detail2>highest|lowest) in the image)\?$"
        ),
    ),
    ("size", re.compile(r"^Which (?:is|object is the) (?P<detail>larger|smaller|largest|smallest) in the image")),
    ("nearer", re.compile(r"^Which object is nearer to the camera, ")),
    ("count", re.compile(r"^How many (?P<detail>.+?) are there in the image\?$")),
)
_DETAIL_WORDS = {"highest": "top", "lowest": "bottom", "largest": "larger", "smallest": "smaller"}


class DemoDataError(ValueError):
    """A parquet row the demo cannot use; the message names the row."""


@dataclasses.dataclass(frozen=True)
class SceneObject:
    """One object of a synthetic scene; ``box`` in original pixels, ``model_box`` in the policy's frame."""

    name: str
    shape: str
    colour: str
    box: tuple[float, float, float, float]
    model_box: tuple[float, float, float, float]
    depth: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclasses.dataclass(frozen=True)
class DemoItem:
    """One question: the parquet ``row`` and its parsed scene (see the module docstring)."""

    row: Mapping[str, Any]
    index: int
    qtype: str
    detail: str  # left/right/top/bottom (extreme), larger/smaller (size), the counted noun (count), else ""
    choices: tuple[str, ...]
    answer: int
    objects: tuple[SceneObject, ...]
    about: tuple[SceneObject, ...]

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(option_letters(len(self.choices)))

    def option_object(self, option: int) -> SceneObject:
        """The scene object an option names (extreme, size, nearer options are object names)."""
        return self.by_name(self.choices[option])

    def by_name(self, name: str) -> SceneObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise DemoDataError(f"row extra_info.index={self.index}: no scene object named {name!r}")


def question_type(question: str) -> tuple[str, str]:
    """``(type, detail)`` of a synthetic question; :class:`DemoDataError` for any other text."""
    for qtype, pattern in _TEMPLATES:
        match = pattern.match(question)
        if match:
            groups = match.groupdict()
            detail = groups.get("detail") or groups.get("detail2") or ""
            return qtype, _DETAIL_WORDS.get(detail, detail)
    raise DemoDataError(f"question {question!r} matches no data_prep.synthetic template")


def build_dataset(path: Path, num: int, seed: int) -> Path:
    """Write ``num`` synthetic rows to ``path`` with the real builder (``python -m data_prep.synthetic``)."""
    code = synthetic.main(["--out", str(path), "--num", str(num), "--seed", str(seed)])
    if code != 0:
        raise RuntimeError(f"data_prep.synthetic exited with {code} writing {path}")
    return path


def _objects(graph_text: str, image_size: tuple[int, int], image: ImageConfig, where: str) -> list[SceneObject]:
    if not graph_text:
        raise DemoDataError(f"{where}: extra_info.scene_graph is empty (the demo needs synthetic rows)")
    graph = json.loads(graph_text)
    boxes = [[float(v) for v in obj["box"]] for obj in graph["objects"]]
    framed = to_model_frame(
        boxes, image_size, factor=image.factor, min_pixels=image.min_pixels, max_pixels=image.max_pixels
    )
    return [
        SceneObject(obj["name"], obj["shape"], obj["color"], tuple(box), tuple(model), int(obj.get("depth", 0)))
        for obj, box, model in zip(graph["objects"], boxes, framed, strict=True)
    ]


def parse_row(row: Mapping[str, Any], image: ImageConfig) -> DemoItem:
    """A parquet row of :mod:`data_prep.synthetic` as a :class:`DemoItem`."""
    extra = row["extra_info"]
    where = f"row extra_info.index={extra.get('index')}"
    qtype, detail = question_type(extra["question"])
    width, height = extra["image_sizes"][0]
    objects = _objects(extra["scene_graph"], (int(width), int(height)), image, where)
    by_box = {obj.box: obj for obj in objects}
    about = []
    for box in extra["gt_boxes"]:
        key = tuple(float(v) for v in box)
        if key not in by_box:
            raise DemoDataError(f"{where}: gt box {list(key)} is the box of no scene-graph object")
        about.append(by_box[key])
    choices = tuple(str(c) for c in extra["choices"])
    answer = ord(str(row["reward_model"]["ground_truth"]).strip().upper()) - ord("A")
    if not 0 <= answer < len(choices):
        raise DemoDataError(f"{where}: ground truth {row['reward_model']['ground_truth']!r} names no option")
    return DemoItem(row, int(extra["index"]), qtype, detail, choices, answer, tuple(objects), tuple(about))


def load_items(path: Path, image: ImageConfig) -> list[DemoItem]:
    """Read the parquet file back (the rows the reward manager would see) and parse every row."""
    return [parse_row(row, image) for row in pq.read_table(path).to_pylist()]
