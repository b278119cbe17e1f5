"""Make verl 0.9.1's FSDP engine honour ``actor_rollout_ref.actor.freeze_vision_tower``.

verl declares the flag on the actor config but its engines never read it, and the engine does not
even see the actor config (it gets ``actor.fsdp_config``). Three wrappers, installed by
:func:`activate` (called from the fgrpo-verl verl plugin, so in every process):

1. ``verl.workers.config.actor.FSDPActorConfig.__post_init__`` copies the flag onto the actor's
   engine config (``actor.engine`` = ``actor.fsdp_config``) as the extra attribute
   :data:`ENGINE_FLAG`; reference and critic engine configs never get it.
2. ``FSDPEngine._build_module`` (``verl.workers.engine.fsdp.transformer_impl``): once the HF model
   is built, and only for a training engine (not ``forward_only``) whose config carries the flag,
   :func:`fgrpo_verl.freeze_vision.freeze_vision_tower` freezes the vision tower except the
   projector - before FSDP wraps the model and before the optimizer is built.
3. ``transformer_impl.get_fsdp_wrap_policy`` (the name ``_build_fsdp_module`` calls): for a model
   frozen in step 2, FSDP1's auto-wrap policy also wraps each maximal frozen subtree in its own
   unit (:func:`fgrpo_verl.freeze_vision.fsdp1_wrap_policy`), so no flat parameter mixes frozen and
   trainable tensors. FSDP2 keeps ``requires_grad`` per parameter and uses verl's policy as is.

Each wrapper is applied when its verl module is first imported
(:func:`fgrpo_verl.import_hooks.after_import`), or at once if it already is. Idempotent. Touches these verl names (keep verl pinned): ``FSDPActorConfig``,
``FSDPEngine._build_module``, ``FSDPEngine.engine_config`` / ``.engine_config.forward_only``,
the module global ``transformer_impl.get_fsdp_wrap_policy``.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from fgrpo_verl.import_hooks import after_import

logger = logging.getLogger(__name__)

ENGINE_FLAG = "fgrpo_freeze_vision_tower"
ACTOR_CONFIG_MODULE = "verl.workers.config.actor"
ENGINE_MODULE = "verl.workers.engine.fsdp.transformer_impl"
_WRAPPED = "_fgrpo_freeze_vision_wrapped"


def _patch_actor_config(module: Any) -> None:
    cls = module.FSDPActorConfig
    original = cls.__post_init__
    if getattr(original, _WRAPPED, False):
        return

    @functools.wraps(original)
    def __post_init__(self: Any) -> None:
        original(self)
        # The engine config is a verl BaseConfig: existing fields are frozen, a new attribute is not.
        object.__setattr__(self.engine, ENGINE_FLAG, bool(self.freeze_vision_tower))

    setattr(__post_init__, _WRAPPED, True)
    cls.__post_init__ = __post_init__


def _patch_engine(impl: Any) -> None:
    from fgrpo_verl.freeze_vision import freeze_vision_tower, fsdp1_wrap_policy, is_frozen_by_us

    engine_cls = impl.FSDPEngine
    build_module = engine_cls._build_module
    if getattr(build_module, _WRAPPED, False):
        return

    @functools.wraps(build_module)
    def _build_module(self: Any) -> Any:
        model = build_module(self)
        config = self.engine_config
        if getattr(config, ENGINE_FLAG, False) and not config.forward_only:
            summary = freeze_vision_tower(model)
            logger.warning(
                "fgrpo: froze the vision tower %s (%d parameter tensors, %.1fM elements); %.1fM stay trainable",
                summary.tower,
                len(summary.frozen_names),
                summary.frozen_params / 1e6,
                summary.trainable_params / 1e6,
            )
        return model

    original_policy = impl.get_fsdp_wrap_policy

    @functools.wraps(original_policy)
    def get_fsdp_wrap_policy(module: Any, config: Any = None, is_lora: bool = False) -> Callable[..., bool] | None:
        # Same signature as verl's: _build_fsdp_module passes module=, config=, is_lora= by keyword.
        policy = original_policy(module, config=config, is_lora=is_lora)
        if is_lora or not is_frozen_by_us(module):
            return policy
        return fsdp1_wrap_policy(module, policy)

    setattr(_build_module, _WRAPPED, True)
    engine_cls._build_module = _build_module
    impl.get_fsdp_wrap_policy = get_fsdp_wrap_policy


_PATCHES: dict[str, Callable[[Any], None]] = {ACTOR_CONFIG_MODULE: _patch_actor_config, ENGINE_MODULE: _patch_engine}


def activate() -> None:
    """Patch the verl modules already imported; hook the others (idempotent)."""
    for name, patch in _PATCHES.items():
        after_import(
            name,
            functools.partial(lambda name, patch: patch(sys.modules[name]), name, patch),
            f"could not make {name} honour freeze_vision_tower; the engine will train the vision tower",
        )
