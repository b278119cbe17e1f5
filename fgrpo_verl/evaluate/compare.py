"""Several ``score`` runs side by side: one table, one grouped bar chart, deltas against the first run.

For run ``r``, benchmark ``b`` and metric ``m``: ``Δ = 100·(m_r(b) − m_first(b))`` percentage points
(``None`` when either value is missing). Benchmarks are the union over runs, in first-seen order,
with ``average`` last; a benchmark a run lacks shows ``–``. Note that each run's ``average`` is
over its own benchmarks: compare averages only across runs scored on the same data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fgrpo_verl.checks import is_finite_real
from fgrpo_verl.evaluate.inputs import InputError, prepare_out_dir
from fgrpo_verl.evaluate.metrics import HEADLINE
from fgrpo_verl.evaluate.plots import grouped_bars
from fgrpo_verl.evaluate.report import AVERAGE, COLUMN_NAMES, benchmarks_of, percent

#: Everything ``compare`` writes to ``--out``.
COMPARE_OUTPUTS: tuple[str, ...] = ("compare.md", "compare.json", "compare.png")


def _check_metric(path: Path, bench: str, metric: str, value: Any) -> None:
    if value is None:
        return
    if not is_finite_real(value) or not 0 <= value <= 1:
        raise InputError(f"{path}: key {bench}.{metric} must be a number in [0, 1] or null, got {value!r:.60}")


def load_metrics(run_dir: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a ``score`` run, checked; :class:`InputError` naming the file and the key otherwise.

    Every benchmark entry (and ``average``) must be an object whose four headline metrics are
    numbers in [0, 1] or ``null``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not run_dir.is_dir():
        raise InputError(f"run directory {run_dir} does not exist (expected the --out of a `score` run)")
    if not path.is_file():
        raise InputError(f"{path} does not exist: is {run_dir} the --out of a `score` run?")
    try:
        metrics = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path} is not valid JSON (line {err.lineno} column {err.colno}: {err.msg}); truncated?"
        ) from err
    if not isinstance(metrics, dict) or not isinstance(metrics.get(AVERAGE), dict):
        raise InputError(f"{path} is not a metrics.json written by `fgrpo_verl.evaluate score` (no 'average' object)")
    for bench, entry in metrics.items():
        if not isinstance(entry, dict):
            raise InputError(f"{path}: key {bench} must be an object of metrics, got {type(entry).__name__}")
        for metric in HEADLINE:
            if metric not in entry:
                raise InputError(f"{path}: key {bench}.{metric} is missing")
            _check_metric(path, bench, metric, entry[metric])
    return metrics


def run_names(run_dirs: Sequence[str | Path], names: Sequence[str] | None) -> list[str]:
    """``names`` when given (one per run, distinct), else the directory names (full paths if those clash)."""
    if names:
        if len(names) != len(run_dirs):
            raise InputError(f"--names gives {len(names)} names for {len(run_dirs)} runs")
        chosen = list(names)
    else:
        chosen = [Path(d).name or str(d) for d in run_dirs]
        if len(set(chosen)) != len(chosen):
            chosen = [str(d) for d in run_dirs]
    if len(set(chosen)) != len(chosen):
        raise InputError(f"run names must be distinct, got {chosen}")
    return chosen


def delta(value: float | None, base: float | None) -> float | None:
    """``100·(value − base)`` percentage points, ``None`` when either is missing."""
    return None if value is None or base is None else 100.0 * (value - base)


def compare_metrics(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"runs", "benchmarks", "values": {metric: {benchmark: {run: v}}}, "deltas": {…}}``; deltas vs the first run."""
    names = list(runs)
    benchmarks: list[str] = []
    for metrics in runs.values():
        benchmarks += [b for b in benchmarks_of(metrics) if b not in benchmarks]
    benchmarks.append(AVERAGE)
    values: dict[str, dict[str, dict[str, float | None]]] = {}
    deltas: dict[str, dict[str, dict[str, float | None]]] = {}
    for metric in HEADLINE:
        values[metric], deltas[metric] = {}, {}
        for bench in benchmarks:
            row = {run: runs[run].get(bench, {}).get(metric) for run in names}
            values[metric][bench] = row
            deltas[metric][bench] = {run: delta(row[run], row[names[0]]) for run in names[1:]}
    return {"runs": names, "benchmarks": benchmarks, "values": values, "deltas": deltas}


def _cell(value: float | None, change: float | None) -> str:
    if value is None:
        return "–"
    return percent(value) if change is None else f"{percent(value)} ({change:+.1f})"


def render_markdown(comparison: Mapping[str, Any], run_dirs: Mapping[str, str]) -> str:
    """One table: a row per benchmark; per metric, a column per run (later runs with their Δ in points)."""
    names = comparison["runs"]
    judges = comparison.get("judges", {})
    header = ["Benchmark"] + [f"{COLUMN_NAMES[m]} {run}" for m in HEADLINE for run in names]
    lines = ["# Comparison", ""]
    lines += [f"- {run}: `{run_dirs[run]}`, judge: {judges.get(run) or 'not recorded'}" for run in names]
    if len(set(judges.values())) > 1:
        lines += ["", "**The runs were scored by different judges: their judged metrics are not comparable.**"]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for bench in comparison["benchmarks"]:
        cells = [bench if bench != AVERAGE else "**Average**"]
        for metric in HEADLINE:
            row, changes = comparison["values"][metric][bench], comparison["deltas"][metric][bench]
            cells += [_cell(row[run], changes.get(run)) for run in names]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Values in %; in brackets the change against {names[0]} in percentage points (for Incons. lower is better).",
        "",
    ]
    return "\n".join(lines)


def compare_runs(
    run_dirs: Sequence[str | Path], out_dir: str | Path, names: Sequence[str] | None = None, *, overwrite: bool = False
) -> dict[str, Any]:
    """Write ``compare.md``, ``compare.json`` and ``compare.png`` to ``out_dir``; returns the comparison.

    Each run's judge (``average.judge`` of its ``metrics.json``) is listed; runs scored by
    different judges are flagged in ``compare.md``.
    """
    if len(run_dirs) < 2:
        raise InputError("compare needs at least two run directories")
    labels = run_names(run_dirs, names)
    runs = {label: load_metrics(d) for label, d in zip(labels, run_dirs, strict=True)}
    comparison = compare_metrics(runs)
    comparison["judges"] = {label: runs[label][AVERAGE].get("judge") for label in labels}
    out = prepare_out_dir(out_dir, COMPARE_OUTPUTS, overwrite)
    dirs = {label: str(d) for label, d in zip(labels, run_dirs, strict=True)}
    (out / "compare.json").write_text(json.dumps({**comparison, "dirs": dirs}, indent=2), encoding="utf-8")
    (out / "compare.md").write_text(render_markdown(comparison, dirs), encoding="utf-8")
    series = {
        run: {m: [comparison["values"][m][b][run] for b in comparison["benchmarks"]] for m in HEADLINE}
        for run in labels
    }
    grouped_bars(out / "compare.png", HEADLINE, comparison["benchmarks"], series)
    return comparison
