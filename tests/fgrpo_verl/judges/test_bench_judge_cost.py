"""benchmarks/bench_judge_cost.py: its prefix-cache model, the Qwen-VL image-token rule and the --json contract."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "benchmarks" / "bench_judge_cost.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_judge_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prefix_cache_reuses_only_whole_leading_blocks(bench) -> None:
    cache = bench.PrefixCache(block_size=4)
    first = list(range(10))
    assert cache.serve(first) == 0
    assert cache.serve(first) == 8  # two full blocks; the last 2 tokens are no full block
    assert cache.serve(list(range(8))) == 7  # all cached, yet the last token is always computed
    assert cache.serve([99, *range(1, 10)]) == 0  # a different first token changes every block hash
    assert cache.serve([*range(4), 42, *range(5, 10)]) == 4


def test_lru_capacity_evicts_the_oldest_blocks(bench) -> None:
    cache = bench.PrefixCache(block_size=2, capacity_blocks=2)
    cache.serve([1, 2, 3, 4])
    cache.serve([5, 6, 7, 8])
    assert cache.serve([1, 2, 3, 4, 0]) == 0


def test_qwen3_vl_image_tokens(bench) -> None:
    assert bench.image_token_count(1280, 960, None) == 40 * 30  # 32x32 pixels per token
    assert bench.image_token_count(1280, 960, 1003520) == 36 * 27  # downscaled first, then smart_resize
    assert bench.image_token_count(640, 480, 1003520) == 20 * 15  # small images are sent as they are


def test_the_json_figures_meet_the_issue_targets() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", "--prompts", "6"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = done.stdout.strip().splitlines()
    result = json.loads(line)
    for key in ("calls_per_step", "prompt_tokens_per_step", "prefix_cached_share", "output_tokens_per_call"):
        assert key in result
    assert result["calls_per_step"] == result["consistency_calls"] + result["grounding_calls"] > 0
    assert result["consistency_calls"] == result["judged_rollouts"] <= result["rollouts"] == 30
    assert 0 < result["image_tokens_per_step"] < result["prompt_tokens_per_step"]
    assert result["output_tokens_per_call"] <= 8
    assert result["prefix_cached_share"] >= 0.5 > result["prefix_cached_share_before"]
    assert result["gpu_seconds_per_step"] < result["gpu_seconds_per_step_without_prefix_cache"]
