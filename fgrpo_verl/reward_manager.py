"""FGRPO's reward manager for verl 0.9.1's reward loop: every SPEC §1 channel of one rollout.

verl's ``RewardLoopWorker`` (a CPU Ray actor) calls :meth:`FGRPORewardManager.run_single` once per
rollout. The manager decodes the response and returns

    reward_score      = task = w_acc·acc + w_format·format            (fgrpo.w_acc, fgrpo.w_format)
    reward_extra_info = {k: float for k in fgrpo_verl.channels.extra_info_keys()}

with every channel computed by :class:`fgrpo_verl.rollout_scoring.RolloutScorer` (its module
docstring gives the formulas and masks); the manager only decodes and adapts to verl.

The manager knows rewards and judges and nothing about advantages. Only the constraints in
``fgrpo.constraints`` are computed, and judges are asked only for the channels the advantage
mode reads (:attr:`fgrpo_verl.modes.ModeSpec.judged`): ``grpo_t`` makes no judge call at all.

Bad input never raises out of :meth:`~FGRPORewardManager.run_single`; the rule for malformed rows
and failed judge calls is :class:`~fgrpo_verl.rollout_scoring.RolloutScorer`'s, with the skips
counted per process in :attr:`FGRPORewardManager.skipped`.

The recipe selects it by module path, which works in every reward worker with no registration:
``reward.reward_manager.source=importlib``,
``reward.reward_manager.module.path=pkg://fgrpo_verl.reward_manager`` and
``reward.reward_manager.name=FGRPORewardManager``. Importing this module also registers it as
``fgrpo`` in verl's registry, so ``reward.reward_manager.name=fgrpo`` works in processes that import
it (e.g. with ``VERL_USE_EXTERNAL_MODULES=fgrpo_verl.reward_manager``).
"""

# No ``from __future__ import annotations`` here: verl's importlib loader (module.path given as a
# file) executes this module without registering it in sys.modules, and dataclasses cannot resolve
# string annotations of such a module.
import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER, register

from fgrpo_verl.config import ConfigError, FGRPOConfig
from fgrpo_verl.judges import Judge, build_judge
from fgrpo_verl.rollout_scoring import RolloutScorer, as_list, computed_channels, needs_judge
from reward_fns import accuracy_reward, format_reward

logger = logging.getLogger(__name__)

#: Name under which the manager is registered in verl's reward-manager registry.
REGISTRY_NAME = "fgrpo"

@dataclasses.dataclass
class _ProcessState:
    """What one process shares across the manager instances built from one ``fgrpo`` block."""

    config: FGRPOConfig
    #: Constraints computed: the enabled ones, minus judge-scored ones the mode does not read.
    channels: frozenset[str]
    #: reward.num_workers: the processes that share fgrpo.judge.total_concurrency.
    num_workers: int = 1
    judges: dict[str | None, Judge] = dataclasses.field(default_factory=dict)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)

    @property
    def needs_judge(self) -> bool:
        return needs_judge(self.channels)

    def judge_for(self, router_address: str | None) -> Judge:
        """One judge per process and router address, so its connection pool and cache are shared."""
        if router_address not in self.judges:
            self.judges[router_address] = build_judge(
                self.config.judge,
                router_address=router_address,
                image_config=self.config.image,
                num_workers=self.num_workers,
            )
        return self.judges[router_address]


def _fgrpo_config(config: Any) -> FGRPOConfig:
    block = config.get("fgrpo") if isinstance(config, Mapping | DictConfig) else None
    if block is None:
        raise ConfigError(
            "the fgrpo reward manager needs the top-level `fgrpo` config block; compose the recipe "
            "config (+recipe=fgrpo) or add `fgrpo: {...}` to the trainer config"
        )
    return FGRPOConfig.from_dict(block)


def _served_model_name(reward_model: Any) -> str | None:
    """The model name verl's judge server answers to: vLLM/SGLang serve ``model_path`` under its own
    name, or the last part of ``rollout.prometheus.served_model_name`` when Prometheus is on."""
    prometheus = (reward_model.get("rollout") or {}).get("prometheus") or {}
    if prometheus.get("enable") and prometheus.get("served_model_name"):
        return str(prometheus["served_model_name"]).split("/")[-1]
    path = reward_model.get("model_path")
    return None if path is None else str(path)


