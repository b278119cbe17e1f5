"""What it takes to run verl 0.9.1's real ``main_ppo`` on a CPU: for ``recipe/fgrpo/smoke_cpu.sh`` only.

Loaded only when a run names it: ``VERL_USE_EXTERNAL_MODULES=fgrpo_verl.cpu_smoke.register``
(``import verl`` then imports it in every process: driver, trainer, workers, rollout servers),
together with ``VERL_PLATFORM=cpu``. The package is not a verl entry point and nothing else imports
it, so a GPU run never loads it. Importing ``fgrpo_verl.cpu_smoke.register`` calls
:func:`activate`, which:

1. registers the CPU platform ``"cpu"`` (:mod:`.platform`) and applies its two torch patches
   (gloo backend string, FSDP2 offload without pinned memory);
2. registers the rollout backend ``"hf_cpu"`` (:mod:`.hf_rollout`): ``rollout.name=hf_cpu``.

verl must stay pinned (0.9.1): this package touches these verl names, two of them private:

* ``verl.plugin.platform.platform_base.PlatformBase`` and
  ``verl.plugin.platform.platform_manager.PlatformRegistry.register`` (public plugin API);
* ``verl.workers.rollout.replica.RolloutReplicaRegistry.register``, ``RolloutReplica``
  (its ``launch_servers``, ``servers``, private ``_server_handle`` / ``_server_address``) and
  ``TokenOutput``;
* ``verl.workers.rollout.base.BaseRollout`` and the private dict
  ``verl.workers.rollout.base._ROLLOUT_REGISTRY`` (key ``("hf_cpu", "async")``), which
  ``get_rollout_class`` reads and which has no registration function.

The engine side needs no code, only settings (see ``smoke_cpu.sh``): ``VERL_ENGINE_DEVICE=cuda``
(verl registers its FSDP engine for cuda/npu only), FSDP2, no remove-padding (it needs
flash-attn), SDPA attention, no torch.compile.
"""

from __future__ import annotations

ROLLOUT_NAME = "hf_cpu"
_ADAPTER_PATH = "fgrpo_verl.cpu_smoke.hf_rollout.HFServerAdapter"


def _load_replica():
    from fgrpo_verl.cpu_smoke.hf_rollout import HFRolloutReplica

    return HFRolloutReplica


def activate() -> None:
    """Register the CPU platform, the torch patches and the ``hf_cpu`` rollout (idempotent)."""
    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from fgrpo_verl.cpu_smoke import platform

    platform.apply_torch_patches()
    RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_replica)
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = _ADAPTER_PATH
