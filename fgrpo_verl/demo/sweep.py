"""``fgrpo-verl simulate``: the demo's simulator, sweeping τ, η (``dual_lr``) and λ_max.

One axis at a time: each swept setting takes its listed values while every other setting keeps its
base value (the recipe's defaults, or what the command line sets). All runs share one scored
table and one seed, so two runs differ only by the swept setting. A GRPO-T run with the same
seed is the reference. λ_init is capped at λ_max where a swept λ_max is below it (recorded per run).

Outputs: ``sweep.json`` (per axis and value: final metrics, λ and constraint series),
``report.md`` and per axis ``sweep_<axis>.png`` (final c̄ − τ, accuracy and inconsistency rate
against the swept value) and ``sweep_<axis>_lambda.png`` (λ trajectories).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.demo import plots
from fgrpo_verl.demo.pipeline import config_entry, demo_config, prepare, write_json
from fgrpo_verl.demo.report import fmt
from fgrpo_verl.demo.settings import DEFAULT_ETAS, DEFAULT_LAMBDA_MAXES, DEFAULT_TAUS, SimSettings
from fgrpo_verl.demo.simulator import RunResult, train

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SweepAxis:
    """One swept setting: ``name`` (``eta``, ``lambda_max``, ``tau_<constraint>``) and its values."""

    name: str
    values: tuple[float, ...]

    @property
    def parameter(self) -> str:
        """The ``fgrpo`` key the axis sets."""
        if self.name == "eta":
            return "fgrpo.dual_lr"
        if self.name == "lambda_max":
            return "fgrpo.lambda_max"
        return f"fgrpo.thresholds.{self.name.removeprefix('tau_')}"

    def overrides(self, base: Mapping[str, Any], value: float) -> dict[str, Any]:
        """``base`` overrides plus this axis at ``value``."""
        merged = dict(base)
        if self.name == "eta":
            merged["dual_lr"] = value
        elif self.name == "lambda_max":
            merged["lambda_max"] = value
            init = demo_config(base).lambda_init
            merged["lambda_init"] = {k: min(v, value) for k, v in init.items()}
        else:
            merged["thresholds"] = {**dict(base.get("thresholds") or {}), self.name.removeprefix("tau_"): value}
        return merged


def default_axes() -> list[SweepAxis]:
    return [
        SweepAxis("eta", DEFAULT_ETAS),
        SweepAxis("lambda_max", DEFAULT_LAMBDA_MAXES),
        *(SweepAxis(f"tau_{k}", v) for k, v in DEFAULT_TAUS.items()),
    ]


def _run_entry(value: float, config: FGRPOConfig, run: RunResult) -> dict[str, Any]:
    keep = (
        ("step",)
        + tuple(
            f"{prefix}{k}{suffix}"
            for k in CONSTRAINTS
            for prefix, suffix in (("fgrpo/lambda/", ""), ("policy/constraint/", "/mean"))
        )
        + ("policy/accuracy", "policy/inconsistency_rate")
    )
    return {
        "value": value,
        "thresholds": config.active_thresholds(),
        "lambda_init": config.active_lambda_init(),
        "final": run.final,
        "series": {key: run.series[key] for key in keep if key in run.series},
    }


def _axis_table(axis: SweepAxis, entries: Sequence[Mapping[str, Any]], constraints: Sequence[str]) -> list[str]:
    header = [
        axis.name,
        "accuracy",
        "inconsistency rate",
        *(f"{k.replace('_', ' ')} (τ)" for k in constraints),
        *(f"final λ {k}" for k in constraints),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in entries:
        final = entry["final"]
        cells = [f"{entry['value']:g}", fmt(final["policy/accuracy"]), fmt(final["policy/inconsistency_rate"])]
        cells += [f"{fmt(final[f'policy/constraint/{k}/mean'])} ({entry['thresholds'][k]:g})" for k in constraints]
        cells += [fmt(final[f"lambda/{k}"]) for k in constraints]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _axis_sentence(name: str, entries: Sequence[Mapping[str, Any]], constraints: Sequence[str]) -> str:
    """What changed from the first to the last value of an axis, read from the runs."""
    first, last = entries[0], entries[-1]

    def span(key: str, label: str) -> str:
        return f"{label} {fmt(first['final'][key])} → {fmt(last['final'][key])}"

    parts = [span("policy/inconsistency_rate", "final inconsistency rate"), span("policy/accuracy", "accuracy")]
    parts += [span(f"lambda/{k}", f"final λ {k}") for k in constraints]
    peaks = [
        f"{k} {fmt(max(first['series'][f'fgrpo/lambda/{k}']))} → {fmt(max(last['series'][f'fgrpo/lambda/{k}']))}"
        for k in constraints
    ]
    return (
        f"From {name} = {first['value']:g} to {name} = {last['value']:g}: "
        + "; ".join(parts)
        + "; peak λ "
        + ", ".join(peaks)
        + "."
    )


def sweep_report(doc: Mapping[str, Any]) -> str:
    """Markdown for the sweep's ``report.md``, from the ``sweep.json`` document."""
    sim, base = doc["config"]["simulator"], doc["config"]["fgrpo"]
    constraints = base["constraints"]
    baseline = doc["baseline_grpo_t"]["final"]
    lines = [
        "# fgrpo-verl simulate: dual-ascent sweep on the simulated policy",
        "",
        f"{doc['num_questions']} synthetic questions, {doc['rollouts_scored']} scored response variants (rule judge); "
        f"{sim['steps']} steps of {sim['prompts_per_step']} × {sim['group_size']} rollouts, seed {sim['seed']}. "
        f"Base FGRPO settings: η {base['dual_lr']:g}, λ_max {base['lambda_max']:g}, τ "
        + ", ".join(f"{k} {base['thresholds'][k]:g}" for k in constraints)
        + ". Each axis varies one setting, the others stay at their base value.",
        "",
        f"GRPO-T reference (same seed): accuracy {fmt(baseline['policy/accuracy'])}, inconsistency rate "
        f"{fmt(baseline['policy/inconsistency_rate'])}.",
        "",
    ]
    for name, axis_doc in doc["axes"].items():
        axis = SweepAxis(name, tuple(e["value"] for e in axis_doc["runs"]))
        lines += [
            f"## {name} (`{axis.parameter}`)",
            "",
            _axis_sentence(name, axis_doc["runs"], constraints),
            "",
            *_axis_table(axis, axis_doc["runs"], constraints),
            "",
        ]
        for key in ("finals", "lambda"):
            lines += [f"![{name} {key}]({axis_doc['figures'][key]})", ""]
    lines += [
        "Final values are the final policy's exact expectation over all questions; λ is the multiplier after",
        "the last dual step. A simulator, not a VLM: use it to see how τ, η and λ_max shape the dual dynamics.",
        "",
    ]
    return "\n".join(lines)


