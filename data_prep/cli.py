"""The command line every builder shares, and the common ending of the data tools' ``main``."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from data_prep.schema import SpatialItem
from data_prep.writer import RowWriter, TooManyRejects

logger = logging.getLogger(__name__)


def builder_cli(
    description: str | None,
    build_fn: Callable[[argparse.Namespace], Iterable[tuple[SpatialItem | BaseException, str]]],
    argv: list[str] | None = None,
    default_source: str | None = None,
    default_split: str | None = "train",
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    with_source: bool = True,
) -> int:
    """Parse the shared builder options, stream ``build_fn(args)`` into a :class:`RowWriter`, return the exit code.

    ``--limit N`` stops after N source records (written or rejected). Returns 0 on success and 1 when
    the rejected share exceeds ``--max-reject-share``; the summary is logged as JSON either way.
    ``with_source=False`` leaves out ``--source`` and ``--limit`` (generators that read no dataset);
    ``args.source`` and ``args.limit`` are then ``None``. The progress bar's total is ``--limit``, or
    ``--num`` for a generator that defines it.
    """
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output parquet file")
    if with_source:
        parser.add_argument(
            "--source", default=default_source, help=f"local dir/file or HF id (default {default_source})"
        )
        parser.add_argument("--limit", type=int, default=None, help="stop after N source records")
    parser.add_argument(
        "--split", default=default_split, help=f"split to read and label rows with (default {default_split})"
    )
    parser.add_argument("--max-reject-share", type=float, default=0.05, help="exit 1 when more are rejected")
    parser.add_argument("--seed", type=int, default=0, help="seed for any shuffling the builder does")
    parser.add_argument("--token-budget", type=int, default=None, help="report prompts longer than this (tokens)")
    parser.add_argument("--row-group-size", type=int, default=256, help="rows per parquet row group")
    parser.add_argument("--log-level", default="INFO")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if not with_source:
        args.source, args.limit = None, None
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be >= 0")
    setup_logging(args.log_level.upper())

    writer = RowWriter(
        args.out,
        max_reject_share=args.max_reject_share,
        row_group_size=args.row_group_size,
        token_budget=args.token_budget,
    )
    pairs = build_fn(args)
    if args.limit is not None:
        pairs = itertools.islice(pairs, args.limit)
    total = args.limit if args.limit is not None else getattr(args, "num", None)
    try:
        for item, source_id in tqdm(pairs, total=total, desc=Path(args.out).name, unit="row", mininterval=2.0):
            writer.add(item, source_id)
    except BaseException:
        writer.abort()
        raise
    try:
        summary = writer.close()
    except TooManyRejects as exc:
        logger.error("%s", exc)
        logger.info("summary: %s", json.dumps(exc.summary.to_dict()))
        return 1
    logger.info("summary: %s", json.dumps(summary.to_dict()))
    return 0


def setup_logging(level: str | int = logging.INFO) -> None:
    """The one log format of the data tools."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_tool(work: Callable[[], dict[str, Any]]) -> int:
    """Run a data tool's ``work`` and turn its outcome into the exit code.

    0 with the summary logged as JSON; 1 when too many rows were rejected; 2 for a user error
    (bad argument, missing file), logged as one line.
    """
    try:
        summary = work()
    except TooManyRejects as exc:
        logger.error("%s", exc)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        return 2
    logger.info("summary: %s", json.dumps(summary))
    return 0
