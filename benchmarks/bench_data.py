"""Synthetic data throughput and memory: rows/s and peak RSS for 1k and 10k rows, side by side.

    python benchmarks/bench_data.py [--sizes 1000 10000] [--seed 0]

Each size runs ``data_prep.synthetic`` (render, encode, validate, write in row groups) in a fresh
Python process that reports its own peak resident set size (``resource.getrusage``) and the wall time
of the build alone (imports excluded). The RSS ratio largest/smallest shows whether memory grows with
the number of rows; the target is <= 1.3 (row-group streaming keeps one group in memory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RSS_RATIO = 1.3

_CHILD = """
import json, resource, sys, time
from data_prep import synthetic
out, num, seed = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
code = synthetic.main(["--out", out, "--num", num, "--seed", seed, "--log-level", "WARNING"])
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"code": code, "seconds": seconds, "peak_rss_mib": peak_kib / 1024}))
"""


def run_one(num: int, seed: int, out_dir: Path) -> dict[str, float]:
    out = out_dir / f"synthetic_{num}.parquet"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(out), str(num), str(seed)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise RuntimeError(f"synthetic build of {num} rows exited {result['code']}: {proc.stderr[-2000:]}")
    result.update(rows=num, rows_per_s=num / result["seconds"], file_mib=out.stat().st_size / 2**20)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        results = [run_one(num, args.seed, Path(tmp)) for num in args.sizes]
    print(f"{'rows':>8} {'seconds':>9} {'rows/s':>8} {'peak RSS MiB':>13} {'file MiB':>9}")
    for r in results:
        print(
            f"{r['rows']:>8} {r['seconds']:>9.1f} {r['rows_per_s']:>8.1f} {r['peak_rss_mib']:>13.1f} {r['file_mib']:>9.1f}"
        )
    ratio = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
    verdict = "ok" if ratio <= TARGET_RSS_RATIO else "ABOVE TARGET"
    print(
        f"peak RSS ratio {results[-1]['rows']}/{results[0]['rows']} rows: {ratio:.3f} (target <= {TARGET_RSS_RATIO}: {verdict})"
    )
    return 0 if ratio <= TARGET_RSS_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
