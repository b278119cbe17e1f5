"""What every judge does before asking its backend: refuse policy text that addresses the judge.

A judge answers two questions (SPEC §1):
- ``consistency(question, think, answer)`` → 1.0 (the reasoning concludes the answer),
  0.0 (it does not, or the judge is uncertain) or ``None`` (the judge failed);
- ``ground_sentence(images, question, context, sentence)`` → ``"CORRECT"``,
  ``"INCORRECT"``, ``"SKIP"`` or ``None`` (failed).

Text flagged by :func:`looks_like_judge_injection` never reaches the backend: its
consistency is 0.0 and its grounding ``"INCORRECT"``, counted as ``flagged``; flagged
sentences of the grounding context are left out of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from fgrpo_verl.judges.injection import looks_like_judge_injection, screened_context
from fgrpo_verl.judges.stats import JudgeStats, JudgeTally
from reward_fns import split_sentences


class Judge(ABC):
    """Shared front of :class:`~fgrpo_verl.judges.OpenAIJudge` and :class:`~fgrpo_verl.judges.RuleJudge`."""

    def __init__(self) -> None:
        self._stats = JudgeStats()

    async def consistency(
        self,
        question: str,
        think: str | None,
        answer: str | None,
        *,
        scene_graph: dict | str | None = None,
        tally: JudgeTally | None = None,
    ) -> float | None:
        """1.0 if ``think`` concludes ``answer``, 0.0 if not (or uncertain, or flagged), ``None`` on failure."""
        if looks_like_judge_injection(think) or looks_like_judge_injection(answer):
            self._stats.count("flagged", tally)
            return 0.0
        return await self._consistency(question, think or "", answer or "", scene_graph, tally)

    async def ground_sentence(
        self,
        images: Sequence[Any] | None,
        question: str,
        context: str,
        sentence: str,
        *,
        scene_graph: dict | str | None = None,
        tally: JudgeTally | None = None,
    ) -> str | None:
        """``"CORRECT"`` / ``"INCORRECT"`` / ``"SKIP"`` for ``sentence`` given the images, ``None`` on failure."""
        if looks_like_judge_injection(sentence):
            self._stats.count("flagged", tally)
            return "INCORRECT"
        if looks_like_judge_injection(context):
            # The context is screened too: the judge sees only the earlier sentences that are not flagged.
            context = screened_context(split_sentences(context))
        return await self._ground_sentence(images, question, context, sentence, scene_graph, tally)

    async def prepare_images(self, images: Sequence[Any] | None, box_frame: tuple[int, int] | None = None) -> Any:
        """The images in the form :meth:`ground_sentence` takes fastest; call once per rollout and pass
        the result for each of its sentences. ``box_frame``: the ``(width, height)`` in which the policy
        writes box coordinates (its input frame). This judge takes the images as they are."""
        return images

    def stats(self) -> dict[str, float]:
        """calls, failures, retries, cache_hits, flagged, latency_p50_s, latency_p95_s (see ``judges.stats``)."""
        return self._stats.snapshot()

    @abstractmethod
    async def aclose(self) -> None:
        """Release network resources (the judge reopens them if it is used again)."""

    @abstractmethod
    async def _consistency(
        self, question: str, think: str, answer: str, scene_graph: dict | str | None, tally: JudgeTally | None
    ) -> float | None: ...

    @abstractmethod
    async def _ground_sentence(
        self,
        images: Sequence[Any] | None,
        question: str,
        context: str,
        sentence: str,
        scene_graph: dict | str | None,
        tally: JudgeTally | None,
    ) -> str | None: ...
