"""Each reasoning style's text earns, from the real per-rollout scoring and the rule judge, what it is meant to."""

from __future__ import annotations

import asyncio

import pytest

from fgrpo_verl.demo.pipeline import demo_config
from fgrpo_verl.demo.settings import OUTCOMES, STYLES
from fgrpo_verl.demo.styles import responses
from fgrpo_verl.judges import RuleJudge
from fgrpo_verl.rollout_scoring import score_rollout


@pytest.fixture(scope="module")
def scored(demo_items):
    """(item, style, outcome, channels) for every variant of every item, style and outcome."""
    config = demo_config()
    judge = RuleJudge(image=config.image)
    cases = [
        (item, style, outcome, text)
        for item in demo_items
        for style in STYLES
        for outcome in OUTCOMES
        for text in responses(item, style, outcome, seed=0)
    ]

    async def score_all():
        return await asyncio.gather(*(score_rollout(t, i.row, config=config, judge=judge) for i, _, _, t in cases))

    return [(i, s, c, ch) for (i, s, c, _), ch in zip(cases, asyncio.run(score_all()), strict=True)]


def _select(scored, style, outcome):
    rows = [(item, ch) for item, s, o, ch in scored if s == style and o == outcome]
    assert rows
    return rows


def test_every_question_type_is_covered(demo_items):
    assert {item.qtype for item in demo_items} == {"left_right", "above_below", "extreme", "size", "nearer", "count"}


def test_only_the_wrong_outcome_answers_wrong(scored):
    for item, style, outcome, ch in scored:
        assert ch["acc"] == float(outcome != "wrong"), (item.index, style, outcome)


def test_grounded_is_formatted_consistent_and_grounded_when_correct(scored):
    rows = _select(scored, "grounded", "correct")
    graded = 0
    for item, ch in rows:
        assert ch["format"] == 1.0
        assert (ch["consistency_mask"], ch["consistency"]) == (1.0, 1.0), item.index
        if ch["semantic_grounding_mask"]:
            graded += 1
            assert ch["semantic_grounding"] == 1.0, item.index
        if item.about:  # questions with ground-truth boxes: the cited (slightly jittered) boxes match them
            assert ch["spatial_grounding_mask"] == 1.0
            assert ch["spatial_grounding"] > 0.6, (item.index, ch["spatial_grounding"])
    assert graded >= 0.9 * len(rows)


def test_grounded_wrong_outcomes_keep_the_format_and_are_not_judged(scored):
    for _, ch in _select(scored, "grounded", "wrong"):
        assert ch["format"] == 1.0
        assert ch["consistency_mask"] == 0.0 and ch["semantic_grounding_mask"] == 0.0  # judged when correct only


@pytest.mark.parametrize("style", ["grounded", "vague"])
def test_a_slip_is_a_correct_answer_the_reasoning_does_not_conclude(scored, style):
    for item, ch in _select(scored, style, "slip"):
        assert (ch["consistency_mask"], ch["consistency"]) == (1.0, 0.0), item.index
        if style == "grounded" and ch["semantic_grounding_mask"]:
            assert ch["semantic_grounding"] == 1.0  # the claims are still true


@pytest.mark.parametrize("outcome", ["correct", "slip"])
def test_shortcut_is_inconsistent_and_ungrounded_when_correct(scored, outcome):
    for item, ch in _select(scored, "shortcut", outcome):
        assert ch["format"] == 1.0
        assert (ch["consistency_mask"], ch["consistency"]) == (1.0, 0.0), item.index
        assert (ch["semantic_grounding_mask"], ch["semantic_grounding"]) == (1.0, 0.0), item.index
        assert ch["spatial_grounding"] == 0.0


def test_vague_is_consistent_but_has_nothing_to_ground(scored):
    for item, ch in _select(scored, "vague", "correct"):
        assert ch["format"] == 1.0
        assert (ch["consistency_mask"], ch["consistency"]) == (1.0, 1.0), item.index
        assert ch["semantic_grounding_mask"] == 0.0
        assert ch["spatial_grounding"] == 0.0


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_malformed_breaks_the_format(scored, outcome):
    for _, ch in _select(scored, "malformed", outcome):
        assert ch["format"] == 0.0
        assert ch["task"] == pytest.approx(0.5 * ch["acc"])


def test_texts_are_deterministic_in_the_seed(demo_items):
    item = demo_items[0]
    assert responses(item, "grounded", "correct", seed=3) == responses(item, "grounded", "correct", seed=3)
    assert responses(item, "grounded", "correct", seed=3) != responses(item, "grounded", "correct", seed=4)


def test_unknown_style_or_outcome_is_an_error(demo_items):
    with pytest.raises(ValueError, match="unknown style 'terse'"):
        responses(demo_items[0], "terse", "correct", seed=0)
    with pytest.raises(ValueError, match="unknown outcome 'lucky'"):
        responses(demo_items[0], "grounded", "lucky", seed=0)
