"""The simulated policy: a softmax over reasoning styles per question type, trained by REINFORCE.

    π(s | t) = softmax_s(θ[t, s])

A rollout for a question of type ``t`` picks a style ``s ~ π(·|t)``, then an outcome
(:data:`~fgrpo_verl.demo.settings.OUTCOMES`), properties of the simulated model
(:class:`~fgrpo_verl.demo.settings.SimSettings`)::

    P(wrong) = 1 − skill[t][s]      P(correct) = skill[t][s]·(1 − slip_rate)      P(slip) = skill[t][s]·slip_rate

(``skill`` is the style's accuracy; a slip answers right although the reasoning concluded another
option), and writes that outcome's text (:mod:`fgrpo_verl.demo.styles`). The update is the policy
gradient of the sampled batch with the advantages ``A_i`` of the real advantage code::

    θ[t, s] ← θ[t, s] + lr · (1/B) · Σ_{i : t_i = t} A_i · (1[s_i = s] − π(s | t))

``(1[s_i = s] − π(s|t))`` is ∂ log π(s_i|t) / ∂θ[t, s].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fgrpo_verl.demo.settings import QUESTION_TYPES, STYLES


class StylePolicy:
    """θ ``[T, S]`` over question types × styles, with sampling and the REINFORCE step."""

    def __init__(self, initial_style_probs: Mapping[str, float]) -> None:
        row = np.log(np.array([initial_style_probs[s] for s in STYLES], dtype=np.float64))
        self.logits = np.tile(row, (len(QUESTION_TYPES), 1))

    def probs(self) -> np.ndarray:
        """π ``[T, S]``, each row a softmax of θ."""
        shifted = np.exp(self.logits - self.logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def sample(self, types: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One style index per entry of ``types`` (question-type indices), drawn from π(·|t)."""
        cdf = np.cumsum(self.probs()[types], axis=1)
        draws = rng.random(len(types))[:, None]
        return np.minimum((draws >= cdf).sum(axis=1), len(STYLES) - 1)

    def update(self, types: np.ndarray, styles: np.ndarray, advantages: np.ndarray, lr: float) -> None:
        """θ[t, s] += lr · (1/B) · Σ_{i: t_i = t} A_i (1[s_i = s] − π(s|t)) (see the module docstring)."""
        probs = self.probs()
        onehot = np.eye(len(STYLES))[styles]
        per_rollout = advantages[:, None] * (onehot - probs[types])
        grad = np.zeros_like(self.logits)
        np.add.at(grad, types, per_rollout)
        self.logits += lr * grad / len(types)
