"""FGRPO advantages against a plain per-group Python reference (SPEC §2)."""

from __future__ import annotations

import math
import statistics
import uuid

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fgrpo_verl.advantage import compute_fgrpo_advantage, compute_mode_advantage, group_normalize
from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.modes import MODE_TABLE

EPS = 1e-6
TOL = {"rtol": 1e-5, "atol": 1e-5}


# ---------------------------------------------------------------- reference (one group at a time)


def ref_group_normalize(scores, index, mask, eps=EPS):
    out = [0.0] * len(scores)
    members: dict = {}
    for row, group in enumerate(index):
        members.setdefault(group, []).append(row)
    for rows in members.values():
        applicable = [row for row in rows if mask[row]]
        if len(applicable) < 2:
            continue
        values = [scores[row] for row in applicable]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        for row in applicable:
            out[row] = (scores[row] - mean) / (std + eps)
    return out


def ref_whiten(values, valid, eps=EPS):
    kept = [v for v, ok in zip(values, valid, strict=True) if ok]
    mean = statistics.fmean(kept)
    std = statistics.stdev(kept) if len(kept) > 1 else 0.0
    return [(v - mean) / (std + eps) if ok else 0.0 for v, ok in zip(values, valid, strict=True)]


def ref_fgrpo(task, constraints, masks, lambdas, index, valid, whiten=True, eps=EPS):
    per_row = ref_group_normalize(task, index, valid, eps)
    for name, scores in constraints.items():
        used = [bool(m) and v for m, v in zip(masks[name], valid, strict=True)]
        normalized = ref_group_normalize(scores, index, used, eps)
        per_row = [a + lambdas[name] * n for a, n in zip(per_row, normalized, strict=True)]
    if whiten:
        per_row = ref_whiten(per_row, valid, eps)
    return [a if ok else 0.0 for a, ok in zip(per_row, valid, strict=True)]


def tokens(per_row, response_mask):
    return torch.tensor(per_row, dtype=torch.float64).unsqueeze(-1) * response_mask.double()


# ---------------------------------------------------------------- strategies

# A mix of a coarse grid (ties, zero-variance groups) and arbitrary values in [0, 1].
reward = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0.0, 1.0, allow_nan=False))


@st.composite
def batches(draw, min_size=1, max_size=24):
    size = draw(st.integers(min_size, max_size))
    group_ids = draw(st.lists(st.integers(0, 5), min_size=size, max_size=size))
    labels = [str(uuid.UUID(int=g + 1)) for g in group_ids]
    index_kind = draw(st.sampled_from(["uuid", "int", "tensor", "list"]))
    index = {
        "uuid": np.array(labels, dtype=object),
        "int": np.array(group_ids),
        "tensor": torch.tensor(group_ids),
        "list": labels,
    }[index_kind]
    task = draw(st.lists(reward, min_size=size, max_size=size))
    enabled = draw(st.lists(st.sampled_from(CONSTRAINTS), unique=True, max_size=3))
    constraints = {name: draw(st.lists(reward, min_size=size, max_size=size)) for name in enabled}
    masks = {name: draw(st.lists(st.booleans(), min_size=size, max_size=size)) for name in enabled}
    lambdas = {name: draw(st.sampled_from([0.0, 0.5, 1.0, 5.0])) for name in enabled}
    valid = draw(st.lists(st.booleans(), min_size=size, max_size=size).filter(any))
    length = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(0, length), min_size=size, max_size=size))
    response_mask = (torch.arange(length).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).to(torch.int64)
    return {
        "task": task,
        "constraints": constraints,
        "masks": masks,
        "lambdas": lambdas,
        "index": index,
        "group_ids": group_ids,
        "valid": valid,
        "response_mask": response_mask,
    }


