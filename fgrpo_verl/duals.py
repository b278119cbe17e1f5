"""Projected dual ascent on the Lagrange multipliers λ_k of the FGRPO constraints (SPEC §3).

For each enabled constraint k, over the valid rows of a batch::

    n_k = Σ m_k
    c̄_k = Σ m_k·s_k / n_k
    λ_k ← clip(λ_k + lr·(τ_k − c̄_k), 0, lambda_max)      only when n_k ≥ min_applicable

A constraint below its threshold (c̄_k < τ_k) raises λ_k, i.e. weighs that constraint's
advantage more; one above it lowers λ_k towards 0. The caller computes the step's advantage
with :attr:`DualAscent.lambdas` first and calls :meth:`DualAscent.update` afterwards
("compute, then update"), so the λ logged as ``fgrpo/lambda/{k}`` is the one the policy
gradient actually used. ``n_k`` and ``c̄_k`` come from :func:`applicable_mean`, which the step's
metrics (:mod:`fgrpo_verl.step_stats`) use as well.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from fgrpo_verl import checks

logger = logging.getLogger(__name__)

_STATE_KEYS: tuple[str, ...] = (
    "constraints",
    "lambdas",
    "step",
    "thresholds",
    "lr",
    "lambda_max",
    "lambda_init",
    "min_applicable",
)


class ConstraintSetMismatch(ValueError):
    """A saved dual state holds λ for another set of constraints than this :class:`DualAscent`."""


def applicable_mean(values: torch.Tensor, used: torch.Tensor) -> tuple[int, float]:
    """``(n, c̄)`` with ``n = Σ used`` and ``c̄ = Σ used·s / n`` in float64; ``c̄ = 0.0`` when ``n = 0``."""
    count = int(used.sum())
    if not count:
        return 0, 0.0
    return count, float(torch.where(used, values.double(), 0.0).sum() / count)


def _row_vector(name: str, values: Any, size: int | None) -> torch.Tensor:
    tensor = torch.as_tensor(values).detach().to(device="cpu", dtype=torch.float64)
    if tensor.dim() != 1 or (size is not None and tensor.shape[0] != size):
        expected = "one value per response" if size is None else f"{size} values"
        raise ValueError(f"{name} must be 1-D with {expected}, got shape {tuple(tensor.shape)}")
    return tensor


def _row_mask(name: str, values: Any, size: int | None) -> torch.Tensor:
    tensor = _row_vector(name, values, size)
    n_bad = int((~((tensor == 0) | (tensor == 1))).sum())
    if n_bad:
        raise ValueError(f"{name} must hold only 0/1, found {n_bad} other values")
    return tensor.bool()


class DualAscent:
    """Owns λ for the enabled constraints (the keys of ``thresholds``), its update rule and bounds.

    Args:
        thresholds: τ_k per enabled constraint; the constraint set is its keys (possibly empty).
        lr: dual step size η ≥ 0 (``fgrpo.dual_lr``).
        lambda_max: upper bound of every λ_k (``fgrpo.lambda_max``).
        lambda_init: initial λ, one number for all or a mapping with exactly the constraint names.
        min_applicable: fewest applicable valid rows for λ_k to move (``fgrpo.min_applicable``).
    """

    def __init__(
        self,
        thresholds: Mapping[str, float],
        lr: float = 0.05,
        lambda_max: float = 5.0,
        lambda_init: float | Mapping[str, float] = 1.0,
        min_applicable: int = 8,
    ) -> None:
        self.thresholds = {str(k): checks.number(f"thresholds[{k!r}]", v) for k, v in thresholds.items()}
        self.lr = checks.number("lr", lr, low=0.0)
        self.lambda_max = checks.number("lambda_max", lambda_max, low=0.0)
        self.min_applicable = checks.integer("min_applicable", min_applicable, low=1)
        if isinstance(lambda_init, Mapping):
            self._check_names("lambda_init", lambda_init)
            init = {k: lambda_init[k] for k in self.thresholds}
        else:
            init = dict.fromkeys(self.thresholds, lambda_init)
        self.lambda_init = {
            k: checks.number(f"lambda_init[{k!r}]", v, low=0.0, high=self.lambda_max) for k, v in init.items()
        }
        self._lambdas = dict(self.lambda_init)
        self.step = 0

    @property
    def constraints(self) -> tuple[str, ...]:
        return tuple(self.thresholds)

    @property
    def lambdas(self) -> dict[str, float]:
        """A copy of the current λ (the values to use for this step's advantage)."""
        return dict(self._lambdas)

    def _check_names(self, what: str, given: Mapping[str, Any] | list[str]) -> None:
        if set(given) != set(self.thresholds):
            raise ValueError(
                f"{what} has constraints {sorted(given)} but this DualAscent has {sorted(self.thresholds)}"
            )

    def update(self, scores: Mapping[str, Any], masks: Mapping[str, Any], valid: Any = None) -> dict[str, float]:
        """One projected dual-ascent step; returns what only the update knows, per constraint k:
        ``fgrpo/lambda_next/{k}`` (λ_k after the step) and ``fgrpo/constraint/{k}/skipped`` (1.0 when
        n_k < min_applicable, so λ_k did not move).

        The λ used and ``n_k``, ``c̄_k`` are logged with the step's other metrics by
        :func:`fgrpo_verl.step_stats.step_metrics`.

        Args:
            scores, masks: constraint name -> ``[B]`` values / 0-1 applicability (extra keys ignored).
            valid: ``[B]`` bool, False for padding rows; ``None`` = all rows valid.

        Raises:
            ValueError: a missing channel or mask, mismatched lengths, a non-0/1 mask, or a
                non-finite score in an applicable valid row. λ is left unchanged on error.
        """
        rows = self._rows(scores, masks, valid)
        metrics: dict[str, float] = {}
        new = dict(self._lambdas)
        for name, (values, used) in rows.items():
            count, mean = applicable_mean(values, used)
            skipped = count < self.min_applicable
            if not skipped:
                stepped = self._lambdas[name] + self.lr * (self.thresholds[name] - mean)
                new[name] = min(max(stepped, 0.0), self.lambda_max)
            metrics[f"fgrpo/lambda_next/{name}"] = new[name]
            metrics[f"fgrpo/constraint/{name}/skipped"] = float(skipped)
        self._lambdas = new
        self.step += 1
        return metrics

    def _rows(
        self, scores: Mapping[str, Any], masks: Mapping[str, Any], valid: Any
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Validated (scores, mask ∧ valid) per constraint, all checked before λ changes."""
        valid_t = None if valid is None else _row_mask("valid", valid, None)
        size = None if valid_t is None else int(valid_t.shape[0])
        rows = {}
        for name in self.thresholds:
            if name not in scores:
                raise ValueError(f"scores has no channel {name!r}: scores holds {sorted(scores)}")
            if name not in masks:
                raise ValueError(f"constraint {name!r} has no mask: masks holds {sorted(masks)}")
            values = _row_vector(f"scores[{name!r}]", scores[name], size)
            size = int(values.shape[0])
            if size == 0:
                raise ValueError(f"empty batch: scores[{name!r}] has 0 values")
            used = _row_mask(f"masks[{name!r}]", masks[name], size)
            if valid_t is not None:
                used &= valid_t
            n_bad = int((~torch.isfinite(values) & used).sum())
            if n_bad:
                raise ValueError(f"scores[{name!r}] has {n_bad} non-finite values in applicable rows")
            rows[name] = (values, used)
        return rows

    def state_dict(self) -> dict[str, Any]:
        """Plain Python (str, int, float, list, dict): round-trips exactly through json and torch.save."""
        return {
            "constraints": list(self.thresholds),
            "lambdas": dict(self._lambdas),
            "step": self.step,
            "thresholds": dict(self.thresholds),
            "lr": self.lr,
            "lambda_max": self.lambda_max,
            "lambda_init": dict(self.lambda_init),
            "min_applicable": self.min_applicable,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore λ, the step count and the settings saved with them; the one check of a saved state.

        The saved τ, lr, λ_init and min_applicable win over the ones this object was built with,
        as SPEC §3 asks; a difference is logged so a changed config is visible. ``lambda_max`` is
        the exception: it bounds λ, so this object's (the configured) value holds, and a saved λ
        or λ_init above it is clipped to it with a warning that names both values.

        Raises:
            ConstraintSetMismatch: the state holds λ for another constraint set (both are named).
            ValueError: anything else malformed; the message starts with the field
                (``step must be an integer >= 0, got '5'``). Nothing changes on error.
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"the dual state must be a mapping, got {type(state).__name__}")
        for key in _STATE_KEYS:
            if key not in state:
                raise ValueError(f"{key} is missing; the state holds {sorted(state)}")
        names = state["constraints"]
        if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"constraints must be a list of constraint names, got {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"constraints lists a constraint twice: {list(names)}")
        if set(names) != set(self.thresholds):
            raise ConstraintSetMismatch(
                f"constraints {sorted(names)} differ from the constraints {sorted(self.thresholds)} of this DualAscent"
            )
        for key in ("thresholds", "lambdas", "lambda_init"):
            if not isinstance(state[key], Mapping) or set(state[key]) != set(names):
                raise ValueError(f"{key} must map exactly the constraints {sorted(names)}, got {state[key]!r}")
        restored = DualAscent(
            state["thresholds"], state["lr"], state["lambda_max"], state["lambda_init"], state["min_applicable"]
        )
        lambdas = {k: checks.number(f"lambdas[{k!r}]", state["lambdas"][k], low=0.0) for k in self.thresholds}
        step = checks.integer("step", state["step"], low=0)
        changed = {
            key: (getattr(restored, key), getattr(self, key))
            for key in ("thresholds", "lr", "lambda_max", "lambda_init", "min_applicable")
            if getattr(restored, key) != getattr(self, key)
        }
        if changed:
            logger.warning(
                "restoring dual state saved with settings other than the current config's: %s; the saved values "
                "are used, except lambda_max (the current value bounds λ)",
                "; ".join(f"{key} saved {saved} (config {now})" for key, (saved, now) in changed.items()),
            )
        above = [k for k in names if max(lambdas[k], restored.lambda_init[k]) > self.lambda_max]
        if above:
            logger.warning(
                "the saved dual state holds λ above lambda_max = %s of the current config (saved λ %s, λ_init %s, "
                "lambda_max %s); clipped to %s",
                self.lambda_max,
                {k: lambdas[k] for k in above},
                {k: restored.lambda_init[k] for k in above},
                restored.lambda_max,
                self.lambda_max,
            )
        self.thresholds = {k: restored.thresholds[k] for k in names}
        self.lr, self.min_applicable = restored.lr, restored.min_applicable
        self.lambda_init = {k: min(restored.lambda_init[k], self.lambda_max) for k in self.thresholds}
        self._lambdas = {k: min(lambdas[k], self.lambda_max) for k in self.thresholds}
        self.step = step
