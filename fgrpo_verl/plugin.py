"""fgrpo-verl's verl plugin: makes verl's ``"sync"`` trainer FGRPO-aware in every process.

``import verl`` imports the modules of the ``verl.plugins`` entry-point group (this package
declares ``fgrpo = fgrpo_verl.plugin``), and those listed in ``VERL_USE_EXTERNAL_MODULES``, in
every process: the driver, the TaskRunner actor that builds the trainer, and the workers.

Importing this module must stay cheap and side-effect free for verl, because it runs while
``verl/__init__`` is still executing and in processes that never train (rollout servers, reward
workers). So it registers nothing right away: it installs an import hook that waits for
``verl.trainer.ppo.v1`` (the V1 trainers and their registry) and, once that package has been
executed, replaces the registry entry ``"sync"`` with
:class:`fgrpo_verl.trainer_selector.SyncTrainerSelector`. The selector builds the FGRPO trainer for a
config with an ``fgrpo`` block and verl's own ``PPOTrainerSync`` otherwise, so the trainer mode
stays ``sync`` (verl compares it with ``"sync"`` in several places).

Idempotent: importing this module again, or under a second name, adds no second hook and never
registers twice (both are recognised by marker attributes, not by identity).
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

TRAINER_PACKAGE = "verl.trainer.ppo.v1"
_HOOK_ATTR = "_fgrpo_verl_import_hook"


def install_trainer_selector() -> None:
    """Register the FGRPO-aware selector as verl's ``"sync"`` trainer (no-op when one already is)."""
    from verl.trainer.ppo.v1 import trainer_base

    from fgrpo_verl.trainer_selector import SyncTrainerSelector, is_fgrpo_aware

    if is_fgrpo_aware(trainer_base.TRAINER_REGISTRY.get("sync")):
        return
    trainer_base.TRAINER_REGISTRY["sync"] = SyncTrainerSelector


class _RunAfterExec(importlib.abc.Loader):
    """Wraps a module's loader: executes the module, then calls ``callback``; delegates the rest."""

    def __init__(self, loader: Any, callback: Callable[[], None]) -> None:
        self._loader = loader
        self._callback = callback

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            self._callback()
        except Exception:
            # Breaking verl's own import would break every verl run in this environment; the
            # FGRPO preflight reports a missing selector before training instead.
            logger.warning("fgrpo-verl could not register its trainer selector", exc_info=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _AfterImportHook(importlib.abc.MetaPathFinder):
    """Finds ``target`` with the other finders and wraps its loader so ``callback`` runs after it executes."""

    _fgrpo_verl_import_hook = True

    def __init__(self, target: str, callback: Callable[[], None]) -> None:
        self.target = target
        self.callback = callback

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.target:
            return None
        for finder in sys.meta_path:
            if getattr(finder, _HOOK_ATTR, False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RunAfterExec(spec.loader, self.callback)
        sys.meta_path.remove(self)
        return spec


def activate() -> None:
    """Register now if verl's V1 trainers are already imported, else when they are (idempotent)."""
    if TRAINER_PACKAGE in sys.modules:
        install_trainer_selector()
    elif not any(getattr(finder, _HOOK_ATTR, False) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImportHook(TRAINER_PACKAGE, install_trainer_selector))


activate()
from fgrpo_verl import freeze_vision_patch  # noqa: E402 - actor.freeze_vision_tower, which verl never reads

freeze_vision_patch.activate()
