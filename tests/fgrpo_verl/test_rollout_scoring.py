"""The verl-free rollout scorer on parquet rows: the path evaluation and the demo take."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from fgrpo_verl.channels import extra_info_keys
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.judges import RuleJudge
from fgrpo_verl.rollout_scoring import RolloutScorer, computed_channels, score_rollout


@pytest.fixture(scope="module")
def row(synthetic_parquet: str) -> dict:
    return pd.read_parquet(synthetic_parquet).iloc[0].to_dict()


def _other_letter(letter: str) -> str:
    return "B" if letter == "A" else "A"


def _score(response: str, row: dict, **kwargs) -> dict[str, float]:
    return asyncio.run(score_rollout(response, row, config=FGRPOConfig(), judge=RuleJudge(), **kwargs))


def test_consistent_correct_rollout_is_consistent_and_returns_every_key(row: dict) -> None:
    gold = row["reward_model"]["ground_truth"]
    info = _score(f"<think>The answer is option ({gold}).</think><answer>{gold}</answer>", row)
    assert tuple(info) == extra_info_keys()
    assert (info["acc"], info["format"], info["consistency"], info["consistency_mask"]) == (1.0, 1.0, 1.0, 1.0)


def test_correct_answer_that_reasoning_does_not_conclude_is_inconsistent(row: dict) -> None:
    gold = row["reward_model"]["ground_truth"]
    other = _other_letter(gold)
    info = _score(f"<think>The answer is option ({other}).</think><answer>{gold}</answer>", row)
    assert info["acc"] == 1.0
    assert (info["consistency"], info["consistency_mask"]) == (0.0, 1.0)


def test_wrong_answers_are_judged_only_when_evaluating_all_samples(row: dict) -> None:
    wrong = _other_letter(row["reward_model"]["ground_truth"])
    response = f"<think>The answer is option ({wrong}).</think><answer>{wrong}</answer>"
    training = _score(response, row)
    evaluation = _score(response, row, judge_all=True)
    assert training["acc"] == 0.0 and training["consistency_mask"] == 0.0 and training["judge_calls"] == 0.0
    assert (evaluation["consistency"], evaluation["consistency_mask"]) == (1.0, 1.0)


def test_semantic_grounding_reads_images_from_the_parquet_column(row: dict) -> None:
    gold = row["reward_model"]["ground_truth"]
    obj = json.loads(row["extra_info"]["scene_graph"])["objects"][0]
    x1, y1, x2, y2 = obj["box"]
    far = [x1 + 1000, y1 + 1000, x2 + 1000, y2 + 1000]
    true_claim = f"The {obj['name']} is at <bbox>[{x1}, {y1}, {x2}, {y2}]</bbox>."
    false_claim = f"The {obj['name']} is at <bbox>[{far[0]}, {far[1]}, {far[2]}, {far[3]}]</bbox>."
    grounded = _score(f"<think>{true_claim} So the answer is ({gold}).</think><answer>{gold}</answer>", row)
    ungrounded = _score(f"<think>{false_claim} So the answer is ({gold}).</think><answer>{gold}</answer>", row)
    assert (grounded["semantic_grounding"], grounded["semantic_grounding_mask"]) == (1.0, 1.0)
    assert (ungrounded["semantic_grounding"], ungrounded["semantic_grounding_mask"]) == (0.0, 1.0)

    without_images = {key: value for key, value in row.items() if key != "images"}
    scorer = RolloutScorer(FGRPOConfig(), RuleJudge())
    info = asyncio.run(scorer.score(f"<think>{true_claim}</think><answer>{gold}</answer>", without_images))
    assert info["semantic_grounding_mask"] == 0.0 and scorer.skipped["semantic_grounding"] == 1


def test_grpo_t_needs_no_judge_and_judge_all_computes_every_constraint() -> None:
    grpo_t = FGRPOConfig.from_dict({"mode": "grpo_t"})
    assert computed_channels(grpo_t) == {"spatial_grounding"}
    RolloutScorer(grpo_t, None)
    with pytest.raises(ValueError, match="a judge is needed"):
        RolloutScorer(FGRPOConfig(), None)
    assert computed_channels(grpo_t, judge_all=True) == {"consistency", "semantic_grounding", "spatial_grounding"}
