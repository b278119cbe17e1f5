"""data_prep.schema, .writer, .sources and .cli: prompt, image encoding, rows, validation, the streaming writer,
source reading and the builder CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_prep.cli import builder_cli
from data_prep.readers import SourceError
from data_prep.schema import (
    IMAGE_PLACEHOLDER,
    OUTPUT_INSTRUCTION,
    ROW_SCHEMA,
    RowRejected,
    SpatialItem,
    build_prompt,
    encode_image,
    option_letters,
    validate_row,
)
from data_prep.sources import load_source
from data_prep.writer import RowWriter, TooManyRejects

REPO = Path(__file__).resolve().parents[2]


def _png(size=(64, 48), color="red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "blue").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _item(**overrides) -> SpatialItem:
    fields = dict(
        data_source="unit",
        question="Is the cup left of the plate?",
        choices=["yes", "no"],
        answer="A",
        images=[_png()],
        gt_boxes=[[1, 2, 30, 40]],
        source_id="ok",
    )
    fields.update(overrides)
    return SpatialItem(**fields)


# --------------------------------------------------------------------------- prompt


def test_option_letters_cover_1_to_26_and_reject_others():
    assert option_letters(4) == ["A", "B", "C", "D"]
    assert option_letters(26)[-1] == "Z"
    for bad in (0, 27):
        with pytest.raises(ValueError):
            option_letters(bad)


def test_build_prompt_has_one_placeholder_per_image_lettered_options_and_instruction():
    (message,) = build_prompt("Which is nearer?", ["the cup", "the plate", "the fork"], num_images=3)
    content = message["content"]
    assert message["role"] == "user"
    assert content.count(IMAGE_PLACEHOLDER) == 3
    assert "Options:\n(A) the cup\n(B) the plate\n(C) the fork\n" in content
    assert content.endswith(OUTPUT_INSTRUCTION.format(letters="A, B, C"))
    assert content.index("Which is nearer?") > content.rindex(IMAGE_PLACEHOLDER)
    for tag in ("<think>", "</think>", "<answer>", "</answer>", "<bbox>"):
        assert tag in content


# --------------------------------------------------------------------------- images


def test_encode_image_keeps_png_and_jpeg_bytes_and_reencodes_other_formats(tmp_path):
    png, jpeg = _png(), _jpeg()
    assert encode_image(png) == {"bytes": png, "path": ""}
    assert encode_image(jpeg)["bytes"] == jpeg
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), "green").save(buf, format="BMP")
    bmp = encode_image(buf.getvalue())["bytes"]
    assert Image.open(io.BytesIO(bmp)).format == "PNG"
    assert Image.open(io.BytesIO(bmp)).size == (20, 10)
    pil = encode_image(Image.new("P", (7, 5)))["bytes"]
    assert Image.open(io.BytesIO(pil)).size == (7, 5)


def test_encode_image_reads_paths_relative_to_root_and_hf_dicts(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(_jpeg())
    out = encode_image("imgs/a.jpg", root=tmp_path)
    assert out == {"bytes": _jpeg(), "path": "imgs/a.jpg"}
    assert encode_image({"bytes": None, "path": str(tmp_path / "imgs" / "a.jpg")})["bytes"] == _jpeg()
    assert encode_image({"bytes": _png(), "path": "x.png"}) == {"bytes": _png(), "path": "x.png"}


@pytest.mark.parametrize(
    "bad",
    [b"not an image", _png()[:60], {"bytes": None, "path": ""}, "missing/file.png", 3.5],
    ids=["garbage", "truncated", "empty-dict", "missing-file", "wrong-type"],
)
def test_encode_image_rejects_what_does_not_decode(bad):
    with pytest.raises(RowRejected) as info:
        encode_image(bad)
    assert info.value.reason == "image_decode"


# --------------------------------------------------------------------------- rows


@pytest.mark.parametrize("answer", ["B", "(b)", "B.", 1, np.int64(1), "No"])
def test_to_row_resolves_answer_forms_to_the_letter(answer):
    row = _item(answer=answer).to_row(7)
    assert row["reward_model"] == {"style": "rule", "ground_truth": "B"}
    assert row["extra_info"]["answer"] == "B"
    assert row["extra_info"]["answer_text"] == "no"


def test_to_row_produces_the_contract_row_with_derived_image_sizes():
    graph = {"image_size": [64, 48], "objects": []}
    row = _item(images=[_png((64, 48)), _jpeg((30, 20))], scene_graph=graph, split="test").to_row(3)
    validate_row(row)
    extra = row["extra_info"]
    assert extra["index"] == 3 and extra["split"] == "test" and extra["source_id"] == "ok"
    assert extra["image_sizes"] == [[64, 48], [30, 20]]
    assert json.loads(extra["scene_graph"]) == graph
    assert extra["choices"] == ["yes", "no"] and extra["circular_id"] == "" and extra["rotation"] == 0
    assert row["ability"] == "spatial"
    assert row["prompt"][0]["content"].count(IMAGE_PLACEHOLDER) == 2
    table = pa.Table.from_pylist([row], schema=ROW_SCHEMA)
    assert table.to_pylist()[0] == row


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"question": "  "}, "empty_question"),
        ({"choices": []}, "empty_choices"),
        ({"choices": ["yes", ""]}, "empty_choices"),
        ({"choices": ["yes", "Yes"]}, "duplicate_choices"),
        ({"answer": None}, "missing_answer"),
        ({"answer": ""}, "missing_answer"),
        ({"answer": "C"}, "answer_not_in_choices"),
        ({"answer": 2}, "answer_not_in_choices"),
        ({"answer": "maybe"}, "answer_not_in_choices"),
        ({"images": []}, "no_images"),
        ({"images": [b"\x89PNG\r\n\x1a\n broken"]}, "image_decode"),
    ],
)
def test_to_row_rejects_unusable_items_with_a_reason(overrides, reason):
    with pytest.raises(RowRejected) as info:
        _item(**overrides).to_row(0)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("boxes", "reason"),
    [
        ([[0, 0, 65, 10]], "box_out_of_bounds"),
        ([[-1, 0, 10, 10]], "box_out_of_bounds"),
        ([[0, 0, 10, 49]], "box_out_of_bounds"),
        ([[10, 0, 5, 10]], "box_invalid"),
        ([[0, 0, 10, float("nan")]], "box_invalid"),
        ([[0, 0, 10]], "box_invalid"),
    ],
)
def test_validate_row_rejects_bad_boxes(boxes, reason):
    row = _item(gt_boxes=boxes).to_row(0)
    with pytest.raises(RowRejected) as info:
        validate_row(row)
    assert info.value.reason == reason


def test_validate_row_accepts_boxes_touching_the_image_edges():
    validate_row(_item(gt_boxes=[[0, 0, 64, 48], [0.5, 0.5, 63.5, 47.5]]).to_row(0))


def test_validate_row_rejects_images_more_elongated_than_qwen_accepts():
    validate_row(_item(images=[_png((400, 2))], gt_boxes=[]).to_row(0))
    with pytest.raises(RowRejected) as info:
        validate_row(_item(images=[_png((402, 2))], gt_boxes=[]).to_row(0))
    assert info.value.reason == "image_aspect"


def test_validate_row_checks_placeholders_sizes_and_ground_truth():
    row = _item().to_row(0)
    two = dict(row, prompt=[{"role": "user", "content": IMAGE_PLACEHOLDER + row["prompt"][0]["content"]}])
    wrong_size = dict(row, extra_info={**row["extra_info"], "image_sizes": [[48, 64]]})
    wrong_truth = dict(row, reward_model={"style": "rule", "ground_truth": "B"})
    bad_rotation = dict(row, extra_info={**row["extra_info"], "rotation": 2})
    cases = (
        (two, "placeholder_mismatch"),
        (wrong_size, "image_size_mismatch"),
        (wrong_truth, "bad_row"),
        (bad_rotation, "bad_row"),
    )
    for bad, reason in cases:
        with pytest.raises(RowRejected) as info:
            validate_row(bad)
        assert info.value.reason == reason


# --------------------------------------------------------------------------- writer


def test_writer_streams_row_groups_and_publishes_only_on_close(tmp_path):
    out = tmp_path / "rows.parquet"
    writer = RowWriter(out, row_group_size=4)
    for i in range(10):
        assert writer.add(_item(source_id=f"s{i}"), f"s{i}")
    assert not out.exists()  # still being written as .partial
    summary = writer.close()
    assert summary.written == 10 and summary.rejected == {}
    meta = pq.ParquetFile(out).metadata
    assert (meta.num_rows, meta.num_row_groups) == (10, 3)
    assert pq.read_schema(out) == ROW_SCHEMA
    assert [r["index"] for r in pq.read_table(out).column("extra_info").to_pylist()] == list(range(10))
    assert not out.with_name(out.name + ".partial").exists()


def test_writer_aborted_by_an_exception_leaves_no_output(tmp_path):
    out = tmp_path / "rows.parquet"
    with pytest.raises(KeyboardInterrupt), RowWriter(out) as writer:
        writer.add(_item(), "a")
        raise KeyboardInterrupt
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()


def test_rejects_go_to_the_reject_file_and_every_valid_row_is_written(tmp_path):
    out = tmp_path / "mixed.parquet"
    good_row = _item().to_row(0)
    placeholder_mismatch = dict(good_row, images=good_row["images"] * 2)
    placeholder_mismatch["extra_info"] = {**good_row["extra_info"], "image_sizes": [[64, 48]] * 2}
    bad = {
        "corrupt": _item(images=[_png()[:-40]]),
        "no-answer": _item(answer=None),
        "not-a-choice": _item(answer="D"),
        "out-of-bounds": _item(gt_boxes=[[10, 10, 80, 20]]),
        "placeholders": placeholder_mismatch,
        "mapping-bug": KeyError("question"),
    }
    expected = {
        "corrupt": "image_decode",
        "no-answer": "missing_answer",
        "not-a-choice": "answer_not_in_choices",
        "out-of-bounds": "box_out_of_bounds",
        "placeholders": "placeholder_mismatch",
        "mapping-bug": "builder_error",
    }
    writer = RowWriter(out, max_reject_share=1.0)
    good_ids = []
    for i, (sid, item) in enumerate(bad.items()):
        good_ids.append(f"good{i}")
        assert writer.add(_item(source_id=f"good{i}"), f"good{i}")
        assert not writer.add(item, sid)
    summary = writer.close()
    assert summary.written == len(good_ids)
    assert summary.rejected == {reason: 1 for reason in expected.values()}
    written = [e["source_id"] for e in pq.read_table(out).column("extra_info").to_pylist()]
    assert written == good_ids
    lines = [json.loads(line) for line in out.with_name(out.name + ".rejects.jsonl").read_text().splitlines()]
    assert {line["source_id"]: line["reason"] for line in lines} == expected
    assert all(line["detail"] for line in lines)


def test_writer_raises_when_the_rejected_share_is_too_high(tmp_path):
    writer = RowWriter(tmp_path / "x.parquet", max_reject_share=0.25)
    for i in range(3):
        writer.add(_item(), f"g{i}")
    writer.add(_item(answer="Z"), "b0")
    writer.add(_item(answer="Z"), "b1")
    with pytest.raises(TooManyRejects) as info:
        writer.close()
    assert info.value.summary.reject_share == pytest.approx(0.4)
    assert (tmp_path / "x.parquet").exists()  # valid rows are kept next to the reject file


def test_token_budget_counts_long_prompts_with_the_smart_resize_image_estimate(tmp_path):
    writer = RowWriter(tmp_path / "t.parquet", token_budget=400, min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 256)
    writer.add(_item(images=[_png((56 * 8, 56 * 8))]), "small")  # 8*8 groups of 2x2 patches -> 256 image tokens
    writer.add(_item(question="word " * 1000), "long")
    summary = writer.close()
    assert summary.over_budget == 1 and summary.over_budget_examples[0].startswith("long:")
    assert summary.max_prompt_tokens >= 1250


# --------------------------------------------------------------------------- sources and CLI


def test_load_source_reads_local_tables_and_picks_the_split(tmp_path):
    (tmp_path / "data").mkdir()
    for split in ("train", "test"):
        rows = [{"id": f"{split}{i}", "q": "?"} for i in range(3)]
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / f"{split}-00000-of-00001.parquet")
    (tmp_path / "extra.jsonl").write_text('{"id": "j1"}\n\n{"id": "j2"}\n')
    (tmp_path / "ann.json").write_text(json.dumps({"k1": {"v": 1}, "k2": {"v": 2}}))
    source = load_source(tmp_path / "data", "test", default_hf_id="org/name")
    assert [r["id"] for r in source] == ["test0", "test1", "test2"]
    assert [r["id"] for r in source] == ["test0", "test1", "test2"]  # iterable more than once
    assert source.root == tmp_path / "data"
    assert [r["id"] for r in load_source(tmp_path / "extra.jsonl", None)] == ["j1", "j2"]
    assert [r["_key"] for r in load_source(tmp_path / "ann.json", None)] == ["k1", "k2"]
    with pytest.raises(SourceError, match="no table files for split 'validation'"):
        load_source(tmp_path / "data", "validation")
    with pytest.raises(SourceError, match="no such file or directory"):
        load_source(str(tmp_path / "nope" / "deeper"), "train")


def _build(args):
    for i in range(args.good):
        yield _item(source_id=f"g{i}"), f"g{i}"
    for i in range(args.bad):
        yield _item(images=[b"junk"]), f"b{i}"


def _add(parser):
    parser.add_argument("--good", type=int, default=4)
    parser.add_argument("--bad", type=int, default=1)


def test_builder_cli_exit_code_follows_the_reject_share(tmp_path):
    out = str(tmp_path / "b.parquet")
    assert builder_cli("t", _build, ["--out", out, "--max-reject-share", "0.25"], add_arguments=_add) == 0
    assert builder_cli("t", _build, ["--out", out, "--max-reject-share", "0.1"], add_arguments=_add) == 1
    assert builder_cli("t", _build, ["--out", out, "--limit", "3", "--max-reject-share", "0"], add_arguments=_add) == 0
    assert pq.ParquetFile(out).metadata.num_rows == 3


def test_a_builder_process_exits_non_zero_on_too_many_rejects(tmp_path):
    code = (
        "import sys\n"
        "from data_prep.cli import builder_cli\n"
        "from data_prep.schema import SpatialItem\n"
        "def build(args):\n"
        "    yield SpatialItem('t', 'q?', ['a', 'b'], 'A', [b'junk']), 'bad'\n"
        "sys.exit(builder_cli('t', build, with_source=False))\n"
    )
    out = tmp_path / "p.parquet"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    assert "rejected" in proc.stderr
    assert json.loads((tmp_path / "p.parquet.rejects.jsonl").read_text())["reason"] == "image_decode"


def test_load_source_without_network_names_the_way_out():
    source = load_source(None, "train", default_hf_id="nonexistent-org/nonexistent-dataset")
    with pytest.raises(SourceError, match="--source DIR"):
        next(iter(source))
