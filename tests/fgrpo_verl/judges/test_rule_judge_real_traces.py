"""The rule judge on real-looking reasoning (issue 12): conclusions that never name an option,
answer forms, undecided and cut-off traces, and its agreement with the hand-labelled corpus."""

from __future__ import annotations

import asyncio
import time

import pytest

from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.judges import RuleJudge
from fgrpo_verl.judges.conclusion import concludes_answer, is_cut_off
from fgrpo_verl.judges.stance import parse_claim, stance
from fgrpo_verl.rollout_scoring import question_with_options, score_rollout
from tests.fgrpo_verl.judges.corpus_metrics import cohen_kappa, judge_figures, load

TF = question_with_options(
    'Is this statement about the image true or false? "The car is behind the suitcase."', ["true", "false"]
)
SCENE = "In the image, a red suitcase lies on the road and a car is parked in front of it, closer to the camera."


def _consistent(question: str, think: str, answer: str) -> float | None:
    return asyncio.run(RuleJudge().consistency(question, think, answer))


# Conclusions from the issue's real rows that never name an option.
@pytest.mark.parametrize(
    ("think", "answer", "expected"),
    [
        (f"{SCENE} The statement 'The car is behind the suitcase' is not true.", "False", 1.0),
        (f"{SCENE} The statement 'The car is behind the suitcase' is not true.", "True", 0.0),
        (f"{SCENE} The statement is incorrect.", "B", 1.0),
        (f"{SCENE} The statement is incorrect.", "A", 0.0),
        (f"{SCENE} So it is not accurate to say that the car is behind the suitcase.", "false", 1.0),
        (f"{SCENE} So it is not accurate to say that the car is behind the suitcase.", "true", 0.0),
        ("The suitcase stands on the pavement and the car is parked further back, indicating that the car is "
         "behind the suitcase.", "True", 1.0),
        ("The suitcase stands on the pavement and the car is parked further back, indicating that the car is "
         "behind the suitcase.", "False", 0.0),
        # the statement contradicted rather than restated
        (f"{SCENE} So the car is in front of the suitcase.", "False", 1.0),
        (f"{SCENE} So the suitcase is behind the car.", "False", 1.0),  # swapped around an asymmetric relation
        (f"{SCENE} This is not the case.", "No", 1.0),  # yes/no name true/false for a true/false item
        (f"{SCENE} This is not the case.", "Yes", 0.0),
        (f"{SCENE} The statement is accurate.", "Answer: True", 1.0),
        (f"{SCENE} The statement is false.", "The answer is false.", 1.0),
    ],
)  # fmt: skip
def test_true_false_conclusions_without_an_option_name(think: str, answer: str, expected: float) -> None:
    assert _consistent(TF, think, answer) == expected


def test_the_car_over_the_cat_restatement() -> None:
    question = question_with_options(
        'Is this statement about the image true or false? "The car is over the cat."', ["true", "false"]
    )
    think = "A cat is lying on the ground underneath a parked car, with the car's body directly above it, indicating that the car is over the cat."  # noqa: E501
    assert _consistent(question, think, "True") == 1.0
    assert _consistent(question, think, "False") == 0.0


@pytest.mark.parametrize(
    ("question", "think", "answer", "expected"),
    [
        # multiple choice: paraphrase of the option's text, a comparison's second term does not count
        (question_with_options("Which is taller?", ["the lamp", "the chair"]),
         "The lamp reaches the ceiling. The lamp is taller than the chair.", "A", 1.0),
        (question_with_options("Which is taller?", ["the lamp", "the chair"]),
         "The lamp reaches the ceiling. The lamp is taller than the chair.", "B", 0.0),
        (question_with_options("Which animal is on the left?", ["dog", "cat"]),
         "Option A, the dog, is on the right. So B is correct.", "B", 1.0),
        (question_with_options("Which animal is on the left?", ["dog", "cat"]),
         "The dog is on the right. Between options A and B, B is more plausible.", "B", 1.0),
        # yes/no questions without options
        ("Is there a zebra in the picture?", "The picture shows giraffes. There is no zebra visible.", "No", 1.0),
        ("Is there a zebra in the picture?", "The picture shows giraffes. There is no zebra visible.", "Yes", 0.0),
        ("Is the dog inside the car?", "The dog is on the sidewalk. It is outside the car.", "No", 1.0),
        # counting, by word or digit, next to the counted noun
        ("How many people are in the image?", "Two adults and a child stand there. So there are three people.", "3", 1.0),
        ("How many people are in the image?", "Two adults and a child stand there. So there are three people.", "2", 0.0),
        ("How many plates are on the table?", "There are 3 plates, and also two glasses.", "3", 1.0),
    ],
)  # fmt: skip
def test_multiple_choice_yes_no_and_counting(question: str, think: str, answer: str, expected: float) -> None:
    assert _consistent(question, think, answer) == expected


@pytest.mark.parametrize(
    "think",
    [
        f"{SCENE} The car is behind the suitcase. But it could also be parked further away. It is hard to say.",
        f"{SCENE} It is not behind the suitcase, so the statement is false. However, it might be true after all.",
        "Looking at the image, there is a red suitcase lying on the",  # cut off mid-sentence
        "",
    ],
)
def test_undecided_and_cut_off_reasoning_concludes_nothing(think: str) -> None:
    for answer in ("True", "False"):
        assert _consistent(TF, think, answer) == 0.0


