"""data_prep.synthetic end to end: determinism, answers re-derived from the scene graph, image consistency.

The checks below recompute every answer from the scene graph with their own geometry (box centres,
box sides, shape masks drawn here with numpy) and check the scene graph against the pixels, so a
generator that mislabels a relation, a box or a colour fails.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_prep import synthetic
from data_prep.schema import ROW_SCHEMA, option_letters, validate_row


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("syn") / "s.parquet"
    assert synthetic.main(["--out", str(out), "--num", "150", "--seed", "3"]) == 0
    return pq.read_table(out).to_pylist()


@functools.cache
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width] + 0.5  # pixel centres
    return ys, xs


def _shape_mask(obj: dict, width: int, height: int) -> np.ndarray:
    """The object's pixels from its box and shape (interior points, independent of PIL's rasteriser)."""
    x1, y1, x2, y2 = obj["box"]
    ys, xs = _grid(width, height)
    inside_box = (xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)
    if obj["shape"] == "square":
        return inside_box
    if obj["shape"] == "circle":
        cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r**2
    # triangle: apex at the top centre, base along the bottom edge
    cx = (x1 + x2) / 2
    half_width_at = (ys - y1) / (y2 - y1) * (x2 - x1) / 2
    return inside_box & (np.abs(xs - cx) <= half_width_at)


def _erode(mask: np.ndarray, steps: int = 2) -> np.ndarray:
    for _ in range(steps):  # drop rasterisation edges before comparing colours
        inner = mask.copy()
        inner[1:, :] &= mask[:-1, :]
        inner[:-1, :] &= mask[1:, :]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        mask = inner
    return mask


def _majority_color(pixels: np.ndarray, region: np.ndarray) -> str | None:
    inside = pixels[region]
    counts = {name: int(np.all(inside == np.array(rgb), axis=1).sum()) for name, rgb in synthetic.COLORS.items()}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0.5 * len(inside) else None


def _center(obj: dict) -> tuple[float, float]:
    x1, y1, x2, y2 = obj["box"]
    return (x1 + x2) / 2, (y1 + y2) / 2


def _side(obj: dict) -> float:
    return obj["box"][2] - obj["box"][0]


def _expected(question: str, choices: list[str], objects: list[dict], pixels: np.ndarray):
    """(expected answer text, names or ids of the objects the question is about) from the scene graph."""
    by_name = {o["name"]: o for o in objects}
    if m := re.fullmatch(r"Is the (.+) to the left or to the right of the (.+)\?", question):
        a, b = by_name[m[1]], by_name[m[2]]
        return ("left" if _center(a)[0] < _center(b)[0] else "right"), [a, b]
    if m := re.fullmatch(r"Is the (.+) above or below the (.+)\?", question):
        a, b = by_name[m[1]], by_name[m[2]]
        return ("above" if _center(a)[1] < _center(b)[1] else "below"), [a, b]
    extremes = {
        "Which object is furthest to the left?": lambda o: -_center(o)[0],
        "Which object is furthest to the right?": lambda o: _center(o)[0],
        "Which object is highest in the image?": lambda o: -_center(o)[1],
        "Which object is lowest in the image?": lambda o: _center(o)[1],
        "Which object is the largest in the image?": _side,
        "Which object is the smallest in the image?": lambda o: -_side(o),
    }
    if question in extremes:
        options = [by_name[c] for c in choices]
        ranked = sorted(options, key=extremes[question], reverse=True)
        assert extremes[question](ranked[0]) > extremes[question](ranked[1]), question  # a unique answer
        return ranked[0]["name"], options
    if m := re.fullmatch(r"Which is (larger|smaller) in the image, the (.+) or the (.+)\?", question):
        a, b = by_name[m[2]], by_name[m[3]]
        big, small = (a, b) if _side(a) > _side(b) else (b, a)
        assert _side(big) >= 1.5 * _side(small)
        return (big if m[1] == "larger" else small)["name"], [a, b]
    if m := re.fullmatch(r"Which object is nearer to the camera, the (.+) or the (.+)\?", question):
        a, b = by_name[m[1]], by_name[m[2]]
        big, small = (a, b) if _side(a) >= _side(b) else (b, a)
        if _side(big) >= 1.5 * _side(small):
            return big["name"], [a, b]
        # Similar sizes: the nearer one is the one in front where they overlap, read from the pixels.
        height, width = pixels.shape[:2]
        overlap = _erode(_shape_mask(a, width, height) & _shape_mask(b, width, height))
        assert overlap.sum() > 0, f"nearer question without a size or occlusion cue: {question}"
        front = _majority_color(pixels, overlap)
        candidates = [o for o in (a, b) if o["color"] == front]
        assert len(candidates) == 1
        return candidates[0]["name"], [a, b]
    if m := re.fullmatch(r"How many (circle|square|triangle)s are there in the image\?", question):
        counted = [o for o in objects if o["shape"] == m[1]]
        return str(len(counted)), counted
    if m := re.fullmatch(r"How many (\w+) objects are there in the image\?", question):
        counted = [o for o in objects if o["color"] == m[1]]
        return str(len(counted)), counted
    raise AssertionError(f"unknown question form: {question}")


def test_same_seed_gives_the_same_bytes_and_another_seed_differs(tmp_path):
    paths = [tmp_path / name for name in ("a.parquet", "b.parquet", "c.parquet")]
    for path, seed in zip(paths, ("5", "5", "6"), strict=True):
        assert synthetic.main(["--out", str(path), "--num", "12", "--seed", seed]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_rows_follow_the_contract(rows):
    assert len(rows) == 150
    for row in rows:
        validate_row(row)
    assert [r["extra_info"]["index"] for r in rows] == list(range(150))
    assert {r["data_source"] for r in rows} == {"synthetic"}
    assert len({r["extra_info"]["source_id"] for r in rows}) == 150


def test_every_question_type_and_option_count_occurs(rows):
    forms = Counter(" ".join(r["extra_info"]["question"].split()[:3]) for r in rows)
    for start in ("Is the", "Which object is", "Which is larger", "How many"):
        assert any(form.startswith(start) for form in forms), (start, forms)
    assert any("nearer to the camera" in r["extra_info"]["question"] for r in rows)
    assert {len(r["extra_info"]["choices"]) for r in rows} >= {2, 3, 4}
    assert len({r["extra_info"]["answer"] for r in rows}) >= 3  # options are shuffled


def test_answers_and_boxes_agree_with_the_scene_graph(rows):
    for row in rows:
        extra = row["extra_info"]
        graph = json.loads(extra["scene_graph"])
        pixels = np.asarray(Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("RGB"))
        answer_text, about = _expected(extra["question"], extra["choices"], graph["objects"], pixels)
        letter = option_letters(len(extra["choices"]))[extra["choices"].index(answer_text)]
        assert (extra["answer"], extra["answer_text"], row["reward_model"]["ground_truth"]) == (
            letter,
            answer_text,
            letter,
        ), extra["question"]
        assert sorted(map(tuple, extra["gt_boxes"])) == sorted(tuple(map(float, o["box"])) for o in about)


def test_scene_graph_matches_the_image(rows):
    for row in rows:
        graph = json.loads(row["extra_info"]["scene_graph"])
        image = Image.open(io.BytesIO(row["images"][0]["bytes"]))
        width, height = image.size
        assert graph["image_size"] == [width, height] == row["extra_info"]["image_sizes"][0]
        assert min(width, height) >= 224 and max(width, height) <= 448
        objects = graph["objects"]
        assert 2 <= len(objects) <= 5
        assert len({o["name"] for o in objects}) == len(objects)
        assert all(o["name"] == f"{o['color']} {o['shape']}" for o in objects)
        pixels = np.asarray(image.convert("RGB"))
        masks = {o["id"]: _shape_mask(o, width, height) for o in objects}
        for obj in objects:
            x1, y1, x2, y2 = obj["box"]
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            # The part no nearer object covers shows this object's colour.
            visible = masks[obj["id"]].copy()
            for other in objects:
                if other["depth"] > obj["depth"]:
                    visible &= ~masks[other["id"]]
            visible = _erode(visible)
            assert visible.sum() > 0.3 * masks[obj["id"]].sum()
            assert _majority_color(pixels, visible) == obj["color"], (obj, row["extra_info"]["source_id"])
        # Where two shapes overlap, the one with the higher depth (nearer) is the one seen.
        for a in objects:
            for b in objects:
                overlap = _erode(masks[a["id"]] & masks[b["id"]])
                if a["depth"] > b["depth"] and overlap.sum() > 0:
                    assert _majority_color(pixels, overlap) == a["color"], (a, b, row["extra_info"]["source_id"])


def test_output_schema_is_the_shared_row_schema(synthetic_parquet):
    assert pq.read_schema(synthetic_parquet) == ROW_SCHEMA
    assert pq.ParquetFile(synthetic_parquet).metadata.num_rows == 48
