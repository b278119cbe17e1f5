"""`score` on hostile files: every case ends in one line on stderr or counted rejects, never a traceback.

The rule (shared with data_prep): a generations line that cannot be read is a reject naming
``file:line`` (the valid lines are kept and scored); the exit status is 1 only when the rejected
share exceeds ``--max-reject-share``; a file-level problem is one line naming the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fgrpo_verl.evaluate.__main__ import main

ROWS = 4


@pytest.fixture(scope="module")
def small_parquet(synthetic_parquet, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "small.parquet"
    pq.write_table(pq.read_table(synthetic_parquet).slice(0, ROWS), out)
    return out


def _line(index: int, **extra) -> bytes:
    record = {"index": index, "data_source": "synthetic", "response": "<think>t</think><answer>A</answer>", **extra}
    return (json.dumps(record) + "\n").encode()


def _valid() -> bytes:
    return b"".join(_line(i) for i in range(ROWS))


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _score_argv(data, gen, out, *extra: str) -> list[str]:
    return ["score", "--data", *map(str, data), "--generations", str(gen), "--out", str(out), "--judge", "rule",
            "--no-progress", *extra]  # fmt: skip


# name, generations bytes, --max-reject-share, exit, reject reasons (in line order), rows with a generation
GENERATION_CASES = [
    ("truncated last line", _valid() + b'{"index": 9, "data_source": "synthetic", "resp', "0.5", 0, ["bad_json"], 4),
    ("bad encoding", _line(0) + b'{"index": 1, "data_source": "synthetic", "response": "\xff\xfe"}\n' + _line(2),
     "0.5", 0, ["bad_encoding"], 2),
    ("wrong types", _line(0) + b'{"index": "1", "data_source": "synthetic", "response": "x"}\n[1, 2]\n'
     + b'{"index": 2, "data_source": "synthetic", "response": 5}\n' + _line(3), "0.75", 0,
     ["bad_record", "bad_record", "bad_record"], 2),
    ("nested too deep", _line(0) + b"[" * 100_000 + b"\n", "0.5", 0, ["bad_json"], 1),
    ("above the bound", _line(0) + b"nope\n{}\n\"str\"\n", "0.05", 1, ["bad_json", "bad_record", "bad_record"], 1),
    ("blank lines are not lines", b"\n\n" + _valid() + b"\n  \n", "0.05", 0, [], 4),
]  # fmt: skip


@pytest.mark.parametrize(
    ("gen_bytes", "share", "code", "reasons", "generated"),
    [case[1:] for case in GENERATION_CASES],
    ids=[case[0] for case in GENERATION_CASES],
)
def test_bad_generation_lines_are_rejects_and_the_valid_lines_are_scored(
    small_parquet, tmp_path, capsys, gen_bytes, share, code, reasons, generated
):
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(gen_bytes)
    out = tmp_path / "out"
    rc, err = _run(capsys, _score_argv([small_parquet], gen, out, "--max-reject-share", share))
    assert rc == code
    # Outputs are written either way; the rows are all there, the valid lines joined.
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["synthetic"]["n"] == ROWS
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sum(s["generated"] for s in samples) == generated
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects] == reasons
    lines = gen_bytes.split(b"\n")
    for reject in rejects:
        path, number = reject["source_id"].rsplit(":", 1)
        assert path == str(gen) and lines[int(number) - 1].strip()  # names a real, non-blank line
    assert metrics["average"]["issues"]["malformed_lines"] == len(reasons)
    if code:
        assert len(err.strip().splitlines()) == 1
        assert f"{len(reasons)} of {len(reasons) + generated} lines of {gen} rejected" in err
        assert "--max-reject-share" in err and "rejects.jsonl" in err


def _drop_field(table: pa.Table, column: str, field: str) -> pa.Table:
    rows = table.to_pylist()
    for row in rows:
        del row[column][field]
    return pa.Table.from_pylist(rows)


def _file_cases(small: Path, tmp: Path) -> list[tuple[str, list[Path], Path, str]]:
    """(name, data paths, generations path, expected message) for file-level problems."""
    table = pq.read_table(small)
    gen = tmp / "gen.jsonl"
    gen.write_bytes(_valid())
    cases = []

    # Without reward_model, extra_info.answer is the scorer's fallback: only a file without both fails.
    no_answer = tmp / "no_answer.parquet"
    pq.write_table(_drop_field(table.drop_columns(["reward_model"]), "extra_info", "answer"), no_answer)
    cases.append(("no reward_model", [no_answer], gen, f"{no_answer} has no column reward_model.ground_truth"))

    no_choices = tmp / "no_choices.parquet"
    pq.write_table(_drop_field(table, "extra_info", "choices"), no_choices)
    cases.append(("no choices", [no_choices], gen, f"{no_choices} has no column extra_info.choices"))

    float_index = tmp / "float_index.parquet"
    rows = table.to_pylist()
    for row in rows:
        row["extra_info"]["index"] = float(row["extra_info"]["index"]) + 0.5
    pq.write_table(pa.Table.from_pylist(rows), float_index)
    cases.append(("float index", [float_index], gen, "column extra_info.index must hold integers"))

    truncated = tmp / "truncated.parquet"
    truncated.write_bytes(small.read_bytes()[: small.stat().st_size // 2])
    cases.append(("truncated parquet", [truncated], gen, f"{truncated} is not a readable parquet file"))

    text = tmp / "text.parquet"
    text.write_text("data_source,index\nsynthetic,0\n")
    cases.append(("not parquet", [text], gen, f"{text} is not a readable parquet file"))

    empty = tmp / "empty.parquet"
    pq.write_table(table.slice(0, 0), empty)
    cases.append(("no rows", [empty], gen, f"{empty} holds no rows"))

    cases.append(("missing data", [tmp / "nope.parquet"], gen, f"{tmp / 'nope.parquet'} does not exist"))
    cases.append(("directory as data", [tmp], gen, f"{tmp} is not a file"))
    cases.append(("same data twice", [small, small], gen, f"--data names {small} more than once"))
    cases.append(("missing generations", [small], tmp / "no.jsonl", f"{tmp / 'no.jsonl'} does not exist"))

    blank = tmp / "blank.jsonl"
    blank.write_text("\n \n")
    cases.append(("empty generations", [small], blank, f"{blank} holds no generation lines"))

    elsewhere = tmp / "elsewhere.jsonl"
    elsewhere.write_bytes(b"".join(_line(100 + i) for i in range(ROWS)))
    cases.append(("generations of other data", [small], elsewhere, "none of the 4 usable lines"))
    return cases


FILE_CASE_NAMES = [
    "no reward_model", "no choices", "float index", "truncated parquet", "not parquet", "no rows", "missing data",
    "directory as data", "same data twice", "missing generations", "empty generations", "generations of other data",
]  # fmt: skip


@pytest.mark.parametrize("name", FILE_CASE_NAMES)
def test_file_level_problems_are_one_line_naming_the_file(small_parquet, tmp_path, capsys, name):
    [(_, data, gen, message)] = [case for case in _file_cases(small_parquet, tmp_path) if case[0] == name]
    out = tmp_path / "out"
    rc, err = _run(capsys, _score_argv(data, gen, out))
    assert rc == 1
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    if name != "generations of other data":  # checked before any work: nothing written
        assert not (out / "metrics.json").exists()


def test_a_parquet_without_reward_model_but_with_the_answer_is_scored(small_parquet, tmp_path, capsys):
    # extra_info.answer is where the scorer falls back to: the rows are scored, not all wrong.
    data = tmp_path / "no_reward.parquet"
    pq.write_table(pq.read_table(small_parquet).drop_columns(["reward_model"]), data)
    gen = tmp_path / "gen.jsonl"
    rows = pq.read_table(data).to_pylist()
    gen.write_bytes(b"".join(_line(r["extra_info"]["index"], response=f"<answer>{r['extra_info']['answer']}</answer>")
                             for r in rows))  # fmt: skip
    rc, _ = _run(capsys, _score_argv([data], gen, tmp_path / "out"))
    assert rc == 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["synthetic"]["accuracy"] == 1.0


def test_an_existing_out_is_refused_before_any_work_unless_overwrite(small_parquet, tmp_path, capsys):
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(_valid())
    as_file = tmp_path / "taken"
    as_file.write_text("not a directory")
    rc, err = _run(capsys, _score_argv([small_parquet], gen, as_file))
    assert rc == 1 and f"--out {as_file} is an existing file" in err
    rc, err = _run(capsys, _score_argv([small_parquet], gen, as_file / "sub"))
    assert rc == 1 and f"--out {as_file / 'sub'}: cannot create the directory" in err

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # an unrelated file does not block the run
    assert _run(capsys, _score_argv([small_parquet], gen, out))[0] == 0
    before = (out / "metrics.json").read_text()
    (out / "metrics.json").write_text("{}")
    rc, err = _run(capsys, _score_argv([small_parquet], gen, out))
    assert rc == 1 and "already holds metrics.json" in err and "--overwrite" in err
    assert (out / "metrics.json").read_text() == "{}"  # refused: nothing replaced
    assert _run(capsys, _score_argv([small_parquet], gen, out, "--overwrite"))[0] == 0
    assert json.loads((out / "metrics.json").read_text()) == json.loads(before)
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"fgrpo: {judge: [", "is not valid YAML/JSON at line"),
        (b"fgrpo:\n  image: \xff\n", "is not UTF-8 text"),
        (b"- a list\n", "expected a mapping"),
    ],
    ids=["truncated yaml", "bad encoding", "not a mapping"],
)
def test_a_bad_config_file_is_one_line(small_parquet, tmp_path, capsys, content, message):
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(_valid())
    config = tmp_path / "config.yaml"
    config.write_bytes(content)
    rc, err = _run(capsys, _score_argv([small_parquet], gen, tmp_path / "out", "--config", str(config)))
    assert rc == 1 and message in err and str(config) in err and len(err.strip().splitlines()) == 1


def test_a_config_number_in_exponent_form_is_a_number_as_in_training(small_parquet, tmp_path, capsys):
    # PyYAML alone reads `1e1` as the string '1e1' (YAML 1.1); verl's OmegaConf reads a float.
    from fgrpo_verl.evaluate.runner import load_fgrpo_block

    config = tmp_path / "config.yaml"
    config.write_text("fgrpo:\n  judge:\n    timeout_s: 3e1\n    connect_timeout_s: 5E0\n  dual_lr: 5e-2\n")
    assert load_fgrpo_block(config) == {"judge": {"timeout_s": 30.0, "connect_timeout_s": 5.0}, "dual_lr": 0.05}
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(_valid())
    rc, err = _run(capsys, _score_argv([small_parquet], gen, tmp_path / "out", "--config", str(config)))
    assert rc == 0, err


def test_the_real_command_line_prints_one_line_and_no_traceback(small_parquet, tmp_path):
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(_valid())
    data = tmp_path / "bad.parquet"
    data.write_text("not parquet")
    result = subprocess.run(
        [sys.executable, "-m", "fgrpo_verl.evaluate", *_score_argv([data], gen, tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"{data} is not a readable parquet file" in result.stderr


def test_the_named_judge_is_shown_without_credentials():
    from fgrpo_verl.config import ConfigError, JudgeConfig
    from fgrpo_verl.evaluate.runner import judge_identity

    with pytest.raises(ConfigError, match="carries credentials") as refused:
        JudgeConfig.from_dict({"urls": ["http://user:secret@judge-0:8000/v1"], "model": "M"}, prefix="judge")
    assert "secret" not in str(refused.value)
    with pytest.raises(ConfigError, match="query string") as refused:  # a token there reached failure logs
        JudgeConfig.from_dict({"urls": ["http://judge-0:8000/v1?key=abc"], "model": "M"}, prefix="judge")
    assert "abc" not in str(refused.value)
    config = JudgeConfig.from_dict(
        {"urls": ["http://judge-0:8000/v1", "https://judge-1/v1"], "model": "M"}, prefix="judge"
    )
    identity = judge_identity(config)
    assert identity["urls"] == ["http://judge-0:8000/v1", "https://judge-1/v1"]
    assert identity["description"] == "M at http://judge-0:8000/v1, https://judge-1/v1"
    assert "secret" not in json.dumps(identity) and "abc" not in json.dumps(identity)
    rule = judge_identity(JudgeConfig.from_dict({"backend": "rule"}, prefix="judge"))
    assert rule["backend"] == "rule" and rule["model"] is None