def run_fgrpo(b, whiten=True, **overrides):
    args = {
        "task": torch.tensor(b["task"]),
        "constraints": {k: torch.tensor(v) for k, v in b["constraints"].items()},
        "masks": {k: torch.tensor(v, dtype=torch.float32) for k, v in b["masks"].items()},
        "lambdas": b["lambdas"],
        "index": b["index"],
        "response_mask": b["response_mask"],
        "valid": torch.tensor(b["valid"]),
        "whiten": whiten,
    }
    args.update(overrides)
    return compute_fgrpo_advantage(**args)


# ---------------------------------------------------------------- group_normalize


@settings(max_examples=100, deadline=None)
@given(b=batches(), use_mask=st.booleans())
def test_group_normalize_matches_per_group_reference(b, use_mask):
    mask = b["valid"] if use_mask else [True] * len(b["task"])
    got = group_normalize(torch.tensor(b["task"]), b["index"], torch.tensor(mask) if use_mask else None)
    expected = ref_group_normalize(b["task"], b["group_ids"], mask)
    assert got.dtype == torch.float32 and got.shape == (len(b["task"]),)
    torch.testing.assert_close(got.double(), torch.tensor(expected, dtype=torch.float64), **TOL)


def test_group_normalize_formula_on_a_hand_example():
    scores = [1.0, 2.0, 4.0, 7.0, 3.0]
    got = group_normalize(scores, ["a", "a", "a", "b", "b"])
    mean_a = (1 + 2 + 4) / 3
    std_a = math.sqrt(((1 - mean_a) ** 2 + (2 - mean_a) ** 2 + (4 - mean_a) ** 2) / 2)  # unbiased
    std_b = math.sqrt(((7 - 5) ** 2 + (3 - 5) ** 2) / 1)
    expected = [(s - mean_a) / (std_a + EPS) for s in scores[:3]] + [(7 - 5) / (std_b + EPS), (3 - 5) / (std_b + EPS)]
    torch.testing.assert_close(got.double(), torch.tensor(expected, dtype=torch.float64), **TOL)


def test_group_of_size_one_gets_zero():
    got = group_normalize([0.3, 1.0, 0.0, 0.7], [0, 1, 1, 2])
    assert got[0] == 0 and got[3] == 0
    assert got[1] > 0 > got[2]


def test_group_with_one_applicable_row_is_zero_for_every_row():
    got = group_normalize([0.9, 0.1, 0.4, 0.2], [0, 0, 0, 0], mask=[1, 0, 0, 0])
    assert torch.equal(got, torch.zeros(4))


def test_all_rows_masked_gives_zero():
    got = group_normalize(torch.rand(6), [0, 0, 0, 1, 1, 1], mask=torch.zeros(6))
    assert torch.equal(got, torch.zeros(6))


@pytest.mark.parametrize("value", [0.0, 0.1, 0.7, 1.0, 1 / 3])
def test_zero_variance_group_is_exactly_zero(value):
    # Exact zero, not eps-scaled rounding noise: a constant group carries no signal.
    got = group_normalize(torch.full((7,), value, dtype=torch.float32), ["g"] * 7)
    assert torch.equal(got, torch.zeros(7))


def test_rows_outside_the_mask_are_zero_and_never_read():
    scores = torch.tensor([0.2, float("nan"), 0.8, float("inf"), 0.5])
    got = group_normalize(scores, [0, 0, 0, 0, 0], mask=[1, 0, 1, 0, 1])
    expected = ref_group_normalize([0.2, 0.0, 0.8, 0.0, 0.5], [0] * 5, [1, 0, 1, 0, 1])
    torch.testing.assert_close(got.double(), torch.tensor(expected, dtype=torch.float64), **TOL)


def test_uneven_group_sizes():
    index = [7] * 2 + [3] * 5 + [9] * 1 + [4] * 8
    scores = [float(i % 3) / 2 for i in range(len(index))]
    got = group_normalize(scores, np.array(index))
    torch.testing.assert_close(
        got.double(), torch.tensor(ref_group_normalize(scores, index, [1] * len(index)), dtype=torch.float64), **TOL
    )