def _check_served_judge(config: Any, state: _ProcessState) -> None:
    """Fail at start-up when a judge served by verl would never be asked, or would refuse every request."""
    reward = config.get("reward") or {}
    reward_model = reward.get("reward_model") or {}
    if not reward_model.get("enable"):
        return
    if not (reward.get("custom_reward_function") or {}).get("path"):
        # verl 0.9.1's RewardLoopWorker treats a served model without a custom reward function as
        # a discriminative reward model and never calls the reward manager.
        raise ConfigError(
            "reward.reward_model.enable=true without reward.custom_reward_function.path: verl would score "
            "rollouts with the served model as a discriminative reward model and never call the fgrpo reward "
            "manager. Set reward.custom_reward_function.path=pkg://fgrpo_verl.reward_manager and "
            "reward.custom_reward_function.name=task_score"
        )
    served = _served_model_name(reward_model)
    judge = state.config.judge
    if state.needs_judge and judge.resolved_backend == "router" and served is not None and served != judge.model:
        # The server rejects requests for any other model name: every judge call would fail.
        raise ConfigError(
            f"fgrpo.judge.model={judge.model!r} but verl serves the judge as {served!r} "
            "(reward.reward_model.model_path); set fgrpo.judge.model to that name"
        )


class FGRPORewardManager(RewardManagerBase):
    """verl reward-loop manager computing acc, format, task and the three FGRPO constraints.

    ``reward_score = task``; ``reward_extra_info`` holds exactly ``extra_info_keys()`` as floats
    for every rollout. See the module docstring for the channels and for what is counted.
    """

    #: Per-process shared state, one entry per distinct ``fgrpo`` block (keyed by its repr).
    _process_states: dict[str, _ProcessState] = {}

    def __init__(
        self,
        config: DictConfig,
        tokenizer: Any,
        compute_score: Any = None,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
    ) -> None:
        # verl passes compute_score (the custom reward function, a routing switch for served judges) and
        # reward_model_tokenizer; the channels come from the fgrpo block and the judge speaks chat-completions.
        super().__init__(config, tokenizer, compute_score)
        self.state = self._process_states[repr(_fgrpo_config(config))]
        _check_served_judge(config, self.state)
        # The judge is built here, not in init_class: verl hands the router address to __init__ only.
        judge = self.state.judge_for(reward_router_address) if self.state.needs_judge else None
        self.scorer = RolloutScorer(self.state.config, judge, skipped=self.state.skipped)

    @classmethod
    def init_class(cls, config: DictConfig, tokenizer: Any) -> None:
        """Parse and validate the ``fgrpo`` block once per process (ConfigError names the bad key)."""
        fgrpo = _fgrpo_config(config)
        key = repr(fgrpo)
        if key in cls._process_states:
            return
        channels = computed_channels(fgrpo)
        num_workers = int((config.get("reward") or {}).get("num_workers") or 1)
        cls._process_states[key] = _ProcessState(config=fgrpo, channels=channels, num_workers=num_workers)
        logger.info("fgrpo reward manager: mode=%s, computed constraints=%s", fgrpo.mode, sorted(channels))

    @property
    def skipped(self) -> Counter[str]:
        """Per-process count of channels skipped because of malformed rows, by channel name."""
        return self.state.skipped

    @property
    def judge(self) -> Judge | None:
        return self.scorer.judge

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        # Multi-output agent loops: the last output carries the final response (as in verl's managers).
        item = data[len(data) - 1]
        info = await self.scorer.score(self._decode(item), item.non_tensor_batch)
        return {"reward_score": info["task"], "reward_extra_info": info}

    def _decode(self, item: Any) -> str:
        """The response text from its valid tokens (responses are right-padded; the mask marks them)."""
        response_ids = item.batch["responses"]
        valid_length = int(item.batch["attention_mask"][-response_ids.shape[-1] :].sum())
        return self.tokenizer.decode(response_ids[:valid_length], skip_special_tokens=True)


def task_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    w_acc: float = 0.5,
    w_format: float = 0.5,
    **_: Any,
) -> float:
    """The rule task reward ``w_acc·acc + w_format·format`` as a verl ``compute_score`` function.

    Usable with verl's own managers for a rule-only baseline (weights via
    ``reward.custom_reward_function.reward_kwargs``). With a judge served by verl, it is also what
    ``reward.custom_reward_function`` must name so that verl 0.9.1 routes rollouts to the FGRPO
    manager at all; that manager computes its own task reward from the ``fgrpo`` block.
    """
    choices = None
    if isinstance(extra_info, Mapping) and extra_info.get("choices") is not None:
        choices = [str(choice) for choice in as_list(extra_info["choices"], "extra_info.choices")]
    return w_acc * accuracy_reward(solution_str, ground_truth, choices) + w_format * format_reward(solution_str)


def _definition(cls: type) -> tuple[str, str]:
    # One file loaded under two module names (package import and verl's file loader) is one definition.
    return cls.__qualname__, cls.run_single.__code__.co_filename


def register_reward_manager(name: str = REGISTRY_NAME) -> None:
    """Register :class:`FGRPORewardManager` in verl's reward-manager registry under ``name``; idempotent."""
    existing = REWARD_MANAGER.get(name)
    if existing is None:
        register(name)(FGRPORewardManager)
    elif existing is not FGRPORewardManager and _definition(existing) != _definition(FGRPORewardManager):
        raise ValueError(
            f"reward manager name {name!r} is already taken by {existing.__module__}.{existing.__qualname__}"
        )


register_reward_manager()
