"""Typed, validated configuration of the ``fgrpo`` block.

One dataclass per concern: :class:`FGRPOConfig` (advantage and duals),
:class:`JudgeConfig` (where and how judges are called), :class:`ImageConfig` (the
model's input frame for box rescaling) and :class:`SentenceConfig` (the trivial-sentence
filter). ``FGRPOConfig.from_dict`` accepts a plain mapping or an OmegaConf node (the
``fgrpo`` key of verl's composed config) and raises :class:`ConfigError` naming the
offending key, so a bad value stops the run at start-up rather than at step 300.

Secrets never live here: :class:`JudgeConfig` holds the *name* of the environment
variable that carries the API key (``api_key_env``), and :meth:`JudgeConfig.api_key`
reads it at call time.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

from fgrpo_verl import image_budget
from fgrpo_verl.channels import CONSTRAINTS, MODES

DEFAULT_THRESHOLDS: dict[str, float] = {
    "consistency": 0.95,
    "semantic_grounding": 0.95,
    "spatial_grounding": 0.7,
}
JUDGE_BACKENDS: tuple[str, ...] = ("auto", "rule", "openai", "router")
DEFAULT_JUDGE_MODEL = "Qwen/Qwen3-VL-30B-A3B-Instruct"
DEFAULT_API_KEY_ENV = "FGRPO_JUDGE_API_KEY"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key (``fgrpo.…``)."""


