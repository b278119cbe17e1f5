"""The ``score`` command end to end: configuration and judges in, ``DIR/{metrics.json, report.md, *.png}`` out.

Besides ``metrics.json`` (SPEC §7) and the report, ``DIR`` receives ``samples.jsonl`` (every
row's channels, one line per row, for inspection or for drawing a judge-agreement sample) and
``run.json`` (inputs, the judge used and its call statistics) and ``rejects.jsonl`` (the
generation lines that could not be read, each with ``file:line`` and the reason). The judge is
always named by the caller (SPEC §1a): ``metrics.json`` (``average.judge``), ``report.md`` and
``run.json`` say which judge scored the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.config import ConfigError, FGRPOConfig, JudgeConfig
from fgrpo_verl.evaluate.answer_judge import AnswerJudge
from fgrpo_verl.evaluate.inputs import (
    DEFAULT_MAX_REJECT_SHARE,
    SCORE_COLUMNS,
    InputError,
    check_parquets,
    prepare_out_dir,
    require_file,
)
from fgrpo_verl.evaluate.joins import GenerationIndex, iter_rows, read_generations
from fgrpo_verl.evaluate.metrics import HEADLINE, aggregate
from fgrpo_verl.evaluate.records import SampleScore
from fgrpo_verl.evaluate.report import write_report
from fgrpo_verl.evaluate.scoring import rollout_scorer, score_generations
from fgrpo_verl.judges import Judge, build_judge
from fgrpo_verl.judges.factory import client_settings
from fgrpo_verl.judges.redaction import redact_url

#: The file of rejected generation lines, ``{"source_id": "file:line", "reason", "detail"}`` per line.
REJECTS_FILE = "rejects.jsonl"
#: Everything ``score`` writes to ``--out`` (an earlier run's copies are replaced only with --overwrite).
SCORE_OUTPUTS: tuple[str, ...] = (
    "metrics.json",
    "report.md",
    "samples.jsonl",
    "run.json",
    REJECTS_FILE,
    *(f"{metric}.png" for metric in HEADLINE),
)


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads ``1e-3`` and ``5E2`` as floats, as OmegaConf (and so verl) does.

    PyYAML follows YAML 1.1, where a float needs a dot: ``timeout_s: 1e3`` would arrive as the string
    ``'1e3'`` and be refused, although the same file trains fine.
    """


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_fgrpo_block(path: str | Path | None) -> dict[str, Any]:
    """The ``fgrpo`` block of a YAML/JSON file (the block itself, or a config with a top-level ``fgrpo``)."""
    if path is None:
        return {}
    path = require_file(path, "a YAML/JSON config holding the fgrpo block")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader) or {}  # a SafeLoader subclass
    except UnicodeDecodeError as err:
        raise InputError(f"--config {path} is not UTF-8 text (byte {err.start})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"--config {path} is not valid YAML/JSON{where}") from err
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


def judge_identity(judge: JudgeConfig) -> dict[str, Any]:
    """Which judge scored a run (SPEC §1a, evaluation judge): backend, model and endpoints (redacted)."""
    if judge.resolved_backend == "rule":
        return {"backend": "rule", "model": None, "urls": [], "description": "rule (offline RuleJudge)"}
    urls = [redact_url(url) for url in judge.urls]
    return {
        "backend": judge.resolved_backend,
        "model": judge.model,
        "urls": urls,
        "description": f"{judge.model} at {', '.join(urls)}",
    }


def answer_judge_for(config: FGRPOConfig, model: str | None) -> AnswerJudge:
    """An answer judge on the consistency judge's servers (``model`` defaults to the judge model)."""
    judge = config.judge
    if judge.resolved_backend != "openai":
        raise ConfigError("--answer-judge needs a judge model: pass --judge-url URL... (and --judge-model)")
    return AnswerJudge(list(judge.urls), model or judge.model, **client_settings(judge))


def _redacted(config: FGRPOConfig) -> dict[str, Any]:
    """``config`` as a dict with the judge URLs shown as :func:`~fgrpo_verl.judges.redaction.redact_url` (no credentials in run.json)."""
    out = dataclasses.asdict(config)
    out["judge"]["urls"] = [redact_url(url) for url in config.judge.urls]
    return out


async def _score(
    data: Sequence[str | Path],
    generations: GenerationIndex,
    config: FGRPOConfig,
    judge: Judge,
    answer_judge: AnswerJudge | None,
    concurrency: int,
    progress: bool,
    total_rows: int,
) -> tuple[dict[str, Any], list[SampleScore], dict[str, int]]:
    scorer = rollout_scorer(config, judge)
    try:
        samples, unknown = await score_generations(
            iter_rows(data),
            generations,
            scorer.score,
            answer_judge=answer_judge,
            concurrency=concurrency,
            total=total_rows,
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
    overwrite: bool = False,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
) -> dict[str, Any]:
    """Score ``generations_path`` against the rows of ``data`` and write the outputs to ``out_dir``; returns the metrics.

    Before any work: every parquet must have the columns scoring reads (:data:`SCORE_COLUMNS`),
    the generations file must exist and hold lines, and ``out_dir`` must not hold an earlier
    run's outputs (unless ``overwrite``); each is an :class:`InputError` naming the file.
    Malformed generation lines are rejects (``rejects.jsonl``). After writing every output,
    :class:`TooManyRejects` when their share exceeds ``max_reject_share``, and
    :class:`InputError` when no generation matched any data row (the wrong file?).
    """
    total_rows = check_parquets(data, SCORE_COLUMNS)
    require_file(generations_path, "a generations file (JSONL)")
    out = prepare_out_dir(out_dir, SCORE_OUTPUTS, overwrite)
    generations = read_generations(generations_path)
    judge = build_judge(config.judge, image_config=config.image)
    answer_judge = answer_judge_for(config, answer_judge_model) if use_answer_judge else None
    started = time.perf_counter()
    metrics, samples, skipped = asyncio.run(
        _score(data, generations, config, judge, answer_judge, concurrency, progress, total_rows)
    )
    identity = judge_identity(config.judge)
    metrics["average"]["judge"] = identity["description"]
    rejects = generations.issues.rejects
    rejects.write(out / REJECTS_FILE)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    with open(out / "samples.jsonl", "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample.to_json()) + "\n")
    run = {
        "data": [str(p) for p in data],
        "generations": str(generations_path),
        "judge": identity["description"],
        "judge_backend": identity["backend"],
        "judge_model": identity["model"],
        "judge_urls": identity["urls"],
        "judge_stats": judge.stats(),
        "answer_judge": (answer_judge_model or config.judge.model) if answer_judge else None,
        "answer_judge_stats": answer_judge.stats() if answer_judge else None,
        "generation_lines": rejects.lines,
        "generation_rejects": len(rejects.rejects),
        "row_field_skips": skipped,
        "config": _redacted(config),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2, default=list), encoding="utf-8")
    context = {
        "data": ", ".join(f"`{p}`" for p in data),
        "generations": f"`{generations_path}`",
        "judge": identity["description"],
    }
    if answer_judge is not None:
        context["answer judge"] = str(run["answer_judge"])
    if rejects.rejects:
        context["rejected generation lines"] = f"{len(rejects.rejects)} of {rejects.lines} (see `{REJECTS_FILE}`)"
    if skipped:
        context["channels skipped for malformed row fields"] = ", ".join(
            f"{k}: {v}" for k, v in sorted(skipped.items())
        )
    write_report(out, metrics, context)
    rejects.check(max_reject_share, out / REJECTS_FILE)
    if generations.by_key and not any(sample.generated for sample in samples):
        raise InputError(
            f"none of the {len(generations.by_key)} usable lines of {generations_path} matches a data row by "
            f"(data_source, extra_info.index): generations of other data? (outputs written to {out})"
        )
    return metrics
