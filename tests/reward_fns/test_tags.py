"""Format channel and think/answer extraction (SPEC §1 ``format`` and answer extraction)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reward_fns import extract_answer, extract_think, format_reward

GOOD = "<think>The red cup is left of the box.</think><answer>B</answer>"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (GOOD, 1.0),
        ("  \n<think>\nThe cup is left.\n</think>\n\n<answer> B </answer>\n", 1.0),
        ("<think>a</think>\t<answer>b</answer>", 1.0),
        # adversarial layouts
        ("<think>The cup.</think><answer>A</answer><answer>B</answer>", 0.0),  # two answer blocks
        ("<think>The cup.</think><answer>A</answer> The answer is B", 0.0),  # text after the answer
        ("<think>The cup.</think> so B <answer>B</answer>", 0.0),  # text between the blocks
        ("Sure! <think>The cup.</think><answer>B</answer>", 0.0),  # text before the think block
        ("<think>The cup.</think>B", 0.0),  # answer outside tags
        ("<think></think><answer>B</answer>", 0.0),  # empty think
        ("<think>   \n </think><answer>B</answer>", 0.0),  # whitespace-only think
        ("<think>The cup.</think><answer>  </answer>", 0.0),  # empty answer
        ("<answer>B</answer><think>The cup.</think>", 0.0),  # think after answer
        ("<think>The cup.<answer>B</answer></think>", 0.0),  # answer nested in think
        ("<think>The <think>cup</think>.</think><answer>B</answer>", 0.0),  # nested think
        ("<think>The cup.</think><answer>B", 0.0),  # unclosed answer
        ("<think>The cup.<answer>B</answer>", 0.0),  # unclosed think
        ("<think>The cup.</think></think><answer>B</answer>", 0.0),  # stray closing tag
        ("<think>a</think><think>b</think><answer>B</answer>", 0.0),  # two think blocks
        ("<THINK>The cup.</THINK><ANSWER>B</ANSWER>", 0.0),  # tags are lower case
        ("", 0.0),
        ("B", 0.0),
    ],
)
def test_format_reward_table(response: str, expected: float) -> None:
    assert format_reward(response) == expected


@pytest.mark.parametrize(
    ("response", "think", "answer"),
    [
        (GOOD, "The red cup is left of the box.", "B"),
        ("<think>x</think><answer>A</answer> then <answer> (C) </answer>", "x", "(C)"),  # last block wins
        ("<answer>A</answer> and then <answer>B", None, "A"),  # unclosed trailing block is not a block
        ("<answer> x <answer>B</answer>", None, "B"),  # a block holds no second opening tag
        ("<answer>A</answer>B</answer>", None, "A"),  # the block ends at the first closing tag
        ("no tags at all", None, None),
        ("B</answer>", None, None),
        ("<think>only thinking</think>", "only thinking", None),
        ("<answer></answer>", None, ""),
    ],
)
def test_extraction_table(response: str, think: str | None, answer: str | None) -> None:
    assert extract_think(response) == think
    assert extract_answer(response) == answer


def _reference_last_block(response: str, tag: str) -> str | None:
    """The definition in the module docstring, as a regex: blocks whose text holds no opening tag."""
    blocks = re.findall(rf"<{tag}>((?:(?!<{tag}>).)*?)</{tag}>", response, re.DOTALL)
    return blocks[-1].strip() if blocks else None


_FRAGMENTS = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "A", "B", " ", "\n", "x y", "<", ">"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=14).map("".join))
def test_extraction_matches_regex_definition(response: str) -> None:
    assert extract_answer(response) == _reference_last_block(response, "answer")
    assert extract_think(response) == _reference_last_block(response, "think")


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=14).map("".join))
def test_format_matches_regex_definition(response: str) -> None:
    layout = re.fullmatch(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", response, re.DOTALL)
    once = all(response.count(tag) == 1 for tag in ("<think>", "</think>", "<answer>", "</answer>"))
    expected = float(bool(once and layout and layout.group(1).strip() and layout.group(2).strip()))
    assert format_reward(response) == expected
