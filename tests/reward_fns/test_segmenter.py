"""Sentence splitting: pysbd's segmentation, with boxes kept whole, no text lost, and the fast path
agreeing with pysbd on the whole text."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reward_fns import segmenter, split_sentences


def pysbd_whole(text: str) -> list[str]:
    """The reference: boxes protected, then pysbd on the whole text."""
    protected, boxes, prefix = segmenter._protect_boxes(text)
    return [segmenter._restore_boxes(s, boxes, prefix) for s in segmenter._pysbd_split(protected)]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n ", []),
        ("The cup is red.", ["The cup is red."]),
        (
            "The cup <bbox>[1.5, 2, 30, 40]</bbox> is left. Wait. The box is right!",
            ["The cup <bbox>[1.5, 2, 30, 40]</bbox> is left.", "Wait.", "The box is right!"],
        ),
        # a box that ends a sentence, and one that starts the next
        (
            "The cup is at <bbox>[1, 2, 3, 4]</bbox>. <bbox>[5.5,6,7,8.25]</bbox> marks the box.",
            ["The cup is at <bbox>[1, 2, 3, 4]</bbox>.", "<bbox>[5.5,6,7,8.25]</bbox> marks the box."],
        ),
        # periods inside a box never end a sentence
        ("See <bbox>[1. 2. 3. 4.]</bbox> here. Done now.", ["See <bbox>[1. 2. 3. 4.]</bbox> here.", "Done now."]),
        ("Is the cup left? Yes! It is.", ["Is the cup left?", "Yes!", "It is."]),
        ("The cup is 3.5 px wide. The box is 12 px.", ["The cup is 3.5 px wide.", "The box is 12 px."]),
        ("The answer is (B). The cup is left.", ["The answer is (B).", "The cup is left."]),
        ("The cup is left\nThe box is right", ["The cup is left", "The box is right"]),
        # pysbd's rules: abbreviations and initials do not end sentences
        ("Dr. Smith put the cup left. It is red.", ["Dr. Smith put the cup left.", "It is red."]),
        ("The cup is e.g. red. The box is blue.", ["The cup is e.g. red.", "The box is blue."]),
        ('He said "the cup. is red." Then left.', ['He said "the cup. is red."', "Then left."]),
        # consecutive numbers before periods are a numbered list to pysbd, wherever they are
        (
            "The cup gives 74. The box is 75. The end is near.",
            ["The cup gives", "74. The box is", "75. The end is near."],
        ),
        ("So a. The cup is red. And b. The box.", ["So", "a. The cup is red.", "And", "b. The box."]),
    ],
)
def test_split_sentences_table(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
    assert pysbd_whole(text) == expected


def test_plain_reasoning_takes_the_fast_path() -> None:
    text = (
        "Let me look at the image. The red cup is at <bbox>[12, 40, 88, 120]</bbox> on the left side. "
        "The blue box's center is near 230 px, about 2.5 times further right. So 230 minus 50 gives 180! "
        "Is the cup left of the box? Therefore, the answer is (A)."
    )
    protected = segmenter._protect_boxes(text)[0]
    assert segmenter._fast_split(protected) is not None
    assert split_sentences(text) == pysbd_whole(text)
    assert len(split_sentences(text)) == 6


def test_placeholders_survive_text_that_contains_the_placeholder_prefix() -> None:
    text = "Qzbboxa and qzbboxb are names. The cup <bbox>[1,2,3,4]</bbox> is left. So is <bbox>[5,6,7,8]</bbox>."
    assert split_sentences(text) == [
        "Qzbboxa and qzbboxb are names.",
        "The cup <bbox>[1,2,3,4]</bbox> is left.",
        "So is <bbox>[5,6,7,8]</bbox>.",
    ]


def test_many_boxes_are_all_restored() -> None:
    boxes = [f"<bbox>[{i}, {i}, {i + 1}, {i + 1}]</bbox>" for i in range(60)]
    text = " ".join(f"Object {i} is at {box}." for i, box in enumerate(boxes))
    assert split_sentences(text) == [f"Object {i} is at {box}." for i, box in enumerate(boxes)]


# --- generated reasoning text ------------------------------------------------------------------

WORDS = ["the", "red", "cup", "is", "left", "of", "blue", "box", "near", "camera", "it", "so", "px", "larger"]
LAST_WORDS = ["cup", "box", "camera", "left", "table", "image", "px", "(C)", "42", "17%"]
STARTS = ["The", "It", "So", "Wait", "Hmm", "Therefore", "Now", "This", "I", "Both"]
# Tokens that pysbd treats specially: abbreviations, initials, list items, numbers, quotes, brackets.
RISKY = [
    "e.g.", "i.e.", "approx.", "Dr.", "U.S.", "vs.", "etc.", "no.", "a.m.", "A.", "(A)", "(B)", "(a)", "(b)",
    "(ii)", "(IV)", "(1)", "1.", "2.", "3.", "1)", "2)", "Step 1.", "x=50", "50%", "3.5", "200.5", "at 7.",
    "'s", "it's", "boxes'", "'quoted'", '"red"', '"He said. Yes."', "\u201cleft\u201d", "(the cup)", "(3.5 px)",
    "...", "\u2026", "?!", "!!", "-", ":", ";", "(", ")", "[1]", "file.png", "a@b.com", "10,5", "St.", "No. 5",
]  # fmt: skip
ENDINGS = [".", ".", "!", "?", "", "...", "?!", ":", " 1.", " 2.", " 10.", " 11."]
BOX = st.builds(lambda a, b: f"<bbox>[{a}, {b}, {a + 5}, {b + 7.5}]</bbox>", st.integers(0, 999), st.integers(0, 999))


@st.composite
def sentence(draw: st.DrawFn, risky: bool) -> str:
    words = [draw(st.sampled_from(STARTS))] + draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=9))
    extras = draw(st.lists(st.sampled_from(RISKY) | BOX, max_size=2)) if risky else draw(st.lists(BOX, max_size=1))
    for extra in extras:
        words.insert(draw(st.integers(0, len(words))), extra)
    if risky:
        return " ".join(words) + draw(st.sampled_from(ENDINGS))
    # plain prose: the mark follows a word that is not one of pysbd's abbreviations ("is", "me", …)
    return " ".join(words + [draw(st.sampled_from(LAST_WORDS))]) + draw(st.sampled_from([".", "!", "?"]))


@st.composite
def reasoning(draw: st.DrawFn, risky: bool) -> str:
    sentences = draw(st.lists(sentence(risky), min_size=1, max_size=7))
    text = sentences[0]
    for s in sentences[1:]:
        text += draw(st.sampled_from([" ", " ", "  ", "\n", "\n\n"] if risky else [" ", "\n"])) + s
    return text


@settings(max_examples=150, deadline=None)
@given(reasoning(risky=False))
def test_fast_path_covers_plain_text_and_agrees_with_pysbd(text: str) -> None:
    protected = segmenter._protect_boxes(text)[0]
    assert segmenter._fast_split(protected) is not None
    assert split_sentences(text) == pysbd_whole(text)


@settings(max_examples=300, deadline=None)
@given(reasoning(risky=True))
@example("?! e.g. The the. The the. ?! The the.")  # a line that starts with "?!" changes pysbd's rules for it
@example("The cup gives 74. The box (left) is 75. The end is near.")  # a numbered list across sentences
def test_split_agrees_with_pysbd_on_the_whole_text(text: str) -> None:
    assert split_sentences(text) == pysbd_whole(text)


@st.composite
def plain_with_one_risk(draw: st.DrawFn) -> str:
    """Plain prose in which one sentence carries one risky token or ending: the cases nearest the
    line between the fast path, cutting and pysbd."""
    sentences = draw(st.lists(sentence(risky=False), min_size=1, max_size=6))
    risky = (
        draw(st.sampled_from(STARTS)) + " " + " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5)))
    )
    token = draw(st.sampled_from(RISKY))
    risky = draw(st.sampled_from([f"{risky} {token}.", f"{risky} {token} cup.", f"{token} {risky}."]))
    sentences.insert(draw(st.integers(0, len(sentences))), risky)
    return " ".join(sentences)


@settings(max_examples=300, deadline=None)
@given(plain_with_one_risk())
def test_split_agrees_with_pysbd_near_the_fast_path(text: str) -> None:
    assert split_sentences(text) == pysbd_whole(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120))
def test_no_text_is_lost_on_arbitrary_input(text: str) -> None:
    sentences = split_sentences(text)
    assert squeeze("".join(sentences)) == squeeze(text)
    assert all(s and s == s.strip() for s in sentences)


@settings(max_examples=150, deadline=None)
@given(reasoning(risky=True))
def test_boxes_stay_whole_and_in_order(text: str) -> None:
    boxes = re.findall(r"<bbox>[^<>]*</bbox>", text)
    found = [box for s in split_sentences(text) for box in re.findall(r"<bbox>[^<>]*</bbox>", s)]
    assert found == boxes


def test_long_runs_without_a_sentence_end_are_split_in_bounded_time() -> None:
    # pysbd alone takes about half a minute on this 120 kB run (its rules are super-linear here).
    import time

    from reward_fns.segmenter import PYSBD_MAX_CHARS

    text = "So not (A), not option B, the answer is " * 3000 + "C."
    started = time.perf_counter()
    sentences = split_sentences(text)
    assert time.perf_counter() - started < 20.0
    assert "".join(sentences).replace(" ", "") == text.replace(" ", "")  # no text lost
    assert all(len(s) <= PYSBD_MAX_CHARS for s in sentences)
