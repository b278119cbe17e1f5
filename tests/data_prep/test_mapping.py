"""The shared builder helpers in data_prep.mapping: option parsing, box frames, free-form choices, rotations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_prep.mapping import (
    AnswerPool,
    freeform_choices,
    item_rng,
    letter_index,
    rotate,
    shuffle_choices,
    split_inline_options,
    to_xyxy,
)
from data_prep.schema import RowRejected


@pytest.mark.parametrize(
    ("text", "stem", "options"),
    [
        ("Which is behind the sofa? A. TV B. Wooden dining table C. Lamp", "Which is behind the sofa?",
         ["TV", "Wooden dining table", "Lamp"]),
        ("Where is it?\nA. left\nB. right\nPlease answer directly with only the letter.", "Where is it?",
         ["left", "right"]),
        ("Is the door open? (a) Open (b) Closed", "Is the door open?", ["Open", "Closed"]),
        ("How many?\n(A) 2\n(B) 3\n(C) 4", "How many?", ["2", "3", "4"]),
        ("Take plan A. then turn. Which side? A: left B: right", "Take plan A. then turn. Which side?",
         ["left", "right"]),
    ],
)  # fmt: skip
def test_split_inline_options_formats(text, stem, options):
    assert split_inline_options(text) == (stem, options)


@pytest.mark.parametrize("text", ["What colour is the car?", "Plan A. only", "Is it (a) thing?"])
def test_split_inline_options_none_without_a_run_of_options(text):
    assert split_inline_options(text) is None


def test_letter_index():
    assert [letter_index(a) for a in ("B", "(c)", "a.", " D) ", "yes", "AB")] == [1, 2, 0, 3, None, None]


@pytest.mark.parametrize(
    ("box", "fmt", "expected"),
    [
        ([10, 20, 30, 40], "xyxy_px", [10, 20, 30, 40]),
        ([10, 20, 30, 40], "xywh_px", [10, 20, 40, 60]),
        ([20, 60, 5, 50], "yyxx_px", [5, 20, 50, 60]),
        ({"top": 5, "left": 7, "height": 10, "width": 20}, "tlhw_px", [7, 5, 27, 15]),
        ([0.1, 0.25, 0.5, 1.0], "xyxy_norm1", [20, 25, 100, 100]),
        ([100, 250, 500, 1000], "xyxy_norm1000", [20, 25, 100, 100]),
        ([0.1, 0.1, 0.2, 0.2], "xywh_norm1", [20, 10, 60, 30]),
    ],
)
def test_to_xyxy_frames(box, fmt, expected):
    assert to_xyxy(box, fmt, (200, 100)) == pytest.approx(expected)


def test_to_xyxy_clips_only_rounding_overshoot():
    assert to_xyxy([-0.5, 0, 200.8, 100], "xyxy_px", (200, 100)) == [0.0, 0.0, 200.0, 100.0]
    assert to_xyxy([-3, 0, 250, 100], "xyxy_px", (200, 100)) == [-3.0, 0.0, 250.0, 100.0]


def test_to_xyxy_rejects_malformed_boxes():
    with pytest.raises(RowRejected, match="box_invalid"):
        to_xyxy([1, 2, 3], "xyxy_px", (10, 10))
    with pytest.raises(RowRejected, match="box_invalid"):
        to_xyxy(["a", 2, 3, 4], "xyxy_px", (10, 10))
    with pytest.raises(ValueError, match="unknown box format"):
        to_xyxy([1, 2, 3, 4], "xyxy_pixels", (10, 10))


def test_freeform_yes_no():
    choices, idx = freeform_choices("No.", None, "g", item_rng(0, "x"))
    assert choices == ["yes", "no"] and idx == 1


@given(n=st.integers(0, 10**6), seed=st.integers(0, 1000))
def test_freeform_whole_numbers_are_consecutive_and_contain_the_answer(n, seed):
    choices, idx = freeform_choices(str(n), None, "g", item_rng(seed, "q"), num_distractors=3)
    values = [int(c) for c in choices]
    assert values == list(range(values[0], values[0] + 4)) and values[0] >= 0
    assert values[idx] == n


@given(
    answers=st.lists(st.text(alphabet="abcdefgh ", min_size=2, max_size=8), min_size=2, max_size=12, unique=True),
    pick=st.integers(0, 11),
    seed=st.integers(0, 100),
)
def test_freeform_text_draws_other_answers_of_the_group(answers, pick, seed):
    pool = AnswerPool()
    for a in answers:
        pool.add("grp", a)
    pool.add("other", "zzz")
    answer = answers[pick % len(answers)]
    if len(pool.draw("grp", answer, 3, item_rng(0, "probe"))) == 0 or answer.strip() == "":
        return  # every other answer normalises to this one: nothing to draw (covered below)
    choices, idx = freeform_choices(answer, pool, "grp", item_rng(seed, answer), num_distractors=3)
    assert choices[idx] == answer.strip()
    assert "zzz" not in choices
    assert len(choices) == len(set(choices)) <= 4


def test_freeform_text_without_distractors_is_rejected():
    pool = AnswerPool()
    pool.add("grp", "red")
    with pytest.raises(RowRejected, match="empty_choices"):
        freeform_choices("Red", pool, "grp", item_rng(0, "x"))
    with pytest.raises(RowRejected, match="missing_answer"):
        freeform_choices("  ", pool, "grp", item_rng(0, "x"))


@given(n=st.integers(2, 8), answer=st.integers(0, 7), seed=st.integers(0, 50))
def test_rotations_cover_every_letter_once_and_keep_the_answer(n, answer, seed):
    choices = [f"opt{i}" for i in range(n)]
    answer %= n
    positions = []
    for r in range(n):
        rotated, idx = rotate(choices, answer, r)
        assert sorted(rotated) == sorted(choices) and rotated[idx] == choices[answer]
        positions.append(idx)
    assert sorted(positions) == list(range(n))
    shuffled, idx = shuffle_choices(choices, answer, item_rng(seed, "k"))
    assert shuffled[idx] == choices[answer] and sorted(shuffled) == sorted(choices)


def test_item_rng_depends_only_on_seed_and_key():
    assert item_rng(1, "a").random() == item_rng(1, "a").random()
    assert item_rng(1, "a").random() != item_rng(2, "a").random()
