"""Shared fixtures: GPU skipping, a local Ray on CPU, a tiny Qwen2.5-VL, synthetic data."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Tests never reach a hub: everything they load is built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# On a small shared CPU, intra-op threads only contend: tiny tensor ops run ~10x faster on one.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Shared, loaded machines make per-example deadlines flaky; CI (CI=true) also replays the same
# examples every run, so a red CI is always reproducible.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA (GPU-only test)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray on this machine's CPUs; verl's defaults ask for more CPUs than exist and hang."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Qwen2.5-VL with tiny dimensions, random weights and a locally built processor (no hub)."""
    from tests.support.tiny_qwen import build_tiny_qwen

    return str(build_tiny_qwen(tmp_path_factory.mktemp("tiny_qwen")))


@pytest.fixture(scope="session")
def synthetic_parquet(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small synthetic spatial dataset written by the real builder."""
    from data_prep import synthetic

    out = tmp_path_factory.mktemp("synthetic") / "synthetic.parquet"
    synthetic.main(["--out", str(out), "--num", "48", "--seed", "0"])
    return str(out)
