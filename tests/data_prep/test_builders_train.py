"""Training-mix builders (SAT, SAT-Real, Visual-CoT, VGR, TreeVGR) on fixtures in each source's raw layout."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pyarrow as pa
import pytest

from data_prep import sat, sat_real, treevgr, vgr, viscot
from data_prep.schema import RowRejected
from tests.data_prep.builder_fixtures import (
    box_close,
    hf_image,
    run_builder,
    write_image,
    write_json,
    write_jsonl,
    write_parquet,
)

SAT_SCHEMA = pa.schema(
    [
        ("image_bytes", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
        ("question", pa.string()),
        ("answers", pa.list_(pa.string())),
        ("question_type", pa.string()),
        ("correct_answer", pa.string()),
    ]
)


def _sat_rows() -> list[dict]:
    return [
        {
            "image_bytes": [hf_image()],
            "question": "Is the chair to the left of the table?",
            "answers": ["yes", "no"],
            "question_type": "obj_rel",
            "correct_answer": "yes",
        },
        {
            "image_bytes": [hf_image(color=(1, 2, 3)), hf_image(color=(90, 90, 9))],
            "question": "Which way did the camera turn between the frames?",
            "answers": ["left", "right", "it did not turn", "backwards"],
            "question_type": "ego_movement",
            "correct_answer": "right",
        },
        {
            "image_bytes": [hf_image()],
            "question": "How far is the lamp?",
            "answers": ["near", "far"],
            "question_type": "obj_dist",
            "correct_answer": "behind",  # names no option: must be rejected, the others kept
        },
    ]


def test_sat_maps_answers_to_shuffled_letters_and_rejects_unknown_answer(tmp_path):
    write_parquet(tmp_path / "sat" / "SAT_train.parquet", _sat_rows(), SAT_SCHEMA)
    res = run_builder(sat, tmp_path / "out.parquet", "--source", str(tmp_path / "sat"), "--max-reject-share", "0.5")
    assert res.rc == 0
    assert len(res.rows) == 2 and len(res.frame) == 2
    assert [r["reason"] for r in res.rejects] == ["answer_not_in_choices"]
    assert res.rejects[0]["source_id"] == "train/2/obj_dist"
    by_id = res.by_source_id()
    motion = by_id["train/1/ego_movement"]["extra_info"]
    assert sorted(motion["choices"]) == sorted(["left", "right", "it did not turn", "backwards"])
    assert motion["answer_text"] == "right"
    assert len(by_id["train/1/ego_movement"]["images"]) == 2
    assert by_id["train/1/ego_movement"]["prompt"][0]["content"].count("<image>") == 2
    assert all(r["data_source"] == "sat" and r["extra_info"]["gt_boxes"] == [] for r in res.rows)


def test_sat_shuffle_is_reproducible_for_a_seed(tmp_path):
    write_parquet(tmp_path / "sat" / "SAT_train.parquet", _sat_rows()[:2] * 4, SAT_SCHEMA)
    orders = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        res = run_builder(sat, tmp_path / f"{name}.parquet", "--source", str(tmp_path / "sat"), "--seed", seed)
        orders[name] = [tuple(r["extra_info"]["choices"]) for r in res.rows]
    assert orders["a"] == orders["b"]
    # eight shuffled rows: the chance that two seeds give identical orders for all of them is 2^-4 * 24^-4
    assert orders["a"] != orders["c"]


def test_sat_real_emits_every_rotation_with_the_letter_following_the_answer(tmp_path):
    rows = _sat_rows()[:2]
    write_parquet(tmp_path / "sat" / "SAT_test.parquet", rows, SAT_SCHEMA)
    res = run_builder(sat_real, tmp_path / "out.parquet", "--source", str(tmp_path / "sat"))
    assert res.rc == 0 and len(res.rows) == 2 + 4
    groups = defaultdict(list)
    for r in res.rows:
        groups[r["extra_info"]["circular_id"]].append(r["extra_info"])
    assert len(groups) == 2
    for raw, group in zip(rows, groups.values(), strict=True):
        n = len(raw["answers"])
        assert sorted(e["rotation"] for e in group) == list(range(n))
        correct = raw["answers"].index(raw["correct_answer"])
        for e in group:
            r = e["rotation"]
            assert e["choices"] == raw["answers"][r:] + raw["answers"][:r]
            assert e["answer"] == chr(ord("A") + (correct - r) % n)
            assert e["answer_text"] == raw["correct_answer"]
    assert {r["data_source"] for r in res.rows} == {"sat_real"}
    # the answer letter is not constant across rotations, so a letter prior cannot pass circular evaluation
    assert len({e["answer"] for e in groups[res.rows[-1]["extra_info"]["circular_id"]]}) == 4


def test_sat_real_limit_counts_questions_not_rows(tmp_path):
    write_parquet(tmp_path / "sat" / "SAT_test.parquet", _sat_rows()[1:2] * 3, SAT_SCHEMA)
    res = run_builder(sat_real, tmp_path / "out.parquet", "--source", str(tmp_path / "sat"), "--limit", "1")
    assert len(res.rows) == 4  # the whole rotation group of the first question
    assert len({r["extra_info"]["circular_id"] for r in res.rows}) == 1


def _viscot_record(qid: int, name: str, box: list[int], answer: str, dataset: str = "gqa") -> dict:
    path = f"cot/{dataset}/{name}"
    return {
        "dataset": dataset,
        "split": "train",
        "question_id": qid,
        "image": [path, f"{path}###{json.dumps(box)}"],
        "conversations": [
            {
                "from": "human",
                "value": "<image>\nWhat is on the table? Please provide the bounding box coordinate of the "
                "region that can help you answer the question better.",
            },
            {"from": "gpt", "value": "[0.100, 0.200, 0.500, 0.600]"},
            {"from": "human", "value": "<image>"},
            {"from": "gpt", "value": answer},
        ],
    }


def test_viscot_converted_json_keeps_pixel_boxes_and_builds_choices(tmp_path):
    src = tmp_path / "viscot"
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        write_image(src / "cot" / "gqa" / name, size=(100, 80))
    records = [
        _viscot_record(0, "a.jpg", [10, 20, 50, 60], "a red cup"),
        _viscot_record(1, "b.jpg", [0, 0, 100, 80], "yes"),
        _viscot_record(2, "c.jpg", [5, 5, 30, 30], "3"),
        _viscot_record(3, "d.jpg", [60, 10, 140, 70], "a blue plate"),  # x2 beyond the 100 px width
        _viscot_record(4, "a.jpg", [1, 2, 3, 4], "a green bowl"),
    ]
    write_json(src / "viscot_363k.json", records)
    res = run_builder(viscot, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("gqa/3", "box_out_of_bounds")]
    by_id = res.by_source_id()
    cup = by_id["gqa/0"]["extra_info"]
    assert cup["question"] == "What is on the table?"
    assert box_close(cup["gt_boxes"][0], [10, 20, 50, 60]) and cup["image_sizes"] == [[100, 80]]
    assert cup["answer_text"] == "a red cup" and len(cup["choices"]) >= 2
    assert set(cup["choices"]) - {"a red cup"} <= {"a blue plate", "a green bowl"}
    assert by_id["gqa/1"]["extra_info"]["choices"] == ["yes", "no"] and by_id["gqa/1"]["extra_info"]["answer"] == "A"
    count = by_id["gqa/2"]["extra_info"]
    numbers = [int(c) for c in count["choices"]]
    assert numbers == list(range(numbers[0], numbers[0] + 4)) and count["answer_text"] == "3"


def test_viscot_metadata_layout_keeps_every_box(tmp_path):
    src = tmp_path / "viscot"
    write_image(src / "cot" / "openimages" / "x.jpg", size=(120, 90))
    write_image(src / "cot" / "openimages" / "y.jpg", size=(120, 90))
    rows = [
        {"dataset": "openimages", "split": "train", "image": "x.jpg", "question": "Is the dog left of the cat?",
         "answer": "no", "bboxs": [[1, 2, 30, 40], [50, 5, 119, 89]], "width": 120, "height": 90},
        {"dataset": "openimages", "split": "train", "image": "y.jpg", "question": "What colour is the car?",
         "answer": "", "bboxs": [[1, 2, 30, 40]], "width": 120, "height": 90},
    ]  # fmt: skip
    write_jsonl(src / "metadata" / "openimages_cot_train.jsonl", rows)
    res = run_builder(viscot, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.6")
    assert len(res.rows) == 1 and [r["reason"] for r in res.rejects] == ["missing_answer"]
    extra = res.rows[0]["extra_info"]
    assert extra["gt_boxes"] == [[1.0, 2.0, 30.0, 40.0], [50.0, 5.0, 119.0, 89.0]]
    assert extra["answer_text"] == "no" and extra["source_id"] == "openimages/0"


def _vgr_row(image: str, question: str, reply: str) -> dict:
    return {
        "image": image,
        "conversations": [{"from": "human", "value": f"<image>\n{question}"}, {"from": "gpt", "value": reply}],
    }


def test_vgr_scales_normalised_regions_and_reads_final_answers(tmp_path):
    src = tmp_path / "vgr"
    write_image(src / "llava_next_raw_format" / "gqa" / "images" / "1.jpg", size=(200, 100))
    write_image(src / "llava_next_raw_format" / "ai2d" / "images" / "2.png", size=(200, 100))
    rows = [
        _vgr_row("gqa/images/1.jpg", "Is the cup on the left?",
                 "The cup <sot>[0.1, 0.2, 0.5, 0.6]<eot> sits left of the plate <sot>[0.6, 0.2, 0.9, 0.8]<eot>.\n"
                 "Answer: yes"),
        _vgr_row("ai2d/images/2.png", "Which stage comes first?\nA. egg\nB. larva\nAnswer with the option's letter.",
                 "The arrow starts at the egg <sot>[0.0, 0.0, 0.25, 0.5]<eot>.\nThe answer is A."),
        _vgr_row("gqa/images/1.jpg", "What is the plate made of?",
                 "The plate <sot>[0.6, 0.2, 0.9, 0.8]<eot> looks glossy.\n<answer>ceramic</answer>"),
        _vgr_row("gqa/images/1.jpg", "What is next to the cup?",
                 "A fork <sot>[0.2, 0.1, 0.3, 0.4]<eot>.\nAnswer: fork"),
        _vgr_row("gqa/images/1.jpg", "Where is the napkin?",  # a pixel-scale region read as fractions
                 "The napkin <sot>[20, 10, 80, 60]<eot>.\nAnswer: under the fork"),
    ]  # fmt: skip
    write_parquet(src / "vgr_shortcot.parquet", rows)
    write_parquet(src / "vgr_longcot.parquet", rows[:1])  # the long version must not be read by default
    res = run_builder(vgr, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0 and len(res.rows) == 4
    assert [r["reason"] for r in res.rejects] == ["box_out_of_bounds"]
    by_id = res.by_source_id()
    cup = by_id["vgr_shortcot/0"]["extra_info"]
    assert cup["choices"] == ["yes", "no"] and cup["answer"] == "A"
    assert box_close(cup["gt_boxes"][0], [20.0, 20.0, 100.0, 60.0])
    assert box_close(cup["gt_boxes"][1], [120.0, 20.0, 180.0, 80.0])
    stage = by_id["vgr_shortcot/1"]["extra_info"]
    assert stage["question"] == "Which stage comes first?" and stage["choices"] == ["egg", "larva"]
    assert stage["answer"] == "A"
    plate = by_id["vgr_shortcot/2"]["extra_info"]
    assert plate["answer_text"] == "ceramic" and "fork" in plate["choices"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("<think>The label points at the fleshy layer, so the correct answer is the mesocarp. </think> Final answer: D",
         "D"),
        ("<think>Stage one is the egg.</think>\n\nFinal Answer: (B) larva", "(B) larva"),
        ("<think>Answer: red</think> answer: blue", "blue"),
        ("<THINK>Count them.</THINK>The answer is: 7.", "7"),
        ("The answer is A. Final answer: B", "B"),  # no </think>: the last phrase on the last line counts
        ("<think>x <SOT>[0.1, 0.1, 0.2, 0.2]<EOT><image></think>\n<answer>glass</answer>", "glass"),
        ("It rests on the table.\nwooden", "wooden"),
    ],
)  # fmt: skip
def test_vgr_final_answer_is_read_after_the_last_think(reply, expected):
    assert vgr.final_answer({}, reply) == expected


@pytest.mark.parametrize(
    "reply", ["<think>The answer is A.</think>", "<think>a</think> <SOT>[0, 0, 1, 1]<EOT><image>\n"]
)
def test_vgr_reply_with_nothing_after_think_is_rejected(reply):
    with pytest.raises(RowRejected) as err:
        vgr.final_answer({}, reply)
    assert err.value.reason == "missing_answer" and "after </think>" in err.value.detail


@pytest.mark.parametrize(
    ("image", "expected"),
    [("gqa/images/1.jpg", "gqa/images/1.jpg"), (["ai2d/abc_images/311.png"], "ai2d/abc_images/311.png")],
)
def test_vgr_image_is_a_string_or_a_one_element_list(image, expected):
    assert vgr.image_name({"image": image}) == expected


@pytest.mark.parametrize(("image", "reason"), [([], "bad_row"), (["a.jpg", "b.jpg"], "bad_row"), (None, "no_images")])
def test_vgr_image_that_is_not_one_path_is_rejected(image, reason):
    with pytest.raises(RowRejected) as err:
        vgr.image_name({"image": image})
    assert err.value.reason == reason


def test_vgr_paper_style_replies_in_the_released_layout(tmp_path):
    """Rows as the release writes them: ``<SOT>[fractions]<EOT><image>`` inside ``<think>``, the answer after it.

    ``image`` is a one-element list here (a parquet column has one type; the string form is the test above).
    """
    src = tmp_path / "vgr"
    write_image(src / "llava_next_raw_format" / "ai2d" / "abc_images" / "311.png", size=(200, 100))
    write_image(src / "llava_next_raw_format" / "gqa" / "images" / "7.jpg", size=(200, 100))
    fruit = (
        "Which part of the fruit is labelled X?\nA. exocarp\nB. endocarp\nC. seed\nD. mesocarp\n"
        "Answer with the option's letter from the given choices directly."
    )
    rows = [
        {"id": "ai2d-311", "image": ["ai2d/abc_images/311.png"], "conversations": [
            {"from": "human", "value": f"<image>\n{fruit}"},
            {"from": "gpt", "value": "<think>The label X points at the fleshy layer <SOT>[0.2, 0.3, 0.6, 0.7]<EOT><image> "
                                     "between the skin and the pit, so the correct answer is the mesocarp. </think> "
                                     "Final answer: D"}]},
        {"id": "gqa-7", "image": ["gqa/images/7.jpg"], "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the car on the left?"},
            {"from": "gpt", "value": "<think>The car <SOT>[0.0, 0.5, 0.3, 0.9]<EOT><image> looks red at first; "
                                     "the answer is red? No, it is blue.</think>\nFinal answer: blue"}]},
        {"id": "gqa-8", "image": ["gqa/images/7.jpg"], "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the bus?"},
            {"from": "gpt", "value": "<think>The bus <SOT>[0.5, 0.1, 0.9, 0.6]<EOT><image>.</think> Final answer: green"}]},
        {"id": "gqa-9", "image": ["gqa/images/7.jpg", "gqa/images/7.jpg"], "conversations": [
            {"from": "human", "value": "<image>\nIs it raining?"},
            {"from": "gpt", "value": "<think>Wet road.</think> Final answer: yes"}]},
        {"id": "gqa-10", "image": ["gqa/images/7.jpg"], "conversations": [
            {"from": "human", "value": "<image>\nIs it night?"},
            {"from": "gpt", "value": "<think>The sky is bright, so the answer is no.</think>"}]},
    ]  # fmt: skip
    write_parquet(src / "vgr_shortcot.parquet", rows)
    res = run_builder(vgr, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [
        ("vgr_shortcot/gqa-9", "bad_row"),
        ("vgr_shortcot/gqa-10", "missing_answer"),
    ]
    by_id = res.by_source_id()
    fruit_row = by_id["vgr_shortcot/ai2d-311"]["extra_info"]
    assert fruit_row["choices"] == ["exocarp", "endocarp", "seed", "mesocarp"] and fruit_row["answer"] == "D"
    assert fruit_row["answer_text"] == "mesocarp" and box_close(fruit_row["gt_boxes"][0], [40.0, 30.0, 120.0, 70.0])
    car = by_id["vgr_shortcot/gqa-7"]["extra_info"]
    assert car["answer_text"] == "blue" and "green" in car["choices"]
    assert "No, it is blue" not in " ".join(car["choices"])  # the reasoning never leaks into the options


def test_treevgr_keeps_letter_questions_and_builds_free_form_choices(tmp_path):
    src = tmp_path / "treevgr"
    for i in range(4):
        write_image(src / "images" / f"{i}.jpg", size=(300, 200))

    def inst(box: list[float]) -> dict:
        return {"bbox": box, "name": "car", "label": 1}

    rows = [
        {"images": ["images/0.jpg"], "problem": "<image>\nWhat is the colour of the car?", "answer": "red",
         "target_instances": [inst([10.0, 20.0, 110.0, 90.0])]},
        {"images": ["images/1.jpg"], "problem": "<image>\nHow many cars are parked?\n(A) 2\n(B) 3\n(C) 4",
         "answer": "(B)", "target_instances": [inst([0.0, 0.0, 50.0, 50.0]), inst([60.0, 60.0, 299.5, 199.0])]},
        {"images": ["images/2.jpg"], "problem": "<image>\nWhat is the colour of the truck?", "answer": "white",
         "target_instances": [inst([5.0, 5.0, 50.0, 50.0])]},
        {"images": ["images/3.jpg"], "problem": "<image>\nWhat is the colour of the bus?", "answer": "yellow",
         "target_instances": [inst([5.0, 5.0, 400.0, 50.0])]},  # beyond the 300 px width
        {"images": ["images/2.jpg"], "problem": "<image>\nWhich car is closest?", "answer": "(C)",
         "target_instances": []},  # a letter answer without listed options
    ]  # fmt: skip
    write_parquet(src / treevgr.PARQUET, rows)
    res = run_builder(treevgr, tmp_path / "out.parquet", "--source", str(src), "--max-reject-share", "0.5")
    assert res.rc == 0 and len(res.rows) == 3
    assert [(r["source_id"], r["reason"]) for r in res.rejects] == [("3", "box_out_of_bounds"), ("4", "empty_choices")]
    by_id = res.by_source_id()
    count = by_id["1"]["extra_info"]
    assert count["choices"] == ["2", "3", "4"] and count["answer"] == "B"
    assert count["question"] == "How many cars are parked?"
    assert box_close(count["gt_boxes"][1], [60.0, 60.0, 299.5, 199.0])
    colour = by_id["0"]["extra_info"]
    assert colour["answer_text"] == "red" and set(colour["choices"]) <= {"red", "white", "yellow"}
    assert colour["gt_boxes"] == [[10.0, 20.0, 110.0, 90.0]] and colour["image_sizes"] == [[300, 200]]
    assert Counter(r["data_source"] for r in res.rows) == {"treevgr": 3}
