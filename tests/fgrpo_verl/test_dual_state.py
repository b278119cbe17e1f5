"""fgrpo_verl.dual_state: the dual state file of a checkpoint, and every way a resume can go wrong."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.dual_state import (
    DUAL_STATE_FILE,
    DualStateError,
    build_duals,
    config_fingerprint,
    restore_dual_state,
    save_dual_state,
)


def _trained_duals(config: FGRPOConfig, steps: int = 3):
    """A DualAscent moved away from λ_init by a few real updates."""
    duals = build_duals(config)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        scores = {k: torch.rand(32, generator=generator) * 0.5 for k in config.constraints}
        masks = {k: torch.ones(32) for k in config.constraints}
        duals.update(scores, masks)
    return duals


def test_save_then_restore_into_a_fresh_object_gives_identical_lambda_and_step(tmp_path):
    config = FGRPOConfig.from_dict({"dual_lr": 0.3})
    duals = _trained_duals(config)
    assert duals.lambdas != config.active_lambda_init()
    folder = tmp_path / "global_step_12"
    path = save_dual_state(folder, duals, config, 12)

    assert path == folder / DUAL_STATE_FILE
    assert sorted(p.name for p in folder.iterdir()) == [DUAL_STATE_FILE]  # no temporary file left
    payload = json.loads(path.read_text())
    assert payload["global_step"] == 12 and payload["config"] == config_fingerprint(config)

    fresh = build_duals(config)
    assert restore_dual_state(folder, fresh, config, 12) is True
    assert fresh.lambdas == duals.lambdas
    assert fresh.step == duals.step == 3


def test_a_checkpoint_without_dual_state_is_an_error_that_names_the_flag(tmp_path):
    config = FGRPOConfig.from_dict({})
    (tmp_path / "global_step_4").mkdir()
    with pytest.raises(DualStateError, match="reinit_duals_on_resume=true") as err:
        restore_dual_state(tmp_path / "global_step_4", build_duals(config), config, 4)
    assert DUAL_STATE_FILE in str(err.value)


def test_reinit_flag_resumes_without_dual_state_at_lambda_init(tmp_path, caplog):
    config = FGRPOConfig.from_dict({"reinit_duals_on_resume": True, "lambda_init": 2.0})
    duals = build_duals(config)
    with caplog.at_level(logging.WARNING):
        assert restore_dual_state(tmp_path, duals, config, 4) is False
    assert duals.lambdas == dict.fromkeys(config.constraints, 2.0) and duals.step == 0
    assert "reinit_duals_on_resume=true" in caplog.text


def test_a_different_constraint_set_is_an_error_unless_reinit(tmp_path, caplog):
    saved_config = FGRPOConfig.from_dict({"dual_lr": 0.3})
    save_dual_state(tmp_path, _trained_duals(saved_config), saved_config, 9)

    narrower = FGRPOConfig.from_dict({"constraints": ["consistency"]})
    with pytest.raises(DualStateError, match=r"fgrpo.constraints is \['consistency'\]"):
        restore_dual_state(tmp_path, build_duals(narrower), narrower, 9)

    reinit = FGRPOConfig.from_dict({"constraints": ["consistency"], "reinit_duals_on_resume": True})
    duals = build_duals(reinit)
    with caplog.at_level(logging.WARNING):
        assert restore_dual_state(tmp_path, duals, reinit, 9) is False
    assert duals.lambdas == {"consistency": 1.0}
    assert "holds λ for constraints" in caplog.text


def test_modes_without_lambda_neither_need_nor_read_the_file(tmp_path):
    config = FGRPOConfig.from_dict({"mode": "grpo_t"})
    duals = build_duals(config)
    assert restore_dual_state(tmp_path / "global_step_3", duals, config, 3) is False
    assert duals.lambdas == config.active_lambda_init()


def test_a_file_from_another_step_is_rejected(tmp_path):
    config = FGRPOConfig.from_dict({})
    save_dual_state(tmp_path, build_duals(config), config, 5)
    with pytest.raises(DualStateError, match="saved at global step 5 .* step 6"):
        restore_dual_state(tmp_path, build_duals(config), config, 6)


def test_an_unreadable_file_names_the_file(tmp_path):
    config = FGRPOConfig.from_dict({})
    (tmp_path / DUAL_STATE_FILE).write_text("{not json")
    with pytest.raises(DualStateError, match=DUAL_STATE_FILE):
        restore_dual_state(tmp_path, build_duals(config), config, 1)
    (tmp_path / DUAL_STATE_FILE).write_text(json.dumps({"format_version": 99}))
    with pytest.raises(DualStateError, match="format_version"):
        restore_dual_state(tmp_path, build_duals(config), config, 1)


def test_changed_settings_are_restored_from_the_file_and_reported(tmp_path, caplog):
    saved = FGRPOConfig.from_dict({"dual_lr": 0.3, "thresholds": {"consistency": 0.9}})
    duals = _trained_duals(saved)
    save_dual_state(tmp_path, duals, saved, 2)
    changed = FGRPOConfig.from_dict({"dual_lr": 0.1})
    fresh = build_duals(changed)
    with caplog.at_level(logging.WARNING):
        assert restore_dual_state(tmp_path, fresh, changed, 2) is True
    assert fresh.lambdas == duals.lambdas and fresh.lr == 0.3
    assert "dual_lr" in caplog.text and "thresholds" in caplog.text
