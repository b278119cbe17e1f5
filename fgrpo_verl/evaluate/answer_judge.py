"""Optional answer judge: a model decides accuracy where the rule cannot read the answer.

The rule (``reward_fns.accuracy_reward``) reads an answer that names an option by letter or by
its full text. A *free-form* answer — one that names no option ("the red one is further left"),
or any answer to a question without options — is scored 0 by the rule even when it means the
right thing. With ``score --answer-judge`` such answers (and only those) are sent to the judge
model, which says whether the answer means the reference answer:

    acc = 1 if the judge says YES, 0 if NO or UNCERTAIN, unknown if the judge failed
          (counted in ``answer_judge_failures`` and left out of the accuracy's denominator)

The answer is fenced as untrusted text, like every policy text the judges see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fgrpo_verl.judges import CONSISTENCY_LABELS, JudgeTally, OpenAIJudge, looks_like_judge_injection
from fgrpo_verl.judges.prompts import UNTRUSTED_NOTE, fence
from reward_fns import extract_answer, matched_choice

ANSWER_SYSTEM = (
    "You grade a model's final answer to a visual question against the reference answer. You do not "
    "see the image: decide only whether the ANSWER states the same answer as the REFERENCE (the same "
    "option, or the same value in other words).\n"
    f"{UNTRUSTED_NOTE}\n"
    "Reply with exactly one word and nothing else: YES (the same answer), NO (a different answer, or "
    "several answers) or UNCERTAIN."
)


def answer_messages(question: str, answer: str, reference: str) -> list[dict[str, Any]]:
    """Chat messages asking whether ``answer`` states ``reference`` (text only)."""
    user = "\n\n".join(
        [
            "QUESTION (with its options):",
            fence("QUESTION", question),
            "REFERENCE answer:",
            fence("REFERENCE", reference),
            "ANSWER given by the model under evaluation:",
            fence("ANSWER", answer),
            "Does the answer state the reference answer? Reply YES, NO or UNCERTAIN only.",
        ]
    )
    return [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}]


def free_form_answer(response: str, choices: Sequence[str]) -> str | None:
    """The response's answer text when it names no option (or the question has none), else ``None``.

    ``None`` also when there is no answer block: a truncated or malformed response stays wrong.
    """
    answer = extract_answer(response)
    if not answer:
        return None
    if choices and matched_choice(answer, choices) is not None:
        return None
    return answer


def reference_answer(extra_info: Mapping[str, Any], ground_truth: str) -> str:
    """``"(B) right"`` from the row's answer letter and option text, else the ground truth as it is."""
    text = str(extra_info.get("answer_text") or "").strip()
    return f"({ground_truth}) {text}" if text else ground_truth


class AnswerJudge(OpenAIJudge):
    """An :class:`~fgrpo_verl.judges.OpenAIJudge` that also grades free-form answers (same transport,
    retries, cache and stats)."""

    async def same_answer(
        self, question: str, answer: str, reference: str, *, tally: JudgeTally | None = None
    ) -> float | None:
        """1.0 if ``answer`` states ``reference``, 0.0 if not (or uncertain, or flagged), ``None`` on failure."""
        if looks_like_judge_injection(answer):
            self._stats.count("flagged", tally)
            return 0.0
        label = await self._judge(answer_messages(question, answer, reference), CONSISTENCY_LABELS, tally)
        return None if label is None else float(label == "YES")
