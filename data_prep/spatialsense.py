"""SpatialSense (Yang et al. 2019): adversarially crowdsourced relation triples -> verl parquet.

    python -m data_prep.spatialsense --out spatialsense_test.parquet --source DIR [--split test] [--limit N]

Source layout (GitHub ``princeton-vl/SpatialSense``, confirmed from its README and data loader):
``annotations.json`` — a list with one element per image ``{url, nsid, height, width, split,
annotations: [{_id, predicate, subject: {name, bbox, x, y}, object: {...}, label}]}`` — and the images
unpacked from ``images.tar.gz`` as ``images/flickr/<url file name>`` (Flickr URLs) or
``images/nyu/<url file name>`` (NYU depth images). Splits: ``train``, ``valid``, ``test``.
There is no Hugging Face copy; ``--source`` must be a local directory.

Boxes: the source stores ``[y0, y1, x0, x1]`` in pixels (README: "A bounding box [y0, y1, x0, x1] has
(x0, y0) as its upper-left corner"); they become ``[x0, y0, x1, y1]``.

| source field                       | our field                                                   |
|------------------------------------|-------------------------------------------------------------|
| ``url``                            | ``images[0]`` (``images/flickr|nyu/<basename>``)             |
| ``subject.name``, ``predicate``, ``object.name`` | ``extra_info.question`` (relation_question wording) |
| ``label``                          | ``extra_info.answer``: True -> ``yes`` (A), False -> ``no`` (B) |
| ``subject.bbox``, ``object.bbox``  | ``extra_info.gt_boxes`` (subject, object), yyxx px -> xyxy  |
| ``split``                          | selects rows for ``--split``; ``extra_info.split``          |
| ``_id``                            | ``extra_info.source_id``                                    |
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import YES_NO, ItemStream, guarded, log_skips, relation_question, to_xyxy
from data_prep.readers import iter_json_records, note_unreadable
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import resolve_image

ANNOTATION_FILE = "annotations.json"


def image_path(url: str) -> str:
    """``images/flickr/<name>`` for Flickr URLs, ``images/nyu/<name>`` otherwise (the repo's rule)."""
    folder = "flickr" if url.startswith("http") else "nyu"
    return f"images/{folder}/{url.rsplit('/', 1)[-1]}"


def to_item(raw: Mapping[str, Any], source_id: str, root: Path) -> SpatialItem:
    """One relation (with its image's ``url``/``width``/``height`` merged in) -> one yes/no item."""
    size = (int(raw["width"]), int(raw["height"]))
    label = raw["label"]
    if not isinstance(label, bool):
        raise RowRejected("missing_answer", f"label {label!r} is not true/false")
    return SpatialItem(
        data_source="spatialsense",
        question=relation_question(raw["subject"]["name"], raw["predicate"], raw["object"]["name"]),
        choices=list(YES_NO),
        answer=0 if label else 1,
        images=[resolve_image(root, [image_path(str(raw["url"]))])],
        gt_boxes=[to_xyxy(raw["subject"]["bbox"], "yyxx_px", size), to_xyxy(raw["object"]["bbox"], "yyxx_px", size)],
        split=str(raw["split"]),
        source_id=source_id,
    )


def relations(path: Path, split: str, skipped: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Every relation of the images in ``split``, with its image's fields merged in.

    An image record or relation that is not a JSON object is an unreadable record (``file:line``).
    """
    for line, img in iter_json_records(path):
        annotations = img.get("annotations") or []
        if not isinstance(annotations, list):
            note_unreadable(f"{path}:{line}", "not_a_record", "annotations must be a list of relation objects")
            continue
        if img.get("split") != split:
            skipped["other splits"] += len(annotations)
            continue
        for k, rel in enumerate(annotations):
            if not isinstance(rel, dict):
                note_unreadable(f"{path}:{line}#{k}", "not_a_record", f"relation {k} is a {type(rel).__name__}")
                continue
            yield {**rel, "url": img.get("url"), "width": img.get("width"), "height": img.get("height"), "split": split}


def build(args: argparse.Namespace) -> ItemStream:
    if args.source is None:
        raise SystemExit("SpatialSense has no hub copy: pass --source DIR (annotations.json and images/)")
    root = Path(args.source)
    path = root / ANNOTATION_FILE if root.is_dir() else root
    if not path.is_file():
        raise SystemExit(f"SpatialSense: {path} not found (--source is the folder with annotations.json and images/)")
    root = path.parent
    skipped = {"other splits": 0}

    def stream() -> ItemStream:
        yield from guarded(
            relations(path, args.split, skipped),
            lambda raw, sid: to_item(raw, sid, root),
            lambda n, raw: str(raw.get("_id") or f"{args.split}/{n}"),
        )
        log_skips("spatialsense", skipped)

    return stream()


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=None, default_split="test")


if __name__ == "__main__":
    raise SystemExit(main())
