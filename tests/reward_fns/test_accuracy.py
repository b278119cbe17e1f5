"""Accuracy channel: answer normalisation, option matching, ground-truth handling (SPEC §1 ``acc``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reward_fns import accuracy_reward, matched_choice, normalize_answer

CHOICES = ["left of the cup", "right of the cup", "above the cup", "below the cup"]


def respond(answer: str) -> str:
    return f"<think>The box is right of the cup.</think><answer>{answer}</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  The Red-Circle,  obviously! ", "the redcircle obviously"),
        ("(B).", "b"),
        ("Right\tof\n the   cup", "right of the cup"),
        ("snake_case", "snakecase"),
        ("", ""),
    ],
)
def test_normalize_answer_table(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


@given(st.text(max_size=40))
def test_normalize_answer_is_idempotent(text: str) -> None:
    once = normalize_answer(text)
    assert normalize_answer(once) == once
    assert once == once.strip() and "  " not in once


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", 1),
        ("b", 1),
        ("(B)", 1),
        ("B.", 1),
        ("B)", 1),
        ("(B).", 1),
        ("Option B", 1),
        ("option (b)", 1),
        ("Answer: B", 1),
        ("The answer is B.", 1),
        ("The correct option is (B)", 1),
        ("B) right of the cup", 1),
        ("B: right of the cup", 1),
        ("B. Right of the cup.", 1),
        ("(B) right of the cup", 1),
        ("Right of the cup.", 1),  # full option text
        ("  RIGHT of the CUP ", 1),
        ("D", 3),
        # names nothing
        ("B) left of the cup", None),  # letter and text contradict each other
        ("E", None),  # letter past the last option
        ("Because it is right", None),  # a letter inside a word is not a letter
        ("Below", None),
        ("A red one", None),
        ("right", None),  # part of an option's text
        ("B or C", None),
        ("", None),
    ],
)
def test_matched_choice_table(answer: str, expected: int | None) -> None:
    assert matched_choice(answer, CHOICES) == expected


def test_matched_choice_duplicate_option_texts_are_ambiguous() -> None:
    assert matched_choice("yes", ["yes", "no", "yes"]) is None
    assert matched_choice("C", ["yes", "no", "yes"]) == 2  # the letter still names one option


@pytest.mark.parametrize(
    ("response", "ground_truth", "choices", "expected"),
    [
        (respond("B"), "B", CHOICES, 1.0),
        (respond("(b)"), "B", CHOICES, 1.0),
        (respond("Option B"), "B", CHOICES, 1.0),
        (respond("right of the cup"), "B", CHOICES, 1.0),
        (respond("B"), "right of the cup", CHOICES, 1.0),  # ground truth given as option text
        (respond("A"), "B", CHOICES, 0.0),
        (respond("Because"), "B", CHOICES, 0.0),
        (respond("B) left of the cup"), "B", CHOICES, 0.0),
        # only the last answer block counts
        ("<think>x</think><answer>A</answer><answer>B</answer>", "B", CHOICES, 1.0),
        ("<think>x</think><answer>B</answer><answer>A</answer>", "B", CHOICES, 0.0),
        # no answer block, or an answer outside the tags
        ("<think>The answer is B.</think> B", "B", CHOICES, 0.0),
        ("B", "B", CHOICES, 0.0),
        ("<think>x</think><answer>B", "B", CHOICES, 0.0),
        ("<think>x</think><answer></answer>", "B", CHOICES, 0.0),
        # without choices: normalised equality, letter forms when the truth is a letter
        (respond("Two."), "two", None, 1.0),
        (respond("three"), "two", None, 0.0),
        (respond("Option B"), "B", None, 1.0),
        (respond("(b)"), "B", None, 1.0),
        (respond("Because"), "B", None, 0.0),
        (respond("B"), "B", [], 1.0),  # empty choices means no choices
    ],
)
def test_accuracy_reward_table(response: str, ground_truth: str, choices: list[str] | None, expected: float) -> None:
    assert accuracy_reward(response, ground_truth, choices) == expected


@pytest.mark.parametrize(
    ("ground_truth", "choices", "message"),
    [
        ("", CHOICES, "empty"),
        ("  ", None, "empty"),
        ("F", CHOICES, "names none of the choices"),
        ("sideways", CHOICES, "names none of the choices"),
    ],
)
def test_accuracy_reward_rejects_bad_ground_truth(ground_truth: str, choices: list[str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        accuracy_reward(respond("B"), ground_truth, choices)


def test_accuracy_reward_accepts_numpy_choices() -> None:
    """Parquet rows come back with choices as numpy arrays."""
    np = pytest.importorskip("numpy")
    assert accuracy_reward(respond("B"), "B", np.array(CHOICES, dtype=object)) == 1.0


@given(st.integers(0, 3), st.sampled_from(["{L}", "({L})", "{L}.", "Option {L}", "{L}) {T}", "{L}: {T}", "{T}"]))
def test_every_documented_form_names_its_option(index: int, form: str) -> None:
    answer = form.format(L="ABCD"[index], T=CHOICES[index])
    assert accuracy_reward(respond(answer), "ABCD"[index], CHOICES) == 1.0
    assert accuracy_reward(respond(answer), "ABCD"[(index + 1) % 4], CHOICES) == 0.0


TRUE_FALSE = ["true", "false"]


@pytest.mark.parametrize(
    ("answer", "truth", "expected"),
    [
        # SPEC §1 answer forms: lead-ins are ignored; yes/no name true/false on a true/false item
        ("No", "B", 1.0),
        ("No", "false", 1.0),
        ("no.", "A", 0.0),
        ("Yes", "true", 1.0),
        ("Answer: True", "A", 1.0),
        ("Answer: True", "B", 0.0),
        ("The answer is false.", "false", 1.0),
        ("Final answer: False", "B", 1.0),
        ("**Final answer:** False", "B", 1.0),
        ("The correct answer is: True", "A", 1.0),
        ("Answer: A", "A", 1.0),
        ("Answer: No", "B", 1.0),
        ("(B) false", "B", 1.0),
        ("Maybe", "B", 0.0),
        ("Not true", "B", 0.0),  # negated forms are not read as either option
    ],
)
def test_true_false_answer_forms(answer: str, truth: str, expected: float) -> None:
    assert accuracy_reward(respond(answer), truth, TRUE_FALSE) == expected


def test_yes_no_names_true_false_only_on_true_false_items() -> None:
    assert accuracy_reward(respond("Yes"), "A", ["yes", "no"]) == 1.0
    assert accuracy_reward(respond("Yes"), "A", ["left", "right"]) == 0.0
    assert accuracy_reward(respond("True"), "yes") == 0.0  # free-form yes/no: no mapping the other way
    assert accuracy_reward(respond("No"), "false") == 1.0  # free-form true/false ground truth
    assert accuracy_reward(respond("Answer: 3"), "3") == 1.0


def test_lead_in_without_an_answer_names_nothing() -> None:
    assert accuracy_reward(respond("The answer is"), "B", TRUE_FALSE) == 0.0
    assert accuracy_reward(respond("Answer:"), "true") == 0.0
