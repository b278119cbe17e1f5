"""The runtime judge guard: a run whose judge stops judging stops after ``patience`` steps, with a checkpoint."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.judge_guard import JudgeGuard, JudgeOutage
from fgrpo_verl.judges import OpenAIJudge, RuleJudge
from fgrpo_verl.rollout_scoring import RolloutScorer
from fgrpo_verl.step_stats import channel_tensors

ROW = {
    "extra_info": {
        "index": 0,
        "question": "Is the red circle left of the blue square?",
        "choices": ["yes", "no"],
        "gt_boxes": [],
        "image_sizes": [[64, 64]],
    },
    "reward_model": {"ground_truth": "A"},
    "images": [{"bytes": None, "path": ""}],
}
RESPONSE = "<think>The red circle is left of the blue square. So the answer is (A).</think><answer>A</answer>"


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def _step(scorer: RolloutScorer, rollouts: int = 6) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Score one step's rollouts for real and build the tensors the trainer builds from them."""

    async def score_all():
        return await asyncio.gather(*(scorer.score(RESPONSE, ROW) for _ in range(rollouts)))

    infos = asyncio.run(score_all())
    valid = torch.ones(rollouts, dtype=torch.bool)
    return channel_tensors(infos, valid), valid


def _config(**judge) -> FGRPOConfig:
    return FGRPOConfig.from_dict(
        {"constraints": ["consistency"], "judge": {"backend": "openai", "urls": ["http://x/v1"], **judge}}
    )


def test_a_dead_judge_trips_the_guard_after_patience_steps() -> None:
    config = _config(patience=3)
    judge = OpenAIJudge(_dead_url(), "judge", max_retries=0, cache_size=0)
    scorer = RolloutScorer(config, judge)
    guard = JudgeGuard.from_config(config)
    for step in (1, 2):
        metrics = guard.observe(*_step(scorer), step=step)
        assert metrics == {"fgrpo/judge/failure_rate": 1.0, "fgrpo/judge/unhealthy_steps": float(step)}
        assert guard.tripped is None
    guard.observe(*_step(scorer), step=3)
    assert guard.tripped is not None
    assert guard.tripped.startswith("fgrpo: stopping: the judge failed for 3 consecutive steps")
    assert (
        "step 1: 6 of 6 judge calls failed (100%); no applicable rollout for consistency among 6 correct"
        in guard.tripped
    )
    assert "fgrpo.judge.patience=3" in guard.tripped and "check-judge" in guard.tripped


def test_a_healthy_step_resets_the_count() -> None:
    config = _config(patience=2)
    guard = JudgeGuard.from_config(config)
    dead = RolloutScorer(config, OpenAIJudge(_dead_url(), "judge", max_retries=0, cache_size=0))
    healthy = RolloutScorer(
        FGRPOConfig.from_dict({"constraints": ["consistency"], "judge": {"backend": "rule"}}), RuleJudge()
    )
    guard.observe(*_step(dead), step=1)
    metrics = guard.observe(*_step(healthy), step=2)
    assert metrics == {"fgrpo/judge/failure_rate": 0.0, "fgrpo/judge/unhealthy_steps": 0.0}
    guard.observe(*_step(dead), step=3)
    assert guard.tripped is None


def test_a_judge_that_answers_but_leaves_a_constraint_without_applicable_rollouts_is_unhealthy() -> None:
    # The offline judge on a row without a scene graph SKIPs every sentence: R_S is never applicable.
    config = FGRPOConfig.from_dict({"constraints": ["semantic_grounding"], "judge": {"backend": "rule", "patience": 1}})
    guard = JudgeGuard.from_config(config)
    guard.observe(*_step(RolloutScorer(config, RuleJudge())), step=7)
    assert guard.tripped is not None and "step 7: no applicable rollout for semantic_grounding" in guard.tripped


def test_no_correct_rollout_is_not_a_judge_problem() -> None:
    config = _config(patience=1)
    guard = JudgeGuard.from_config(config)
    channels = {"acc": torch.zeros(4), "consistency_mask": torch.zeros(4),
                "judge_calls": torch.zeros(4), "judge_failures": torch.zeros(4)}  # fmt: skip
    guard.observe(channels, torch.ones(4, dtype=torch.bool), step=1)
    assert guard.tripped is None


def test_the_guard_is_off_with_patience_0_and_in_modes_without_a_judge() -> None:
    assert not JudgeGuard.from_config(_config(patience=0)).active
    assert not JudgeGuard.from_config(FGRPOConfig.from_dict({"mode": "grpo_t"})).active


def _trainer(tmp_path: Path, save_freq: int, step: int = 3):
    saved = []

    def save() -> None:
        folder = tmp_path / f"global_step_{step}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data.pt").write_bytes(b"")
        saved.append(step)

    config = OmegaConf.create({"trainer": {"default_local_dir": str(tmp_path), "save_freq": save_freq}})
    return SimpleNamespace(config=config, global_steps=step, _save_checkpoint=save), saved


@pytest.mark.parametrize(
    ("save_freq", "already_saved", "expect_save"), [(20, False, True), (3, True, False), (0, False, False)]
)
def test_a_tripped_guard_checkpoints_then_stops(tmp_path, save_freq, already_saved, expect_save) -> None:
    trainer, saved = _trainer(tmp_path, save_freq)
    if already_saved:  # verl saved this step itself (save_freq hit): no second save
        trainer._save_checkpoint()
        saved.clear()
    guard = JudgeGuard(judged=("consistency",), patience=1, tripped="fgrpo: stopping: test")
    with pytest.raises(JudgeOutage, match="fgrpo: stopping: test"):
        guard.stop_if_tripped(trainer)
    assert saved == ([3] if expect_save else [])


def test_an_untripped_guard_does_nothing(tmp_path) -> None:
    trainer, saved = _trainer(tmp_path, 20)
    JudgeGuard(judged=("consistency",)).stop_if_tripped(trainer)
    assert saved == []


def test_the_fgrpo_trainer_stops_at_the_end_of_a_tripped_step_before_syncing_weights(tmp_path) -> None:
    from fgrpo_verl.trainer import FGRPOTrainer
    from tests.support.recipe_config import recipe_config

    config = recipe_config({"trainer.default_local_dir": str(tmp_path), "trainer.save_freq": 0})
    trainer = FGRPOTrainer(config=config)
    assert trainer.judge_guard.judged == ("consistency", "semantic_grounding") and trainer.judge_guard.patience == 3
    trainer.global_steps = 4
    trainer.judge_guard.tripped = "fgrpo: stopping: judge gone"
    with pytest.raises(JudgeOutage, match="judge gone"):
        trainer.on_step_end()
