"""fgrpo_verl.dual_state: the dual state file of a checkpoint, and every way a resume can go wrong."""

from __future__ import annotations

import json
import logging
import re

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
    assert "lr saved 0.3 (config 0.1)" in caplog.text and "thresholds" in caplog.text


def test_changed_advantage_settings_outside_the_dual_state_are_reported(tmp_path, caplog):
    saved = FGRPOConfig.from_dict({"w_acc": 0.7})
    save_dual_state(tmp_path, _trained_duals(saved), saved, 2)
    current = FGRPOConfig.from_dict({})
    with caplog.at_level(logging.WARNING):
        assert restore_dual_state(tmp_path, build_duals(current), current, 2) is True
    assert "changed settings ['w_acc']" in caplog.text
    # The fingerprint holds only what the dual state does not.
    assert set(config_fingerprint(current)).isdisjoint(build_duals(current).state_dict())


def test_a_tampered_lambda_max_cannot_lift_lambda_above_the_configured_bound(tmp_path, caplog):
    config = FGRPOConfig.from_dict({"lambda_max": 5.0})
    path = save_dual_state(tmp_path, _trained_duals(config), config, 3)
    payload = json.loads(path.read_text())
    payload["duals"]["lambda_max"] = 1e9
    payload["duals"]["lambdas"]["consistency"] = 4e8
    path.write_text(json.dumps(payload))
    duals = build_duals(config)
    with caplog.at_level(logging.WARNING):
        assert restore_dual_state(tmp_path, duals, config, 3) is True
    assert duals.lambdas["consistency"] == 5.0 and duals.lambda_max == 5.0
    assert "400000000.0" in caplog.text and "lambda_max = 5.0" in caplog.text


def _valid_payload(config: FGRPOConfig, step: int = 7) -> dict:
    return {
        "format_version": 1,
        "global_step": step,
        "config": config_fingerprint(config),
        "duals": _trained_duals(config).state_dict(),
    }


def _edited(edit):
    def write(path, config):
        payload = _valid_payload(config)
        edit(payload)
        path.write_text(json.dumps(payload), encoding="utf-8")

    return write


def _raw(data: bytes):
    def write(path, config):
        path.write_bytes(data)

    return write


def _lambda_as_json_text(number: str):
    """Write λ_consistency as raw JSON text: a digit run too long for a float cannot come from json.dumps."""

    def write(path, config):
        text = json.dumps(_valid_payload(config))
        start = text.index('"lambdas"')
        edited = re.sub(r'"consistency": [0-9.e+-]+', f'"consistency": {number}', text[start:], count=1)
        path.write_text(text[:start] + edited, encoding="utf-8")

    return write


def _truncated(path, config):
    text = json.dumps(_valid_payload(config))
    path.write_text(text[: len(text) // 2], encoding="utf-8")


def _bad_utf8(path, config):
    path.write_bytes(json.dumps(_valid_payload(config)).encode()[:40] + b"\xff\xfe" + b"}")


HOSTILE_FILES = [
    # (what is wrong, how to write it, the field/problem the message must name)
    ("empty file", _raw(b""), "not JSON"),
    ("truncated JSON", _truncated, "not JSON"),
    ("not UTF-8", _bad_utf8, "not UTF-8"),
    ("deeply nested", _raw(b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
    ("a JSON list", _raw(b"[1, 2, 3]"), "expected a JSON object, got list"),
    ("a JSON string", _raw(b'"fgrpo"'), "expected a JSON object, got str"),
    ("no format_version", _edited(lambda p: p.pop("format_version")), "format_version must be 1"),
    ("no global_step", _edited(lambda p: p.pop("global_step")), "'global_step' is missing"),
    (
        "global_step as text",
        _edited(lambda p: p.update(global_step="7")),
        "global_step must be an integer >= 0, got '7'",
    ),
    ("global_step a float", _edited(lambda p: p.update(global_step=7.5)), "global_step must be an integer"),
    ("global_step true", _edited(lambda p: p.update(global_step=True)), "global_step must be an integer"),
    ("duals a list", _edited(lambda p: p.update(duals=[])), "duals must be a JSON object, got []"),
    ("config null", _edited(lambda p: p.update(config=None)), "config must be a JSON object"),
    ("duals without step", _edited(lambda p: p["duals"].pop("step")), "duals.step is missing"),
    ("step as text", _edited(lambda p: p["duals"].update(step="5")), "duals.step must be an integer >= 0, got '5'"),
    (
        "lambda as text",
        _edited(lambda p: p["duals"]["lambdas"].update(consistency="1.0")),
        "duals.lambdas['consistency'] must be a finite number",
    ),
    (
        "lambda NaN",
        _edited(lambda p: p["duals"]["lambdas"].update(consistency=float("nan"))),
        "duals.lambdas['consistency'] must be a finite number",
    ),
    (
        "lambda negative",
        _edited(lambda p: p["duals"]["lambdas"].update(consistency=-0.5)),
        "duals.lambdas['consistency'] must be a finite number >= 0",
    ),
    (
        "lambdas a list",
        _edited(lambda p: p["duals"].update(lambdas=[1.0, 1.0, 1.0])),
        "duals.lambdas must map exactly the constraints",
    ),
    (
        "constraints a string",
        _edited(lambda p: p["duals"].update(constraints="consistency")),
        "duals.constraints must be a list of constraint names",
    ),
    (
        "constraints of numbers",
        _edited(lambda p: p["duals"].update(constraints=[1, 2, 3])),
        "duals.constraints must be a list of constraint names",
    ),
    ("lr infinite", _edited(lambda p: p["duals"].update(lr=float("inf"))), "duals.lr must be a finite number >= 0"),
    (
        "lambda an int too large for a float",
        _lambda_as_json_text("1" + "0" * 400),
        "duals.lambdas['consistency'] must be a finite number",
    ),
    (
        "min_applicable 0",
        _edited(lambda p: p["duals"].update(min_applicable=0)),
        "duals.min_applicable must be an integer >= 1",
    ),
    (
        "thresholds null",
        _edited(lambda p: p["duals"].update(thresholds=None)),
        "duals.thresholds must map exactly the constraints",
    ),
]


@pytest.mark.parametrize(("case", "write", "message"), HOSTILE_FILES, ids=[case[0] for case in HOSTILE_FILES])
def test_every_malformed_file_is_a_dual_state_error_naming_file_and_field(tmp_path, case, write, message):
    config = FGRPOConfig.from_dict({"dual_lr": 0.3})
    write(tmp_path / DUAL_STATE_FILE, config)
    duals = build_duals(config)
    before = duals.state_dict()
    with pytest.raises(DualStateError) as err:
        restore_dual_state(tmp_path, duals, config, 7)
    text = str(err.value)
    assert str(tmp_path / DUAL_STATE_FILE) in text and message in text, text
    assert "\n" not in text  # one line
    assert duals.state_dict() == before  # nothing half-restored


def test_the_hostile_file_table_starts_from_a_file_that_restores(tmp_path):
    config = FGRPOConfig.from_dict({"dual_lr": 0.3})
    _edited(lambda payload: None)(tmp_path / DUAL_STATE_FILE, config)
    assert restore_dual_state(tmp_path, build_duals(config), config, 7) is True


def test_an_unreadable_path_is_a_dual_state_error(tmp_path):
    config = FGRPOConfig.from_dict({})
    (tmp_path / DUAL_STATE_FILE).mkdir()  # a folder where the file should be
    with pytest.raises(DualStateError, match="cannot read the FGRPO dual state"):
        restore_dual_state(tmp_path, build_duals(config), config, 1)
