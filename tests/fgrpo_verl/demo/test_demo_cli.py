"""``fgrpo-verl demo`` and ``fgrpo-verl simulate`` end to end, and the command line's errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fgrpo_verl.cli import main
from fgrpo_verl.demo.report import fmt

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL = ["--num-questions", "12", "--prompts-per-step", "4", "--no-progress"]


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo_out")
    assert main(["demo", "--out", str(out), "--steps", "6", *SMALL]) == 0
    return out


def test_demo_writes_report_metrics_and_plots(short_demo):
    doc = json.loads((short_demo / "metrics.json").read_text())
    assert set(doc["runs"]) == {"grpo_t", "fgrpo"}
    for run in doc["runs"].values():
        assert len(run["series"]["step"]) == 6
        assert all(len(values) == 6 for values in run["series"].values())
    assert doc["dataset"]["num_questions"] == 12 and (short_demo / doc["dataset"]["path"]).is_file()
    assert doc["scoring"]["rollouts_scored"] == 12 * 4 * 3 * 2  # questions × styles × outcomes × phrasings
    for name in doc["figures"].values():
        assert (short_demo / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in (short_demo / "report.md").read_text()


def test_lambda_moves_only_in_the_fgrpo_run(short_demo):
    doc = json.loads((short_demo / "metrics.json").read_text())
    assert not any(key.startswith("fgrpo/lambda") for key in doc["runs"]["grpo_t"]["series"])
    fgrpo = doc["runs"]["fgrpo"]["series"]
    # compute, then update: the λ used at step t+1 is the one the update of step t produced
    assert fgrpo["fgrpo/lambda/consistency"][1:] == fgrpo["fgrpo/lambda_next/consistency"][:-1]


def _table_row(report: str, name: str) -> list[str]:
    line = next(line for line in report.splitlines() if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_report_numbers_are_the_metrics_json_numbers(short_demo):
    doc = json.loads((short_demo / "metrics.json").read_text())
    report = (short_demo / "report.md").read_text()
    constraints = doc["config"]["fgrpo"]["constraints"]
    for mode, name in (("grpo_t", "GRPO-T final"), ("fgrpo", "FGRPO final")):
        final = doc["runs"][mode]["final"]
        expected = [fmt(final["policy/accuracy"]), fmt(final["policy/inconsistency_rate"])]
        expected += [fmt(final[f"policy/constraint/{k}/mean"]) for k in constraints]
        expected += [fmt(final.get(f"lambda/{k}")) for k in constraints]
        assert _table_row(report, name) == expected
    summary = doc["summary"]
    for mode in ("grpo_t", "fgrpo"):
        for key in ("accuracy", "inconsistency_rate"):
            for when in ("initial", "final"):
                assert fmt(summary[mode][key][when]) in report
    paragraph = report.split("## What it shows", 1)[1].split("##", 1)[0]
    numbers = set(re.findall(r"\d+\.\d{3}", paragraph))
    assert numbers, paragraph
    known = {fmt(v) for v in _floats(doc["summary"])}
    assert numbers <= known, numbers - known


def _floats(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _floats(value)
    elif isinstance(node, float):
        yield node
    elif isinstance(node, int) and not isinstance(node, bool):
        yield float(node)


def test_simulate_sweeps_each_axis(tmp_path):
    args = ["simulate", "--out", str(tmp_path), "--steps", "5", *SMALL, "--eta", "0.01", "0.1"]
    assert main([*args, "--tau", "consistency=0.8,0.9"]) == 0
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert set(doc["axes"]) == {"eta", "tau_consistency"}
    eta_runs, tau_runs = doc["axes"]["eta"]["runs"], doc["axes"]["tau_consistency"]["runs"]
    assert [r["value"] for r in eta_runs] == [0.01, 0.1]
    # Early on consistency is below τ, so λ_C climbs, faster with a larger η and with a higher τ.
    moved = [r["final"]["lambda/consistency"] - 1.0 for r in eta_runs]
    assert 0 < moved[0] < moved[1]
    assert tau_runs[0]["final"]["lambda/consistency"] < tau_runs[1]["final"]["lambda/consistency"]
    assert [r["thresholds"]["consistency"] for r in tau_runs] == [0.8, 0.9]
    for axis in doc["axes"].values():
        for name in axis["figures"].values():
            assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    assert "## eta (`fgrpo.dual_lr`)" in (tmp_path / "report.md").read_text()


def test_help_lists_the_subcommands():
    result = subprocess.run([sys.executable, "-m", "fgrpo_verl.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "demo" in result.stdout and "simulate" in result.stdout


@pytest.mark.parametrize("command", ["demo", "simulate"])
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--out DIR" in out and "--tau" in out and "--lambda-max" in out


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo"], "the following arguments are required: --out"),
        (["demo", "--tau", "foo=0.5"], "unknown constraint 'foo'"),
        (
            ["demo", "--tau", "consistency=1.5"],
            r"argument --tau: τ of consistency must be a finite number in \[0, 1\], got 1.5",
        ),
        (["demo", "--tau", "consistency=0.8,0.9"], "one value per constraint here"),
        (["demo", "--tau", "consistency"], "expected CONSTRAINT=VALUE"),
        (["demo", "--tau", "consistency=0.9", "--tau", "consistency=0.8"], "sets a constraint twice"),
        (["demo", "--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
        (["demo", "--group-size", "1"], "group_size must be an integer >= 2"),
        (["demo", "--lambda-init", "9"], r"fgrpo.lambda_init.consistency must be a finite number in \[0, 5\]"),
        (["demo", "--eta", "-1"], "argument --eta: must be a finite number >= 0, got -1"),
        (["demo", "--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
        (["simulate", "--seed", "1e3"], "argument --seed: must be an integer >= 0, got '1e3'"),
        (["demo", "--policy-lr", "1e308"], r"argument --policy-lr: must be a finite number in \(0, 1000\], got 1e308"),
        (["demo", "--policy-lr", "inf"], r"argument --policy-lr: must be a finite number in \(0, 1000\], got inf"),
        (["simulate", "--lambda-max", "0"], "argument --lambda-max: must be a finite number > 0, got 0"),
        (["simulate", "--lambda-max", "nan"], "argument --lambda-max: must be a finite number > 0, got nan"),
        (["simulate", "--constraints", "consistency", "--tau", "spatial_grounding=0.5"], "not an enabled constraint"),
        (["simulate", "--tau", "consistency=0.8", "--tau", "consistency=0.9"], "one --tau only"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args, message, tmp_path, capsys):
    argv = [*args, "--out", str(tmp_path)] if args != ["demo"] else args
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not any(tmp_path.iterdir())  # nothing was started


def test_out_must_be_a_folder(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(SystemExit):
        main(["demo", "--out", str(target)])
    assert "exists and is not a folder" in capsys.readouterr().err
