"""A CPU platform for verl 0.9.1, for the CPU smoke run only (``recipe/fgrpo/smoke_cpu.sh``).

verl picks its device through ``verl.plugin.platform``; with no accelerator it falls back to
"nvidia" and fails. :class:`CPUPlatform` is registered as ``"cpu"`` (selected with
``VERL_PLATFORM=cpu``). It tells Ray the workers need the resource ``"GPU"`` so that verl's
resource checks and placement bundles work unchanged: the smoke declares one fake GPU
(``+ray_kwargs.ray_init.num_gpus=1``). Collectives run on gloo.

:func:`apply_torch_patches` makes two process-wide changes that only this run needs:

* ``torch.distributed.init_process_group``: verl asks for ``"cpu:gloo,<device>:<backend>"``,
  which on CPU reads ``"cpu:gloo,cpu:gloo"`` and torch refuses the duplicate; it is reduced to
  ``"cpu:gloo"``.
* ``torch.distributed.fsdp.CPUOffloadPolicy``: verl's FSDP2 engine offloads the reference model
  with ``pin_memory=True``, and pinning needs CUDA; the replacement never pins. It must be in
  place before ``verl.utils.fsdp_utils`` imports the name, which is why this module is loaded
  through ``VERL_USE_EXTERNAL_MODULES`` (while ``import verl`` runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from types import SimpleNamespace
from typing import Any

import torch
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

PLATFORM_NAME = "cpu"
_PATCHED_ATTR = "_fgrpo_cpu_smoke_patched"


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _zero(*args: Any, **kwargs: Any) -> int:
    return 0


def _mem_get_info(*args: Any, **kwargs: Any) -> tuple[int, int]:
    """(free, total) host memory in bytes, where verl asks a device for its free memory."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return available, pages


# What verl calls on ``get_torch_device()`` (the ``torch.cuda`` stand-in): caching-allocator and
# stream calls are no-ops on CPU, seeds and RNG states are torch's global ones.
CPU_DEVICE_MODULE = SimpleNamespace(
    is_available=lambda: True,
    device_count=lambda: 1,
    get_device_name=lambda *args: "CPU",
    get_device_properties=lambda *args: SimpleNamespace(name="CPU", total_memory=_mem_get_info()[1]),
    set_per_process_memory_fraction=_noop,
    reset_accumulated_memory_stats=_noop,
    current_device=lambda: torch.device("cpu"),
    set_device=_noop,
    synchronize=_noop,
    empty_cache=_noop,
    ipc_collect=_noop,
    reset_peak_memory_stats=_noop,
    memory_allocated=_zero,
    memory_reserved=_zero,
    max_memory_allocated=_zero,
    max_memory_reserved=_zero,
    mem_get_info=_mem_get_info,
    manual_seed=torch.manual_seed,
    manual_seed_all=torch.manual_seed,
    get_rng_state=torch.get_rng_state,
    set_rng_state=torch.set_rng_state,
    Stream=torch.cpu.Stream,
    stream=torch.cpu.stream,
    current_stream=torch.cpu.current_stream,
    Event=torch.cpu.Event,
)


@PlatformRegistry.register(platform=PLATFORM_NAME)
class CPUPlatform(PlatformBase):
    """verl's platform interface on the host CPU (gloo collectives, no profiler, no IPC)."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> Any:
        return CPU_DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: only VERL_PLATFORM=cpu selects it.
        return False

    def current_device(self) -> Any:
        # verl passes this as FSDP's device_id and to .to(...); a CUDA index would mean cuda:0.
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        # The fake GPU the smoke declares to Ray (ray_init.num_gpus=1).
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


def _single_gloo_backend(backend: Any) -> Any:
    """``"cpu:gloo,cpu:gloo"`` -> ``"cpu:gloo"``; any other value unchanged."""
    if not isinstance(backend, str) or "," not in backend:
        return backend
    parts = list(dict.fromkeys(part.strip() for part in backend.split(",")))
    return ",".join(parts)


@dataclasses.dataclass
class UnpinnedCPUOffloadPolicy(torch.distributed.fsdp.CPUOffloadPolicy):
    """FSDP2's CPU offload policy with ``pin_memory`` forced off (pinning needs CUDA)."""

    def __post_init__(self) -> None:
        self.pin_memory = False


def apply_torch_patches() -> None:
    """Install the two patches of the module docstring (idempotent)."""
    import torch.distributed
    import torch.distributed.fsdp

    if getattr(torch.distributed.init_process_group, _PATCHED_ATTR, False):
        return
    original = torch.distributed.init_process_group

    @functools.wraps(original)
    def init_process_group(*args: Any, **kwargs: Any) -> Any:
        if "backend" in kwargs:
            kwargs["backend"] = _single_gloo_backend(kwargs["backend"])
        elif args:
            args = (_single_gloo_backend(args[0]), *args[1:])
        return original(*args, **kwargs)

    setattr(init_process_group, _PATCHED_ATTR, True)
    torch.distributed.init_process_group = init_process_group
    torch.distributed.fsdp.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy
    import sys

    # If verl's FSDP modules were imported already, they hold the original name.
    for name in ("verl.utils.fsdp_utils", "verl.workers.engine.fsdp.transformer_impl"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "CPUOffloadPolicy"):
            module.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy
