"""Reading evaluation inputs: parquet rows (streamed) and a generations file, and joining them.

A generations file (``GEN.jsonl``) holds one JSON object per line::

    {"index": <extra_info.index>, "data_source": "<data_source>", "response": "<text>"}   (+ "rotation")

The join key is ``(data_source, extra_info.index)``. Nothing is dropped silently; what does not
join is counted in :class:`GenerationIssues`:

- ``malformed_lines``: a line that is not UTF-8, not JSON, or not an object with a string
  ``data_source``, an integer ``index`` and a string ``response``: a reject, kept with its
  ``file:line`` and reason for ``DIR/rejects.jsonl`` (1-based line numbers kept as examples);
- ``duplicate_lines``: a second line for a key already seen (the first one is kept);
- ``unknown_ids``: a key that no data row has (found while scoring, by
  :func:`fgrpo_verl.evaluate.scoring.score_generations`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from fgrpo_verl.evaluate.inputs import InputError, Reject, RejectLog, iter_json_lines, require_file

Key = tuple[str, int]

#: At most this many line numbers / example keys are kept per issue (counts are always complete).
MAX_EXAMPLES = 50


@dataclasses.dataclass
class Generation:
    """One usable line of a generations file."""

    response: str
    line: int
    rotation: int | None = None


@dataclasses.dataclass
class GenerationIssues:
    """Lines of a generations file that could not be used as they are (see the module docstring)."""

    malformed_lines: list[int] = dataclasses.field(default_factory=list)
    malformed_count: int = 0
    duplicate_lines: dict[Key, list[int]] = dataclasses.field(default_factory=dict)
    rejects: RejectLog = dataclasses.field(default_factory=lambda: RejectLog(""))

    def add_malformed(self, line: int, reject: Reject) -> None:
        self.malformed_count += 1
        self.rejects.rejects.append(reject)
        if len(self.malformed_lines) < MAX_EXAMPLES:
            self.malformed_lines.append(line)


@dataclasses.dataclass
class GenerationIndex:
    """The generations of one file by join key, with what was wrong with the rest."""

    path: str
    by_key: dict[Key, Generation]
    issues: GenerationIssues


def _as_index(value: Any) -> int | None:
    # JSON has one number type: 12.0 is index 12, 12.5 and true are not indices.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def generation_record(record: Any) -> tuple[Key, Generation] | str:
    """``(key, generation)`` of one parsed line, or the reason it cannot be used (line number unset)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    source, index, response = record.get("data_source"), _as_index(record.get("index")), record.get("response")
    if not isinstance(source, str) or not source:
        return f"'data_source' must be a non-empty string, got {record.get('data_source')!r:.80}"
    if index is None:
        return f"'index' must be an integer, got {record.get('index')!r:.80}"
    if not isinstance(response, str):
        return f"'response' must be a string, got {type(response).__name__}"
    rotation = _as_index(record.get("rotation")) if record.get("rotation") is not None else None
    return (source, index), Generation(response=response, line=0, rotation=rotation)


def read_generations(path: str | Path) -> GenerationIndex:
    """Read ``path`` (JSONL): the first line per key is kept; malformed and duplicate lines are counted.

    A malformed line (bad encoding, not JSON, wrong field types) is a reject naming ``file:line``
    (in ``issues.rejects``); blank lines are ignored. :class:`InputError` when the file is
    missing or holds no lines at all.
    """
    path = require_file(path, "a generations file (JSONL)")
    by_key: dict[Key, Generation] = {}
    issues = GenerationIssues(rejects=RejectLog(str(path)))
    for number, value in iter_json_lines(path):
        issues.rejects.lines += 1
        parsed = generation_record(value) if not isinstance(value, Reject) else value
        if not isinstance(parsed, tuple):
            reject = parsed if isinstance(parsed, Reject) else Reject(f"{path}:{number}", "bad_record", parsed)
            issues.add_malformed(number, reject)
            continue
        key, generation = parsed
        if key in by_key:
            issues.duplicate_lines.setdefault(key, []).append(number)
            continue
        generation.line = number
        by_key[key] = generation
    if issues.rejects.lines == 0:
        raise InputError(f"{path} holds no generation lines (expected one JSON object per data row)")
    return GenerationIndex(str(path), by_key, issues)


def row_key(row: Mapping[str, Any], where: str) -> Key:
    """``(data_source, extra_info.index)`` of a data row; :class:`InputError` naming ``where`` when absent."""
    source = row.get("data_source")
    extra = row.get("extra_info")
    index = _as_index(extra.get("index")) if isinstance(extra, Mapping) else None
    if not isinstance(source, str) or not source or index is None:
        raise InputError(f"{where}: a row needs a data_source and an integer extra_info.index to be joined")
    return source, index


def iter_rows(paths: Sequence[str | Path], batch_size: int = 64) -> Iterator[tuple[Key, dict[str, Any]]]:
    """``(key, row)`` for every row of the parquet files, streamed in batches (images stay encoded).

    Raises :class:`InputError` naming both places when two rows share a key: the join would be ambiguous.
    """
    seen: dict[Key, str] = {}
    for path in paths:
        parquet = pq.ParquetFile(path)
        row_number = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                where = f"{path} row {row_number}"
                key = row_key(row, where)
                if key in seen:
                    raise InputError(
                        f"{where} has the same (data_source, extra_info.index) {key} as {seen[key]}; "
                        "generations could not be joined unambiguously"
                    )
                seen[key] = where
                row_number += 1
                yield key, row
