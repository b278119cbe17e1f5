"""Fixtures of the demo tests: a small synthetic dataset, parsed, and the demo's scoring setup."""

from __future__ import annotations

import pytest

from fgrpo_verl.config import ImageConfig
from fgrpo_verl.demo.items import build_dataset, load_items


@pytest.fixture(scope="module")
def demo_items(tmp_path_factory: pytest.TempPathFactory):
    """36 synthetic questions (every question type occurs), written by the real builder and read back."""
    path = build_dataset(tmp_path_factory.mktemp("demo_items") / "synthetic.parquet", 36, 0)
    return load_items(path, ImageConfig())  # the frame of the demo's config (the recipe's default)
