"""data_prep.mix: weighted counts, stratified validation split, unique re-indexing, determinism."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep import mix, synthetic
from data_prep.schema import ROW_SCHEMA, validate_row


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix_src")
    paths = {}
    for name, num, seed in (("a", 40, 11), ("b", 20, 12)):
        paths[name] = root / f"{name}.parquet"
        assert synthetic.main(["--out", str(paths[name]), "--num", str(num), "--seed", str(seed)]) == 0
    return paths


def _origin(row) -> str:
    return row["extra_info"]["source_id"].split("-")[1]  # synthetic-<seed>-<i>


def _read(path):
    return pq.read_table(path).to_pylist()


def test_largest_remainder_sums_to_total_and_stays_within_one():
    for total, weights in ((10, [1, 1, 1]), (7, [0.7, 0.3]), (0, [2, 5]), (101, [0.2, 0.5, 0.3])):
        counts = mix.largest_remainder(total, weights)
        assert sum(counts) == total
        for count, weight in zip(counts, weights, strict=True):
            assert abs(count - total * weight / sum(weights)) < 1


def test_parse_input_reads_weights_and_rejects_bad_ones():
    assert mix.parse_input("x.parquet:0.25") == mix.MixInput(Path("x.parquet"), 0.25)
    assert mix.parse_input("x.parquet").weight == 1.0
    with pytest.raises(ValueError):
        mix.parse_input("x.parquet:-1")


def test_mix_takes_weighted_counts_splits_val_by_source_and_reindexes(sources, tmp_path):
    train, val = tmp_path / "train.parquet", tmp_path / "val.parquet"
    args = ["--inputs", f"{sources['a']}:0.5", f"{sources['b']}:0.5", "--out-train", str(train)]
    args += ["--out-val", str(val), "--val-share", "0.1", "--seed", "4"]
    assert mix.main(args) == 0
    train_rows, val_rows = _read(train), _read(val)
    # Without --num the total is the largest no input runs short of: min(40 / 0.5, 20 / 0.5) = 40.
    assert Counter(_origin(r) for r in train_rows + val_rows) == {"11": 20, "12": 20}
    assert Counter(_origin(r) for r in val_rows) == {"11": 2, "12": 2}
    for rows, split in ((train_rows, "train"), (val_rows, "val")):
        assert [r["extra_info"]["index"] for r in rows] == list(range(len(rows)))
        assert {r["extra_info"]["split"] for r in rows} == {split}
        for row in rows:
            validate_row(row)
    ids = [r["extra_info"]["source_id"] for r in train_rows + val_rows]
    assert len(set(ids)) == len(ids)  # drawn without replacement, train and val disjoint
    assert pq.read_schema(train) == ROW_SCHEMA
    # Sources are interleaved rather than concatenated.
    assert len({_origin(r) for r in train_rows[:10]}) == 2

    again, again_val = tmp_path / "again.parquet", tmp_path / "again_val.parquet"
    assert mix.main([*args[:3], "--out-train", str(again), "--out-val", str(again_val), *args[7:]]) == 0
    assert again.read_bytes() == train.read_bytes() and again_val.read_bytes() == val.read_bytes()


def test_mix_refuses_to_oversample_unless_allowed(sources, tmp_path):
    out = tmp_path / "t.parquet"
    base = ["--inputs", f"{sources['a']}:1", f"{sources['b']}:1", "--out-train", str(out), "--num", "60"]
    assert mix.main(base) == 2  # b would need 30 rows, it has 20
    assert not out.exists()
    assert mix.main([*base, "--allow-repeat"]) == 0
    rows = _read(out)
    counts = Counter(r["extra_info"]["source_id"] for r in rows if _origin(r) == "12")
    assert sum(counts.values()) == 30 and len(counts) == 20  # one full pass plus 10 repeats
    assert [r["extra_info"]["index"] for r in rows] == list(range(60))


def test_mix_needs_an_output_for_a_validation_share(sources, tmp_path):
    assert (
        mix.main(["--inputs", str(sources["a"]), "--out-train", str(tmp_path / "t.parquet"), "--val-share", "0.2"]) == 2
    )
