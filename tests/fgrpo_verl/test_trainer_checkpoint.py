"""FGRPOTrainer checkpoints: the dual state goes into global_step_N/ before verl's tracker and comes back on resume.

The trainers are built by their real constructor from the composed recipe config and run verl's
real ``_save_checkpoint``/``_load_checkpoint`` (dataloader state, tracker file, resume rules). Only
the actor worker group, which needs GPUs, is replaced by a stand-in that writes a file as the model
checkpoint and records what the trainer had written when verl asked it to save.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch
from torchdata.stateful_dataloader import StatefulDataLoader

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.dual_state import DUAL_STATE_FILE, DualStateError
from tests.support.recipe_config import recipe_config

pytestmark = pytest.mark.slow

TRACKER = "latest_checkpointed_iteration.txt"


class ActorWorkerGroup:
    """Stand-in for verl's actor worker group (a GPU resource): saves/loads a file as the model."""

    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.dual_file_before_model: bool | None = None
        self.tracker_before_model: str | None = None

    def save_checkpoint(self, local_path, hdfs_path, global_step, max_ckpt_to_keep=None):
        step_dir = Path(local_path).parent
        self.dual_file_before_model = (step_dir / DUAL_STATE_FILE).exists()
        tracker = step_dir.parent / TRACKER
        self.tracker_before_model = tracker.read_text() if tracker.exists() else None
        os.makedirs(local_path, exist_ok=True)
        Path(local_path, "model.pt").write_text(f"weights of step {global_step}")

    def load_checkpoint(self, local_path, del_local_after_load=False):
        self.loaded.append(local_path)


def _trainer(root: Path, **updates):
    from fgrpo_verl.trainer import FGRPOTrainer

    trainer = FGRPOTrainer(
        config=recipe_config({"trainer.default_local_dir": str(root), "fgrpo.dual_lr": 0.4, **updates})
    )
    trainer.actor_rollout_wg = ActorWorkerGroup()
    trainer.train_dataloader = StatefulDataLoader(list(range(20)), batch_size=2)
    return trainer


def _train_duals(trainer, steps: int) -> None:
    rng = random.Random(0)
    for _ in range(steps):
        scores = {k: torch.tensor([rng.random() * 0.6 for _ in range(16)]) for k in trainer.fgrpo.constraints}
        trainer.duals.update(scores, {k: torch.ones(16) for k in trainer.fgrpo.constraints})


@pytest.fixture
def saved(tmp_path):
    """A run checkpointed at global step 6 after 4 dual updates."""
    trainer = _trainer(tmp_path)
    _train_duals(trainer, 4)
    trainer.global_steps = 6
    trainer._save_checkpoint()
    return tmp_path, trainer


def test_dual_state_is_written_into_the_step_folder_before_the_tracker(saved):
    root, trainer = saved
    assert trainer.actor_rollout_wg.dual_file_before_model is True
    assert trainer.actor_rollout_wg.tracker_before_model is None
    assert (root / "global_step_6" / DUAL_STATE_FILE).is_file()
    assert (root / "global_step_6" / "data.pt").is_file()
    assert (root / TRACKER).read_text() == "6"


def test_auto_resume_restores_lambda_and_dual_step_exactly(saved):
    root, before = saved
    fresh = _trainer(root)
    assert fresh.duals.lambdas == fresh.fgrpo.active_lambda_init()
    fresh._load_checkpoint()
    assert fresh.global_steps == 6
    assert fresh.actor_rollout_wg.loaded == [str(root / "global_step_6" / "actor")]
    assert fresh.duals.lambdas == before.duals.lambdas != fresh.fgrpo.active_lambda_init()
    assert fresh.duals.step == before.duals.step == 4


def test_resume_path_restores_the_named_checkpoint(saved):
    root, before = saved
    fresh = _trainer(
        root / "elsewhere",
        **{"trainer.resume_mode": "resume_path", "trainer.resume_from_path": str(root / "global_step_6")},
    )
    fresh._load_checkpoint()
    assert fresh.global_steps == 6 and fresh.duals.lambdas == before.duals.lambdas


def test_a_checkpoint_without_dual_state_fails_before_the_model_is_loaded(saved):
    root, _ = saved
    (root / "global_step_6" / DUAL_STATE_FILE).unlink()
    fresh = _trainer(root)
    with pytest.raises(DualStateError, match="reinit_duals_on_resume"):
        fresh._load_checkpoint()
    assert fresh.actor_rollout_wg.loaded == []


def test_a_different_constraint_set_fails_unless_reinit(saved):
    root, _ = saved
    narrower = _trainer(root, **{"fgrpo.constraints": ["consistency"]})
    with pytest.raises(DualStateError, match="fgrpo.constraints is \\['consistency'\\]"):
        narrower._load_checkpoint()

    reinit = _trainer(root, **{"fgrpo.constraints": ["consistency"], "fgrpo.reinit_duals_on_resume": True})
    reinit._load_checkpoint()
    assert reinit.global_steps == 6
    assert reinit.duals.lambdas == {"consistency": 1.0} and reinit.duals.step == 0


def test_starting_fresh_reads_no_dual_state(tmp_path):
    trainer = _trainer(tmp_path)
    trainer._load_checkpoint()
    assert trainer.global_steps == 0 and trainer.duals.step == 0
    assert set(trainer.duals.lambdas) == set(CONSTRAINTS)
