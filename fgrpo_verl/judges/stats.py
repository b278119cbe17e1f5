"""Judge bookkeeping: event counters and a latency window.

Every judgement ends in exactly one outcome, counted once:
``flagged`` (policy text addressed the judge; no call made), ``cache_hits`` (answered from
the cache, or by an identical request already in flight), a successful call, or a
failure. ``calls`` counts judgements sent to the backend (one per judgement, however many
attempts it took); ``retries`` counts the extra attempts; ``failures`` counts judgements
that returned ``None``.

A :class:`JudgeTally` passed to a judge method receives the same increments as the judge's
totals for that one judgement (and the summed latency of its successful HTTP round trips), which is how a caller attributes counts to one rollout while
other rollouts are being judged concurrently.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque


@dataclasses.dataclass
class JudgeTally:
    """Event counts (see the module docstring for what each means) and call latency.

    ``latency_s`` sums the latencies of ``latency_n`` successful HTTP round trips.
    """

    calls: int = 0
    failures: int = 0
    retries: int = 0
    cache_hits: int = 0
    flagged: int = 0
    latency_s: float = 0.0
    latency_n: int = 0

    @property
    def mean_latency_s(self) -> float:
        """Mean latency of the successful round trips, 0.0 when there were none."""
        return self.latency_s / self.latency_n if self.latency_n else 0.0


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated ``q``-quantile (0 ≤ q ≤ 1) of ``values``; 0.0 for no values.

    With ``v`` sorted and ``r = q·(n−1)``: ``v[⌊r⌋] + (r − ⌊r⌋)·(v[⌈r⌉] − v[⌊r⌋])``.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


class JudgeStats:
    """Totals over a judge's life plus the latencies of its last ``window`` successful calls."""

    def __init__(self, window: int = 10000) -> None:
        self.totals = JudgeTally()
        self._latencies: deque[float] = deque(maxlen=window)

    def count(self, event: str, tally: JudgeTally | None = None) -> None:
        """Add one ``event`` (a :class:`JudgeTally` field name) to the totals and to ``tally``."""
        setattr(self.totals, event, getattr(self.totals, event) + 1)
        if tally is not None:
            setattr(tally, event, getattr(tally, event) + 1)

    def add_latency(self, seconds: float, tally: JudgeTally | None = None) -> None:
        """Record one successful round trip's latency (in the window and in ``tally``)."""
        self._latencies.append(seconds)
        if tally is not None:
            tally.latency_s += seconds
            tally.latency_n += 1

    def snapshot(self) -> dict[str, float]:
        """calls, failures, retries, cache_hits, flagged, latency_p50_s, latency_p95_s (0.0 before any call)."""
        latencies = list(self._latencies)
        stats: dict[str, float] = {
            field.name: getattr(self.totals, field.name)
            for field in dataclasses.fields(self.totals)
            if not field.name.startswith("latency")
        }
        stats["latency_p50_s"] = percentile(latencies, 0.50)
        stats["latency_p95_s"] = percentile(latencies, 0.95)
        return stats