# ---------------------------------------------------------------- compute_fgrpo_advantage


@settings(max_examples=100, deadline=None)
@given(b=batches(), whiten=st.booleans())
def test_fgrpo_advantage_matches_per_group_reference(b, whiten):
    got = run_fgrpo(b, whiten=whiten)
    per_row = ref_fgrpo(b["task"], b["constraints"], b["masks"], b["lambdas"], b["group_ids"], b["valid"], whiten)
    assert got.dtype == torch.float32 and got.shape == b["response_mask"].shape
    torch.testing.assert_close(got.double(), tokens(per_row, b["response_mask"]), **TOL)


@settings(max_examples=60, deadline=None)
@given(b=batches(min_size=2), data=st.data())
def test_permuting_rows_permutes_the_advantage(b, data):
    perm = data.draw(st.permutations(range(len(b["task"]))))
    got = run_fgrpo(b)
    shuffled = run_fgrpo(
        b,
        task=torch.tensor(b["task"])[perm],
        constraints={k: torch.tensor(v)[perm] for k, v in b["constraints"].items()},
        masks={k: torch.tensor(v)[perm] for k, v in b["masks"].items()},
        index=np.array(b["group_ids"])[perm],
        response_mask=b["response_mask"][perm],
        valid=torch.tensor(b["valid"])[perm],
    )
    torch.testing.assert_close(shuffled, got[perm], **TOL)


@settings(max_examples=60, deadline=None)
@given(b=batches(), padding=st.integers(1, 4), junk=st.sampled_from([0.0, 1.0, float("nan")]))
def test_padding_rows_are_zero_and_change_nothing_else(b, padding, junk):
    # verl pads with copies of sample 0 under their own uid; here they even carry junk values.
    size = len(b["task"])
    base = run_fgrpo(b)
    pad_index = np.array([str(g) for g in b["group_ids"]] + ["pad"] * padding, dtype=object)
    padded = run_fgrpo(
        b,
        task=torch.tensor(b["task"] + [junk] * padding),
        constraints={k: torch.tensor(v + [junk] * padding) for k, v in b["constraints"].items()},
        masks={k: torch.tensor(v + [True] * padding) for k, v in b["masks"].items()},
        index=pad_index,
        response_mask=torch.cat(
            [b["response_mask"], torch.ones(padding, b["response_mask"].shape[1], dtype=torch.int64)]
        ),
        valid=torch.tensor(b["valid"] + [False] * padding),
    )
    assert torch.equal(padded[size:], torch.zeros_like(padded[size:]))
    torch.testing.assert_close(padded[:size], base, **TOL)


@settings(max_examples=60, deadline=None)
@given(b=batches(), whiten=st.booleans())
def test_lambda_zero_constraint_has_no_effect(b, whiten):
    without = run_fgrpo(b, whiten=whiten, constraints={}, masks={}, lambdas={})
    with_zero = run_fgrpo(b, whiten=whiten, lambdas=dict.fromkeys(b["constraints"], 0.0))
    torch.testing.assert_close(with_zero, without, **TOL)


def test_string_uuids_and_ints_give_the_same_groups():
    gen = torch.Generator().manual_seed(1)
    group_ids = torch.randint(0, 6, (40,), generator=gen)
    uuids = np.array([str(uuid.uuid4()) for _ in range(6)], dtype=object)[group_ids.numpy()]
    task, cons, mask = torch.rand(40, generator=gen), torch.rand(40, generator=gen), torch.rand(40, generator=gen) > 0.3
    args = ({"consistency": cons}, {"consistency": mask}, {"consistency": 2.0})
    by_int = compute_fgrpo_advantage(task, *args, group_ids, torch.ones(40, 3))
    by_uuid = compute_fgrpo_advantage(task, *args, uuids, torch.ones(40, 3))
    assert torch.equal(by_int, by_uuid)


