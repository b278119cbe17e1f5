"""Judge bookkeeping: latency percentiles and per-judgement tallies."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fgrpo_verl.judges.stats import JudgeStats, JudgeTally, percentile

latencies = st.lists(st.floats(min_value=0.0, max_value=100.0, allow_nan=False), min_size=1, max_size=200)


@given(latencies, st.floats(min_value=0.0, max_value=1.0))
def test_percentile_is_the_linear_interpolated_quantile(values: list[float], q: float) -> None:
    expected = float(np.quantile(np.asarray(values), q, method="linear"))
    assert abs(percentile(values, q) - expected) <= 1e-9 * max(1.0, abs(expected))


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 0.95) == 0.0


def test_latency_window_keeps_the_most_recent_calls() -> None:
    stats = JudgeStats(window=3)
    for seconds in (100.0, 1.0, 2.0, 3.0):
        stats.add_latency(seconds)
    snapshot = stats.snapshot()
    assert snapshot["latency_p50_s"] == 2.0 and snapshot["latency_p95_s"] < 100.0


def test_counts_go_to_the_totals_and_to_the_tally() -> None:
    stats, tally = JudgeStats(), JudgeTally()
    stats.count("calls", tally)
    stats.count("retries", tally)
    stats.count("calls")
    assert tally == JudgeTally(calls=1, retries=1)
    assert stats.snapshot()["calls"] == 2 and stats.snapshot()["retries"] == 1