def run_simulate(
    out: Path,
    base_overrides: Mapping[str, Any],
    axes: Sequence[SweepAxis],
    sim: SimSettings,
    num_questions: int,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every axis of the sweep (see the module docstring); returns the ``sweep.json`` document."""
    started = time.perf_counter()
    base = demo_config(base_overrides)
    # Build every config first: a bad value stops the command before any data is generated.
    configs = {axis.name: [demo_config(axis.overrides(base_overrides, v)) for v in axis.values] for axis in axes}
    prepared = prepare(out, num_questions, sim.seed, base)
    baseline = train(prepared.table, dataclasses.replace(base, mode="grpo_t"), sim, label="GRPO-T", progress=progress)
    axes_doc: dict[str, Any] = {}
    for axis in axes:
        runs = [
            train(prepared.table, config, sim, label=f"FGRPO {axis.name}={value:g}", progress=progress)
            for value, config in zip(axis.values, configs[axis.name], strict=True)
        ]
        entries = [_run_entry(v, c, r) for v, c, r in zip(axis.values, configs[axis.name], runs, strict=True)]
        figures = {
            "finals": plots.plot_sweep_finals(
                axis.name,
                axis.values,
                [r.final for r in runs],
                [c.active_thresholds() for c in configs[axis.name]],
                baseline.final,
                out / f"sweep_{axis.name}.png",
            ),
            "lambda": plots.plot_sweep_lambdas(
                axis.name, axis.values, runs, base.constraints, out / f"sweep_{axis.name}_lambda.png"
            ),
        }
        axes_doc[axis.name] = {"parameter": axis.parameter, "runs": entries, "figures": figures}
    doc = {
        "config": {"fgrpo": config_entry(base), "simulator": dataclasses.asdict(sim)},
        "num_questions": len(prepared.table.items),
        "rollouts_scored": prepared.table.num_scored,
        "baseline_grpo_t": {"final": baseline.final},
        "axes": axes_doc,
        "timings_s": {**prepared.timings, "total": time.perf_counter() - started},
    }
    write_json(out / "sweep.json", doc)
    (out / "report.md").write_text(sweep_report(doc), encoding="utf-8")
    logger.info(
        "wrote %s and %s (%d runs) in %.1f s",
        out / "sweep.json",
        out / "report.md",
        sum(len(a.values) for a in axes) + 1,
        doc["timings_s"]["total"],
    )
    return doc
