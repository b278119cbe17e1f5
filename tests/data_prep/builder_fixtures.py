"""Helpers for the dataset-builder tests: raw-layout fixtures (real image files, real annotation formats)
and one call that runs a builder's ``main`` and returns what it wrote."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from data_prep.schema import validate_row

SIZE = (64, 48)  # (w, h) of every fixture image unless a test says otherwise


def image_bytes(size: tuple[int, int] = SIZE, color: tuple[int, int, int] = (200, 30, 30), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, size: tuple[int, int] = SIZE, color: tuple[int, int, int] = (30, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    path.write_bytes(image_bytes(size, color, fmt))
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def hf_image(size: tuple[int, int] = SIZE, color: tuple[int, int, int] = (10, 200, 10), path: str = "") -> dict:
    """An image cell as a Hugging Face parquet export stores it: ``{"bytes", "path"}``."""
    return {"bytes": image_bytes(size, color, "JPEG"), "path": path}


@dataclass
class BuildResult:
    rc: int
    rows: list[dict[str, Any]]  # the parquet rows as Python objects
    frame: pd.DataFrame  # the same file read by pandas
    rejects: list[dict[str, Any]]

    def by_source_id(self) -> dict[str, dict[str, Any]]:
        return {r["extra_info"]["source_id"]: r for r in self.rows}


def run_builder(module: ModuleType, out: Path, *args: str) -> BuildResult:
    """Run ``module.main(["--out", out, *args])``; check every written row against the contract."""
    rc = module.main(["--out", str(out), *args])
    rows = pq.read_table(out).to_pylist() if out.exists() else []
    frame = pd.read_parquet(out) if out.exists() else pd.DataFrame()
    reject_file = out.with_name(out.name + ".rejects.jsonl")
    rejects = [json.loads(line) for line in reject_file.read_text().splitlines()] if reject_file.exists() else []
    for i, row in enumerate(rows):
        validate_row(row)
        extra = row["extra_info"]
        assert extra["index"] == i
        assert row["reward_model"]["ground_truth"] == extra["answer"]
        letter_idx = ord(extra["answer"]) - ord("A")
        assert extra["answer_text"] == extra["choices"][letter_idx]
        prompt = row["prompt"][0]["content"]
        for j, choice in enumerate(extra["choices"]):
            assert f"({chr(ord('A') + j)}) {choice}" in prompt
    return BuildResult(rc, rows, frame, rejects)


def box_close(a: list[float], b: list[float], tol: float = 1e-6) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


# CV-Bench's per-type parquet files: the columns of the dataset card's field table, the image as the
# Hugging Face ``{bytes, path}`` struct; ``target_*`` only on COCO rows and ``bbox`` only on Omni3D rows.
CVBENCH_SCHEMA = pa.schema(
    [
        ("idx", pa.int64()),
        ("type", pa.string()),
        ("task", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("question", pa.string()),
        ("choices", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("prompt", pa.string()),
        ("filename", pa.string()),
        ("source", pa.string()),
        ("source_dataset", pa.string()),
        ("source_filename", pa.string()),
        ("target_class", pa.string()),
        ("target_size", pa.int64()),
        ("bbox", pa.list_(pa.float64())),
    ]
)


def cvbench_record(idx: int, kind: str, task: str, source: str, question: str, choices: list[str], answer: str,
                   size: tuple[int, int] = SIZE) -> dict[str, Any]:  # fmt: skip
    """One CV-Bench row as the snapshot's parquet holds it (the JSONL holds the same minus ``image``)."""
    folder = f"img/{kind}/{task.lower()}"
    letters = "".join(f"\n({chr(ord('A') + i)}) {c}" for i, c in enumerate(choices))
    return {
        "idx": idx, "type": kind, "task": task,
        "image": {"bytes": image_bytes(size, (idx * 40 % 256, 90, 160)), "path": None},
        "question": question, "choices": choices, "answer": answer,
        "prompt": f"{question} Select from the following choices.{letters}",
        "filename": f"{folder}/{source.lower()}_{idx}.png", "source": source,
        "source_dataset": {"ADE20K": "ADE20K Validation Set", "COCO": "COCO 2017 Validation Set"}.get(source, "SUN-RGBD"),
        "source_filename": f"{source.lower()}_{idx}.jpg",
        "target_class": "dog" if source == "COCO" else None,
        "target_size": 4321 if source == "COCO" else None,
        "bbox": [10.0, 20.0, 30.0, 40.0] if source == "Omni3D" else None,
    }  # fmt: skip


def write_cvbench_snapshot(root: Path, rows_2d: list[dict[str, Any]], rows_3d: list[dict[str, Any]],
                           parquet: bool = True) -> Path:  # fmt: skip
    """The current ``nyu-visionx/CV-Bench`` snapshot: per-type JSONL + parquet, ``build_img.py``, no ``img/``."""
    for name, rows in (("test_2d", rows_2d), ("test_3d", rows_3d)):
        write_jsonl(root / f"{name}.jsonl", [{k: v for k, v in r.items() if k != "image"} for r in rows])
        if parquet:
            write_parquet(root / f"{name}.parquet", rows, CVBENCH_SCHEMA)
    (root / "build_img.py").write_text("# recreates img/ from the parquet files\n", encoding="utf-8")
    (root / "README.md").write_text("# CV-Bench\n", encoding="utf-8")
    return root
