"""Readers of user files, all under one rule: a bad record is a reject, a bad file is one line.

- A record that cannot be read (a line that is not UTF-8, not JSON, or not a JSON object; a CSV row with
  bytes that are not UTF-8 or more fields than its header) is *unreadable*: it is noted with ``file:line``
  and a reason (``bad_encoding``, ``bad_json``, ``not_a_record``), and reading goes on. Inside
  :func:`collecting_unreadable` (every builder, via :func:`data_prep.cli.builder_cli`) the notes are
  collected and become rejects in the build's rejects file; outside it the first one raises
  :class:`SourceError`.
- A problem with the file as a whole (missing, unreadable, not parquet, a parquet without the row
  schema) is a :class:`SourceError` whose message is one line naming the file and what was expected.

A JSON document (``.json``) is read record by record: the elements of a top-level list, or the values of
an ``{id: record}`` object (the key kept as ``"_key"``). A document that breaks off (truncated, or a stray
character) keeps the records before the break and notes the break as one ``bad_json`` reject.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import dataclasses
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.schema import ROW_SCHEMA

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv")


class SourceError(ValueError):
    """A file-level problem with user input; the message is one line naming the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """One record that could not be read: where (``file:line``), a reason code and the specifics."""

    where: str
    reason: str
    detail: str


class ReadLog:
    """The unreadable records met while reading, each ``where`` once (a source read twice notes it once)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._pending: list[Unreadable] = []
        self.total = 0

    def note(self, entry: Unreadable) -> None:
        if entry.where not in self._seen:
            self._seen.add(entry.where)
            self._pending.append(entry)
            self.total += 1

    def take(self) -> list[Unreadable]:
        """The entries noted since the last call."""
        pending, self._pending = self._pending, []
        return pending


_ACTIVE: contextvars.ContextVar[ReadLog | None] = contextvars.ContextVar("data_prep_read_log", default=None)


@contextlib.contextmanager
def collecting_unreadable() -> Iterator[ReadLog]:
    """Collect unreadable records into a :class:`ReadLog` instead of raising on the first one."""
    log = ReadLog()
    token = _ACTIVE.set(log)
    try:
        yield log
    finally:
        _ACTIVE.reset(token)


def note_unreadable(where: str, reason: str, detail: str) -> None:
    """Note one unreadable record (see the module docstring); raises :class:`SourceError` outside a collection."""
    log = _ACTIVE.get()
    if log is None:
        raise SourceError(f"{where}: {detail}")
    logger.debug("unreadable record %s: %s %s", where, reason, detail)
    log.note(Unreadable(where, reason, detail))


def _open_error(path: Path, exc: OSError) -> SourceError:
    return SourceError(f"{path}: cannot read the file ({exc.strerror or exc})")


def _has_bad_text(value: Any) -> bool:
    """True when a decoded value holds a surrogate escape, i.e. its bytes were not UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(_has_bad_text(k) or _has_bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_bad_text(v) for v in value)
    return False


# --------------------------------------------------------------------------- JSON lines


def json_line_values(lines: Iterable[bytes], name: str) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of JSON-lines bytes; the one JSONL line reader.

    ``value`` is the line's JSON value, of any type (the caller checks it), or an :class:`Unreadable`
    at ``{name}:{line}``: reason ``bad_encoding`` for a line that is not UTF-8, ``bad_json`` for one
    that is not one JSON value (a truncated last line, nesting too deep for the parser). Line 1 may
    open with a byte order mark; a line of whitespace only is skipped. The lines are bytes so that
    one bad byte costs one line, not the file.
    """
    for lineno, raw in enumerate(lines, 1):
        where = f"{name}:{lineno}"
        try:
            text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start : exc.start + 1]
            yield (
                lineno,
                Unreadable(where, "bad_encoding", f"not UTF-8 text ({exc.reason} at byte {exc.start}: {byte!r})"),
            )
            continue
        if not text.strip():
            continue
        try:
            yield lineno, json.loads(text.rstrip("\r\n"))  # without the line end, the column is on this line
        except (json.JSONDecodeError, RecursionError) as exc:
            why = f"{exc.msg}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            yield lineno, Unreadable(where, "bad_json", f"not a JSON line ({why})")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every readable line of a JSON-lines file whose value is a JSON object.

    Lines :func:`json_line_values` cannot read, and values that are not objects (``not_a_record``), are noted
    with :func:`note_unreadable`.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _open_error(path, exc) from exc
    with fh:
        for lineno, value in json_line_values(fh, str(path)):
            if isinstance(value, Unreadable):
                note_unreadable(value.where, value.reason, value.detail)
            elif not isinstance(value, dict):
                note_unreadable(
                    f"{path}:{lineno}", "not_a_record", f"expected a JSON object, got {type(value).__name__}"
                )
            else:
                yield lineno, value


# --------------------------------------------------------------------------- JSON documents


def read_json(path: str | Path) -> Any:
    """A whole JSON document; :class:`SourceError` (one line, with the line number) when it is not readable JSON."""
    path = Path(path)
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); expected a JSON document") from exc


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _open_error(path, exc) from exc
    # Bytes that are not UTF-8 become surrogate escapes, so the record holding them is found and rejected.
    return data.decode("utf-8-sig", errors="surrogateescape")


class _Scanner:
    """Walks a JSON text value by value, keeping the line number of the position (counted incrementally)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text, self.pos = path, text, 0
        self._decoder = json.JSONDecoder()
        self._line, self._counted = 1, 0

    def line(self, pos: int | None = None) -> int:
        pos = self.pos if pos is None else pos
        if pos < self._counted:
            return self.text.count("\n", 0, pos) + 1
        self._line += self.text.count("\n", self._counted, pos)
        self._counted = pos
        return self._line

    def skip_space(self) -> str:
        """Move past whitespace; the next character, or ``""`` at the end."""
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos
        return text[pos] if pos < len(text) else ""

    def value(self) -> Any:
        value, self.pos = self._decoder.raw_decode(self.text, self.pos)
        return value


