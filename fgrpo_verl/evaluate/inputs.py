"""Checks on the user's files before any work, and line-by-line reading with counted rejects.

One rule for every file the evaluation reads (the same as ``data_prep``'s builders):

- a **file-level** problem (a missing path, an unreadable file, a parquet without a needed
  column, an empty input, an output that already exists) stops the command before any work
  with one line naming the file and what was expected (:class:`InputError`);
- a **line** that cannot be read (bad encoding, not JSON, wrong types) is a reject: recorded
  with ``file:line``, a short reason and a detail, and the other lines are kept. The command
  still writes its outputs and fails (exit 1) only when the rejected share exceeds
  ``--max-reject-share``:

      reject share = #rejected lines / #non-blank lines
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.readers import Unreadable, json_line_values

#: The default bound on the rejected share of an input's lines (``data_prep`` uses the same).
DEFAULT_MAX_REJECT_SHARE = 0.05

#: Columns a parquet needs to be scored (SPEC §4): the join key, the answer and the options.
SCORE_COLUMNS: tuple[str, ...] = (
    "data_source",
    "reward_model.ground_truth",
    "extra_info.index",
    "extra_info.question",
    "extra_info.choices",
)
#: Columns a parquet needs for ``generate``: the join key and the chat prompt.
GENERATE_COLUMNS: tuple[str, ...] = ("data_source", "prompt", "extra_info.index")


class InputError(ValueError):
    """A problem with the user's input or arguments; its message is one line naming the file or option."""


class TooManyRejects(RuntimeError):
    """More lines of an input were rejected than ``--max-reject-share`` allows (the outputs are written)."""


@dataclasses.dataclass(frozen=True)
class Reject:
    """One line of an input that could not be used: ``where`` is ``file:line``."""

    where: str
    reason: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"source_id": self.where, "reason": self.reason, "detail": self.detail}


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a ``Path``; :class:`InputError` when it is missing or not a regular file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist (expected {what})")
    if not path.is_file():
        raise InputError(f"{path} is not a file (expected {what})")
    return path


def prepare_out_dir(path: str | Path, produces: Sequence[str], overwrite: bool) -> Path:
    """Create the output directory ``path``, refusing to replace earlier outputs unless ``overwrite``.

    Refused: ``path`` exists and is not a directory, or it already holds one of the files in
    ``produces`` (the files this command writes). Other files in it are left alone.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file; expected a directory (new, empty or from this command)")
    existing = [name for name in produces if (out / name).exists()]
    if existing and not overwrite:
        raise InputError(
            f"--out {out} already holds {', '.join(existing)} from an earlier run; "
            "choose another --out or pass --overwrite to replace them"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"--out {out}: cannot create the directory ({err.strerror or err})") from err
    return out


def _field_type(schema: pa.Schema, dotted: str) -> pa.DataType | None:
    """The type of ``a.b.c`` in ``schema`` (through struct fields), or ``None`` when it is absent."""
    head, *rest = dotted.split(".")
    if schema.get_field_index(head) < 0:
        return None
    kind = schema.field(head).type
    for name in rest:
        if not pa.types.is_struct(kind) or kind.get_field_index(name) < 0:
            return None
        kind = kind.field(name).type
    return kind


def check_parquet(path: str | Path, columns: Sequence[str]) -> int:
    """Row count of the parquet ``path``; :class:`InputError` naming the file when it cannot be used.

    The file must exist, be a readable parquet file, hold at least one row and have every
    (dotted, possibly nested) column in ``columns``. ``reward_model.ground_truth`` may be
    replaced by ``extra_info.answer``, the scorer's fallback.
    """
    path = require_file(path, "a parquet file built by data_prep")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{path} is not a readable parquet file ({str(err).splitlines()[0]})") from err
    schema = parquet.schema_arrow
    for column in columns:
        if _field_type(schema, column) is not None:
            continue
        if column == "reward_model.ground_truth" and _field_type(schema, "extra_info.answer") is not None:
            continue
        raise InputError(
            f"{path} has no column {column} (expected the SPEC §4 layout that data_prep writes; "
            f"its columns are {', '.join(schema.names) or 'none'})"
        )
    index_type = _field_type(schema, "extra_info.index")
    if index_type is not None and not pa.types.is_integer(index_type):
        raise InputError(f"{path}: column extra_info.index must hold integers, found {index_type}")
    rows = parquet.metadata.num_rows
    if rows == 0:
        raise InputError(f"{path} holds no rows")
    return rows


def check_parquets(paths: Sequence[str | Path], columns: Sequence[str]) -> int:
    """:func:`check_parquet` for each of ``paths`` (each named once); returns the total row count."""
    if len(set(map(str, paths))) != len(paths):
        repeated = sorted({str(p) for p in paths if list(map(str, paths)).count(str(p)) > 1})
        raise InputError(f"--data names {', '.join(repeated)} more than once")
    return sum(check_parquet(path, columns) for path in paths)


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, Any | Reject]]:
    """``(line_number, value)`` for each non-blank line of a JSONL file (1-based numbers).

    ``value`` is the parsed JSON value of any type (the callers check the fields), or a
    :class:`Reject` (``bad_encoding``, ``bad_json``) for a line the shared JSONL reader,
    :func:`data_prep.readers.json_line_values`, cannot read.
    """
    with open(path, "rb") as handle:
        for number, value in json_line_values(handle, str(path)):
            if isinstance(value, Unreadable):
                value = Reject(value.where, value.reason, value.detail)
            yield number, value


@dataclasses.dataclass
class RejectLog:
    """The rejected lines of one input file, and how many lines it had."""

    path: str
    lines: int = 0
    rejects: list[Reject] = dataclasses.field(default_factory=list)

    @property
    def share(self) -> float:
        """#rejected / #non-blank lines (0 for an empty file)."""
        return len(self.rejects) / self.lines if self.lines else 0.0

    def write(self, out: Path) -> None:
        """All rejects as JSON lines ``{"source_id": "file:line", "reason", "detail"}`` to ``out``."""
        with open(out, "w", encoding="utf-8") as handle:
            for reject in self.rejects:
                handle.write(json.dumps(reject.to_json(), ensure_ascii=False) + "\n")

    def check(self, max_share: float, rejects_file: Path) -> None:
        """:class:`TooManyRejects` (one line) when the rejected share exceeds ``max_share``."""
        if self.share > max_share:
            raise TooManyRejects(
                f"{len(self.rejects)} of {self.lines} lines of {self.path} rejected (share {self.share:.3f} > "
                f"--max-reject-share {max_share}); see {rejects_file} (the other outputs are written)"
            )
