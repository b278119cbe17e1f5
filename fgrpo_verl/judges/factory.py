"""Pick the judge a :class:`~fgrpo_verl.config.JudgeConfig` asks for."""

from __future__ import annotations

from typing import Any

from fgrpo_verl.config import ConfigError, ImageConfig, JudgeConfig
from fgrpo_verl.judges.base import Judge
from fgrpo_verl.judges.openai_judge import OpenAIJudge
from fgrpo_verl.judges.rule_judge import RuleJudge


def build_judge(
    judge_config: JudgeConfig,
    router_address: str | None = None,
    image_config: ImageConfig | None = None,
    num_workers: int = 1,
) -> Judge:
    """The judge for ``judge_config.resolved_backend``.

    - ``rule``: :class:`RuleJudge` (``image_config`` sets the frame for cited boxes);
    - ``openai``: :class:`OpenAIJudge` over ``judge_config.urls``;
    - ``router``: :class:`OpenAIJudge` at ``http://{router_address}/v1``, the judge verl serves
      itself (``ConfigError`` when verl handed over no address).

    The API key is read from the environment variable named by ``judge_config.api_key_env``;
    ``num_workers`` processes share ``judge_config.total_concurrency`` (see :func:`client_settings`).
    """
    backend = judge_config.resolved_backend
    if backend == "rule":
        return RuleJudge(image=image_config)
    if backend == "router":
        if not router_address:
            raise ConfigError(
                "fgrpo.judge.backend=router needs verl to serve the judge (reward.reward_model.enable=True), "
                "but no reward_router_address was handed to the reward manager"
            )
        urls: tuple[str, ...] = (f"http://{router_address}/v1",)
    else:
        urls = judge_config.urls
    return OpenAIJudge(list(urls), judge_config.model, **client_settings(judge_config, num_workers))


def client_settings(judge_config: JudgeConfig, num_workers: int = 1) -> dict[str, Any]:
    """Keyword arguments of :class:`OpenAIJudge` (and judges built on it) from ``fgrpo.judge.*``,
    for one of ``num_workers`` processes calling the judge at the same time.

    The API key is read here, at call time, from the variable named by ``api_key_env``.
    """
    return {
        "api_key": judge_config.api_key(),
        "max_concurrency": judge_config.concurrency_per_worker(num_workers),
        "connect_timeout_s": judge_config.connect_timeout_s,
        "image_max_pixels": judge_config.image_max_pixels,
        "timeout_s": judge_config.timeout_s,
        "max_retries": judge_config.max_retries,
        "cache_size": judge_config.cache_size,
        "max_tokens": judge_config.max_tokens,
        "temperature": judge_config.temperature,
        "constrained_decoding": judge_config.constrained_decoding,
    }
