"""The simulator's settings and defaults, in one light module (no torch, no data code).

``fgrpo-verl --help`` reads its defaults from here without importing the simulator itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from fgrpo_verl import checks

#: Question types of :mod:`data_prep.synthetic`, in its order (a test keeps the two equal).
QUESTION_TYPES: tuple[str, ...] = ("left_right", "above_below", "extreme", "size", "nearer", "count")

#: Reasoning styles (:mod:`fgrpo_verl.demo.styles` writes their text).
STYLES: tuple[str, ...] = ("grounded", "shortcut", "vague", "malformed")

#: What a rollout's text does with the question: answers a wrong option; answers the right one as the
#: style reasons; or answers the right one although its reasoning concluded another (a slip).
OUTCOMES: tuple[str, ...] = ("wrong", "correct", "slip")

#: Synthetic questions the demo generates and scores.
DEFAULT_NUM_QUESTIONS = 48

#: Default sweep of ``fgrpo-verl simulate``: η, then λ_max down to a value too small to hold the
#: constraints, then τ up to values the simulated policy cannot reach (its best style slips now and
#: then and jitters its boxes), where λ climbs to λ_max.
DEFAULT_ETAS: tuple[float, ...] = (0.01, 0.05, 0.2)
DEFAULT_LAMBDA_MAXES: tuple[float, ...] = (0.05, 0.25, 5.0)
DEFAULT_TAUS: dict[str, tuple[float, ...]] = {"consistency": (0.9, 0.95, 0.98), "spatial_grounding": (0.6, 0.7, 0.8)}

#: Share of each style before training, the same for every question type.
DEFAULT_INITIAL_STYLE_PROBS: dict[str, float] = {"grounded": 0.35, "shortcut": 0.25, "vague": 0.25, "malformed": 0.15}

#: P(right answer | question type, style). ``shortcut`` is the most accurate style for every
#: type but ``count``; ``grounded`` is accurate but imperfect; ``vague``/``malformed`` near chance.
DEFAULT_SKILL: dict[str, dict[str, float]] = {
    "left_right": {"grounded": 0.85, "shortcut": 0.95, "vague": 0.55, "malformed": 0.55},
    "above_below": {"grounded": 0.85, "shortcut": 0.95, "vague": 0.55, "malformed": 0.55},
    "extreme": {"grounded": 0.80, "shortcut": 0.90, "vague": 0.45, "malformed": 0.45},
    "size": {"grounded": 0.80, "shortcut": 0.90, "vague": 0.50, "malformed": 0.50},
    "nearer": {"grounded": 0.75, "shortcut": 0.90, "vague": 0.55, "malformed": 0.55},
    "count": {"grounded": 0.85, "shortcut": 0.60, "vague": 0.40, "malformed": 0.40},
}


#: Largest REINFORCE step size: far above any useful one (the default is 0.8), and far below the
#: ~1e300 at which one update overflows the style logits to inf and the run's metrics to NaN.
MAX_POLICY_LR = 1000.0


@dataclasses.dataclass(frozen=True)
class SimSettings:
    """The simulator's knobs (the FGRPO settings live in :class:`~fgrpo_verl.config.FGRPOConfig`).

    ``skill[t][s]`` is the accuracy of style ``s`` on question type ``t``; ``slip_rate`` the share of
    right answers whose reasoning concluded another option; ``policy_lr`` the REINFORCE step size.
    """

    steps: int = 300
    prompts_per_step: int = 16
    group_size: int = 5
    policy_lr: float = 0.8
    seed: int = 0
    slip_rate: float = 0.04
    initial_style_probs: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_INITIAL_STYLE_PROBS)
    )
    skill: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_SKILL))

    def __post_init__(self) -> None:
        for name, low in (("steps", 1), ("prompts_per_step", 1), ("group_size", 2), ("seed", 0)):
            # Frozen: store the checked int (an integer-valued 8.0 becomes 8).
            object.__setattr__(self, name, checks.integer(name, getattr(self, name), low=low))
        checks.number("policy_lr", self.policy_lr, positive=True, high=MAX_POLICY_LR)
        checks.number("slip_rate", self.slip_rate, low=0.0, high=1.0)
        if set(self.initial_style_probs) != set(STYLES):
            raise ValueError(f"initial_style_probs must name exactly the styles {list(STYLES)}")
        if any(not p > 0 for p in self.initial_style_probs.values()):
            raise ValueError("initial_style_probs must all be > 0 (a style with probability 0 can never be learned)")
        for qtype in QUESTION_TYPES:
            row = self.skill.get(qtype)
            if row is None or set(row) != set(STYLES) or any(not 0 <= p <= 1 for p in row.values()):
                raise ValueError(f"skill[{qtype!r}] must give a probability in [0, 1] for each of {list(STYLES)}")

    def outcome_probs(self) -> np.ndarray:
        """``[T, S, 3]``: P(wrong), P(correct), P(slip) in :data:`OUTCOMES` order, for types in
        :data:`QUESTION_TYPES` order and styles in :data:`STYLES` order::

            P(wrong) = 1 − skill[t][s]   P(correct) = skill[t][s]·(1 − slip_rate)   P(slip) = skill[t][s]·slip_rate
        """
        skill = np.array([[self.skill[t][s] for s in STYLES] for t in QUESTION_TYPES], dtype=np.float64)
        return np.stack([1.0 - skill, skill * (1.0 - self.slip_rate), skill * self.slip_rate], axis=-1)
