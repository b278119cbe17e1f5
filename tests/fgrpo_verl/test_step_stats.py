"""fgrpo_verl.step_stats: reward channels of a step -> tensors and the SPEC section 3 metrics."""

from __future__ import annotations

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fgrpo_verl.channels import CONSTRAINTS, extra_info_keys, mask_key
from fgrpo_verl.duals import DualAscent
from fgrpo_verl.step_stats import (
    MissingChannelsError,
    channel_tensors,
    reward_extra_infos,
    step_metrics,
    valid_rows,
)

THRESHOLDS = {"consistency": 0.95, "semantic_grounding": 0.95, "spatial_grounding": 0.7}


def _rollout(rng: random.Random) -> dict[str, float]:
    """One rollout's reward_extra_info as the reward manager writes it (value 0 where the mask is 0)."""
    acc = float(rng.random() < 0.6)
    fmt = float(rng.random() < 0.8)
    info = {"acc": acc, "format": fmt, "task": 0.5 * acc + 0.5 * fmt}
    for name in CONSTRAINTS:
        applicable = rng.random() < 0.7 and (acc > 0 or name == "spatial_grounding")
        value = float(rng.random() < 0.5) if name == "consistency" else rng.random()
        info[name] = value if applicable else 0.0
        info[mask_key(name)] = float(applicable)
    for key in ("judge_calls", "judge_failures", "judge_cache_hits", "judge_flagged"):
        info[key] = float(rng.randint(0, 4))
    info["judge_latency_s"] = rng.choice([0.0, rng.uniform(0.01, 2.0)])
    return info