def _plain(node: Any) -> Any:
    """Turn an OmegaConf node (or anything mapping-like) into plain Python containers."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(node, (DictConfig, ListConfig)):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # omegaconf is a verl dependency; plain dicts work without it
        pass
    return node


def _number(key: str, value: Any, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"{key} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be <= {high}, got {value!r}")
    return float(value)


def _positive(key: str, value: Any) -> float:
    # eps = 0 would turn a zero-variance group into 0/0 at the first training step.
    number = _number(key, value)
    if number <= 0:
        raise ConfigError(f"{key} must be > 0, got {value!r}")
    return number


def _integer(key: str, value: Any, *, low: int | None = None) -> int:
    # 2.5 for a count is a typo, not a request for 2: refuse rather than truncate.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    _number(key, value, low=low)
    return value


def _reject_unknown(prefix: str, given: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(f'{prefix}.{k}' for k in unknown)}; "
            f"known keys: {', '.join(sorted(known))}"
        )


def _per_constraint(key: str, value: Any, default: Mapping[str, float] | float) -> dict[str, float]:
    """A per-constraint float: either one number for all, or a mapping by constraint name."""
    if value is None:
        value = default
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(CONSTRAINTS))
        if unknown:
            raise ConfigError(f"{key} has unknown constraint(s) {unknown}; known: {list(CONSTRAINTS)}")
        base = dict(default) if isinstance(default, Mapping) else dict.fromkeys(CONSTRAINTS, default)
        base.update(value)
        return {name: base[name] for name in CONSTRAINTS}
    return dict.fromkeys(CONSTRAINTS, value)


@dataclasses.dataclass(frozen=True)
class JudgeConfig:
    """Where consistency and semantic-grounding judgements come from.

    ``backend``: ``rule`` (offline :class:`fgrpo_verl.judges.RuleJudge`), ``openai`` (an
    OpenAI-compatible server at ``urls``), ``router`` (the judge verl serves itself, at the
    ``reward_router_address`` it hands the reward manager) or ``auto`` (``openai`` when
    ``urls`` is set, else ``rule``).
    """

    backend: str = "auto"
    urls: tuple[str, ...] = ()
    model: str = DEFAULT_JUDGE_MODEL
    api_key_env: str = DEFAULT_API_KEY_ENV
    max_concurrency: int = 64
    timeout_s: float = 60.0
    max_retries: int = 3
    cache_size: int = 20000
    max_tokens: int = 512
    temperature: float = 0.0

    @property
    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "openai" if self.urls else "rule"

    def api_key(self) -> str | None:
        """The API key, read from the environment variable named by ``api_key_env``."""
        return os.environ.get(self.api_key_env) or None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, prefix: str = "fgrpo.judge") -> JudgeConfig:
        raw = dict(_plain(raw) or {})
        _reject_unknown(prefix, raw, {f.name for f in dataclasses.fields(cls)} | {"api_key"})
        if "api_key" in raw:
            raise ConfigError(
                f"{prefix}.api_key is not accepted: configs are printed by verl. Put the key in "
                f"an environment variable and name it in {prefix}.api_key_env"
            )
        backend = raw.get("backend", cls.backend)
        if backend not in JUDGE_BACKENDS:
            raise ConfigError(f"{prefix}.backend must be one of {list(JUDGE_BACKENDS)}, got {backend!r}")
        urls = raw.get("urls") or ()
        if isinstance(urls, str):
            urls = (urls,)
        urls = tuple(str(u) for u in urls)
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"{prefix}.urls entries must start with http:// or https://, got {url!r}")
        if backend == "openai" and not urls:
            raise ConfigError(f"{prefix}.backend=openai needs {prefix}.urls (a list of base URLs)")
        config = cls(
            backend=backend,
            urls=urls,
            model=str(raw.get("model", cls.model)),
            api_key_env=str(raw.get("api_key_env", cls.api_key_env)),
            max_concurrency=_integer(f"{prefix}.max_concurrency", raw.get("max_concurrency", cls.max_concurrency), low=1),
            timeout_s=_number(f"{prefix}.timeout_s", raw.get("timeout_s", cls.timeout_s), low=0.001),
            max_retries=_integer(f"{prefix}.max_retries", raw.get("max_retries", cls.max_retries), low=0),
            cache_size=_integer(f"{prefix}.cache_size", raw.get("cache_size", cls.cache_size), low=0),
            max_tokens=_integer(f"{prefix}.max_tokens", raw.get("max_tokens", cls.max_tokens), low=1),
            temperature=_number(f"{prefix}.temperature", raw.get("temperature", cls.temperature), low=0.0),
        )
        return config


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """The policy's input frame: Qwen2.5-VL ``smart_resize`` bounds (match ``data`` processor settings)."""

    min_pixels: int = image_budget.MIN_PIXELS
    max_pixels: int = image_budget.MAX_PIXELS
    factor: int = image_budget.FACTOR

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, prefix: str = "fgrpo.image") -> ImageConfig:
        raw = dict(_plain(raw) or {})
        _reject_unknown(prefix, raw, {f.name for f in dataclasses.fields(cls)})
        min_pixels = _integer(f"{prefix}.min_pixels", raw.get("min_pixels", cls.min_pixels), low=1)
        max_pixels = _integer(f"{prefix}.max_pixels", raw.get("max_pixels", cls.max_pixels), low=1)
        if min_pixels > max_pixels:
            raise ConfigError(f"{prefix}.min_pixels ({min_pixels}) exceeds {prefix}.max_pixels ({max_pixels})")
        factor = _integer(f"{prefix}.factor", raw.get("factor", cls.factor), low=1)
        return cls(min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)


