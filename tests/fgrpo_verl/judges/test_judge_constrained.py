"""Constrained decoding against loopback servers of each kind, and the time bound on a hostile reply."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from PIL import Image

from fgrpo_verl.config import ConfigError, JudgeConfig
from fgrpo_verl.judges import CONSISTENCY_LABELS, GROUNDING_LABELS, OpenAIJudge, build_judge
from tests.support.loopback_server import LoopbackJudgeServer

QUESTION = "Is the red circle left or right of the blue square?\n(A) left\n(B) right"
THINK_A = "The red circle is at x=10 and the blue square at x=200. So the answer is (A)."


def make_judge(url: str, **kwargs) -> OpenAIJudge:
    options = {"timeout_s": 5.0, "max_retries": 1, "backoff_s": 0.005, "backoff_max_s": 0.02}
    options.update(kwargs)
    return OpenAIJudge(url, "loopback", **options)


def consistency(judge: OpenAIJudge, answers: tuple[str, ...] = ("A",), think: str = THINK_A) -> list[float | None]:
    async def go():
        try:
            return [await judge.consistency(QUESTION, think, answer) for answer in answers]
        finally:
            await judge.aclose()

    return asyncio.run(go())


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_vllm_server_gets_a_structured_outputs_choice_and_a_small_max_tokens() -> None:
    with LoopbackJudgeServer(structured_outputs="vllm") as server:
        judge = make_judge(server.url)
        assert consistency(judge, ("A", "B")) == [1.0, 0.0]
        payload = server.last_payload
        assert payload["structured_outputs"] == {"choice": list(CONSISTENCY_LABELS)}
        assert "guided_choice" not in payload and payload["max_tokens"] <= 16
        assert server.constrained == 2 and server.requests == 2


def test_grounding_requests_constrain_to_the_grounding_labels() -> None:
    with LoopbackJudgeServer() as server:
        judge = make_judge(server.url)

        async def go():
            try:
                return await judge.ground_sentence([_png()], QUESTION, "", "The circle is red.")
            finally:
                await judge.aclose()

        assert asyncio.run(go()) == "CORRECT"
        assert server.last_payload["structured_outputs"] == {"choice": list(GROUNDING_LABELS)}
        assert server.constrained == 1


def test_legacy_vllm_takes_guided_choice_when_configured() -> None:
    with LoopbackJudgeServer(structured_outputs="legacy") as server:
        judge = make_judge(server.url, constrained_decoding="guided_choice")
        assert consistency(judge) == [1.0]
        assert server.last_payload["guided_choice"] == list(CONSISTENCY_LABELS)
        assert server.constrained == 1


def test_auto_falls_back_once_per_server_that_refuses_the_fields() -> None:
    with LoopbackJudgeServer(structured_outputs="strict") as server:
        judge = make_judge(server.url)
        assert consistency(judge, ("A",)) == [1.0]
        # structured_outputs -> 400, guided_choice -> 400, no constraint -> the answer.
        assert server.requests == 3 and server.constrained == 0
        assert judge.stats()["failures"] == 0
        server.reset_counters()
        assert consistency(judge, ("B",)) == [0.0]
        assert server.requests == 1  # remembered: this server gets plain requests now
        assert "structured_outputs" not in server.last_payload and "guided_choice" not in server.last_payload


def test_a_server_that_ignores_the_fields_still_yields_parsed_labels() -> None:
    with LoopbackJudgeServer(structured_outputs="ignore") as server:
        judge = make_judge(server.url)
        assert consistency(judge, ("A", "B")) == [1.0, 0.0]
        assert server.constrained == 0 and server.requests == 2


def test_forced_constraint_on_a_refusing_server_fails_without_fallback() -> None:
    with LoopbackJudgeServer(structured_outputs="strict") as server:
        judge = make_judge(server.url, constrained_decoding="structured_outputs")
        assert consistency(judge) == [None]
        assert server.requests == 1 and judge.stats()["failures"] == 1


def test_off_sends_no_constraint() -> None:
    with LoopbackJudgeServer() as server:
        judge = make_judge(server.url, constrained_decoding="off")
        assert consistency(judge) == [1.0]
        assert "structured_outputs" not in server.last_payload and server.constrained == 0


def test_a_400_unrelated_to_the_constraint_does_not_switch_it_off() -> None:
    with LoopbackJudgeServer(behaviours=["http_400"]) as server:
        judge = make_judge(server.url)

        async def go():
            try:
                first = await judge.consistency(QUESTION, THINK_A, "A")
                second = await judge.consistency(QUESTION, THINK_A, "B")
                return first, second
            finally:
                await judge.aclose()

        assert asyncio.run(go()) == (None, 0.0)
        # The 400's body does not name the field: a client error (no fallback, no retry); the constraint stays on.
        assert server.requests == 2 and server.constrained == 1
        assert "structured_outputs" in server.last_payload


def test_the_cache_does_not_depend_on_the_constraint_form() -> None:
    with LoopbackJudgeServer(structured_outputs="strict") as server:
        judge = make_judge(server.url)

        async def go():
            try:
                return [await judge.consistency(QUESTION, THINK_A, "A") for _ in range(2)]
            finally:
                await judge.aclose()

        assert asyncio.run(go()) == [1.0, 1.0]
        assert judge.stats()["cache_hits"] == 1 and server.requests == 3


def test_a_flood_of_think_tags_costs_no_more_than_the_timeouts() -> None:
    # The old parser needed ~100 s for this reply with timeout_s=2; the bound is a generous two attempts' worth.
    with LoopbackJudgeServer(behaviours=["think_flood"], cycle=True) as server:
        judge = make_judge(server.url, timeout_s=2.0)
        started = time.perf_counter()
        assert consistency(judge) == [None]  # asked twice (one re-ask for an unparseable reply), then a failure
        assert time.perf_counter() - started < 2 * 2.0
        assert server.requests == 2 and judge.stats()["failures"] == 1


def test_config_key_reaches_the_client() -> None:
    config = JudgeConfig.from_dict({"urls": ["http://judge:8000/v1"], "constrained_decoding": "guided_choice"})
    assert build_judge(config).constrained_decoding == "guided_choice"
    assert JudgeConfig().constrained_decoding == "auto" and JudgeConfig().max_tokens == 16
    with pytest.raises(ConfigError, match="fgrpo.judge.constrained_decoding"):
        JudgeConfig.from_dict({"constrained_decoding": "json"})
