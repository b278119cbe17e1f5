"""Start-up checks of an FGRPO training run, on the driver, before Ray starts.

Both launch forms run :func:`preflight` on the composed config: ``python -m recipe.fgrpo.main_fgrpo``
calls it from its main, and ``python -m verl.trainer.main_ppo +recipe=fgrpo`` through the Hydra
callback :class:`PreflightCallback` that the recipe config installs (``hydra.callbacks``), so it
applies only when the recipe is active. Hydra does not run callbacks for ``--cfg job``, so printing
the composed config works anywhere. In order:

1. **Config** — the ``fgrpo`` block parses and the verl settings fit FGRPO
   (:meth:`~fgrpo_verl.config.FGRPOConfig.from_verl`), and verl's own ``validate_config`` passes.
2. **GPUs** — a run that will start its own local Ray needs ``trainer.n_gpus_per_node`` CUDA GPUs
   on this machine (:func:`gpu_shortfall`). Without them the run stops with one message saying
   what was found, what training needs, and that ``fgrpo-verl demo`` runs on CPU.
   **Judge** — a mode that needs a judge has one, a verl-served judge stays awake, and every
   ``fgrpo.judge.urls`` endpoint serves the model and judges (:func:`fgrpo_verl.judges.health.startup_problems`).
   The GPU and judge problems are reported together, in one message.
3. **Trainer** — verl's trainer registry resolves the configured mode to the FGRPO-aware trainer,
   i.e. the ``verl.plugins`` entry point of this package is active; otherwise ``main_ppo`` would
   silently train plain GRPO.

A failed check raises ``SystemExit`` with the message (Hydra turns other exceptions raised in a
callback into warnings).
"""

from __future__ import annotations

import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from fgrpo_verl.config import ConfigError, FGRPOConfig
from fgrpo_verl.judges.health import combined_message, startup_problems

DEMO_HINT = "To try FGRPO on this machine, run the CPU demo: fgrpo-verl demo --out DIR"
#: Set to 1 to skip the GPU check (e.g. a driver on a CPU-only login node that reaches GPUs through Ray).
SKIP_GPU_CHECK_ENV = "FGRPO_SKIP_GPU_CHECK"


def _select(config: Any, key: str, default: Any = None) -> Any:
    return OmegaConf.select(config, key, default=default)


def _verl_validate(config: DictConfig) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))


def joins_existing_ray_cluster(config: DictConfig) -> bool:
    """Whether verl's ``ray.init`` will connect to a running cluster instead of starting a local one.

    Mirrors Ray's own resolution: ``ray_kwargs.ray_init.address``, then ``RAY_ADDRESS``, then the
    address file a ``ray start`` on this machine leaves behind; a ``ray job`` driver always joins.
    """
    address = _select(config, "ray_kwargs.ray_init.address")
    if address not in (None, "", "local"):
        return True
    if os.environ.get("RAY_ADDRESS") or os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"):
        return True
    if address == "local":
        return False
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(None) is not None
    except Exception:  # Ray's private resolver moved, or an unreadable address file: assume a local start
        return False


def gpu_shortfall(
    config: DictConfig, *, device: str, cuda_available: bool, device_count: int, torch_cuda: str | None
) -> str | None:
    """The GPU guard's message when this machine cannot run the configured training, else None.

    Only runs that start a local Ray on CUDA (``device``) are judged: a local Ray is one node, so it
    needs ``trainer.nnodes=1`` and ``trainer.n_gpus_per_node`` visible CUDA GPUs.
    """
    if device != "cuda":
        return None
    nnodes = int(_select(config, "trainer.nnodes", 1))
    per_node = int(_select(config, "trainer.n_gpus_per_node", 1))
    needs = (
        f"Training needs {nnodes} node(s) x {per_node} CUDA GPU(s) (trainer.nnodes={nnodes}, "
        f"trainer.n_gpus_per_node={per_node})"
    )
    if not cuda_available or device_count == 0:
        build = f"CUDA {torch_cuda} build" if torch_cuda else "CPU-only build"
        found = f"no usable CUDA GPU on this machine (torch.cuda.is_available() is False; torch {build})"
    elif nnodes > 1:
        found = f"{device_count} GPU(s) here and no running Ray cluster to join (set RAY_ADDRESS or start one)"
    elif device_count < per_node:
        found = (
            f"only {device_count} visible CUDA GPU(s) (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')})"
        )
        needs += f"; set trainer.n_gpus_per_node={device_count} to use what is here"
    else:
        return None
    return (
        f"fgrpo: cannot start training: found {found}. {needs}, with vLLM for the rollout. {DEMO_HINT}; "
        "`--cfg job` prints the composed config without GPUs."
    )


def _check_gpus(config: DictConfig) -> None:
    if os.environ.get(SKIP_GPU_CHECK_ENV) == "1" or joins_existing_ray_cluster(config):
        return
    import torch
    from verl.utils.device import get_device_name

    # main_ppo switches trainer.device to the accelerator verl detects (e.g. npu); "cpu" means none.
    detected = get_device_name()
    available = torch.cuda.is_available()
    message = gpu_shortfall(
        config,
        device=detected if detected != "cpu" else _select(config, "trainer.device", "cuda"),
        cuda_available=available,
        device_count=torch.cuda.device_count() if available else 0,
        torch_cuda=torch.version.cuda,
    )
    if message:
        raise SystemExit(message)


def _check_trainer_selected(config: DictConfig) -> None:
    from verl.trainer.ppo.v1 import get_trainer_cls

    from fgrpo_verl.trainer_selector import is_fgrpo_aware

    mode = _select(config, "trainer.v1.trainer_mode", "sync")
    trainer_cls = get_trainer_cls(mode)
    if not is_fgrpo_aware(trainer_cls):
        raise SystemExit(
            f"fgrpo: verl resolves trainer.v1.trainer_mode={mode} to {trainer_cls.__module__}.{trainer_cls.__qualname__}, "
            "not the FGRPO trainer: the `verl.plugins` entry point `fgrpo` of fgrpo-verl is not active "
            "(package not installed, or VERL_USE_EXTERNAL_PLUGINS excludes it). Install the package "
            "(pip install -e .) or add fgrpo_verl.plugin to VERL_USE_EXTERNAL_MODULES."
        )


def preflight(config: DictConfig) -> FGRPOConfig:
    """Run the three checks of the module docstring; ``SystemExit`` with a one-paragraph message on failure."""
    try:
        fgrpo = FGRPOConfig.from_verl(config)
        _verl_validate(config)
    except (ConfigError, AssertionError, ValueError) as err:
        raise SystemExit(f"fgrpo: invalid config: {err}") from None
    problems = startup_problems(config, fgrpo)
    try:
        _check_gpus(config)
    except SystemExit as gpu:
        problems.insert(0, str(gpu))
    if problems:
        raise SystemExit(problems[0] if len(problems) == 1 else combined_message(problems))
    _check_trainer_selected(config)
    return fgrpo


class PreflightCallback(Callback):
    """Hydra callback (``hydra.callbacks.fgrpo_preflight``) running :func:`preflight` before the job."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        preflight(config)
