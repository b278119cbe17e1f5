"""A judge behind an OpenAI-compatible ``/chat/completions`` API (vLLM, SGLang, verl's reward router, hosted APIs).

Transport: one ``aiohttp.ClientSession`` per event loop, created lazily on first use in
the running loop (and re-created if a later call comes from a different loop), with a
``TCPConnector`` limited to ``max_concurrency`` connections and an ``asyncio.Semaphore``
of the same size around every attempt, so the servers never see more than
``max_concurrency`` requests from this judge at once. Each attempt has a connect timeout
(``connect_timeout_s``, opening the socket) and a read timeout (``timeout_s``, waiting for the
reply); both start once the attempt holds its semaphore slot, so time queued behind the
concurrency limit never counts against them. (aiohttp, not httpx: against a
20 ms server httpx's async client was over 10x slower — see ``benchmarks/bench_judge.py``.)

One judgement:
1. the request body (model, messages with images as base64 data URLs, max_tokens,
   temperature) is serialised once; its SHA-256 is the cache key, so image bytes are
   hashed, never kept;
2. a cached verdict, or the result of an identical request already in flight, is returned
   as a cache hit;
3. otherwise attempts go to the servers chosen by :class:`EndpointPool`. Connection errors,
   timeouts, malformed response bodies, 429 and 5xx are retried up to ``max_retries``
   times on another server when there is one, after ``min(backoff_max_s, backoff_s·2^k)``
   seconds with jitter (half of it fixed, half uniform). A 429 or 503 with ``Retry-After``
   (seconds or an HTTP date) waits at least that long, up to ``retry_after_max_s``, and that
   server is not picked again before then. Other 4xx are not retried. A reply whose verdict cannot be
   parsed is asked again once;
4. a judgement that still has no verdict returns ``None`` and counts as a failure. No
   exception from the network or the server escapes.

Constrained decoding (``constrained_decoding``): the judges answer with a label alone, and a
server that supports it is asked to decode only one of the allowed labels — vLLM's structured
outputs, ``"structured_outputs": {"choice": [...]}`` (recent vLLM; the only form since 0.12),
or the older ``"guided_choice": [...]``. ``auto`` (default) starts with ``structured_outputs`` and,
when a server refuses that field with HTTP 400/422, asks that server again with
``guided_choice`` and then with no constraint, remembering what worked per server. Only an
error whose body names the field counts as a refusal (OpenAI: "Unrecognized request argument
supplied: structured_outputs"; pydantic: "Extra inputs are not permitted" at that field); any
other 4xx stays a client error. A server
that silently ignores the field still gets a label-only prompt, and the parser accepts only
an explicit label.

The API key is sent only as ``Authorization: Bearer …``; it is not shown by ``repr``,
logged, put in exceptions or in stats. Server error bodies are redacted (the key, any cut-off
fragment of it, any ``Bearer``/``Basic`` value) *before* they are shortened for a log line.
A base URL with ``user:password@`` is refused (``judges.redaction.check_judge_url``).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import random
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from fgrpo_verl.judges.base import Judge
from fgrpo_verl.judges.cache import LRUCache
from fgrpo_verl.judges.endpoints import Endpoint, EndpointPool
from fgrpo_verl.judges.images import EncodedImages, image_data_urls
from fgrpo_verl.judges.parsing import CONSISTENCY_LABELS, GROUNDING_LABELS, parse_verdict
from fgrpo_verl.judges.prompts import consistency_messages, grounding_messages
from fgrpo_verl.judges.redaction import check_judge_url, redact, redact_url
from fgrpo_verl.judges.stats import JudgeTally

logger = logging.getLogger(__name__)

_JSON_HEADERS = {"Content-Type": "application/json"}

#: ``constrained_decoding`` settings; ``auto`` tries them in this order per server (see the module docstring).
CONSTRAINED_DECODING_MODES: tuple[str, ...] = ("auto", "structured_outputs", "guided_choice", "off")
_AUTO_ORDER = ("structured_outputs", "guided_choice", "off")


class _Secret:
    """Holds the API key so that printing the judge (or its ``__dict__``) never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def reveal(self) -> str | None:
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with the key masked (a server may echo request headers in an error body)."""
        return redact(text, self._value)

    def __repr__(self) -> str:
        return "<set>" if self._value else "<unset>"


class _Transient(Exception):
    """An attempt failed in a way worth retrying (message names the server and the reason)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class _Fatal(Exception):
    """An attempt failed in a way another attempt cannot fix (a 4xx other than 429)."""

    def __init__(self, reason: str, status: int = 0, body: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.body = body  # the (redacted) error body, to tell a refused constraint field from other 4xx


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), else None."""
    value = str(headers.get("Retry-After", "")).strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIJudge(Judge):
    """LLM/VLM judge over the chat-completions API; see the module docstring for the request life cycle.

    ``base_url``: one base URL or a list (each like ``http://host:8000/v1``; requests go to
    ``{base_url}/chat/completions``). ``backoff_s`` / ``backoff_max_s`` shape the retry delays.
    A subclass asks other questions through the same transport, cache and stats with
    ``await self._judge(messages, labels, tally)`` (the verdict label or ``None``).
    ``image_max_pixels``: images are downscaled to at most this many pixels before they are sent
    (``None`` sends them as they are); :meth:`prepare_images` encodes a rollout's images once.
    ``last_failure`` holds the reason of the most recent failed judgement (credentials redacted).
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        api_key: str | None = None,
        max_concurrency: int = 64,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        cache_size: int = 20000,
        max_tokens: int = 16,
        temperature: float = 0.0,
        *,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        connect_timeout_s: float = 10.0,
        retry_after_max_s: float = 60.0,
        image_max_pixels: int | None = None,
        constrained_decoding: str = "auto",
    ) -> None:
        super().__init__()
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls or not all(isinstance(u, str) for u in urls):
            shown = [redact_url(u) if isinstance(u, str) else u for u in urls]
            raise ValueError(f"base_url must be an http(s) URL or a non-empty list of them, got {shown!r}")
        for position, url in enumerate(urls):
            check_judge_url(url, f"judge base_url #{position}")
        if constrained_decoding not in CONSTRAINED_DECODING_MODES:
            raise ValueError(
                f"constrained_decoding must be one of {list(CONSTRAINED_DECODING_MODES)}, got {constrained_decoding!r}"
            )
        if max_concurrency < 1 or max_retries < 0 or timeout_s <= 0 or connect_timeout_s <= 0:
            raise ValueError(
                f"need max_concurrency >= 1, max_retries >= 0, timeout_s > 0, connect_timeout_s > 0; got "
                f"{max_concurrency}, {max_retries}, {timeout_s}, {connect_timeout_s}"
            )
        self.base_urls = [u.rstrip("/") for u in urls]
        self.model = model
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        self.retry_after_max_s = retry_after_max_s
        self.image_max_pixels = image_max_pixels
        self.last_failure: str | None = None
        self.constrained_decoding = constrained_decoding
        # Per server: the constraint form its requests carry now (auto walks down _AUTO_ORDER on a 400/422).
        self._constraint: dict[str, str] = {}
        self._fell_back: set[str] = set()
        self._api_key = _Secret(api_key)
        self._pool = EndpointPool([f"{u}/chat/completions" for u in self.base_urls])
        self._cache: LRUCache[str, str] = LRUCache(cache_size)
        # Loop-bound state, (re)created by _session_for_running_loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._in_flight: dict[str, asyncio.Future[str | None]] = {}

    def __repr__(self) -> str:
        return (
            f"OpenAIJudge(base_url={self.base_urls!r}, model={self.model!r}, max_concurrency={self.max_concurrency}, "
            f"timeout_s={self.timeout_s}, max_retries={self.max_retries}, "
            f"constrained_decoding={self.constrained_decoding!r}, api_key={self._api_key!r})"
        )

    async def _consistency(
        self, question: str, think: str, answer: str, scene_graph: dict | str | None, tally: JudgeTally | None
    ) -> float | None:
        label = await self._judge(consistency_messages(question, think, answer), CONSISTENCY_LABELS, tally)
        return None if label is None else float(label == "YES")

    async def _ground_sentence(
        self,
        images: Sequence[Any] | None,
        question: str,
        context: str,
        sentence: str,
        scene_graph: dict | str | None,
        tally: JudgeTally | None,
    ) -> str | None:
        try:
            prepared = images if isinstance(images, EncodedImages) else EncodedImages(tuple(self._encode(images)))
        except (ValueError, OSError) as err:
            # A sample whose image cannot be read is not gradable: a counted, logged failure, not a crash.
            logger.warning("judge: cannot encode the sample's images (%s); grounding not applicable", err)
            self._stats.count("failures", tally)
            return None
        messages = grounding_messages(list(prepared.urls), question, context, sentence, box_frame=prepared.box_frame)
        return await self._judge(messages, GROUNDING_LABELS, tally)

    def _encode(self, images: Sequence[Any] | None) -> list[str]:
        return image_data_urls(images, max_pixels=self.image_max_pixels)

    async def prepare_images(self, images: Sequence[Any] | None, box_frame: tuple[int, int] | None = None) -> Any:
        """The images as :class:`EncodedImages` (downscaled, base64 data URLs), encoded once in a worker
        thread so that every sentence of a rollout reuses them; unreadable images are returned as given
        (each sentence then fails alone, counted)."""
        try:
            return EncodedImages(tuple(await asyncio.to_thread(self._encode, images)), box_frame)
        except (ValueError, OSError):
            return images

    async def _judge(
        self, messages: list[dict[str, Any]], labels: Sequence[str], tally: JudgeTally | None
    ) -> str | None:
        body = json.dumps(
            {"model": self.model, "messages": messages, "max_tokens": self.max_tokens, "temperature": self.temperature},
            ensure_ascii=False,
        ).encode("utf-8")
        # The labels are part of the question asked, the constraint form (per server) is not.
        key = hashlib.sha256(body + json.dumps(list(labels)).encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None:
            self._stats.count("cache_hits", tally)
            return cached
        session = await self._session_for_running_loop()
        twin = self._in_flight.get(key)
        if twin is not None:
            label = await asyncio.shield(twin)
            self._stats.count("cache_hits" if label is not None else "failures", tally)
            return label
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        label = None
        try:
            label = await self._request(session, body, labels, tally)
            if label is not None:
                self._cache.put(key, label)
            return label
        finally:
            self._in_flight.pop(key, None)
            future.set_result(label)

    async def _request(
        self, session: aiohttp.ClientSession, body: bytes, labels: Sequence[str], tally: JudgeTally | None
    ) -> str | None:
        self._stats.count("calls", tally)
        failed_on: list[Endpoint] = []
        transient_retries = 0
        asked_again = False
        while True:
            endpoint = self._pool.pick(avoid=failed_on)
            constraint = self._constraint_for(endpoint)
            try:
                content = await self._attempt(session, endpoint, _constrained(body, labels, constraint), tally)
            except _Transient as err:
                failed_on.append(endpoint)
                if transient_retries >= self.max_retries:
                    return self._fail(f"{err} (gave up after {transient_retries} retries)", tally)
                transient_retries += 1
                self._stats.count("retries", tally)
                delay = self._backoff(transient_retries, err.retry_after_s)
                logger.debug("judge: %s; retry %d in %.3fs", self._api_key.redact(str(err)), transient_retries, delay)
                await asyncio.sleep(delay)
                continue
            except _Fatal as err:
                if self._weaken_constraint(endpoint, constraint, err):
                    self._stats.count("retries", tally)
                    continue
                return self._fail(str(err), tally)
            self._keep_constraint(endpoint, constraint)
            label = parse_verdict(content, labels)
            if label is not None:
                return label
            if asked_again:
                return self._fail(
                    f"unparseable verdict twice, last reply {self._api_key.redact(content[:4000])[:120]!r}", tally
                )
            asked_again = True
            self._stats.count("retries", tally)

    async def _attempt(
        self, session: aiohttp.ClientSession, endpoint: Endpoint, body: bytes, tally: JudgeTally | None
    ) -> str:
        """One HTTP round trip; returns the reply's message content or raises _Transient / _Fatal."""
        assert self._semaphore is not None
        async with self._semaphore:
            with self._pool.lease(endpoint):
                started = time.perf_counter()
                try:
                    timeout = aiohttp.ClientTimeout(
                        total=None, sock_connect=self.connect_timeout_s, sock_read=self.timeout_s
                    )
                    async with session.post(
                        endpoint.url, data=body, headers=_JSON_HEADERS, timeout=timeout
                    ) as response:
                        if response.status != 200:
                            # Redact the whole body first: cutting it first could leave a fragment of the key.
                            error_body = self._api_key.redact(await response.text())
                            reason = f"{endpoint.url} answered HTTP {response.status}: {error_body[:200]!r}"
                            if response.status == 429 or response.status >= 500:
                                wait = _retry_after(response.headers) if response.status in (429, 503) else None
                                if wait is not None:
                                    wait = min(wait, self.retry_after_max_s)
                                self._pool.failed(endpoint, wait)
                                raise _Transient(reason, wait)
                            raise _Fatal(reason, response.status, error_body[:4000])
                        payload = await response.json(content_type=None)
                    content = payload["choices"][0]["message"]["content"]
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
                    self._pool.failed(endpoint)
                    detail = self._api_key.redact(f"{type(err).__name__} {err}")
                    raise _Transient(f"{endpoint.url} unreachable or too slow: {detail}") from None
                except (ValueError, KeyError, IndexError, TypeError) as err:
                    self._pool.failed(endpoint)
                    detail = self._api_key.redact(f"{type(err).__name__} {err}")
                    raise _Transient(f"{endpoint.url} sent a malformed body: {detail}") from None
                self._stats.add_latency(time.perf_counter() - started, tally)
                self._pool.succeeded(endpoint)
                return content if isinstance(content, str) else ""

    def _constraint_for(self, endpoint: Endpoint) -> str:
        if self.constrained_decoding != "auto":
            return self.constrained_decoding
        return self._constraint.get(endpoint.url, _AUTO_ORDER[0])

    def _weaken_constraint(self, endpoint: Endpoint, constraint: str, err: _Fatal) -> bool:
        """In ``auto`` mode, after a 400/422 whose body names the constraint field: use the next weaker form
        on this server from now on (True: ask again)."""
        refused = err.status in (400, 422) and constraint != "off" and constraint in err.body
        if self.constrained_decoding != "auto" or not refused:
            return False
        self._constraint[endpoint.url] = _AUTO_ORDER[_AUTO_ORDER.index(constraint) + 1]
        return True

    def _keep_constraint(self, endpoint: Endpoint, constraint: str) -> None:
        """A reply came back with ``constraint``: log once per server when ``auto`` had to fall back."""
        if self.constrained_decoding == "auto" and constraint != _AUTO_ORDER[0] and endpoint.url not in self._fell_back:
            self._fell_back.add(endpoint.url)
            logger.info("judge: %s does not take structured_outputs; using %r", endpoint.url, constraint)

    def _backoff(self, retry: int, retry_after_s: float | None) -> float:
        """``d = min(backoff_max_s, backoff_s·2^(retry−1))``, then ``d/2 + U(0, d/2)``; a server's
        Retry-After (already capped at ``retry_after_max_s``) wins if longer."""
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (retry - 1))
        delay = delay / 2 + random.uniform(0.0, delay / 2)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay

    def _fail(self, reason: str, tally: JudgeTally | None) -> None:
        self._stats.count("failures", tally)
        reason = self._api_key.redact(reason)
        self.last_failure = reason
        failures = self._stats.totals.failures
        # Powers of two: an outage shows up at once without one log line per rollout.
        if failures & (failures - 1) == 0:
            logger.warning("judge failure #%d: %s; the channel is not applicable for this rollout", failures, reason)
        else:
            logger.debug("judge failure #%d: %s", failures, reason)
        return None

    async def _session_for_running_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is loop and not self._session.closed:
            return self._session
        old_session, old_loop = self._session, self._loop
        headers = {}
        if self._api_key.reveal():
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        self._loop = loop
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_concurrency),
            headers=headers,
        )
        self._semaphore = asyncio.Semaphore(self.max_concurrency)
        self._in_flight = {}
        if old_session is not None and old_loop is not None:
            await _close_session(old_session, old_loop)
        return self._session

    async def aclose(self) -> None:
        """Close the HTTP session (from any loop); the judge stays usable and reopens on its next call."""
        session, loop = self._session, self._loop
        self._session, self._loop = None, None
        if session is not None and loop is not None:
            await _close_session(session, loop)


def _constrained(body: bytes, labels: Sequence[str], constraint: str) -> bytes:
    """``body`` (a serialised JSON object) with the constraint field for ``labels`` added; no re-serialisation."""
    if constraint == "structured_outputs":
        extra = {"structured_outputs": {"choice": list(labels)}}
    elif constraint == "guided_choice":
        extra = {"guided_choice": list(labels)}
    else:
        return body
    return body[:-1] + b", " + json.dumps(extra)[1:].encode("utf-8")


async def _close_session(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    """Close ``session``, which belongs to ``loop``, from whatever loop is running now."""
    if session.closed:
        return
    if loop is asyncio.get_running_loop():
        await session.close()
    elif loop.is_running():
        # That loop runs in another thread: close the session there.
        asyncio.run_coroutine_threadsafe(session.close(), loop)
    elif loop.is_closed():
        # Nothing can run on a closed loop: mark session and connector closed; sockets it still held
        # are freed by the garbage collector (call aclose() before closing a loop to avoid that).
        connector = session.connector
        session.detach()
        if connector is not None:
            await connector.close()
    else:
        # An idle loop: the close runs the next time that loop runs.
        loop.create_task(session.close())
