"""Evaluation harness: python -m fgrpo_verl.evaluate {generate, score, compare, judge-agreement} (see --help of each)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from fgrpo_verl.checks import integer_arg, number_arg
from fgrpo_verl.config import DEFAULT_API_KEY_ENV, DEFAULT_JUDGE_MODEL, ConfigError
from fgrpo_verl.evaluate.generate import DEFAULT_MAX_TOKENS, GenerationUnavailable
from fgrpo_verl.evaluate.inputs import (
    DEFAULT_MAX_REJECT_SHARE,
    InputError,
    TooManyRejects,
)

logger = logging.getLogger("fgrpo_verl.evaluate")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``error: <command>: <what>``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _add_judge_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "judge (required, SPEC §1a: --judge rule, or --judge-url URL... with --judge-model NAME)"
    )
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--judge", choices=["rule"], help="the offline rule judge (no network)")
    choice.add_argument(
        "--judge-url", nargs="+", metavar="URL", help="OpenAI-compatible base URL(s), e.g. http://host:8000/v1"
    )
    group.add_argument(
        "--judge-model", default=None, help=f"judge model name, required with --judge-url (e.g. {DEFAULT_JUDGE_MODEL})"
    )
    group.add_argument(
        "--judge-concurrency", type=integer_arg(low=1), default=None, help="max concurrent judge requests (default 64)"
    )
    group.add_argument(
        "--judge-timeout", type=number_arg(positive=True), default=None, help="seconds per judge request (default 60)"
    )
    group.add_argument(
        "--judge-retries", type=integer_arg(low=0), default=None, help="retries of a failed judge request (default 3)"
    )
    group.add_argument(
        "--api-key-env", default=None, help=f"env var holding the judge API key (default {DEFAULT_API_KEY_ENV})"
    )


def _check_judge_choice(parser: argparse.ArgumentParser, args: argparse.Namespace, prefix: str) -> None:
    """The evaluation names its judge (SPEC §1a): no default, no judge taken from a training config."""
    if not args.judge and not args.judge_url:
        parser.error(prefix + "name the judge: --judge rule (offline), or --judge-url URL... --judge-model NAME")
    if args.judge_url and not args.judge_model:
        parser.error(prefix + "--judge-url needs --judge-model NAME (the model the report names as the judge)")
    if args.judge == "rule" and args.judge_model:
        parser.error(prefix + "--judge-model applies to --judge-url only, not to --judge rule")


def _add_output_options(parser: argparse.ArgumentParser, *, rejects: bool) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in --out")
    if rejects:
        parser.add_argument(
            "--max-reject-share",
            type=number_arg(low=0.0, high=1.0),
            default=DEFAULT_MAX_REJECT_SHARE,
            help="exit 1 when a larger share of the input's lines is rejected (default: %(default)s)",
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
    parser = _Parser(prog="python -m fgrpo_verl.evaluate", description=__doc__)
    parser.add_argument("--log-level", default="WARNING", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="greedy generations with vLLM (GPU), resumable")
    gen.add_argument("--model", required=True, help="model directory or hub id (a Qwen2.5-VL checkpoint)")
    gen.add_argument("--data", nargs="+", required=True, metavar="FILE.parquet")
    gen.add_argument("--out", required=True, metavar="GEN.jsonl", help="appended to; rows already in it are skipped")
    gen.add_argument("--tp", type=integer_arg(low=1), default=1, help="tensor-parallel size (default: %(default)s)")
    gen.add_argument(
        "--max-tokens",
        type=integer_arg(low=1),
        default=DEFAULT_MAX_TOKENS,
        help="new tokens per answer (default: %(default)s; fewer cut long reasoning off)",
    )
    gen.add_argument(
        "--batch-size",
        type=integer_arg(low=1),
        default=256,
        help="requests per vLLM call and per write (default: %(default)s)",
    )
    gen.add_argument(
        "--max-model-len", type=integer_arg(low=1), default=None, help="vLLM context length (default: the model's)"
    )
    gen.add_argument(
        "--gpu-memory-utilization",
        type=number_arg(low=0.0, high=1.0),
        default=0.9,
        help="share of GPU memory vLLM may use (default: %(default)s)",
    )
    gen.add_argument("--no-progress", action="store_true")

    score = commands.add_parser("score", help="accuracy, inconsistency and grounding per benchmark")
    score.add_argument("--data", nargs="+", required=True, metavar="FILE.parquet")
    score.add_argument("--generations", required=True, metavar="GEN.jsonl")
    score.add_argument("--out", required=True, metavar="DIR")
    score.add_argument(
        "--config", default=None, help="YAML/JSON with the fgrpo block (image frame, sentences, judge client settings)"
    )
    _add_judge_options(score)
    score.add_argument("--answer-judge", action="store_true", help="let the judge model decide free-form answers")
    score.add_argument("--answer-judge-model", default=None, help="model for --answer-judge (default: --judge-model)")
    score.add_argument(
        "--concurrency", type=integer_arg(low=1), default=64, help="rows scored at once (default: %(default)s)"
    )
    _add_output_options(score, rejects=True)
    score.add_argument("--no-progress", action="store_true")

    compare = commands.add_parser("compare", help="several score runs side by side")
    compare.add_argument(
        "runs", nargs="+", metavar="DIR", help="--out directories of score runs (the first is the baseline)"
    )
    compare.add_argument("--out", required=True, metavar="DIR")
    compare.add_argument("--names", nargs="+", default=None, help="one display name per run")
    _add_output_options(compare, rejects=False)

    agree = commands.add_parser("judge-agreement", help="judge vs human labels: Cohen's kappa, repeat stability")
    agree.add_argument("--labels", required=True, metavar="FILE.jsonl")
    agree.add_argument("--out", required=True, metavar="DIR")
    agree.add_argument(
        "--repeats", type=integer_arg(low=1), default=1, help="judge every item this many times (default: %(default)s)"
    )
    agree.add_argument(
        "--judge-temperature", type=number_arg(low=0.0), default=None, help="sampling temperature of the judge model"
    )
    _add_judge_options(agree)
    _add_output_options(agree, rejects=True)
    agree.add_argument("--no-progress", action="store_true")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks that span several options (single options are checked by their argparse type)."""
    prefix = f"{args.command}: "
    if args.command in ("score", "judge-agreement"):
        _check_judge_choice(parser, args, prefix)
    if args.command == "score":
        if args.answer_judge_model and not args.answer_judge:
            parser.error(prefix + "--answer-judge-model applies only with --answer-judge")
        if args.answer_judge and not args.judge_url:
            parser.error(prefix + "--answer-judge needs a judge model: --judge-url URL... --judge-model NAME")
    if args.command == "judge-agreement" and args.judge_temperature is not None and args.judge == "rule":
        parser.error(prefix + "--judge-temperature applies to --judge-url only, not to --judge rule")


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
        overwrite=args.overwrite,
        max_reject_share=args.max_reject_share,
    )
    average = metrics["average"]
    print(
        f"{average['n']} items over {len(average['benchmarks'])} benchmark(s): accuracy {average['accuracy']}, "
        f"judge failures {average['judge_failures']}; see {args.out}/report.md"
    )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from fgrpo_verl.evaluate.compare import compare_runs

    compare_runs(args.runs, args.out, args.names, overwrite=args.overwrite)
    print(f"wrote {args.out}/compare.md, compare.json and compare.png")
    return 0


