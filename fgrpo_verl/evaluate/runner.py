"""The ``score`` command end to end: configuration and judges in, ``DIR/{metrics.json, report.md, *.png}`` out.

Besides ``metrics.json`` (SPEC §7) and the report, ``DIR`` receives ``samples.jsonl`` (every
row's channels, one line per row, for inspection or for drawing a judge-agreement sample) and
``run.json`` (inputs, the judge used and its call statistics).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.config import ConfigError, FGRPOConfig
from fgrpo_verl.evaluate.answer_judge import AnswerJudge
from fgrpo_verl.evaluate.joins import count_rows, iter_rows, read_generations
from fgrpo_verl.evaluate.metrics import aggregate
from fgrpo_verl.evaluate.records import SampleScore
from fgrpo_verl.evaluate.report import write_report
from fgrpo_verl.evaluate.scoring import rollout_scorer, score_generations
from fgrpo_verl.judges import Judge, build_judge
from fgrpo_verl.judges.factory import client_settings


def load_fgrpo_block(path: str | Path | None) -> dict[str, Any]:
    """The ``fgrpo`` block of a YAML/JSON file (the block itself, or a config with a top-level ``fgrpo``)."""
    if path is None:
        return {}
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping (the fgrpo block)")
    block = raw.get("fgrpo", raw)
    if not isinstance(block, dict):
        raise ConfigError(f"{path}: fgrpo must be a mapping")
    return dict(block)


def evaluation_config(block: Mapping[str, Any], judge_overrides: Mapping[str, Any]) -> FGRPOConfig:
    """The ``fgrpo`` config for scoring: ``block`` with ``judge_overrides`` applied and every constraint on.

    Evaluation reports every channel whatever the training run enabled, so ``constraints`` is
    all of them and ``mode`` is ``fgrpo``; the image frame, sentence filter and judge settings
    are taken from ``block``.
    """
    merged = dict(block)
    merged["judge"] = {**dict(merged.get("judge") or {}), **judge_overrides}
    merged["constraints"] = list(CONSTRAINTS)
    merged["mode"] = "fgrpo"
    return FGRPOConfig.from_dict(merged)


def judge_description(config: FGRPOConfig) -> str:
    judge = config.judge
    if judge.resolved_backend == "rule":
        return "rule (offline RuleJudge)"
    return f"{judge.model} at {', '.join(judge.urls)}"


def answer_judge_for(config: FGRPOConfig, model: str | None) -> AnswerJudge:
    """An answer judge on the consistency judge's servers (``model`` defaults to the judge model)."""
    judge = config.judge
    if judge.resolved_backend != "openai":
        raise ConfigError("--answer-judge needs a judge model: pass --judge-url URL... (and --judge-model)")
    return AnswerJudge(list(judge.urls), model or judge.model, **client_settings(judge))

async def _score(
    data: Sequence[str | Path],
    generations_path: str | Path,
    config: FGRPOConfig,
    judge: Judge,
    answer_judge: AnswerJudge | None,
    concurrency: int,
    progress: bool,
) -> tuple[dict[str, Any], list[SampleScore], dict[str, int]]:
    generations = read_generations(generations_path)
    scorer = rollout_scorer(config, judge)
    try:
        samples, unknown = await score_generations(
            iter_rows(data),
            generations,
            scorer.score,
            answer_judge=answer_judge,
            concurrency=concurrency,
            total=count_rows(data),
            progress=progress,
        )
    finally:
        await judge.aclose()
        if answer_judge is not None:
            await answer_judge.aclose()
    return aggregate(samples, generations.issues, unknown), samples, dict(scorer.skipped)


def score_files(
    data: Sequence[str | Path],
    generations_path: str | Path,
    out_dir: str | Path,
    config: FGRPOConfig,
    *,
    answer_judge_model: str | None = None,
    use_answer_judge: bool = False,
    concurrency: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``generations_path`` against the rows of ``data`` and write the outputs to ``out_dir``; returns the metrics."""
    for path in [*data, generations_path]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} does not exist")
    judge = build_judge(config.judge, image_config=config.image)
    answer_judge = answer_judge_for(config, answer_judge_model) if use_answer_judge else None
    started = time.perf_counter()
    metrics, samples, skipped = asyncio.run(
        _score(data, generations_path, config, judge, answer_judge, concurrency, progress)
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    with open(out / "samples.jsonl", "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample.to_json()) + "\n")
    run = {
        "data": [str(p) for p in data],
        "generations": str(generations_path),
        "judge": judge_description(config),
        "judge_stats": judge.stats(),
        "answer_judge": (answer_judge_model or config.judge.model) if answer_judge else None,
        "answer_judge_stats": answer_judge.stats() if answer_judge else None,
        "row_field_skips": skipped,
        "config": dataclasses.asdict(config),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2, default=list), encoding="utf-8")
    context = {
        "data": ", ".join(f"`{p}`" for p in data),
        "generations": f"`{generations_path}`",
        "judge": judge_description(config),
    }
    if answer_judge is not None:
        context["answer judge"] = str(run["answer_judge"])
    if skipped:
        context["channels skipped for malformed row fields"] = ", ".join(
            f"{k}: {v}" for k, v in sorted(skipped.items())
        )
    write_report(out, metrics, context)
    return metrics
