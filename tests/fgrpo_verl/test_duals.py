"""Projected dual ascent (SPEC §3) against a plain reference loop, and its checkpoint state."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.config import DEFAULT_THRESHOLDS
from fgrpo_verl.duals import ConstraintSetMismatch, DualAscent, applicable_mean

TAU = {"consistency": 0.95, "spatial_grounding": 0.7}


def ref_step(lambdas, thresholds, scores, masks, valid, lr, lambda_max, min_applicable):
    """One dual step written out per constraint and per row."""
    new = dict(lambdas)
    for name, tau in thresholds.items():
        applicable = [s for s, m, v in zip(scores[name], masks[name], valid, strict=True) if m and v]
        if len(applicable) >= min_applicable:
            mean = sum(applicable) / len(applicable)
            new[name] = min(max(lambdas[name] + lr * (tau - mean), 0.0), lambda_max)
    return new


def channel(values, mask):
    return {"consistency": torch.tensor(values)}, {"consistency": torch.tensor(mask, dtype=torch.float32)}


# ---------------------------------------------------------------- construction


def test_defaults_are_the_papers():
    duals = DualAscent(DEFAULT_THRESHOLDS)
    assert duals.lambdas == dict.fromkeys(CONSTRAINTS, 1.0)
    assert (duals.lr, duals.lambda_max, duals.min_applicable, duals.step) == (0.05, 5.0, 8, 0)
    assert duals.thresholds == {"consistency": 0.95, "semantic_grounding": 0.95, "spatial_grounding": 0.7}


def test_lambda_init_per_constraint():
    duals = DualAscent(TAU, lambda_init={"consistency": 0.0, "spatial_grounding": 2.5})
    assert duals.lambdas == {"consistency": 0.0, "spatial_grounding": 2.5}


def test_lambdas_is_a_copy():
    duals = DualAscent(TAU)
    duals.lambdas["consistency"] = 99.0
    assert duals.lambdas["consistency"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -0.1}, "lr must be a finite number >= 0, got -0.1"),
        ({"lambda_max": float("inf")}, "lambda_max must be a finite number"),
        ({"lambda_init": 6.0}, r"lambda_init\['consistency'\] must be a finite number in \[0, 5\], got 6.0"),
        ({"lambda_init": -1.0}, r"lambda_init\['consistency'\] must be a finite number in \[0, 5\]"),
        ({"lambda_init": {"consistency": 1.0}}, "lambda_init has constraints"),
        ({"min_applicable": 0}, "min_applicable must be an integer >= 1"),
        ({"min_applicable": 2.5}, "min_applicable must be an integer >= 1"),
        ({"thresholds": {"consistency": float("nan")}}, r"thresholds\['consistency'\] must be a finite number"),
    ],
)
def test_bad_settings_raise_naming_the_setting(kwargs, message):
    kwargs = {"thresholds": TAU, **kwargs}
    with pytest.raises(ValueError, match=message):
        DualAscent(**kwargs)


# ---------------------------------------------------------------- the update rule


def test_update_follows_the_rule_and_reports_what_only_it_knows():
    duals = DualAscent({"consistency": 0.95}, lr=0.5)
    scores, masks = channel([1, 0, 1, 1, 0, 1, 1, 1, 0.5], [1, 1, 1, 1, 1, 1, 1, 1, 0])
    metrics = duals.update(scores, masks)
    mean = 6 / 8
    assert metrics["fgrpo/lambda_next/consistency"] == pytest.approx(1.0 + 0.5 * (0.95 - mean))
    assert duals.lambdas["consistency"] == metrics["fgrpo/lambda_next/consistency"]
    # λ used, c̄ and n are the step metrics' (fgrpo_verl.step_stats), not repeated here.
    assert set(metrics) == {"fgrpo/lambda_next/consistency", "fgrpo/constraint/consistency/skipped"}
    assert metrics["fgrpo/constraint/consistency/skipped"] == 0.0
    assert duals.step == 1


def test_applicable_mean_counts_only_used_rows():
    values = torch.tensor([1.0, float("nan"), 0.0, 0.5])
    assert applicable_mean(values, torch.tensor([True, False, True, True])) == (3, pytest.approx(0.5))
    assert applicable_mean(values, torch.zeros(4, dtype=torch.bool)) == (0, 0.0)


def test_projection_at_zero():
    duals = DualAscent({"consistency": 0.5}, lr=1.0, lambda_init=0.1, min_applicable=1)
    duals.update(*channel([1.0] * 4, [1] * 4))  # 0.1 + 1.0·(0.5 − 1) < 0
    assert duals.lambdas["consistency"] == 0.0
    duals.update(*channel([1.0] * 4, [1] * 4))
    assert duals.lambdas["consistency"] == 0.0


def test_projection_at_lambda_max():
    duals = DualAscent({"consistency": 0.95}, lr=1.0, lambda_max=2.0, lambda_init=1.5, min_applicable=1)
    duals.update(*channel([0.0] * 4, [1] * 4))  # 1.5 + 0.95 > 2
    assert duals.lambdas["consistency"] == 2.0
    duals.update(*channel([0.0] * 4, [1] * 4))
    assert duals.lambdas["consistency"] == 2.0


def test_fewer_applicable_rows_than_min_applicable_skip_the_update():
    duals = DualAscent({"consistency": 0.95})
    metrics = duals.update(*channel([0.0] * 10, [1] * 7 + [0] * 3))
    assert duals.lambdas["consistency"] == 1.0
    assert metrics["fgrpo/constraint/consistency/skipped"] == 1.0
    metrics = duals.update(*channel([0.0] * 10, [1] * 8 + [0] * 2))
    assert duals.lambdas["consistency"] == pytest.approx(1.0 + 0.05 * 0.95)
    assert metrics["fgrpo/constraint/consistency/skipped"] == 0.0


def test_no_applicable_rows_report_finite_metrics():
    duals = DualAscent({"consistency": 0.95})
    metrics = duals.update(*channel([float("nan")] * 5, [0] * 5))
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["fgrpo/constraint/consistency/skipped"] == 1.0
    assert duals.lambdas["consistency"] == 1.0


def test_padding_rows_do_not_count():
    duals = DualAscent({"consistency": 0.95}, lr=1.0, min_applicable=2)
    scores, masks = channel([1.0, 0.0, 0.0, 0.0], [1, 1, 1, 1])
    metrics = duals.update(scores, masks, valid=torch.tensor([True, True, False, False]))
    assert metrics["fgrpo/constraint/consistency/skipped"] == 0.0  # two valid applicable rows
    assert duals.lambdas["consistency"] == pytest.approx(1.0 + (0.95 - 0.5))  # c̄ over the valid rows only


def test_no_constraints_is_a_no_op_that_still_counts_steps():
    duals = DualAscent({})
    assert duals.update({}, {}) == {}
    assert duals.step == 1 and duals.lambdas == {}


step_batches = st.integers(1, 30).flatmap(
    lambda size: st.lists(
        st.fixed_dictionaries(
            {
                "scores": st.fixed_dictionaries(
                    {k: st.lists(st.floats(0, 1), min_size=size, max_size=size) for k in CONSTRAINTS}
                ),
                "masks": st.fixed_dictionaries(
                    {k: st.lists(st.booleans(), min_size=size, max_size=size) for k in CONSTRAINTS}
                ),
                "valid": st.lists(st.booleans(), min_size=size, max_size=size),
            }
        ),
        min_size=1,
        max_size=12,
    )
)


@settings(max_examples=100, deadline=None)
@given(
    steps=step_batches,
    lr=st.sampled_from([0.05, 0.5, 2.0]),
    lambda_max=st.sampled_from([0.5, 5.0]),
    min_applicable=st.integers(1, 10),
    enabled=st.lists(st.sampled_from(CONSTRAINTS), unique=True, min_size=1),
)
def test_trajectory_matches_the_reference_loop(steps, lr, lambda_max, min_applicable, enabled):
    thresholds = {k: DEFAULT_THRESHOLDS[k] for k in enabled}
    duals = DualAscent(
        thresholds, lr=lr, lambda_max=lambda_max, lambda_init=lambda_max / 2, min_applicable=min_applicable
    )
    expected = dict.fromkeys(enabled, lambda_max / 2)
    for step in steps:
        metrics = duals.update(
            {k: torch.tensor(v, dtype=torch.float64) for k, v in step["scores"].items()},
            {k: torch.tensor(v) for k, v in step["masks"].items()},
            valid=torch.tensor(step["valid"]),
        )
        expected = ref_step(
            expected, thresholds, step["scores"], step["masks"], step["valid"], lr, lambda_max, min_applicable
        )
        assert duals.lambdas == pytest.approx(expected, abs=1e-12)
        assert {k: metrics[f"fgrpo/lambda_next/{k}"] for k in enabled} == duals.lambdas
        assert all(0.0 <= v <= lambda_max for v in duals.lambdas.values())
    assert duals.step == len(steps)


@pytest.mark.parametrize(
    ("scores", "masks", "valid", "message"),
    [
        (
            {"consistency": [1.0, float("nan")]},
            {"consistency": [1, 1]},
            None,
            r"scores\['consistency'\] has 1 non-finite",
        ),
        ({}, {"consistency": [1, 1]}, None, "scores has no channel 'consistency'"),
        ({"consistency": [1.0, 0.0]}, {}, None, "constraint 'consistency' has no mask"),
        ({"consistency": [1.0, 0.0]}, {"consistency": [1, 1, 1]}, None, r"masks\['consistency'\] must be 1-D with 2"),
        ({"consistency": [1.0, 0.0]}, {"consistency": [1, 2]}, None, r"masks\['consistency'\] must hold only 0/1"),
        ({"consistency": [1.0, 0.0]}, {"consistency": [1, 1]}, [True], r"scores\['consistency'\] must be 1-D with 1"),
        ({"consistency": []}, {"consistency": []}, None, "empty batch"),
    ],
)
def test_bad_batches_raise_and_leave_lambda_alone(scores, masks, valid, message):
    duals = DualAscent({"consistency": 0.95}, min_applicable=1)
    with pytest.raises(ValueError, match=message):
        duals.update(scores, masks, valid=valid)
    assert duals.lambdas == {"consistency": 1.0} and duals.step == 0


# ---------------------------------------------------------------- checkpoint state


def trained(steps=5):
    duals = DualAscent(TAU, lr=0.3, lambda_init={"consistency": 0.2, "spatial_grounding": 4.0}, min_applicable=3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        duals.update(
            {k: torch.rand(16, generator=gen) for k in TAU}, {k: torch.rand(16, generator=gen) > 0.4 for k in TAU}
        )
    return duals


def test_state_dict_is_plain_python_and_round_trips_through_json():
    state = trained().state_dict()
    assert json.loads(json.dumps(state)) == state
    fresh = DualAscent(TAU)
    fresh.load_state_dict(json.loads(json.dumps(state)))
    assert fresh.state_dict() == state


def test_state_round_trips_through_torch_save_and_resumes_the_same_trajectory(tmp_path):
    original = trained(steps=3)
    path = tmp_path / "duals.pt"
    torch.save(original.state_dict(), path)
    resumed = DualAscent(TAU, lr=0.3, lambda_init={"consistency": 0.2, "spatial_grounding": 4.0}, min_applicable=3)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.state_dict() == original.state_dict()
    gen = torch.Generator().manual_seed(7)
    for _ in range(4):
        batch = ({k: torch.rand(16, generator=gen) for k in TAU}, {k: torch.rand(16, generator=gen) > 0.4 for k in TAU})
        assert resumed.update(*batch) == original.update(*batch)
    assert resumed.state_dict() == original.state_dict()


def test_load_restores_saved_settings_and_logs_the_difference(caplog):
    state = trained().state_dict()
    fresh = DualAscent(TAU)  # default lr, lambda_init, min_applicable differ from the saved ones
    with caplog.at_level(logging.WARNING, logger="fgrpo_verl.duals"):
        fresh.load_state_dict(state)
    assert fresh.lr == 0.3 and fresh.min_applicable == 3
    assert "lr" in caplog.text and "min_applicable" in caplog.text


def test_load_with_a_different_constraint_set_names_both_sets():
    state = trained().state_dict()
    other = DualAscent({"consistency": 0.95, "semantic_grounding": 0.95})
    with pytest.raises(
        ConstraintSetMismatch, match=r"\['consistency', 'spatial_grounding'\].*\['consistency', 'semantic_grounding'\]"
    ):
        other.load_state_dict(state)
    assert other.lambdas == {"consistency": 1.0, "semantic_grounding": 1.0}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("step"), "step is missing"),
        (lambda s: s["lambdas"].update(consistency=-1.0), r"lambdas\['consistency'\] must be a finite number >= 0"),
        (lambda s: s["lambdas"].update(consistency="1.0"), r"lambdas\['consistency'\] must be a finite number"),
        (lambda s: s.update(step=-1), "step must be an integer >= 0"),
        (lambda s: s.update(step="5"), "step must be an integer >= 0, got '5'"),
        (lambda s: s["lambdas"].pop("consistency"), "lambdas must map exactly the constraints"),
        (lambda s: s.update(thresholds=None), "thresholds must map exactly the constraints"),
        (lambda s: s.update(constraints="consistency"), "constraints must be a list of constraint names"),
        (lambda s: s.update(constraints=["consistency", "consistency"]), "lists a constraint twice"),
        (lambda s: s.update(lr=True), "lr must be a finite number >= 0"),
    ],
)
def test_corrupt_state_is_rejected_without_changing_anything(edit, message):
    state = trained().state_dict()
    edit(state)
    fresh = DualAscent(TAU)
    before = fresh.state_dict()
    with pytest.raises(ValueError, match=message):
        fresh.load_state_dict(state)
    assert fresh.state_dict() == before


def test_saved_lambda_above_the_configured_maximum_is_clipped_with_a_warning(caplog):
    state = trained().state_dict()
    state["lambda_max"] = 1e9  # a tampered file
    state["lambdas"]["consistency"] = 7.5e8
    fresh = DualAscent(TAU, lambda_max=5.0)
    with caplog.at_level(logging.WARNING, logger="fgrpo_verl.duals"):
        fresh.load_state_dict(state)
    assert fresh.lambdas["consistency"] == 5.0 and fresh.lambda_max == 5.0
    assert fresh.lambdas["spatial_grounding"] == state["lambdas"]["spatial_grounding"]  # within bounds: exact
    assert "750000000.0" in caplog.text and "lambda_max = 5.0" in caplog.text
    # The next update keeps to the configured bound.
    fresh.update({k: torch.zeros(16) for k in TAU}, {k: torch.ones(16) for k in TAU})
    assert max(fresh.lambdas.values()) <= 5.0