def _agreement(args: argparse.Namespace) -> int:
    from fgrpo_verl.config import JudgeConfig
    from fgrpo_verl.evaluate.agreement import run_agreement
    from fgrpo_verl.evaluate.runner import judge_identity
    from fgrpo_verl.judges import build_judge

    overrides = _judge_overrides(args)
    if args.judge_temperature is not None:
        overrides["temperature"] = args.judge_temperature
    judge_config = JudgeConfig.from_dict(overrides, prefix="judge")
    result = run_agreement(
        args.labels,
        lambda: build_judge(judge_config),
        args.out,
        repeats=args.repeats,
        judge_description=judge_identity(judge_config)["description"],
        progress=not args.no_progress,
        overwrite=args.overwrite,
        max_reject_share=args.max_reject_share,
    )
    for task, stats in result["tasks"].items():
        print(
            f"{task}: n={stats['n']} kappa={stats['kappa']} accuracy={stats['accuracy']} failures={stats['failures']}"
        )
    return 0


COMMANDS = {"generate": _generate, "score": _score, "compare": _compare, "judge-agreement": _agreement}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status: 0 done, 1 bad input or too many rejects, 2 bad arguments.

    Every user error is one line on stderr (``error: ...``), never a traceback.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        _check_args(parser, args)
    except SystemExit as stop:  # --help (0) or an argument error (2), already printed in one line
        return 0 if stop.code is None else int(stop.code)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (InputError, ConfigError, TooManyRejects, GenerationUnavailable, OSError, ValueError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
