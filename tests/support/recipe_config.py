"""Compose the FGRPO recipe config in-process, exactly as the two launch commands do."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf


def compose_recipe(overrides: Sequence[str] = (), form: str = "main_ppo", recipe: str = "fgrpo") -> DictConfig:
    """The composed training config (without the ``hydra`` node).

    ``form="main_ppo"``: verl's ``ppo_trainer`` app with ``+recipe=<recipe>`` (the recipe found through
    the installed Hydra search-path plugin). ``form="main_fgrpo"``: the recipe main's primary config
    with ``recipe=<recipe>``.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    if form == "main_ppo":
        with initialize_config_module(config_module="verl.trainer.config", version_base=None):
            return compose("ppo_trainer", overrides=[f"+recipe={recipe}", *overrides])
    if form == "main_fgrpo":
        with initialize_config_module(config_module="recipe.fgrpo.config", version_base=None):
            return compose("fgrpo_trainer", overrides=[f"recipe={recipe}", *overrides])
    raise ValueError(f"unknown form {form!r}")


@functools.lru_cache(maxsize=1)
def _base_recipe() -> DictConfig:
    return compose_recipe()


def recipe_config(updates: Mapping[str, Any] | None = None) -> DictConfig:
    """A copy of the composed ``+recipe=fgrpo`` config with dotted keys set or added.

    Like ``key=value`` / ``+key=value`` overrides on the command line, but without composing again.
    """
    config = copy.deepcopy(_base_recipe())
    for key, value in (updates or {}).items():
        OmegaConf.update(config, key, value, merge=False, force_add=True)
    return config
