"""A real chat-completions server on 127.0.0.1 that judges by rule and injects faults on request.

For tests and benchmarks (it lives in ``tests/support``, not in the package): it speaks ``POST /v1/chat/completions`` (plus
``GET /health`` and ``GET /v1/models``) over real HTTP, in a background thread with its own
event loop, on an ephemeral port::

    with LoopbackJudgeServer(latency_s=0.02, behaviours=["http_503", "ok"]) as server:
        judge = OpenAIJudge(server.url, "loopback")   # server.url == "http://127.0.0.1:PORT/v1"

Answers: for a consistency prompt (fenced REASONING and ANSWER, see ``judges.prompts``)
``Verdict: YES`` when the reasoning concludes the answer's option (``judges.conclusion``)
and ``Verdict: NO`` otherwise; for a grounding prompt ``Verdict: CORRECT``. A request the
server decodes under a constraint (below) gets the bare label instead.

Constrained decoding, ``structured_outputs=``: ``"vllm"`` (default; honours
``"structured_outputs": {"choice": [...]}`` like vLLM >= 0.12 and ignores ``guided_choice``),
``"legacy"`` (honours ``guided_choice`` and ignores ``structured_outputs``, like older vLLM),
``"strict"`` (HTTP 400 naming any field outside the plain OpenAI request, like OpenAI's API) or
``"ignore"`` (accepts and ignores both). ``constrained`` counts the requests decoded under a
constraint.

Behaviours, one per request: ``ok``; ``http_500``, ``http_503``, ``http_429``, ``http_400``
(error status with a JSON error body; 429 and 503 carry ``Retry-After: <retry_after_s>``, default 0;
400 echoes every request header, Authorization included, as some proxies do); ``hang`` (no reply
until ``hang_s`` passes or the server stops); ``garbage`` (HTTP 200 whose content names no
verdict); ``think_flood`` (HTTP 200 whose content is 30 000 ``<think>`` tags); ``broken_json``
(HTTP 200, truncated JSON body); ``drop`` (connection closed without a reply). Request *i* (counting from 0 since the last :meth:`script` call) gets
``behaviours[i]``; after the list ends, ``ok`` — or the list again with ``cycle=True`` — or,
with ``fault_rates``, a behaviour drawn from those probabilities by a seeded generator.
Every request first waits ``latency_s``.

Like vLLM: with ``api_key`` set, ``/v1/*`` answers HTTP 401 unless the request carries
``Authorization: Bearer <api_key>`` (``/health`` stays open); with ``strict_model=True``, a chat
request naming another model than ``model`` gets HTTP 404 ("model does not exist").

Counters: ``requests`` (chat-completion requests received), ``served`` (per behaviour),
``in_flight`` / ``max_in_flight``, ``authorizations`` (distinct Authorization headers seen),
``last_payload`` (the last request body that parsed as JSON) and, with ``record_payloads=True``,
``payloads`` (every such body, in arrival order).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from fgrpo_verl.judges.conclusion import concludes_answer
from fgrpo_verl.judges.prompts import unfence

BEHAVIOURS: tuple[str, ...] = (
    "ok", "http_500", "http_503", "http_429", "http_400", "hang", "garbage", "think_flood", "broken_json", "drop",
)  # fmt: skip
STRUCTURED_OUTPUT_MODES: tuple[str, ...] = ("vllm", "legacy", "strict", "ignore")
# The request fields of the plain OpenAI chat API this server knows; "strict" refuses any other.
_OPENAI_FIELDS = frozenset(
    {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stream", "stop",
     "seed", "response_format", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "user"}
)  # fmt: skip


def rule_verdict(messages: Sequence[Mapping[str, Any]]) -> str:
    """The reply text a rule-following judge gives to one of this project's judge prompts."""
    user = messages[-1].get("content", "") if messages else ""
    if isinstance(user, list):
        user = "\n".join(part.get("text", "") for part in user if isinstance(part, Mapping))
    reasoning, answer = unfence("REASONING", user), unfence("ANSWER", user)
    if reasoning is not None and answer is not None:
        verdict = "YES" if concludes_answer(unfence("QUESTION", user) or "", reasoning, answer) else "NO"
        return f"I compared the option the reasoning concludes with the answer.\nVerdict: {verdict}"
    if unfence("SENTENCE", user) is not None:
        return "The sentence describes the image.\nVerdict: CORRECT"
    return "This does not look like a judge prompt."


