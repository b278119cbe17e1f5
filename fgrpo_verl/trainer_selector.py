"""verl's ``"sync"`` trainer entry once the fgrpo-verl plugin is active (see :mod:`fgrpo_verl.plugin`).

Kept apart from :mod:`fgrpo_verl.trainer` on purpose: the plugin imports this module right after
verl's V1 trainers are imported, which may happen *while* ``fgrpo_verl.trainer`` is being imported
(it imports them); this module therefore imports nothing of fgrpo-verl at load time.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync


class SyncTrainerSelector(PPOTrainerSync):
    """``SyncTrainerSelector(config)`` is an ``FGRPOTrainer`` for a config with an ``fgrpo`` block,
    and verl's plain ``PPOTrainerSync`` otherwise: runs without the recipe are untouched, and the
    trainer mode stays ``sync`` either way."""

    _fgrpo_verl_trainer = True

    def __new__(cls, config: DictConfig, *args: Any, **kwargs: Any) -> PPOTrainerSync:
        if OmegaConf.select(config, "fgrpo") is None:
            return PPOTrainerSync(config, *args, **kwargs)
        from fgrpo_verl.trainer import FGRPOTrainer

        return FGRPOTrainer(config, *args, **kwargs)
