"""``metrics.json`` -> ``report.md`` (the paper's table) and one bar chart per metric (``<metric>.png``).

Numbers in the report are the fractions of ``metrics.json`` times 100 with one decimal
(``0.6234`` -> ``62.3``); ``–`` marks a metric with an empty denominator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fgrpo_verl.evaluate.metrics import HEADLINE, ISSUE_COUNTS
from fgrpo_verl.evaluate.plots import metric_bars

COLUMN_NAMES: dict[str, str] = {
    "accuracy": "Acc.",
    "inconsistency_rate": "Incons. ↓",
    "semantic_grounding": "Sem.",
    "spatial_grounding": "Spat.",
}
AVERAGE = "average"


def percent(value: float | None) -> str:
    """``62.3`` for 0.6234; ``–`` for ``None``."""
    return "–" if value is None else f"{100 * value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def benchmarks_of(metrics: Mapping[str, Any]) -> list[str]:
    """Benchmark names of a ``metrics.json`` in its order (everything but ``average``)."""
    return [name for name in metrics if name != AVERAGE]


def render_markdown(metrics: Mapping[str, Any], context: Mapping[str, str] | None = None) -> str:
    """The report: headline table (rows = benchmarks, columns = Acc. / Incons. / Sem. / Spat.), details, issues."""
    names = benchmarks_of(metrics)
    lines = ["# Evaluation report", ""]
    for label, value in (context or {}).items():
        lines.append(f"- {label}: {value}")
    if context:
        lines.append("")
    headline = [[name, *(percent(metrics[name][m]) for m in HEADLINE), metrics[name]["n"]] for name in names]
    average = metrics[AVERAGE]
    headline.append(["**Average**", *(f"**{percent(average[m])}**" for m in HEADLINE), average["n"]])
    lines += _table(["Benchmark", *(COLUMN_NAMES[m] for m in HEADLINE), "n"], headline)
    lines += [
        "",
        "Values in %. Acc.: greedy pass@1 (circular items correct only if every rotation is). "
        "Incons.: share of all samples whose reasoning does not conclude their answer. Sem.: mean semantic "
        "grounding over samples with a graded visual sentence. Spat.: mean spatial grounding over samples with "
        "ground-truth boxes. Average: unweighted mean over benchmarks.",
        "",
        "## Details",
        "",
    ]
    detail_header = ["Benchmark", "items", "samples", "Sem. (correct)", "judge failures", "flagged"]
    detail_header += [f"{COLUMN_NAMES[m].rstrip(' ↓')} n" for m in HEADLINE] + ["Sem. (correct) n"]
    detail_rows = []
    for name in [*names, AVERAGE]:
        m = metrics[name]
        row = [name, m["n"], m["n_samples"], percent(m["semantic_grounding_correct"])]
        row += [m["judge_failures"], m["judge_flagged"], *(m[f"{metric}_n"] for metric in HEADLINE)]
        detail_rows.append([*row, m["semantic_grounding_correct_n"]])
    lines += _table(detail_header, detail_rows)
    lines += ["", "## Issues", ""]
    issue_rows = [[name, *(metrics[name]["issues"][i] for i in ISSUE_COUNTS)] for name in [*names, AVERAGE]]
    lines += _table(["Benchmark", *ISSUE_COUNTS], issue_rows)
    issues = average["issues"]
    lines += [
        "",
        f"- malformed lines: {issues['malformed_lines']}"
        + (
            f" (line numbers: {', '.join(map(str, issues['malformed_line_numbers']))})"
            if issues["malformed_lines"]
            else ""
        ),
        f"- duplicate lines (first kept): {issues['duplicate_lines']}"
        + (
            f" (line numbers: {', '.join(map(str, issues['duplicate_line_numbers']))})"
            if issues["duplicate_lines"]
            else ""
        ),
        f"- unknown ids: {issues['unknown_ids']}"
        + (
            f" (e.g. {', '.join(f'{s}/{i}' for s, i in issues['unknown_id_examples'])})"
            if issues["unknown_ids"]
            else ""
        ),
        "",
    ]
    return "\n".join(lines)


def write_report(
    out_dir: str | Path, metrics: Mapping[str, Any], context: Mapping[str, str] | None = None
) -> list[Path]:
    """Write ``report.md`` and ``<metric>.png`` for the four headline metrics; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.md"
    report.write_text(render_markdown(metrics, context), encoding="utf-8")
    written = [report]
    names = [*benchmarks_of(metrics), AVERAGE]
    for metric in HEADLINE:
        chart = out / f"{metric}.png"
        metric_bars(chart, metric, names, [metrics[name][metric] for name in names])
        written.append(chart)
    return written