def test_whitening_gives_zero_mean_unit_std_over_valid_rows():
    gen = torch.Generator().manual_seed(2)
    valid = torch.rand(64, generator=gen) > 0.2
    adv = compute_fgrpo_advantage(
        torch.rand(64, generator=gen), {}, {}, {}, np.arange(64) // 8, torch.ones(64, 1), valid=valid
    )[:, 0].double()
    assert abs(adv[valid].mean().item()) < 1e-6
    assert abs(adv[valid].std().item() - 1.0) < 1e-5  # torch.std is unbiased, as SPEC decides
    assert torch.equal(adv[~valid], torch.zeros_like(adv[~valid]))


def test_whiten_off_is_the_lambda_weighted_sum_of_group_normalized_channels():
    gen = torch.Generator().manual_seed(3)
    index = np.repeat(np.arange(5), 4)
    task, cons, sg = (torch.rand(20, generator=gen) for _ in range(3))
    m_c, m_s = torch.rand(20, generator=gen) > 0.3, torch.rand(20, generator=gen) > 0.5
    adv = compute_fgrpo_advantage(
        task,
        {"consistency": cons, "semantic_grounding": sg},
        {"consistency": m_c, "semantic_grounding": m_s},
        {"consistency": 0.5, "semantic_grounding": 2.0},
        index,
        torch.ones(20, 2),
        whiten=False,
    )
    expected = (
        group_normalize(task, index) + 0.5 * group_normalize(cons, index, m_c) + 2.0 * group_normalize(sg, index, m_s)
    )
    torch.testing.assert_close(adv[:, 0], expected, **TOL)
    torch.testing.assert_close(adv[:, 1], expected, **TOL)


def test_response_mask_zeroes_tokens_past_the_response():
    response_mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]])
    adv = compute_fgrpo_advantage([0.0, 1.0, 0.5, 1.0], {}, {}, {}, [0, 0, 0, 0], response_mask, whiten=False)
    per_row = ref_group_normalize([0.0, 1.0, 0.5, 1.0], [0] * 4, [1] * 4)
    torch.testing.assert_close(adv.double(), tokens(per_row, response_mask), **TOL)
    assert torch.equal(adv[response_mask == 0], torch.zeros(int((response_mask == 0).sum())))


# ---------------------------------------------------------------- ablation modes


