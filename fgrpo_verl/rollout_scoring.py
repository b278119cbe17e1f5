"""Every SPEC §1 channel of one rollout, from its response text and its row: no verl here.

The verl reward manager (:mod:`fgrpo_verl.reward_manager`), the evaluation harness and the
demo all score through :class:`RolloutScorer`, so training and evaluation compute channels
identically. Per rollout (``m_k`` is the applicability mask; the value is 0.0 wherever ``m_k = 0``):

    acc, format         rule rewards (reward_fns); task = w_acc·acc + w_format·format
    consistency         R_C = 1 if the judge says the reasoning concludes the answer, else 0;
                        m_C = 1 iff acc > 0 and the judge answered
    semantic_grounding  R_S = #CORRECT / #(CORRECT + INCORRECT) over the non-trivial sentences of
                        the reasoning, one judge call per sentence (run concurrently), each with
                        every earlier sentence as context;
                        m_S = 1 iff acc > 0 and at least one sentence got CORRECT or INCORRECT
    spatial_grounding   R_G = spatial_grounding_reward(<bbox>es of the reasoning, ground truth
                        rescaled to the model's input frame); m_G = 1 iff the row has gt boxes
    judge_calls / judge_failures / judge_cache_hits / judge_flagged: this rollout's judge events
    judge_latency_s     mean latency of this rollout's successful judge round trips (0.0 without any)

``judge_all=True`` (evaluation, SPEC §5) drops the ``acc > 0`` gate: the inconsistency rate and
semantic grounding are then reported over all samples, not only correct ones.

Bad input never raises out of :meth:`RolloutScorer.score`: a missing or malformed field that a
channel needs makes that channel not applicable, logged with the row's ``extra_info.index`` and
counted in :attr:`RolloutScorer.skipped`. A judge call that fails (``None`` after the judge's own
retries) makes its channel not applicable and counts in ``judge_failures``; policy text that
addresses the judge is answered by the judge's injection rule (consistency 0, sentence INCORRECT)
and counts in ``judge_flagged``.
"""

import asyncio
import dataclasses
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Mapping
from typing import Any

import numpy as np

from fgrpo_verl.channels import CONSTRAINTS, JUDGE_LATENCY_KEY, JUDGED_CONSTRAINTS, extra_info_keys, mask_key
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.judges import Judge, JudgeTally, looks_like_judge_injection
from reward_fns import (
    accuracy_reward,
    extract_answer,
    extract_think,
    format_reward,
    is_trivial_sentence,
    parse_bboxes,
    smart_resize,
    spatial_grounding_reward,
    split_sentences,
    to_model_frame,
)

logger = logging.getLogger(__name__)


class RowFieldError(ValueError):
    """A row field that a channel needs is missing or malformed; the message names the field."""


@dataclasses.dataclass(frozen=True)
class _Channel:
    """Value and applicability mask of one constraint channel of one rollout."""

    value: float = 0.0
    mask: float = 0.0


_NOT_APPLICABLE = _Channel()


