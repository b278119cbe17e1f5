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

Input policy: every score is validated only where it enters a statistic (mask = 1 and valid).
Elsewhere a value is never read, so it may be anything (even NaN); the reward manager writes
0.0 there. A non-finite value that would be read raises ``ValueError`` naming the channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from fgrpo_verl.channels import MODES

#: Modes that use the λ-weighted constraint advantages; the others normalise one scalar per row.
CONSTRAINED_MODES: tuple[str, ...] = ("fgrpo", "fixed_lambda")

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
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")


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


class _Rows:
    """Size, device and validity of a batch; validates channels against them."""

    def __init__(self, size: int, device: torch.device, valid: Any) -> None:
        if size == 0:
            raise ValueError("empty batch: 0 responses")
        self.size = size
        self.device = device
        if valid is None:
            self.valid = torch.ones(size, dtype=torch.bool, device=device)
        else:
            self.valid = _as_mask("valid", valid, size, device)
            if not bool(self.valid.any()):
                raise ValueError("valid is False for every row: the batch holds only padding")

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


class _Batch(_Rows):
    """A batch of responses with group ids and a token mask (the output's shape and device)."""

    def __init__(self, index: Any, response_mask: Any, valid: Any, eps: float) -> None:
        _check_eps(eps)
        self.eps = float(eps)
        self.response_mask = torch.as_tensor(response_mask)
        if self.response_mask.dim() != 2:
            raise ValueError(f"response_mask must be 2-D [B, L], got shape {tuple(self.response_mask.shape)}")
        super().__init__(int(self.response_mask.shape[0]), self.response_mask.device, valid)
        self.groups, self.num_groups = _group_ids(index, self.size, self.device)

    def normalize(self, scores: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
        return _normalize(scores, self.groups, used, self.num_groups, self.eps)


def _lambda(lambdas: Mapping[str, Any], name: str) -> float:
    if name not in lambdas:
        raise ValueError(f"lambdas has no value for constraint {name!r}: lambdas holds {sorted(lambdas)}")
    value = lambdas[name]
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ValueError(f"lambdas[{name!r}] must be a finite number >= 0, got {value!r}")
    return float(value)


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
        weights = [1.0] + [_lambda(lambdas, name) for name in constraints]
        channels = [batch.scores("task", task)] + [
            batch.scores(f"constraints[{name!r}]", values, batch.mask(name, masks))
            for name, values in constraints.items()
        ]
        normalized = batch.normalize(torch.stack([s for s, _ in channels]), torch.stack([u for _, u in channels]))
        weight = torch.tensor(weights, dtype=_F64, device=batch.device).unsqueeze(-1)
        advantage = (weight * normalized).sum(0)  # A_i = Â_task,i + Σ_k λ_k · Â_k,i
        if whiten:
            advantage = _whiten(advantage, batch.valid, batch.eps)
        # Padding rows are 0 here by construction: they are in no S, and whitening's deviation is 0 off V.
        return _broadcast(advantage, batch.response_mask)


def _coupled(mode: str, acc: torch.Tensor, fmt: torch.Tensor, applicable: Mapping[str, torch.Tensor]) -> torch.Tensor:
    consistency = applicable.get("consistency", torch.zeros_like(acc))
    spatial = applicable.get("spatial_grounding", torch.zeros_like(acc))
    if mode == "additive":
        return acc / 3.0 + acc * consistency / 3.0 + fmt * spatial / 3.0
    if mode == "multiplicative":
        return 0.5 * acc * consistency + 0.5 * fmt * spatial
    raise ValueError(f"coupled reward mode must be 'additive' or 'multiplicative', got {mode!r}")


def _coupled_inputs(
    rows: _Rows, acc: Any, fmt: Any, constraints: Mapping[str, Any], masks: Mapping[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """acc, format and each constraint with 0 where it is not applicable (C·m_C, G·m_G)."""
    if acc is None or fmt is None:
        raise ValueError("the additive and multiplicative modes need acc and fmt (one value per response)")
    acc_t, _ = rows.scores("acc", acc)
    fmt_t, _ = rows.scores("fmt", fmt)
    applicable = {}
    for name, values in constraints.items():
        scores, used = rows.scores(f"constraints[{name!r}]", values, rows.mask(name, masks))
        applicable[name] = torch.where(used, scores, 0.0)
    return acc_t, fmt_t, applicable


def coupled_reward(
    mode: str, acc: Any, fmt: Any, constraints: Mapping[str, Any], masks: Mapping[str, Any]
) -> torch.Tensor:
    """The single coupled reward of the ``additive`` / ``multiplicative`` ablations (SPEC §2).

    With C = consistency and G = spatial_grounding, each taken as 0 where its mask is 0 or
    when the constraint is not in ``constraints`` (other constraints do not enter)::

        additive:        r = acc/3 + acc·C/3 + format·G/3
        multiplicative:  r = 0.5·acc·C + 0.5·format·G

    Returns:
        float32 ``[B]`` on the device of ``acc`` (CPU for non-tensors).
    """
    if acc is None:
        raise ValueError("the additive and multiplicative modes need acc and fmt (one value per response)")
    with torch.no_grad():
        device = acc.device if isinstance(acc, torch.Tensor) else torch.device("cpu")
        rows = _Rows(int(_as_vector("acc", acc, None, device).shape[0]), device, None)
        return _coupled(mode, *_coupled_inputs(rows, acc, fmt, constraints, masks)).to(torch.float32)


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
    """The advantage of any mode of SPEC §2, ``[B, L]`` float32; padding rows are 0.

    | mode                       | per-row advantage                                                |
    |----------------------------|------------------------------------------------------------------|
    | ``fgrpo``, ``fixed_lambda``| :func:`compute_fgrpo_advantage` with ``constraints`` and λ       |
    | ``grpo_t``                 | ``group_normalize(task)`` — no constraints, no whitening         |
    | ``additive``               | ``group_normalize(acc/3 + acc·C/3 + format·G/3)``, no whitening  |
    | ``multiplicative``         | ``group_normalize(0.5·acc·C + 0.5·format·G)``, no whitening      |

    ``whiten`` and ``lambdas`` apply to the constrained modes only; ``acc``/``fmt`` are needed by
    the coupled modes only (``None`` is accepted elsewhere). Whether λ moves (``fgrpo``) or
    stays (``fixed_lambda``) is the caller's business: this function uses the λ it is given.
    """
    if mode in CONSTRAINED_MODES:
        return compute_fgrpo_advantage(task, constraints, masks, lambdas, index, response_mask, valid, eps, whiten)
    if mode not in MODES:
        raise ValueError(f"unknown advantage mode {mode!r}; known: {list(MODES)}")
    with torch.no_grad():
        batch = _Batch(index, response_mask, valid, eps)
        if mode == "grpo_t":
            score, _ = batch.scores("task", task)
        else:
            score = _coupled(mode, *_coupled_inputs(batch, acc, fmt, constraints, masks))
        advantage = batch.normalize(score[None], batch.valid[None])[0]
        return _broadcast(advantage, batch.response_mask)