def _linear_quantile(values: list[float], q: float) -> float:
    """Quantile by linear interpolation between the order statistics of ``values``."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def test_judge_latency_quantiles_cover_valid_rollouts_with_a_successful_call():
    rng = random.Random(3)
    infos = [_rollout(rng) for _ in range(40)]
    valid = torch.tensor([i % 7 != 0 for i in range(40)])
    metrics = step_metrics(channel_tensors(infos, valid), valid, CONSTRAINTS, THRESHOLDS, None)
    latencies = sorted(
        info["judge_latency_s"]
        for info, ok in zip(infos, valid.tolist(), strict=True)
        if ok and info["judge_latency_s"] > 0
    )
    assert latencies
    assert metrics["fgrpo/judge/latency_p50_s"] == pytest.approx(_linear_quantile(latencies, 0.5), rel=1e-5)
    assert metrics["fgrpo/judge/latency_p95_s"] == pytest.approx(_linear_quantile(latencies, 0.95), rel=1e-5)
    for info in infos:
        info["judge_latency_s"] = 0.0
    quiet = step_metrics(channel_tensors(infos, valid), valid, CONSTRAINTS, THRESHOLDS, None)
    assert "fgrpo/judge/latency_p50_s" not in quiet


def test_valid_rows_marks_only_padding_tags_invalid():
    tags = [{"status": "success"}, {"is_padding": True}, {"is_padding": False}, {}]
    assert valid_rows(tags).tolist() == [True, False, True, True]


def test_reward_extra_infos_reads_each_row_and_tolerates_rows_without_info():
    info = {"acc": 1.0}
    rows = [{"reward_extra_info": info, "min_global_steps": 1}, {"other": 1}, {"reward_extra_info": None}, None]
    assert reward_extra_infos(rows) == [info, {}, {}, {}]


def test_channel_tensors_reads_every_key_per_row():
    rng = random.Random(0)
    infos = [_rollout(rng) for _ in range(6)]
    channels = channel_tensors(infos, torch.ones(6, dtype=torch.bool))
    assert set(channels) == set(extra_info_keys())
    for key in extra_info_keys():
        assert channels[key].dtype == torch.float32
        assert channels[key].tolist() == pytest.approx([info[key] for info in infos])


def test_missing_channels_name_the_keys_and_the_reward_manager():
    rng = random.Random(1)
    infos = [{"acc": 1.0, "score": 1.0} for _ in range(3)] + [_rollout(rng)]
    with pytest.raises(MissingChannelsError) as err:
        channel_tensors(infos, torch.ones(4, dtype=torch.bool))
    message = str(err.value)
    assert "consistency_mask (3 of 4 rows)" in message and "judge_flagged" in message
    lacking = message.split("lack:")[1]
    assert "acc (" not in lacking and "format (" in lacking  # acc is present, format is not
    assert "FGRPORewardManager" in message and "reward.reward_manager.source=importlib" in message


def test_keys_missing_only_in_padding_rows_are_not_an_error():
    rng = random.Random(2)
    infos = [_rollout(rng), {}]
    channels = channel_tensors(infos, torch.tensor([True, False]))
    assert channels["task"][1].item() == 0.0


def test_a_non_numeric_value_names_key_and_row():
    rng = random.Random(3)
    infos = [_rollout(rng) for _ in range(3)]
    infos[2]["judge_calls"] = "three"
    with pytest.raises(ValueError, match=r"reward_extra_info\['judge_calls'\] of row 2"):
        channel_tensors(infos, torch.ones(3, dtype=torch.bool))


def _naive_metrics(infos, valid, constraints, lambdas):
    """The metrics of the module docstring, by a plain loop over the valid rows."""
    rows = [info for info, ok in zip(infos, valid, strict=True) if ok]
    out = {}
    for name in ("acc", "format", "task"):
        out[f"fgrpo/reward/{name}/mean"] = sum(r[name] for r in rows) / len(rows)
    for name in constraints:
        applicable = [r for r in rows if r[mask_key(name)] > 0]
        mean = sum(r[name] for r in applicable) / len(applicable) if applicable else 0.0
        out[f"fgrpo/constraint/{name}/applicable"] = float(len(applicable))
        out[f"fgrpo/constraint/{name}/mean"] = mean
        out[f"fgrpo/constraint/{name}/slack"] = mean - THRESHOLDS[name] if applicable else 0.0
    for name, value in (lambdas or {}).items():
        out[f"fgrpo/lambda/{name}"] = value
    judged = [r for r in rows if r["acc"] > 0 and r["consistency_mask"] > 0]
    if judged:
        out["fgrpo/inconsistency_rate"] = sum(1 for r in judged if r["consistency"] == 0) / len(judged)
    for key in ("calls", "failures", "cache_hits", "flagged"):
        out[f"fgrpo/judge/{key}"] = sum(r[f"judge_{key}"] for r in rows)
    latencies = [r["judge_latency_s"] for r in rows if r["judge_latency_s"] > 0]
    if latencies:
        out["fgrpo/judge/latency_p50_s"] = _linear_quantile(latencies, 0.5)
        out["fgrpo/judge/latency_p95_s"] = _linear_quantile(latencies, 0.95)
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_valid=st.integers(1, 30),
    n_pad=st.integers(0, 5),
    constraints=st.lists(st.sampled_from(CONSTRAINTS), unique=True),
    with_lambdas=st.booleans(),
)
def test_metrics_match_a_plain_loop_over_valid_rows_and_ignore_padding(seed, n_valid, n_pad, constraints, with_lambdas):
    rng = random.Random(seed)
    infos = [_rollout(rng) for _ in range(n_valid)]
    # verl pads with copies of sample 0; make them extreme so that counting them would show.
    padding = [
        dict(infos[0], judge_calls=1000.0, judge_latency_s=1000.0, acc=1.0, consistency=0.0, consistency_mask=1.0)
        for _ in range(n_pad)
    ]
    order = list(range(n_valid + n_pad))
    rng.shuffle(order)
    rows = [(infos + padding)[i] for i in order]
    valid = torch.tensor([i < n_valid for i in order])
    lambdas = {name: rng.uniform(0, 5) for name in constraints} if with_lambdas else None

    got = step_metrics(channel_tensors(rows, valid), valid, constraints, THRESHOLDS, lambdas)
    want = _naive_metrics(rows, valid.tolist(), constraints, lambdas)
    assert set(got) == set(want)
    for key, value in want.items():
        assert math.isclose(got[key], value, rel_tol=1e-5, abs_tol=1e-6), key


def test_the_dual_update_moves_lambda_by_the_logged_constraint_mean_and_logs_nothing_twice():
    """The step metrics own λ and c̄; the update adds only λ_next and skipped, computed from the same c̄."""
    rng = random.Random(7)
    infos = [_rollout(rng) for _ in range(40)]
    valid = torch.tensor([i % 9 != 0 for i in range(40)])
    channels = channel_tensors(infos, valid)
    duals = DualAscent(THRESHOLDS, lr=0.3, min_applicable=1)
    ours = step_metrics(channels, valid, CONSTRAINTS, THRESHOLDS, duals.lambdas)
    theirs = duals.update(
        {k: channels[k] for k in CONSTRAINTS}, {k: channels[mask_key(k)] for k in CONSTRAINTS}, valid=valid
    )
    assert not set(ours) & set(theirs)
    for name in CONSTRAINTS:
        mean = ours[f"fgrpo/constraint/{name}/mean"]
        expected = min(max(ours[f"fgrpo/lambda/{name}"] + 0.3 * (THRESHOLDS[name] - mean), 0.0), 5.0)
        assert theirs[f"fgrpo/lambda_next/{name}"] == expected, name


def test_inconsistency_rate_is_omitted_when_no_correct_rollout_was_judged():
    rng = random.Random(4)
    infos = [dict(_rollout(rng), acc=0.0, consistency=0.0, consistency_mask=0.0) for _ in range(5)]
    metrics = step_metrics(
        channel_tensors(infos, torch.ones(5, dtype=torch.bool)),
        torch.ones(5, dtype=torch.bool),
        CONSTRAINTS,
        THRESHOLDS,
        None,
    )
    assert "fgrpo/inconsistency_rate" not in metrics
    assert metrics["fgrpo/constraint/consistency/applicable"] == 0.0
    assert metrics["fgrpo/constraint/consistency/slack"] == 0.0
