"""The ``fgrpo-verl`` console command.

    fgrpo-verl demo --out DIR        GRPO-T vs FGRPO on a simulated policy (CPU, offline, about 20 s)
    fgrpo-verl simulate --out DIR    the same simulator, sweeping τ, η and λ_max
    fgrpo-verl check-judge --url URL... --model NAME [--api-key-env VAR]
                                     is each judge endpoint up, serving NAME, and judging? (exit 1 if not)

Each subcommand is one ``_add_<name>`` (its arguments) and one ``_plan_<name>`` (validation, then
its action) in :data:`SUBCOMMANDS`; the heavy imports (torch, matplotlib) happen in the plan.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.contrib.logging import logging_redirect_tqdm

from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.checks import integer_arg, number_arg
from fgrpo_verl.demo.settings import (
    DEFAULT_ETAS,
    DEFAULT_LAMBDA_MAXES,
    DEFAULT_NUM_QUESTIONS,
    DEFAULT_TAUS,
    MAX_POLICY_LR,
    SimSettings,
)
from fgrpo_verl.judges import health

_positive_int = integer_arg(low=1)
_non_negative = number_arg(low=0.0)
_positive = number_arg(positive=True)
_tau_value = number_arg(low=0.0, high=1.0)  # τ bounds a mean of scores in [0, 1]


def _tau(text: str, allow_list: bool) -> tuple[str, list[float]]:
    """``NAME=V`` (``NAME=V1,V2,...`` when sweeping) → (constraint, values in [0, 1])."""
    name, sep, values = text.partition("=")
    example = "consistency=0.9,0.95" if allow_list else "consistency=0.9"
    if not sep or not values:
        raise argparse.ArgumentTypeError(f"expected CONSTRAINT=VALUE (e.g. {example}), got {text!r}")
    if name not in CONSTRAINTS:
        raise argparse.ArgumentTypeError(f"unknown constraint {name!r} in {text!r}; known: {', '.join(CONSTRAINTS)}")
    try:
        parsed = [_tau_value(v.strip()) for v in values.split(",")]
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"τ of {name} {err}") from None
    if len(parsed) > 1 and not allow_list:
        raise argparse.ArgumentTypeError(f"one value per constraint here, got {text!r} (sweeps: fgrpo-verl simulate)")
    return name, parsed


def _add_common(parser: argparse.ArgumentParser) -> None:
    defaults = SimSettings()
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created if missing)")
    sim = parser.add_argument_group("simulator")
    sim.add_argument(
        "--steps", metavar="N", type=_positive_int, default=defaults.steps, help="training steps per run (%(default)s)"
    )
    sim.add_argument(
        "--seed",
        metavar="S",
        type=integer_arg(low=0),
        default=defaults.seed,
        help="seed of data, texts and sampling (%(default)s)",
    )
    sim.add_argument(
        "--num-questions",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_NUM_QUESTIONS,
        help="synthetic questions to generate and score (%(default)s)",
    )
    sim.add_argument(
        "--prompts-per-step",
        metavar="N",
        type=_positive_int,
        default=defaults.prompts_per_step,
        help="questions per training step (%(default)s)",
    )
    sim.add_argument(
        "--group-size",
        metavar="G",
        type=_positive_int,
        default=defaults.group_size,
        help="rollouts per question, the GRPO group (%(default)s; at least 2)",
    )
    sim.add_argument(
        "--policy-lr",
        metavar="LR",
        type=number_arg(positive=True, high=MAX_POLICY_LR),
        default=defaults.policy_lr,
        help="REINFORCE step size on the style logits (%(default)s)",
    )
    sim.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")
    fgrpo = parser.add_argument_group("FGRPO (the recipe's fgrpo block; defaults are the paper's)")
    fgrpo.add_argument(
        "--constraints",
        nargs="+",
        choices=CONSTRAINTS,
        default=None,
        metavar="NAME",
        help=f"enabled constraints (default: all of {', '.join(CONSTRAINTS)})",
    )
    fgrpo.add_argument("--lambda-init", type=_non_negative, default=None, metavar="V", help="initial λ (1.0)")
    fgrpo.add_argument(
        "--min-applicable",
        type=_positive_int,
        default=None,
        metavar="N",
        help="fewest applicable rollouts for λ to move in a step (8)",
    )


def _add_demo(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    group = parser.add_argument_group("dual ascent")
    group.add_argument(
        "--tau",
        type=lambda t: _tau(t, False),
        action="append",
        default=[],
        metavar="NAME=V",
        help="threshold τ of one constraint, repeatable (consistency 0.95, semantic_grounding 0.95, "
        "spatial_grounding 0.7)",
    )
    group.add_argument("--eta", type=_non_negative, default=None, metavar="V", help="dual step size η (0.05)")
    group.add_argument("--lambda-max", type=_positive, default=None, metavar="V", help="upper bound of λ (5.0)")


def _add_simulate(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    default_grid = " ".join(
        [
            "--eta",
            *(f"{v:g}" for v in DEFAULT_ETAS),
            "--lambda-max",
            *(f"{v:g}" for v in DEFAULT_LAMBDA_MAXES),
            *(f"--tau {k}={','.join(f'{v:g}' for v in values)}" for k, values in DEFAULT_TAUS.items()),
        ]
    )
    group = parser.add_argument_group(
        "sweep axes",
        f"One setting varies at a time, the others keep their base value. With none of these: {default_grid}",
    )
    group.add_argument(
        "--tau",
        type=lambda t: _tau(t, True),
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="sweep τ of one constraint over a comma-separated list, repeatable",
    )
    group.add_argument("--eta", type=_non_negative, nargs="+", default=None, metavar="V", help="sweep η (dual_lr)")
    group.add_argument("--lambda-max", type=_positive, nargs="+", default=None, metavar="V", help="sweep λ_max")


def _sim_settings(args: argparse.Namespace) -> SimSettings:
    return SimSettings(
        steps=args.steps,
        prompts_per_step=args.prompts_per_step,
        group_size=args.group_size,
        policy_lr=args.policy_lr,
        seed=args.seed,
    )


def _base_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.constraints is not None:
        overrides["constraints"] = list(dict.fromkeys(args.constraints))
    if args.lambda_init is not None:
        overrides["lambda_init"] = args.lambda_init
    if args.min_applicable is not None:
        overrides["min_applicable"] = args.min_applicable
    return overrides


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")


def _plan_demo(args: argparse.Namespace) -> Callable[[], int]:
    from fgrpo_verl.demo.pipeline import demo_config, run_demo
    from fgrpo_verl.demo.report import fmt

    overrides = _base_overrides(args)
    if args.tau:
        names = [name for name, _ in args.tau]
        if len(set(names)) != len(names):
            raise ValueError(f"--tau sets a constraint twice: {', '.join(names)}")
        overrides["thresholds"] = {name: values[0] for name, values in args.tau}
    if args.eta is not None:
        overrides["dual_lr"] = args.eta
    if args.lambda_max is not None:
        overrides["lambda_max"] = args.lambda_max
    config, sim = demo_config(overrides), _sim_settings(args)
    _check_out(args.out)

    def run() -> int:
        doc = run_demo(args.out, config, sim, args.num_questions, progress=not args.no_progress)
        for mode in ("grpo_t", "fgrpo"):
            final = doc["runs"][mode]["final"]
            print(
                f"{doc['runs'][mode]['label']:>7}: accuracy {fmt(final['policy/accuracy'])}, "
                f"inconsistency rate {fmt(final['policy/inconsistency_rate'])}"
            )
        print(f"report: {args.out / 'report.md'}")
        return 0

    return run


def _plan_simulate(args: argparse.Namespace) -> Callable[[], int]:
    from fgrpo_verl.demo.pipeline import demo_config
    from fgrpo_verl.demo.sweep import SweepAxis, default_axes, run_simulate

    base = _base_overrides(args)
    enabled = demo_config(base).constraints
    axes = []
    if args.eta:
        axes.append(SweepAxis("eta", tuple(args.eta)))
    if args.lambda_max:
        axes.append(SweepAxis("lambda_max", tuple(args.lambda_max)))
    for name, values in args.tau:
        if name not in enabled:
            raise ValueError(f"--tau {name}=...: {name} is not an enabled constraint ({', '.join(enabled)})")
        axes.append(SweepAxis(f"tau_{name}", tuple(values)))
    if len({axis.name for axis in axes}) != len(axes):
        raise ValueError("each constraint's τ may be swept by one --tau only")
    axes = axes or [
        axis for axis in default_axes() if not axis.name.startswith("tau_") or axis.name.removeprefix("tau_") in enabled
    ]
    for axis in axes:  # every run's config, validated before any work starts
        for value in axis.values:
            demo_config(axis.overrides(base, value))
    sim = _sim_settings(args)
    _check_out(args.out)

    def run() -> int:
        run_simulate(args.out, base, axes, sim, args.num_questions, progress=not args.no_progress)
        print(f"sweep: {args.out / 'sweep.json'}\nreport: {args.out / 'report.md'}")
        return 0

    return run


#: name -> (help, add arguments, plan). A plan validates the arguments (ValueError, e.g. ConfigError, for
#: a usage error) and returns the action to run, so an error inside the action keeps its traceback.
_Plan = Callable[[argparse.Namespace], Callable[[], int]]
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], _Plan]] = {
    "demo": (
        "train a simulated policy with GRPO-T and with FGRPO on synthetic data (CPU, offline); "
        "writes DIR/report.md, DIR/metrics.json and plots",
        _add_demo,
        _plan_demo,
    ),
    "simulate": (
        "sweep τ, η and λ_max on the demo's simulator; writes DIR/sweep.json, DIR/report.md and plots",
        _add_simulate,
        _plan_simulate,
    ),
    "check-judge": (
        "check that each judge endpoint is reachable, accepts the API key, serves the model and answers one "
        "consistency and one grounding request with a valid label; one line per problem, exit 1 if any",
        health.add_arguments,
        health.plan,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fgrpo-verl",
        description="Faithful GRPO (FGRPO) for verl. Training itself runs through verl "
        "(python -m verl.trainer.main_ppo +recipe=fgrpo); these commands run without a GPU.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (text, add, _) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text)
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fgrpo-verl``; returns the exit code (2 for a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        action = SUBCOMMANDS[args.command][2](args)
    except ValueError as err:  # includes ConfigError, which names the fgrpo key
        parser.exit(2, f"fgrpo-verl {args.command}: error: {err}\n")
    with logging_redirect_tqdm():
        return action()


if __name__ == "__main__":
    sys.exit(main())
