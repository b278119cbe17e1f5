"""The demo's and the sweep's figures (matplotlib, Agg backend: no display needed).

Per-step curves draw the policy's exact expectation (solid) over the batch value the trainer
logs (faint), so sampling noise is visible but does not hide the trend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot is imported)

from fgrpo_verl.demo.settings import STYLES  # noqa: E402
from fgrpo_verl.demo.simulator import RunResult  # noqa: E402

RUN_COLOURS = {"grpo_t": "tab:red", "fgrpo": "tab:blue"}
CONSTRAINT_COLOURS = {"consistency": "tab:purple", "semantic_grounding": "tab:green", "spatial_grounding": "tab:orange"}
STYLE_COLOURS = {"grounded": "tab:green", "shortcut": "tab:red", "vague": "tab:gray", "malformed": "tab:brown"}


def _values(series: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in series]


def _save(fig: plt.Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _curve(ax: plt.Axes, run: RunResult, policy_key: str, batch_key: str | None) -> None:
    colour = RUN_COLOURS.get(run.mode, "tab:gray")
    steps = run.series["step"]
    if batch_key is not None and batch_key in run.series:
        ax.plot(steps, _values(run.series[batch_key]), color=colour, alpha=0.25, linewidth=0.8)
    ax.plot(steps, _values(run.series[policy_key]), color=colour, linewidth=2, label=run.label)


def plot_lambdas(run: RunResult, constraints: Sequence[str], lambda_max: float, path: Path) -> str:
    """λ_k used at each step of one constrained run; λ_max is drawn when the curves come near it."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    highest = 0.0
    for k in constraints:
        values = _values(run.series[f"fgrpo/lambda/{k}"])
        highest = max(highest, *values)
        ax.plot(run.series["step"], values, color=CONSTRAINT_COLOURS[k], label=f"λ {k}")
    top = max(1.15 * highest, 1.5)
    if lambda_max <= top:
        ax.axhline(lambda_max, color="black", linestyle=":", linewidth=1, label="λ_max")
        top = max(top, 1.05 * lambda_max)
    ax.set(xlabel="step", ylabel="λ", title=f"{run.label}: Lagrange multipliers (λ_max = {lambda_max:g})")
    ax.set_ylim(0, top)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_constraints(runs: Sequence[RunResult], thresholds: Mapping[str, float], path: Path) -> str:
    """Each constraint's mean over applicable rollouts per step, for every run, against its τ."""
    fig, axes = plt.subplots(1, len(thresholds), figsize=(4.2 * len(thresholds), 3.8), squeeze=False)
    for ax, (k, tau) in zip(axes[0], thresholds.items(), strict=True):
        for run in runs:
            _curve(ax, run, f"policy/constraint/{k}/mean", f"fgrpo/constraint/{k}/mean")
        ax.axhline(tau, color="black", linestyle="--", linewidth=1, label=f"τ = {tau:g}")
        ax.set(xlabel="step", title=k.replace("_", " "), ylim=(-0.02, 1.02))
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("mean over applicable rollouts")
    return _save(fig, path)


def plot_accuracy_inconsistency(runs: Sequence[RunResult], path: Path) -> str:
    """Accuracy and inconsistency rate (correct rollouts whose reasoning does not conclude the answer)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        _curve(axes[0], run, "policy/accuracy", "fgrpo/reward/acc/mean")
        _curve(axes[1], run, "policy/inconsistency_rate", "fgrpo/inconsistency_rate")
    axes[0].set(xlabel="step", ylabel="accuracy", title="accuracy")
    axes[1].set(xlabel="step", ylabel="share of correct rollouts with C = 0", title="inconsistency rate", ylim=(0, 1))
    for ax in axes:
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_styles(runs: Sequence[RunResult], path: Path) -> str:
    """Share of each reasoning style over steps, one panel per run."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.6), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs, strict=True):
        for style in STYLES:
            ax.plot(run.series["step"], run.series[f"policy/style/{style}"], color=STYLE_COLOURS[style], label=style)
        ax.set(xlabel="step", title=f"{run.label}: reasoning styles", ylim=(0, 1))
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("share of rollouts")
    return _save(fig, path)


def plot_sweep_finals(
    axis: str,
    values: Sequence[float],
    finals: Sequence[Mapping[str, float | None]],
    thresholds: Sequence[Mapping[str, float]],
    baseline: Mapping[str, float | None],
    path: Path,
) -> str:
    """Final slack c̄_k − τ_k, accuracy and inconsistency rate against the swept value (GRPO-T dashed)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for k in thresholds[0]:
        slack = [
            float("nan") if f[f"policy/constraint/{k}/mean"] is None else f[f"policy/constraint/{k}/mean"] - t[k]
            for f, t in zip(finals, thresholds, strict=True)
        ]
        axes[0].plot(values, slack, marker="o", color=CONSTRAINT_COLOURS[k], label=k)
    axes[0].axhline(0, color="black", linestyle="--", linewidth=1)
    axes[0].set(xlabel=axis, ylabel="final c̄ − τ", title="constraint satisfaction (≥ 0: met)")
    for ax, key, title in (
        (axes[1], "policy/accuracy", "final accuracy"),
        (axes[2], "policy/inconsistency_rate", "final inconsistency rate"),
    ):
        ax.plot(values, _values([f[key] for f in finals]), marker="o", color=RUN_COLOURS["fgrpo"], label="FGRPO")
        if baseline.get(key) is not None:
            ax.axhline(baseline[key], color=RUN_COLOURS["grpo_t"], linestyle="--", label="GRPO-T")
        ax.set(xlabel=axis, title=title)
    for ax in axes:
        ax.legend(fontsize=8)
        if len(values) > 2 and min(values) > 0 and max(values) / min(values) >= 10:
            ax.set_xscale("log")
    return _save(fig, path)


def plot_sweep_lambdas(
    axis: str, values: Sequence[float], runs: Sequence[RunResult], constraints: Sequence[str], path: Path
) -> str:
    """λ_k trajectories of every run of one sweep axis, one panel per constraint."""
    fig, axes = plt.subplots(1, len(constraints), figsize=(4.2 * len(constraints), 3.6), squeeze=False)
    colours = plt.get_cmap("viridis")
    for ax, k in zip(axes[0], constraints, strict=True):
        for i, (value, run) in enumerate(zip(values, runs, strict=True)):
            ax.plot(
                run.series["step"],
                _values(run.series[f"fgrpo/lambda/{k}"]),
                color=colours(i / max(1, len(values) - 1)),
                label=f"{axis} = {value:g}",
            )
        ax.set(xlabel="step", ylabel="λ", title=f"λ {k}")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    return _save(fig, path)
