"""The model's input frame: smart_resize against Qwen2.5-VL's reference, and box rescaling."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reward_fns import rescale_boxes, smart_resize, to_model_frame

qwen_vl_utils = pytest.importorskip("qwen_vl_utils")
reference_resize = qwen_vl_utils.smart_resize

# (factor, min_pixels, max_pixels): Qwen2.5-VL's defaults, a typical RL setting, Qwen3-VL's
# patch-16 grid, and tight bounds that force both scaling branches.
BOUNDS = [
    (28, 4 * 28 * 28, 16384 * 28 * 28),
    (28, 256 * 28 * 28, 1280 * 28 * 28),
    (32, 64 * 32 * 32, 1024 * 32 * 32),
    (28, 16 * 28 * 28, 64 * 28 * 28),
    (14, 56 * 56, 14 * 14 * 4 * 1280),
]


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 8000), st.integers(1, 8000), st.sampled_from(BOUNDS))
@example(10, 1900, BOUNDS[3])  # the reference's zero-pixel side
@example(1, 300, BOUNDS[0])  # aspect ratio above 200
@example(1, 200, BOUNDS[0])  # aspect ratio exactly 200
@example(14, 14, BOUNDS[0])  # rounds to a side of 0 before max(factor, ·)
def test_smart_resize_matches_qwen_vl_utils(height: int, width: int, bounds: tuple[int, int, int]) -> None:
    factor, min_pixels, max_pixels = bounds
    try:
        expected = reference_resize(height, width, factor, min_pixels=min_pixels, max_pixels=max_pixels)
    except ValueError:  # aspect ratio above 200: both refuse
        with pytest.raises(ValueError, match="aspect ratio"):
            smart_resize(height, width, factor, min_pixels, max_pixels)
        return
    if min(expected) < factor:
        # the reference returns a side of 0 pixels here; ours refuses with a message instead
        with pytest.raises(ValueError, match="too small"):
            smart_resize(height, width, factor, min_pixels, max_pixels)
        return
    got = smart_resize(height, width, factor, min_pixels, max_pixels)
    assert got == expected
    assert got[0] % factor == 0 and got[1] % factor == 0
    assert got[0] * got[1] <= max_pixels or got == (factor, factor)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((480, 640), (476, 644)),
        ((28, 28), (56, 56)),  # below min_pixels (4 * 28 * 28): scaled up
        ((10000, 10000), (3556, 3556)),  # above max_pixels: scaled down (floored to the grid)
    ],
)
def test_smart_resize_examples(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert smart_resize(*size) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 10), "must be positive"),
        ((10, -1), "must be positive"),
        ((10, 2010), "aspect ratio"),
        ((10, 10, 28, 100, 50), "min_pixels <= max_pixels"),
        ((10, 10, 0), "factor > 0"),
        ((100, 1000, 28, 100, 4 * 28 * 28), "too small"),
    ],
)
def test_smart_resize_rejects_bad_input(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        smart_resize(*args)


COORD = st.floats(0, 4000, allow_nan=False)
SIZE = st.tuples(st.integers(1, 5000), st.integers(1, 5000))


@given(st.lists(st.tuples(COORD, COORD, COORD, COORD).map(list), max_size=5), SIZE, SIZE)
def test_rescale_round_trip(boxes: list, orig: tuple[int, int], new: tuple[int, int]) -> None:
    there = rescale_boxes(boxes, orig_size=orig, new_size=new)
    back = rescale_boxes(there, orig_size=new, new_size=orig)
    assert len(back) == len(boxes)
    for box, returned in zip(boxes, back, strict=True):
        assert returned == pytest.approx(box, rel=1e-9, abs=1e-6)


def test_rescale_uses_width_for_x_and_height_for_y() -> None:
    assert rescale_boxes([[10, 20, 30, 40]], orig_size=(100, 200), new_size=(50, 100)) == [[5, 10, 15, 20]]
    assert rescale_boxes([[10, 10, 20, 20]], orig_size=(100, 100), new_size=(200, 100)) == [[20, 10, 40, 20]]
    # image corners map to image corners
    assert rescale_boxes([[0, 0, 640, 480]], orig_size=(640, 480), new_size=(644, 476)) == [[0, 0, 644, 476]]


@pytest.mark.parametrize(
    ("boxes", "orig", "new", "message"),
    [
        ([[1, 2, 3]], (10, 10), (20, 20), r"must be \[x1, y1, x2, y2\]"),
        ([[1, 2, 3, 4]], (0, 10), (20, 20), "must be positive"),
        ([[1, 2, 3, 4]], (10, 10), (20, -1), "must be positive"),
    ],
)
def test_rescale_rejects_bad_input(boxes: list, orig: tuple, new: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rescale_boxes(boxes, orig_size=orig, new_size=new)


@settings(max_examples=100, deadline=None)
@given(st.integers(50, 4000), st.integers(50, 4000), st.sampled_from(BOUNDS[:3]))
def test_to_model_frame_maps_the_image_onto_the_resized_image(width: int, height: int, bounds: tuple) -> None:
    factor, min_pixels, max_pixels = bounds
    new_h, new_w = reference_resize(height, width, factor, min_pixels=min_pixels, max_pixels=max_pixels)
    frame = to_model_frame(
        [[0, 0, width, height], [width / 4, height / 2, width / 2, height]],
        (width, height),
        factor=factor,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )
    assert frame[0] == pytest.approx([0, 0, new_w, new_h])
    assert frame[1] == pytest.approx([new_w / 4, new_h / 2, new_w / 2, new_h])
