"""Evaluation builders (CV-Bench, MindCube, MMVP, OmniSpatial, RealWorldQA) on fixtures in each raw layout."""

from __future__ import annotations

import csv
import logging

import pyarrow as pa
import pytest

from data_prep import cvbench, cvbench_2d, cvbench_3d, mindcube, mmvp, omnispatial, realworldqa
from tests.data_prep.builder_fixtures import (
    CVBENCH_SCHEMA,
    cvbench_record,
    hf_image,
    run_builder,
    write_cvbench_snapshot,
    write_image,
    write_json,
    write_jsonl,
    write_parquet,
)


def _cvbench_dir(tmp_path):
    src = tmp_path / "cvbench"
    write_image(src / "img" / "2D" / "count" / "ade20k_1.png")
    write_image(src / "img" / "2D" / "relation" / "coco_2.png")
    write_image(src / "img" / "3D" / "depth" / "omni3d_3.png")
    base = {"prompt": "unused", "source_dataset": "x", "source_filename": "y"}
    write_jsonl(src / "test_2d.jsonl", [
        {**base, "idx": 0, "type": "2D", "task": "Count", "source": "ADE20K", "filename": "img/2D/count/ade20k_1.png",
         "question": "How many chairs are in the image?", "choices": ["1", "2", "3"], "answer": "(C)"},
        {**base, "idx": 1, "type": "2D", "task": "Relation", "source": "COCO",
         "filename": "img/2D/relation/coco_2.png", "question": "Is the dog left of the cat?",
         "choices": ["left", "right"], "answer": "(D)"},  # no fourth option: rejected
    ])  # fmt: skip
    write_jsonl(src / "test_3d.jsonl", [
        {**base, "idx": 2, "type": "3D", "task": "Depth", "source": "Omni3D", "filename": "img/3D/depth/omni3d_3.png",
         "question": "Which is closer to the camera, the lamp or the sofa?", "choices": ["lamp", "sofa"],
         "answer": "(B)"},
    ])  # fmt: skip
    return src


def test_cvbench_splits_2d_and_3d_by_type_and_rejects_a_letter_without_option(tmp_path):
    src = _cvbench_dir(tmp_path)
    res = run_builder(cvbench, tmp_path / "all.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("Relation/1", "answer_not_in_choices")]
    by_id = res.by_source_id()
    assert by_id["Count/0"]["data_source"] == "cvbench_2d" and by_id["Count/0"]["extra_info"]["answer"] == "C"
    assert by_id["Count/0"]["extra_info"]["answer_text"] == "3"
    depth = by_id["Depth/2"]
    assert depth["data_source"] == "cvbench_3d" and depth["extra_info"]["answer_text"] == "sofa"
    assert list(res.frame["data_source"]) == ["cvbench_2d", "cvbench_3d"]


def test_cvbench_3d_module_keeps_only_3d(tmp_path):
    res = run_builder(cvbench_3d, tmp_path / "3d.parquet", "--source", str(_cvbench_dir(tmp_path)))
    assert res.rc == 0 and [r["data_source"] for r in res.rows] == ["cvbench_3d"] and res.rejects == []


def _cvbench_rows() -> tuple[list[dict], list[dict]]:
    rows_2d = [
        cvbench_record(0, "2D", "Count", "ADE20K", "How many chairs are in the image?", ["2", "3", "1"], "(B)",
                       size=(80, 60)),
        cvbench_record(1, "2D", "Relation", "COCO", "Is the dog to the left or right of the cat?", ["left", "right"],
                       "(A)", size=(72, 40)),
    ]  # fmt: skip
    rows_3d = [
        cvbench_record(2, "3D", "Depth", "Omni3D", "Which is closer to the camera, the lamp or the sofa?",
                       ["lamp", "sofa"], "(B)", size=(96, 64)),
    ]  # fmt: skip
    return rows_2d, rows_3d


def _fallback_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "data_prep.cvbench" and "is missing" in r.getMessage()]


def _image_sizes(res) -> dict[str, list[list[int]]]:
    return {sid: row["extra_info"]["image_sizes"] for sid, row in res.by_source_id().items()}


