"""Combine built parquet files with weights into a training mix and a validation split.

    python -m data_prep.mix --inputs sat.parquet:0.5 vgr.parquet:0.3 synthetic.parquet:0.2 \\
        --out-train train.parquet --out-val val.parquet --val-share 0.05 --num 20000 --seed 0

Counts: with weights ``w_i`` (normalised to sum 1) and ``N`` rows in total, source ``i`` contributes
``n_i = w_i · N`` rows (rounded by largest remainder so that ``Σ n_i = N``), drawn without replacement
from its rows with the seed. Without ``--num``, ``N`` is the largest total no source runs short of:
``N = min_i floor(len_i / w_i)``. A source shorter than its ``n_i`` is an error unless
``--allow-repeat``, which then takes whole passes over it plus a seeded sample for the remainder.

Validation split: ``round(val_share · n_i)`` of each source's rows (largest remainder over the
sources), so validation has the same mix as training. Rows are re-indexed ``0..`` in each output, their
``extra_info.split`` is set to ``train`` / ``val``, and every row is validated again on write.

Streaming: each input is read in order, once, in batches; the sources are interleaved in a seeded
random order (rows of one source keep their file order; verl shuffles again when it loads), so memory
holds a batch per input, never the whole mix.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.cli import run_tool, same_file, setup_logging
from data_prep.readers import SourceError, iter_batches, row_file
from data_prep.schema import RowRejected
from data_prep.writer import RowWriter, TooManyRejects, prepare_output
from fgrpo_verl import checks
from fgrpo_verl.checks import integer_arg, number_arg

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MixInput:
    path: Path
    weight: float


def parse_input(spec: str) -> MixInput:
    """``path[:weight]`` -> :class:`MixInput` (weight 1 when omitted)."""
    path, sep, weight = spec.rpartition(":")
    if not sep:
        path, weight = spec, "1"
    try:
        value = float(weight)
    except ValueError:
        path, value = spec, 1.0  # a ':' that belongs to the path
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"--inputs {spec!r}: weight must be a positive number")
    return MixInput(Path(path), value)


def _shares(weights: list[float]) -> list[float]:
    """Weights scaled by their maximum, so that any finite positive weights (even ``1e308``) sum without overflow."""
    top = max(weights)
    shares = [w / top for w in weights]
    if any(s == 0.0 for s in shares):
        raise ValueError(f"--inputs weights {weights} differ too much (a weight underflows to 0 beside the largest)")
    return shares


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers ``n_i`` with ``Σ n_i = total`` and ``|n_i − total·w_i/Σw| < 1`` (Hamilton's method)."""
    shares = _shares(weights)
    norm = sum(shares)
    exact = [total * s / norm for s in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (exact[i] - counts[i], -i), reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan_counts(lengths: list[int], weights: list[float], num: int | None, allow_repeat: bool) -> list[int]:
    """Rows to take from each source (see the module docstring)."""
    shares = _shares(weights)
    norm = sum(shares)
    if num is None:
        num = min(math.floor(length * norm / share) for length, share in zip(lengths, shares, strict=True))
    counts = largest_remainder(num, weights)
    if not allow_repeat:
        for i, (count, length) in enumerate(zip(counts, lengths, strict=True)):
            if count > length:
                raise ValueError(
                    f"input {i} has {length} rows but its weight asks for {count}; "
                    "lower --num, change the weights or pass --allow-repeat"
                )
    return counts


def draw_rows(rng: random.Random, length: int, count: int) -> list[int]:
    """Sorted row numbers: whole passes over ``range(length)`` then a sample of the remainder."""
    if count and not length:
        raise ValueError("cannot draw rows from an empty input")
    passes, rest = divmod(count, length) if length else (0, 0)
    return sorted([*range(length)] * passes + rng.sample(range(length), rest))


def _rows(path: Path, wanted: list[int]) -> Iterator[dict[str, Any]]:
    """Rows of ``path`` at the sorted positions ``wanted`` (repeats allowed), read once in batches."""
    position, k = 0, 0
    for batch in iter_batches(path):
        end = position + batch.num_rows
        if k < len(wanted) and wanted[k] < end:
            rows = batch.to_pylist()
            while k < len(wanted) and wanted[k] < end:
                yield rows[wanted[k] - position]
                k += 1
        position = end
        if k == len(wanted):
            return


def _check_arguments(
    inputs: list[MixInput],
    out_train: Path,
    out_val: Path | None,
    val_share: float,
    num: int | None,
    max_reject_share: float,
) -> None:
    """Every argument problem, found before any file is read or written."""
    if not inputs:
        raise ValueError("--inputs: give at least one parquet file")
    if not 0.0 <= val_share < 1.0:
        raise ValueError(f"--val-share must be in [0, 1), got {val_share}")
    if val_share > 0 and out_val is None:
        raise ValueError("--val-share > 0 needs --out-val")
    if out_val is not None and val_share == 0:
        raise ValueError("--out-val needs --val-share > 0 (e.g. 0.05); with the default 0 the file would be empty")
    if num is not None:
        checks.integer("--num", num, low=1)
    checks.number("--max-reject-share", max_reject_share, low=0.0, high=1.0)
    for i, item in enumerate(inputs):
        for earlier in inputs[:i]:
            # Two independent draws from one file repeat its rows, and can put a validation row into training.
            if same_file(item.path, earlier.path):
                raise ValueError(
                    f"--inputs names {item.path} more than once; give it once with the summed weight "
                    "(--allow-repeat repeats rows on purpose)"
                )
    outputs = [("--out-train", out_train)] + ([("--out-val", out_val)] if out_val is not None else [])
    if out_val is not None and same_file(out_train, out_val):
        raise ValueError(f"--out-train and --out-val are the same file {out_train}; give two paths")
    for flag, out in outputs:
        for item in inputs:
            if same_file(out, item.path):
                raise ValueError(f"{flag} {out} is also an input; choose another output path")


def mix(
    inputs: list[MixInput],
    out_train: str | Path,
    out_val: str | Path | None,
    val_share: float,
    num: int | None,
    seed: int,
    allow_repeat: bool = False,
    max_reject_share: float = 0.0,
) -> dict[str, Any]:
    """Write the mix; returns a summary (rows per source and split, writer summaries).

    Argument problems, missing or unreadable inputs, inputs without the row schema and empty inputs are
    ``ValueError`` / :class:`~data_prep.readers.SourceError` raised before any output is written.
    """
    out_train = Path(out_train)
    out_val = Path(out_val) if out_val is not None else None
    _check_arguments(inputs, out_train, out_val, val_share, num, max_reject_share)
    prepare_output(*(out for out in (out_train, out_val) if out is not None))
    lengths = []
    for item in inputs:
        rows = row_file(item.path).metadata.num_rows
        if rows == 0:
            raise SourceError(f"{item.path}: no rows (expected a built parquet file with at least one row)")
        lengths.append(rows)
    rng = random.Random(f"fgrpo-mix:{seed}")
    counts = plan_counts(lengths, [item.weight for item in inputs], num, allow_repeat)
    val_counts = (
        largest_remainder(round(val_share * sum(counts)), counts)
        if val_share > 0 and sum(counts)
        else [0] * len(counts)
    )
    wanted = [draw_rows(rng, length, count) for length, count in zip(lengths, counts, strict=True)]
    # Which of each source's drawn rows (by position in its drawn list) go to validation.
    val_positions = [set(rng.sample(range(count), v)) for count, v in zip(counts, val_counts, strict=True)]
    order = [i for i, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(order)

    streams = [_rows(item.path, rows) for item, rows in zip(inputs, wanted, strict=True)]
    taken = [0] * len(inputs)
    train = RowWriter(out_train, max_reject_share=max_reject_share)
    val = RowWriter(out_val, max_reject_share=max_reject_share) if out_val is not None else None
    try:
        for source in order:
            row = next(streams[source])
            is_val = taken[source] in val_positions[source]
            taken[source] += 1
            writer = val if is_val else train
            extra = row.get("extra_info")
            if not isinstance(extra, dict):  # a null struct in a file with the right columns
                writer.add(RowRejected("bad_row", "extra_info is null"), f"{inputs[source].path.name}:row")
                continue
            row["extra_info"] = {**extra, "split": "val" if is_val else "train"}
            writer.add(row, f"{inputs[source].path.name}:{extra.get('index')}")
    except BaseException:
        train.abort()
        if val is not None:
            val.abort()
        raise
    summaries: dict[str, Any] = {}
    failure: TooManyRejects | None = None
    for name, writer in (("train", train), ("val", val)):
        if writer is None:
            continue
        try:  # close both files even when the first has too many rejects
            summaries[name] = writer.close().to_dict()
        except TooManyRejects as exc:
            summaries[name] = exc.summary.to_dict()
            failure = failure or exc
    if failure is not None:
        raise failure
    return {
        "inputs": [
            {"path": str(item.path), "weight": item.weight, "rows": length, "taken": count, "val": v}
            for item, length, count, v in zip(inputs, lengths, counts, val_counts, strict=True)
        ],
        "writers": summaries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", required=True, help="PATH[:WEIGHT] ... (weight 1 when omitted)")
    parser.add_argument("--out-train", required=True)
    parser.add_argument("--out-val", default=None)
    parser.add_argument("--val-share", type=float, default=0.0)
    parser.add_argument(
        "--num", type=integer_arg(low=1), default=None, help="total rows (train + val); default: all a mix allows"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--allow-repeat", action="store_true", help="repeat rows of inputs shorter than their share")
    parser.add_argument(
        "--max-reject-share",
        type=number_arg(low=0.0, high=1.0),
        default=0.0,
        help="inputs are built files: any invalid row fails by default",
    )
    args = parser.parse_args(argv)
    setup_logging()
    return run_tool(
        lambda: mix(
            [parse_input(spec) for spec in args.inputs],
            args.out_train,
            args.out_val,
            args.val_share,
            args.num,
            args.seed,
            allow_repeat=args.allow_repeat,
            max_reject_share=args.max_reject_share,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
