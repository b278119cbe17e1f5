"""FGRPO inside verl 0.9.1's synchronous V1 trainer: a thin ``PPOTrainerSync`` subclass.

:class:`FGRPOTrainer` changes one step of verl's pipeline, the advantage, and adds the dual
state to checkpoints. Per training step (``_compute_advantage``):

1. fetch ``uid`` (group id), ``response_mask`` and ``extra_fields`` of the step's rows from
   TransferQueue; the reward manager's per-rollout ``reward_extra_info`` lives in ``extra_fields``;
2. drop verl's padding rows (tag ``is_padding``) from every statistic (``valid``);
3. compute the advantage of ``fgrpo.mode`` with the current λ
   (:func:`fgrpo_verl.advantage.compute_mode_advantage`) and write ``advantages`` and
   ``returns`` (equal, outcome-only) back as verl's base class does;
4. then update λ by dual ascent (mode ``fgrpo`` only) and log the ``fgrpo/*`` metrics.

The maths live in :mod:`fgrpo_verl.advantage` and :mod:`fgrpo_verl.duals`, the bookkeeping in
:mod:`fgrpo_verl.step_stats` and :mod:`fgrpo_verl.dual_state`; this module only moves data. verl
builds this class through :mod:`fgrpo_verl.trainer_selector` (how and why: :mod:`fgrpo_verl.plugin`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import transfer_queue as tq
from omegaconf import DictConfig
from tensordict import TensorDict
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path
from verl.workers.utils.padding import response_to_nested

from fgrpo_verl.advantage import compute_mode_advantage
from fgrpo_verl.channels import mask_key
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.dual_state import build_duals, restore_dual_state, save_dual_state
from fgrpo_verl.judge_guard import JudgeGuard
from fgrpo_verl.step_stats import channel_tensors, reward_extra_infos, step_metrics, valid_rows


def _rows(field: Any) -> list[Any]:
    """A non-tensor TransferQueue field as one plain value per row.

    Depending on the backend it comes back as a list (tensordict's ``LinkedList``), a ``NonTensorStack``
    (whose items are wrapped; ``tolist`` unwraps them) or a numpy array.
    """
    return field.tolist() if hasattr(field, "tolist") else list(field)


class FGRPOTrainer(PPOTrainerSync):
    """verl's synchronous V1 trainer with the FGRPO advantage and dual ascent (state: ``self.duals``).

    Construction parses ``config.fgrpo`` and checks the verl settings around it, raising
    :class:`~fgrpo_verl.config.ConfigError` before any worker starts.
    """

    def __init__(self, config: DictConfig) -> None:
        self.fgrpo = FGRPOConfig.from_verl(config)
        self.duals = build_duals(self.fgrpo)
        self.judge_guard = JudgeGuard.from_config(self.fgrpo)
        super().__init__(config)

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """The FGRPO advantage of the step (SPEC §2), then the dual update (SPEC §3) and metrics."""
        data = tq.kv_batch_get(
            keys=batch.keys, partition_id=batch.partition_id, select_fields=["uid", "response_mask", "extra_fields"]
        )
        valid = valid_rows(batch.tags)
        channels = channel_tensors(reward_extra_infos(_rows(data["extra_fields"])), valid)
        nested_mask = data["response_mask"]
        config = self.fgrpo
        scores = {name: channels[name] for name in config.constraints}
        masks = {name: channels[mask_key(name)] for name in config.constraints}
        lambdas = self.duals.lambdas
        advantages = compute_mode_advantage(
            config.mode,
            task=channels["task"],
            acc=channels["acc"],
            fmt=channels["format"],
            constraints=scores,
            masks=masks,
            lambdas=lambdas,
            index=np.array(_rows(data["uid"]), dtype=object),
            response_mask=nested_mask.to_padded_tensor(0),
            valid=valid,
            eps=config.eps,
            whiten=config.whiten,
        )
        nested = response_to_nested(advantages, nested_mask)
        output = TensorDict({"advantages": nested, "returns": nested.clone()}, batch_size=len(batch))
        batch = tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=output)

        metrics.update(
            step_metrics(
                channels, valid, config.constraints, config.thresholds, lambdas if config.uses_constraints else None
            )
        )
        if config.updates_duals:
            metrics.update(self.duals.update(scores, masks, valid=valid))
        metrics.update(self.judge_guard.observe(channels, valid, getattr(self, "global_steps", 0)))
        return batch

    def on_step_end(self) -> None:
        """After verl's checkpoint of the step: stop (saving first) if the judge guard tripped, else sync weights."""
        self.judge_guard.stop_if_tripped(self)
        super().on_step_end()

    def _save_checkpoint(self) -> None:
        """Write the dual state into ``global_step_N/`` first; verl then saves the model and the tracker file."""
        folder = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
        save_dual_state(folder, self.duals, self.fgrpo, self.global_steps)
        super()._save_checkpoint()

    def _resume_folder(self) -> str | None:
        """The ``global_step_N`` folder verl's ``_load_checkpoint`` will resume from (same rules), or None."""
        trainer = self.config.trainer
        if trainer.resume_mode == "auto":
            return find_latest_ckpt_path(os.path.abspath(trainer.default_local_dir))
        if trainer.resume_mode == "resume_path":
            path = trainer.resume_from_path
            # verl rejects other values with its own message.
            return os.path.abspath(path) if isinstance(path, str) and "global_step_" in path else None
        return None

    def _load_checkpoint(self) -> None:
        """Check and restore the dual state before verl loads the (large) model checkpoint."""
        folder = self._resume_folder()
        if folder is not None:
            step = int(folder.rsplit("global_step_", 1)[-1])
            restore_dual_state(folder, self.duals, self.fgrpo, step)
        super()._load_checkpoint()
