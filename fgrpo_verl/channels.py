"""Names of the reward channels and of the per-sample fields that carry them.

The reward manager writes these keys into verl's ``reward_extra_info`` (one value per
rollout); the trainer, the evaluation harness and the demo read them back. Keeping the
names in one module is what lets those three agree without importing each other.
"""

from __future__ import annotations

#: Constraint channels, in the order used for logging and checkpoints.
CONSTRAINTS: tuple[str, ...] = ("consistency", "semantic_grounding", "spatial_grounding")

#: Rule channels that are always applicable.
TASK_CHANNELS: tuple[str, ...] = ("acc", "format", "task")

#: Constraints scored by a judge model; the others (spatial grounding) are rules.
JUDGED_CONSTRAINTS: tuple[str, ...] = ("consistency", "semantic_grounding")

#: Judge bookkeeping written per rollout (counts, so they sum over a batch).
JUDGE_COUNT_KEYS: tuple[str, ...] = (
    "judge_calls",
    "judge_failures",
    "judge_cache_hits",
    "judge_flagged",
)

#: Mean latency (s) of the rollout's successful judge calls, 0.0 without any; the trainer logs
#: its p50/p95 over the step's rollouts.
JUDGE_LATENCY_KEY = "judge_latency_s"


def mask_key(channel: str) -> str:
    """Field that holds the applicability mask ``m_k`` of a constraint channel."""
    return f"{channel}_mask"


def extra_info_keys() -> tuple[str, ...]:
    """Every key the reward manager returns in ``reward_extra_info``, for every sample."""
    keys: list[str] = list(TASK_CHANNELS)
    for channel in CONSTRAINTS:
        keys += [channel, mask_key(channel)]
    keys += list(JUDGE_COUNT_KEYS)
    keys.append(JUDGE_LATENCY_KEY)
    return tuple(keys)
