"""verl's ``"sync"`` trainer entry once the fgrpo-verl plugin is active (why: :mod:`fgrpo_verl.plugin`).

This module imports nothing of fgrpo-verl at load time: the plugin imports it right after verl's
V1 trainers are imported, which may happen while :mod:`fgrpo_verl.trainer` is itself being imported.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

#: Class attribute (True) that marks a trainer-registry entry as FGRPO-aware. A marker rather than
#: ``is SyncTrainerSelector``, so that a second copy of this class (the module imported under
#: another name) is recognised too.
FGRPO_AWARE_ATTR = "_fgrpo_verl_trainer"


def is_fgrpo_aware(trainer_cls: Any) -> bool:
    """Whether a trainer class (a registry entry) runs FGRPO for configs with an ``fgrpo`` block."""
    return bool(getattr(trainer_cls, FGRPO_AWARE_ATTR, False))


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
