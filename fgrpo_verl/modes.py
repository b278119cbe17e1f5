"""The advantage modes of SPEC §2, as one table: ``fgrpo.mode`` names a row of :data:`MODE_TABLE`.

Each row is a :class:`ModeSpec`: whether the mode weighs constraints by λ, whether λ moves by dual
ascent, which constraints its advantage reads, and its advantage function (formula in the
function's docstring). Everything that depends on the mode reads this table: config validation
(:class:`~fgrpo_verl.config.FGRPOConfig`), the channels a rollout scorer computes
(:func:`fgrpo_verl.rollout_scoring.computed_channels`), the dual state on resume and
:func:`fgrpo_verl.advantage.compute_mode_advantage`. Adding a mode is one function below plus
one row of the table.

A mode's function gets a :class:`ModeBatch` (validated per-row channels of one training step, built
by :mod:`fgrpo_verl.advantage`) and returns one advantage per response; the caller broadcasts it
over tokens and sets padding rows to 0. No torch import here, so the config can read the table
cheaply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from fgrpo_verl.channels import CONSTRAINTS, JUDGED_CONSTRAINTS

if TYPE_CHECKING:
    import torch


class ModeBatch(Protocol):
    """One step's rollouts as a mode's advantage function sees them (float64 ``[B]`` tensors).

    Group normalisation ``GN`` and whitening are those of :mod:`fgrpo_verl.advantage`; every
    statistic is over the valid (non-padding) rows.
    """

    def task(self) -> torch.Tensor:
        """``task = w_acc·acc + w_format·format`` per row."""
        ...

    def weighted_sum(self) -> torch.Tensor:
        """``Â_task,i + Σ_k λ_k·Â_k,i`` over the enabled constraints, ``Â = GN`` with mask ``m_k``."""
        ...

    def whiten(self, values: torch.Tensor) -> torch.Tensor:
        """``(A − mean_V(A)) / (std_V(A) + eps)`` when ``fgrpo.whiten``, else ``values`` unchanged."""
        ...

    def coupled_terms(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``acc, format, C, G``; C (consistency) and G (spatial grounding) are 0 where not
        applicable or not enabled."""
        ...

    def normalize(self, score: torch.Tensor) -> torch.Tensor:
        """``GN(score)`` over the valid rows of each group."""
        ...


#: A mode's advantage: the batch in, one value per response out.
AdvantageFn = Callable[[ModeBatch], "torch.Tensor"]


@dataclasses.dataclass(frozen=True)
class ModeSpec:
    """One advantage mode.

    Attributes:
        name: the value of ``fgrpo.mode``.
        uses_lambda: the advantage weighs constraints by λ (a dual state is kept and checkpointed).
        updates_lambda: λ moves by dual ascent after each step (else it stays at ``fgrpo.lambda_init``).
        reads: the constraints the advantage reads; at least one of them must be enabled.
        advantage: the per-response advantage (see :class:`ModeBatch`).
    """

    name: str
    uses_lambda: bool
    updates_lambda: bool
    reads: frozenset[str]
    advantage: AdvantageFn

    def __post_init__(self) -> None:
        if self.updates_lambda and not self.uses_lambda:
            raise ValueError(f"mode {self.name!r} updates λ but does not use it")
        unknown = sorted(self.reads - set(CONSTRAINTS))
        if unknown:
            raise ValueError(f"mode {self.name!r} reads unknown constraints {unknown}; known: {list(CONSTRAINTS)}")

    @property
    def judged(self) -> frozenset[str]:
        """The judge-scored constraints this mode reads (the reward manager asks the judge for these only)."""
        return self.reads & frozenset(JUDGED_CONSTRAINTS)


def decoupled_advantage(batch: ModeBatch) -> torch.Tensor:
    """FGRPO, decoupled: ``A_i = whiten_V(Â_task,i + Σ_k λ_k·Â_k,i)`` over the enabled constraints k
    (whitening over the valid rows V when ``fgrpo.whiten``, unbiased std)."""
    return batch.whiten(batch.weighted_sum())


def task_advantage(batch: ModeBatch) -> torch.Tensor:
    """GRPO on the task reward: ``A_i = GN(task)_i`` (no constraints, no whitening)."""
    return batch.normalize(batch.task())


def additive_advantage(batch: ModeBatch) -> torch.Tensor:
    """Coupled baseline: ``A_i = GN(acc/3 + acc·C/3 + format·G/3)_i`` (no whitening)."""
    acc, fmt, consistency, spatial = batch.coupled_terms()
    return batch.normalize(acc / 3.0 + acc * consistency / 3.0 + fmt * spatial / 3.0)


def multiplicative_advantage(batch: ModeBatch) -> torch.Tensor:
    """Coupled baseline: ``A_i = GN(0.5·acc·C + 0.5·format·G)_i`` (no whitening)."""
    acc, fmt, consistency, spatial = batch.coupled_terms()
    return batch.normalize(0.5 * acc * consistency + 0.5 * fmt * spatial)


_COUPLED_READS = frozenset({"consistency", "spatial_grounding"})

#: Every advantage mode by name; the first row is the default.
MODE_TABLE: dict[str, ModeSpec] = {
    spec.name: spec
    for spec in (
        ModeSpec("fgrpo", True, True, frozenset(CONSTRAINTS), decoupled_advantage),
        ModeSpec("fixed_lambda", True, False, frozenset(CONSTRAINTS), decoupled_advantage),
        ModeSpec("grpo_t", False, False, frozenset(), task_advantage),
        ModeSpec("additive", False, False, _COUPLED_READS, additive_advantage),
        ModeSpec("multiplicative", False, False, _COUPLED_READS, multiplicative_advantage),
    )
}


def get_mode(name: str) -> ModeSpec:
    """The row of ``name``; ``ValueError`` listing the known modes otherwise."""
    if not isinstance(name, str) or name not in MODE_TABLE:
        raise ValueError(f"unknown advantage mode {name!r}; known: {list(MODE_TABLE)}")
    return MODE_TABLE[name]


def modes_without_constraints() -> list[str]:
    """Modes whose advantage reads no constraint (what to use when none is enabled)."""
    return [name for name, spec in MODE_TABLE.items() if not spec.reads]
