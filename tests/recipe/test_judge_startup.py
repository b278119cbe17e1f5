"""Start-up judge checks of the composed recipe: refuse training without a judge, check live endpoints,
keep the verl-served judge awake, and report judge and GPU problems in one message."""

from __future__ import annotations

import socket

import pytest
import torch

from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.judges import OpenAIJudge, build_judge
from fgrpo_verl.judges.health import SKIP_JUDGE_CHECK_ENV, startup_problems
from fgrpo_verl.preflight import SKIP_GPU_CHECK_ENV, preflight
from tests.support.loopback_server import LoopbackJudgeServer
from tests.support.recipe_config import compose_recipe, recipe_config


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A local machine with 8 GPUs (as far as torch says), no Ray cluster to join, no skip flags."""
    for name in ("RAY_ADDRESS", "RAY_JOB_CONFIG_JSON_ENV_VAR", SKIP_GPU_CHECK_ENV, SKIP_JUDGE_CHECK_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    gpus(monkeypatch, 8)


def gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def test_training_without_a_judge_is_refused_naming_the_keys(machine) -> None:
    with pytest.raises(SystemExit) as err:
        preflight(recipe_config())
    message = str(err.value)
    assert message.startswith("fgrpo: fgrpo.mode=fgrpo needs a judge for consistency, semantic_grounding")
    assert "fgrpo.judge.urls" in message and "fgrpo.judge.backend=rule" in message and "\n" not in message


@pytest.mark.parametrize(
    "updates",
    [{"fgrpo.judge.backend": "rule"}, {"fgrpo.mode": "grpo_t"}, {"fgrpo.constraints": ["spatial_grounding"]}],
)
def test_the_offline_judge_on_purpose_or_a_mode_without_a_judge_starts(machine, updates) -> None:
    assert preflight(recipe_config(updates)).judge.backend in ("rule", "auto")


def test_judge_and_gpu_problems_come_in_one_message(machine, monkeypatch) -> None:
    gpus(monkeypatch, 0)
    with pytest.raises(SystemExit) as err:
        preflight(recipe_config())
    lines = str(err.value).splitlines()
    assert lines[0] == "fgrpo: cannot start training, 2 problems:"
    assert lines[1].startswith("  1. cannot start training: found no usable CUDA GPU")
    assert lines[2].startswith("  2. fgrpo.mode=fgrpo needs a judge") and len(lines) == 3


def test_a_live_judge_passes_and_a_dead_one_is_named(machine, monkeypatch) -> None:
    with LoopbackJudgeServer(model="judge-7b", strict_model=True) as server:
        good = {"fgrpo.judge.urls": [server.url], "fgrpo.judge.model": "judge-7b"}
        assert preflight(recipe_config(good)).judge.resolved_backend == "openai"
        dead = _dead_url()
        with pytest.raises(SystemExit) as err:
            preflight(recipe_config({**good, "fgrpo.judge.urls": [server.url, dead]}))
        message = str(err.value)
        assert message.startswith(f"fgrpo: judge {dead}: unreachable") and "\n" not in message
        assert server.url not in message
        with pytest.raises(SystemExit, match="does not serve model 'judge-70b'; it serves: judge-7b"):
            preflight(recipe_config({**good, "fgrpo.judge.model": "judge-70b"}))
    monkeypatch.setenv(SKIP_JUDGE_CHECK_ENV, "1")
    assert preflight(recipe_config({**good, "fgrpo.judge.urls": [dead]})).judge.urls == (dead,)


def test_the_served_judge_recipe_stays_awake_and_shares_its_capacity() -> None:
    config = compose_recipe(recipe="fgrpo_served_judge")
    rollout = config.reward.reward_model.rollout
    assert rollout.free_cache_engine is False and rollout.max_num_seqs == 256
    fgrpo = FGRPOConfig.from_dict(config.fgrpo)
    assert startup_problems(config, fgrpo) == []
    judge = build_judge(fgrpo.judge, router_address="127.0.0.1:1", num_workers=config.reward.num_workers)
    assert isinstance(judge, OpenAIJudge) and judge.max_concurrency == 256 // 8


def test_a_sleeping_served_judge_is_rejected() -> None:
    config = compose_recipe(["reward.reward_model.rollout.free_cache_engine=true"], recipe="fgrpo_served_judge")
    (problem,) = startup_problems(config, FGRPOConfig.from_dict(config.fgrpo))
    assert "reward.reward_model.rollout.free_cache_engine=false" in problem


def test_the_router_backend_without_a_served_judge_is_refused() -> None:
    config = compose_recipe(["fgrpo.judge.backend=router"])
    (problem,) = startup_problems(config, FGRPOConfig.from_dict(config.fgrpo))
    assert "reward.reward_model.enable is false" in problem and "+recipe=fgrpo_served_judge" in problem
