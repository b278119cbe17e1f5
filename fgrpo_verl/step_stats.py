"""Per-step bookkeeping of the FGRPO trainer that needs no verl: channels in, tensors and metrics out.

The trainer (``fgrpo_verl.trainer``) fetches one training step from verl's data plane and hands
this module plain Python: the TransferQueue tags of the rows and the ``reward_extra_info`` dict
the reward manager stored for each rollout. This module

* marks the rows that are real rollouts (``valid``): verl pads a step with copies of sample 0
  tagged ``is_padding``, and those copies must not enter any statistic;
* turns the per-rollout dicts into one float tensor per channel (:func:`channel_tensors`),
  failing with :class:`MissingChannelsError` when the reward manager did not write them;
* computes the step's logged metrics (:func:`step_metrics`), all over the valid rows V::

      fgrpo/reward/{acc,format,task}/mean   = mean_V(r)
      fgrpo/constraint/{k}/applicable       = n_k = Σ_V m_k
      fgrpo/constraint/{k}/mean             = c̄_k = Σ_V m_k·s_k / n_k      (0.0 when n_k = 0; the c̄_k of
                                              the dual update, fgrpo_verl.duals.applicable_mean)
      fgrpo/constraint/{k}/slack            = c̄_k − τ_k                   (0.0 when n_k = 0)
      fgrpo/lambda/{k}                      = λ_k used for this step's advantage
      fgrpo/inconsistency_rate              = Σ_V [acc>0]·m_C·(1 − C) / Σ_V [acc>0]·m_C
                                              (omitted when no correct rollout was judged)
      fgrpo/judge/{calls,failures,cache_hits,flagged} = Σ_V of the per-rollout counts
      fgrpo/judge/latency_{p50,p95}_s       = quantiles (linear) of the per-rollout mean call latency
                                              over rollouts with a successful judge call (omitted without)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from fgrpo_verl.channels import JUDGE_COUNT_KEYS, JUDGE_LATENCY_KEY, extra_info_keys, mask_key
from fgrpo_verl.duals import applicable_mean

#: What a user must configure so that the channels exist (quoted in the missing-keys error).
REWARD_MANAGER_HINT = (
    "configure the FGRPO reward manager: reward.reward_manager.source=importlib "
    "reward.reward_manager.module.path=pkg://fgrpo_verl.reward_manager "
    "reward.reward_manager.name=FGRPORewardManager (the recipe config, +recipe=fgrpo, sets these), "
    "and score rollouts in the reward loop (rule-based/external judge, or a served judge on its own "
    "pool with reward.reward_model.enable_resource_pool=true)"
)


class MissingChannelsError(RuntimeError):
    """The rollouts of a step lack reward channels the FGRPO advantage needs."""


def valid_rows(tags: Sequence[Mapping[str, Any]]) -> torch.Tensor:
    """``valid[i]`` is False for verl's padding rows (tag ``is_padding``), True for real rollouts."""
    return torch.tensor([not bool(tag.get("is_padding", False)) for tag in tags], dtype=torch.bool)


def reward_extra_infos(extra_fields: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The ``reward_extra_info`` dict of each row of verl's per-sample ``extra_fields`` ({} when absent)."""
    infos: list[Mapping[str, Any]] = []
    for field in extra_fields:
        info = field.get("reward_extra_info") if isinstance(field, Mapping) else None
        infos.append(info if isinstance(info, Mapping) else {})
    return infos


def channel_tensors(
    infos: Sequence[Mapping[str, Any]], valid: torch.Tensor, keys: Sequence[str] = extra_info_keys()
) -> dict[str, torch.Tensor]:
    """One float32 ``[B]`` tensor per key of ``keys``, read from each row's ``reward_extra_info``.

    Every valid row must hold every key; padding rows (``valid`` False) are read where they hold
    the key and are 0.0 otherwise (they never enter a statistic).

    Raises:
        MissingChannelsError: a valid row lacks keys; the message names them and the reward manager to use.
        ValueError: a value that is not a number, naming the key and the row.
    """
    if len(infos) != len(valid):
        raise ValueError(f"{len(infos)} reward_extra_info rows for {len(valid)} rows of the batch")
    missing: dict[str, int] = {}
    for row, info in enumerate(infos):
        if valid[row]:
            for key in keys:
                if key not in info:
                    missing[key] = missing.get(key, 0) + 1
    if missing:
        n_valid = int(valid.sum())
        detail = ", ".join(f"{key} ({count} of {n_valid} rows)" for key, count in missing.items())
        raise MissingChannelsError(
            f"the FGRPO advantage needs the per-rollout reward channels {list(keys)} in reward_extra_info, "
            f"but this step's rollouts lack: {detail}. The reward manager in use does not produce them; "
            f"{REWARD_MANAGER_HINT}."
        )
    columns: dict[str, list[float]] = {key: [] for key in keys}
    for row, info in enumerate(infos):
        for key in keys:
            value = info.get(key, 0.0)
            try:
                columns[key].append(float(value))
            except (TypeError, ValueError):
                raise ValueError(f"reward_extra_info[{key!r}] of row {row} must be a number, got {value!r}") from None
    return {key: torch.tensor(values, dtype=torch.float32) for key, values in columns.items()}


def step_metrics(
    channels: Mapping[str, torch.Tensor],
    valid: torch.Tensor,
    constraints: Sequence[str],
    thresholds: Mapping[str, float],
    lambdas: Mapping[str, float] | None,
) -> dict[str, float]:
    """The FGRPO metrics of one step (see the module docstring for the formulas).

    Args:
        channels: output of :func:`channel_tensors`.
        valid: ``[B]`` bool, False for padding rows.
        constraints: the enabled constraints (logged in every mode, as diagnostics for the baselines).
        thresholds: τ_k per constraint.
        lambdas: λ used for this step's advantage; ``None`` for modes without λ.
    """
    metrics: dict[str, float] = {}
    for name in ("acc", "format", "task"):
        metrics[f"fgrpo/reward/{name}/mean"] = applicable_mean(channels[name], valid)[1]
    for name in constraints:
        count, mean = applicable_mean(channels[name], valid & (channels[mask_key(name)] > 0))
        metrics[f"fgrpo/constraint/{name}/applicable"] = float(count)
        metrics[f"fgrpo/constraint/{name}/mean"] = mean
        metrics[f"fgrpo/constraint/{name}/slack"] = mean - float(thresholds[name]) if count else 0.0
    for name, value in (lambdas or {}).items():
        metrics[f"fgrpo/lambda/{name}"] = float(value)
    judged_correct = valid & (channels["acc"] > 0) & (channels[mask_key("consistency")] > 0)
    if bool(judged_correct.any()):
        metrics["fgrpo/inconsistency_rate"] = 1.0 - applicable_mean(channels["consistency"], judged_correct)[1]
    for key in JUDGE_COUNT_KEYS:
        metrics[f"fgrpo/judge/{key.removeprefix('judge_')}"] = float(channels[key][valid].double().sum())
    latencies = channels[JUDGE_LATENCY_KEY][valid & (channels[JUDGE_LATENCY_KEY] > 0)].double()
    if latencies.numel():
        metrics["fgrpo/judge/latency_p50_s"] = float(torch.quantile(latencies, 0.50))
        metrics["fgrpo/judge/latency_p95_s"] = float(torch.quantile(latencies, 0.95))
    return metrics