def small_batch():
    acc = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    fmt = [1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    c, m_c = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [1, 1, 0, 1, 0, 0]
    g, m_g = [0.5, 0.9, 0.25, 0.0, 0.8, 0.6], [1, 1, 1, 0, 1, 0]
    return acc, fmt, {"consistency": c, "spatial_grounding": g}, {"consistency": m_c, "spatial_grounding": m_g}


def applicable(values, mask):
    return [v if m else 0.0 for v, m in zip(values, mask, strict=True)]


def coupled_reference(mode, acc, fmt, cons, masks):
    """The coupled reward of SPEC §2 written out per row (C, G = 0 where not applicable or disabled)."""
    zeros = [0.0] * len(acc)
    big_c = applicable(cons["consistency"], masks["consistency"]) if "consistency" in cons else zeros
    big_g = (
        applicable(cons["spatial_grounding"], masks["spatial_grounding"]) if "spatial_grounding" in cons else zeros
    )
    rows = zip(acc, fmt, big_c, big_g, strict=True)
    if mode == "additive":
        return [a / 3 + a * c / 3 + f * g / 3 for a, f, c, g in rows]
    return [0.5 * a * c + 0.5 * f * g for a, f, c, g in rows]


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_coupled_modes_group_normalize_the_coupled_reward_without_whitening(mode):
    acc, fmt, cons, masks = small_batch()
    index = ["p", "p", "p", "q", "q", "q"]
    valid = [True, True, True, True, True, False]
    response_mask = torch.ones(6, 2)
    expected = ref_group_normalize(coupled_reference(mode, acc, fmt, cons, masks), index, valid)
    got = compute_mode_advantage(mode, [0.0] * 6, acc, fmt, cons, masks, {}, index, response_mask, valid)
    torch.testing.assert_close(got.double(), tokens(expected, response_mask), **TOL)


def test_coupled_modes_treat_disabled_constraints_as_zero_and_ignore_semantic_grounding():
    acc, fmt, cons, masks = small_batch()
    index = [0, 0, 0, 1, 1, 1]
    only_c = {"consistency": cons["consistency"], "semantic_grounding": [1.0] * 6}
    only_c_masks = {"consistency": masks["consistency"], "semantic_grounding": [1] * 6}
    got = compute_mode_advantage("additive", [0.0] * 6, acc, fmt, only_c, only_c_masks, {}, index, torch.ones(6, 1))
    big_c = applicable(cons["consistency"], masks["consistency"])
    expected = [a / 3 + a * c / 3 for a, c in zip(acc, big_c, strict=True)]
    torch.testing.assert_close(got.double(), tokens(ref_group_normalize(expected, index, [1] * 6), torch.ones(6, 1)))
    # Without C and G the multiplicative reward is 0 everywhere, so is its advantage.
    none = compute_mode_advantage("multiplicative", [0.0] * 6, acc, fmt, {}, {}, {}, index, torch.ones(6, 1))
    assert torch.equal(none, torch.zeros(6, 1))


def test_grpo_t_is_group_normalized_task_only():
    acc, fmt, cons, masks = small_batch()
    task = [0.5 * a + 0.5 * f for a, f in zip(acc, fmt, strict=True)]
    index = [0, 0, 0, 1, 1, 1]
    got = compute_mode_advantage(
        "grpo_t", task, acc, fmt, cons, masks, dict.fromkeys(cons, 5.0), index, torch.ones(6, 3), whiten=True
    )
    torch.testing.assert_close(got.double(), tokens(ref_group_normalize(task, index, [1] * 6), torch.ones(6, 3)), **TOL)


@pytest.mark.parametrize("mode", ["fgrpo", "fixed_lambda"])
def test_constrained_modes_are_the_fgrpo_advantage(mode):
    acc, fmt, cons, masks = small_batch()
    task = [0.5 * a + 0.5 * f for a, f in zip(acc, fmt, strict=True)]
    index, lambdas = [0, 0, 0, 1, 1, 1], {"consistency": 1.5, "spatial_grounding": 0.5}
    got = compute_mode_advantage(mode, task, None, None, cons, masks, lambdas, index, torch.ones(6, 2))
    expected = ref_fgrpo(task, cons, masks, lambdas, index, [True] * 6)
    torch.testing.assert_close(got.double(), tokens(expected, torch.ones(6, 2)), **TOL)


def test_every_configured_mode_is_dispatched():
    acc, fmt, cons, masks = small_batch()
    for mode in MODE_TABLE:
        out = compute_mode_advantage(
            mode, acc, acc, fmt, cons, masks, dict.fromkeys(cons, 1.0), [0] * 6, torch.ones(6, 1)
        )
        assert out.shape == (6, 1) and torch.isfinite(out).all()


# ---------------------------------------------------------------- bad input


def call(**changes):
    args = {
        "task": torch.tensor([0.0, 1.0, 0.5, 1.0]),
        "constraints": {"consistency": torch.tensor([1.0, 0.0, 1.0, 0.0])},
        "masks": {"consistency": torch.tensor([1.0, 1.0, 0.0, 1.0])},
        "lambdas": {"consistency": 1.0},
        "index": np.array(["a", "a", "b", "b"], dtype=object),
        "response_mask": torch.ones(4, 3),
    }
    args.update(changes)
    return compute_fgrpo_advantage(**args)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": torch.tensor([0.0, float("nan"), 0.5, 1.0])}, "task has 1 non-finite"),
        (
            {"constraints": {"consistency": torch.tensor([float("inf"), 0.0, 1.0, float("nan")])}},
            r"constraints\['consistency'\] has 2 non-finite",
        ),
        ({"task": torch.tensor([0.0, 1.0, 0.5])}, "task has 3 values, expected 4"),
        ({"constraints": {"consistency": torch.ones(5)}}, r"constraints\['consistency'\] has 5 values"),
        ({"masks": {"consistency": torch.ones(3)}}, r"masks\['consistency'\] has 3 values"),
        ({"index": ["a", "a", "b"]}, "index must hold 4 group ids"),
        ({"index": np.array(["a", 1, "b", 2], dtype=object)}, "index holds group ids that cannot be compared"),
        ({"masks": {}}, "constraint 'consistency' has no mask"),
        ({"masks": {"consistency": torch.tensor([1.0, 0.5, 0.0, 1.0])}}, r"masks\['consistency'\] must hold only 0/1"),
        ({"lambdas": {}}, "lambdas has no value for constraint 'consistency'"),
        ({"lambdas": {"consistency": -0.1}}, r"lambdas\['consistency'\] must be a finite number >= 0"),
        ({"lambdas": {"consistency": float("nan")}}, r"lambdas\['consistency'\] must be a finite number >= 0"),
        ({"task": torch.empty(0), "constraints": {}, "index": [], "response_mask": torch.ones(0, 3)}, "empty batch"),
        ({"valid": torch.zeros(4, dtype=torch.bool)}, "only padding"),
        ({"valid": torch.ones(3, dtype=torch.bool)}, "valid has 3 values"),
        ({"response_mask": torch.ones(4)}, "response_mask must be 2-D"),
        ({"eps": 0.0}, "eps must be a finite number > 0"),
        ({"task": torch.ones(4, 1)}, "task must be 1-D"),
    ],
)
def test_bad_input_raises_a_value_error_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        call(**changes)


