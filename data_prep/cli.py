"""The command line every builder shares, and the common ending of the data tools' ``main``."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from data_prep.readers import ReadLog, SourceError, collecting_unreadable
from data_prep.schema import RowRejected, SpatialItem
from data_prep.writer import RowWriter, TooManyRejects
from fgrpo_verl.checks import integer_arg, number_arg
from fgrpo_verl.image_budget import MAX_PIXELS, MIN_PIXELS

logger = logging.getLogger(__name__)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when two paths name the same file (whether or not it exists yet)."""
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


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

    ``--limit N`` stops after N source records (written or rejected). Unreadable source records
    (:mod:`data_prep.readers`) are rejects too, with ``file:line`` as their source id. Exit codes: 0 on
    success; 1 when the rejected share exceeds ``--max-reject-share``; 2 for a file-level problem (missing
    path, unreadable file, a source with no records), logged as one line (``--log-level DEBUG`` adds the
    traceback). The summary is logged as JSON whenever the output is written.
    ``with_source=False`` leaves out ``--source`` and ``--limit`` (generators that read no dataset);
    ``args.source`` and ``args.limit`` are then ``None``. The progress bar's total is ``--limit``, or
    ``--num`` for a generator that defines it.
    """
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output parquet file")
    if with_source:
        parser.add_argument(
            "--source",
            default=default_source,
            help=f"local file/dir, or a Hugging Face id hf:OWNER/NAME (default {default_source})",
        )
        parser.add_argument("--limit", type=integer_arg(low=1), default=None, help="stop after N source records")
    parser.add_argument(
        "--split", default=default_split, help=f"split to read and label rows with (default {default_split})"
    )
    parser.add_argument(
        "--max-reject-share", type=number_arg(low=0.0, high=1.0), default=0.05, help="exit 1 when more are rejected"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for any shuffling the builder does")
    parser.add_argument(
        "--token-budget", type=integer_arg(low=1), default=None, help="report prompts longer than this (tokens)"
    )
    parser.add_argument(
        "--min-pixels", type=integer_arg(low=1), default=MIN_PIXELS, help="processor min_pixels for --token-budget"
    )
    parser.add_argument(
        "--max-pixels", type=integer_arg(low=1), default=MAX_PIXELS, help="processor max_pixels for --token-budget"
    )
    parser.add_argument("--row-group-size", type=integer_arg(low=1), default=256, help="rows per parquet row group")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if not with_source:
        args.source, args.limit = None, None
    if args.min_pixels > args.max_pixels:
        parser.error(f"--min-pixels {args.min_pixels} exceeds --max-pixels {args.max_pixels}")
    if args.source is not None and Path(args.source).exists() and same_file(args.source, args.out):
        parser.error(f"--out {args.out} is the --source file; choose another output path")
    setup_logging(args.log_level)

    try:
        writer = RowWriter(
            args.out,
            max_reject_share=args.max_reject_share,
            row_group_size=args.row_group_size,
            token_budget=args.token_budget,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
        )
    except SourceError as exc:  # --out is a directory or cannot be written: before any work
        return _fail(exc)
    total = args.limit if args.limit is not None else getattr(args, "num", None)
    with collecting_unreadable() as unreadable:
        try:
            pairs = build_fn(args)
            if args.limit is not None:
                pairs = itertools.islice(pairs, args.limit)
            for item, source_id in tqdm(pairs, total=total, desc=Path(args.out).name, unit="row", mininterval=2.0):
                _reject_unreadable(unreadable, writer)
                writer.add(item, source_id)
            _reject_unreadable(unreadable, writer)
        except (KeyboardInterrupt, SystemExit):
            writer.abort()
            raise
        except Exception as exc:  # a user's file problem, or a builder's failure: one line, no traceback
            writer.abort()
            return _fail(exc)
    if writer.written == 0 and not writer.summary().num_rejected and with_source:
        writer.abort()
        where = args.source if args.source is not None else default_source
        return _fail(SourceError(f"{where}: no records for split {args.split!r} (expected at least one)"))
    try:
        summary = writer.close()
    except TooManyRejects as exc:
        logger.error("%s", exc)
        logger.info("summary: %s", json.dumps(exc.summary.to_dict()))
        return 1
    logger.info("summary: %s", json.dumps(summary.to_dict()))
    return 0


def _reject_unreadable(log: ReadLog, writer: RowWriter) -> None:
    for entry in log.take():
        writer.add(RowRejected(entry.reason, entry.detail), entry.where)


def _fail(exc: BaseException) -> int:
    """Log a user-facing error as one line (the traceback only at DEBUG level); the exit code 2."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, SourceError | OSError):
        message = f"{type(exc).__name__}: {message}"
    logger.error("%s", message)
    logger.debug("traceback", exc_info=exc)
    return 2


def setup_logging(level: str | int = logging.INFO) -> None:
    """The one log format of the data tools."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_tool(work: Callable[[], dict[str, Any]]) -> int:
    """Run a data tool's ``work`` and turn its outcome into the exit code.

    0 with the summary logged as JSON; 1 when too many rows were rejected; 2 for a user error
    (bad argument, missing or malformed file), logged as one line.
    """
    try:
        summary = work()
    except TooManyRejects as exc:
        logger.error("%s", exc)
        return 1
    except (ValueError, OSError) as exc:  # bad arguments and file problems: one line, no traceback
        return _fail(exc)
    logger.info("summary: %s", json.dumps(summary))
    return 0
