"""Load that fits the server: per-worker concurrency from a run-wide total, timeouts that ignore the client's
own queue, Retry-After, and judge images downscaled and encoded once per rollout."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from fgrpo_verl.config import FGRPOConfig, JudgeConfig
from fgrpo_verl.judges import OpenAIJudge, build_judge
from fgrpo_verl.judges import openai_judge as openai_judge_module
from fgrpo_verl.judges.endpoints import EndpointPool
from fgrpo_verl.judges.images import downscale, downscaled_size, image_data_urls
from fgrpo_verl.rollout_scoring import RolloutScorer
from tests.support.loopback_server import LoopbackJudgeServer

QUESTION = "Is the red circle left or right of the blue square?\nOptions:\n(A) left\n(B) right"


def _consistency_many(judge: OpenAIJudge, n: int) -> list[float | None]:
    async def many():
        try:
            return await asyncio.gather(*(judge.consistency(QUESTION, f"x={i}. So (A).", "A") for i in range(n)))
        finally:
            await judge.aclose()

    return asyncio.run(many())


def _image(width: int, height: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def _decoded(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_each_worker_gets_its_share_of_the_total() -> None:
    config = JudgeConfig.from_dict({"backend": "openai", "urls": ["http://j:8000/v1"], "total_concurrency": 256})
    assert [config.concurrency_per_worker(n) for n in (1, 8, 100, 1000)] == [256, 32, 2, 1]
    assert build_judge(config, num_workers=8).max_concurrency == 32
    fixed = JudgeConfig.from_dict({"backend": "openai", "urls": ["http://j:8000/v1"], "max_concurrency": 5})
    assert build_judge(fixed, num_workers=8).max_concurrency == 5


def test_the_server_never_sees_more_than_the_workers_share() -> None:
    with LoopbackJudgeServer(latency_s=0.05) as server:
        config = JudgeConfig.from_dict({"backend": "openai", "urls": [server.url], "total_concurrency": 12})
        judge = build_judge(config, num_workers=4)
        assert _consistency_many(judge, 24) == [1.0] * 24
        assert server.max_in_flight == 3


def test_time_queued_behind_the_concurrency_limit_does_not_count_against_the_timeouts() -> None:
    # One request at a time, each taking 0.3 s of a 0.6 s read timeout: the fourth waits 0.9 s for its
    # slot first. A timeout that started before the slot was free would fail it.
    with LoopbackJudgeServer(latency_s=0.3) as server:
        judge = OpenAIJudge(server.url, "m", max_concurrency=1, timeout_s=0.6, max_retries=0)
        started = time.perf_counter()
        assert _consistency_many(judge, 4) == [1.0] * 4
        assert time.perf_counter() - started >= 1.2
        assert judge.stats()["failures"] == 0 and server.max_in_flight == 1


def test_a_server_that_does_not_answer_in_time_fails_the_attempt() -> None:
    with LoopbackJudgeServer(behaviours=["hang"], cycle=True, hang_s=5.0) as server:
        judge = OpenAIJudge(server.url, "m", timeout_s=0.2, max_retries=0)
        assert _consistency_many(judge, 1) == [None]
        assert "TimeoutError" in judge.last_failure


@pytest.mark.parametrize("status", ["http_503", "http_429"])
def test_retry_after_is_honoured(status: str) -> None:
    with LoopbackJudgeServer(behaviours=[status], retry_after_s=0.4) as server:
        judge = OpenAIJudge(server.url, "m", backoff_s=0.001, backoff_max_s=0.002)
        started = time.perf_counter()
        assert _consistency_many(judge, 1) == [1.0]
        assert time.perf_counter() - started >= 0.4
        assert judge.stats()["retries"] == 1


def test_retry_after_is_capped() -> None:
    with LoopbackJudgeServer(behaviours=["http_503"], retry_after_s=3600) as server:
        judge = OpenAIJudge(server.url, "m", backoff_s=0.001, retry_after_max_s=0.05)
        started = time.perf_counter()
        assert _consistency_many(judge, 1) == [1.0]
        assert time.perf_counter() - started < 60  # generous: only the hour-long wait must not happen


def test_retry_after_forms() -> None:
    parse = openai_judge_module._retry_after
    assert parse({"Retry-After": "7"}) == 7.0
    assert parse({"Retry-After": "-3"}) == 0.0
    in_30_s = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28.0 <= parse({"Retry-After": in_30_s}) <= 31.0
    assert parse({"Retry-After": "soon"}) is None and parse({}) is None


def test_a_server_asking_for_a_pause_cools_down_that_long() -> None:
    pool = EndpointPool(["http://a/v1/chat/completions", "http://b/v1/chat/completions"])
    first = pool.endpoints[0]
    pool.failed(first, retry_after_s=20.0)
    assert first.cooling_until - time.monotonic() > 19.0
    assert all(pool.pick() is pool.endpoints[1] for _ in range(5))


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(28 * 28, 4_000_000))
def test_downscaled_size_fits_and_keeps_the_aspect_ratio(width: int, height: int, max_pixels: int) -> None:
    w, h = downscaled_size(width, height, max_pixels)
    if width * height <= max_pixels:
        assert (w, h) == (width, height)
    else:
        assert w * h <= max_pixels and 1 <= w <= width and 1 <= h <= height
        scale = (max_pixels / (width * height)) ** 0.5
        if width * scale >= 1 and height * scale >= 1:  # no side clamped to 1 pixel: rounding only
            assert abs(w / h - width / height) <= width / height * (1 / h + 1 / w) + 1e-9


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_large_images_are_downscaled_small_ones_sent_unchanged(fmt: str, mime: str) -> None:
    big = _image(2000, 1000, fmt)
    (url,) = image_data_urls([big], max_pixels=100_000)
    assert url.startswith(f"data:{mime};base64,")
    assert _decoded(url).size == (447, 223)
    small = _image(300, 200, fmt)
    assert downscale(small, 100_000) is small
    with pytest.raises(ValueError, match="not PNG, JPEG"):
        image_data_urls([b"not an image at all"], max_pixels=100_000)


def test_a_rollouts_images_are_encoded_once_and_reused_for_every_sentence(monkeypatch) -> None:
    encodings = []
    real = openai_judge_module.image_data_urls

    def counting(images, max_pixels=None):
        encodings.append(max_pixels)
        return real(images, max_pixels=max_pixels)

    monkeypatch.setattr(openai_judge_module, "image_data_urls", counting)
    row = {
        "extra_info": {"index": 3, "question": "Where is the red circle?", "choices": ["left", "right"]},
        "reward_model": {"ground_truth": "A"},
        "images": [{"bytes": _image(1600, 1200, "PNG"), "path": ""}],
    }
    response = (
        "<think>The red circle is on the left. The blue square is on the right. "
        "The green triangle is above the square. So the answer is (A).</think><answer>A</answer>"
    )
    config = FGRPOConfig.from_dict({"constraints": ["semantic_grounding"], "judge": {"backend": "rule"}})
    with LoopbackJudgeServer() as server:
        judge = OpenAIJudge(server.url, "m", image_max_pixels=200_000)
        info = asyncio.run(RolloutScorer(config, judge).score(response, row))
        sent = server.last_payload["messages"][-1]["content"][0]["image_url"]["url"]
    assert info["semantic_grounding_mask"] == 1.0 and info["judge_calls"] >= 3
    assert encodings == [200_000]
    width, height = _decoded(sent).size
    assert width * height <= 200_000 and (width, height) == downscaled_size(1600, 1200, 200_000)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("total_concurrency", 0),
        ("max_concurrency", 0),
        ("connect_timeout_s", 0),
        ("image_max_pixels", 100),
        ("max_failure_rate", 1.5),
        ("patience", -1),
        ("patience", 2.5),
    ],
)
def test_bad_load_and_guard_settings_name_the_key(key: str, value: object) -> None:
    from fgrpo_verl.config import ConfigError

    with pytest.raises(ConfigError, match=f"fgrpo.judge.{key}"):
        JudgeConfig.from_dict({key: value})
