"""Typed, validated configuration of the ``fgrpo`` block.

One dataclass per concern: :class:`FGRPOConfig` (advantage and duals),
:class:`JudgeConfig` (where and how judges are called), :class:`ImageConfig` (the
model's input frame for box rescaling) and :class:`SentenceConfig` (the trivial-sentence
filter). ``FGRPOConfig.from_dict`` accepts a plain mapping or an OmegaConf node (the
``fgrpo`` key of verl's composed config), ``FGRPOConfig.from_verl`` the whole composed config
(it also checks the verl settings FGRPO depends on); both raise :class:`ConfigError` naming the
offending key, so a bad value stops the run at start-up rather than at step 300.

Secrets never live here: :class:`JudgeConfig` holds the *name* of the environment
variable that carries the API key (``api_key_env``), and :meth:`JudgeConfig.api_key`
reads it at call time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from fgrpo_verl import checks, image_budget
from fgrpo_verl.channels import CONSTRAINTS
from fgrpo_verl.modes import MODE_TABLE, ModeSpec, get_mode, modes_without_constraints

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


def _block(prefix: str, raw: Any) -> dict[str, Any]:
    """A config block as a plain dict (``None``: empty); :class:`ConfigError` naming ``prefix`` when it is not a mapping."""
    raw = _plain(raw)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix} must be a mapping of settings, got {raw!r:.60}")
    return dict(raw)


def _number(key: str, value: Any, *, low: float | None = None, high: float | None = None) -> float:
    return checks.number(key, value, low=low, high=high, error=ConfigError)


def _integer(key: str, value: Any, *, low: int | None = None) -> int:
    return checks.integer(key, value, low=low, error=ConfigError)


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
    ``urls`` is set, else ``rule``; training refuses ``auto`` without ``urls`` when the mode needs a judge).

    Load: the run keeps at most ``total_concurrency`` judge requests in flight, all reward workers
    together; each of the ``reward.num_workers`` workers gets ``max(1, ⌊total_concurrency / num_workers⌋)``
    unless ``max_concurrency`` (per worker) is set. Each attempt has ``connect_timeout_s`` to connect
    and ``timeout_s`` to read the reply. Images go to the judge downscaled to ``image_max_pixels``.

    Runtime guard (:mod:`fgrpo_verl.judge_guard`): ``patience`` consecutive steps with a judge failure
    rate ≥ ``max_failure_rate``, or with a judged constraint that has no applicable rollout, stop the
    run after a checkpoint (``patience: 0`` turns the guard off).

    ``constrained_decoding``: how requests ask the server to decode only an allowed label (``auto``, ``structured_outputs``, ``guided_choice``, ``off``;
    see :mod:`fgrpo_verl.judges.openai_judge`).
    """

    backend: str = "auto"
    urls: tuple[str, ...] = ()
    model: str = DEFAULT_JUDGE_MODEL
    api_key_env: str = DEFAULT_API_KEY_ENV
    total_concurrency: int = 256
    max_concurrency: int | None = None
    connect_timeout_s: float = 10.0
    timeout_s: float = 60.0
    max_retries: int = 3
    cache_size: int = 20000
    max_tokens: int = 16
    temperature: float = 0.0
    image_max_pixels: int = 1280 * 28 * 28
    max_failure_rate: float = 0.5
    patience: int = 3
    constrained_decoding: str = "auto"

    def concurrency_per_worker(self, num_workers: int) -> int:
        """Requests in flight per reward worker: ``max_concurrency`` if set, else ``max(1, ⌊total_concurrency / num_workers⌋)``."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        return max(1, self.total_concurrency // max(1, num_workers))

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
        raw = _block(prefix, raw)
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
        # Imported here: fgrpo_verl.judges imports this module.
        from fgrpo_verl.judges.redaction import check_judge_url

        for position, url in enumerate(urls):
            try:
                check_judge_url(url, f"{prefix}.urls[{position}]")
            except ValueError as err:
                raise ConfigError(str(err)) from None
        if backend == "openai" and not urls:
            raise ConfigError(f"{prefix}.backend=openai needs {prefix}.urls (a list of base URLs)")
        config = cls(
            backend=backend,
            urls=urls,
            model=str(raw.get("model", cls.model)),
            api_key_env=str(raw.get("api_key_env", cls.api_key_env)),
            total_concurrency=_integer(
                f"{prefix}.total_concurrency", raw.get("total_concurrency", cls.total_concurrency), low=1
            ),
            max_concurrency=None
            if raw.get("max_concurrency") is None
            else _integer(f"{prefix}.max_concurrency", raw["max_concurrency"], low=1),
            connect_timeout_s=_number(
                f"{prefix}.connect_timeout_s", raw.get("connect_timeout_s", cls.connect_timeout_s), low=0.001
            ),
            timeout_s=_number(f"{prefix}.timeout_s", raw.get("timeout_s", cls.timeout_s), low=0.001),
            max_retries=_integer(f"{prefix}.max_retries", raw.get("max_retries", cls.max_retries), low=0),
            cache_size=_integer(f"{prefix}.cache_size", raw.get("cache_size", cls.cache_size), low=0),
            max_tokens=_integer(f"{prefix}.max_tokens", raw.get("max_tokens", cls.max_tokens), low=1),
            temperature=_number(f"{prefix}.temperature", raw.get("temperature", cls.temperature), low=0.0),
            image_max_pixels=_integer(
                f"{prefix}.image_max_pixels", raw.get("image_max_pixels", cls.image_max_pixels), low=28 * 28
            ),
            max_failure_rate=_number(
                f"{prefix}.max_failure_rate", raw.get("max_failure_rate", cls.max_failure_rate), low=0.0, high=1.0
            ),
            patience=_integer(f"{prefix}.patience", raw.get("patience", cls.patience), low=0),
            constrained_decoding=_constrained_decoding(
                prefix, raw.get("constrained_decoding", cls.constrained_decoding)
            ),
        )
        return config


def _constrained_decoding(prefix: str, value: Any) -> str:
    modes = ("auto", "structured_outputs", "guided_choice", "off")
    if value not in modes:
        raise ConfigError(f"{prefix}.constrained_decoding must be one of {list(modes)}, got {value!r}")
    return str(value)


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """The policy's input frame: Qwen2.5-VL ``smart_resize`` bounds (match ``data`` processor settings)."""

    min_pixels: int = image_budget.MIN_PIXELS
    max_pixels: int = image_budget.MAX_PIXELS
    factor: int = image_budget.FACTOR

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, prefix: str = "fgrpo.image") -> ImageConfig:
        raw = _block(prefix, raw)
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
        raw = _block(prefix, raw)
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


