"""The offline judge: rules instead of a model, so the whole pipeline runs with no GPU and no network.

- consistency: 1.0 when what the reasoning concludes (``judges.conclusion``: the side it takes on a
  true/false or yes/no statement, the number it counts, the option it names by letter or text)
  is what the answer gives, else 0.0 — also when the reasoning concludes nothing (cut off,
  undecided). It never fails, so it never returns ``None``. For CI, the demo and offline smoke
  runs; its agreement with hand labels is in ``docs/judges.md``.
- grounding: with a scene graph, ``CORRECT`` / ``INCORRECT`` / ``SKIP`` by the sentence's
  checkable claims (``judges.scene_graph``); without one, ``SKIP`` (not applicable). A scene
  graph that cannot be read is a counted, logged failure (``None``).

Stats have the same keys as :class:`~fgrpo_verl.judges.OpenAIJudge`'s; ``retries`` and
``cache_hits`` stay 0 and latencies are the rule's own compute time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from fgrpo_verl.config import ImageConfig
from fgrpo_verl.judges.base import Judge
from fgrpo_verl.judges.conclusion import concludes_answer
from fgrpo_verl.judges.scene_graph import grade_sentence, load_scene_graph
from fgrpo_verl.judges.stats import JudgeTally

logger = logging.getLogger(__name__)


class RuleJudge(Judge):
    """Rule-based judge with the async interface of :class:`~fgrpo_verl.judges.base.Judge`.

    ``image``: the policy's input frame; cited ``<bbox>`` coordinates are compared with scene-graph
    boxes mapped into it (``None`` compares in the scene graph's own pixels).
    """

    def __init__(self, image: ImageConfig | None = None) -> None:
        super().__init__()
        self.image = image

    def __repr__(self) -> str:
        return f"RuleJudge(image={self.image!r})"

    async def aclose(self) -> None:
        """Nothing to release: the rules hold no connections."""

    async def _consistency(
        self, question: str, think: str, answer: str, scene_graph: dict | str | None, tally: JudgeTally | None
    ) -> float | None:
        self._stats.count("calls", tally)
        started = time.perf_counter()
        verdict = float(concludes_answer(question, think, answer))
        self._stats.add_latency(time.perf_counter() - started)
        return verdict

    async def _ground_sentence(
        self,
        images: Sequence[Any] | None,
        question: str,
        context: str,
        sentence: str,
        scene_graph: dict | str | None,
        tally: JudgeTally | None,
    ) -> str | None:
        self._stats.count("calls", tally)
        started = time.perf_counter()
        try:
            graph = load_scene_graph(scene_graph)
        except (ValueError, TypeError, KeyError) as err:
            logger.warning("rule judge: unreadable scene graph (%s); grounding not applicable", err)
            self._stats.count("failures", tally)
            return None
        label = grade_sentence(sentence, graph, self.image)
        self._stats.add_latency(time.perf_counter() - started)
        return label
