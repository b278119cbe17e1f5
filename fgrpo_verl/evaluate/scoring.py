"""Score every data row's generation, concurrently, with the training's own channel scorer.

Each row is scored by :class:`fgrpo_verl.rollout_scoring.RolloutScorer` — what the reward manager
uses during training — with ``judge_all=True``, so consistency and semantic grounding are
judged on every sample, not only on correct ones (SPEC §5 reports the inconsistency rate over all
samples). A row without a generation is scored as the empty response: wrong, inconsistent, and in
every denominator. The optional answer judge then re-decides the free-form answers
(:mod:`fgrpo_verl.evaluate.answer_judge`).

At most ``concurrency`` rows are in flight at once (an ``asyncio`` semaphore), which also bounds
how many rows' images are held in memory; the judges bound their own HTTP concurrency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from tqdm import tqdm

from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.evaluate.answer_judge import AnswerJudge, free_form_answer, reference_answer
from fgrpo_verl.evaluate.joins import Generation, GenerationIndex, Key
from fgrpo_verl.evaluate.records import SampleScore
from fgrpo_verl.judges import Judge
from fgrpo_verl.rollout_scoring import RolloutScorer, question_with_options

#: ``scorer(response, row) -> channels``: what produces one sample's channels.
Scorer = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, float]]]


def rollout_scorer(config: FGRPOConfig, judge: Judge) -> RolloutScorer:
    """The training's per-rollout scorer with every judged channel computed regardless of ``acc``.

    Pass its ``score`` method as the :data:`Scorer`; its ``skipped`` counts malformed-row skips by channel.
    """
    return RolloutScorer(config, judge, judge_all=True)


def _choices(extra: Mapping[str, Any]) -> list[str]:
    return [str(choice) for choice in (extra.get("choices") if extra.get("choices") is not None else [])]


async def _answer_verdict(answer_judge: AnswerJudge, answer: str, row: Mapping[str, Any]) -> float | None:
    """The answer judge's verdict on a free-form ``answer`` to ``row``'s question (``None``: it failed)."""
    extra = row["extra_info"]
    ground_truth = str((row.get("reward_model") or {}).get("ground_truth") or extra.get("answer") or "")
    question = question_with_options(str(extra.get("question") or ""), _choices(extra))
    return await answer_judge.same_answer(question, answer, reference_answer(extra, ground_truth))


async def score_sample(
    key: Key,
    row: Mapping[str, Any],
    generation: Generation | None,
    scorer: Scorer,
    answer_judge: AnswerJudge | None = None,
) -> SampleScore:
    """One row joined with its generation (or ``None``), scored."""
    response = generation.response if generation is not None else ""
    try:
        channels = await scorer(response, row)
    except Exception as err:
        raise RuntimeError(f"scoring data_source={key[0]!r} extra_info.index={key[1]} failed: {err}") from err
    extra = row["extra_info"]
    rotation = int(extra.get("rotation") or 0)
    sample = SampleScore(
        data_source=key[0],
        index=key[1],
        channels={name: float(value) for name, value in channels.items()},
        acc=float(channels["acc"]),
        generated=generation is not None,
        truncated=generation is not None and "</answer>" not in response,
        circular_id=str(extra.get("circular_id") or ""),
        rotation=rotation,
        num_choices=len(_choices(extra)),
        rotation_mismatch=generation is not None and generation.rotation not in (None, rotation),
    )
    answer = free_form_answer(response, _choices(extra)) if answer_judge is not None and sample.acc == 0.0 else None
    if answer is not None:
        sample.acc = await _answer_verdict(answer_judge, answer, row)
        sample.answer_judged = True
        sample.answer_judge_failed = sample.acc is None
    return sample


async def score_generations(
    rows: Iterable[tuple[Key, dict[str, Any]]],
    generations: GenerationIndex,
    scorer: Scorer,
    *,
    answer_judge: AnswerJudge | None = None,
    concurrency: int = 64,
    total: int | None = None,
    progress: bool = True,
) -> tuple[list[SampleScore], list[Key]]:
    """Score every row; returns the samples (in row order) and the generation keys no row has (in line order)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    slots = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task[SampleScore]] = []
    seen: set[Key] = set()
    with tqdm(total=total, desc="score", unit="row", disable=not progress, mininterval=1.0) as bar:

        def finished(task: asyncio.Task[SampleScore]) -> None:
            slots.release()
            bar.update(1)

        try:
            for key, row in rows:
                seen.add(key)
                await slots.acquire()
                task = asyncio.create_task(score_sample(key, row, generations.by_key.get(key), scorer, answer_judge))
                task.add_done_callback(finished)
                tasks.append(task)
            samples = list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
    lines = generations.by_key
    unknown = sorted((key for key in lines if key not in seen), key=lambda key: lines[key].line)
    return samples, unknown
