"""Projected dual ascent on the Lagrange multipliers λ_k of the FGRPO constraints (SPEC §3).

For each enabled constraint k, over the valid rows of a batch::

    n_k = Σ m_k
    c̄_k = Σ m_k·s_k / n_k
    λ_k ← clip(λ_k + lr·(τ_k − c̄_k), 0, lambda_max)      only when n_k ≥ min_applicable

A constraint below its threshold (c̄_k < τ_k) raises λ_k, i.e. weighs that constraint's
advantage more; one above it lowers λ_k towards 0. The caller computes the step's advantage
with :attr:`DualAscent.lambdas` first and calls :meth:`DualAscent.update` afterwards
("compute, then update"), so the λ logged as ``fgrpo/lambda/{k}`` is the one the policy
gradient actually used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import torch

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


def _finite(name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return float(value)


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
        self.thresholds = {str(k): _finite(f"thresholds[{k!r}]", v) for k, v in thresholds.items()}
        self.lr = _finite("lr", lr, low=0.0)
        self.lambda_max = _finite("lambda_max", lambda_max, low=0.0)
        if isinstance(min_applicable, bool) or not isinstance(min_applicable, int) or min_applicable < 1:
            raise ValueError(f"min_applicable must be an integer >= 1, got {min_applicable!r}")
        self.min_applicable = min_applicable
        if isinstance(lambda_init, Mapping):
            self._check_names("lambda_init", lambda_init)
            init = {k: lambda_init[k] for k in self.thresholds}
        else:
            init = dict.fromkeys(self.thresholds, lambda_init)
        self.lambda_init = {k: _finite(f"lambda_init[{k!r}]", v, 0.0, self.lambda_max) for k, v in init.items()}
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
        """One projected dual-ascent step; returns this step's metrics.

        Metrics per constraint k: ``fgrpo/lambda/{k}`` (λ used this step, before the update),
        ``fgrpo/lambda_next/{k}``, ``fgrpo/constraint/{k}/mean`` (c̄_k, 0.0 when n_k = 0),
        ``/slack`` (c̄_k − τ_k, 0.0 when n_k = 0), ``/applicable`` (n_k) and ``/skipped``
        (1.0 when n_k < min_applicable, so λ_k did not move).

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
            count = int(used.sum())
            mean = float(torch.where(used, values, 0.0).sum() / count) if count else 0.0
            skipped = count < self.min_applicable
            if not skipped:
                stepped = self._lambdas[name] + self.lr * (self.thresholds[name] - mean)
                new[name] = min(max(stepped, 0.0), self.lambda_max)
            metrics[f"fgrpo/lambda/{name}"] = self._lambdas[name]
            metrics[f"fgrpo/lambda_next/{name}"] = new[name]
            metrics[f"fgrpo/constraint/{name}/mean"] = mean
            metrics[f"fgrpo/constraint/{name}/slack"] = mean - self.thresholds[name] if count else 0.0
            metrics[f"fgrpo/constraint/{name}/applicable"] = float(count)
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
        """Restore λ, the step count and the settings saved with them, exactly.

        The saved settings (τ, lr, λ_max, λ_init, min_applicable) win over the ones this object
        was built with, as SPEC §3 asks; a difference is logged so a changed config is visible.

        Raises:
            ValueError: missing keys, or a constraint set different from this object's.
        """
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"dual state is missing {missing}; it has {sorted(state)}")
        names = list(state["constraints"])
        if len(set(names)) != len(names):
            raise ValueError(f"the saved dual state lists a constraint twice: {names}")
        self._check_names("the saved dual state", names)
        self._check_names("the saved dual state's thresholds", state["thresholds"])
        self._check_names("the saved dual state's lambdas", state["lambdas"])
        restored = DualAscent(
            state["thresholds"], state["lr"], state["lambda_max"], state["lambda_init"], state["min_applicable"]
        )
        lambdas = {
            k: _finite(f"saved lambdas[{k!r}]", state["lambdas"][k], 0.0, restored.lambda_max) for k in self.thresholds
        }
        step = state["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"saved step must be an integer >= 0, got {step!r}")
        changed = [
            key
            for key in ("thresholds", "lr", "lambda_max", "lambda_init", "min_applicable")
            if getattr(restored, key) != getattr(self, key)
        ]
        if changed:
            logger.warning(
                "restoring dual state saved with different %s than the current config; the saved values are used",
                ", ".join(changed),
            )
        self.thresholds = {k: restored.thresholds[k] for k in names}
        self.lr, self.lambda_max, self.min_applicable = restored.lr, restored.lambda_max, restored.min_applicable
        self.lambda_init = {k: restored.lambda_init[k] for k in self.thresholds}
        self._lambdas = {k: lambdas[k] for k in self.thresholds}
        self.step = step
