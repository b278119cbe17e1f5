"""fgrpo_verl.modes: one table of advantage modes, read by the config, the scorer and the advantage."""

from __future__ import annotations

import pytest
import torch

from fgrpo_verl.advantage import compute_mode_advantage, group_normalize
from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.config import ConfigError, FGRPOConfig
from fgrpo_verl.modes import MODE_TABLE, ModeSpec, get_mode
from fgrpo_verl.rollout_scoring import computed_channels


def acc_times_consistency(batch):
    """Toy mode: ``A_i = GN(acc·C)_i``."""
    acc, _, consistency, _ = batch.coupled_terms()
    return batch.normalize(acc * consistency)


@pytest.fixture
def toy_mode(monkeypatch):
    """A new mode: one table entry plus its function, nothing else."""
    spec = ModeSpec("toy", False, False, frozenset({"consistency"}), acc_times_consistency)
    monkeypatch.setitem(MODE_TABLE, "toy", spec)
    return spec


def test_a_registered_toy_mode_runs_through_config_scoring_and_advantage(toy_mode):
    config = FGRPOConfig.from_dict({"mode": "toy"})
    assert config.spec is toy_mode and not config.uses_constraints and not config.updates_duals
    # The scorer asks the judge for consistency only (the toy mode reads no semantic grounding).
    assert computed_channels(config) == {"consistency", "spatial_grounding"}

    acc = [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    cons = {"consistency": [1.0, 0.0, 1.0, 1.0, 1.0, 0.0]}
    masks = {"consistency": [1, 1, 1, 1, 0, 0]}
    index = ["a", "a", "a", "b", "b", "b"]
    got = compute_mode_advantage("toy", [0.0] * 6, acc, [1.0] * 6, cons, masks, {}, index, torch.ones(6, 2))
    coupled = [a * (c if m else 0.0) for a, c, m in zip(acc, cons["consistency"], masks["consistency"], strict=True)]
    expected = group_normalize(coupled, index)
    torch.testing.assert_close(got, expected.unsqueeze(-1).expand(6, 2))
    assert got.abs().sum() > 0

    with pytest.raises(ConfigError, match="fgrpo.mode=grpo_t"):
        FGRPOConfig.from_dict({"mode": "toy", "constraints": ["spatial_grounding"]})


def test_padding_rows_are_zero_whatever_a_mode_returns(monkeypatch):
    monkeypatch.setitem(MODE_TABLE, "ones", ModeSpec("ones", False, False, frozenset(), lambda b: b.task() * 0 + 1))
    valid = torch.tensor([True, True, False])
    got = compute_mode_advantage(
        "ones", [1.0, 2.0, float("nan")], None, None, {}, {}, {}, [0, 0, 0], torch.ones(3, 2), valid
    )
    assert torch.equal(got, torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]))


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda b: b.task()[:2], r"returned shape \(2,\), expected \(3,\)"),
        (lambda b: b.task() / 0.0, "the advantage of mode 'broken' has 3 non-finite"),
    ],
)
def test_a_mode_function_that_breaks_its_contract_is_named(monkeypatch, function, message):
    monkeypatch.setitem(MODE_TABLE, "broken", ModeSpec("broken", False, False, frozenset(), function))
    with pytest.raises(ValueError, match=message):
        compute_mode_advantage("broken", [1.0, 2.0, 3.0], None, None, {}, {}, {}, [0, 0, 0], torch.ones(3, 1))


def test_the_table_holds_the_papers_modes_with_their_dual_behaviour():
    rows = {name: (spec.uses_lambda, spec.updates_lambda, sorted(spec.judged)) for name, spec in MODE_TABLE.items()}
    assert rows == {
        "fgrpo": (True, True, ["consistency", "semantic_grounding"]),
        "fixed_lambda": (True, False, ["consistency", "semantic_grounding"]),
        "grpo_t": (False, False, []),
        "additive": (False, False, ["consistency"]),
        "multiplicative": (False, False, ["consistency"]),
    }
    assert next(iter(MODE_TABLE)) == FGRPOConfig().mode
    for spec in MODE_TABLE.values():
        assert spec.advantage.__doc__ and "A_i" in spec.advantage.__doc__  # the formula is documented


def test_inconsistent_rows_are_refused():
    with pytest.raises(ValueError, match="updates λ but does not use it"):
        ModeSpec("bad", False, True, frozenset(), acc_times_consistency)
    with pytest.raises(ValueError, match="reads unknown constraints"):
        ModeSpec("bad", False, False, frozenset({"faithfulness"}), acc_times_consistency)
    with pytest.raises(ValueError, match="unknown advantage mode 'ppo'"):
        get_mode("ppo")
    assert set().union(*(spec.reads for spec in MODE_TABLE.values())) == set(CONSTRAINTS)
