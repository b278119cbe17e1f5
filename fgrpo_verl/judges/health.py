"""Is the judge there, and does it judge? ``fgrpo-verl check-judge`` and the training start-up check.

For each endpoint (a base URL such as ``http://judge0:8000/v1``), :func:`check_endpoint` asks in order,
and stops at the first answer that makes the rest pointless:

1. **reachable** — ``GET {url}/models`` connects and answers within the connect/read timeouts;
2. **auth** — that request is not refused with HTTP 401/403 (the API key comes from the environment
   variable named by ``--api-key-env`` / ``fgrpo.judge.api_key_env``);
3. **model served** — the model list names ``model`` (otherwise the problem lists what is served);
   a server without ``/models`` (HTTP 404) skips this step;
4. **it judges** — one real consistency request and one real grounding request (a small generated
   image) through :class:`~fgrpo_verl.judges.OpenAIJudge`, exactly as training sends them, must each
   come back with a valid label.

Every problem is one line naming the endpoint (user-info and query string of the URL removed) and
its cause. :func:`startup_problems` is what the training driver runs before any worker starts
(:mod:`fgrpo_verl.preflight`): it refuses a mode that needs a judge when none is configured, refuses
a verl-served judge that verl would put to sleep, and checks every ``fgrpo.judge.urls`` endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from fgrpo_verl.checks import number_arg
from fgrpo_verl.judges.redaction import check_judge_url, redact_url

#: Set to 1 to skip the live endpoint check at training start-up (e.g. judges that start later).
SKIP_JUDGE_CHECK_ENV = "FGRPO_SKIP_JUDGE_CHECK"

_PROBE_QUESTION = "What colour is the square?\nOptions:\n(A) red\n(B) blue"
_PROBE_THINK = "The square in the picture is red. So the answer is (A)."


def _probe_image() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (220, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _served_models(url: str, api_key: str | None, connect_s: float, read_s: float) -> tuple[int, Any]:
    """``(status, parsed JSON or None)`` of ``GET {url}/models``; network errors propagate."""
    import aiohttp

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_s, sock_read=read_s)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"{url.rstrip('/')}/models", headers=headers) as response,
    ):
        try:
            payload = await response.json(content_type=None)
        except ValueError:
            payload = None
        return response.status, payload


async def check_endpoint(
    url: str,
    model: str,
    api_key: str | None,
    *,
    api_key_env: str = "FGRPO_JUDGE_API_KEY",
    connect_timeout_s: float = 10.0,
    timeout_s: float = 60.0,
) -> list[str]:
    """The problems of one endpoint (empty when it serves ``model`` and judges); see the module docstring."""
    import aiohttp

    from fgrpo_verl.judges.openai_judge import OpenAIJudge

    where = redact_url(url)

    def hide(text: str) -> str:
        return text.replace(api_key, "<redacted>") if api_key else text

    try:
        status, payload = await _served_models(url, api_key, connect_timeout_s, timeout_s)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
        return [f"{where}: unreachable ({type(err).__name__}: {hide(str(err)) or 'no reply'})"]
    if status in (401, 403):
        if api_key:
            return [f"{where}: refused the API key from ${api_key_env} (HTTP {status})"]
        return [f"{where}: wants an API key (HTTP {status}) and ${api_key_env} is not set"]
    listing_ok = isinstance(payload, dict) and isinstance(payload.get("data"), list)
    if status == 200 and listing_ok:  # a 200 without a model list (some proxies) skips to the judge request
        served = [str(m.get("id")) for m in payload["data"] if isinstance(m, dict)]
        if model not in served:
            listing = ", ".join(served) if served else "nothing"
            return [f"{where}: does not serve model {model!r}; it serves: {listing} (set fgrpo.judge.model / --model)"]
    elif status not in (200, 404):
        return [f"{where}: GET /models answered HTTP {status}"]

    judge = OpenAIJudge(
        url,
        model,
        api_key,
        max_concurrency=2,
        timeout_s=timeout_s,
        max_retries=0,
        cache_size=0,
        connect_timeout_s=connect_timeout_s,
    )
    problems = []
    try:
        verdict = await judge.consistency(_PROBE_QUESTION, _PROBE_THINK, "A")
        if verdict is None:
            problems.append(f"{where}: the consistency request got no valid label: {hide(judge.last_failure or '?')}")
        label = await judge.ground_sentence([_probe_image()], _PROBE_QUESTION, "", "The square is red.")
        if label is None:
            problems.append(
                f"{where}: the grounding request (with an image) got no valid label: {hide(judge.last_failure or '?')}"
            )
    finally:
        await judge.aclose()
    return problems


async def check_endpoints(urls: Sequence[str], model: str, api_key: str | None, **options: Any) -> list[str]:
    """The problems of all ``urls``, checked concurrently, in the order of ``urls``."""
    results = await asyncio.gather(*(check_endpoint(url, model, api_key, **options) for url in urls))
    return [problem for problems in results for problem in problems]


def startup_problems(config: Any, fgrpo: Any) -> list[str]:
    """Judge problems of a training config, each a paragraph starting ``fgrpo: ``; empty when fine.

    ``config`` is verl's composed config, ``fgrpo`` its parsed :class:`~fgrpo_verl.config.FGRPOConfig`.
    """
    from omegaconf import OmegaConf

    from fgrpo_verl.rollout_scoring import computed_channels, needs_judge

    channels = computed_channels(fgrpo)
    problems = []
    reward_model = OmegaConf.select(config, "reward.reward_model", default=None) or {}
    if reward_model.get("enable") and (reward_model.get("rollout") or {}).get("free_cache_engine", True):
        problems.append(
            "fgrpo: reward.reward_model.rollout.free_cache_engine=true puts the judge verl serves to sleep after "
            "start-up, and verl 0.9.1's trainer never wakes it when the judge has its own pool: every judge "
            "request would fail. Set reward.reward_model.rollout.free_cache_engine=false "
            "(+recipe=fgrpo_served_judge does)."
        )
    if not needs_judge(channels):
        return problems
    judge = fgrpo.judge
    judged = ", ".join(sorted(c for c in channels if c != "spatial_grounding"))
    if judge.backend == "auto" and not judge.urls:
        problems.append(
            f"fgrpo: fgrpo.mode={fgrpo.mode} needs a judge for {judged}, but none is configured "
            "(fgrpo.judge.urls is empty). Set fgrpo.judge.urls=[http://HOST:8000/v1] and fgrpo.judge.model "
            "(recipe/fgrpo/serve_judge.sh starts a server), let verl serve it with +recipe=fgrpo_served_judge, "
            "or set fgrpo.judge.backend=rule to train with the offline rule judge on purpose (it grounds "
            "sentences only on synthetic data with scene graphs)."
        )
    elif judge.backend == "router" and not reward_model.get("enable"):
        problems.append(
            "fgrpo: fgrpo.judge.backend=router asks the judge verl serves, but reward.reward_model.enable is false: "
            "compose +recipe=fgrpo_served_judge (or recipe/fgrpo/serve_judge.sh --verl-overrides), or give "
            "fgrpo.judge.urls with fgrpo.judge.backend=openai"
        )
    elif judge.resolved_backend == "openai" and os.environ.get(SKIP_JUDGE_CHECK_ENV) != "1":
        found = asyncio.run(
            check_endpoints(
                judge.urls,
                judge.model,
                judge.api_key(),
                api_key_env=judge.api_key_env,
                connect_timeout_s=judge.connect_timeout_s,
                timeout_s=judge.timeout_s,
            )
        )
        problems += [
            f"fgrpo: judge {problem} [fgrpo.judge.urls; {SKIP_JUDGE_CHECK_ENV}=1 skips this check]" for problem in found
        ]
    return problems


def combined_message(problems: Sequence[str]) -> str:
    """One message for several start-up problems (each ``fgrpo: …``): a header line, then one numbered item each."""
    items = "\n".join(f"  {i}. {p.removeprefix('fgrpo: ')}" for i, p in enumerate(problems, 1))
    return f"fgrpo: cannot start training, {len(problems)} problems:\n{items}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fgrpo-verl check-judge``."""
    parser.add_argument(
        "--url", nargs="+", required=True, metavar="URL", help="base URL(s), e.g. http://judge0:8000/v1"
    )
    parser.add_argument("--model", required=True, metavar="NAME", help="served model name (fgrpo.judge.model)")
    parser.add_argument(
        "--api-key-env",
        default="FGRPO_JUDGE_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (%(default)s; unset: no key is sent)",
    )
    parser.add_argument(
        "--timeout",
        type=number_arg(positive=True),
        default=60.0,
        metavar="S",
        help="read timeout per request (%(default)s)",
    )


