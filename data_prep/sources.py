"""Where a builder's records come from: a local copy (table files, a folder of them, a ``save_to_disk`` folder)
or a Hugging Face dataset.

Which one ``--source`` names (nothing reaches the network by accident):

1. ``hf:OWNER/NAME`` (or ``hf:NAME``) is always a Hugging Face id;
2. a path that exists locally is that local copy;
3. ``OWNER/NAME`` — two plain name parts, not ending in a table suffix (``.jsonl`` ...), and with no local
   folder ``OWNER`` — is a Hugging Face id;
4. anything else is a missing local path: a :class:`~data_prep.readers.SourceError`.

Files are read by :mod:`data_prep.readers` (its rule for unreadable records and files applies).
:func:`load_source` gives the records of one split; :func:`records` adds a builder's known annotation file
names and the directory relative image paths start from.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from data_prep.readers import TABLE_SUFFIXES, SourceError, iter_table_file

HF_PREFIX = "hf:"
_HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def _split_files(directory: Path, split: str | None) -> list[Path]:
    """Table files of ``split`` in ``directory``: ``<split>/*``, ``<split>*.<ext>`` or ``data/<split>-*``."""
    tables = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
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


def hf_id_of(source: str | os.PathLike) -> str | None:
    """The Hugging Face id ``source`` names under the rule in the module docstring, else ``None`` (a local path)."""
    text = str(source)
    if text.startswith(HF_PREFIX):
        hf_id = text[len(HF_PREFIX) :]
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", hf_id):
            raise SourceError(f"--source {text!r}: not a Hugging Face id (expected hf:OWNER/NAME)")
        return hf_id
    if Path(text).expanduser().exists():
        return None
    owner = text.split("/", 1)[0]
    if _HF_ID.fullmatch(text) and not text.lower().endswith(TABLE_SUFFIXES) and not Path(owner).exists():
        return text
    # The OWNER/NAME rule is worth naming only for a relative path whose first part could be an owner.
    relative = owner and not text.startswith((".", "~")) and not Path(text).is_absolute()
    alternative = f", or OWNER/NAME when no local folder {owner!r} exists" if relative else ""
    raise SourceError(
        f"--source {text!r}: no such file or directory (expected a local copy; a Hugging Face dataset is named "
        f"hf:OWNER/NAME{alternative})"
    )


def _hf_records(hf_id: str, split: str | None, name: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(hf_id, name, split=split, streaming=True)
    except Exception as exc:  # datasets raises many types for network / hub failures
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise SourceError(
            f"hf:{hf_id}: cannot load the Hugging Face dataset (split {split!r}: {type(exc).__name__}: {reason}); "
            "without network access, pass --source DIR with a local copy"
        ) from exc
    # Keep the source's own encoded bytes (usually JPEG) instead of decoding and re-encoding to PNG.
    yield from ds.decode(False)


def load_source(
    source: str | os.PathLike | None, split: str | None, default_hf_id: str | None = None, name: str | None = None
) -> Source:
    """Records from a local copy or a Hugging Face dataset (``default_hf_id`` when ``source`` is ``None``).

    A local copy is a table file (parquet, jsonl, json, csv), a directory of them (the files of ``split``
    are chosen by folder or file-name prefix, e.g. ``test/*.parquet``, ``test.jsonl``,
    ``data/test-00000-of-00001.parquet``; a lone file is used whatever its name) or a ``save_to_disk``
    folder; a Hugging Face dataset is streamed through ``datasets``.
    """
    source = source if source is not None else default_hf_id
    if source is None:
        raise SourceError("no --source given and the builder has no default Hugging Face id")
    hf_id = hf_id_of(source)
    if hf_id is not None:
        return Source(f"{HF_PREFIX}{hf_id}", None, lambda: _hf_records(hf_id, split, name))
    path = Path(source).expanduser()
    if path.is_file():
        return Source(str(path), path.parent, lambda: iter_table_file(path))
    if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
        return Source(str(path), path, lambda: _iter_saved(path, split))
    files = _split_files(path, split)
    if not files:
        raise SourceError(
            f"{path}: no table files for split {split!r} (expected {', '.join(TABLE_SUFFIXES)} files named by split)"
        )
    return Source(
        f"{path} ({len(files)} files)", path, lambda: itertools.chain.from_iterable(iter_table_file(f) for f in files)
    )


def _iter_saved(path: Path, split: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types for a damaged folder
        raise SourceError(f"{path}: not a readable save_to_disk folder ({type(exc).__name__}: {exc})") from exc
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise SourceError(f"{path}: split {split!r} not in the saved dataset (it has {list(ds)})")
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
    ``save_to_disk`` folders). A file path is read as it is; a Hugging Face id as :func:`load_source` decides.
    """
    src = source if source is not None else default_hf_id
    if src is None:
        raise SourceError("no --source given and the builder has no default Hugging Face id")
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
