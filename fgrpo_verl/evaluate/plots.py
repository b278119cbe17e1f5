"""Bar charts (PNG) with matplotlib's object API, so no GUI backend or global state is touched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

#: Chart titles of the metrics, as in the report's table.
TITLES: dict[str, str] = {
    "accuracy": "Accuracy (%)",
    "inconsistency_rate": "Inconsistency rate (%, lower is better)",
    "semantic_grounding": "Semantic grounding (%)",
    "semantic_grounding_correct": "Semantic grounding of correct answers (%)",
    "spatial_grounding": "Spatial grounding (%)",
}


def _percent(value: float | None) -> float:
    # A missing value is drawn as an empty slot (0 height) and labelled "n/a".
    return 0.0 if value is None else 100.0 * value


def metric_bars(path: str | Path, metric: str, names: Sequence[str], values: Sequence[float | None]) -> None:
    """One bar per benchmark for ``metric`` (fractions in, percent drawn), each bar labelled with its value."""
    fig = Figure(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.6), layout="constrained")
    ax = fig.subplots()
    colors = ["#8C8C8C" if name == "average" else "#4C72B0" for name in names]
    bars = ax.bar(range(len(names)), [_percent(v) for v in values], color=colors)
    ax.bar_label(bars, labels=["n/a" if v is None else f"{100 * v:.1f}" for v in values], fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylim(0, 105)
    ax.set_title(TITLES.get(metric, metric))
    fig.savefig(path, dpi=120)


def grouped_bars(
    path: str | Path,
    metrics: Sequence[str],
    groups: Sequence[str],
    runs: Mapping[str, Mapping[str, Sequence[float | None]]],
) -> None:
    """One panel per metric; in each, one group of bars per benchmark and one bar per run.

    ``runs[run][metric]`` holds one value (fraction or ``None``) per entry of ``groups``.
    """
    width = 0.8 / max(1, len(runs))
    fig = Figure(
        figsize=(max(6.0, 1.1 * len(groups) * max(1, len(runs)) / 2 + 2), 3.2 * len(metrics)), layout="constrained"
    )
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics, strict=True):
        for k, (run, values) in enumerate(runs.items()):
            positions = [g + (k - (len(runs) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(positions, [_percent(v) for v in values[metric]], width, label=run)
        ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
        ax.set_ylim(0, 105)
        ax.set_title(TITLES.get(metric, metric))
    axes[0].legend(fontsize=8, ncols=min(4, len(runs)))
    fig.savefig(path, dpi=120)