def test_cvbench_snapshot_without_img_reads_the_images_embedded_in_its_parquet(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="data_prep.cvbench")
    src = write_cvbench_snapshot(tmp_path / "CV-Bench", *_cvbench_rows())
    assert not (src / "img").exists()
    res = run_builder(cvbench, tmp_path / "all.parquet", "--source", str(src))
    assert res.rc == 0 and res.rejects == []
    # the sizes are those of the embedded images: the JSONL's img/ paths do not exist
    assert _image_sizes(res) == {"Count/0": [[80, 60]], "Relation/1": [[72, 40]], "Depth/2": [[96, 64]]}
    by_id = res.by_source_id()
    assert by_id["Count/0"]["extra_info"]["answer"] == "B" and by_id["Count/0"]["extra_info"]["answer_text"] == "3"
    assert by_id["Relation/1"]["data_source"] == "cvbench_2d" and by_id["Depth/2"]["data_source"] == "cvbench_3d"
    assert _fallback_lines(caplog) == []  # the parquet is the first choice, not a fallback
    only_2d = run_builder(cvbench_2d, tmp_path / "2d.parquet", "--source", str(src))
    assert only_2d.rc == 0 and [r["data_source"] for r in only_2d.rows] == ["cvbench_2d", "cvbench_2d"]


def test_cvbench_jsonl_source_without_img_falls_back_to_its_parquet_with_one_log_line(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="data_prep.cvbench")
    src = write_cvbench_snapshot(tmp_path / "CV-Bench", *_cvbench_rows())
    res = run_builder(cvbench_3d, tmp_path / "3d.parquet", "--source", str(src / "test_3d.jsonl"))
    assert res.rc == 0 and res.rejects == [] and _image_sizes(res) == {"Depth/2": [[96, 64]]}
    lines = _fallback_lines(caplog)
    assert len(lines) == 1 and "test_3d.parquet" in lines[0] and "test_3d.jsonl" in lines[0]


def test_cvbench_per_type_jsonl_without_img_share_one_combined_parquet(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="data_prep.cvbench")
    rows_2d, rows_3d = _cvbench_rows()
    src = write_cvbench_snapshot(tmp_path / "CV-Bench", rows_2d, rows_3d, parquet=False)
    write_parquet(src / "test.parquet", rows_2d + rows_3d, CVBENCH_SCHEMA)  # an older snapshot's combined file
    res = run_builder(cvbench, tmp_path / "all.parquet", "--source", str(src))
    assert res.rc == 0 and res.rejects == [] and len(res.rows) == 3  # the combined file is read once, not twice
    assert _image_sizes(res)["Relation/1"] == [[72, 40]]
    lines = _fallback_lines(caplog)
    assert len(lines) == 1 and "test.parquet" in lines[0]


def test_cvbench_jsonl_without_img_or_parquet_stops_with_a_message(tmp_path):
    src = write_cvbench_snapshot(tmp_path / "CV-Bench", *_cvbench_rows(), parquet=False)
    with pytest.raises(
        SystemExit, match=r"test_2d\.jsonl names its images under .*img/, which is missing.*build_img\.py"
    ):
        cvbench.main(["--out", str(tmp_path / "out.parquet"), "--source", str(src)])
    assert not (tmp_path / "out.parquet").exists()


def test_mindcube_multi_image_inline_options(tmp_path):
    data = tmp_path / "data"
    views = [f"other_all_image/around/scene1/{i}.jpg" for i in range(3)]
    for i, view in enumerate(views):
        write_image(data / view, color=(40 * i, 10, 10))
    write_jsonl(data / "raw" / "MindCube_tinybench.jsonl", [
        {"id": "around_001", "category": ["around"], "type": "rotation", "images": views, "gt_answer": "B",
         "question": "Based on these three views, what is behind the sofa? A. TV B. Wooden dining table C. Lamp"},
        {"id": "around_002", "category": ["around"], "type": "rotation", "images": views[:2], "gt_answer": "A",
         "question": "What is behind the sofa?"},  # no options to choose from: rejected
    ])  # fmt: skip
    res = run_builder(mindcube, tmp_path / "out.parquet", "--source", str(data), "--max-reject-share", "0.5")
    assert res.rc == 0 and len(res.rows) == 1
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("around_002", "empty_choices")]
    row = res.rows[0]
    assert row["extra_info"]["choices"] == ["TV", "Wooden dining table", "Lamp"]
    assert row["extra_info"]["answer_text"] == "Wooden dining table"
    assert row["extra_info"]["question"] == "Based on these three views, what is behind the sofa?"
    assert len(row["images"]) == 3 and row["prompt"][0]["content"].count("<image>") == 3
    assert row["extra_info"]["image_sizes"] == [[64, 48]] * 3