@dataclasses.dataclass(frozen=True)
class SentenceConfig:
    """Trivial-sentence filter overrides; ``None`` keeps the lists in ``reward_fns.sentences``."""

    trivial_prefixes: tuple[str, ...] | None = None
    visual_words: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, prefix: str = "fgrpo.sentences") -> SentenceConfig:
        raw = dict(_plain(raw) or {})
        _reject_unknown(prefix, raw, {f.name for f in dataclasses.fields(cls)})
        values = {}
        for name in ("trivial_prefixes", "visual_words"):
            value = raw.get(name)
            if value is not None:
                if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"{prefix}.{name} must be a list of strings or null")
                value = tuple(value)
            values[name] = value
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class FGRPOConfig:
    """The ``fgrpo`` block: advantage mode, constraints and dual-ascent settings (SPEC §2–3).

    ``A_i = Â_task,i + Σ_k λ_k Â_k,i`` over ``constraints``; ``λ_k ← clip(λ_k + dual_lr·(τ_k − c̄_k), 0, lambda_max)``
    with ``τ_k = thresholds[k]``, starting from ``lambda_init[k]``; ``task = w_acc·acc + w_format·format``.
    """

    mode: str = "fgrpo"
    constraints: tuple[str, ...] = CONSTRAINTS
    thresholds: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    dual_lr: float = 0.05
    lambda_max: float = 5.0
    lambda_init: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(CONSTRAINTS, 1.0))
    min_applicable: int = 8
    eps: float = 1e-6
    whiten: bool = True
    w_acc: float = 0.5
    w_format: float = 0.5
    reinit_duals_on_resume: bool = False
    judge: JudgeConfig = dataclasses.field(default_factory=JudgeConfig)
    image: ImageConfig = dataclasses.field(default_factory=ImageConfig)
    sentences: SentenceConfig = dataclasses.field(default_factory=SentenceConfig)

    @property
    def updates_duals(self) -> bool:
        """Only ``fgrpo`` moves λ; ``fixed_lambda`` keeps ``lambda_init``; other modes have no λ."""
        return self.mode == "fgrpo"

    @property
    def uses_constraints(self) -> bool:
        return self.mode in ("fgrpo", "fixed_lambda")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, prefix: str = "fgrpo") -> FGRPOConfig:
        raw = dict(_plain(raw) or {})
        _reject_unknown(prefix, raw, {f.name for f in dataclasses.fields(cls)})
        mode = raw.get("mode", cls.mode)
        if mode not in MODES:
            raise ConfigError(f"{prefix}.mode must be one of {list(MODES)}, got {mode!r}")
        constraints = raw.get("constraints", list(CONSTRAINTS))
        if isinstance(constraints, str):
            constraints = [constraints]
        constraints = tuple(constraints or ())
        for name in constraints:
            if name not in CONSTRAINTS:
                raise ConfigError(f"{prefix}.constraints has unknown constraint {name!r}; known: {list(CONSTRAINTS)}")
        if len(set(constraints)) != len(constraints):
            raise ConfigError(f"{prefix}.constraints lists a constraint twice: {list(constraints)}")
        thresholds = _per_constraint(f"{prefix}.thresholds", raw.get("thresholds"), DEFAULT_THRESHOLDS)
        for name, value in thresholds.items():
            thresholds[name] = _number(f"{prefix}.thresholds.{name}", value, low=0.0, high=1.0)
        lambda_max = _number(f"{prefix}.lambda_max", raw.get("lambda_max", cls.lambda_max), low=0.0)
        lambda_init = _per_constraint(f"{prefix}.lambda_init", raw.get("lambda_init"), 1.0)
        for name, value in lambda_init.items():
            lambda_init[name] = _number(f"{prefix}.lambda_init.{name}", value, low=0.0, high=lambda_max)
        whiten = raw.get("whiten", cls.whiten)
        if not isinstance(whiten, bool):
            raise ConfigError(f"{prefix}.whiten must be true or false, got {whiten!r}")
        reinit = raw.get("reinit_duals_on_resume", cls.reinit_duals_on_resume)
        if not isinstance(reinit, bool):
            raise ConfigError(f"{prefix}.reinit_duals_on_resume must be true or false, got {reinit!r}")
        return cls(
            mode=mode,
            constraints=constraints,
            thresholds=thresholds,
            dual_lr=_number(f"{prefix}.dual_lr", raw.get("dual_lr", cls.dual_lr), low=0.0),
            lambda_max=lambda_max,
            lambda_init=lambda_init,
            min_applicable=_integer(f"{prefix}.min_applicable", raw.get("min_applicable", cls.min_applicable), low=1),
            eps=_positive(f"{prefix}.eps", raw.get("eps", cls.eps)),
            whiten=whiten,
            w_acc=_number(f"{prefix}.w_acc", raw.get("w_acc", cls.w_acc), low=0.0),
            w_format=_number(f"{prefix}.w_format", raw.get("w_format", cls.w_format), low=0.0),
            reinit_duals_on_resume=reinit,
            judge=JudgeConfig.from_dict(raw.get("judge"), f"{prefix}.judge"),
            image=ImageConfig.from_dict(raw.get("image"), f"{prefix}.image"),
            sentences=SentenceConfig.from_dict(raw.get("sentences"), f"{prefix}.sentences"),
        )

    def active_thresholds(self) -> dict[str, float]:
        """τ_k of the enabled constraints only."""
        return {name: self.thresholds[name] for name in self.constraints}

    def active_lambda_init(self) -> dict[str, float]:
        return {name: self.lambda_init[name] for name in self.constraints}
