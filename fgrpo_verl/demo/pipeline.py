"""``fgrpo-verl demo``: data → scored rollouts → GRPO-T and FGRPO runs → metrics.json, plots, report.md.

Offline and CPU-only: the dataset is generated, the judge is :class:`~fgrpo_verl.judges.RuleJudge`.
:func:`prepare` (dataset and scored table) is shared with ``fgrpo-verl simulate``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.demo import plots
from fgrpo_verl.demo.items import build_dataset, load_items
from fgrpo_verl.demo.report import demo_report, summarize
from fgrpo_verl.demo.scoring import ScoreTable, score_table
from fgrpo_verl.demo.settings import SimSettings
from fgrpo_verl.demo.simulator import RunResult, style_metrics, train
from fgrpo_verl.judges import build_judge

logger = logging.getLogger(__name__)

DATASET_NAME = "synthetic.parquet"

#: The two runs of the demo: (mode, label).
DEMO_RUNS: tuple[tuple[str, str], ...] = (("grpo_t", "GRPO-T"), ("fgrpo", "FGRPO"))


@dataclasses.dataclass
class Prepared:
    """What every simulated run shares: the dataset and its scored response table."""

    config: FGRPOConfig
    dataset: Path
    table: ScoreTable
    judge_calls: int
    timings: dict[str, float]


def demo_config(overrides: Mapping[str, Any] | None = None) -> FGRPOConfig:
    """The ``fgrpo`` block of the demo: the recipe's defaults, the offline rule judge, then ``overrides``.

    Raises :class:`~fgrpo_verl.config.ConfigError` naming a bad key.
    """
    return FGRPOConfig.from_dict({"mode": "fgrpo", "judge": {"backend": "rule"}, **(overrides or {})})


def prepare(out: Path, num_questions: int, seed: int, config: FGRPOConfig) -> Prepared:
    """Write the synthetic dataset to ``out``, read it back and score every style variant once."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dataset = build_dataset(out / DATASET_NAME, num_questions, seed)
    items = load_items(dataset, config.image)
    data_s = time.perf_counter() - started
    # Score with every constraint and the judge on, whatever a run trains with, so that every run's
    # faithfulness is measured (GRPO-T's advantage simply does not read the constraint channels).
    scoring_config = dataclasses.replace(config, mode="fgrpo", constraints=CONSTRAINTS)
    judge = build_judge(scoring_config.judge, image_config=scoring_config.image)
    table = score_table(items, scoring_config, judge, seed)
    judge_calls = int(
        sum(
            c["judge_calls"]
            for per_item in table.channels
            for per_style in per_item
            for variants in per_style
            for c in variants
        )
    )
    timings = {"dataset": data_s, "scoring": time.perf_counter() - started - data_s}
    logger.info(
        "scored %d response variants of %d questions in %.1f s (%d rule-judge calls)",
        table.num_scored,
        len(items),
        timings["scoring"],
        judge_calls,
    )
    return Prepared(config, dataset, table, judge_calls, timings)


def run_entry(run: RunResult) -> dict[str, Any]:
    """A run as stored in ``metrics.json`` / ``sweep.json``."""
    return {
        "label": run.label,
        "mode": run.mode,
        "initial": run.initial,
        "final": run.final,
        "style_probs": run.style_probs,
        "series": run.series,
    }


def config_entry(config: FGRPOConfig) -> dict[str, Any]:
    """The ``fgrpo`` settings a run used (JSON-ready; the judge as its backend name)."""
    entry = dataclasses.asdict(config)
    entry["judge"] = config.judge.resolved_backend
    entry["constraints"] = list(config.constraints)
    return entry


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    # allow_nan=False: an undefined metric must be None (JSON null), never a non-standard NaN.
    path.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def run_demo(
    out: Path, config: FGRPOConfig, sim: SimSettings, num_questions: int, progress: bool = True
) -> dict[str, Any]:
    """The whole demo (see the module docstring); returns the ``metrics.json`` document."""
    started = time.perf_counter()
    prepared = prepare(out, num_questions, sim.seed, config)
    runs: dict[str, RunResult] = {}
    train_started = time.perf_counter()
    for mode, label in DEMO_RUNS:
        runs[mode] = train(prepared.table, dataclasses.replace(config, mode=mode), sim, label=label, progress=progress)
    timings = {**prepared.timings, "training": time.perf_counter() - train_started}
    thresholds = config.active_thresholds()
    figures = {
        "accuracy_inconsistency": plots.plot_accuracy_inconsistency(
            list(runs.values()), out / "accuracy_inconsistency.png"
        ),
        "constraints": plots.plot_constraints(list(runs.values()), thresholds, out / "constraints.png"),
        "lambda": plots.plot_lambdas(runs["fgrpo"], config.constraints, config.lambda_max, out / "lambda.png"),
        "styles": plots.plot_styles(list(runs.values()), out / "styles.png"),
    }
    entries = {mode: run_entry(run) for mode, run in runs.items()}
    timings["total"] = time.perf_counter() - started
    doc: dict[str, Any] = {
        "config": {"fgrpo": config_entry(config), "simulator": dataclasses.asdict(sim)},
        "dataset": {
            "path": prepared.dataset.name,
            "num_questions": len(prepared.table.items),
            "question_types": dict(collections.Counter(item.qtype for item in prepared.table.items)),
        },
        "scoring": {
            "rollouts_scored": prepared.table.num_scored,
            "judge": "rule",
            "judge_calls": prepared.judge_calls,
            "styles": style_metrics(prepared.table, sim),
            "examples": prepared.table.examples(),
        },
        "runs": entries,
        "summary": summarize(entries, thresholds),
        "figures": figures,
        "timings_s": timings,
    }
    write_json(out / "metrics.json", doc)
    (out / "report.md").write_text(demo_report(doc, figures), encoding="utf-8")
    logger.info(
        "wrote %s, %s and %d figures in %.1f s", out / "metrics.json", out / "report.md", len(figures), timings["total"]
    )
    return doc
