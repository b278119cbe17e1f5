"""Choosing which server a judge request goes to.

Least-in-flight selection, round-robin among ties, so a slow server receives less work.
A server that fails a request (connection error, timeout, 429, 5xx) is *cooling down*
for ``cooldown_s · 2^(k−1)`` seconds after its k-th consecutive failure (capped at
``max_cooldown_s``) and is used only when no other server is available; when its cooldown
ends, one request probes it (the cooldown restarts at once, so a dead server never
receives a burst). A server that asks for a pause (``Retry-After`` on a 429 or 503) cools down
for at least that long. A retry avoids the servers that already failed that request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence


@dataclasses.dataclass(eq=False)
class Endpoint:
    """One server: its chat-completions URL and its health."""

    url: str
    in_flight: int = 0
    consecutive_failures: int = 0
    cooling_until: float = 0.0


class EndpointPool:
    """The servers behind one judge (see the module docstring for the selection rule)."""

    def __init__(self, urls: Sequence[str], cooldown_s: float = 1.0, max_cooldown_s: float = 30.0) -> None:
        if not urls:
            raise ValueError("a judge needs at least one base URL")
        self.endpoints = [Endpoint(url) for url in urls]
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._turn = 0

    def _cooldown(self, failures: int) -> float:
        return min(self.max_cooldown_s, self.cooldown_s * 2 ** (failures - 1))

    def pick(self, avoid: Sequence[Endpoint] = ()) -> Endpoint:
        """The server for the next attempt, preferring ones not in ``avoid`` and not cooling down."""
        now = time.monotonic()
        candidates = [e for e in self.endpoints if e not in avoid] or self.endpoints
        ready = [e for e in candidates if e.cooling_until <= now] or candidates
        self._turn += 1
        count = len(self.endpoints)
        chosen = min(ready, key=lambda e: (e.in_flight, (self.endpoints.index(e) - self._turn) % count))
        if chosen.consecutive_failures and chosen.cooling_until <= now:
            chosen.cooling_until = now + self._cooldown(chosen.consecutive_failures)
        return chosen

    @contextlib.contextmanager
    def lease(self, endpoint: Endpoint) -> Iterator[Endpoint]:
        """Count ``endpoint`` as busy for the duration of one attempt."""
        endpoint.in_flight += 1
        try:
            yield endpoint
        finally:
            endpoint.in_flight -= 1

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.consecutive_failures = 0
        endpoint.cooling_until = 0.0

    def failed(self, endpoint: Endpoint, retry_after_s: float | None = None) -> None:
        """Count a failure; ``retry_after_s`` (the server's own request to wait) lengthens the cooldown."""
        endpoint.consecutive_failures += 1
        cooldown = max(self._cooldown(endpoint.consecutive_failures), retry_after_s or 0.0)
        endpoint.cooling_until = time.monotonic() + cooldown
