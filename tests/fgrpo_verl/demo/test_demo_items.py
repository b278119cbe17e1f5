"""Parsing synthetic rows for the demo: question types, scene objects, ground-truth objects."""

from __future__ import annotations

import copy

import pytest

from data_prep import synthetic
from fgrpo_verl.config import ImageConfig
from fgrpo_verl.demo.items import DemoDataError, parse_row, question_type
from fgrpo_verl.demo.settings import QUESTION_TYPES


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Is the red circle to the left or to the right of the blue square?", ("left_right", "")),
        ("Is the red circle above or below the blue square?", ("above_below", "")),
        ("Which object is furthest to the left?", ("extreme", "left")),
        ("Which object is lowest in the image?", ("extreme", "bottom")),
        ("Which is larger in the image, the red circle or the blue square?", ("size", "larger")),
        ("Which object is the smallest in the image?", ("size", "smaller")),
        ("Which object is nearer to the camera, the red circle or the blue square?", ("nearer", "")),
        ("How many red objects are there in the image?", ("count", "red objects")),
    ],
)
def test_question_types(question, expected):
    assert question_type(question) == expected


def test_the_demo_knows_every_synthetic_question_type():
    assert QUESTION_TYPES == synthetic.QUESTION_TYPES


def test_unknown_question_is_named():
    with pytest.raises(DemoDataError, match="'What colour is the sky\\?' matches no"):
        question_type("What colour is the sky?")


def test_items_link_question_objects_to_the_scene(demo_items):
    for item in demo_items:
        assert len(item.about) == len(item.row["extra_info"]["gt_boxes"])
        for obj in item.about:
            assert obj in item.objects
        if item.qtype in ("extreme", "size", "nearer"):
            assert {item.option_object(i).name for i in range(len(item.choices))} <= {o.name for o in item.objects}
        # the model frame is a multiple of 28 px: boxes move by the resize ratio only
        w, h = item.row["extra_info"]["image_sizes"][0]
        obj = item.objects[0]
        assert obj.model_box[2] / obj.box[2] == pytest.approx(round(w / 28) * 28 / w, rel=0.02)


def test_a_gt_box_outside_the_scene_graph_is_named(demo_items):
    row = copy.deepcopy(demo_items[0].row)
    row["extra_info"]["gt_boxes"] = [[0.0, 0.0, 1.0, 1.0]]
    with pytest.raises(DemoDataError, match=r"row extra_info.index=\d+: gt box \[0.0, 0.0, 1.0, 1.0\]"):
        parse_row(row, ImageConfig())
