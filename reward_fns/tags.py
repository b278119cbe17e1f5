"""The response layout ``<think>T</think><answer>A</answer>``: the format channel and block extraction.

Tags are matched exactly as the prompt asks for them (lower case). A *block* is an opening
tag, text that contains no second opening tag of the same kind, and the closing tag; so in
``<answer> x <answer>B</answer>`` the block is ``<answer>B</answer>``.
"""

from __future__ import annotations

_THINK = ("<think>", "</think>")
_ANSWER = ("<answer>", "</answer>")


def _last_block(response: str, tags: tuple[str, str]) -> str | None:
    # The last complete block ends at the first closing tag after the last opening tag that
    # precedes the final closing tag; plain string searches, since this runs on every rollout.
    opening, closing = tags
    last_close = response.rfind(closing)
    start = response.rfind(opening, 0, last_close) if last_close >= 0 else -1
    if start < 0:
        return None
    start += len(opening)
    return response[start : response.find(closing, start)].strip()


def extract_think(response: str) -> str | None:
    """Stripped text of the last complete ``<think>…</think>`` block, or ``None`` if there is none."""
    return _last_block(response, _THINK)


def extract_answer(response: str) -> str | None:
    """Stripped text of the last complete ``<answer>…</answer>`` block, or ``None`` if there is none.

    An unclosed trailing ``<answer>`` (a truncated generation) is not a block, so an earlier
    complete block, if any, is the answer.
    """
    return _last_block(response, _ANSWER)


def format_reward(response: str) -> float:
    """SPEC §1 ``format``: 1.0 iff the response is exactly one think block then one answer block.

    ``format = 1`` when the response is ``<think>T</think><answer>A</answer>`` with only whitespace
    before, between and after the blocks, each of the four tags appearing exactly once (so no
    nested, repeated or stray tags) and both ``T`` and ``A`` non-empty after stripping; else ``0``.

    >>> format_reward("<think>The red box is left.</think> <answer>B</answer>")
    1.0
    >>> format_reward("<answer>B</answer><think>The red box is left.</think>")
    0.0
    """
    if any(response.count(tag) != 1 for tag in (*_THINK, *_ANSWER)):
        return 0.0
    think_open, think_close = response.find(_THINK[0]), response.find(_THINK[1])
    answer_open, answer_close = response.find(_ANSWER[0]), response.find(_ANSWER[1])
    if not think_open < think_close < answer_open < answer_close:
        return 0.0
    outside = (
        response[:think_open],
        response[think_close + len(_THINK[1]) : answer_open],
        response[answer_close + len(_ANSWER[1]) :],
    )
    inside = (
        response[think_open + len(_THINK[0]) : think_close],
        response[answer_open + len(_ANSWER[0]) : answer_close],
    )
    if any(part.strip() for part in outside) or not all(part.strip() for part in inside):
        return 0.0
    return 1.0
