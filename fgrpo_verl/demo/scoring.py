"""Score every response variant once, through the reward manager's per-rollout scoring and a real judge.

For each item, style and outcome (:data:`~fgrpo_verl.demo.settings.OUTCOMES`) the style writes a few variants
(:func:`fgrpo_verl.demo.styles.responses`); each is scored by
:func:`fgrpo_verl.rollout_scoring.score_rollout` — the code the verl reward manager runs per rollout —
with the configured judge (the offline :class:`~fgrpo_verl.judges.RuleJudge` in the demo). Training
then samples from this table, so every reward the simulated policy sees is a real channel value of
a real response text, computed once.

The scores are taken with every constraint enabled, whatever mode a run trains with: GRPO-T's
advantage reads only ``task``, but its consistency and grounding are still measured.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import numpy as np

from fgrpo_verl.channels import CONSTRAINTS, mask_key
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.demo.items import DemoItem
from fgrpo_verl.demo.settings import OUTCOMES, QUESTION_TYPES, STYLES
from fgrpo_verl.demo.styles import responses
from fgrpo_verl.judges import Judge
from fgrpo_verl.rollout_scoring import score_rollout

#: Per-rollout terms whose expectations give the policy's metrics (ratios of two terms for the
#: constraint means, c̄_k = E[m_k·s_k] / E[m_k], and the inconsistency rate).
TERMS: tuple[str, ...] = (
    "acc",
    "format",
    "task",
    *(f"{k}/{part}" for k in CONSTRAINTS for part in ("num", "den")),
    "inconsistent/num",
    "inconsistent/den",
)


def rollout_terms(channels: dict[str, float]) -> list[float]:
    """The :data:`TERMS` of one scored rollout.

    ``k/num = m_k·s_k``, ``k/den = m_k``; ``inconsistent/num = [acc>0]·m_C·(1 − C)``,
    ``inconsistent/den = [acc>0]·m_C`` (SPEC §3: share of correct judged rollouts with C = 0).
    """
    judged_correct = float(channels["acc"] > 0) * channels[mask_key("consistency")]
    values = [channels["acc"], channels["format"], channels["task"]]
    for k in CONSTRAINTS:
        values += [channels[mask_key(k)] * channels[k], channels[mask_key(k)]]
    return [*values, judged_correct * (1.0 - channels["consistency"]), judged_correct]


@dataclasses.dataclass
class ScoreTable:
    """Scored variants: ``channels[j][s][o][v]`` is the reward dict of variant ``v`` of item ``j``,
    style ``s`` (index in :data:`STYLES`), outcome ``o`` (index in :data:`OUTCOMES`); ``texts`` likewise."""

    items: list[DemoItem]
    texts: list[list[list[list[str]]]]
    channels: list[list[list[list[dict[str, float]]]]]

    @property
    def type_index(self) -> np.ndarray:
        """``[J]`` index of each item's question type in :data:`QUESTION_TYPES`."""
        return np.array([QUESTION_TYPES.index(item.qtype) for item in self.items], dtype=np.int64)

    @property
    def num_scored(self) -> int:
        return sum(len(variants) for per_item in self.channels for per_style in per_item for variants in per_style)

    def examples(self, item: int = 0, outcome: str = "correct") -> list[dict[str, object]]:
        """The first variant of each style for one item and outcome: question, text and channels."""
        o = OUTCOMES.index(outcome)
        question = self.items[item].row["prompt"][0]["content"]
        return [
            {
                "style": style,
                "outcome": outcome,
                "question": question,
                "response": self.texts[item][s][o][0],
                "channels": self.channels[item][s][o][0],
            }
            for s, style in enumerate(STYLES)
        ]

    def terms(self) -> np.ndarray:
        """``[J, S, len(OUTCOMES), len(TERMS)]``: each term averaged over the variants of an (item, style, outcome)."""
        return np.array(
            [
                [
                    [np.mean([rollout_terms(c) for c in variants], axis=0) for variants in per_style]
                    for per_style in per_item
                ]
                for per_item in self.channels
            ],
            dtype=np.float64,
        )


async def _score_all(texts: Sequence[tuple[str, DemoItem]], config: FGRPOConfig, judge: Judge) -> list[dict]:
    try:
        return await asyncio.gather(
            *(score_rollout(text, item.row, config=config, judge=judge) for text, item in texts)
        )
    finally:
        await judge.aclose()  # inside the loop that used it (an HTTP judge's session belongs to that loop)


def score_table(items: list[DemoItem], config: FGRPOConfig, judge: Judge, seed: int) -> ScoreTable:
    """Write and score every variant (see the module docstring); ``seed`` fixes the texts."""
    texts = [[[responses(item, style, outcome, seed) for outcome in OUTCOMES] for style in STYLES] for item in items]
    flat = [
        (text, item)
        for item, per_item in zip(items, texts, strict=True)
        for per_style in per_item
        for variants in per_style
        for text in variants
    ]
    scored = iter(asyncio.run(_score_all(flat, config, judge)))
    channels = [
        [[[next(scored) for _ in variants] for variants in per_style] for per_style in per_item] for per_item in texts
    ]
    return ScoreTable(items, texts, channels)
