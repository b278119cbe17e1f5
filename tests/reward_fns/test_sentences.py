"""The trivial-sentence filter (SPEC §1 semantic grounding: which sentences go to the judge)."""

from __future__ import annotations

import pytest

from fgrpo_verl.config import FGRPOConfig
from reward_fns import TRIVIAL_PREFIXES, VISUAL_WORDS, is_trivial_sentence, nontrivial_sentences


@pytest.mark.parametrize(
    "sentence",
    [
        # meta-reasoning, planning, hedging, concluding: trivial even when they name objects
        "Let me look at the red cup.",
        "Let's compare the two boxes.",
        "LET ME check the image again.",
        "Therefore, the cup is left of the box.",
        "So the answer is B.",
        "Wait, the cup might be behind the box.",
        "Hmm, the box looks larger.",
        "First, I will find the chair.",
        "I need to locate the lamp.",
        "Okay, the question asks about the table.",
        "Maybe the cup is on the left.",
        "The answer is (B).",
        "**Therefore**, the cup is left.",  # markdown emphasis before the phrase
        "I\u2019ll check the red cup.",  # typographic apostrophe
        # nothing visual: arithmetic and bookkeeping
        "230 - 50 = 180.",
        "That gives 180 in total.",
        "This matches option two.",
        "",
        "   ",
    ],
)
def test_trivial_sentences(sentence: str) -> None:
    assert is_trivial_sentence(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "The red cup is on the left side of the table.",
        "The lamp stands behind the sofa.",
        "Both circles are blue.",  # plural of a visual word
        "The boxes overlap.",
        "The cup is at <bbox>[12, 40, 88, 120]</bbox>.",  # a box tag
        "It sits at [120, 35].",  # bracketed coordinates
        "Its center is at (120, 35).",
        "The chair is next to the door.",  # multi-word relation
        "The top-left object is a triangle.",  # hyphenated words count word by word
        "Waiting room chairs are grey.",  # 'wait' is a prefix only as a whole word
        "Okapis are brown animals.",  # likewise 'ok'
    ],
)
def test_nontrivial_sentences(sentence: str) -> None:
    assert not is_trivial_sentence(sentence)


def test_both_lists_live_in_one_module_and_are_tuples() -> None:
    assert isinstance(TRIVIAL_PREFIXES, tuple) and isinstance(VISUAL_WORDS, tuple)
    assert "let me" in TRIVIAL_PREFIXES and "therefore" in TRIVIAL_PREFIXES and "wait" in TRIVIAL_PREFIXES
    assert {"left", "right", "above", "below", "behind", "red", "circle"} <= set(VISUAL_WORDS)


def test_overrides_replace_the_lists() -> None:
    sentence = "Notably, the widget is shiny."
    assert not is_trivial_sentence(sentence)  # "shiny" is a visual word
    assert is_trivial_sentence(sentence, trivial_prefixes=["notably"])
    assert is_trivial_sentence(sentence, visual_words=["gizmo"])
    assert not is_trivial_sentence(sentence, visual_words=["widget"])
    # an override replaces the default list rather than extending it
    assert not is_trivial_sentence("Let me see the gizmo.", trivial_prefixes=["notably"], visual_words=["gizmo"])
    assert is_trivial_sentence("The cup is red.", visual_words=[])
    assert not is_trivial_sentence("Wait, the cup is red.", trivial_prefixes=[])


def test_nontrivial_sentences_keeps_visual_claims_in_order() -> None:
    think = (
        "Let me look at the image carefully. The red circle is at <bbox>[12, 40, 88, 120]</bbox> on the left. "
        "Wait, 230 - 50 = 180. The blue square is further right. Therefore the circle is left of the square."
    )
    assert nontrivial_sentences(think) == [
        "The red circle is at <bbox>[12, 40, 88, 120]</bbox> on the left.",
        "The blue square is further right.",
    ]
    assert nontrivial_sentences("") == []


def test_config_lists_reach_the_filter() -> None:
    """``fgrpo.sentences.*`` as parsed by FGRPOConfig is what the reward manager passes through."""
    config = FGRPOConfig.from_dict({"sentences": {"trivial_prefixes": ["notably"], "visual_words": ["widget"]}})
    text = "Notably, the widget is left. The widget is shiny. The cup is red."
    kept = nontrivial_sentences(text, config.sentences.trivial_prefixes, config.sentences.visual_words)
    assert kept == ["The widget is shiny."]
    defaults = FGRPOConfig.from_dict({}).sentences
    assert nontrivial_sentences(text, defaults.trivial_prefixes, defaults.visual_words) == [
        "Notably, the widget is left.",
        "The widget is shiny.",
        "The cup is red.",
    ]
