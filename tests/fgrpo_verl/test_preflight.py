"""fgrpo_verl.preflight: config validation, the CPU/GPU guard and the trainer-selection check.

The machine's GPUs are simulated by patching ``torch.cuda`` (a third-party probe), so the guard's
decisions are pinned on CPU and GPU machines alike; Ray's address file is isolated with RAY_TMPDIR.
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from fgrpo_verl.config import ConfigError, FGRPOConfig
from fgrpo_verl.preflight import (
    SKIP_GPU_CHECK_ENV,
    gpu_shortfall,
    joins_existing_ray_cluster,
    preflight,
)
from tests.support.recipe_config import recipe_config

#: The offline judge, named explicitly: without a judge, start-up refuses the run (tests/recipe/test_judge_startup.py).
RULE_JUDGE = {"fgrpo.judge.backend": "rule"}


def _trainer_config(**trainer):
    return OmegaConf.create({"trainer": {"nnodes": 1, "n_gpus_per_node": 8, **trainer}})


@pytest.fixture
def local_machine(monkeypatch, tmp_path):
    """No Ray cluster to join: no RAY_ADDRESS, no `ray start` address file, no skip flag."""
    for name in ("RAY_ADDRESS", "RAY_JOB_CONFIG_JSON_ENV_VAR", SKIP_GPU_CHECK_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    return tmp_path


def _gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_no_gpu_message_says_what_was_found_what_is_needed_and_where_to_go():
    message = gpu_shortfall(_trainer_config(), device="cuda", cuda_available=False, device_count=0, torch_cuda=None)
    assert "no usable CUDA GPU" in message and "CPU-only build" in message
    assert "trainer.n_gpus_per_node=8" in message and "1 node(s) x 8 CUDA GPU(s)" in message
    assert "fgrpo-verl demo" in message and "--cfg job" in message
    assert "\n" not in message


def test_too_few_gpus_suggest_the_setting_that_fits():
    message = gpu_shortfall(_trainer_config(), device="cuda", cuda_available=True, device_count=2, torch_cuda="12.8")
    assert "only 2 visible CUDA GPU(s)" in message and "set trainer.n_gpus_per_node=2" in message


def test_enough_gpus_or_another_device_pass():
    assert (
        gpu_shortfall(_trainer_config(), device="cuda", cuda_available=True, device_count=8, torch_cuda="12.8") is None
    )
    assert gpu_shortfall(_trainer_config(), device="npu", cuda_available=False, device_count=0, torch_cuda=None) is None


def test_several_nodes_need_a_cluster_to_join():
    message = gpu_shortfall(
        _trainer_config(nnodes=2), device="cuda", cuda_available=True, device_count=8, torch_cuda="12.8"
    )
    assert "no running Ray cluster to join" in message


def test_joining_a_cluster_is_recognised_like_ray_does(local_machine, monkeypatch):
    assert joins_existing_ray_cluster(OmegaConf.create({})) is False
    assert joins_existing_ray_cluster(OmegaConf.create({"ray_kwargs": {"ray_init": {"address": "auto"}}})) is True
    (local_machine / "ray").mkdir()
    (local_machine / "ray" / "ray_current_cluster").write_text("10.0.0.1:6379")  # left by `ray start`
    assert joins_existing_ray_cluster(OmegaConf.create({})) is True
    assert joins_existing_ray_cluster(OmegaConf.create({"ray_kwargs": {"ray_init": {"address": "local"}}})) is False
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    assert joins_existing_ray_cluster(OmegaConf.create({"ray_kwargs": {"ray_init": {"address": "local"}}})) is True


@pytest.mark.parametrize(
    ("updates", "key"),
    [
        ({"trainer.v1.trainer_mode": "colocate_async"}, "trainer.v1.trainer_mode=colocate_async"),
        ({"trainer.use_v1": False}, "trainer.use_v1=false"),
        ({"algorithm.use_kl_in_reward": True}, "algorithm.use_kl_in_reward=true"),
        ({"algorithm.adv_estimator": "gae", "critic.enable": None}, "algorithm.adv_estimator=grpo"),
        ({"algorithm.rollout_correction.rollout_is": "token"}, "algorithm.rollout_correction.rollout_is"),
        ({"reward.reward_model.enable": True}, "enable_resource_pool=false"),
        ({"fgrpo.judge.api_key": "sk-secret"}, "fgrpo.judge.api_key is not accepted"),
    ],
)
def test_settings_fgrpo_cannot_honour_are_config_errors_naming_the_key(updates, key):
    with pytest.raises(ConfigError) as err:
        FGRPOConfig.from_verl(recipe_config(updates))
    assert key in str(err.value)


def test_config_errors_come_before_the_gpu_check(local_machine, monkeypatch):
    _gpus(monkeypatch, 0)
    with pytest.raises(SystemExit) as err:
        preflight(recipe_config({"fgrpo.mode": "bogus"}))
    assert str(err.value).startswith("fgrpo: invalid config: fgrpo.mode must be one of")


def test_verl_validation_runs_too(local_machine, monkeypatch):
    _gpus(monkeypatch, 8)
    with pytest.raises(SystemExit, match="fgrpo: invalid config: .*divisible"):
        preflight(recipe_config({"data.train_batch_size": 3, "actor_rollout_ref.actor.use_dynamic_bsz": False}))


def test_without_gpus_the_run_stops_with_the_guard_message(local_machine, monkeypatch):
    _gpus(monkeypatch, 0)
    with pytest.raises(SystemExit) as err:
        preflight(recipe_config(RULE_JUDGE))
    assert str(err.value).startswith("fgrpo: cannot start training: found no usable CUDA GPU")


def test_with_gpus_or_the_skip_flag_the_run_proceeds(local_machine, monkeypatch):
    _gpus(monkeypatch, 8)
    assert preflight(recipe_config(RULE_JUDGE)).mode == "fgrpo"
    _gpus(monkeypatch, 0)
    monkeypatch.setenv(SKIP_GPU_CHECK_ENV, "1")
    assert preflight(recipe_config(RULE_JUDGE)).mode == "fgrpo"


def test_a_registry_without_the_fgrpo_trainer_stops_the_run(local_machine, monkeypatch):
    from verl.trainer.ppo.v1 import PPOTrainerSync, trainer_base

    _gpus(monkeypatch, 8)
    monkeypatch.setitem(trainer_base.TRAINER_REGISTRY, "sync", PPOTrainerSync)  # as if the plugin were not loaded
    with pytest.raises(SystemExit, match="entry point `fgrpo` of fgrpo-verl is not active"):
        preflight(recipe_config(RULE_JUDGE))
