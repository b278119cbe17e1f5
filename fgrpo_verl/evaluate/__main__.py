"""Evaluation harness: python -m fgrpo_verl.evaluate {generate, score, compare, judge-agreement} (see --help of each)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from fgrpo_verl.config import DEFAULT_API_KEY_ENV, DEFAULT_JUDGE_MODEL, ConfigError

logger = logging.getLogger("fgrpo_verl.evaluate")


def _add_judge_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("judge (default: the --config judge, else the offline rule judge)")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--judge", choices=["rule"], help="the offline rule judge (no network)")
    choice.add_argument(
        "--judge-url", nargs="+", metavar="URL", help="OpenAI-compatible base URL(s), e.g. http://host:8000/v1"
    )
    group.add_argument("--judge-model", default=None, help=f"judge model name (default {DEFAULT_JUDGE_MODEL})")
    group.add_argument("--judge-concurrency", type=int, default=None, help="max concurrent judge requests (default 64)")
    group.add_argument("--judge-timeout", type=float, default=None, help="seconds per judge request (default 60)")
    group.add_argument("--judge-retries", type=int, default=None, help="retries of a failed judge request (default 3)")
    group.add_argument(
        "--api-key-env", default=None, help=f"env var holding the judge API key (default {DEFAULT_API_KEY_ENV})"
    )


def _judge_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.judge == "rule":
        overrides["backend"] = "rule"
    if args.judge_url:
        overrides.update(backend="openai", urls=list(args.judge_url))
    for option, key in (
        ("judge_model", "model"),
        ("judge_concurrency", "max_concurrency"),
        ("judge_timeout", "timeout_s"),
        ("judge_retries", "max_retries"),
        ("api_key_env", "api_key_env"),
    ):
        if getattr(args, option) is not None:
            overrides[key] = getattr(args, option)
    return overrides


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fgrpo_verl.evaluate", description=__doc__)
    parser.add_argument("--log-level", default="WARNING")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="greedy generations with vLLM (GPU), resumable")
    gen.add_argument("--model", required=True, help="model directory or hub id (a Qwen2.5-VL checkpoint)")
    gen.add_argument("--data", nargs="+", required=True, metavar="FILE.parquet")
    gen.add_argument("--out", required=True, metavar="GEN.jsonl", help="appended to; rows already in it are skipped")
    gen.add_argument("--tp", type=int, default=1, help="tensor-parallel size")
    gen.add_argument("--max-tokens", type=int, default=1024)
    gen.add_argument("--batch-size", type=int, default=256, help="requests per vLLM call (and per write)")
    gen.add_argument("--max-model-len", type=int, default=None)
    gen.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    gen.add_argument("--no-progress", action="store_true")

    score = commands.add_parser("score", help="accuracy, inconsistency and grounding per benchmark")
    score.add_argument("--data", nargs="+", required=True, metavar="FILE.parquet")
    score.add_argument("--generations", required=True, metavar="GEN.jsonl")
    score.add_argument("--out", required=True, metavar="DIR")
    score.add_argument("--config", default=None, help="YAML/JSON with the fgrpo block (image frame, sentences, judge)")
    _add_judge_options(score)
    score.add_argument("--answer-judge", action="store_true", help="let the judge model decide free-form answers")
    score.add_argument("--answer-judge-model", default=None, help="model for --answer-judge (default: --judge-model)")
    score.add_argument("--concurrency", type=int, default=64, help="rows scored at once")
    score.add_argument("--no-progress", action="store_true")

    compare = commands.add_parser("compare", help="several score runs side by side")
    compare.add_argument(
        "runs", nargs="+", metavar="DIR", help="--out directories of score runs (the first is the baseline)"
    )
    compare.add_argument("--out", required=True, metavar="DIR")
    compare.add_argument("--names", nargs="+", default=None, help="one display name per run")

    agree = commands.add_parser("judge-agreement", help="judge vs human labels: Cohen's kappa, repeat stability")
    agree.add_argument("--labels", required=True, metavar="FILE.jsonl")
    agree.add_argument("--out", required=True, metavar="DIR")
    agree.add_argument("--repeats", type=int, default=1, help="judge every item this many times")
    agree.add_argument("--judge-temperature", type=float, default=None, help="sampling temperature of the judge model")
    _add_judge_options(agree)
    agree.add_argument("--no-progress", action="store_true")
    return parser


def _generate(args: argparse.Namespace) -> int:
    from fgrpo_verl.evaluate.generate import generate_files

    summary = generate_files(
        args.model,
        args.data,
        args.out,
        tensor_parallel_size=args.tp,
        max_tokens=args.max_tokens,
        batch_size=args.batch_size,
        max_model_len=args.max_model_len,
        gpu_memory_utilization=args.gpu_memory_utilization,
        progress=not args.no_progress,
    )
    print(f"wrote {summary.written} generations to {args.out} ({summary.skipped_done} already there)")
    return 0


def _score(args: argparse.Namespace) -> int:
    from fgrpo_verl.evaluate.runner import evaluation_config, load_fgrpo_block, score_files

    config = evaluation_config(load_fgrpo_block(args.config), _judge_overrides(args))
    metrics = score_files(
        args.data,
        args.generations,
        args.out,
        config,
        answer_judge_model=args.answer_judge_model,
        use_answer_judge=args.answer_judge,
        concurrency=args.concurrency,
        progress=not args.no_progress,
    )
    average = metrics["average"]
    print(
        f"{average['n']} items over {len(average['benchmarks'])} benchmark(s): accuracy {average['accuracy']}, "
        f"judge failures {average['judge_failures']}; see {args.out}/report.md"
    )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from fgrpo_verl.evaluate.compare import compare_runs

    compare_runs(args.runs, args.out, args.names)
    print(f"wrote {args.out}/compare.md, compare.json and compare.png")
    return 0


def _agreement(args: argparse.Namespace) -> int:
    from fgrpo_verl.config import JudgeConfig
    from fgrpo_verl.evaluate.agreement import run_agreement
    from fgrpo_verl.judges import build_judge

    overrides = _judge_overrides(args)
    if args.judge_temperature is not None:
        overrides["temperature"] = args.judge_temperature
    judge_config = JudgeConfig.from_dict(overrides, prefix="judge")
    described = (
        "rule (offline RuleJudge)"
        if judge_config.resolved_backend == "rule"
        else (f"{judge_config.model} at {', '.join(judge_config.urls)}")
    )
    result = run_agreement(
        args.labels,
        lambda: build_judge(judge_config),
        args.out,
        repeats=args.repeats,
        judge_description=described,
        progress=not args.no_progress,
    )
    for task, stats in result["tasks"].items():
        print(
            f"{task}: n={stats['n']} kappa={stats['kappa']} accuracy={stats['accuracy']} failures={stats['failures']}"
        )
    return 0


COMMANDS = {"generate": _generate, "score": _score, "compare": _compare, "judge-agreement": _agreement}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from fgrpo_verl.evaluate.generate import GenerationUnavailable

    try:
        return COMMANDS[args.command](args)
    except (ConfigError, FileNotFoundError, ValueError, GenerationUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
