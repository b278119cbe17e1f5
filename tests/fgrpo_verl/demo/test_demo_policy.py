"""The style policy's REINFORCE step, the exact policy metrics, and the simulator's settings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fgrpo_verl.demo.policy import StylePolicy
from fgrpo_verl.demo.scoring import TERMS
from fgrpo_verl.demo.settings import DEFAULT_INITIAL_STYLE_PROBS, QUESTION_TYPES, STYLES, SimSettings
from fgrpo_verl.demo.simulator import policy_metrics

T, S = len(QUESTION_TYPES), len(STYLES)


def _surrogate(logits: np.ndarray, types: np.ndarray, styles: np.ndarray, adv: np.ndarray) -> float:
    """(1/B) Σ_i A_i log π(s_i | t_i), whose gradient the REINFORCE step follows."""
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float((adv * log_probs[types, styles]).mean())


batches = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, T - 1), min_size=n, max_size=n),
        st.lists(st.integers(0, S - 1), min_size=n, max_size=n),
        st.lists(st.floats(-3, 3), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(batch=batches, lr=st.floats(1e-3, 1.0))
def test_update_is_the_gradient_of_the_reinforce_surrogate(batch, lr):
    types, styles, adv = (np.array(x) for x in batch)
    policy = StylePolicy(DEFAULT_INITIAL_STYLE_PROBS)
    before = policy.logits.copy()
    policy.update(types, styles, adv.astype(np.float64), lr)
    step = (policy.logits - before) / lr
    numeric = np.zeros_like(before)
    for t in range(T):
        for s in range(S):
            bumped = before.copy()
            bumped[t, s] += 1e-6
            numeric[t, s] = (_surrogate(bumped, types, styles, adv) - _surrogate(before, types, styles, adv)) / 1e-6
    np.testing.assert_allclose(step, numeric, atol=1e-4)
    np.testing.assert_allclose(step.sum(axis=1), 0.0, atol=1e-9)  # softmax gradients sum to 0 per type


def test_positive_advantage_raises_that_style_for_that_type_only():
    policy = StylePolicy(DEFAULT_INITIAL_STYLE_PROBS)
    before = policy.probs()
    grounded, left_right = STYLES.index("grounded"), QUESTION_TYPES.index("left_right")
    policy.update(
        np.array([left_right] * 2), np.array([grounded, STYLES.index("shortcut")]), np.array([1.0, -1.0]), 1.0
    )
    after = policy.probs()
    assert after[left_right, grounded] > before[left_right, grounded]
    others = [t for t in range(T) if t != left_right]
    np.testing.assert_array_equal(after[others], before[others])
    np.testing.assert_allclose(after.sum(axis=1), 1.0)


def test_outcome_probabilities():
    sim = SimSettings(slip_rate=0.1)
    probs = sim.outcome_probs()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    row = probs[QUESTION_TYPES.index("count"), STYLES.index("grounded")]
    skill = sim.skill["count"]["grounded"]
    np.testing.assert_allclose(row, [1 - skill, 0.9 * skill, 0.1 * skill])


def test_sampling_follows_the_probabilities():
    policy = StylePolicy(DEFAULT_INITIAL_STYLE_PROBS)
    draws = policy.sample(np.zeros(40000, dtype=np.int64), np.random.default_rng(0))
    shares = np.bincount(draws, minlength=S) / len(draws)
    np.testing.assert_allclose(shares, [DEFAULT_INITIAL_STYLE_PROBS[s] for s in STYLES], atol=0.01)


def test_policy_metrics_of_a_pure_policy_are_that_styles_terms():
    rng = np.random.default_rng(1)
    terms = rng.uniform(0.1, 1.0, size=(4, S, 3, len(TERMS)))
    type_index = np.array([0, 0, 1, 1])
    probs = np.zeros((T, S))
    probs[:, STYLES.index("vague")] = 1.0
    outcomes = np.broadcast_to([0.75, 0.2, 0.05], (T, S, 3))
    metrics = policy_metrics(terms, type_index, probs, outcomes)
    vague = STYLES.index("vague")
    expected = (0.75 * terms[:, vague, 0] + 0.2 * terms[:, vague, 1] + 0.05 * terms[:, vague, 2]).mean(axis=0)
    term = {name: expected[i] for i, name in enumerate(TERMS)}
    assert metrics["policy/accuracy"] == pytest.approx(term["acc"])
    assert metrics["policy/constraint/consistency/mean"] == pytest.approx(
        term["consistency/num"] / term["consistency/den"]
    )
    assert metrics["policy/inconsistency_rate"] == pytest.approx(term["inconsistent/num"] / term["inconsistent/den"])
    assert metrics["policy/style/vague"] == 1.0 and metrics["policy/style/grounded"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group_size": 1}, "group_size must be an integer >= 2"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"policy_lr": 0.0}, r"policy_lr must be a finite number in \(0, 1000\]"),
        ({"policy_lr": 1e308}, r"policy_lr must be a finite number in \(0, 1000\], got 1e\+308"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"slip_rate": 1.5}, r"slip_rate must be a finite number in \[0, 1\]"),
        ({"initial_style_probs": {"grounded": 1.0}}, "must name exactly the styles"),
        ({"initial_style_probs": {**DEFAULT_INITIAL_STYLE_PROBS, "vague": 0.0}}, "must all be > 0"),
        ({"skill": {"left_right": {}}}, r"skill\['left_right'\]"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimSettings(**kwargs)
