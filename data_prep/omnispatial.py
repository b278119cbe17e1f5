"""OmniSpatial (50 fine-grained spatial tasks in 4 dimensions) -> verl parquet (evaluation).

    python -m data_prep.omnispatial --out omnispatial.parquet --source OMNISPATIAL_TEST_DIR [--limit N]
        [--task-types Perspective_Taking,Complex_Logic]

Source layout (``OmniSpatial-test.zip`` of Hugging Face ``qizekun/OmniSpatial``, unpacked; confirmed from
third-party loaders of the official release): ``OmniSpatial-test/data.json``, a list of
``{id, task_type, sub_task_type, question, options, answer}`` where ``answer`` is the 0-based index of the
correct option and the image is ``<task_type>/<image number>.png`` with ``id = "<image number>_<question
number>"`` (``.jpg`` is tried too). ``--source`` may be ``OmniSpatial-test/`` or its parent. The hub
repository holds zips only, so there is no ``datasets`` path.

| source field                    | our field                                          |
|---------------------------------|----------------------------------------------------|
| ``task_type``, ``id``           | ``images[0]`` = ``<task_type>/<id before "_">.png`` |
| ``question``                    | ``extra_info.question``                            |
| ``options``                     | ``extra_info.choices``                             |
| ``answer`` (0-based index)      | ``extra_info.answer`` (its letter)                 |
| ``id``, ``task_type``, ``sub_task_type`` | ``extra_info.source_id`` (``<task_type>/<sub_task_type>/<id>``) |
| (none)                          | ``gt_boxes`` empty                                 |
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from data_prep.cli import builder_cli
from data_prep.mapping import ItemStream, guarded, log_skips, text_list
from data_prep.schema import RowRejected, SpatialItem
from data_prep.sources import find_annotation, load_source, resolve_image


def to_item(raw: Mapping[str, Any], source_id: str, root: Path) -> SpatialItem:
    answer = raw["answer"]
    if isinstance(answer, str) and answer.strip().isdigit():
        answer = int(answer)
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise RowRejected("missing_answer", f"answer {answer!r} is not an option index")
    task, qid = str(raw["task_type"]), str(raw["id"])
    stem = qid.split("_")[0]
    return SpatialItem(
        data_source="omnispatial",
        question=str(raw["question"]),
        choices=text_list(raw["options"], "options"),
        answer=answer,
        images=[resolve_image(root, [f"{task}/{stem}.png", f"{task}/{stem}.jpg"])],
        split="test",
        source_id=source_id,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task-types", default=None, help="comma-separated task_type values to keep (default all)")


def build(args: argparse.Namespace) -> ItemStream:
    if args.source is None:
        raise SystemExit("OmniSpatial: pass --source with the unpacked OmniSpatial-test/ folder (data.json)")
    given = Path(args.source)
    path = find_annotation(given, ["data.json", "OmniSpatial-test/data.json"]) if given.is_dir() else given
    if path is None or not path.is_file():
        raise SystemExit(f"OmniSpatial: no data.json under {given}")
    root = path.parent
    keep = set(args.task_types.split(",")) if args.task_types else None
    skipped = {"task_type not selected": 0}

    def selected() -> Iterator[dict[str, Any]]:
        for raw in load_source(str(path), None):
            if keep is None or raw.get("task_type") in keep:
                yield raw
            else:
                skipped["task_type not selected"] += 1

    def stream() -> ItemStream:
        yield from guarded(
            selected(),
            lambda raw, sid: to_item(raw, sid, root),
            lambda n, raw: f"{raw.get('task_type', '')}/{raw.get('sub_task_type', '')}/{raw.get('id', n)}",
        )
        log_skips("omnispatial", skipped)

    return stream()


def main(argv: list[str] | None = None) -> int:
    return builder_cli(__doc__, build, argv, default_source=None, default_split="test", add_arguments=_add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
