"""Stop a run whose judge has stopped judging, instead of training on as GRPO-T.

A judge call that fails makes its channel not applicable (SPEC §1), so a dead, misnamed or
overloaded judge does not crash training: λ simply never moves. This guard watches every training
step (valid rows V, judged constraints K = the enabled ones the mode reads from a judge) and calls
a step **unhealthy** when

    failure_rate = Σ_V judge_failures / max(Σ_V judge_calls, Σ_V judge_failures) ≥ max_failure_rate
    (a step with no judge activity has rate 0), or
    some k ∈ K is starved: Σ_V [acc > 0] ≥ 1 but n_k = Σ_V m_k = 0
    (correct rollouts existed, yet the judge made none of them applicable).

After ``patience`` unhealthy steps in a row (``fgrpo.judge.patience``; 0 turns the guard off) the
trainer saves a checkpoint of the current step (when ``trainer.save_freq > 0`` and verl did not just
save one) and stops with :class:`JudgeOutage`, whose message names the steps, the failure rate, the
starved constraints and what to check. Resuming after the judge is fixed continues from that checkpoint.

Logged every step: ``fgrpo/judge/failure_rate`` and ``fgrpo/judge/unhealthy_steps`` (the current run
of unhealthy steps).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

import torch

from fgrpo_verl.channels import mask_key
from fgrpo_verl.config import FGRPOConfig

logger = logging.getLogger(__name__)


class JudgeOutage(RuntimeError):
    """The judge failed for ``fgrpo.judge.patience`` consecutive steps; the message says how."""


@dataclasses.dataclass
class JudgeGuard:
    """Counts consecutive unhealthy steps (see the module docstring); ``tripped`` holds the stop message."""

    judged: tuple[str, ...]
    max_failure_rate: float = 0.5
    patience: int = 3
    unhealthy_steps: int = 0
    tripped: str | None = None
    _reasons: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def from_config(cls, config: FGRPOConfig) -> JudgeGuard:
        judged = tuple(c for c in config.constraints if c in config.spec.judged)
        return cls(judged=judged, max_failure_rate=config.judge.max_failure_rate, patience=config.judge.patience)

    @property
    def active(self) -> bool:
        return self.patience > 0 and bool(self.judged)

    def observe(self, channels: Mapping[str, torch.Tensor], valid: torch.Tensor, step: int) -> dict[str, float]:
        """Judge one step from its channel tensors (``[B]`` each, as the trainer builds them); returns metrics."""
        if not self.active:
            return {}
        calls = float(channels["judge_calls"][valid].sum())
        failures = float(channels["judge_failures"][valid].sum())
        rate = failures / max(calls, failures) if failures else 0.0
        correct = int((channels["acc"][valid] > 0).sum())
        starved = [k for k in self.judged if correct > 0 and float(channels[mask_key(k)][valid].sum()) == 0.0]
        problems = []
        if rate >= self.max_failure_rate and failures:
            problems.append(f"{failures:.0f} of {max(calls, failures):.0f} judge calls failed ({rate:.0%})")
        if starved:
            problems.append(f"no applicable rollout for {', '.join(starved)} among {correct} correct rollouts")
        if problems:
            self.unhealthy_steps += 1
            self._reasons.append(f"step {step}: {'; '.join(problems)}")
            logger.warning(
                "fgrpo judge guard: unhealthy step %d of %d allowed: %s",
                self.unhealthy_steps,
                self.patience,
                "; ".join(problems),
            )
        else:
            self.unhealthy_steps = 0
            self._reasons.clear()
        if self.unhealthy_steps >= self.patience and self.tripped is None:
            self.tripped = (
                f"fgrpo: stopping: the judge failed for {self.unhealthy_steps} consecutive steps "
                f"(fgrpo.judge.patience={self.patience}, fgrpo.judge.max_failure_rate={self.max_failure_rate:g}): "
                f"{' | '.join(self._reasons[-self.patience :])}. Training on would be GRPO-T with extra cost. "
                "Check the judge with `fgrpo-verl check-judge --url URL --model NAME` (fgrpo.judge.urls, "
                "fgrpo.judge.model, the API key variable fgrpo.judge.api_key_env) and the reward workers' logs, "
                "then resume from the last checkpoint."
            )
        return {"fgrpo/judge/failure_rate": rate, "fgrpo/judge/unhealthy_steps": float(self.unhealthy_steps)}

    def stop_if_tripped(self, trainer: Any) -> None:
        """Raise :class:`JudgeOutage` when tripped, after saving ``trainer``'s current step if verl did not.

        ``trainer`` is the verl trainer (``config``, ``global_steps``, ``_save_checkpoint``).
        """
        if self.tripped is None:
            return
        config = trainer.config.trainer
        folder = os.path.join(config.default_local_dir, f"global_step_{trainer.global_steps}")
        if config.save_freq > 0 and not os.path.exists(os.path.join(folder, "data.pt")):
            trainer._save_checkpoint()
        logger.error("%s", self.tripped)
        raise JudgeOutage(self.tripped)
