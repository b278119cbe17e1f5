"""Verdict parsing: markdown, reasoning preambles and think blocks are tolerated; the final verdict wins."""

from __future__ import annotations

import pytest

from fgrpo_verl.judges.parsing import CONSISTENCY_LABELS, GROUNDING_LABELS, parse_verdict

CONSISTENCY_CASES = [
    ("YES", "YES"),
    ("no", "NO"),
    ("Uncertain.", "UNCERTAIN"),
    ("**YES**", "YES"),
    ("Answer: yes", "YES"),
    ("**Verdict:** No", "NO"),
    ("Verdict: `YES`", "YES"),
    ("The reasoning picks B and so does the answer.\nVerdict: YES", "YES"),
    ("reasoning says A... Final answer: NO", "NO"),
    ("<think>At first I thought YES, but the reasoning says A.</think>\nVerdict: NO", "NO"),
    ("<think>Maybe no.</think>YES", "YES"),
    ("the template opened the block</think>\n\nFinal verdict: uncertain", "UNCERTAIN"),
    ("Verdict: NO\n\nOn reflection, verdict: YES", "YES"),
    ("### Verdict\nYES", "YES"),
    ("There is no contradiction.\nYES", "YES"),
    ("The conclusion matches, so YES.", "YES"),
    ("YES or NO", None),
    ("Lorem ipsum dolor sit amet.", None),
    ("", None),
    (None, None),
    ("<think>I believe the answer is YES", None),
    ("yesterday", None),
    ("Verdict: maybe", None),
]


@pytest.mark.parametrize(("text", "expected"), CONSISTENCY_CASES)
def test_consistency_verdicts_are_read_from_free_form_replies(text: str | None, expected: str | None) -> None:
    assert parse_verdict(text, CONSISTENCY_LABELS) == expected


GROUNDING_CASES = [
    ("CORRECT", "CORRECT"),
    ("incorrect", "INCORRECT"),
    ("**Skip**", "SKIP"),
    ("The sentence claims the circle is red, and it is.\nVerdict: CORRECT", "CORRECT"),
    ("The cup is not on the left.\nVerdict: INCORRECT", "INCORRECT"),
    ("Label: INCORRECT", "INCORRECT"),
    ("Judgement - correct", "CORRECT"),
    ("CORRECT or INCORRECT", None),
    ("YES", None),
]


@pytest.mark.parametrize(("text", "expected"), GROUNDING_CASES)
def test_grounding_verdicts_do_not_confuse_correct_with_incorrect(text: str, expected: str | None) -> None:
    assert parse_verdict(text, GROUNDING_LABELS) == expected
