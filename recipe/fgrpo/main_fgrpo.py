"""FGRPO training entry point in verl's recipe convention.

    python -m recipe.fgrpo.main_fgrpo data.train_files=... data.val_files=... [overrides]
    python -m recipe.fgrpo.main_fgrpo recipe=fgrpo_grpo_t ...        # an ablation variant
    python -m recipe.fgrpo.main_fgrpo --cfg job                       # print the composed config

The config is verl's ``ppo_trainer`` with ``recipe/fgrpo.yaml`` on top (``config/fgrpo_trainer.yaml``).
Equivalent to ``python -m verl.trainer.main_ppo +recipe=fgrpo``; this form also works from a
source checkout, because it puts the FGRPO verl plugin into every Ray process itself.
"""

from __future__ import annotations

import os

import hydra
from omegaconf import DictConfig

from fgrpo_verl.preflight import preflight

PLUGIN_MODULE = "fgrpo_verl.plugin"


def _import_plugin_in_every_process() -> None:
    """List the plugin in VERL_USE_EXTERNAL_MODULES, which ``import verl`` honours in every Ray process.

    The variable is set before Ray starts, so local Ray workers inherit it; the plugin is idempotent,
    so it does not matter that the installed ``verl.plugins`` entry point imports it too.
    """
    modules = [m for m in os.environ.get("VERL_USE_EXTERNAL_MODULES", "").split(",") if m]
    if PLUGIN_MODULE not in modules:
        os.environ["VERL_USE_EXTERNAL_MODULES"] = ",".join([*modules, PLUGIN_MODULE])


@hydra.main(config_path="config", config_name="fgrpo_trainer", version_base=None)
def main(config: DictConfig) -> None:
    preflight(config)

    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
    from verl.utils.device import auto_set_device

    auto_set_device(config)
    run_ppo(config, task_runner_class=TaskRunnerV1)


if __name__ == "__main__":
    # Before Hydra runs the recipe's preflight callback, which imports verl in this process too.
    _import_plugin_in_every_process()
    main()
