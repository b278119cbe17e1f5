"""Keep the items a policy sometimes solves: mean rollout accuracy strictly between 0 and 1, plus a share of the rest.

    python -m data_prep.difficulty_filter --data train.parquet --generations rollouts.jsonl \\
        --out train_filtered.parquet --keep-share 0.1 --seed 0

``GEN.jsonl`` holds one line per rollout, ``{"index": extra_info.index, "data_source": ..., "response":
...}``, any number per item (the evaluation format). Each response is scored with
``reward_fns.accuracy_reward(response, ground_truth, choices)``; an item's accuracy is the mean over
its rollouts, ``acc̄ = Σ_r acc_r / R``. Items are joined on ``(data_source, extra_info.index)``.

Kept: every item with ``0 < acc̄ < 1``, plus ``round(keep_share · n_rest)`` items drawn with the seed
from the rest (``acc̄ ∈ {0, 1}``). Items with no rollout are counted and reported; they take no part
in the accuracy statistics and are handled by ``--missing``: ``rest`` (default: drawn at the same share
as the rest), ``keep`` or ``drop``. Rollout lines that are not JSON, lack a key, or name an item not in
``--data`` are counted and skipped. Kept rows keep their ``extra_info.index`` and are validated again.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from data_prep.cli import run_tool, setup_logging
from data_prep.writer import RowWriter
from reward_fns import accuracy_reward

logger = logging.getLogger(__name__)

Key = tuple[str, int]
MISSING_POLICIES = ("rest", "keep", "drop")


def _item_answers(data: Path) -> dict[Key, tuple[str, list[str]]]:
    """``(data_source, index) -> (ground truth, choices)`` without reading the image column."""
    answers: dict[Key, tuple[str, list[str]]] = {}
    parquet = pq.ParquetFile(data)
    for batch in parquet.iter_batches(batch_size=1024, columns=["data_source", "reward_model", "extra_info"]):
        for row in batch.to_pylist():
            key = (row["data_source"], int(row["extra_info"]["index"]))
            if key in answers:
                raise ValueError(f"{data}: duplicate item {key} (data_source, extra_info.index)")
            answers[key] = (row["reward_model"]["ground_truth"], list(row["extra_info"]["choices"] or []))
    return answers


def score_generations(
    generations: Path, answers: dict[Key, tuple[str, list[str]]]
) -> tuple[dict[Key, list[float]], Counter[str]]:
    """Accuracy of every rollout per item, and counts of skipped lines by reason."""
    scores: dict[Key, list[float]] = {}
    skipped: Counter[str] = Counter()
    with open(generations, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = (str(record["data_source"]), int(record["index"]))
                response = record["response"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                skipped["malformed"] += 1
                if skipped["malformed"] <= 5:
                    logger.warning("%s:%d: skipped malformed rollout line (%s)", generations, lineno, exc)
                continue
            if key not in answers:
                skipped["unknown_item"] += 1
                continue
            ground_truth, choices = answers[key]
            scores.setdefault(key, []).append(accuracy_reward(str(response), ground_truth, choices or None))
    return scores, skipped


def select(
    keys: list[Key], scores: dict[Key, list[float]], keep_share: float, seed: int, missing: str
) -> tuple[set[Key], dict[str, Any]]:
    """The kept keys and the counts behind them (see the module docstring)."""
    means = {key: sum(s) / len(s) for key, s in scores.items()}
    mixed = sorted(k for k in keys if k in means and 0.0 < means[k] < 1.0)
    solved = sorted(k for k in keys if means.get(k) == 1.0)
    failed = sorted(k for k in keys if means.get(k) == 0.0)
    absent = sorted(k for k in keys if k not in means)
    rest = solved + failed + (absent if missing == "rest" else [])
    rng = random.Random(f"fgrpo-difficulty:{seed}")
    sampled = rng.sample(sorted(rest), round(keep_share * len(rest)))
    kept = set(mixed) | set(sampled) | (set(absent) if missing == "keep" else set())
    rollouts = [len(s) for s in scores.values()]
    report = {
        "items": len(keys),
        "with_rollouts": len(means),
        "without_rollouts": len(absent),
        "rollouts_per_item_min": min(rollouts, default=0),
        "rollouts_per_item_max": max(rollouts, default=0),
        "mean_accuracy": sum(means.values()) / len(means) if means else math.nan,
        "mixed": len(mixed),
        "all_correct": len(solved),
        "all_wrong": len(failed),
        "rest_pool": len(rest),
        "rest_kept": len(sampled),
        "missing_policy": missing,
        "kept": len(kept),
    }
    return kept, report


def difficulty_filter(
    data: str | Path,
    generations: str | Path,
    out: str | Path,
    keep_share: float = 0.1,
    seed: int = 0,
    missing: str = "rest",
) -> dict[str, Any]:
    """Write the kept rows of ``data`` to ``out``; returns the report (counts, skipped lines, writer summary)."""
    if not 0.0 <= keep_share <= 1.0:
        raise ValueError(f"--keep-share must be in [0, 1], got {keep_share}")
    if missing not in MISSING_POLICIES:
        raise ValueError(f"--missing must be one of {MISSING_POLICIES}, got {missing!r}")
    data, generations = Path(data), Path(generations)
    for path in (data, generations):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
    answers = _item_answers(data)
    scores, skipped = score_generations(generations, answers)
    if not scores:
        raise ValueError(
            f"no rollout in {generations} matches an item of {data} on (data_source, index); skipped {dict(skipped)}"
        )
    keys = list(answers)
    kept, report = select(keys, scores, keep_share, seed, missing)
    report["skipped_lines"] = dict(skipped)
    with RowWriter(out, max_reject_share=0.0) as writer:
        for batch in pq.ParquetFile(data).iter_batches(batch_size=64):
            for row in batch.to_pylist():
                key = (row["data_source"], int(row["extra_info"]["index"]))
                if key in kept:
                    writer.add(row, f"{key[0]}:{key[1]}", keep_index=True)
        report["writer"] = writer.summary().to_dict()
    if report["without_rollouts"]:
        logger.warning("%d items had no rollouts (--missing %s)", report["without_rollouts"], missing)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="built parquet file")
    parser.add_argument("--generations", required=True, help="rollouts JSONL: {index, data_source, response}")
    parser.add_argument("--out", required=True, help="filtered parquet file")
    parser.add_argument("--keep-share", type=float, default=0.1, help="share of the all-right/all-wrong items kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--missing", choices=MISSING_POLICIES, default="rest", help="items without rollouts")
    args = parser.parse_args(argv)
    setup_logging()
    return run_tool(
        lambda: difficulty_filter(args.data, args.generations, args.out, args.keep_share, args.seed, args.missing)
    )


if __name__ == "__main__":
    sys.exit(main())
