"""Judge client throughput against the loopback server (issue 3 benchmark).

N distinct consistency judgements (no cache hits) against a server that waits LATENCY
seconds before every reply, at concurrency C. The ideal wall time is ``N·LATENCY / C``; the
figure of merit is ``wall / ideal`` (target ≤ 2.0). For comparison, the same requests are
sent by a bare aiohttp client and, when httpx is installed, by httpx's async client (what
the ``openai`` SDK uses), all measured in this one run against the same server.

The server runs in its own process, as a real judge server would: in this process it would
share the GIL with the client and its CPU time would count against the client. The client's
CPU time per request is printed too; unlike wall time it does not depend on how busy the
machine is.

    python benchmarks/bench_judge.py [--requests 1000] [--concurrency 64] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp

from fgrpo_verl.judges import OpenAIJudge
from fgrpo_verl.judges.prompts import consistency_messages

QUESTION = "Is the red circle left or right of the blue square?\nOptions:\n(A) left\n(B) right"


def _think(i: int) -> str:
    return f"The red circle is at x={i}, the blue square at x={i + 100}. So the answer is (A)."


async def _judge_run(url: str, n: int, concurrency: int) -> None:
    judge = OpenAIJudge(url, "loopback", max_concurrency=concurrency, timeout_s=30.0)
    results = await asyncio.gather(*(judge.consistency(QUESTION, _think(i), "A") for i in range(n)))
    await judge.aclose()
    stats = judge.stats()
    if results.count(1.0) != n or stats["cache_hits"] or stats["failures"]:
        raise RuntimeError(f"judge run was not clean: {results.count(1.0)}/{n} YES, stats {stats}")


def _bodies(n: int) -> list[bytes]:
    return [
        json.dumps({"model": "loopback", "messages": consistency_messages(QUESTION, _think(i), "A")}).encode()
        for i in range(n)
    ]


async def _aiohttp_run(url: str, n: int, concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(body: bytes) -> None:
            async with semaphore, session.post(f"{url}/chat/completions", data=body, headers=headers) as resp:
                await resp.json()

        await asyncio.gather(*(one(b) for b in _bodies(n)))


async def _httpx_run(url: str, n: int, concurrency: int) -> None:
    import httpx

    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def one(body: bytes) -> None:
            async with semaphore:
                response = await client.post(f"{url}/chat/completions", content=body)
                response.json()

        await asyncio.gather(*(one(b) for b in _bodies(n)))


def _timed(run: Callable[[str, int, int], Awaitable[None]], url: str, n: int, concurrency: int) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) for one run."""
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run(url, n, concurrency))
    return time.perf_counter() - started, time.process_time() - cpu


@contextlib.contextmanager
def _server_process(latency_ms: float) -> Iterator[str]:
    """The loopback server in a child process; yields its base URL."""
    command = [
        sys.executable,
        "-m",
        "tests.support.loopback_server",
        "--port",
        "0",
        "--latency-ms",
        str(latency_ms),
    ]
    # The server lives in tests/support: run it from the repository root so that `tests` imports.
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        line = child.stdout.readline()
        if " at http" not in line:
            raise RuntimeError(f"loopback server did not start (said {line!r})")
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        child.terminate()
        child.wait(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--skip-httpx", action="store_true", help="skip the (slow) httpx comparison")
    args = parser.parse_args(argv)
    n, concurrency, latency = args.requests, args.concurrency, args.latency_ms / 1000
    ideal = n * latency / concurrency
    runs: list[tuple[str, Callable[[str, int, int], Awaitable[None]]]] = [
        ("OpenAIJudge (aiohttp)", _judge_run),
        ("bare aiohttp client", _aiohttp_run),
    ]
    if not args.skip_httpx:
        try:
            import httpx  # noqa: F401

            runs.append(("bare httpx AsyncClient", _httpx_run))
        except ImportError:
            print("httpx not installed: skipping its comparison")
    print(f"{n} consistency requests, concurrency {concurrency}, server latency {args.latency_ms:g} ms")
    print(f"ideal wall time N*latency/C = {ideal:.3f} s")
    with _server_process(args.latency_ms) as url:
        for name, run in runs:
            wall, cpu = _timed(run, url, n, concurrency)
            print(
                f"{name:<24} wall {wall:7.3f} s   wall/ideal {wall / ideal:6.2f}   client CPU {cpu / n * 1e3:.3f} ms/request"
            )


if __name__ == "__main__":
    main()
