"""data_prep.difficulty_filter: keep 0 < mean accuracy < 1, a seeded share of the rest, report missing items."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from data_prep import difficulty_filter, synthetic
from data_prep.schema import option_letters


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("dfilter") / "data.parquet"
    assert synthetic.main(["--out", str(path), "--num", "30", "--seed", "21"]) == 0
    return path


def _response(letter: str) -> str:
    return f"<think>The shapes say so.</think><answer>{letter}</answer>"


def _wrong(row) -> str:
    letters = option_letters(len(row["extra_info"]["choices"]))
    return next(letter for letter in letters if letter != row["extra_info"]["answer"])


@pytest.fixture(scope="module")
def generations(data, tmp_path_factory):
    """Items 0-9 half right, 10-19 always right, 20-24 always wrong, 25-29 without rollouts; plus noise lines."""
    rows = pq.read_table(data).to_pylist()
    lines = []
    for row in rows:
        i, right, wrong = row["extra_info"]["index"], row["extra_info"]["answer"], _wrong(row)
        if i < 10:
            picks = [right, wrong, wrong, right]
        elif i < 20:
            picks = [right] * 3
        elif i < 25:
            picks = [wrong, wrong]
        else:
            continue
        lines += [json.dumps({"index": i, "data_source": "synthetic", "response": _response(p)}) for p in picks]
    lines.insert(3, "{not json")
    lines.append(json.dumps({"index": 999, "data_source": "synthetic", "response": _response("A")}))
    lines.append(json.dumps({"index": 1, "data_source": "other_benchmark", "response": _response("A")}))
    path = tmp_path_factory.mktemp("gen") / "gen.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _kept(path) -> set[int]:
    return {e["index"] for e in pq.read_table(path).column("extra_info").to_pylist()}


def test_keeps_mixed_items_and_a_seeded_share_of_the_rest(data, generations, tmp_path):
    out = tmp_path / "kept.parquet"
    report = difficulty_filter.difficulty_filter(data, generations, out, keep_share=0.2, seed=1)
    kept = _kept(out)
    assert set(range(10)) <= kept  # every item with 0 < accuracy < 1
    # the rest: 10 all right + 5 all wrong + 5 without rollouts (default --missing rest) -> round(0.2 * 20) = 4
    assert len(kept - set(range(10))) == 4
    assert report["mixed"] == 10 and report["all_correct"] == 10 and report["all_wrong"] == 5
    assert report["without_rollouts"] == 5 and report["rest_pool"] == 20 and report["kept"] == 14
    assert report["mean_accuracy"] == pytest.approx((10 * 0.5 + 10 * 1.0) / 25)
    assert report["skipped_lines"] == {"malformed": 1, "unknown_item": 2}
    assert report["rollouts_per_item_min"] == 2 and report["rollouts_per_item_max"] == 4
    assert report["writer"]["written"] == 14
    # kept rows keep their index and their content
    source = {r["extra_info"]["index"]: r for r in pq.read_table(data).to_pylist()}
    for row in pq.read_table(out).to_pylist():
        assert row == source[row["extra_info"]["index"]]

    again = tmp_path / "again.parquet"
    difficulty_filter.difficulty_filter(data, generations, again, keep_share=0.2, seed=1)
    assert _kept(again) == kept
    other = tmp_path / "other.parquet"
    difficulty_filter.difficulty_filter(data, generations, other, keep_share=0.2, seed=2)
    assert _kept(other) != kept and set(range(10)) <= _kept(other)


@pytest.mark.parametrize(("missing", "extra"), [("drop", 3), ("keep", 5 + 3)])
def test_missing_policy_decides_items_without_rollouts(data, generations, tmp_path, missing, extra):
    out = tmp_path / f"{missing}.parquet"
    report = difficulty_filter.difficulty_filter(data, generations, out, keep_share=0.2, seed=1, missing=missing)
    kept = _kept(out)
    assert len(kept) == 10 + extra  # round(0.2 * 15) = 3 drawn from the 15 judged items
    assert (set(range(25, 30)) <= kept) == (missing == "keep")
    assert report["rest_pool"] == 15


def test_cli_fails_clearly_when_no_rollout_matches(data, tmp_path):
    gen = tmp_path / "g.jsonl"
    gen.write_text(json.dumps({"index": 0, "data_source": "mmvp", "response": "x"}) + "\n")
    code = difficulty_filter.main(
        ["--data", str(data), "--generations", str(gen), "--out", str(tmp_path / "o.parquet")]
    )
    assert code == 2
    assert not (tmp_path / "o.parquet").exists()


def test_cli_writes_the_filtered_file(data, generations, tmp_path):
    out = tmp_path / "cli.parquet"
    args = ["--data", str(data), "--generations", str(generations), "--out", str(out), "--keep-share", "0"]
    assert difficulty_filter.main(args) == 0
    assert _kept(out) == set(range(10))