class LoopbackJudgeServer:
    """See the module docstring. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        behaviours: Sequence[str] = (),
        cycle: bool = False,
        fault_rates: Mapping[str, float] | None = None,
        seed: int = 0,
        latency_s: float = 0.0,
        hang_s: float = 30.0,
        model: str = "loopback-judge",
        port: int = 0,
        api_key: str | None = None,
        strict_model: bool = False,
        retry_after_s: float = 0.0,
        structured_outputs: str = "vllm",
        record_payloads: bool = False,
    ) -> None:
        if structured_outputs not in STRUCTURED_OUTPUT_MODES:
            raise ValueError(f"structured_outputs must be one of {STRUCTURED_OUTPUT_MODES}, got {structured_outputs!r}")
        self.structured_outputs = structured_outputs
        self.record_payloads = record_payloads
        self.payloads: list[dict[str, Any]] = []
        self.latency_s = latency_s
        self.api_key = api_key
        self.strict_model = strict_model
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.model = model
        self.port = port
        self._rng = random.Random(seed)
        self.fault_rates = dict(fault_rates or {})
        for name in self.fault_rates:
            _check_behaviour(name)
        self.script(behaviours, cycle=cycle)
        self.requests = 0
        self.served: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.authorizations: set[str] = set()
        self.last_payload: dict[str, Any] | None = None
        self.constrained = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """Base URL to give a judge: ``http://127.0.0.1:PORT/v1``."""
        if self._runner is None:
            raise RuntimeError("the loopback server is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, behaviours: Sequence[str], *, cycle: bool = False) -> None:
        """Play ``behaviours`` to the following requests, one each (see the module docstring)."""
        for name in behaviours:
            _check_behaviour(name)
        self._script = list(behaviours)
        self._cycle = cycle
        self._position = 0

    def reset_counters(self) -> None:
        self.requests = 0
        self.served.clear()
        self.max_in_flight = self.in_flight
        self.authorizations.clear()
        self.last_payload = None
        self.payloads.clear()
        self.constrained = 0

    def _next_behaviour(self) -> str:
        position = self._position
        self._position += 1
        if self._script and (position < len(self._script) or self._cycle):
            return self._script[position % len(self._script)]
        draw = self._rng.random()
        for name, rate in self.fault_rates.items():
            if draw < rate:
                return name
            draw -= rate
        return "ok"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if "Authorization" in request.headers:
            self.authorizations.add(request.headers["Authorization"])
        if not self._authorized(request):
            self.in_flight -= 1
            return _unauthorized()
        behaviour = self._next_behaviour()
        self.served[behaviour] += 1
        try:
            body = await request.read()
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            return await self._reply(request, behaviour, body)
        finally:
            self.in_flight -= 1

    async def _reply(self, request: web.Request, behaviour: str, body: bytes) -> web.StreamResponse:
        if behaviour.startswith("http_"):
            status = int(behaviour[5:])
            headers = {"Retry-After": f"{self.retry_after_s:g}"} if status in (429, 503) else None
            message = f"injected {status}"
            if status == 400:
                # Like some proxies, echo the request headers (credentials included): the client must not log them.
                message += f"; request headers: {dict(request.headers)}"
            return web.json_response({"error": {"message": message}}, status=status, headers=headers)
        if behaviour == "drop":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=200)
        if behaviour == "broken_json":
            return web.Response(
                status=200, text='{"choices": [{"message": {"content": "Verd', content_type="application/json"
            )
        if behaviour == "hang":
            assert self._stopping is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.hang_s)
        try:
            payload = json.loads(body)
            self.last_payload = payload
            if self.record_payloads:
                self.payloads.append(payload)
            messages = payload["messages"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": {"message": "body must be JSON with 'messages'"}}, status=400)
        if self.strict_model and payload.get("model") != self.model:
            message = f"The model `{payload.get('model')}` does not exist."
            return web.json_response({"error": {"message": message, "code": 404}}, status=404)
        unknown = sorted(set(payload) - _OPENAI_FIELDS)
        if self.structured_outputs == "strict" and unknown:
            message = f"Unrecognized request argument supplied: {', '.join(unknown)}"
            return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=400)
        choices = self._choices(payload)
        if behaviour == "garbage":
            content = "Lorem ipsum dolor sit amet."
        elif behaviour == "think_flood":
            content = "<think>" * 30_000
        else:
            content = rule_verdict(messages)
            if choices:
                self.constrained += 1
                label = content.rsplit(None, 1)[-1] if content.strip() else ""
                content = label if label in choices else choices[0]
        return web.json_response(
            {
                "id": f"loopback-{self.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": payload.get("model", self.model),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            }
        )

    def _choices(self, payload: Mapping[str, Any]) -> list[str]:
        """The labels this request may decode to, if this server honours the constraint it carries."""
        if self.structured_outputs == "vllm":
            spec = payload.get("structured_outputs")
            choices = spec.get("choice") if isinstance(spec, Mapping) else None
        elif self.structured_outputs == "legacy":
            choices = payload.get("guided_choice")
        else:
            choices = None
        return [str(c) for c in choices] if isinstance(choices, list) else []

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _unauthorized()
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _start_app(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def _stop_app(self) -> None:
        assert self._stopping is not None and self._runner is not None
        self._stopping.set()
        await self._runner.cleanup()

    def start(self) -> LoopbackJudgeServer:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("the loopback server is already running")
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_app())
            except BaseException as err:  # surfaced to the caller of start()
                failure.append(err)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="loopback-judge-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread = None
            raise RuntimeError("the loopback server could not start") from failure[0]
        return self

    def stop(self) -> None:
        """Stop serving (hanging requests are released) and join the thread."""
        if self._thread is None or self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop_app(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread, self._loop, self._runner = None, None, None

    def __enter__(self) -> LoopbackJudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _unauthorized() -> web.Response:
    return web.json_response({"error": "Unauthorized"}, status=401)


def _check_behaviour(name: str) -> None:
    if name not in BEHAVIOURS:
        raise ValueError(f"unknown loopback behaviour {name!r}; known: {', '.join(BEHAVIOURS)}")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tests.support.loopback_server --port 8000 [--latency-ms 20] [--fault http_503=0.1 ...]``"""
    parser = argparse.ArgumentParser(description="Serve a rule-based judge on 127.0.0.1 (for tests, benchmarks and local runs).")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every reply")
    parser.add_argument("--fault", action="append", default=[], metavar="BEHAVIOUR=RATE", help="random fault rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rates = {}
    for item in args.fault:
        name, _, rate = item.partition("=")
        rates[name] = float(rate)
    with LoopbackJudgeServer(
        latency_s=args.latency_ms / 1000, fault_rates=rates, seed=args.seed, port=args.port
    ) as server:
        print(f"serving a rule judge at {server.url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
