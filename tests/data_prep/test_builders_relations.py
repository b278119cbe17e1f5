"""Relation-study builders (VSR, SpatialSense, Rel3D) on fixtures in each raw layout."""

from __future__ import annotations

from collections import Counter

import pytest

from data_prep import rel3d, spatialsense, vsr
from tests.data_prep.builder_fixtures import run_builder, write_image, write_json, write_jsonl, write_parquet


def _vsr_dir(tmp_path, rows):
    src = tmp_path / "vsr"
    for name in {r["image"] for r in rows}:
        if not name.startswith("missing"):
            write_image(src / "images" / name)
    write_jsonl(src / "splits" / "random" / "test.jsonl", rows)
    return src


def _vsr_row(i: int, relation: str, label: int) -> dict:
    return {"image": f"{i:012d}.jpg", "caption": f"The cat is {relation} the dog.", "label": label,
            "relation": relation, "subj": "cat", "obj": "dog"}  # fmt: skip


def test_vsr_true_false_choices_and_missing_image_rejected(tmp_path):
    rows = [_vsr_row(0, "left of", 1), _vsr_row(1, "on", 0), {**_vsr_row(2, "on", 1), "image": "missing.jpg"}]
    res = run_builder(vsr, tmp_path / "out.parquet", "--source", str(_vsr_dir(tmp_path, rows)),
                      "--max-reject-share", "0.5")  # fmt: skip
    assert res.rc == 0 and len(res.rows) == 2
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("test/2/on", "image_decode")]
    first, second = (r["extra_info"] for r in res.rows)
    assert first["choices"] == ["true", "false"] and first["answer"] == "A"
    assert second["answer"] == "B" and second["answer_text"] == "false"
    assert '"The cat is left of the dog."' in first["question"]


def test_vsr_undersampling_balances_labels_per_relation(tmp_path):
    labels = {"left of": [1, 1, 1, 0], "on": [0, 0, 1], "near": [1, 1]}  # "near" has no false row at all
    rows, i = [], 0
    for relation, values in labels.items():
        for label in values:
            rows.append(_vsr_row(i, relation, label))
            i += 1
    src = _vsr_dir(tmp_path, rows)
    plain = run_builder(vsr, tmp_path / "plain.parquet", "--source", str(src))
    assert len(plain.rows) == 9
    kept = {}
    for seed in ("0", "1"):
        res = run_builder(vsr, tmp_path / f"b{seed}.parquet", "--source", str(src), "--undersample-label-bias",
                          "--seed", seed)  # fmt: skip
        counts = Counter((r["extra_info"]["source_id"].split("/")[2], r["extra_info"]["answer_text"]) for r in res.rows)
        assert counts == {("left of", "true"): 1, ("left of", "false"): 1, ("on", "true"): 1, ("on", "false"): 1}
        kept[seed] = [r["extra_info"]["source_id"] for r in res.rows]
    again = run_builder(vsr, tmp_path / "again.parquet", "--source", str(src), "--undersample-label-bias")
    assert [r["extra_info"]["source_id"] for r in again.rows] == kept["0"]
    # source ids keep the source row numbers after undersampling
    assert all(sid.split("/")[1] in {str(n) for n in range(9)} for sid in kept["0"])


def _hub_row(i: int, relation: str, label: int) -> dict:
    """A row of the hub's ``cambridgeltl/vsr_random`` files (the repo's fields plus the hub's extra columns)."""
    return {**_vsr_row(i, relation, label), "image_link": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
            "annotator_id": 3, "vote_true_validator_id": [1], "vote_false_validator_id": []}  # fmt: skip


def _split_tables(tmp_path) -> dict[str, list[dict]]:
    tables = {"train": [_hub_row(0, "on", 1)], "validation": [_hub_row(1, "near", 0), _hub_row(2, "left of", 1)],
              "test": [_hub_row(3, "under", 0)]}  # fmt: skip
    for rows in tables.values():
        for row in rows:
            write_image(tmp_path / "coco" / row["image"])
    return tables


def _dev_ids(res) -> list[str]:
    return [r["extra_info"]["source_id"] for r in res.rows]


def test_vsr_dev_is_read_from_the_hub_parquet_export_that_names_it_validation(tmp_path):
    tables = _split_tables(tmp_path)
    src = tmp_path / "vsr_random"  # the layout of the hub's refs/convert/parquet branch
    for split, rows in tables.items():
        write_parquet(src / "default" / split / "0000.parquet", rows)
    res = run_builder(vsr, tmp_path / "dev.parquet", "--source", str(src), "--split", "dev",
                      "--image-dir", str(tmp_path / "coco"))  # fmt: skip
    assert res.rc == 0 and res.rejects == []
    assert _dev_ids(res) == ["dev/0/near", "dev/1/left of"]
    assert [r["extra_info"]["split"] for r in res.rows] == ["dev", "dev"]


def test_vsr_dev_is_read_from_a_saved_hub_dataset_dict(tmp_path):
    import datasets

    tables = _split_tables(tmp_path)
    src = tmp_path / "saved"  # what load_dataset("cambridgeltl/vsr_random").save_to_disk(...) writes
    datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in tables.items()}).save_to_disk(str(src))
    res = run_builder(vsr, tmp_path / "dev.parquet", "--source", str(src), "--split", "dev",
                      "--image-dir", str(tmp_path / "coco"))  # fmt: skip
    assert res.rc == 0 and _dev_ids(res) == ["dev/0/near", "dev/1/left of"]


