"""`score --answer-judge`: free-form answers are decided by the judge model; its failures are counted, not wrong.

The judge model is a small HTTP server here: answer-judge prompts get YES when the fenced answer
contains the reference option's text and HTTP 503 when it contains "maybe"; every other prompt
(consistency, grounding) gets the loopback server's rule verdict.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pyarrow.parquet as pq
import pytest
from aiohttp import web

from fgrpo_verl.evaluate.__main__ import main
from fgrpo_verl.evaluate.answer_judge import free_form_answer
from fgrpo_verl.judges.prompts import unfence
from tests.support.loopback_server import rule_verdict


class AnswerServer:
    """A chat-completions server on 127.0.0.1 in a background thread (see the module docstring)."""

    def __init__(self) -> None:
        self.answer_prompts = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _chat(self, request: web.Request) -> web.Response:
        messages = (await request.json())["messages"]
        user = messages[-1]["content"]
        reference = unfence("REFERENCE", user) if isinstance(user, str) else None
        if reference is None:
            text = rule_verdict(messages)
        else:
            self.answer_prompts += 1
            answer = unfence("ANSWER", user).lower()
            if "maybe" in answer:
                return web.json_response({"error": {"message": "down"}}, status=503)
            option = re.compile(r"\b" + re.escape(reference.split(") ", 1)[1].lower()) + r"\b")
            text = "Verdict: YES" if option.search(answer) else "Verdict: NO"
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": text}}]})

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> AnswerServer:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def _other_option(extra: dict) -> str:
    right = ord(extra["answer"]) - ord("A")
    return extra["choices"][(right + 1) % len(extra["choices"])]


FORMS = {
    # kind: (answer text from the row, decided by the judge?, accuracy with the judge)
    "free_right": (lambda e: f"I pick the {e['answer_text']} one", True, 1.0),
    "free_wrong": (lambda e: f"I pick the {_other_option(e)} one", True, 0.0),
    "free_outage": (lambda e: f"maybe the {e['answer_text']} one", True, None),
    "letter_right": (lambda e: e["answer"], False, 1.0),
}


def test_answer_judge_decides_free_form_answers_only(synthetic_parquet, tmp_path):
    table = pq.read_table(synthetic_parquet).slice(0, 12)
    rows = table.to_pylist()
    subset = tmp_path / "subset.parquet"
    pq.write_table(table, subset)
    gen = tmp_path / "gen.jsonl"
    kinds = list(FORMS)
    expected_with, expected_without, judged = [], [], 0
    with open(gen, "w") as handle:
        for row in rows:
            extra = row["extra_info"]
            kind = kinds[extra["index"] % len(kinds)]
            make_answer, asks_judge, acc = FORMS[kind]
            answer = make_answer(extra)
            # The construction must be what it claims: free-form answers name no option.
            assert (free_form_answer(f"<answer>{answer}</answer>", extra["choices"]) is not None) == asks_judge
            judged += asks_judge
            expected_with.append(acc)
            expected_without.append(0.0 if asks_judge else acc)
            line = {
                "index": extra["index"],
                "data_source": "synthetic",
                "response": f"<think>x</think><answer>{answer}</answer>",
            }
            handle.write(json.dumps(line) + "\n")

    common = ["score", "--data", str(subset), "--generations", str(gen), "--judge-model", "m", "--no-progress"]
    with AnswerServer() as server:
        assert main([*common, "--judge-url", server.url, "--out", str(tmp_path / "plain")]) == 0
        assert server.answer_prompts == 0
        code = main(
            [
                *common,
                "--judge-url",
                server.url,
                "--judge-retries",
                "0",
                "--answer-judge",
                "--out",
                str(tmp_path / "aj"),
            ]
        )
        assert code == 0
        assert server.answer_prompts == judged

    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())["synthetic"]
    assert plain["accuracy"] == pytest.approx(sum(expected_without) / len(rows))
    with_judge = json.loads((tmp_path / "aj" / "metrics.json").read_text())["synthetic"]
    known = [a for a in expected_with if a is not None]
    assert with_judge["accuracy"] == pytest.approx(sum(known) / len(known))
    assert with_judge["accuracy_n"] == len(known)
    assert with_judge["issues"]["answer_judge_failures"] == expected_with.count(None)
    run = json.loads((tmp_path / "aj" / "run.json").read_text())
    assert run["answer_judge"] == "m" and run["answer_judge_stats"]["failures"] == expected_with.count(None)


def test_answer_judge_needs_a_judge_model(synthetic_parquet, tmp_path, capsys):
    gen = tmp_path / "gen.jsonl"
    gen.write_text("")
    code = main(
        [
            "score",
            "--data",
            synthetic_parquet,
            "--generations",
            str(gen),
            "--out",
            str(tmp_path / "o"),
            "--judge",
            "rule",
            "--answer-judge",
        ]
    )
    assert code == 2
    assert "--answer-judge needs a judge model" in capsys.readouterr().err