def iter_json_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, record)`` for the records of a JSON list or ``{id: record}`` object, one at a time."""
    path = Path(path)
    scan = _Scanner(path, _read_text(path))
    opening = scan.skip_space()
    if opening not in ("[", "{"):
        what = "nothing" if not opening else f"{opening!r}"
        raise SourceError(f"{path}: expected a JSON list of records or an {{id: record}} object, found {what}")
    keyed = opening == "{"
    closing = "}" if keyed else "]"
    scan.pos += 1
    if scan.skip_space() == closing:
        return
    while True:
        line = scan.line()
        try:
            key = None
            if keyed:
                key = scan.value()
                if not isinstance(key, str) or scan.skip_space() != ":":
                    raise json.JSONDecodeError("expected a key and ':'", scan.text, scan.pos)
                scan.pos += 1
                scan.skip_space()
                line = scan.line()
            value = scan.value()
        except json.JSONDecodeError as exc:
            note_unreadable(
                f"{path}:{scan.line(exc.pos)}",
                "bad_json",
                f"the JSON document breaks off here ({exc.msg}); records after it are lost",
            )
            return
        where = f"{path}:{line}"
        if not isinstance(value, dict):
            note_unreadable(where, "not_a_record", f"expected a JSON object, got {type(value).__name__}")
        elif _has_bad_text(value) or _has_bad_text(key):
            note_unreadable(where, "bad_encoding", "the record holds bytes that are not UTF-8")
        else:
            yield line, ({"_key": key, **value} if keyed else value)
        following = scan.skip_space()
        if following == ",":
            scan.pos += 1
            scan.skip_space()
            continue
        if following == closing:
            return
        found = repr(following) if following else "the end of the file"
        note_unreadable(
            f"{path}:{scan.line()}",
            "bad_json",
            f"expected ',' or {closing!r}, found {found}; records after it are lost",
        )
        return


# --------------------------------------------------------------------------- CSV


def iter_csv(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` for the readable rows of a CSV file with a header line."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _open_error(path, exc) from exc
    with fh:
        reader = csv.DictReader(fh)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                note_unreadable(f"{path}:{reader.line_num}", "not_a_record", f"not a CSV row ({exc})")
                continue
            where = f"{path}:{reader.line_num}"
            if None in row:
                note_unreadable(
                    where, "not_a_record", f"{len(row) - 1 + len(row[None])} fields, the header has {len(row) - 1}"
                )
            elif _has_bad_text(row):
                note_unreadable(where, "bad_encoding", "the row holds bytes that are not UTF-8")
            else:
                yield reader.line_num, row


# --------------------------------------------------------------------------- parquet


def parquet_file(path: str | Path) -> pq.ParquetFile:
    """Open a parquet file; :class:`SourceError` naming it when it is missing or not parquet."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file (expected a parquet file)")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not parquet
        raise SourceError(
            f"{path}: not a readable parquet file ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc


def row_file(path: str | Path) -> pq.ParquetFile:
    """Open a built parquet file; :class:`SourceError` naming what is missing when it lacks the row schema's columns."""
    parquet = parquet_file(path)
    have = parquet.schema_arrow
    missing = []
    for field in ROW_SCHEMA:
        if field.name not in have.names:
            missing.append(field.name)
            continue
        if pa.types.is_struct(field.type):
            got = have.field(field.name).type
            names = {got.field(i).name for i in range(got.num_fields)} if pa.types.is_struct(got) else set()
            missing += [
                f"{field.name}.{field.type.field(i).name}"
                for i in range(field.type.num_fields)
                if field.type.field(i).name not in names
            ]
    if missing:
        raise SourceError(
            f"{path}: not a data_prep row file: it lacks {', '.join(missing)} "
            "(expected the columns of data_prep.schema.ROW_SCHEMA, as python -m data_prep.<dataset> writes them)"
        )
    return parquet


def iter_batches(path: str | Path, columns: list[str] | None = None, batch_size: int = 64) -> Iterator[pa.RecordBatch]:
    """Record batches of a parquet file (memory stays flat); a damaged file is a :class:`SourceError`."""
    parquet = parquet_file(path)
    batches = parquet.iter_batches(batch_size=batch_size, columns=columns)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (OSError, ValueError) as exc:  # pyarrow's errors for a damaged page or row group
            raise SourceError(f"{path}: the parquet file is damaged ({str(exc).splitlines()[0]})") from exc
        yield batch


def iter_parquet(path: str | Path, columns: list[str] | None = None, batch_size: int = 64) -> Iterator[dict[str, Any]]:
    """Rows of a parquet file as dicts, read in batches."""
    for batch in iter_batches(path, columns, batch_size):
        yield from batch.to_pylist()


def iter_table_file(path: str | Path) -> Iterator[dict[str, Any]]:
    """The records of one table file (parquet, jsonl, json, csv), chosen by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from iter_parquet(path)
    elif suffix == ".jsonl":
        yield from (record for _, record in iter_jsonl(path))
    elif suffix == ".json":
        yield from (record for _, record in iter_json_records(path))
    elif suffix == ".csv":
        yield from (row for _, row in iter_csv(path))
    else:
        raise SourceError(f"{path}: unsupported table format {suffix!r} (expected one of {', '.join(TABLE_SUFFIXES)})")