def as_list(value: Any, field: str) -> list[Any]:
    """A list from a list, tuple or numpy array (parquet rows read through pandas hold arrays)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return list(value)
    raise RowFieldError(f"{field} must be a list, got {type(value).__name__}")


def _finite_numbers(value: Any, count: int, field: str) -> list[float]:
    items = as_list(value, field)
    if len(items) != count:
        raise RowFieldError(f"{field} must hold {count} numbers, got {len(items)}")
    numbers = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float | np.integer | np.floating):
            raise RowFieldError(f"{field} must hold numbers, got {item!r}")
        if not math.isfinite(float(item)):
            raise RowFieldError(f"{field} holds a non-finite number {item!r}")
        numbers.append(float(item))
    return numbers


def question_with_options(question: str, choices: list[str] | None) -> str:
    """The question as the judges see it: its text, then ``(A) …`` lines when it has options.

    Answers are usually a bare letter, so the consistency judge needs the options to tell
    which option the reasoning concludes.
    """
    if not choices:
        return question
    options = "\n".join(f"({chr(ord('A') + i)}) {choice}" for i, choice in enumerate(choices))
    return f"{question}\nOptions:\n{options}"


class SampleView:
    """Read access to one rollout's row: ``extra_info``, ``reward_model`` and the prompt's images.

    ``sample`` is verl's ``non_tensor_batch`` of one rollout or a parquet row as ``data_prep`` writes it.
    Accessors raise :class:`RowFieldError` naming the field, so each channel skips on exactly the
    fields it needs and nothing else.
    """

    def __init__(self, non_tensor: Mapping[str, Any]) -> None:
        self._non_tensor = non_tensor
        extra = non_tensor.get("extra_info")
        self._extra: Mapping[str, Any] | None = extra if isinstance(extra, Mapping) else None
        reward_model = non_tensor.get("reward_model")
        self._reward_model: Mapping[str, Any] = reward_model if isinstance(reward_model, Mapping) else {}
        self.index = self._extra.get("index", "?") if self._extra is not None else "?"
        self.data_source = str(non_tensor.get("data_source", "?"))

    def _extra_field(self, key: str) -> Any:
        if self._extra is None:
            raise RowFieldError("extra_info is missing")
        value = self._extra.get(key)
        if value is None:
            raise RowFieldError(f"extra_info.{key} is missing")
        return value

    def ground_truth(self) -> str:
        """``reward_model.ground_truth`` (the answer letter), else ``extra_info.answer``."""
        value = self._reward_model.get("ground_truth")
        if value is None and self._extra is not None:
            value = self._extra.get("answer")
        if value is None or not str(value).strip():
            raise RowFieldError("reward_model.ground_truth (and extra_info.answer) is missing")
        return str(value)

    def choices(self) -> list[str] | None:
        """Option texts, or ``None`` for an open question (a row without options is valid)."""
        if self._extra is None or self._extra.get("choices") is None:
            return None
        return [str(choice) for choice in as_list(self._extra["choices"], "extra_info.choices")]

    def question(self) -> str:
        question = self._extra_field("question")
        if not isinstance(question, str) or not question.strip():
            raise RowFieldError("extra_info.question is empty")
        return question_with_options(question.strip(), self.choices())

    def scene_graph(self) -> dict[str, Any] | str | None:
        """The scene graph (JSON text or dict) for the rule judge; ``None`` when the row has none."""
        if self._extra is None or self._extra.get("scene_graph") is None:
            return None
        graph = self._extra["scene_graph"]
        return graph if isinstance(graph, Mapping) or (isinstance(graph, str) and graph.strip()) else None

    def images(self) -> list[Any]:
        """The prompt's images: ``raw_prompt`` chat messages, else the parquet ``images`` column, else ``multi_modal_data``.

        verl's dataset turns each ``<image>`` of the prompt into a content item
        ``{"type": "image", "image": PIL.Image, "bytes": ..., "path": ...}``; the encoded bytes are
        passed on when present (cheaper to hash and send than a re-encoded PIL image).
        """
        images: list[Any] = []
        messages = self._non_tensor.get("raw_prompt")
        for message in [] if messages is None else messages:
            content = message.get("content") if isinstance(message, Mapping) else None
            if content is None or isinstance(content, str):
                continue
            for part in content:
                if not isinstance(part, Mapping) or part.get("type") != "image":
                    continue
                if part.get("bytes") is not None:
                    images.append({"bytes": part["bytes"], "path": part.get("path") or ""})
                elif part.get("image") is not None:
                    images.append(part["image"])
        if not images and self._non_tensor.get("images") is not None:
            # A parquet row as data_prep writes it (evaluation, the demo): [{"bytes", "path"}, ...].
            images = as_list(self._non_tensor["images"], "images")
        if not images:
            multi_modal = self._non_tensor.get("multi_modal_data")
            if isinstance(multi_modal, Mapping) and multi_modal.get("images") is not None:
                images = list(multi_modal["images"])
        if not images:
            raise RowFieldError("no images in raw_prompt, images or multi_modal_data")
        return images

    def gt_boxes(self) -> list[list[float]]:
        """Ground-truth boxes ``[x1, y1, x2, y2]`` in original pixels of image 0 (possibly none)."""
        boxes = as_list(self._extra_field("gt_boxes"), "extra_info.gt_boxes")
        checked = []
        for i, box in enumerate(boxes):
            x1, y1, x2, y2 = _finite_numbers(box, 4, f"extra_info.gt_boxes[{i}]")
            if not (x2 > x1 and y2 > y1):
                raise RowFieldError(f"extra_info.gt_boxes[{i}] = {[x1, y1, x2, y2]} is not an ordered, non-empty box")
            checked.append([x1, y1, x2, y2])
        return checked

    def image_size(self) -> tuple[int, int]:
        """``(w, h)`` of image 0 in original pixels."""
        sizes = as_list(self._extra_field("image_sizes"), "extra_info.image_sizes")
        if not sizes:
            raise RowFieldError("extra_info.image_sizes is empty")
        width, height = _finite_numbers(sizes[0], 2, "extra_info.image_sizes[0]")
        if width < 1 or height < 1:
            raise RowFieldError(f"extra_info.image_sizes[0] = {[width, height]} is not a positive size")
        return int(width), int(height)


def computed_channels(config: FGRPOConfig, judge_all: bool = False) -> frozenset[str]:
    """Constraints a scorer computes (all three with ``judge_all``): the enabled ones, minus the
    judge-scored ones the mode does not read. Rule channels are cheap and always logged."""
    if judge_all:
        return frozenset(CONSTRAINTS)
    judged = config.spec.judged
    return frozenset(c for c in config.constraints if c not in JUDGED_CONSTRAINTS or c in judged)


def needs_judge(channels: frozenset[str]) -> bool:
    """Whether any of ``channels`` is judge-scored (spatial grounding is a rule)."""
    return not channels.isdisjoint(JUDGED_CONSTRAINTS)


class RolloutScorer:
    """Scores one rollout's response against its row: every key of ``extra_info_keys()``, as floats.

    ``judge`` may be ``None`` only when no judge-scored channel is computed (e.g. ``grpo_t``).
    ``skipped`` counts malformed-row skips by channel; pass a shared :class:`~collections.Counter`
    to count across scorers of one process.
    """

    def __init__(
        self,
        config: FGRPOConfig,
        judge: Judge | None,
        *,
        judge_all: bool = False,
        skipped: Counter | None = None,
    ) -> None:
        self.config = config
        self.channels = computed_channels(config, judge_all)
        if judge is None and needs_judge(self.channels):
            raise ValueError(f"a judge is needed to compute {sorted(self.channels)} (mode {config.mode!r})")
        self.judge = judge
        self.judge_all = judge_all
        self.skipped: Counter = Counter() if skipped is None else skipped

    async def score(self, response: str, sample: Mapping[str, Any]) -> dict[str, float]:
        """All channels of ``response`` for ``sample`` (verl ``non_tensor_batch`` or a parquet row)."""
        row = SampleView(sample)
        cfg = self.config
        acc = 0.0
        try:
            acc = accuracy_reward(response, row.ground_truth(), row.choices())
        except RowFieldError as bad:
            self._skip(row, "acc", bad)
        fmt = format_reward(response)
        task = cfg.w_acc * acc + cfg.w_format * fmt

        think = extract_think(response)
        tally = JudgeTally()
        consistency, semantic = await asyncio.gather(
            self._consistency(row, acc, think, extract_answer(response), tally),
            self._semantic_grounding(row, acc, think, tally),
        )
        spatial = self._spatial_grounding(row, think)

        info = {
            "acc": acc,
            "format": fmt,
            "task": task,
            "judge_calls": tally.calls,
            "judge_failures": tally.failures,
            "judge_cache_hits": tally.cache_hits,
            "judge_flagged": tally.flagged,
            JUDGE_LATENCY_KEY: tally.mean_latency_s,
        }
        for name, channel in (
            ("consistency", consistency),
            ("semantic_grounding", semantic),
            ("spatial_grounding", spatial),
        ):
            info[name], info[mask_key(name)] = channel.value, channel.mask
        return {key: float(info[key]) for key in extra_info_keys()}

    def _gated(self, acc: float) -> bool:
        """Judged channels apply to correct rollouts only (SPEC §1), unless evaluating all samples."""
        return acc <= 0 and not self.judge_all

    def _skip(self, row: SampleView, channel: str, reason: Exception) -> None:
        self.skipped[channel] += 1
        logger.warning(
            "fgrpo reward: row extra_info.index=%s (data_source=%s): %s not applicable, skipped: %s "
            "[%d %s skips in this process]",
            row.index,
            row.data_source,
            channel,
            reason,
            self.skipped[channel],
            channel,
        )

    async def _ask(self, row: SampleView, channel: str, call: Awaitable[Any], tally: JudgeTally) -> Any:
        """Await one judge call. Judges return ``None`` on failure; an exception breaks that
        contract, so it is logged with its traceback and counted as a failure instead of killing the worker."""
        try:
            return await call
        except Exception:
            logger.exception("fgrpo reward: judge raised on row extra_info.index=%s (%s)", row.index, channel)
            tally.failures += 1
            return None

    async def _consistency(
        self, row: SampleView, acc: float, think: str | None, answer: str | None, tally: JudgeTally
    ) -> _Channel:
        if "consistency" not in self.channels or self._gated(acc):
            return _NOT_APPLICABLE
        try:
            question = row.question()
        except RowFieldError as bad:
            self._skip(row, "consistency", bad)
            return _NOT_APPLICABLE
        call = self.judge.consistency(question, think, answer, scene_graph=row.scene_graph(), tally=tally)
        verdict = await self._ask(row, "consistency", call, tally)
        return _NOT_APPLICABLE if verdict is None else _Channel(float(verdict), 1.0)

    async def _semantic_grounding(self, row: SampleView, acc: float, think: str | None, tally: JudgeTally) -> _Channel:
        """R_S = #CORRECT / #(CORRECT + INCORRECT); failed sentences (``None``) are left out."""
        if "semantic_grounding" not in self.channels or self._gated(acc) or not think:
            return _NOT_APPLICABLE
        try:
            question = row.question()
            images = row.images()
        except RowFieldError as bad:
            self._skip(row, "semantic_grounding", bad)
            return _NOT_APPLICABLE
        scene_graph = row.scene_graph()
        images = await self.judge.prepare_images(images, self._box_frame(row))  # encoded once, reused by every sentence
        calls = [
            self._ask(
                row,
                "semantic_grounding",
                self.judge.ground_sentence(images, question, context, sentence, scene_graph=scene_graph, tally=tally),
                tally,
            )
            for sentence, context in self._judged_sentences(think)
        ]
        labels = [None if label is None else str(label).upper() for label in await asyncio.gather(*calls)]
        correct, graded = labels.count("CORRECT"), labels.count("CORRECT") + labels.count("INCORRECT")
        return _Channel(correct / graded, 1.0) if graded else _NOT_APPLICABLE

    def _box_frame(self, row: SampleView) -> tuple[int, int] | None:
        """``(width, height)`` of the policy's input frame for image 0 (smart_resize of its original size),
        the frame its cited boxes are written in; ``None`` when the row does not say its image size."""
        image = self.config.image
        try:
            width, height = row.image_size()
            resized_h, resized_w = smart_resize(
                height, width, factor=image.factor, min_pixels=image.min_pixels, max_pixels=image.max_pixels
            )
        except (RowFieldError, ValueError):
            return None
        return resized_w, resized_h

    def _judged_sentences(self, think: str) -> list[tuple[str, str]]:
        """``(sentence, context)`` per non-trivial or flagged sentence; context = the earlier sentences of
        ``think`` that are not flagged as injection (a flagged one is graded INCORRECT itself, and its
        text never reaches the judge as context either)."""
        filters = self.config.sentences
        judged, shown = [], []
        for sentence in split_sentences(think):
            flagged = looks_like_judge_injection(sentence)
            if flagged or not is_trivial_sentence(sentence, filters.trivial_prefixes, filters.visual_words):
                judged.append((sentence, " ".join(shown)))
            if not flagged:
                shown.append(sentence)
        return judged

    def _spatial_grounding(self, row: SampleView, think: str | None) -> _Channel:
        """R_G against gt boxes mapped from original pixels to the frame the policy sees (SPEC §1)."""
        if "spatial_grounding" not in self.channels:
            return _NOT_APPLICABLE
        image = self.config.image
        try:
            gt_boxes = row.gt_boxes()
            if not gt_boxes:
                return _NOT_APPLICABLE
            try:
                gt_model = to_model_frame(
                    gt_boxes,
                    row.image_size(),
                    factor=image.factor,
                    min_pixels=image.min_pixels,
                    max_pixels=image.max_pixels,
                )
            except ValueError as err:  # smart_resize refuses the size (aspect ratio, bounds)
                raise RowFieldError(f"extra_info.image_sizes[0] has no model frame: {err}") from err
        except RowFieldError as bad:
            self._skip(row, "spatial_grounding", bad)
            return _NOT_APPLICABLE
        return _Channel(float(spatial_grounding_reward(parse_bboxes(think or ""), gt_model)), 1.0)


async def score_rollout(
    response: str,
    sample: Mapping[str, Any],
    *,
    config: FGRPOConfig,
    judge: Judge | None,
    judge_all: bool = False,
) -> dict[str, float]:
    """One-off :meth:`RolloutScorer.score`; build a :class:`RolloutScorer` once when scoring many rollouts."""
    return await RolloutScorer(config, judge, judge_all=judge_all).score(response, sample)