def test_only_a_dangling_end_is_a_cut_off() -> None:
    assert not is_cut_off("The statement is true. Answer: True")
    assert not is_cut_off("The cat is on the mat.")
    assert not is_cut_off("So the answer is B")  # no full stop, but a complete sentence
    assert not is_cut_off("The cup is at <bbox>[1, 2, 30, 40]</bbox>")
    assert is_cut_off("The cat is on the")
    assert is_cut_off("There are two skiers on the slope,")
    assert concludes_answer(TF, f"{SCENE} Final answer: False", "False")
    assert concludes_answer(question_with_options("Which side?", ["left", "right"]), "So the answer is B", "B")


@pytest.mark.parametrize(
    "sentence",
    [
        "The statement mentions a car, and the suitcase is to the right.",  # spatial "right" is no verdict
        "It is a man who holds a cup.",  # "holds" judges nothing without the statement named
        "No other objects are nearby.",  # "no" opening a noun phrase is no answer
        "The answer depends on where the car is parked.",
    ],
)
def test_ordinary_sentences_are_not_verdicts(sentence: str) -> None:
    assert stance(sentence, parse_claim("The dog is on the bed.")) is None


def test_claims_are_read_from_statements_and_questions() -> None:
    claim = parse_claim("The parking meter is left of the car.")
    assert claim is not None and "meter" in claim.subject and "car" in claim.obj and claim.relation == ("left",)
    assert stance("Therefore, the parking meter is to the right of the car.", claim) is False
    question = parse_claim("Is the man wearing a hat?")
    assert question is not None and "man" in question.subject and "hat" in question.obj
    assert stance("He is not wearing a hat.", question) is False
    assert stance("Nothing in this sentence is about it.", question) is None
    existence = parse_claim("Is there a cat in the image?")
    assert existence is not None and existence.existential
    assert stance("I don't see any cat in the image.", existence) is False


def test_correct_vsr_rollouts_score_as_the_issue_expects() -> None:
    """Training mode on a VSR row: ``<answer>No</answer>`` to a false statement is correct and consistent."""
    sample = {
        "data_source": "vsr",
        "reward_model": {"style": "rule", "ground_truth": "B"},
        "extra_info": {
            "index": 0,
            "split": "test",
            "question": 'Is this statement about the image true or false? "The car is behind the suitcase."',
            "choices": ["true", "false"],
            "answer": "B",
            "gt_boxes": [],
            "image_sizes": [[640, 480]],
        },
    }
    response = (
        f"<think>{SCENE} So it is not accurate to say that the car is behind the suitcase.</think><answer>No</answer>"
    )
    info = asyncio.run(score_rollout(response, sample, config=FGRPOConfig(), judge=RuleJudge()))
    assert (info["acc"], info["consistency"], info["consistency_mask"]) == (1.0, 1.0, 1.0)


def test_cohen_kappa_matches_a_hand_computation() -> None:
    # 4 items: observed 3/4; yes rates 1/2 and 3/4, so p_e = 1/2·3/4 + 1/2·1/4 = 1/2 and κ = (3/4 − 1/2)/(1/2) = 1/2.
    assert cohen_kappa([1, 1, 0, 0], [1, 1, 1, 0]) == pytest.approx(0.5)
    assert cohen_kappa([1, 0], [1, 0]) == pytest.approx(1.0)


# The corpus: ``consistency_dev`` and ``consistency_heldout2`` were tuned on (heldout2 was scored once,
# 78.6% agreement, before the fixes it showed); ``consistency_heldout`` and ``consistency_heldout3``
# were not (see docs/judges.md).
TUNED = ("consistency_dev", "consistency_heldout2")
HELD_OUT = ("consistency_heldout", "consistency_heldout3")


def _rows(parts: tuple[str, ...]) -> list[dict]:
    return [row for part in parts for row in load(part)]


def test_corpus_is_large_enough_and_covers_every_kind() -> None:
    dev, heldout = load("consistency_dev"), _rows(HELD_OUT)
    assert len(dev) >= 150 and len(heldout) >= 40
    assert {r["kind"] for r in dev} == {r["kind"] for r in heldout} == {"tf", "mc", "yesno", "count"}
    every = _rows(TUNED + HELD_OUT)
    assert len({r["id"] for r in every}) == len(every)
    assert {r["consistent"] for r in dev} == {0, 1}


def test_rule_judge_agrees_with_the_dev_labels() -> None:
    figures = judge_figures(_rows(TUNED))
    assert figures["agreement"] >= 0.85, figures["wrong"]


def test_rule_judge_beats_the_api_judge_on_the_held_out_traces() -> None:
    # The issue's API LLM judge agreed with humans on 68% of real VSR traces.
    figures = judge_figures(_rows(HELD_OUT))
    assert figures["agreement"] > 0.68, figures["wrong"]


def test_hostile_reasoning_is_read_in_linear_time() -> None:
    # One endless sentence full of relation words, entities and negations: quadratic scanning would take minutes.
    think = "the car is not behind the suitcase and " * 4000 + "so the statement is false."
    choices = question_with_options("Which one?", ["left of the cup", "right of the cup", "above", "below"])
    started = time.perf_counter()
    assert concludes_answer(TF, think, "False")
    assert concludes_answer(TF, "The car might be behind the suitcase. " * 4000, "True")
    assert concludes_answer(choices, "So not (A), not option B, the answer is " * 3000 + "C.", "C")
    assert concludes_answer("How many cats are there?", "So there are three cats and " * 4000 + "four dogs.", "3")
    assert time.perf_counter() - started < 20.0