def test_vsr_validation_reads_the_repo_dev_file(tmp_path):
    src = _vsr_dir(tmp_path, [_vsr_row(0, "on", 1)])
    dev = [_vsr_row(5, "near", 0), _vsr_row(6, "above", 1)]
    for row in dev:
        write_image(src / "images" / row["image"])
    write_jsonl(src / "splits" / "random" / "dev.jsonl", dev)
    res = run_builder(vsr, tmp_path / "val.parquet", "--source", str(src), "--split", "validation")
    assert res.rc == 0 and res.rejects == []
    assert _dev_ids(res) == ["validation/0/near", "validation/1/above"]


def test_vsr_dev_missing_under_both_names_stops_with_a_message(tmp_path):
    tables = _split_tables(tmp_path)
    src = tmp_path / "vsr_random"
    for split in ("train", "test"):
        write_parquet(src / "default" / split / "0000.parquet", tables[split])
    with pytest.raises(SystemExit, match=r"none of the splits \['dev', 'validation'\]"):
        vsr.main(["--out", str(tmp_path / "dev.parquet"), "--source", str(src), "--split", "dev",
                  "--image-dir", str(tmp_path / "coco")])  # fmt: skip
    assert not (tmp_path / "dev.parquet").exists()


def test_spatialsense_converts_yyxx_boxes_and_filters_split(tmp_path):
    src = tmp_path / "spatialsense"
    write_image(src / "images" / "flickr" / "5704634119_8b8ccf3229.jpg", size=(281, 500))
    write_image(src / "images" / "nyu" / "kitchen_0001.png", size=(640, 480))
    cat = {"name": "cat", "bbox": [230, 434, 31, 264], "x": 157, "y": 317}
    ground = {"name": "ground", "bbox": [196, 500, 3, 278], "x": 148, "y": 402}
    write_json(src / "annotations.json", [
        {"url": "https://farm4.staticflickr.com/3543/5704634119_8b8ccf3229.jpg", "height": 500, "width": 281,
         "split": "test", "annotations": [
             {"_id": "a1", "predicate": "on", "subject": cat, "object": ground, "label": True},
             {"_id": "a2", "predicate": "under", "subject": cat, "object": ground, "label": False},
             {"_id": "a3", "predicate": "on", "subject": {**cat, "bbox": [230, 600, 31, 264]}, "object": ground,
              "label": True}]},
        {"url": "nyu/kitchen_0001.png", "height": 480, "width": 640, "split": "test", "annotations": [
            {"_id": "b1", "predicate": "next to", "subject": {"name": "cup", "bbox": [10, 50, 20, 60]},
             "object": {"name": "plate", "bbox": [12, 40, 70, 130]}, "label": True}]},
        {"url": "https://farm1.staticflickr.com/1/other.jpg", "height": 10, "width": 10, "split": "train",
         "annotations": [{"_id": "t1", "predicate": "on", "subject": cat, "object": ground, "label": True}]},
    ])  # fmt: skip
    res = run_builder(spatialsense, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0 and len(res.rows) == 3
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("a3", "box_out_of_bounds")]
    by_id = res.by_source_id()
    on = by_id["a1"]["extra_info"]
    assert on["gt_boxes"] == [[31.0, 230.0, 264.0, 434.0], [3.0, 196.0, 278.0, 500.0]]
    assert on["choices"] == ["yes", "no"] and on["answer"] == "A" and "cat on ground" in on["question"]
    assert by_id["a2"]["extra_info"]["answer"] == "B"
    assert by_id["b1"]["extra_info"]["image_sizes"] == [[640, 480]]


def test_rel3d_converts_top_left_height_width_boxes(tmp_path):
    src = tmp_path / "Rel3D"
    write_image(src / "data" / "20200223" / "r1.png", size=(128, 72))

    def sample(label, subject_box):
        return {"rgb": "data/20200223/r1.png", "depth": "data/20200223/r1.tiff", "width": 128, "height": 72,
                "subject": {"name": "cup", "bbox": subject_box},
                "object": {"name": "table", "bbox": {"top": 30, "left": 0, "height": 42, "width": 128}},
                "predicate": "on", "label": label, "transform_vector": {}}  # fmt: skip

    write_json(src / "data" / "c_0.9_c_0.1.json", {
        "predicates": ["on"], "objects": ["cup", "table"],
        "train": [sample(True, {"top": 1, "left": 1, "height": 2, "width": 2})],
        "test": [sample(True, {"top": 10, "left": 20, "height": 15, "width": 30}),
                 sample(False, {"top": 10, "left": 20, "height": 15, "width": 30}),
                 sample(True, {"top": 10, "left": 120, "height": 15, "width": 30})],  # right edge 150 > 128
    })  # fmt: skip
    res = run_builder(rel3d, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0 and len(res.rows) == 2
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("c_0.9_c_0.1/test/2", "box_out_of_bounds")]
    yes, no = (r["extra_info"] for r in res.rows)
    assert yes["gt_boxes"] == [[20.0, 10.0, 50.0, 25.0], [0.0, 30.0, 128.0, 72.0]]
    assert yes["answer_text"] == "yes" and no["answer_text"] == "no"
    assert yes["split"] == "test"
