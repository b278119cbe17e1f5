"""Box parsing and the spatial grounding channel R_G (SPEC §1 ``spatial_grounding``)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import complete_box_iou

from reward_fns import parse_bboxes, spatial_grounding_reward


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<bbox>[10, 20, 30, 40]</bbox>", [[10, 20, 30, 40]]),
        ("<bbox>10,20,30,40</bbox>", [[10, 20, 30, 40]]),  # brackets optional
        ("<bbox>[ 1.5 , 2.25,30.0 , 4e1 ]</bbox>", [[1.5, 2.25, 30, 40]]),  # floats, exponents, spaces
        ("<bbox>[-5, -10.5, 3, .5]</bbox>", [[-5, -10.5, 3, 0.5]]),  # negative and bare-decimal numbers
        ("<bbox>[+1, 2, 3, 4]</bbox>", [[1, 2, 3, 4]]),
        ("<bbox>[30, 40, 10, 20]</bbox>", [[10, 20, 30, 40]]),  # swapped corners are sorted
        ("<bbox>[10, 40, 30, 20]</bbox>", [[10, 20, 30, 40]]),  # only y swapped
        ("<bbox>[10, 20, 10, 40]</bbox>", []),  # zero width
        ("<bbox>[10, 20, 30, 20]</bbox>", []),  # zero height
        ("<bbox>[1e999, 0, 1, 1]</bbox>", []),  # overflows to infinity
        ("<bbox>[10, 20, 30]</bbox>", []),  # three numbers
        ("<bbox>[10, 20, 30, 40, 50]</bbox>", []),  # five numbers
        ("<bbox>[10, 20, 30, 40]", []),  # unclosed
        ("[10, 20, 30, 40]", []),  # no tag
        ("<bbox>[a, 20, 30, 40]</bbox>", []),
        ("<bbox>[nan, 20, 30, 40]</bbox>", []),
        (
            "cup <bbox>[0,0,5,5]</bbox> and box <bbox>[6, 6, 9, 9]</bbox>, then <bbox>[1,1,1,1]</bbox>",
            [[0, 0, 5, 5], [6, 6, 9, 9]],
        ),
        ("", []),
    ],
)
def test_parse_bboxes_table(text: str, expected: list[list[float]]) -> None:
    boxes = parse_bboxes(text)
    assert boxes == expected
    assert all(isinstance(v, float) for box in boxes for v in box)


def test_spatial_grounding_examples() -> None:
    box = [0.0, 0.0, 10.0, 10.0]
    assert spatial_grounding_reward([box], [box]) == pytest.approx(1.0)
    # one of two ground-truth boxes found exactly: 1 / max(1, 2)
    assert spatial_grounding_reward([box], [box, [50, 50, 60, 60]]) == pytest.approx(0.5)
    # an extra predicted box costs the same way
    assert spatial_grounding_reward([box, [50, 50, 60, 60]], [box]) == pytest.approx(0.5)
    # disjoint boxes have negative CIoU, clipped to 0
    assert spatial_grounding_reward([[100, 100, 110, 110]], [box]) == 0.0
    assert spatial_grounding_reward([], [box]) == 0.0
    # a partial overlap is worth its CIoU
    pred, gt = [[0, 0, 10, 10]], [[5, 0, 15, 10]]
    ciou = complete_box_iou(torch.tensor(pred, dtype=torch.float64), torch.tensor(gt, dtype=torch.float64)).item()
    assert 0 < ciou < 1
    assert spatial_grounding_reward(pred, gt) == pytest.approx(ciou)


def test_spatial_grounding_accepts_arrays_and_tensors() -> None:
    boxes = [[0, 0, 10, 10], [20, 20, 30, 35]]
    expected = spatial_grounding_reward(boxes, boxes)
    assert spatial_grounding_reward(np.array(boxes), torch.tensor(boxes)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [
        ([[0, 0, 1, 1]], [], "gt_boxes is empty"),
        ([[0, 0, 1, 1]], np.zeros((0, 4)), "gt_boxes is empty"),
        ([[0, 0, 1, 1]], [[0, 0, 1]], r"gt_boxes must have shape \(N, 4\)"),
        ([[0, 0, 1, 1]], [[0, 0, 1, 1], [0, 0, 1]], "gt_boxes must be a list"),
        ([[0, 0, 1, 1]], [[5, 0, 1, 1]], "x2 <= x1"),
        ([[0, 0, 1, 1]], [[0, 0, math.inf, 1]], "non-finite"),
        ([[1, 1, 0, 0]], [[0, 0, 1, 1]], "pred_boxes has a box with x2 <= x1"),
        ([[0, 0, 1, 1, 1]], [[0, 0, 1, 1]], "pred_boxes must have shape"),
    ],
)
def test_spatial_grounding_rejects_bad_boxes(pred, gt, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spatial_grounding_reward(pred, gt)


# Boxes with sides of at least one pixel, in a 1000 x 1000 frame.
BOX = st.builds(
    lambda x, y, w, h: [x, y, x + w, y + h],
    st.floats(0, 900, allow_nan=False),
    st.floats(0, 900, allow_nan=False),
    st.floats(1, 400, allow_nan=False),
    st.floats(1, 400, allow_nan=False),
)
BOXES = st.lists(BOX, min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(BOXES, BOXES)
def test_reward_is_in_unit_interval_and_symmetric(pred: list, gt: list) -> None:
    value = spatial_grounding_reward(pred, gt)
    assert 0.0 <= value <= 1.0
    # CIoU is symmetric, so swapping the roles of prediction and ground truth changes nothing
    assert spatial_grounding_reward(gt, pred) == pytest.approx(value, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(BOXES)
def test_identical_sets_score_one(boxes: list) -> None:
    assert spatial_grounding_reward(boxes, boxes) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(BOXES, BOXES, st.randoms(use_true_random=False))
def test_reward_is_invariant_to_box_order(pred: list, gt: list, rng: random.Random) -> None:
    shuffled_pred, shuffled_gt = rng.sample(pred, len(pred)), rng.sample(gt, len(gt))
    assert spatial_grounding_reward(shuffled_pred, shuffled_gt) == pytest.approx(
        spatial_grounding_reward(pred, gt), abs=1e-9
    )


@settings(max_examples=150, deadline=None)
@given(BOXES, BOXES, st.floats(2000, 1e5), st.floats(1, 400))
def test_far_away_predicted_box_never_increases_reward(pred: list, gt: list, offset: float, side: float) -> None:
    far = [offset, offset, offset + side, offset + side]  # disjoint from every box of the frame
    assert spatial_grounding_reward(pred + [far], gt) <= spatial_grounding_reward(pred, gt) + 1e-12


@settings(max_examples=150, deadline=None)
@given(st.lists(BOX, min_size=1, max_size=4), st.lists(BOX, min_size=1, max_size=4))
def test_matching_is_the_best_one_to_one_assignment(pred: list, gt: list) -> None:
    """Brute force over every one-to-one matching: R_G is the best clipped total / max(#pred, #gt)."""
    gain = complete_box_iou(torch.tensor(pred, dtype=torch.float64), torch.tensor(gt, dtype=torch.float64))
    gain = gain.clamp_min(0).numpy()
    small, large = sorted((len(pred), len(gt)))
    best = 0.0
    for rows in itertools.permutations(range(large), small):
        pairs = zip(range(small), rows, strict=True)
        total = sum(gain[i, j] if len(pred) <= len(gt) else gain[j, i] for i, j in pairs)
        best = max(best, total)
    assert spatial_grounding_reward(pred, gt) == pytest.approx(best / large, abs=1e-9)


LARGE_BOX = st.builds(
    lambda x, y, w, h: [x, y, x + w, y + h],
    st.floats(0, 900, allow_nan=False),
    st.floats(0, 900, allow_nan=False),
    st.floats(100, 400, allow_nan=False),
    st.floats(100, 400, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(LARGE_BOX, min_size=1, max_size=5), st.floats(-3, 3), st.floats(-3, 3))
def test_small_shift_keeps_reward_high(boxes: list, dx: float, dy: float) -> None:
    # Worst case: a 100x100 box moved by (3, 3). IoU = 97² / (2·100² − 97²) = 0.8884, and the CIoU centre
    # penalty ρ²/c² = 18 / (2·103²) = 0.0008 (equal aspect ratios, so no v term): R_G >= 0.8875.
    shifted = [[x1 + dx, y1 + dy, x2 + dx, y2 + dy] for x1, y1, x2, y2 in boxes]
    assert spatial_grounding_reward(shifted, boxes) > 0.887


def test_matching_maximises_the_clipped_sum_not_the_raw_one() -> None:
    """With raw CIoU the optimiser may trade a positive pair for a less negative one; R_G must not."""
    rng = random.Random(0)
    found = False
    for _ in range(3000):
        pred = [[rng.uniform(0, 80), rng.uniform(0, 80)] for _ in range(2)]
        gt = [[rng.uniform(0, 80), rng.uniform(0, 80)] for _ in range(2)]
        pred = [[x, y, x + rng.uniform(5, 40), y + rng.uniform(5, 40)] for x, y in pred]
        gt = [[x, y, x + rng.uniform(5, 40), y + rng.uniform(5, 40)] for x, y in gt]
        raw = complete_box_iou(torch.tensor(pred, dtype=torch.float64), torch.tensor(gt, dtype=torch.float64)).numpy()
        straight, crossed = raw[0, 0] + raw[1, 1], raw[0, 1] + raw[1, 0]
        clip = np.clip(raw, 0, None)
        clipped_straight, clipped_crossed = clip[0, 0] + clip[1, 1], clip[0, 1] + clip[1, 0]
        if (straight > crossed) != (clipped_straight > clipped_crossed) and abs(
            clipped_straight - clipped_crossed
        ) > 1e-3:
            found = True
            best = max(clipped_straight, clipped_crossed) / 2
            assert spatial_grounding_reward(pred, gt) == pytest.approx(best)
    assert found, "no configuration where raw and clipped matching disagree was generated"