def test_non_finite_values_where_the_mask_is_zero_are_accepted():
    # Documented policy: only values that enter a statistic are validated.
    cons = torch.tensor([1.0, 0.0, float("nan"), 0.0])
    expected = call(constraints={"consistency": torch.tensor([1.0, 0.0, 123.0, 0.0])})
    torch.testing.assert_close(call(constraints={"consistency": cons}), expected)


def test_non_finite_values_in_padding_rows_are_accepted():
    task = torch.tensor([0.0, 1.0, 0.5, float("nan")])
    out = call(task=task, valid=torch.tensor([True, True, True, False]))
    assert torch.isfinite(out).all() and torch.equal(out[3], torch.zeros(3))


def test_mode_errors_name_the_problem():
    acc, fmt, cons, masks = small_batch()
    with pytest.raises(ValueError, match="unknown advantage mode 'ppo'"):
        compute_mode_advantage("ppo", acc, acc, fmt, cons, masks, {}, [0] * 6, torch.ones(6, 1))
    with pytest.raises(ValueError, match="need acc and fmt"):
        compute_mode_advantage("additive", acc, None, None, cons, masks, {}, [0] * 6, torch.ones(6, 1))
    with pytest.raises(ValueError, match="fmt has 1 non-finite"):
        compute_mode_advantage(
            "multiplicative", acc, acc, fmt[:5] + [float("nan")], cons, masks, {}, [0] * 6, torch.ones(6, 1)
        )


def test_object_arrays_of_numbers_are_accepted_and_text_is_rejected():
    task = np.array([0.0, 1.0, 0.5, 1.0], dtype=object)  # how verl's non-tensor fields arrive
    torch.testing.assert_close(call(task=task), call())
    with pytest.raises(ValueError, match="task must be numeric"):
        call(task=np.array(["0", "1", "x", "1"], dtype=object))
