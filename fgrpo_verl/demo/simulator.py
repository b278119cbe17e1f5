"""One simulated training run: sample rollouts from the style policy, advantage, policy step, dual step.

Per step, with the real FGRPO code doing the maths:

1. ``prompts_per_step`` questions, ``group_size`` rollouts each: a style from π(·|type), an outcome
   (wrong / correct / slip, :meth:`SimSettings.outcome_probs`), a variant; its rewards come from the
   scored table (:mod:`fgrpo_verl.demo.scoring`);
2. the channels as tensors (:func:`fgrpo_verl.step_stats.channel_tensors`), the advantage of the
   config's mode with the current λ (:func:`fgrpo_verl.advantage.compute_mode_advantage`);
3. the REINFORCE step of :class:`~fgrpo_verl.demo.policy.StylePolicy` with those advantages;
4. mode ``fgrpo`` only: :meth:`fgrpo_verl.duals.DualAscent.update` on the batch (compute, then update).

Recorded per step: the trainer's metrics of the batch (:func:`fgrpo_verl.step_stats.step_metrics`:
``fgrpo/lambda/{k}``, ``fgrpo/constraint/{k}/mean``, ``fgrpo/reward/acc/mean``,
``fgrpo/inconsistency_rate`` …), λ after the update (``fgrpo/lambda_next/{k}``), and the exact
expectations of the policy that sampled the batch over all questions (``policy/…``, no sampling noise):

    policy/accuracy              = E[acc]
    policy/constraint/{k}/mean   = E[m_k·s_k] / E[m_k]
    policy/inconsistency_rate    = E[[acc>0]·m_C·(1 − C)] / E[[acc>0]·m_C]
    policy/style/{s}             = mean over questions of π(s | type)

with E over questions, styles ~ π, outcomes and the scored variants.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

import numpy as np
import torch
from tqdm import tqdm

from fgrpo_verl.advantage import compute_mode_advantage
from fgrpo_verl.channels import CONSTRAINTS, mask_key
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.demo.policy import StylePolicy
from fgrpo_verl.demo.scoring import TERMS, ScoreTable
from fgrpo_verl.demo.settings import QUESTION_TYPES, STYLES, SimSettings
from fgrpo_verl.duals import DualAscent
from fgrpo_verl.step_stats import channel_tensors, step_metrics

logger = logging.getLogger(__name__)

_TERM = {name: i for i, name in enumerate(TERMS)}


@dataclasses.dataclass
class RunResult:
    """One run: ``series[name][step]`` (None where a metric was undefined that step), the policy's
    metrics and λ before the first and after the last step, and the final π per question type."""

    label: str
    mode: str
    series: dict[str, list[float | None]]
    initial: dict[str, float | None]
    final: dict[str, float | None]
    style_probs: dict[str, dict[str, float]]


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def policy_metrics(terms: np.ndarray, type_index: np.ndarray, probs: np.ndarray, outcomes: np.ndarray) -> dict:
    """Exact expected metrics of π over the questions (the ``policy/…`` formulas of the module docstring).

    ``terms``: ``[J, S, O, len(TERMS)]`` from :meth:`ScoreTable.terms`; ``probs``: π ``[T, S]``;
    ``outcomes``: ``[T, S, O]`` from :meth:`SimSettings.outcome_probs`.
    """
    style_w = probs[type_index]  # [J, S]
    weights = style_w[:, :, None] * outcomes[type_index]  # [J, S, O]
    expected = np.einsum("jso,jsoq->q", weights, terms) / len(type_index)
    metrics: dict[str, float | None] = {
        "policy/accuracy": float(expected[_TERM["acc"]]),
        "policy/format": float(expected[_TERM["format"]]),
        "policy/task": float(expected[_TERM["task"]]),
        "policy/inconsistency_rate": _ratio(expected[_TERM["inconsistent/num"]], expected[_TERM["inconsistent/den"]]),
    }
    for k in CONSTRAINTS:
        metrics[f"policy/constraint/{k}/mean"] = _ratio(expected[_TERM[f"{k}/num"]], expected[_TERM[f"{k}/den"]])
    for s, style in enumerate(STYLES):
        metrics[f"policy/style/{style}"] = float(style_w[:, s].mean())
    return metrics


def style_metrics(table: ScoreTable, sim: SimSettings) -> dict[str, dict[str, float | None]]:
    """What each style is worth on its own: :func:`policy_metrics` of the policy that always uses it."""
    metrics = {}
    for s, style in enumerate(STYLES):
        pure = np.zeros((len(QUESTION_TYPES), len(STYLES)))
        pure[:, s] = 1.0
        values = policy_metrics(table.terms(), table.type_index, pure, sim.outcome_probs())
        metrics[style] = {k: v for k, v in values.items() if not k.startswith("policy/style/")}
    return metrics


@dataclasses.dataclass
class _Batch:
    types: np.ndarray  # [B] question-type index
    styles: np.ndarray  # [B] style index
    groups: np.ndarray  # [B] prompt number within the step (the GRPO group id)
    infos: list[Mapping[str, float]]  # [B] scored channels


def _sample(
    table: ScoreTable,
    type_index: np.ndarray,
    policy: StylePolicy,
    outcomes: np.ndarray,
    sim: SimSettings,
    rng: np.random.Generator,
) -> _Batch:
    num_items = len(table.items)
    prompts = rng.choice(num_items, size=sim.prompts_per_step, replace=sim.prompts_per_step > num_items)
    items = np.repeat(prompts, sim.group_size)
    types = type_index[items]
    styles = policy.sample(types, rng)
    cdf = np.cumsum(outcomes[types, styles], axis=1)
    drawn = np.minimum((rng.random(len(items))[:, None] >= cdf).sum(axis=1), cdf.shape[1] - 1)
    variant_draws = rng.random(len(items))
    infos = []
    for j, s, o, u in zip(items, styles, drawn, variant_draws, strict=True):
        variants = table.channels[j][s][o]
        infos.append(variants[int(u * len(variants))])
    groups = np.repeat(np.arange(sim.prompts_per_step), sim.group_size)
    return _Batch(types, styles, groups, infos)


def _log_line(label: str, step: int, steps: int, row: Mapping[str, float | None], constraints: tuple[str, ...]) -> str:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    parts = [
        f"{label} step {step}/{steps}:",
        f"acc {fmt(row['policy/accuracy'])}",
        f"inconsistency {fmt(row['policy/inconsistency_rate'])}",
    ]
    for k in constraints:
        lam = row.get(f"fgrpo/lambda/{k}")
        parts.append(f"{k} {fmt(row[f'policy/constraint/{k}/mean'])}" + ("" if lam is None else f" (λ {lam:.3f})"))
    return " ".join(parts)


def train(
    table: ScoreTable, config: FGRPOConfig, sim: SimSettings, *, label: str | None = None, progress: bool = True
) -> RunResult:
    """Train the style policy for ``sim.steps`` steps with ``config.mode`` (see the module docstring)."""
    label = label or config.mode
    rng = np.random.default_rng(sim.seed)
    policy = StylePolicy(sim.initial_style_probs)
    outcomes = sim.outcome_probs()
    terms, type_index = table.terms(), table.type_index
    thresholds = config.active_thresholds()
    duals = None
    if config.uses_constraints:
        duals = DualAscent(
            thresholds,
            lr=config.dual_lr,
            lambda_max=config.lambda_max,
            lambda_init=config.active_lambda_init(),
            min_applicable=config.min_applicable,
        )
    initial = policy_metrics(terms, type_index, policy.probs(), outcomes)
    initial.update({f"lambda/{k}": v for k, v in (duals.lambdas if duals else {}).items()})
    rows: list[dict[str, float | None]] = []
    log_every = max(1, sim.steps // 5)
    for step in tqdm(range(sim.steps), desc=f"{label} training", unit="step", disable=not progress, leave=False):
        lambdas = duals.lambdas if duals else {}
        batch = _sample(table, type_index, policy, outcomes, sim, rng)
        valid = torch.ones(len(batch.infos), dtype=torch.bool)
        channels = channel_tensors(batch.infos, valid)
        scores = {k: channels[k] for k in config.constraints}
        masks = {k: channels[mask_key(k)] for k in config.constraints}
        advantage = (
            compute_mode_advantage(
                config.mode,
                channels["task"],
                channels["acc"],
                channels["format"],
                scores,
                masks,
                lambdas,
                batch.groups,
                torch.ones(len(batch.infos), 1),
                valid,
                config.eps,
                config.whiten,
            )[:, 0]
            .numpy()
            .astype(np.float64)
        )
        row: dict[str, float | None] = {"step": float(step)}
        row.update(policy_metrics(terms, type_index, policy.probs(), outcomes))
        metrics = step_metrics(channels, valid, config.constraints, thresholds, lambdas if duals else None)
        # Judge counts of a cached score are those of its one scoring call, not of this step: left out.
        row.update({key: value for key, value in metrics.items() if not key.startswith("fgrpo/judge/")})
        row.setdefault("fgrpo/inconsistency_rate", None)  # no correct judged rollout in this batch
        policy.update(batch.types, batch.styles, advantage, sim.policy_lr)
        if duals is not None and config.updates_duals:
            updated = duals.update(scores, masks, valid)
            row.update({key: value for key, value in updated.items() if key.startswith("fgrpo/lambda_next/")})
        rows.append(row)
        if (step + 1) % log_every == 0 or step == 0:
            logger.info(_log_line(label, step + 1, sim.steps, row, config.constraints))
    final = policy_metrics(terms, type_index, policy.probs(), outcomes)
    final.update({f"lambda/{k}": v for k, v in (duals.lambdas if duals else {}).items()})
    keys = list(dict.fromkeys(key for row in rows for key in row))
    series = {key: [row.get(key) for row in rows] for key in keys}
    probs = policy.probs()
    style_probs = {t: {s: float(probs[i, j]) for j, s in enumerate(STYLES)} for i, t in enumerate(QUESTION_TYPES)}
    return RunResult(label, config.mode, series, initial, final, style_probs)
