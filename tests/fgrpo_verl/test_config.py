"""The ``fgrpo`` config block: paper defaults, and start-up errors that name the offending key."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.config import ConfigError, FGRPOConfig, ImageConfig, JudgeConfig, SentenceConfig
from fgrpo_verl.duals import DualAscent
from fgrpo_verl.modes import MODE_TABLE


def test_defaults_are_the_papers_values():
    cfg = FGRPOConfig.from_dict({})
    assert cfg == FGRPOConfig() == FGRPOConfig.from_dict(None)
    assert cfg.mode == "fgrpo"
    assert cfg.constraints == ("consistency", "semantic_grounding", "spatial_grounding")
    assert cfg.thresholds == {"consistency": 0.95, "semantic_grounding": 0.95, "spatial_grounding": 0.7}
    assert (cfg.dual_lr, cfg.lambda_max, cfg.min_applicable, cfg.eps) == (0.05, 5.0, 8, 1e-6)
    assert cfg.lambda_init == dict.fromkeys(CONSTRAINTS, 1.0)
    assert (cfg.w_acc, cfg.w_format, cfg.whiten, cfg.reinit_duals_on_resume) == (0.5, 0.5, True, False)
    assert cfg.updates_duals and cfg.uses_constraints


def test_an_omegaconf_node_is_accepted():
    node = OmegaConf.create(
        {"mode": "fixed_lambda", "constraints": ["consistency"], "thresholds": {"consistency": 0.9}}
    )
    cfg = FGRPOConfig.from_dict(node)
    assert cfg.mode == "fixed_lambda" and cfg.constraints == ("consistency",)
    assert cfg.active_thresholds() == {"consistency": 0.9}
    assert not cfg.updates_duals and cfg.uses_constraints


def test_per_constraint_values_merge_with_the_defaults():
    cfg = FGRPOConfig.from_dict({"thresholds": {"spatial_grounding": 0.5}, "lambda_init": 2.0})
    assert cfg.thresholds == {"consistency": 0.95, "semantic_grounding": 0.95, "spatial_grounding": 0.5}
    assert cfg.lambda_init == dict.fromkeys(CONSTRAINTS, 2.0)


@pytest.mark.parametrize("mode", list(MODE_TABLE))
def test_every_mode_parses(mode):
    assert FGRPOConfig.from_dict({"mode": mode}).mode == mode


def test_active_settings_cover_exactly_the_enabled_constraints_and_build_the_duals():
    cfg = FGRPOConfig.from_dict(
        {"constraints": ["spatial_grounding", "consistency"], "lambda_init": {"consistency": 0.3}}
    )
    duals = DualAscent(
        cfg.active_thresholds(), cfg.dual_lr, cfg.lambda_max, cfg.active_lambda_init(), cfg.min_applicable
    )
    assert duals.lambdas == {"spatial_grounding": 1.0, "consistency": 0.3}
    assert duals.thresholds == {"spatial_grounding": 0.7, "consistency": 0.95}


def test_no_constraints_is_allowed_for_a_mode_that_reads_none():
    assert FGRPOConfig.from_dict({"mode": "grpo_t", "constraints": []}).active_thresholds() == {}


@pytest.mark.parametrize(
    ("mode", "constraints"),
    [
        ("fgrpo", []),
        ("fixed_lambda", []),
        ("additive", []),
        # The coupled modes read C and G only: semantic grounding alone leaves them nothing.
        ("multiplicative", ["semantic_grounding"]),
    ],
)
def test_a_mode_that_reads_constraints_refuses_none_and_points_to_grpo_t(mode, constraints):
    with pytest.raises(ConfigError) as err:
        FGRPOConfig.from_dict({"mode": mode, "constraints": constraints})
    message = str(err.value)
    assert f"fgrpo.constraints={constraints}" in message and f"fgrpo.mode={mode}" in message
    assert "fgrpo.mode=grpo_t" in message


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"mode": "ppo"}, "fgrpo.mode"),
        ({"constraints": ["faithfulness"]}, "fgrpo.constraints"),
        ({"constraints": ["consistency", "consistency"]}, "fgrpo.constraints"),
        ({"thresholds": {"consistency": 1.5}}, "fgrpo.thresholds.consistency"),
        ({"thresholds": {"spatial_grounding": -0.1}}, "fgrpo.thresholds.spatial_grounding"),
        ({"thresholds": {"faithfulness": 0.9}}, "fgrpo.thresholds"),
        ({"thresholds": "high"}, "fgrpo.thresholds.consistency"),
        ({"dual_lr": -0.01}, "fgrpo.dual_lr"),
        ({"dual_lr": float("nan")}, "fgrpo.dual_lr"),
        ({"dual_lr": True}, "fgrpo.dual_lr"),
        ({"lambda_max": -1.0}, "fgrpo.lambda_max"),
        ({"lambda_max": 1e308, "lambda_init": 1e308}, r"fgrpo.lambda_max must be a finite number in [0, 1000]"),
        ({"lambda_init": 6.0}, "fgrpo.lambda_init.consistency"),
        ({"lambda_init": {"semantic_grounding": -1.0}}, "fgrpo.lambda_init.semantic_grounding"),
        ({"min_applicable": 0}, "fgrpo.min_applicable"),
        ({"min_applicable": 2.5}, "fgrpo.min_applicable"),
        ({"eps": 0.0}, "fgrpo.eps"),
        ({"eps": "small"}, "fgrpo.eps"),
        ({"whiten": "yes"}, "fgrpo.whiten"),
        ({"w_acc": -0.5}, "fgrpo.w_acc"),
        ({"w_format": None}, "fgrpo.w_format"),
        ({"reinit_duals_on_resume": 1}, "fgrpo.reinit_duals_on_resume"),
        ({"lamda_max": 5.0}, "fgrpo.lamda_max"),
        ({"judge": {"backend": "gpt"}}, "fgrpo.judge.backend"),
        ({"judge": {"backend": "openai"}}, "fgrpo.judge.urls"),
        ({"judge": {"urls": ["localhost:8000"]}}, "fgrpo.judge.urls"),
        ({"judge": {"api_key": "sk-secret"}}, "fgrpo.judge.api_key"),
        ({"judge": {"timeout_s": 0}}, "fgrpo.judge.timeout_s"),
        ({"judge": {"max_concurrency": 0}}, "fgrpo.judge.max_concurrency"),
        ({"judge": {"max_retries": 1.5}}, "fgrpo.judge.max_retries"),
        ({"judge": {"temperature": -1}}, "fgrpo.judge.temperature"),
        ({"judge": {"url": "http://x"}}, "fgrpo.judge.url"),
        ({"image": {"min_pixels": 10, "max_pixels": 5}}, "fgrpo.image.min_pixels"),
        ({"image": {"factor": 0}}, "fgrpo.image.factor"),
        ({"sentences": {"visual_words": "red"}}, "fgrpo.sentences.visual_words"),
        ({"sentences": {"trivial_prefixes": ["let me", 3]}}, "fgrpo.sentences.trivial_prefixes"),
        # A block or list of the wrong type (fgrpo.constraints=5 on the command line, image: 5 in a YAML)
        ({"constraints": 5}, "fgrpo.constraints must be a list"),
        ({"constraints": True}, "fgrpo.constraints must be a list"),
        ({"judge": "x"}, "fgrpo.judge must be a mapping"),
        ({"judge": ["http://h/v1"]}, "fgrpo.judge must be a mapping"),
        ({"image": 5}, "fgrpo.image must be a mapping"),
        ({"sentences": "x"}, "fgrpo.sentences must be a mapping"),
        (5, "fgrpo must be a mapping"),
    ],
)
def test_every_validation_error_names_its_key(raw, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        FGRPOConfig.from_dict(raw)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_the_api_key_is_never_stored_only_read_from_the_named_variable(monkeypatch):
    cfg = JudgeConfig.from_dict({"api_key_env": "MY_JUDGE_KEY", "urls": "http://judge:8000/v1"})
    assert cfg.urls == ("http://judge:8000/v1",) and cfg.resolved_backend == "openai"
    monkeypatch.delenv("MY_JUDGE_KEY", raising=False)
    assert cfg.api_key() is None
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test")
    assert cfg.api_key() == "sk-test"
    assert "sk-test" not in repr(cfg)


def test_judge_backend_auto_resolves_to_rule_without_urls():
    assert JudgeConfig.from_dict({}).resolved_backend == "rule"


def test_integer_valued_floats_are_accepted_for_counts():
    # YAML and CLI overrides write 8.0 for 8; that is not the typo 2.5 is.
    assert FGRPOConfig.from_dict({"min_applicable": 8.0}).min_applicable == 8
    assert isinstance(ImageConfig.from_dict({"factor": 14.0}).factor, int)


def test_sentence_lists_become_tuples():
    cfg = SentenceConfig.from_dict({"visual_words": ["red", "left"]})
    assert cfg.visual_words == ("red", "left") and cfg.trivial_prefixes is None
