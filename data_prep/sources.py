"""Reading a builder's source: a local copy (table files, a folder of them, a ``save_to_disk`` folder) or a Hugging Face id.

:func:`load_source` gives the records of one split; :func:`records` adds a builder's known annotation file
names and the directory relative image paths start from.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

_TABLE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv")


def _iter_table_file(path: Path, field: str | None) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        # Batches keep memory flat for large image tables.
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            yield from batch.to_pylist()
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{lineno}: not a JSON line: {exc}") from exc
    elif suffix == ".json":
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if field is not None:
            data = data[field]
        if isinstance(data, Mapping):
            # {id: record} layouts: keep the key as "_key" so builders can use it as source id.
            data = [{"_key": key, **value} for key, value in data.items()]
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records (or pass field=...)")
        yield from data
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)
    else:
        raise ValueError(f"{path}: unsupported table format {suffix!r} (expected one of {_TABLE_SUFFIXES})")


def _split_files(directory: Path, split: str | None) -> list[Path]:
    """Table files of ``split`` in ``directory``: ``<split>/*``, ``<split>*.<ext>`` or ``data/<split>-*``."""
    tables = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in _TABLE_SUFFIXES)
    if split is None:
        return tables
    chosen = [
        p
        for p in tables
        if split in p.relative_to(directory).parts[:-1] or re.match(rf"^{re.escape(split)}([-_.].*)?$", p.stem)
    ]
    return chosen or ([] if len(tables) > 1 else tables)


@dataclasses.dataclass
class Source:
    """Records of one dataset split; iterate for dicts. ``root``: base directory for relative paths."""

    description: str
    root: Path | None
    _factory: Callable[[], Iterator[dict[str, Any]]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._factory()


def _hf_records(hf_id: str, split: str | None, name: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(hf_id, name, split=split, streaming=True)
    except Exception as exc:  # datasets raises many types for network / hub failures
        raise RuntimeError(
            f"cannot load Hugging Face dataset {hf_id!r} (split {split!r}): {type(exc).__name__}: {exc}. "
            f"(No local path {hf_id!r} exists either.) Without network access, pass --source DIR with a local copy."
        ) from exc
    # Keep the source's own encoded bytes (usually JPEG) instead of decoding and re-encoding to PNG.
    yield from ds.decode(False)


def load_source(
    source: str | os.PathLike | None, split: str | None, default_hf_id: str | None = None, name: str | None = None
) -> Source:
    """Records from a local copy or a Hugging Face dataset.

    ``source`` may be a table file (parquet, jsonl, json, csv), a directory of them (the files of
    ``split`` are chosen by folder or file-name prefix, e.g. ``test/*.parquet``, ``test.jsonl``,
    ``data/test-00000-of-00001.parquet``; a lone file is used whatever its name), a ``save_to_disk``
    folder, or a Hugging Face id (default ``default_hf_id``), streamed through ``datasets``.
    """
    source = source if source is not None else default_hf_id
    if source is None:
        raise ValueError("no --source given and the builder has no default Hugging Face id")
    path = Path(source)
    if path.is_file():
        return Source(str(path), path.parent, lambda: _iter_table_file(path, None))
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return Source(str(path), path, lambda: _iter_saved(path, split))
        files = _split_files(path, split)
        if not files:
            raise FileNotFoundError(f"no table files for split {split!r} under {path} (looked for {_TABLE_SUFFIXES})")
        return Source(
            f"{path} ({len(files)} files)",
            path,
            lambda: itertools.chain.from_iterable(_iter_table_file(f, None) for f in files),
        )
    if os.sep in str(source) and not re.match(r"^[\w.-]+/[\w.-]+$", str(source)):
        raise FileNotFoundError(f"source {source!r} is neither an existing path nor a Hugging Face id")
    return Source(f"hf:{source}", None, lambda: _hf_records(str(source), split, name))


def _iter_saved(path: Path, split: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise KeyError(f"{path}: split {split!r} not in {list(ds)}")
        ds = ds[split]
    yield from ds.to_iterable_dataset().decode(False)


# --------------------------------------------------------------------------- annotation files


def find_annotation(root: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` (relative paths, globs allowed) that exists under ``root``, else ``None``."""
    for name in names:
        if any(ch in name for ch in "*?["):
            hits = sorted(root.glob(name))
            if hits:
                return hits[0]
        elif (root / name).is_file():
            return root / name
    return None


def resolve_image(root: Path | None, candidates: Sequence[str]) -> str:
    """The first candidate path that exists (relative ones under ``root``); else the first, as given.

    Returning the first candidate when none exists lets :func:`data_prep.schema.encode_image` reject the row
    with the path it tried (reason ``image_decode``).
    """
    if not candidates:
        raise ValueError("no image path candidates")
    for cand in candidates:
        path = Path(cand)
        if not path.is_absolute() and root is not None:
            path = root / path
        if path.is_file():
            return str(path)
    first = Path(candidates[0])
    return str(first if first.is_absolute() or root is None else root / first)


@dataclasses.dataclass
class Records:
    """Annotation records of one split plus the directory relative image paths start from."""

    rows: Iterable[dict[str, Any]]
    root: Path | None
    description: str

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)


def records(
    source: str | None,
    split: str | None,
    default_hf_id: str | None,
    annotation_names: Sequence[str] = (),
) -> Records:
    """Records of a local raw copy or of a Hugging Face dataset.

    For a local directory the first existing ``annotation_names`` entry (formatted with ``split``)
    is read and relative image paths start at that directory; without a match the directory goes
    through :func:`load_source` (``<split>.jsonl``, ``<split>/*.parquet``, ``data/<split>-*``,
    ``save_to_disk`` folders). A file path is read as it is; anything else is a Hugging Face id.
    """
    src = source if source is not None else default_hf_id
    if src is None:
        raise ValueError("no --source given and the builder has no default Hugging Face id")
    path = Path(src)
    if path.is_dir() and annotation_names:
        names = [n.format(split=split or "") for n in annotation_names]
        found = find_annotation(path, names)
        if found is not None:
            loaded = load_source(str(found), None)
            return Records(loaded, path, str(found))
    loaded = load_source(src, split, default_hf_id)
    root = path if path.is_dir() else (path.parent if path.is_file() else None)
    return Records(loaded, root, loaded.description)
