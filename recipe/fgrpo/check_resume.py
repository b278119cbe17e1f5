"""Check a resumed FGRPO run: the first step after the resume used exactly the λ the checkpoint saved.

    python -m recipe.fgrpo.check_resume --ckpt-dir DIR --step N --log RESUMED.jsonl

Reads ``DIR/global_step_N/fgrpo_duals.json`` (written by the FGRPO trainer) and the JSONL metrics of
the resumed run (verl's ``file`` logger, ``{"step": s, "data": {...}}`` per line). Passes when the
resumed run's first training step is N+1, its ``fgrpo/lambda/{k}`` (the λ used for that step) equal
the saved λ, and ``DIR/global_step_{N+1}`` (if saved) holds one more dual step. Used by smoke_gpu.sh.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from fgrpo_verl.dual_state import DUAL_STATE_FILE

LAMBDA_PREFIX = "fgrpo/lambda/"


def _duals(ckpt_dir: Path, step: int) -> dict | None:
    path = ckpt_dir / f"global_step_{step}" / DUAL_STATE_FILE
    return json.loads(path.read_text())["duals"] if path.exists() else None


def check(ckpt_dir: Path, step: int, log: Path) -> list[str]:
    """The problems found (empty when the resume restored λ exactly)."""
    saved = _duals(ckpt_dir, step)
    if saved is None:
        return [f"{ckpt_dir}/global_step_{step}/{DUAL_STATE_FILE} not found"]
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    training = [r for r in records if any(key.startswith(LAMBDA_PREFIX) for key in r["data"])]
    if not training:
        return [f"{log} has no step with {LAMBDA_PREFIX}* metrics"]
    first = training[0]
    problems = []
    if first["step"] != step + 1:
        problems.append(f"the resumed run's first training step is {first['step']}, expected {step + 1}")
    used = {key[len(LAMBDA_PREFIX) :]: value for key, value in first["data"].items() if key.startswith(LAMBDA_PREFIX)}
    if set(used) != set(saved["lambdas"]) or any(
        not math.isclose(used[k], saved["lambdas"][k], rel_tol=1e-9, abs_tol=1e-12) for k in used
    ):
        problems.append(f"λ used after the resume {used} != λ saved at step {step} {saved['lambdas']}")
    after = _duals(ckpt_dir, step + 1)
    if after is not None and after["step"] != saved["step"] + 1:
        problems.append(f"dual step count {after['step']} at step {step + 1}, expected {saved['step'] + 1}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt-dir", type=Path, required=True, help="trainer.default_local_dir of the run")
    parser.add_argument("--step", type=int, required=True, help="the global step the run resumed from")
    parser.add_argument("--log", type=Path, required=True, help="JSONL metrics of the resumed run")
    args = parser.parse_args(argv)
    problems = check(args.ckpt_dir, args.step, args.log)
    for problem in problems:
        print(f"check_resume: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_resume: λ restored exactly at step {args.step} -> {args.step + 1}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