def plan(args: argparse.Namespace) -> Callable[[], int]:
    """Validate ``check-judge``'s arguments (``ValueError``), then return the action: 0 when all endpoints pass."""
    for url in args.url:
        check_judge_url(url, "--url")  # the same refusal as fgrpo.judge.urls: scheme, no user:password@
    if not args.model.strip():
        raise ValueError("--model must name the model the judge serves (fgrpo.judge.model), got ''")
    api_key = os.environ.get(args.api_key_env) or None

    def run() -> int:
        # The judge's own failure log would repeat each problem; the lines below say it once.
        judge_logger = logging.getLogger("fgrpo_verl.judges.openai_judge")
        level = judge_logger.level
        judge_logger.setLevel(logging.ERROR)
        try:
            problems = asyncio.run(
                check_endpoints(args.url, args.model, api_key, api_key_env=args.api_key_env, timeout_s=args.timeout)
            )
        finally:
            judge_logger.setLevel(level)
        for problem in problems:
            print(f"check-judge: {problem}")
        failing = {p.split(": ", 1)[0] for p in problems}
        for url in args.url:
            if redact_url(url) not in failing:
                print(f"check-judge: {redact_url(url)}: ok (serves {args.model!r}, consistency and grounding judged)")
        return 1 if problems else 0

    return run
