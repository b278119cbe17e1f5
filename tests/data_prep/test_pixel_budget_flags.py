"""``--min-pixels/--max-pixels`` reach the token estimate of ``--token-budget`` (the processor's image budget)."""

from __future__ import annotations

import json
import logging

from data_prep.synthetic import main


def _summary(caplog, tmp_path, *flags: str) -> dict:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="data_prep.cli"):
        assert main(["--out", str(tmp_path / "rows.parquet"), "--num", "3", "--token-budget", "150", *flags]) == 0
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("summary: "))
    return json.loads(line.removeprefix("summary: "))


def test_a_smaller_max_pixels_shrinks_the_image_tokens_and_the_prompts_over_budget(tmp_path, caplog):
    default = _summary(caplog, tmp_path)
    small = _summary(caplog, tmp_path, "--max-pixels", str(8 * 28 * 28))
    # 288x288 synthetic images: 100 image tokens at the default budget, at most 8 with the small one.
    assert default["max_prompt_tokens"] - small["max_prompt_tokens"] >= 90
    assert default["over_budget"] == 3 and small["over_budget"] == 0
