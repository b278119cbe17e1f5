"""`compare` and `judge-agreement` on hostile files, and every subcommand's argument checks.

Each case ends with one line on stderr naming the file and the key or line (or, for a labels
line, a counted reject naming ``file:line`` while the other lines are kept), never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fgrpo_verl.evaluate.__main__ import main

HEADLINE = ("accuracy", "inconsistency_rate", "semantic_grounding", "spatial_grounding")


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _one_line_error(err: str) -> None:
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def _metrics(accuracy: float = 0.5, **overrides) -> dict:
    entry = {"accuracy": accuracy, "inconsistency_rate": 0.1, "semantic_grounding": None, "spatial_grounding": 0.3}
    return {"bench": {**entry, **overrides}, "average": {**entry, **overrides, "judge": "rule (offline RuleJudge)"}}


def _run_dir(root: Path, name: str, content: bytes | dict) -> Path:
    run = root / name
    run.mkdir()
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    (run / "metrics.json").write_bytes(data)
    return run


# name, metrics.json content, expected message (after the file name)
COMPARE_CASES = [
    ("truncated json", json.dumps(_metrics()).encode()[:40], "is not valid JSON (line 1 column"),
    ("empty file", b"", "is not valid JSON"),
    ("bad encoding", b'{"bench": {"accuracy": "\xff"}}', "is not UTF-8 text"),
    ("string metric", _metrics(accuracy="high"), "key bench.accuracy must be a number in [0, 1] or null, got 'high'"),
    ("list metric", _metrics(spatial_grounding=[0.1, 0.2]), "key bench.spatial_grounding must be a number"),
    ("bool metric", _metrics(accuracy=True), "key bench.accuracy must be a number"),
    ("huge metric", _metrics(accuracy=1e308), "key bench.accuracy must be a number in [0, 1]"),
    ("metric an int too large for a float", b'{"bench": {"accuracy": 1' + b"0" * 400 + b'}, "average": {}}',
     "key bench.accuracy must be a number in [0, 1]"),
    ("nan metric", b'{"bench": {"accuracy": NaN}, "average": {}}', "key bench.accuracy must be a number"),
    ("missing metric", {"bench": {"accuracy": 0.5}, "average": _metrics()["average"]}, "key bench.inconsistency_rate is missing"),
    ("benchmark not an object", {"bench": [0.5], "average": _metrics()["average"]}, "key bench must be an object"),
    ("no average", {"bench": _metrics()["bench"]}, "no 'average' object"),
    ("a list", [1, 2], "no 'average' object"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in COMPARE_CASES], ids=[c[0] for c in COMPARE_CASES])
def test_compare_names_the_file_and_key_of_a_bad_metrics_json(tmp_path, capsys, content, message):
    good = _run_dir(tmp_path, "good", _metrics())
    bad = _run_dir(tmp_path, "bad", content)
    out = tmp_path / "cmp"
    code, _, err = _run(capsys, ["compare", str(good), str(bad), "--out", str(out)])
    assert code == 1
    _one_line_error(err)
    assert f"{bad / 'metrics.json'}" in err and message in err
    assert not (out / "compare.md").exists()


def test_compare_missing_run_and_existing_out(tmp_path, capsys):
    good = _run_dir(tmp_path, "good", _metrics())
    other = _run_dir(tmp_path, "other", _metrics(accuracy=0.75))
    code, _, err = _run(capsys, ["compare", str(good), str(tmp_path / "nope"), "--out", str(tmp_path / "cmp")])
    assert code == 1 and f"run directory {tmp_path / 'nope'} does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run(capsys, ["compare", str(good), str(empty), "--out", str(tmp_path / "cmp")])
    assert code == 1 and f"{empty / 'metrics.json'} does not exist" in err

    out = tmp_path / "cmp"
    assert _run(capsys, ["compare", str(good), str(other), "--out", str(out)])[0] == 0
    first = json.loads((out / "compare.json").read_text())
    assert first["deltas"]["accuracy"]["bench"]["other"] == pytest.approx(25.0)
    code, _, err = _run(capsys, ["compare", str(other), str(good), "--out", str(out)])
    assert code == 1 and "already holds compare.md, compare.json, compare.png" in err
    assert json.loads((out / "compare.json").read_text()) == first  # refused: untouched
    assert _run(capsys, ["compare", str(other), str(good), "--out", str(out), "--overwrite"])[0] == 0
    assert json.loads((out / "compare.json").read_text())["runs"] == ["other", "good"]
    # The same judge scored both: no warning.
    assert "different judges" not in (out / "compare.md").read_text()


def _consistency(i: int, label: str = "YES", **extra) -> dict:
    return {
        "id": f"c{i}",
        "task": "consistency",
        "question": f"Scene {i}: is the cup left or right of the plate?",
        "choices": ["left", "right"],
        "think": "The cup is on the left. So the answer is (A).",
        "answer": "A",
        "label": label,
        **extra,
    }


def _grounding(i: int, **extra) -> dict:
    return {"id": f"g{i}", "task": "grounding", "question": "Where is the cup?", "sentence": "The cup is left.",
            "label": "CORRECT", **extra}  # fmt: skip


def _lines(*records: dict | bytes) -> bytes:
    return b"".join(r if isinstance(r, bytes) else (json.dumps(r) + "\n").encode() for r in records)


GOOD = [_consistency(0), _consistency(1, "NO"), _consistency(2)]

# name, labels file bytes, reject reasons (line order), ids kept
AGREEMENT_CASES = [
    ("image path is a number", _lines(*GOOD, _grounding(0, images=[5])), ["bad_record"], ["c0", "c1", "c2"]),
    ("image file missing", _lines(*GOOD, _grounding(0, images=["nope.png"])), ["missing_image"], ["c0", "c1", "c2"]),
    ("image path with a NUL byte", _lines(*GOOD, _grounding(0, images=["a\u0000.png"])), ["missing_image"],
     ["c0", "c1", "c2"]),
    ("images not a list", _lines(*GOOD, _grounding(0, images="a.png")), ["bad_record"], ["c0", "c1", "c2"]),
    ("choices a string", _lines(_consistency(9, choices="LR"), *GOOD), ["bad_record"], ["c0", "c1", "c2"]),
    ("truncated line", _lines(*GOOD, b'{"id": "c3", "task": "consis'), ["bad_json"], ["c0", "c1", "c2"]),
    ("bad encoding", _lines(GOOD[0], b'{"id": "c5", "question": "\xff"}\n', *GOOD[1:]), ["bad_encoding"],
     ["c0", "c1", "c2"]),
    ("unknown label", _lines(*GOOD, _consistency(4, "MAYBE")), ["bad_label"], ["c0", "c1", "c2"]),
    ("label of another type", _lines(*GOOD, _consistency(4, ["YES"])), ["bad_label"], ["c0", "c1", "c2"]),
    ("id of another type", _lines(*GOOD, {**_consistency(4), "id": {"x": 1}}), ["bad_record"], ["c0", "c1", "c2"]),
    ("not an object", _lines(*GOOD, b'["c4", "YES"]\n'), ["bad_record"], ["c0", "c1", "c2"]),
    ("unknown task", _lines(*GOOD, {**_consistency(4), "task": "vibes"}), ["bad_record"], ["c0", "c1", "c2"]),
    ("same id, same label", _lines(*GOOD, _consistency(1, "NO")), ["duplicate_id"], ["c0", "c1", "c2"]),
]  # fmt: skip


def _agree_argv(labels: Path, out: Path, *extra: str) -> list[str]:
    return ["judge-agreement", "--labels", str(labels), "--judge", "rule", "--out", str(out), "--no-progress", *extra]


@pytest.mark.parametrize(
    ("content", "reasons", "kept"), [c[1:] for c in AGREEMENT_CASES], ids=[c[0] for c in AGREEMENT_CASES]
)
def test_a_bad_labels_line_is_a_reject_naming_the_line_and_the_rest_is_judged(tmp_path, capsys, content, reasons, kept):
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(content)
    out = tmp_path / "agree"
    code, _, err = _run(capsys, _agree_argv(labels, out, "--max-reject-share", "0.5"))
    assert code == 0, err
    result = json.loads((out / "agreement.json").read_text())
    assert [row["id"] for row in result["judge_labels"]] == kept
    assert result["tasks"]["consistency"]["n"] == len(kept) and result["rejected_lines"] == len(reasons)
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects] == reasons
    lines = content.split(b"\n")
    for reject in rejects:
        path, number = reject["source_id"].rsplit(":", 1)
        assert path == str(labels) and lines[int(number) - 1].strip()

    # Under the default bound (5 %), one bad line of four fails the command: outputs written, one line.
    code, _, err = _run(capsys, _agree_argv(labels, tmp_path / "strict"))
    assert code == 1
    _one_line_error(err)
    assert f"1 of {len(kept) + 1} lines of {labels} rejected" in err
    assert (tmp_path / "strict" / "agreement.json").exists()


# name, labels file bytes (None: no file), expected message
AGREEMENT_FILE_CASES = [
    ("same id, opposite labels", _lines(*GOOD, _consistency(1, "YES")),
     "id 'c1' is labelled consistency NO on line 2 and consistency YES on line 4"),
    ("empty file", b"", "holds no labelled items"),
    ("only blank lines", b"\n\n", "holds no labelled items"),
    ("every line bad", b"nope\n[]\n", "none of the 2 lines"),
    ("missing file", None, "does not exist"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"), [c[1:] for c in AGREEMENT_FILE_CASES], ids=[c[0] for c in AGREEMENT_FILE_CASES]
)
def test_labels_file_level_problems_are_one_line_naming_the_file(tmp_path, capsys, content, message):
    labels = tmp_path / "labels.jsonl"
    if content is not None:
        labels.write_bytes(content)
    out = tmp_path / "agree"
    code, _, err = _run(capsys, _agree_argv(labels, out))
    assert code == 1
    _one_line_error(err)
    assert str(labels) in err and message in err
    assert not (out / "agreement.json").exists()


def test_judge_agreement_refuses_an_existing_out(tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(_lines(*GOOD))
    out = tmp_path / "agree"
    assert _run(capsys, _agree_argv(labels, out))[0] == 0
    code, _, err = _run(capsys, _agree_argv(labels, out))
    assert code == 1 and "already holds agreement.json, agreement.md, rejects.jsonl" in err
    assert _run(capsys, _agree_argv(labels, out, "--overwrite"))[0] == 0


# argv, a phrase of the one-line error (exit status 2: the arguments, before any file is read)
ARGUMENT_CASES = [
    (["score", "--data", "d.parquet", "--generations", "g.jsonl", "--out", "o"], "name the judge: --judge rule"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge-url", "http://j:8000/v1"],
     "--judge-url needs --judge-model"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--judge-model", "m"],
     "--judge-model applies to --judge-url only"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--judge-url", "http://j/v1"],
     "not allowed with argument"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--concurrency", "0"],
     "argument --concurrency: must be an integer >= 1, got 0"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--max-reject-share", "2"],
     "argument --max-reject-share: must be a finite number in [0, 1], got 2"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--max-reject-share", "nan"],
     "must be a finite number"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--judge-timeout", "-1"],
     "argument --judge-timeout: must be a finite number > 0, got -1"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--judge-retries", "x"],
     "argument --judge-retries: must be an integer >= 0, got 'x'"),
    (["score", "--data", "d", "--generations", "g", "--out", "o", "--judge", "rule", "--answer-judge-model", "m"],
     "--answer-judge-model applies only with --answer-judge"),
    (["score", "--data", "d", "--generations", "g", "--judge", "rule"], "the following arguments are required: --out"),
    (["generate", "--model", "m", "--data", "d", "--out", "g", "--max-tokens", "0"],
     "argument --max-tokens: must be an integer >= 1"),
    (["generate", "--model", "m", "--data", "d", "--out", "g", "--tp", "two"], "argument --tp: must be an integer"),
    (["generate", "--model", "m", "--data", "d", "--out", "g", "--gpu-memory-utilization", "1.5"],
     "argument --gpu-memory-utilization: must be a finite number in [0, 1], got 1.5"),
    (["judge-agreement", "--labels", "l", "--out", "o", "--judge", "rule", "--repeats", "0"],
     "argument --repeats: must be an integer >= 1"),
    (["judge-agreement", "--labels", "l", "--out", "o"], "name the judge"),
    (["judge-agreement", "--labels", "l", "--out", "o", "--judge", "rule", "--judge-temperature", "0.7"],
     "--judge-temperature applies to --judge-url only"),
    (["judge-agreement", "--labels", "l", "--out", "o", "--judge-url", "http://j/v1", "--judge-model", "m",
      "--judge-temperature", "-1"], "argument --judge-temperature: must be a finite number >= 0, got -1"),
    (["compare", "a", "b"], "the following arguments are required: --out"),
    (["--log-level", "loud", "compare", "a", "b", "--out", "o"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([], "the following arguments are required: command"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), ARGUMENT_CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in ARGUMENT_CASES])
def test_argument_errors_are_one_line_with_exit_status_2(capsys, argv, message):
    code, _, err = _run(capsys, argv)
    assert code == 2
    _one_line_error(err)
    assert message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "a", "--out", "o"], "compare needs at least two run directories"),
        (["compare", "a", "b", "--out", "o", "--names", "x"], "--names gives 1 names for 2 runs"),
        (["compare", "a", "b", "--out", "o", "--names", "x", "x"], "run names must be distinct"),
    ],
)
def test_compare_argument_problems_are_one_line(capsys, argv, message):
    code, _, err = _run(capsys, argv)
    assert code == 1
    _one_line_error(err)
    assert message in err


def test_generate_checks_its_inputs_before_loading_a_model(synthetic_parquet, tmp_path, capsys):
    import pyarrow.parquet as pq

    no_prompt = tmp_path / "no_prompt.parquet"
    pq.write_table(pq.read_table(synthetic_parquet).drop_columns(["prompt"]), no_prompt)
    argv = ["generate", "--model", "unused", "--out", str(tmp_path / "gen.jsonl"), "--data"]
    code, _, err = _run(capsys, [*argv, str(no_prompt)])
    assert code == 1 and f"{no_prompt} has no column prompt" in err
    code, _, err = _run(capsys, [*argv, str(tmp_path / "nope.parquet")])
    assert code == 1 and "nope.parquet does not exist" in err
    code, _, err = _run(capsys, ["generate", "--model", "m", "--out", str(tmp_path), "--data", synthetic_parquet])
    assert code == 1 and f"--out {tmp_path} is a directory" in err


def test_generate_help_shows_the_4096_token_default(capsys):
    code, out, _ = _run(capsys, ["generate", "--help"])
    assert code == 0
    assert "--max-tokens" in out and "default: 4096" in " ".join(out.split())
