"""Rel3D (Goyal et al. 2020): minimally contrastive 3D spatial relations, rendered views -> verl parquet.

    python -m data_prep.rel3d --out rel3d_test.parquet --source REL3D_DIR [--split test]
        [--split-file c_0.9_c_0.1] [--limit N]

Source layout (GitHub ``princeton-vl/Rel3D`` after ``./download.sh data_min`` and ``data_raw``; confirmed
from its README and ``dataloader.py``): ``data/<split-file>.json`` is a dict with ``train``/``valid``/
``test`` lists (plus ``predicates``/``objects``); each sample has ``rgb`` (image path), ``width``,
``height``, ``subject``/``object`` ``{name, bbox}``, ``predicate``, ``label``. Images are the raw renders
``data/20200223/*.png`` (720x1280). ``c_0.9_c_0.1`` is the primary split of the paper's Table 1.
``rgb`` paths are relative to the Rel3D root (confirmed: the repo's ``dataloader.py`` opens
``sample['rgb']`` as it is, run from the ``Rel3D`` folder as its README asks, and ``configs.py`` names the
json ``data/<split>.json`` the same way), so ``--source`` is that root. The value is resolved against
``--source`` first; ``--source/data`` and ``data/20200223/<file>`` are kept as fallbacks for a copy
whose ``data/`` folder was moved.
There is no Hugging Face copy.

Boxes: the source stores ``{"top", "left", "height", "width"}`` in pixels of the render (the loader's
``convert_bbox``); they become ``[left, top, left + width, top + height]``.

| source field                                   | our field                                                |
|------------------------------------------------|----------------------------------------------------------|
| ``rgb``                                        | ``images[0]``                                            |
| ``subject.name``, ``predicate``, ``object.name`` | ``extra_info.question`` (relation_question wording)    |
| ``label``                                      | ``extra_info.answer``: true -> ``yes`` (A), false -> ``no`` (B) |
| ``subject.bbox``, ``object.bbox``              | ``extra_info.gt_boxes`` (subject, object), tlhw px -> xyxy |
| (position in the split list)                   | ``extra_info.source_id`` = ``<split-file>/<split>/<n>``  |
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import YES_NO, ItemStream, guarded, relation_question, to_xyxy
from data_prep.readers import SourceError, read_json
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import resolve_image

DEFAULT_SPLIT_FILE = "c_0.9_c_0.1"


def to_item(raw: Mapping[str, Any], source_id: str, split: str, root: Path) -> SpatialItem:
    size = (int(raw["width"]), int(raw["height"]))
    label = raw["label"]
    if not isinstance(label, bool | int) or label not in (0, 1):
        raise RowRejected("missing_answer", f"label {label!r} is not true/false")
    rgb = str(raw["rgb"])
    return SpatialItem(
        data_source="rel3d",
        question=relation_question(raw["subject"]["name"], raw["predicate"], raw["object"]["name"]),
        choices=list(YES_NO),
        answer=0 if label else 1,
        images=[resolve_image(root, [rgb, f"data/{rgb}", f"data/20200223/{Path(rgb).name}"])],
        gt_boxes=[to_xyxy(raw["subject"]["bbox"], "tlhw_px", size), to_xyxy(raw["object"]["bbox"], "tlhw_px", size)],
        split=split,
        source_id=source_id,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split-file", default=DEFAULT_SPLIT_FILE, help="data/<name>.json to read")


def build(args: argparse.Namespace) -> ItemStream:
    if args.source is None:
        raise SystemExit("Rel3D has no hub copy: pass --source with the Rel3D folder (data/<split-file>.json)")
    root = Path(args.source)
    candidates = [root / "data" / f"{args.split_file}.json", root / f"{args.split_file}.json", root]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise SystemExit(f"Rel3D: none of {[str(p) for p in candidates[:2]]} exists")
    if root.is_file():
        root = path.parent.parent if path.parent.name == "data" else path.parent
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get(args.split), list):
        splits = sorted(k for k in data if k in ("train", "valid", "test")) if isinstance(data, dict) else []
        raise SourceError(f"{path}: expected an object with a list of records under {args.split!r} (it has {splits})")
    return guarded(
        data[args.split],
        lambda raw, sid: to_item(raw, sid, args.split, root),
        lambda n, raw: f"{args.split_file}/{args.split}/{n}",
    )


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=None, default_split="test", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
