"""With its default settings the demo shows what it is for: GRPO-T drifts to unfaithful reasoning, FGRPO does not."""

from __future__ import annotations

import pytest

from fgrpo_verl.demo.pipeline import demo_config, run_demo
from fgrpo_verl.demo.settings import DEFAULT_NUM_QUESTIONS, SimSettings


@pytest.mark.slow
def test_default_demo_fgrpo_holds_consistency_where_grpo_t_drifts(tmp_path):
    config = demo_config()
    doc = run_demo(tmp_path, config, SimSettings(), DEFAULT_NUM_QUESTIONS, progress=False)
    grpo, fgrpo = doc["runs"]["grpo_t"], doc["runs"]["fgrpo"]
    incons = {mode: run["final"]["policy/inconsistency_rate"] for mode, run in doc["runs"].items()}
    assert grpo["final"]["policy/inconsistency_rate"] > grpo["initial"]["policy/inconsistency_rate"] + 0.2
    assert incons["fgrpo"] < incons["grpo_t"] - 0.3
    assert grpo["final"]["policy/accuracy"] > fgrpo["final"]["policy/accuracy"]
    lambdas = fgrpo["series"]["fgrpo/lambda/consistency"]
    assert fgrpo["final"]["lambda/consistency"] > config.lambda_init["consistency"]
    assert max(lambdas) > lambdas[0]
    # λ rises while consistency is below τ, then the constraint is held near τ
    mean = fgrpo["final"]["policy/constraint/consistency/mean"]
    assert mean >= config.thresholds["consistency"] - 0.05
    assert doc["summary"]["verdict"] == {
        "grpo_t_inconsistency_rose": True,
        "fgrpo_less_inconsistent_than_grpo_t": True,
        "fgrpo_constraints_near_tau": True,
    }