#: Largest accepted ``fgrpo.lambda_max``: 200x the paper's 5, where a constraint's advantage already drowns
#: the task's; near 1e308, ``Σ_k λ_k·Â_k`` overflows and the advantage turns inf/NaN.
LAMBDA_MAX_LIMIT = 1000.0


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
    def spec(self) -> ModeSpec:
        """The row of :data:`fgrpo_verl.modes.MODE_TABLE` for ``mode``."""
        return get_mode(self.mode)

    @property
    def updates_duals(self) -> bool:
        """λ moves by dual ascent (``fgrpo``); ``fixed_lambda`` keeps ``lambda_init``."""
        return self.spec.updates_lambda

    @property
    def uses_constraints(self) -> bool:
        """The advantage weighs constraints by λ, so a dual state is kept (``fgrpo``, ``fixed_lambda``)."""
        return self.spec.uses_lambda

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, prefix: str = "fgrpo") -> FGRPOConfig:
        raw = _block(prefix, raw)
        _reject_unknown(prefix, raw, {f.name for f in dataclasses.fields(cls)})
        mode = raw.get("mode", cls.mode)
        if not isinstance(mode, str) or mode not in MODE_TABLE:
            raise ConfigError(f"{prefix}.mode must be one of {list(MODE_TABLE)}, got {mode!r}")
        constraints = raw.get("constraints", list(CONSTRAINTS))
        if isinstance(constraints, str):
            constraints = [constraints]
        if constraints is not None and not isinstance(constraints, list | tuple):
            raise ConfigError(f"{prefix}.constraints must be a list of constraint names, got {constraints!r:.60}")
        constraints = tuple(constraints or ())
        for name in constraints:
            if name not in CONSTRAINTS:
                raise ConfigError(f"{prefix}.constraints has unknown constraint {name!r}; known: {list(CONSTRAINTS)}")
        if len(set(constraints)) != len(constraints):
            raise ConfigError(f"{prefix}.constraints lists a constraint twice: {list(constraints)}")
        reads = MODE_TABLE[mode].reads
        if reads and reads.isdisjoint(constraints):
            raise ConfigError(
                f"{prefix}.constraints={list(constraints)} enables none of the constraints {prefix}.mode={mode} "
                f"reads ({sorted(reads)}), so its advantage would ignore them; enable at least one, or train "
                f"without constraints with {prefix}.mode={' or '.join(modes_without_constraints())}"
            )
        thresholds = _per_constraint(f"{prefix}.thresholds", raw.get("thresholds"), DEFAULT_THRESHOLDS)
        for name, value in thresholds.items():
            thresholds[name] = _number(f"{prefix}.thresholds.{name}", value, low=0.0, high=1.0)
        lambda_max = _number(
            f"{prefix}.lambda_max", raw.get("lambda_max", cls.lambda_max), low=0.0, high=LAMBDA_MAX_LIMIT
        )
        lambda_init = _per_constraint(f"{prefix}.lambda_init", raw.get("lambda_init"), 1.0)
        for name, value in lambda_init.items():
            lambda_init[name] = _number(f"{prefix}.lambda_init.{name}", value, low=0.0, high=lambda_max)
        whiten = checks.flag(f"{prefix}.whiten", raw.get("whiten", cls.whiten), error=ConfigError)
        reinit = checks.flag(
            f"{prefix}.reinit_duals_on_resume",
            raw.get("reinit_duals_on_resume", cls.reinit_duals_on_resume),
            error=ConfigError,
        )
        return cls(
            mode=mode,
            constraints=constraints,
            thresholds=thresholds,
            dual_lr=_number(f"{prefix}.dual_lr", raw.get("dual_lr", cls.dual_lr), low=0.0),
            lambda_max=lambda_max,
            lambda_init=lambda_init,
            min_applicable=_integer(f"{prefix}.min_applicable", raw.get("min_applicable", cls.min_applicable), low=1),
            # eps = 0 would turn a zero-variance group into 0/0 at the first training step.
            eps=checks.number(f"{prefix}.eps", raw.get("eps", cls.eps), positive=True, error=ConfigError),
            whiten=whiten,
            w_acc=_number(f"{prefix}.w_acc", raw.get("w_acc", cls.w_acc), low=0.0),
            w_format=_number(f"{prefix}.w_format", raw.get("w_format", cls.w_format), low=0.0),
            reinit_duals_on_resume=reinit,
            judge=JudgeConfig.from_dict(raw.get("judge"), f"{prefix}.judge"),
            image=ImageConfig.from_dict(raw.get("image"), f"{prefix}.image"),
            sentences=SentenceConfig.from_dict(raw.get("sentences"), f"{prefix}.sentences"),
        )

    @classmethod
    def from_verl(cls, config: Any) -> FGRPOConfig:
        """Parse the ``fgrpo`` block of verl's composed config and check the verl settings around it.

        ``config`` is the whole config (an OmegaConf node, or a plain mapping). FGRPO needs verl's V1
        trainer in sync mode (one dual update per synchronous step), no critic, no KL-shaped reward
        (the advantage is built from the reward channels), no rollout correction, and a served judge
        on its own resource pool (a colocated one gets no ground truth in verl 0.9.1).

        Raises:
            ConfigError: naming the key, for a bad ``fgrpo`` block or a verl setting FGRPO cannot honour.
        """
        from omegaconf import DictConfig, OmegaConf

        if not isinstance(config, DictConfig):
            config = OmegaConf.create(_plain(config) or {})

        def select(key: str, default: Any = None) -> Any:
            return OmegaConf.select(config, key, default=default)

        if select("fgrpo") is None:
            raise ConfigError("the config has no `fgrpo` block: compose the recipe (+recipe=fgrpo)")
        fgrpo = cls.from_dict(config.fgrpo)
        if not select("trainer.use_v1", True):
            raise ConfigError("trainer.use_v1=false: FGRPO runs on verl's V1 trainer; set trainer.use_v1=true")
        trainer_mode = select("trainer.v1.trainer_mode", "sync")
        if trainer_mode != "sync":
            raise ConfigError(
                f"trainer.v1.trainer_mode={trainer_mode}: FGRPO runs in sync mode (one dual update per synchronous "
                "step); set trainer.v1.trainer_mode=sync"
            )
        if select("algorithm.use_kl_in_reward", False):
            raise ConfigError(
                "algorithm.use_kl_in_reward=true: the FGRPO advantage is built from the reward channels and would "
                "ignore a KL-shaped reward; use actor_rollout_ref.actor.use_kl_loss=true instead"
            )
        if select("critic.enable") or select("algorithm.adv_estimator") == "gae":
            raise ConfigError(
                "FGRPO is critic-free: set algorithm.adv_estimator=grpo and critic.enable=false "
                f"(got adv_estimator={select('algorithm.adv_estimator')}, critic.enable={select('critic.enable')})"
            )
        for key in ("rollout_is", "rollout_rs"):
            if select(f"algorithm.rollout_correction.{key}") is not None:
                raise ConfigError(
                    f"algorithm.rollout_correction.{key} is set: the FGRPO trainer does not apply rollout "
                    f"correction; set algorithm.rollout_correction.{key}=null"
                )
        if select("reward.reward_model.enable", False) and not select("reward.reward_model.enable_resource_pool", False):
            raise ConfigError(
                "reward.reward_model.enable=true with enable_resource_pool=false: a judge colocated with the policy "
                "scores after sampling and gets no ground truth in verl 0.9.1. Serve it on its own pool "
                "(reward.reward_model.enable_resource_pool=true with reward.reward_model.n_gpus_per_node/nnodes) "
                "or use an external judge (fgrpo.judge.urls)"
            )
        return fgrpo

    def active_thresholds(self) -> dict[str, float]:
        """τ_k of the enabled constraints only."""
        return {name: self.thresholds[name] for name in self.constraints}

    def active_lambda_init(self) -> dict[str, float]:
        return {name: self.lambda_init[name] for name in self.constraints}
