"""FGRPO advantages: per-channel group normalisation, λ-weighted sum, batch whitening (SPEC §2).

Pure, vectorised tensor maths (no verl imports). Per-row statistics are computed in float64
with segment sums (``index_add_``) over dense group ids; there is no Python loop over groups.

Group normalisation of one channel ``s`` with applicability mask ``m`` and group ids ``g``
(``group_normalize``)::

    S_j  = {i : g_i = j, m_i = 1, valid_i}
    Â_i  = (s_i − mean_{S_j}(s)) / (std_{S_j}(s) + eps)     if i ∈ S_j and |S_j| ≥ 2 (unbiased std)
    Â_i  = 0                                                 otherwise (|S_j| < 2 zeroes the whole group)

FGRPO (``compute_fgrpo_advantage``)::

    A_i  = Â_task,i + Σ_k λ_k · Â_k,i
    A_i  ← (A_i − mean_V(A)) / (std_V(A) + eps)              V = valid rows, one value per response, unbiased
    advantages[i, t] = A_i · response_mask[i, t]             padding rows (valid = False) are exactly 0

The ablation modes (:mod:`fgrpo_verl.modes`) are built from the same pieces and run through
:func:`compute_mode_advantage`.

Input policy: every score is validated only where it enters a statistic (mask = 1 and valid).
Elsewhere a value is never read, so it may be anything (even NaN); the reward manager writes
0.0 there. A non-finite value that would be read raises ``ValueError`` naming the channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from fgrpo_verl import checks
from fgrpo_verl.modes import decoupled_advantage, get_mode

_F64 = torch.float64


def _as_vector(name: str, values: Any, size: int | None, device: torch.device) -> torch.Tensor:
    """One value per response as a float64 tensor on ``device``; checks shape, not content."""
    try:
        if isinstance(values, np.ndarray) and values.dtype == object:  # verl's non-tensor fields
            values = values.astype(np.float64)
        tensor = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be numeric (one value per response): {err}") from err
    if tensor.dim() != 1:
        raise ValueError(f"{name} must be 1-D (one value per response), got shape {tuple(tensor.shape)}")
    if size is not None and tensor.shape[0] != size:
        raise ValueError(f"{name} has {tensor.shape[0]} values, expected {size} (one per response)")
    if tensor.is_complex():
        raise ValueError(f"{name} must be real-valued, got dtype {tensor.dtype}")
    return tensor.to(device=device, dtype=_F64)


def _as_mask(name: str, values: Any, size: int, device: torch.device) -> torch.Tensor:
    """A 0/1 (or bool) vector as a bool tensor; anything else is an error, not a truthiness guess."""
    tensor = _as_vector(name, values, size, device)
    bad = ~((tensor == 0) | (tensor == 1))
    n_bad = int(bad.sum())
    if n_bad:
        row = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name} must hold only 0/1, found {n_bad} other values (first at row {row})")
    return tensor.bool()


def _check_finite(name: str, values: torch.Tensor, used: torch.Tensor) -> None:
    bad = ~torch.isfinite(values) & used
    n_bad = int(bad.sum())
    if n_bad:
        row = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name} has {n_bad} non-finite values in rows that enter the statistics (first at row {row})")


def _check_eps(eps: float) -> None:
    # eps = 0 would turn a zero-variance group or batch into 0/0.
    checks.number("eps", eps, positive=True)


def _group_ids(index: Any, size: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """Dense group ids 0..G-1 for arbitrary labels (uuid strings, ints, a tensor), and G."""
    if isinstance(index, torch.Tensor):
        if index.dim() != 1 or index.shape[0] != size:
            raise ValueError(f"index must hold {size} group ids (one per response), got shape {tuple(index.shape)}")
        labels, inverse = torch.unique(index, return_inverse=True)
        return inverse.to(device=device, dtype=torch.long), int(labels.numel())
    array = np.asarray(index)
    if array.ndim != 1 or array.shape[0] != size:
        raise ValueError(f"index must hold {size} group ids (one per response), got shape {array.shape}")
    try:
        labels, inverse = np.unique(array, return_inverse=True)
    except TypeError as err:  # e.g. a mix of str and int, or None, in an object array
        raise ValueError(f"index holds group ids that cannot be compared with each other: {err}") from err
    return torch.from_numpy(inverse.reshape(-1).astype(np.int64)).to(device), int(labels.shape[0])


def _normalize(
    scores: torch.Tensor, groups: torch.Tensor, mask: torch.Tensor, num_groups: int, eps: float
) -> torch.Tensor:
    """Group normalisation of C channels in one pass: scores ``[C, B]`` float64, mask ``[C, B]`` bool
    (applicable ∧ valid), groups ``[B]`` dense ids; returns Â ``[C, B]``.

    Per-group values go back to rows with ``index_select``, not ``t[groups]``: on CPU the latter opens
    a parallel region even for a few thousand rows, which stalls for milliseconds on a busy machine.
    Doing all channels at once likewise keeps the number of kernel calls independent of C.
    """
    zeros = torch.zeros(scores.shape[0], num_groups, dtype=_F64, device=scores.device)
    count = zeros.index_add(1, groups, mask.to(_F64))
    # Shift each group by one of its own applicable members before summing. A constant group, and
    # a group with a single applicable row (|S| < 2), then have deviations of exactly 0, hence an
    # advantage of exactly 0, instead of rounding noise divided by eps.
    ref = torch.full_like(zeros, float("-inf")).scatter_reduce(
        1, groups.expand_as(scores), torch.where(mask, scores, float("-inf")), "amax"
    )
    shifted = torch.where(mask, scores - ref.index_select(1, groups), 0.0)
    mean = zeros.index_add(1, groups, shifted) / count.clamp_min(1.0)
    dev = torch.where(mask, shifted - mean.index_select(1, groups), 0.0)
    std = (zeros.index_add(1, groups, dev * dev) / (count - 1.0).clamp_min(1.0)).sqrt()
    return dev / (std.index_select(1, groups) + eps)  # dev is 0 outside S


def _whiten(values: torch.Tensor, valid: torch.Tensor, eps: float) -> torch.Tensor:
    """(A − mean_V(A)) / (std_V(A) + eps) over the valid rows V (unbiased); 0 on the other rows."""
    count = valid.sum().to(_F64)
    ref = torch.where(valid, values, float("-inf")).max()  # same exactness trick as in _normalize
    shifted = torch.where(valid, values - ref, 0.0)
    dev = torch.where(valid, shifted - shifted.sum() / count, 0.0)
    std = ((dev * dev).sum() / (count - 1.0).clamp_min(1.0)).sqrt()
    return dev / (std + eps)


def _broadcast(per_row: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """advantages[i, t] = A_i · response_mask[i, t] (float32, the dtype verl's actor expects)."""
    return per_row.to(torch.float32).unsqueeze(-1) * response_mask


class _Batch:
    """A batch of responses: group ids, a token mask (the output's shape and device) and validity;
    validates channels against them."""

    def __init__(self, index: Any, response_mask: Any, valid: Any, eps: float) -> None:
        _check_eps(eps)
        self.eps = float(eps)
        self.response_mask = torch.as_tensor(response_mask)
        if self.response_mask.dim() != 2:
            raise ValueError(f"response_mask must be 2-D [B, L], got shape {tuple(self.response_mask.shape)}")
        self.size = int(self.response_mask.shape[0])
        self.device = self.response_mask.device
        if self.size == 0:
            raise ValueError("empty batch: 0 responses")
        if valid is None:
            self.valid = torch.ones(self.size, dtype=torch.bool, device=self.device)
        else:
            self.valid = _as_mask("valid", valid, self.size, self.device)
            if not bool(self.valid.any()):
                raise ValueError("valid is False for every row: the batch holds only padding")
        self.groups, self.num_groups = _group_ids(index, self.size, self.device)

    def scores(self, name: str, values: Any, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A channel as float64, and the rows that enter its statistics (mask ∧ valid), validated."""
        tensor = _as_vector(name, values, self.size, self.device)
        used = self.valid if mask is None else mask & self.valid
        _check_finite(name, tensor, used)
        return tensor, used

    def mask(self, name: str, masks: Mapping[str, Any]) -> torch.Tensor:
        if name not in masks:
            raise ValueError(f"constraint {name!r} has no mask: masks holds {sorted(masks)}")
        return _as_mask(f"masks[{name!r}]", masks[name], self.size, self.device)

    def normalize(self, scores: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
        return _normalize(scores, self.groups, used, self.num_groups, self.eps)


def _lambda(lambdas: Mapping[str, Any], name: str) -> float:
    if name not in lambdas:
        raise ValueError(f"lambdas has no value for constraint {name!r}: lambdas holds {sorted(lambdas)}")
    value = lambdas[name]
    if isinstance(value, torch.Tensor):
        value = value.item()
    return checks.number(f"lambdas[{name!r}]", value, low=0.0)


def group_normalize(scores: Any, index: Any, mask: Any = None, eps: float = 1e-6) -> torch.Tensor:
    """Normalise one channel within each group over its applicable rows.

    For each group j with S_j = {i : g_i = j, m_i = 1}::

        Â_i = (s_i − mean_{S_j}(s)) / (std_{S_j}(s) + eps)   for i ∈ S_j when |S_j| ≥ 2 (unbiased std)
        Â_i = 0                                               for i ∉ S_j, and for the whole group when |S_j| < 2

    Args:
        scores: ``[B]`` values; read only where ``mask`` is 1.
        index: ``B`` group ids (numpy array of uuid strings or ints, a list, or a tensor).
        mask: ``[B]`` 0/1 or bool applicability (padding rows belong here as 0); ``None`` = all rows.
        eps: > 0, added to the std.

    Returns:
        float32 ``[B]`` on the device of ``scores`` (CPU for non-tensors).
    """
    with torch.no_grad():
        _check_eps(eps)
        device = scores.device if isinstance(scores, torch.Tensor) else torch.device("cpu")
        values = _as_vector("scores", scores, None, device)
        size = int(values.shape[0])
        if size == 0:
            raise ValueError("empty batch: scores has 0 values")
        groups, num_groups = _group_ids(index, size, device)
        used = (
            torch.ones(size, dtype=torch.bool, device=device) if mask is None else _as_mask("mask", mask, size, device)
        )
        _check_finite("scores", values, used)
        return _normalize(values[None], groups, used[None], num_groups, float(eps))[0].to(torch.float32)


class _StepChannels:
    """One step's channels for a mode's advantage function (:class:`fgrpo_verl.modes.ModeBatch`).

    Each channel is validated when the mode first reads it, so a mode is never refused for an
    input it does not use (``acc``/``fmt`` may be ``None`` for modes that read neither).
    """

    def __init__(
        self,
        batch: _Batch,
        task: Any,
        acc: Any,
        fmt: Any,
        constraints: Mapping[str, Any],
        masks: Mapping[str, Any],
        lambdas: Mapping[str, Any],
        whiten: bool,
    ) -> None:
        self._batch = batch
        self._task, self._acc, self._fmt = task, acc, fmt
        self._constraints, self._masks, self._lambdas = constraints, masks, lambdas
        self._whiten = whiten

    def task(self) -> torch.Tensor:
        return self._batch.scores("task", self._task)[0]

    def weighted_sum(self) -> torch.Tensor:
        batch = self._batch
        weights = [1.0] + [_lambda(self._lambdas, name) for name in self._constraints]
        channels = [batch.scores("task", self._task)] + [
            batch.scores(f"constraints[{name!r}]", values, batch.mask(name, self._masks))
            for name, values in self._constraints.items()
        ]
        normalized = batch.normalize(torch.stack([s for s, _ in channels]), torch.stack([u for _, u in channels]))
        weight = torch.tensor(weights, dtype=_F64, device=batch.device).unsqueeze(-1)
        return (weight * normalized).sum(0)

    def whiten(self, values: torch.Tensor) -> torch.Tensor:
        return _whiten(values, self._batch.valid, self._batch.eps) if self._whiten else values

    def coupled_terms(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """acc, format, and C·m_C, G·m_G (0 where not applicable or not enabled)."""
        if self._acc is None or self._fmt is None:
            raise ValueError("the coupled terms need acc and fmt (one value per response)")
        batch = self._batch
        acc, _ = batch.scores("acc", self._acc)
        fmt, _ = batch.scores("fmt", self._fmt)
        applicable = {}
        for name, values in self._constraints.items():
            scores, used = batch.scores(f"constraints[{name!r}]", values, batch.mask(name, self._masks))
            applicable[name] = torch.where(used, scores, 0.0)
        zeros = torch.zeros_like(acc)
        return acc, fmt, applicable.get("consistency", zeros), applicable.get("spatial_grounding", zeros)

    def normalize(self, score: torch.Tensor) -> torch.Tensor:
        return self._batch.normalize(score[None], self._batch.valid[None])[0]


def compute_fgrpo_advantage(
    task: Any,
    constraints: Mapping[str, Any],
    masks: Mapping[str, Any],
    lambdas: Mapping[str, Any],
    index: Any,
    response_mask: torch.Tensor,
    valid: Any = None,
    eps: float = 1e-6,
    whiten: bool = True,
) -> torch.Tensor:
    """Decoupled FGRPO advantage, broadcast over tokens.

    ::

        A_i = Â_task,i + Σ_k λ_k · Â_k,i                 k over the keys of ``constraints`` (any subset, or none)
        A_i ← (A_i − mean_V(A)) / (std_V(A) + eps)       if ``whiten``; V = valid rows, unbiased std
        advantages[i, t] = A_i · response_mask[i, t]      (= returns for an outcome-only estimator)

    Â is :func:`group_normalize` with mask ``m_k ∧ valid`` (``valid`` alone for the task).
    Padding rows (``valid`` False) never enter a statistic and get exactly 0. Rows of a group
    whose Â is 0 before whitening still take part in the whitening (they are real samples).

    Args:
        task: ``[B]`` task reward (``w_acc·acc + w_format·format``).
        constraints: constraint name -> ``[B]`` scores; values are read only where the mask is 1.
        masks: constraint name -> ``[B]`` 0/1 applicability; one per constraint (extra keys are ignored).
        lambdas: constraint name -> λ_k ≥ 0 (extra keys are ignored).
        index: ``B`` group ids (uuid strings, ints or a tensor).
        response_mask: ``[B, L]`` token mask; sets the output's device.
        valid: ``[B]`` bool, False for padding rows; ``None`` = all rows valid.
        eps: > 0, added to every std.
        whiten: batch-whiten A over the valid rows.

    Returns:
        float32 ``[B, L]`` advantages.

    Raises:
        ValueError: empty or all-padding batch, mismatched lengths, non-finite values where they
            would be read, non-0/1 masks, a constraint without mask or λ, a negative λ, eps ≤ 0.
    """
    with torch.no_grad():
        batch = _Batch(index, response_mask, valid, eps)
        step = _StepChannels(batch, task, None, None, constraints, masks, lambdas, whiten)
        # Padding rows are 0 here by construction: they are in no S, and whitening's deviation is 0 off V.
        return _broadcast(decoupled_advantage(step), batch.response_mask)


def compute_mode_advantage(
    mode: str,
    task: Any,
    acc: Any,
    fmt: Any,
    constraints: Mapping[str, Any],
    masks: Mapping[str, Any],
    lambdas: Mapping[str, Any],
    index: Any,
    response_mask: torch.Tensor,
    valid: Any = None,
    eps: float = 1e-6,
    whiten: bool = True,
) -> torch.Tensor:
    """The advantage of ``mode`` (a row of :data:`fgrpo_verl.modes.MODE_TABLE`), ``[B, L]`` float32.

    The mode's function gives one value per response (its formula is in its docstring); it is
    broadcast over tokens, and padding rows (``valid`` False) are exactly 0. Inputs are read only
    as the mode needs them: ``lambdas`` and ``whiten`` by the λ modes, ``acc``/``fmt`` by the
    coupled ones (``None`` is accepted elsewhere). Whether λ moves between steps is the caller's
    business: this function uses the λ it is given.

    Raises:
        ValueError: an unknown mode, bad input to a channel the mode reads (as for
            :func:`compute_fgrpo_advantage`), or a mode function that returns a wrong shape or
            non-finite values on valid rows.
    """
    spec = get_mode(mode)
    with torch.no_grad():
        batch = _Batch(index, response_mask, valid, eps)
        step = _StepChannels(batch, task, acc, fmt, constraints, masks, lambdas, whiten)
        advantage = torch.as_tensor(spec.advantage(step))
        if advantage.shape != (batch.size,):
            raise ValueError(
                f"the advantage function of mode {mode!r} returned shape {tuple(advantage.shape)}, "
                f"expected ({batch.size},): one value per response"
            )
        advantage = advantage.to(device=batch.device, dtype=_F64)
        _check_finite(f"the advantage of mode {mode!r}", advantage, batch.valid)
        return _broadcast(torch.where(batch.valid, advantage, 0.0), batch.response_mask)
