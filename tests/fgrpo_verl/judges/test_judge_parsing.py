"""Verdict parsing: only explicit labels count; negations, conflicts and echoed instructions are failures."""

from __future__ import annotations

import time

import pytest

from fgrpo_verl.judges.parsing import CONSISTENCY_LABELS, GROUNDING_LABELS, MAX_REPLY_CHARS, parse_verdict

LABEL_ONLY = [
    ("YES", "YES"),
    ("no", "NO"),
    ("Uncertain.", "UNCERTAIN"),
    (" YES \n", "YES"),
    ("ＹＥＳ", "YES"),  # full-width letters fold to ASCII
    ("**YES**", "YES"),
    ("`NO`", "NO"),
]

MARKDOWN_AND_KEYS = [
    ("Answer: yes", "YES"),
    ("**Verdict:** No", "NO"),
    ("Verdict: `YES`", "YES"),
    ("### Verdict\nYES", "YES"),
    ("The reasoning picks B and so does the answer.\nVerdict: YES", "YES"),
    ("reasoning says A... Final answer: NO", "NO"),
    ("There is no contradiction.\nYES", "YES"),  # prose before an explicit verdict does not count
    ("The conclusion matches, so YES.", "YES"),
    ('{"verdict": "NO"}', "NO"),
]

THINK_BLOCKS = [
    ("<think>At first I thought YES, but the reasoning says A.</think>\nVerdict: NO", "NO"),
    ("<think>Maybe no.</think>YES", "YES"),
    ("the template opened the block</think>\n\nFinal verdict: uncertain", "UNCERTAIN"),
    ("<think>I believe the answer is YES", None),  # cut off inside the reasoning
]

NEGATIONS = [
    ("The sentence is not correct.", None),
    ("Verdict: NOT YES", None),
    ("It isn't YES.", None),
    ("I would never say YES here.", None),
    ("Verdict: not really YES", None),
    ("not YES\nYES", None),  # a label both negated and asserted
]

CONFLICTS = [
    ("YES or NO", None),
    ("Verdict: NO\n\nOn reflection, verdict: YES", None),
    ("Verdict: YES. But really it is NO.", None),
    # A reply that echoes the instruction names every label.
    ("I must end with 'Verdict: YES', 'Verdict: NO' or 'Verdict: UNCERTAIN'.", None),
    ("Verdict: YES\nNO", None),
]

NO_LABEL = [
    ("Lorem ipsum dolor sit amet.", None),
    ("", None),
    (None, None),
    ("yesterday", None),
    ("Verdict: maybe", None),
    ("nonetheless", None),
]


@pytest.mark.parametrize(
    ("text", "expected"), LABEL_ONLY + MARKDOWN_AND_KEYS + THINK_BLOCKS + NEGATIONS + CONFLICTS + NO_LABEL
)
def test_consistency_replies(text: str | None, expected: str | None) -> None:
    assert parse_verdict(text, CONSISTENCY_LABELS) == expected


GROUNDING_CASES = [
    ("CORRECT", "CORRECT"),
    ("incorrect", "INCORRECT"),
    ("**Skip**", "SKIP"),
    ("The sentence claims the circle is red, and it is.\nVerdict: CORRECT", "CORRECT"),
    ("The cup is not on the left.\nVerdict: INCORRECT", "INCORRECT"),
    ("Label: INCORRECT", "INCORRECT"),
    ("Judgement - correct", "CORRECT"),
    ("The sentence is correct, not incorrect.", "CORRECT"),
    ("INCORRECT. The sentence is not correct.", "INCORRECT"),
    ("The sentence is not correct.", None),
    ("Not CORRECT", None),
    ("The claim isn’t correct", None),
    ("CORRECT or INCORRECT", None),
    ("Verdict: CORRECT\nVerdict: SKIP", None),
    ("YES", None),
]


@pytest.mark.parametrize(("text", "expected"), GROUNDING_CASES)
def test_grounding_replies(text: str, expected: str | None) -> None:
    assert parse_verdict(text, GROUNDING_LABELS) == expected


def test_a_verdict_beyond_the_length_cap_is_not_read() -> None:
    # Only the tail is read: a label followed by a flood of filler is unparseable, not a guess.
    assert parse_verdict("YES\n" + "filler " * MAX_REPLY_CHARS, CONSISTENCY_LABELS) is None
    assert parse_verdict("filler " * MAX_REPLY_CHARS + "\nYES", CONSISTENCY_LABELS) == "YES"


@pytest.mark.parametrize(
    "reply",
    [
        "<think>" * 30_000,
        "<think>" * 30_000 + "YES",
        "</think>" * 30_000 + "YES",
        "not " * 60_000 + "YES",
        "Verdict: " * 30_000,
        "YES " * 60_000,
    ],
)
def test_hostile_replies_parse_in_linear_time(reply: str) -> None:
    # Generous bound: the old quadratic parser took ~100 s on 30k tags; a linear one takes milliseconds.
    started = time.perf_counter()
    parse_verdict(reply, CONSISTENCY_LABELS)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("labels", [(), ("NOT SURE",), ("YES", "1")])
def test_labels_must_be_single_words(labels: tuple) -> None:
    with pytest.raises(ValueError, match="single words"):
        parse_verdict("YES", labels)
