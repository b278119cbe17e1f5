"""Hostile user files for every data_prep reader: builders, mix and difficulty_filter.

One rule (data_prep.readers): a record that cannot be read is a reject naming ``file:line`` and the build
goes on with every valid row; a file that cannot be used is one error line naming it; never a traceback.
Each table row names the hostile input, the exit code, the rows kept and the rejects (or the message).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_prep import cvbench, difficulty_filter, mix, mmvp, omnispatial, rel3d, sat, spatialsense, synthetic, vgr
from data_prep.readers import SourceError, collecting_unreadable, iter_table_file
from data_prep.sources import hf_id_of
from tests.data_prep.builder_fixtures import hf_image, run_builder, write_image

REPO = Path(__file__).resolve().parents[2]
BAD_BYTE = b"\xff\xfe"  # never valid UTF-8

# --------------------------------------------------------------------------- the readers themselves


def _rec(i: int) -> bytes:
    return json.dumps({"id": i}).encode() + b"\n"


READER_CASES = [
    # (name, file name, bytes, ids kept, [(line, reason)] rejected)
    ("jsonl truncated last line", "a.jsonl", _rec(1) + _rec(2) + b'{"id": 3, "q": "cut o', [1, 2], [(3, "bad_json")]),
    (
        "jsonl bad encoding",
        "a.jsonl",
        _rec(1) + b'{"id": "' + BAD_BYTE + b'"}\n' + _rec(3),
        [1, 3],
        [(2, "bad_encoding")],
    ),
    (
        "jsonl wrong type",
        "a.jsonl",
        _rec(1) + b'["id", 2]\n"x"\n' + _rec(4),
        [1, 4],
        [(2, "not_a_record"), (3, "not_a_record")],
    ),
    ("jsonl blank lines and BOM", "a.jsonl", b"\xef\xbb\xbf" + _rec(1) + b"\n  \n" + _rec(2), [1, 2], []),
    ("json list with strings", "a.json", b'[{"id": 1},\n "two",\n {"id": 3}]', [1, 3], [(2, "not_a_record")]),
    ("json truncated", "a.json", b'[{"id": 1},\n {"id": 2},\n {"id": 3, "q": "cut', [1, 2], [(3, "bad_json")]),
    ("json stray character", "a.json", b'[{"id": 1}\n x {"id": 2}]', [1], [(2, "bad_json")]),
    ("json bad encoding", "a.json", b'[{"id": 1},\n{"id": 2, "q": "' + BAD_BYTE + b'"}]', [1], [(2, "bad_encoding")]),
    ("json keyed with a non-object", "a.json", b'{"k1": {"id": 1},\n "k2": 5}', [1], [(2, "not_a_record")]),
    ("csv bad encoding", "a.csv", b"id,q\n1,a\n2," + BAD_BYTE + b"\n3,c\n", ["1", "3"], [(3, "bad_encoding")]),
    ("csv extra fields", "a.csv", b"id,q\n1,a\n2,b,surplus\n", ["1"], [(3, "not_a_record")]),
]


@pytest.mark.parametrize(
    ("name", "file_name", "data", "kept", "rejected"), READER_CASES, ids=[c[0] for c in READER_CASES]
)
def test_a_reader_keeps_every_readable_record_and_names_each_bad_one(tmp_path, name, file_name, data, kept, rejected):
    path = tmp_path / file_name
    path.write_bytes(data)
    with collecting_unreadable() as log:
        ids = [rec["id"] for rec in iter_table_file(path)]
        notes = log.take()
    assert ids == kept
    assert [(entry.where, entry.reason) for entry in notes] == [(f"{path}:{line}", reason) for line, reason in rejected]


FILE_CASES = [
    # (name, file name, bytes or None for a missing file, expected message fragment)
    ("json empty", "a.json", b"", "expected a JSON list of records"),
    ("json scalar", "a.json", b"42", "expected a JSON list of records"),
    ("parquet that is not parquet", "a.parquet", b"PAR1 not really", "not a readable parquet file"),
    ("unknown suffix", "a.txt", b"x", "unsupported table format"),
    ("missing file", "a.jsonl", None, "cannot read the file"),
]


@pytest.mark.parametrize(("name", "file_name", "data", "message"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_a_file_level_problem_is_one_line_naming_the_file(tmp_path, name, file_name, data, message):
    path = tmp_path / file_name
    if data is not None:
        path.write_bytes(data)
    with collecting_unreadable(), pytest.raises(SourceError) as err:
        list(iter_table_file(path))
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_outside_a_build_the_first_unreadable_record_raises_with_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(_rec(1) + b"{oops\n")
    with pytest.raises(SourceError, match=r"a\.jsonl:2: not a JSON line"):
        list(iter_table_file(path))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("hf:nyu-visionx/CV-Bench", "nyu-visionx/CV-Bench"),
        ("hf:squad", "squad"),
        ("nyu-visionx/CV-Bench", "nyu-visionx/CV-Bench"),
    ],
)
def test_a_hugging_face_id_is_taken_only_when_it_is_clearly_one(source, expected):
    assert hf_id_of(source) == expected


@pytest.mark.parametrize(
    "source",
    ["data_missing/sat", "./nope", "/abs/nope", "nope", "owner/name/deeper", "owner/test.jsonl", "hf:bad id!"],
)
def test_a_missing_local_path_is_an_error_not_a_network_call(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data_missing").mkdir()  # a local folder named like the "owner": a typo'd local path
    with pytest.raises(SourceError) as err:
        hf_id_of(source)
    assert "\n" not in str(err.value)
    assert "folder ''" not in str(err.value)  # an absolute path has no "owner" to name


def test_an_existing_local_path_wins_over_the_hugging_face_reading(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert hf_id_of("owner/name") is None


# --------------------------------------------------------------------------- builders


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _cvbench_line(i: int, **overrides) -> bytes:
    rec = {"idx": i, "type": "2D", "task": "Count", "source": "ADE20K", "filename": "img/1.png",
           "question": f"How many chairs? ({i})", "choices": ["1", "2"], "answer": "(A)", **overrides}  # fmt: skip
    return json.dumps(rec).encode() + b"\n"


def _cvbench(tmp_path: Path, lines: bytes) -> list[str]:
    src = tmp_path / "cvbench"
    write_image(src / "img" / "1.png")
    (src / "test_2d.jsonl").write_bytes(lines)
    return ["--source", str(src / "test_2d.jsonl"), "--max-reject-share", "0.6"]


def _mmvp(tmp_path: Path, rows: bytes) -> list[str]:
    src = tmp_path / "MMVP"
    for i in (1, 2, 3):
        write_image(src / "MMVP Images" / f"{i}.jpg")
    (src / "Questions.csv").write_bytes(b"Index,Question,Options,Correct Answer\n" + rows)
    return ["--source", str(src), "--max-reject-share", "0.6"]


def _omni(tmp_path: Path, data: bytes) -> list[str]:
    src = tmp_path / "omni"
    write_image(src / "Perspective_Taking" / "7.png")
    (src / "data.json").write_bytes(data)
    return ["--source", str(src), "--max-reject-share", "0.6"]


def _omni_rec(qid: str, options) -> str:
    return json.dumps({"id": qid, "task_type": "Perspective_Taking", "question": "Where is the cup?",
                       "options": options, "answer": 0})  # fmt: skip


def _spatialsense(tmp_path: Path, data: bytes) -> list[str]:
    src = tmp_path / "spatialsense"
    write_image(src / "images" / "nyu" / "k.png", size=(64, 48))
    (src / "annotations.json").write_bytes(data)
    return ["--source", str(src), "--max-reject-share", "0.6"]


def _ss_image(ids: list[str]) -> str:
    rel = {"predicate": "on", "subject": {"name": "cup", "bbox": [1, 20, 2, 30]},
           "object": {"name": "table", "bbox": [5, 40, 1, 60]}, "label": True}  # fmt: skip
    anns = [{**rel, "_id": i} for i in ids]
    return json.dumps({"url": "nyu/k.png", "height": 48, "width": 64, "split": "test", "annotations": anns})


def _sat(tmp_path: Path, answers) -> list[str]:
    image = str(write_image(tmp_path / "sat" / "1.png"))
    rows = [
        {"question": "Is the box left?", "answers": ["yes", "no"], "correct_answer": "yes", "image_bytes": [image]},
        {"question": "Which way?", "answers": answers, "correct_answer": "L", "image_bytes": [image]},
    ]
    path = tmp_path / "sat" / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ["--source", str(path), "--split", "test", "--max-reject-share", "0.6"]


BUILDER_CASES = [
    # (name, module, source maker, payload, rc, source ids kept, [(where suffix, reason)] rejected)
    (
        "cvbench jsonl: truncated line, bad encoding, a list line",
        cvbench,
        _cvbench,
        _cvbench_line(0)
        + b'{"idx": 1, "type": "2D", "question": "ha\xff\xfe"}\n'
        + b"[1, 2]\n"
        + _cvbench_line(3)
        + _cvbench_line(4)
        + b'{"idx": 5, "type": "2D", "task": "Cou',
        0,
        ["0", "3", "4"],
        [("test_2d.jsonl:2", "bad_encoding"), ("test_2d.jsonl:3", "not_a_record"), ("test_2d.jsonl:6", "bad_json")],
    ),
    (
        "mmvp csv: a row that is not UTF-8",
        mmvp,
        _mmvp,
        b'1,Is it open?,"(a) Yes (b) No",(a)\n2,Is it \xff open?,"(a) Yes (b) No",(b)\n3,Is it shut?,"(a) Yes (b) No",(b)\n',
        0,
        ["1", "3"],
        [("Questions.csv:3", "bad_encoding")],
    ),
    (
        "omnispatial json: a string record and options given as a string",
        omnispatial,
        _omni,
        (
            "["
            + _omni_rec("7_0", ["left", "right"])
            + ',\n"just text",\n'
            + _omni_rec("7_1", "LR")
            + ",\n"
            + _omni_rec("7_2", ["up", "down"])
            + "]"
        ).encode(),  # fmt: skip
        0,
        ["7_0", "7_2"],
        [("data.json:2", "not_a_record"), ("7_1", "bad_field")],
    ),
    (
        "spatialsense json: truncated document",
        spatialsense,
        _spatialsense,
        ("[" + _ss_image(["a1", "a2"]) + ",\n" + _ss_image(["b1"]) + ",\n" + _ss_image(["c1"])[:40]).encode(),
        0,
        ["a1", "a2", "b1"],
        [("annotations.json:3", "bad_json")],
    ),
    (
        "spatialsense json: a list of strings",
        spatialsense,
        _spatialsense,
        ("[" + _ss_image(["a1"]) + ',\n"x",\n' + _ss_image(["c1"]) + "]").encode(),
        0,
        ["a1", "c1"],
        [("annotations.json:2", "not_a_record")],
    ),
    (
        "sat: answers given as one string",
        sat,
        _sat,
        "LR",
        0,
        None,
        [("test/1", "bad_field")],
    ),
]


@pytest.mark.parametrize(
    ("name", "module", "make", "payload", "rc", "kept", "rejected"), BUILDER_CASES, ids=[c[0] for c in BUILDER_CASES]
)
def test_builder_keeps_valid_rows_and_rejects_unreadable_records_with_file_and_line(
    tmp_path, name, module, make, payload, rc, kept, rejected
):
    args = make(tmp_path, payload)
    res = run_builder(module, tmp_path / "out.parquet", *args)
    assert res.rc == rc
    if kept is not None:
        assert sorted(r["extra_info"]["source_id"].rsplit("/", 1)[-1] for r in res.rows) == sorted(kept)
    else:
        assert [r["extra_info"]["source_id"] for r in res.rows] == ["test/0"]
    got = [(r["source_id"], r["reason"]) for r in res.rejects]
    assert len(got) == len(rejected), got
    for (where, reason), (suffix, expected_reason) in zip(got, rejected, strict=True):
        assert where.endswith(suffix) and reason == expected_reason, got
    for entry in res.rejects:
        if entry["reason"] in ("bad_json", "bad_encoding", "not_a_record"):
            assert str(tmp_path) in entry["source_id"]  # the full file path, then :line


def test_builder_with_choices_as_a_string_rejects_the_row_instead_of_splitting_it(tmp_path):
    from data_prep.schema import RowRejected, SpatialItem

    with pytest.raises(RowRejected) as err:
        SpatialItem("t", "Which side?", "LR", "L", [hf_image()]).to_row(0)
    assert err.value.reason == "bad_field"


BUILDER_FILE_CASES = [
    # (name, builder, argv maker, rc, message fragment)
    ("missing local path", cvbench, lambda t: ["--source", str(t / "no" / "such")], 2, "no such file or directory"),
    ("relative path typo", sat, lambda t: ["--source", "data_missing/sat"], 2, "no such file or directory"),
    # VGR asked for --image-dir (as for hub rows) instead of saying the local path is missing
    ("vgr missing local path", vgr, lambda t: ["--source", str(t / "no" / "such")], 2, "no such file or directory"),
    ("empty source", cvbench, lambda t: _cvbench(t, b"\n\n"), 2, "no records for split"),
    ("nothing readable at all", cvbench, lambda t: _cvbench(t, b"{oops\n"), 1, "rejected"),
    (
        "folder without the split",
        sat,
        lambda t: (t / "empty").mkdir() or ["--source", str(t / "empty")],
        2,
        "no table files for split",
    ),  # fmt: skip
    ("unreadable save_to_disk folder", sat, lambda t: _broken_saved(t), 2, "not a readable save_to_disk folder"),
]


def _broken_saved(tmp: Path) -> list[str]:
    (tmp / "saved").mkdir()
    (tmp / "saved" / "state.json").write_text("{truncated")
    return ["--source", str(tmp / "saved")]


@pytest.mark.parametrize(
    ("name", "module", "make", "rc", "message"), BUILDER_FILE_CASES, ids=[c[0] for c in BUILDER_FILE_CASES]
)
def test_builder_file_level_problem_is_one_error_line(tmp_path, monkeypatch, caplog, name, module, make, rc, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data_missing").mkdir()
    out = tmp_path / "out.parquet"
    assert module.main(["--out", str(out), *make(tmp_path)]) == rc
    errors = _errors(caplog)
    assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0], errors
    if rc == 2:
        assert not out.exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--max-reject-share", "2"),
        ("--max-reject-share", "nan"),
        ("--limit", "-1"),
        ("--limit", "0"),  # would build nothing and then report "no records"
        ("--row-group-size", "0"),
    ],
)
def test_builder_refuses_bad_arguments_with_one_usage_line(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        cvbench.main(["--out", str(tmp_path / "o.parquet"), "--source", str(tmp_path), flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err
    assert not (tmp_path / "o.parquet").exists()


def _out_is_a_folder(tmp: Path) -> Path:
    (tmp / "outdir").mkdir()
    return tmp / "outdir"


def _out_under_a_file(tmp: Path) -> Path:
    (tmp / "afile").write_text("x")
    return tmp / "afile" / "o.parquet"


OUT_CASES = [
    # (name, --out maker, message fragment): refused before any work, one line, nothing left behind
    ("out is a folder", _out_is_a_folder, "is a directory (expected the path of the file to write)"),
    ("out under a file", _out_under_a_file, "cannot create its folder"),
]


@pytest.mark.parametrize(("name", "make", "message"), OUT_CASES, ids=[c[0] for c in OUT_CASES])
@pytest.mark.parametrize("tool", ["synthetic", "mix", "difficulty_filter"])
def test_an_out_that_cannot_be_written_is_one_error_line_before_any_work(
    tmp_path, built, caplog, tool, name, make, message
):
    out = make(tmp_path)
    if tool == "synthetic":
        rc = synthetic.main(["--out", str(out), "--num", "3"])
    elif tool == "mix":
        rc = mix.main(["--inputs", str(built), "--out-train", str(out)])
    else:
        gens = tmp_path / "g.jsonl"
        gens.write_bytes(_gen_line(0))
        rc = difficulty_filter.main(["--data", str(built), "--generations", str(gens), "--out", str(out)])
    errors = _errors(caplog)
    assert rc == 2 and len(errors) == 1 and message in errors[0] and str(out) in errors[0], errors
    assert not list(tmp_path.rglob("*.partial")) and not Path(f"{out}.partial").exists()


def test_a_pixel_range_upside_down_is_a_usage_error_naming_both_flags(tmp_path, capsys):
    # It failed at the first row's token count, after the build had started, naming neither flag.
    argv = ["--out", str(tmp_path / "o.parquet"), "--num", "2", "--token-budget", "100"]
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main([*argv, "--min-pixels", "100000", "--max-pixels", "10"])
    assert exit_info.value.code == 2
    assert "--min-pixels 100000 exceeds --max-pixels 10" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("num", ["0", "-5", "2.5"])
def test_synthetic_refuses_a_count_below_one_instead_of_writing_nothing(tmp_path, capsys, num):
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main(["--out", str(tmp_path / "o.parquet"), "--num", num])
    assert exit_info.value.code == 2 and "argument --num: must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_rel3d_with_a_document_of_the_wrong_shape_is_one_line(tmp_path, caplog):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "all.json").write_text('["not", "splits"]')
    assert rel3d.main(["--out", str(tmp_path / "o.parquet"), "--source", str(tmp_path), "--split-file", "all"]) == 2
    assert "expected an object with a list of records under 'test'" in _errors(caplog)[0]


# --------------------------------------------------------------------------- mix


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mix") / "syn.parquet"
    assert synthetic.main(["--out", str(path), "--num", "6", "--seed", "1"]) == 0
    return path


MIX_CASES = [
    # (name, argv maker(tmp, built), message fragment)
    (
        "negative --num",
        lambda t, b: ["--inputs", str(b), "--out-train", str(t / "tr.parquet"), "--num", "-5"],
        "argument --num",
    ),  # fmt: skip
    (
        "same train and val path",
        lambda t, b: [
            "--inputs",
            str(b),
            "--out-train",
            str(t / "x.parquet"),
            "--out-val",
            str(t / "x.parquet"),
            "--val-share",
            "0.5",
        ],
        "are the same file",
    ),  # fmt: skip
    (
        "--out-val without --val-share",  # the README's quick start wrote an empty validation file, exit 0
        lambda t, b: ["--inputs", str(b), "--out-train", str(t / "tr.parquet"), "--out-val", str(t / "va.parquet")],
        "--out-val needs --val-share > 0",
    ),
    ("output over an input", lambda t, b: ["--inputs", str(b), "--out-train", str(b)], "is also an input"),
    ("huge weights", None, None),
    (
        "same input twice",
        lambda t, b: [
            "--inputs",
            str(b),
            f"{b.parent}/../{b.parent.name}/{b.name}:2",
            "--out-train",
            str(t / "o.parquet"),
        ],
        "more than once",
    ),  # fmt: skip
    (
        "wrong-schema parquet",
        lambda t, b: ["--inputs", str(_plain_parquet(t)), "--out-train", str(t / "o.parquet")],
        "not a data_prep row file",
    ),  # fmt: skip
    (
        "not parquet",
        lambda t, b: ["--inputs", str(_junk(t)), "--out-train", str(t / "o.parquet")],
        "not a readable parquet file",
    ),  # fmt: skip
    (
        "missing input",
        lambda t, b: ["--inputs", str(t / "none.parquet"), "--out-train", str(t / "o.parquet")],
        "no such file",
    ),  # fmt: skip
    ("empty input", lambda t, b: ["--inputs", str(_empty_rows(t)), "--out-train", str(t / "o.parquet")], "no rows"),
    (
        "reject share 2",
        lambda t, b: ["--inputs", str(b), "--out-train", str(t / "o.parquet"), "--max-reject-share", "2"],
        "argument --max-reject-share",
    ),  # fmt: skip
]


def _plain_parquet(tmp: Path) -> Path:
    path = tmp / "plain.parquet"
    pq.write_table(pa.Table.from_pylist([{"a": 1}, {"a": 2}]), path)
    return path


def _junk(tmp: Path) -> Path:
    path = tmp / "junk.parquet"
    path.write_bytes(b"definitely not parquet")
    return path


def _empty_rows(tmp: Path) -> Path:
    from data_prep.schema import ROW_SCHEMA

    path = tmp / "empty.parquet"
    pq.write_table(ROW_SCHEMA.empty_table(), path)
    return path


@pytest.mark.parametrize(
    ("name", "make", "message"), [c for c in MIX_CASES if c[1]], ids=[c[0] for c in MIX_CASES if c[1]]
)
def test_mix_refuses_bad_arguments_and_files_before_writing(tmp_path, built, caplog, capsys, name, make, message):
    argv = make(tmp_path, built)
    try:
        rc = mix.main(argv)
        text = " ".join(_errors(caplog))
        assert len(_errors(caplog)) == 1
    except SystemExit as exc:  # argparse's own one-line usage error
        rc, text = exc.code, capsys.readouterr().err
    assert rc == 2 and message in text, text
    assert "Traceback" not in text
    written = {p.name for p in tmp_path.iterdir()} - {"plain.parquet", "junk.parquet", "empty.parquet"}
    assert written == set(), written
    assert pq.ParquetFile(built).metadata.num_rows == 6  # an input is never overwritten


def test_mix_with_huge_weights_splits_by_their_ratio(tmp_path, built):
    out, twin = tmp_path / "o.parquet", tmp_path / "twin.parquet"
    twin.write_bytes(built.read_bytes())  # one file twice is refused: two draws would repeat its rows
    summary = mix.mix([mix.MixInput(built, 1e308), mix.MixInput(twin, 1e308)], out, None, 0.0, 6, 0)
    assert [item["taken"] for item in summary["inputs"]] == [3, 3]
    assert pq.ParquetFile(out).metadata.num_rows == 6


# --------------------------------------------------------------------------- difficulty filter


def _gen_line(index, response="<think>x</think><answer>A</answer>", source="synthetic") -> bytes:
    return json.dumps({"index": index, "data_source": source, "response": response}).encode() + b"\n"


def test_difficulty_filter_skips_hostile_rollout_lines_and_lists_them_with_file_and_line(tmp_path, built, caplog):
    rows = pq.read_table(built).to_pylist()
    right = [f"<answer>{r['extra_info']['answer']}</answer>" for r in rows]
    wrong = [f"<answer>{'B' if r['extra_info']['answer'] == 'A' else 'A'}</answer>" for r in rows]
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(
        _gen_line(0, right[0]) + _gen_line(0, wrong[0])  # item 0: mixed, kept
        + b'{"index": 1, "data_source": "synthetic", "response": "\xff"}\n'  # line 3: not UTF-8
        + _gen_line(3.7, right[3])  # line 4: a float index is not item 3
        + _gen_line(True, right[1])  # line 5: true is not item 1
        + _gen_line("2", right[2])  # line 6: a string index
        + b'{"index": 2, "data_so'  # line 7: truncated
    )  # fmt: skip
    out = tmp_path / "f.parquet"
    argv = [
        "--data",
        str(built),
        "--generations",
        str(gen),
        "--out",
        str(out),
        "--keep-share",
        "0",
        "--missing",
        "drop",
    ]
    assert difficulty_filter.main(argv) == 0
    kept = pq.read_table(out).to_pylist()
    assert [r["extra_info"]["index"] for r in kept] == [0]
    skipped = [json.loads(line) for line in (tmp_path / "f.parquet.skipped.jsonl").read_text().splitlines()]
    assert [(s["source_id"], s["reason"]) for s in skipped] == [
        (f"{gen}:3", "bad_encoding"),
        (f"{gen}:4", "bad_field"),
        (f"{gen}:5", "bad_field"),
        (f"{gen}:6", "bad_field"),
        (f"{gen}:7", "bad_json"),
    ]
    assert not _errors(caplog)


FILTER_CASES = [
    ("missing generations", lambda t, b: ["--data", str(b), "--generations", str(t / "none.jsonl")], "no such file"),
    (
        "wrong-schema data",
        lambda t, b: ["--data", str(_plain_parquet(t)), "--generations", str(_gens(t))],
        "not a data_prep row file",
    ),  # fmt: skip
    ("empty generations", lambda t, b: ["--data", str(b), "--generations", str(_gens(t, b""))], "no rollout matches"),
    (
        "out over the data",
        lambda t, b: ["--data", str(b), "--generations", str(_gens(t)), "--out-same-as-data"],
        "is also the --data file",
    ),  # fmt: skip
    (
        "keep share 2",
        lambda t, b: ["--data", str(b), "--generations", str(_gens(t)), "--keep-share", "2"],
        "argument --keep-share",
    ),  # fmt: skip
]


def _gens(tmp: Path, data: bytes | None = None) -> Path:
    path = tmp / "g.jsonl"
    path.write_bytes(_gen_line(0) if data is None else data)
    return path


@pytest.mark.parametrize(("name", "make", "message"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_difficulty_filter_file_problems_are_one_line(tmp_path, built, caplog, capsys, name, make, message):
    argv = make(tmp_path, built)
    if argv[-1] == "--out-same-as-data":
        argv = [*argv[:-1], "--out", str(built)]
    else:
        argv = [*argv, "--out", str(tmp_path / "f.parquet")]
    try:
        rc = difficulty_filter.main(argv)
        errors = _errors(caplog)
        assert len(errors) == 1
        text = errors[0]
    except SystemExit as exc:
        rc, text = exc.code, capsys.readouterr().err
    assert rc == 2 and message in text and "Traceback" not in text, text
    assert not (tmp_path / "f.parquet").exists()
    assert pq.ParquetFile(built).metadata.num_rows == 6


# --------------------------------------------------------------------------- real processes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "args", "rc", "fragment"),
    [
        ("data_prep.cvbench", ["--source", "missing_dir/cvbench"], 2, "no such file or directory"),
        ("data_prep.mix", ["--inputs", "x.parquet", "--out-train", "a.parquet", "--num", "-5"], 2, "--num"),
        ("data_prep.synthetic", ["--num", "1", "--max-reject-share", "2"], 2, "--max-reject-share"),
    ],
)
def test_a_real_process_exits_with_one_line_and_no_traceback(tmp_path, module, args, rc, fragment):
    (tmp_path / "missing_dir").mkdir()
    out = ["--out", str(tmp_path / "o.parquet")] if module != "data_prep.mix" else []
    proc = subprocess.run(
        [sys.executable, "-m", module, *out, *args],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == rc, proc.stderr
    assert "Traceback" not in proc.stderr and fragment in proc.stderr


# --------------------------------------------------------------------------- the JSON scanner agrees with json


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_records = st.dictionaries(st.text(max_size=6), _values, max_size=4)


@given(records=st.lists(_records, max_size=6), keyed=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_the_json_document_reader_yields_exactly_what_json_loads_reads(tmp_path_factory, records, keyed, indent):
    path = tmp_path_factory.mktemp("scan") / "doc.json"
    document = {f"k{i}": rec for i, rec in enumerate(records)} if keyed else records
    path.write_text(json.dumps(document, indent=indent), encoding="utf-8")
    expected = [{"_key": f"k{i}", **rec} for i, rec in enumerate(records)] if keyed else records
    with collecting_unreadable() as log:
        assert list(iter_table_file(path)) == expected
        assert log.take() == []
