"""fgrpo-verl's verl plugin: makes verl's ``"sync"`` trainer FGRPO-aware in every process.

``import verl`` imports the modules of the ``verl.plugins`` entry-point group (this package
declares ``fgrpo = fgrpo_verl.plugin``), and those listed in ``VERL_USE_EXTERNAL_MODULES``, in
every process: the driver, the TaskRunner actor that builds the trainer, and the workers.

Importing this module must stay cheap and side-effect free for verl, because it runs while
``verl/__init__`` is still executing and in processes that never train (rollout servers, reward
workers). So it registers nothing right away: it installs an import hook
(:func:`fgrpo_verl.import_hooks.after_import`) that waits for
``verl.trainer.ppo.v1`` (the V1 trainers and their registry) and, once that package has been
executed, replaces the registry entry ``"sync"`` with
:class:`fgrpo_verl.trainer_selector.SyncTrainerSelector`. The selector builds the FGRPO trainer for a
config with an ``fgrpo`` block and verl's own ``PPOTrainerSync`` otherwise, so the trainer mode
stays ``sync`` (verl compares it with ``"sync"`` in several places). The same way it makes verl's
FSDP engine honour ``actor.freeze_vision_tower`` (:mod:`fgrpo_verl.freeze_vision_patch`).

Idempotent: importing this module again, or under a second name, adds no second hook and never
registers twice (both are recognised by marker attributes, not by identity).
"""

from __future__ import annotations

from fgrpo_verl import freeze_vision_patch
from fgrpo_verl.import_hooks import after_import

TRAINER_PACKAGE = "verl.trainer.ppo.v1"


def install_trainer_selector() -> None:
    """Register the FGRPO-aware selector as verl's ``"sync"`` trainer (no-op when one already is)."""
    from verl.trainer.ppo.v1 import trainer_base

    from fgrpo_verl.trainer_selector import SyncTrainerSelector, is_fgrpo_aware

    if is_fgrpo_aware(trainer_base.TRAINER_REGISTRY.get("sync")):
        return
    trainer_base.TRAINER_REGISTRY["sync"] = SyncTrainerSelector


def activate() -> None:
    """Register now if verl's V1 trainers are already imported, else when they are (idempotent); and make
    verl's FSDP engine honour ``actor.freeze_vision_tower``, which verl itself never reads."""
    after_import(
        TRAINER_PACKAGE,
        install_trainer_selector,
        "could not register the FGRPO trainer selector (the preflight reports it before training)",
    )
    freeze_vision_patch.activate()


activate()
