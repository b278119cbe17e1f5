"""Joining generations to rows: what counts as a usable line, ambiguous data, and errors that name their input."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from fgrpo_verl.evaluate.__main__ import main
from fgrpo_verl.evaluate.joins import iter_rows, read_generations


def test_generation_lines_need_source_integer_index_and_text_response(tmp_path):
    path = tmp_path / "gen.jsonl"
    lines = [
        {"index": 3.0, "data_source": "a", "response": "ok, 3.0 is index 3"},  # 1
        {"index": 3.5, "data_source": "a", "response": "x"},  # 2 malformed
        {"index": True, "data_source": "a", "response": "x"},  # 3 malformed
        {"index": "4", "data_source": "a", "response": "x"},  # 4 malformed
        {"index": 4, "data_source": "", "response": "x"},  # 6 malformed (line 5 is blank)
        {"index": 4, "data_source": "a", "response": None},  # 7 malformed
        {"index": 3, "data_source": "a", "response": "second"},  # 8 duplicate of line 1
        {"index": 3, "data_source": "b", "response": "other source", "rotation": 2},  # 9
    ]
    text = (
        "\n".join(json.dumps(line) for line in lines[:4]) + "\n\n" + "\n".join(json.dumps(line) for line in lines[4:])
    )
    path.write_text(text + "\n")
    index = read_generations(path)
    assert set(index.by_key) == {("a", 3), ("b", 3)}
    assert index.by_key[("a", 3)].response.startswith("ok") and index.by_key[("a", 3)].line == 1
    assert index.by_key[("b", 3)].rotation == 2
    assert index.issues.malformed_lines == [2, 3, 4, 6, 7] and index.issues.malformed_count == 5
    assert index.issues.duplicate_lines == {("a", 3): [8]}


def test_two_rows_with_one_key_stop_the_join_naming_both(synthetic_parquet, tmp_path):
    copy = tmp_path / "copy.parquet"
    pq.write_table(pq.read_table(synthetic_parquet).slice(5, 1), copy)
    with pytest.raises(ValueError, match=r"copy\.parquet row 0 .*\('synthetic', 5\).*synthetic\.parquet row 5"):
        list(iter_rows([synthetic_parquet, copy]))


def test_rotation_mismatch_is_counted_and_missing_inputs_are_named(synthetic_parquet, tmp_path, capsys):
    table = pq.read_table(synthetic_parquet).slice(0, 3)
    subset = tmp_path / "subset.parquet"
    pq.write_table(table, subset)
    gen = tmp_path / "gen.jsonl"
    rows = table.to_pylist()
    gen.write_text(
        "".join(
            json.dumps(
                {
                    "index": r["extra_info"]["index"],
                    "data_source": "synthetic",
                    "response": "<answer>A</answer>",
                    "rotation": n,
                }
            )
            + "\n"
            for n, r in enumerate(rows)
        )
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                "--data",
                str(subset),
                "--generations",
                str(gen),
                "--out",
                str(out),
                "--judge",
                "rule",
                "--no-progress",
            ]
        )
        == 0
    )
    issues = json.loads((out / "metrics.json").read_text())["synthetic"]["issues"]
    assert issues["rotation_mismatch"] == 2  # rows are not circular (rotation 0): lines 2 and 3 disagree
    missing = ["score", "--data", str(tmp_path / "nope.parquet"), "--generations", str(gen), "--out", str(out)]
    assert main([*missing, "--judge", "rule"]) == 1
    assert "nope.parquet does not exist" in capsys.readouterr().err
