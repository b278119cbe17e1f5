"""Importing this module switches the process to the CPU smoke setup (see :mod:`fgrpo_verl.cpu_smoke`).

Named in ``VERL_USE_EXTERNAL_MODULES`` by ``recipe/fgrpo/smoke_cpu.sh`` only.
"""

from fgrpo_verl.cpu_smoke import activate

activate()