def test_mmvp_csv_options_and_lowercase_answers(tmp_path):
    src = tmp_path / "MMVP"
    for i in (1, 2, 3):
        write_image(src / "MMVP Images" / f"{i}.jpg")
    with open(src / "Questions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Index", "Question", "Options", "Correct Answer"])
        writer.writerow([1, "Is the door of the truck cab open?", "(a) Yes (b) No", "(a)"])
        writer.writerow([2, "Is the door of the truck cab open?", "(a) Yes (b) No", "(b)"])
        writer.writerow([3, "Which direction is the dog facing?", "(a) Left (b) Right", "(c)"])
    res = run_builder(mmvp, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("3", "answer_not_in_choices")]
    by_id = res.by_source_id()
    assert by_id["1"]["extra_info"]["choices"] == ["Yes", "No"] and by_id["1"]["extra_info"]["answer"] == "A"
    assert by_id["2"]["extra_info"]["answer"] == "B" and by_id["2"]["extra_info"]["answer_text"] == "No"


def test_omnispatial_index_answers_image_paths_and_task_filter(tmp_path):
    src = tmp_path / "OmniSpatial-test"
    write_image(src / "Perspective_Taking" / "7.png")
    write_image(src / "Complex_Logic" / "9.jpg")
    write_json(src / "data.json", [
        {"id": "7_0", "task_type": "Perspective_Taking", "sub_task_type": "Allocentric",
         "question": "From the man's view, where is the cup?", "options": ["left", "right", "front", "behind"],
         "answer": 2},
        {"id": "9_1", "task_type": "Complex_Logic", "sub_task_type": "Pattern", "question": "Which piece fits?",
         "options": ["1", "2"], "answer": 0},
        {"id": "7_2", "task_type": "Perspective_Taking", "sub_task_type": "Egocentric",
         "question": "Which side is the door on?", "options": ["left", "right"], "answer": "left"},  # not an index
    ])  # fmt: skip
    res = run_builder(omnispatial, tmp_path / "out.parquet", "--source", str(tmp_path), "--max-reject-share", "0.5")
    assert res.rc == 0 and len(res.rows) == 2
    assert [r["reason"] for r in res.rejects] == ["missing_answer"]
    view = res.by_source_id()["Perspective_Taking/Allocentric/7_0"]["extra_info"]
    assert view["answer"] == "C" and view["answer_text"] == "front"
    only = run_builder(omnispatial, tmp_path / "pt.parquet", "--source", str(src), "--task-types", "Complex_Logic")
    assert [r["extra_info"]["source_id"] for r in only.rows] == ["Complex_Logic/Pattern/9_1"]


RWQA_SCHEMA = pa.schema(
    [
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("question", pa.string()),
        ("answer", pa.string()),
    ]
)


def test_realworldqa_letter_and_free_form_questions(tmp_path):
    mc_tail = "\nPlease answer directly with only the letter of the correct option and nothing else."
    ff_tail = "\nPlease answer directly with a single word or number."
    rows = [
        {"image": hf_image(), "question": "Which lane is the car in?\nA. left\nB. middle\nC. right" + mc_tail,
         "answer": "C"},
        {"image": hf_image(), "question": "Is the traffic light green?" + ff_tail, "answer": "Yes"},
        {"image": hf_image(), "question": "How many pedestrians are crossing?" + ff_tail, "answer": "2"},
        {"image": hf_image(), "question": "What colour is the bus?" + ff_tail, "answer": "Red"},
        {"image": hf_image(), "question": "What is the sign's shape?" + ff_tail, "answer": "Octagon"},
        {"image": {"bytes": b"not an image", "path": "x.jpg"}, "question": "Is it raining?" + ff_tail,
         "answer": "No"},
    ]  # fmt: skip
    write_parquet(tmp_path / "rwqa" / "test.parquet", rows, RWQA_SCHEMA)
    res = run_builder(realworldqa, tmp_path / "out.parquet", "--source", str(tmp_path / "rwqa"),
                      "--max-reject-share", "0.5")  # fmt: skip
    assert res.rc == 0 and len(res.rows) == 5
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("test/5", "image_decode")]
    by_id = res.by_source_id()
    lane = by_id["test/0"]["extra_info"]
    assert lane["question"] == "Which lane is the car in?" and lane["choices"] == ["left", "middle", "right"]
    assert lane["answer"] == "C" and "Please answer" not in by_id["test/0"]["prompt"][0]["content"]
    light = by_id["test/1"]["extra_info"]
    assert light["choices"] == ["yes", "no"] and light["answer_text"] == "yes"
    assert light["question"] == "Is the traffic light green?"
    count = [int(c) for c in by_id["test/2"]["extra_info"]["choices"]]
    assert count == list(range(count[0], count[0] + 4)) and 2 in count
    bus = by_id["test/3"]["extra_info"]
    assert bus["answer_text"] == "Red" and sorted(bus["choices"]) == ["Octagon", "Red"]
