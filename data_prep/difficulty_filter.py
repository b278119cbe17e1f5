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
as the rest), ``keep`` or ``drop``. Rollout lines naming an item not in ``--data`` are counted and skipped;
malformed lines (see :func:`score_generations`) are counted, skipped and listed as ``file:line`` with the
reason in ``<out>.skipped.jsonl``. Kept rows keep their ``extra_info.index`` and are validated again.
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

from data_prep.cli import run_tool, same_file, setup_logging
from data_prep.readers import (
    SourceError,
    Unreadable,
    collecting_unreadable,
    iter_jsonl,
    iter_parquet,
    note_unreadable,
    row_file,
)
from data_prep.schema import RowRejected
from data_prep.writer import RowWriter, prepare_output
from fgrpo_verl import checks
from fgrpo_verl.checks import number_arg
from reward_fns import accuracy_reward

logger = logging.getLogger(__name__)

Key = tuple[str, int]
MISSING_POLICIES = ("rest", "keep", "drop")


def _row_key(row: dict[str, Any]) -> Key | None:
    """``(data_source, extra_info.index)`` of a data row, or ``None`` when the row has no usable key."""
    extra = row.get("extra_info")
    source = row.get("data_source")
    index = extra.get("index") if isinstance(extra, dict) else None
    if not isinstance(source, str) or not source or isinstance(index, bool) or not isinstance(index, int):
        return None
    return source, index


def _item_answers(data: Path) -> dict[Key, tuple[str, list[str]]]:
    """``(data_source, index) -> (ground truth, choices)`` without reading the image column.

    Rows without a usable key or ground truth are left out here; they are rejected when the output is written.
    """
    answers: dict[Key, tuple[str, list[str]]] = {}
    row_file(data)
    for row in iter_parquet(data, columns=["data_source", "reward_model", "extra_info"], batch_size=1024):
        key = _row_key(row)
        reward = row.get("reward_model")
        if key is None or not isinstance(reward, dict):
            continue
        if key in answers:
            raise SourceError(f"{data}: duplicate item {key} (expected unique (data_source, extra_info.index))")
        answers[key] = (str(reward.get("ground_truth")), list(row["extra_info"].get("choices") or []))
    if not answers:
        raise SourceError(f"{data}: no rows with a (data_source, extra_info.index) key (expected a built parquet file)")
    return answers


def _rollout(record: dict[str, Any]) -> tuple[Key, str]:
    """``(key, response)`` of one rollout line; ``ValueError`` naming the field that is wrong."""
    source, index, response = record.get("data_source"), record.get("index"), record.get("response")
    if not isinstance(source, str):
        raise ValueError(f"data_source must be a string, got {source!r:.60}")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"index must be an integer, got {index!r:.60}")
    if not isinstance(response, str):
        raise ValueError(f"response must be a string, got {type(response).__name__}")
    return (source, index), response


def score_generations(
    generations: Path, answers: dict[Key, tuple[str, list[str]]]
) -> tuple[dict[Key, list[float]], Counter[str], list[Unreadable]]:
    """Accuracy of every rollout per item, counts of skipped lines by reason, and the malformed lines.

    A line is malformed when it is not UTF-8, not a JSON object, or lacks a string ``data_source``, an
    integer ``index`` (``3.7``, ``true`` and ``"3"`` are not) or a string ``response``.
    """
    scores: dict[Key, list[float]] = {}
    skipped: Counter[str] = Counter()
    with collecting_unreadable() as read_log:
        for lineno, record in iter_jsonl(generations):
            try:
                key, response = _rollout(record)
            except ValueError as exc:
                note_unreadable(f"{generations}:{lineno}", "bad_field", str(exc))
                continue
            if key not in answers:
                skipped["unknown_item"] += 1
                continue
            ground_truth, choices = answers[key]
            scores.setdefault(key, []).append(accuracy_reward(response, ground_truth, choices or None))
    malformed = read_log.take()
    if malformed:
        skipped["malformed"] = len(malformed)
        for entry in malformed[:5]:
            logger.warning("%s: skipped malformed rollout line (%s: %s)", entry.where, entry.reason, entry.detail)
    return scores, skipped, malformed


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
    max_reject_share: float = 0.0,
) -> dict[str, Any]:
    """Write the kept rows of ``data`` to ``out``; returns the report (counts, skipped lines, writer summary)."""
    checks.number("--keep-share", keep_share, low=0.0, high=1.0)
    if missing not in MISSING_POLICIES:
        raise ValueError(f"--missing must be one of {MISSING_POLICIES}, got {missing!r}")
    checks.number("--max-reject-share", max_reject_share, low=0.0, high=1.0)
    data, generations, out = Path(data), Path(generations), Path(out)
    for flag, path in (("--data", data), ("--generations", generations)):
        if not path.is_file():
            raise SourceError(f"{path}: no such file (expected the {flag} file)")
        if same_file(out, path):
            raise ValueError(f"--out {out} is also the {flag} file; choose another output path")
    prepare_output(out, out.with_name(out.name + ".skipped.jsonl"))
    answers = _item_answers(data)
    scores, skipped, malformed = score_generations(generations, answers)
    if not scores:
        raise SourceError(
            f"{generations}: no rollout matches an item of {data} on (data_source, index); skipped {dict(skipped)}"
        )
    keys = list(answers)
    kept, report = select(keys, scores, keep_share, seed, missing)
    report["skipped_lines"] = dict(skipped)
    skipped_path = out.with_name(out.name + ".skipped.jsonl")
    with open(skipped_path, "w", encoding="utf-8") as fh:
        for entry in malformed:  # the layout of a rejects file: where, why, the specifics
            fh.write(json.dumps({"source_id": entry.where, "reason": entry.reason, "detail": entry.detail}) + "\n")
    report["skipped_path"] = str(skipped_path)
    with RowWriter(out, max_reject_share=max_reject_share) as writer:
        for n, row in enumerate(iter_parquet(data)):
            key = _row_key(row)
            if key is None:
                writer.add(RowRejected("bad_row", "no (data_source, extra_info.index) key"), f"{data}:row {n}")
            elif key in kept:
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
    parser.add_argument(
        "--keep-share",
        type=number_arg(low=0.0, high=1.0),
        default=0.1,
        help="share of the all-right/all-wrong items kept",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--missing", choices=MISSING_POLICIES, default="rest", help="items without rollouts")
    parser.add_argument(
        "--max-reject-share",
        type=number_arg(low=0.0, high=1.0),
        default=0.0,
        help="data rows are built rows: any invalid row fails by default",
    )
    args = parser.parse_args(argv)
    setup_logging()
    return run_tool(
        lambda: difficulty_filter(
            args.data, args.generations, args.out, args.keep_share, args.seed, args.missing, args.max_reject_share
        )
    )


if __name__ == "__main__":
    sys.exit(main())
