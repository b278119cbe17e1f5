"""Both launch commands, run for real in subprocesses from an empty folder (the installed package only).

* ``--cfg job`` composes and prints the config without GPUs, with the FGRPO block and the overrides.
* Without a usable GPU, training stops before Ray starts, with one message and no stack trace;
  without a judge too, both problems come in that one message.
  ``CUDA_VISIBLE_DEVICES=""`` hides any GPU so this holds on GPU machines too; ``RAY_TMPDIR``
  hides a ``ray start`` cluster of this machine.

The four commands run concurrently (each imports verl, which takes most of their time).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GUARD_START = "fgrpo: cannot start training: found no usable CUDA GPU"

COMMANDS = {
    "cfg_main_ppo": [
        "-m",
        "verl.trainer.main_ppo",
        "+recipe=fgrpo",
        "fgrpo.dual_lr=0.2",
        "actor_rollout_ref.rollout.n=8",
        "--cfg",
        "job",
    ],
    "cfg_main_fgrpo": [
        "-m",
        "recipe.fgrpo.main_fgrpo",
        "recipe=fgrpo_fixed_lambda",
        "fgrpo.dual_lr=0.2",
        "--cfg",
        "job",
    ],
    "guard_main_ppo": ["-m", "verl.trainer.main_ppo", "+recipe=fgrpo", "fgrpo.judge.backend=rule"],
    "guard_main_fgrpo": ["-m", "recipe.fgrpo.main_fgrpo", "fgrpo.judge.backend=rule"],
    "no_judge_main_ppo": ["-m", "verl.trainer.main_ppo", "+recipe=fgrpo"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("launch")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HYDRA_FULL_ERROR", "FGRPO_SKIP_GPU_CHECK")}
    env.update(CUDA_VISIBLE_DEVICES="", RAY_TMPDIR=str(workdir))
    procs = {
        name: subprocess.Popen(
            [sys.executable, *args], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, args in COMMANDS.items()
    }
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        results[name] = (proc.returncode, stdout, stderr)
    return results


@pytest.mark.parametrize(
    ("name", "mode", "rollout_n"), [("cfg_main_ppo", "fgrpo", 8), ("cfg_main_fgrpo", "fixed_lambda", 5)]
)
def test_cfg_job_prints_the_composed_config_with_fgrpo_block_and_overrides(runs, name, mode, rollout_n):
    returncode, stdout, stderr = runs[name]
    assert returncode == 0, stderr[-3000:]
    config = yaml.safe_load(stdout)
    assert config["fgrpo"]["mode"] == mode and config["fgrpo"]["dual_lr"] == 0.2
    assert config["fgrpo"]["thresholds"] == {"consistency": 0.95, "semantic_grounding": 0.95, "spatial_grounding": 0.7}
    assert config["actor_rollout_ref"]["rollout"]["n"] == rollout_n
    assert config["actor_rollout_ref"]["actor"]["clip_ratio_high"] == 0.28
    assert config["trainer"]["v1"]["trainer_mode"] == "sync"
    # The paper's settings, on the keys verl reads.
    assert config["trainer"]["total_epochs"] == 3
    assert config["data"]["max_prompt_length"] == 8192
    assert config["actor_rollout_ref"]["actor"]["optim"]["clip_grad"] == 1.0
    assert config["actor_rollout_ref"]["actor"]["freeze_vision_tower"] is True
    assert GUARD_START not in stdout + stderr


@pytest.mark.parametrize("name", ["guard_main_ppo", "guard_main_fgrpo"])
def test_without_a_gpu_training_stops_before_ray_with_one_message(runs, name):
    returncode, stdout, stderr = runs[name]
    output = stdout + stderr
    assert returncode == 1
    messages = [line for line in output.splitlines() if line.startswith("fgrpo: ")]
    assert len(messages) == 1 and messages[0].startswith(GUARD_START), output[-3000:]
    assert "fgrpo-verl demo" in messages[0] and "trainer.n_gpus_per_node=8" in messages[0]
    assert "Traceback" not in output
    assert "ray init kwargs" not in output and "Started a local Ray instance" not in output


def test_without_a_judge_and_a_gpu_both_problems_come_in_one_message(runs):
    returncode, stdout, stderr = runs["no_judge_main_ppo"]
    output = stdout + stderr
    assert returncode == 1 and "Traceback" not in output
    messages = [line for line in output.splitlines() if line.startswith("fgrpo: ")]
    assert messages == ["fgrpo: cannot start training, 2 problems:"], output[-3000:]
    assert "  1. cannot start training: found no usable CUDA GPU" in output
    assert "  2. fgrpo.mode=fgrpo needs a judge" in output and "fgrpo.judge.backend=rule" in output


def test_recipe_is_our_regular_package_despite_transfer_queues_namespace_folder(tmp_path):
    """TransferQueue installs site-packages/recipe/simple_use_case (a namespace folder); our recipe/
    has an __init__.py, and a regular package wins over namespace portions wherever it sits on sys.path."""
    import transfer_queue

    site_recipe = Path(transfer_queue.__file__).parents[1] / "recipe"
    script = "import recipe, recipe.fgrpo.main_fgrpo as m; print(recipe.__file__); print(m.__file__)"
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    package, main = proc.stdout.split()
    assert Path(package) == REPO / "recipe" / "__init__.py"
    assert Path(main) == REPO / "recipe" / "fgrpo" / "main_fgrpo.py"
    if site_recipe.is_dir():  # the shadowing situation really exists in this environment
        assert not (site_recipe / "__init__.py").exists()
