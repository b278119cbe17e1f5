"""Check a smoke run of the FGRPO recipe (a first run of N steps with a checkpoint, then a resume).

    python -m recipe.fgrpo.check_smoke --ckpt-dir DIR --step N --log FIRST.jsonl --resumed-log RESUMED.jsonl \
        [--init-model MODEL_DIR]

Reads the JSONL metrics of both runs (verl's ``file`` logger: ``{"step": s, "data": {...}}`` per
line) and the checkpoint, and passes when:

1. the first run logged ``fgrpo/*`` metrics, among them ``fgrpo/lambda/{k}`` for every constraint;
2. at least one λ moved: the λ saved after step N (``global_step_N/fgrpo_duals.json``) differs
   from the λ the first step used;
3. the actor's gradient norm (``actor/grad_norm``) was > 0 at some step of the first run;
4. the resumed run used exactly the saved λ (:func:`recipe.fgrpo.check_resume.check`);
5. with ``--init-model``: against the initial weights, the HF weights saved at step N
   (``global_step_N/actor/huggingface``, ``checkpoint.save_contents`` with ``hf_model``) leave every
   vision-tower tensor outside the projector bit-identical and change at least one language-model
   tensor and one projector tensor (the frozen vision tower, ``actor.freeze_vision_tower``).

Prints one line per check; exit status 1 when any fails. Used by smoke_cpu.sh.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fgrpo_verl.dual_state import DUAL_STATE_FILE
from recipe.fgrpo.check_resume import LAMBDA_PREFIX
from recipe.fgrpo.check_resume import check as check_resume

GRAD_NORM_KEY = "actor/grad_norm"


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _training_steps(records: list[dict]) -> list[dict]:
    return [r for r in records if any(key.startswith(LAMBDA_PREFIX) for key in r["data"])]


def check_metrics(log: Path, ckpt_dir: Path, step: int) -> list[str]:
    """Checks 1-3 on the first run; the problems found."""
    steps = _training_steps(_records(log))
    if not steps:
        return [f"{log}: no training step logged {LAMBDA_PREFIX}* metrics"]
    problems = []
    fgrpo_keys = sorted({key for r in steps for key in r["data"] if key.startswith("fgrpo/")})
    print(f"check_smoke: {len(steps)} training steps, {len(fgrpo_keys)} fgrpo/* metrics")
    first = {k[len(LAMBDA_PREFIX) :]: v for k, v in steps[0]["data"].items() if k.startswith(LAMBDA_PREFIX)}
    path = ckpt_dir / f"global_step_{step}" / DUAL_STATE_FILE
    if not path.exists():
        problems.append(f"{path} not found")
    else:
        saved = json.loads(path.read_text())["duals"]["lambdas"]
        moved = {k: (first[k], saved[k]) for k in first if k in saved and saved[k] != first[k]}
        if moved:
            print(f"check_smoke: λ moved: {moved}")
        else:
            problems.append(f"no λ moved in {step} steps: first step used {first}, saved {saved}")
    norms = [r["data"].get(GRAD_NORM_KEY) for r in steps]
    print(f"check_smoke: {GRAD_NORM_KEY} per step: {norms}")
    if not any(isinstance(n, int | float) and n > 0 for n in norms):
        problems.append(f"{GRAD_NORM_KEY} is never > 0 ({norms}): no gradient reached the actor")
    return problems


def _load_weights(directory: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {directory}")
    weights = {}
    for file in files:
        weights.update(load_file(file))
    return weights


def check_frozen_vision(init_model: Path, saved_model: Path) -> list[str]:
    """Check 5: vision tower (projector excluded) unchanged, language model changed."""
    import torch

    from fgrpo_verl.freeze_vision import PROJECTOR_NAMES, TOWER_NAMES

    before, after = _load_weights(init_model), _load_weights(saved_model)

    def part(name: str) -> str:
        parts = name.split(".")
        for i, piece in enumerate(parts):
            if piece in TOWER_NAMES:
                return "projector" if i + 1 < len(parts) and parts[i + 1] in PROJECTOR_NAMES else "vision"
        return "language"

    changed: dict[str, list[str]] = {"vision": [], "projector": [], "language": []}
    totals = dict.fromkeys(changed, 0)
    for name, tensor in after.items():
        if name not in before:
            continue
        kind = part(name)
        totals[kind] += 1
        if not torch.equal(before[name].to(tensor.dtype), tensor):
            changed[kind].append(name)
    print(
        "check_smoke: tensors changed since the start: "
        + ", ".join(f"{kind} {len(changed[kind])}/{totals[kind]}" for kind in changed)
    )
    problems = []
    if totals["vision"] == 0:
        problems.append(f"no vision-tower tensors in {saved_model}")
    if changed["vision"]:
        problems.append(f"the frozen vision tower changed: {changed['vision'][:5]}")
    if not changed["language"]:
        problems.append("no language-model tensor changed")
    if totals["projector"] and not changed["projector"]:
        problems.append("the projector did not change (only the vision encoder is frozen)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt-dir", type=Path, required=True, help="trainer.default_local_dir of the runs")
    parser.add_argument("--step", type=int, required=True, help="the global step the second run resumed from")
    parser.add_argument("--log", type=Path, required=True, help="JSONL metrics of the first run")
    parser.add_argument("--resumed-log", type=Path, required=True, help="JSONL metrics of the resumed run")
    parser.add_argument("--init-model", type=Path, help="the initial HF model folder (checks the frozen tower)")
    args = parser.parse_args(argv)

    problems = check_metrics(args.log, args.ckpt_dir, args.step)
    resume_problems = check_resume(args.ckpt_dir, args.step, args.resumed_log)
    if not resume_problems:
        print(f"check_smoke: λ restored exactly at step {args.step} -> {args.step + 1}")
    problems += resume_problems
    if args.init_model is not None:
        problems += check_frozen_vision(args.init_model, args.ckpt_dir / f"global_step_{args.step}/actor/huggingface")
    for problem in problems:
        print(f"check_smoke: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
