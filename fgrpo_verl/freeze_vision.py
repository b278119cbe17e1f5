"""Freeze a vision-language model's vision tower, keeping the language model and the projector trainable.

The paper trains Qwen2.5-VL with the vision encoder frozen. verl 0.9.1 declares
``actor_rollout_ref.actor.freeze_vision_tower`` but none of its engines reads it;
:mod:`fgrpo_verl.freeze_vision_patch` makes verl's FSDP engine call the functions here.

* :func:`freeze_vision_tower` sets ``requires_grad=False`` on every parameter of the vision tower
  (the submodule named ``visual``, ``vision_tower`` or ``vision_model``) except those of its
  projector (``merger`` / ``deepstack_merger_list`` for Qwen2-VL, Qwen2.5-VL, Qwen3-VL: the MLP
  that maps vision features into the language model's embedding space). Frozen parameters get no
  gradient, so the optimizer never moves them (AdamW skips parameters without a gradient, weight
  decay included) and they drop out of the gradient norm.
* FSDP1 flattens the parameters of each wrapped unit into one tensor, which has a single
  ``requires_grad`` (with ``use_orig_params=False`` it refuses a unit that mixes both). Its units
  are the auto-wrapped blocks (the vision blocks and decoder layers) plus the root, which would
  hold the frozen patch embedding next to the trainable embeddings and projector.
  :func:`fsdp1_wrap_policy` adds a unit for every *maximal frozen subtree* (a module all of whose
  parameters are frozen, under a parent that has a trainable one), so every unit is uniform.
* FSDP2 shards each parameter on its own and keeps ``requires_grad`` per parameter; it needs no
  change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

TOWER_NAMES = ("visual", "vision_tower", "vision_model")
PROJECTOR_NAMES = ("merger", "deepstack_merger_list", "multi_modal_projector")
#: Set on a model whose vision tower this module froze (read by the FSDP1 wrap policy).
FROZEN_MARK = "_fgrpo_frozen_vision_tower"


@dataclass(frozen=True)
class FreezeSummary:
    """What :func:`freeze_vision_tower` did: the tower's path and parameter counts (elements)."""

    tower: str
    frozen_params: int
    trainable_params: int
    frozen_names: tuple[str, ...]


def find_vision_tower(model: nn.Module) -> str | None:
    """Dotted path of the shallowest submodule named like a vision tower, or None."""
    found = [name for name, _ in model.named_modules() if name.rsplit(".", 1)[-1] in TOWER_NAMES]
    return min(found, key=lambda name: name.count(".")) if found else None


def _is_projector(relative_name: str) -> bool:
    return relative_name.split(".", 1)[0] in PROJECTOR_NAMES


def freeze_vision_tower(model: nn.Module) -> FreezeSummary:
    """Freeze the vision tower's parameters except its projector's; returns what was frozen.

    Raises ``ValueError`` when the model has no vision tower (``freeze_vision_tower=true`` on a
    text-only model is a configuration mistake, not something to skip silently).
    """
    tower_path = find_vision_tower(model)
    if tower_path is None:
        raise ValueError(
            f"actor.freeze_vision_tower=true but {type(model).__name__} has no vision tower "
            f"(no submodule named one of {', '.join(TOWER_NAMES)}); set it to false for this model"
        )
    tower = model.get_submodule(tower_path)
    frozen = []
    for name, param in tower.named_parameters():
        if not _is_projector(name):
            param.requires_grad_(False)
            frozen.append(f"{tower_path}.{name}")
    setattr(model, FROZEN_MARK, True)
    return FreezeSummary(
        tower=tower_path,
        frozen_params=sum(p.numel() for p in model.parameters() if not p.requires_grad),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        frozen_names=tuple(frozen),
    )


def maximal_frozen_subtrees(model: nn.Module) -> list[str]:
    """Paths of the modules whose parameters (at least one) are all frozen while their parent's are not.

    Empty when the whole model is frozen or trainable (then no unit mixes the two anyway).
    """
    state: dict[str, bool | None] = {}  # True: all frozen, False: some trainable, None: no parameters
    for name, module in model.named_modules():
        flags = [p.requires_grad for p in module.parameters()]
        state[name] = None if not flags else not any(flags)
    roots = []
    for name, all_frozen in state.items():
        if not name or all_frozen is not True:
            continue
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        if state.get(parent) is False:
            roots.extend(_callable_roots(model, name))
    return roots


def _callable_roots(model: nn.Module, name: str) -> list[str]:
    """``name``, or for a container without ``forward`` (ModuleList/ModuleDict) its children, recursively.

    An FSDP1 unit gathers its parameters in its module's forward; a container has none.
    """
    module = model.get_submodule(name)
    if next(module.parameters(), None) is None:
        return []
    if not isinstance(module, nn.ModuleList | nn.ModuleDict):
        return [name]
    return [path for child, _ in module.named_children() for path in _callable_roots(model, f"{name}.{child}")]


def _frozen_root_fn(root_ids: frozenset[int], module: nn.Module) -> bool:
    return id(module) in root_ids


def fsdp1_wrap_policy(model: nn.Module, base_policy: Callable[..., bool] | None) -> Callable[..., bool] | None:
    """``base_policy`` OR "is a maximal frozen subtree of ``model``" (FSDP1 ``auto_wrap_policy``).

    Returns ``base_policy`` unchanged when nothing of ``model`` is frozen.
    """
    from torch.distributed.fsdp.wrap import _or_policy, lambda_auto_wrap_policy

    roots = maximal_frozen_subtrees(model)
    if not roots:
        return base_policy
    root_ids = frozenset(id(model.get_submodule(name)) for name in roots)
    frozen_policy = functools.partial(lambda_auto_wrap_policy, lambda_fn=functools.partial(_frozen_root_fn, root_ids))
    policies = [frozen_policy] if base_policy is None else [base_policy, frozen_policy]
    return functools.partial(_or_policy, policies=policies)


def is_frozen_by_us(model: Any) -> bool:
    """Whether :func:`freeze_vision_tower` froze this model."""
    return bool(getattr(model, FROZEN_MARK, False))
