"""Load the hand-labelled corpus (tests/fgrpo_verl/judges/corpus) and measure the rule judge and the filter on it.

Agreement is the share of traces where the rule judge's verdict equals the label; Cohen's kappa is

    κ = (p_o − p_e) / (1 − p_e),   p_e = p_yes(judge)·p_yes(label) + p_no(judge)·p_no(label)

Run as a script to print the figures quoted in docs/judges.md:
``python -m tests.fgrpo_verl.judges.corpus_metrics``.
"""

from __future__ import annotations

import json
from pathlib import Path

from fgrpo_verl.judges.conclusion import concludes_answer
from fgrpo_verl.rollout_scoring import question_with_options
from reward_fns import is_trivial_sentence

CORPUS = Path(__file__).with_name("corpus")
TRUE_FALSE_TEMPLATE = 'Is this statement about the image true or false? "{statement}"'


def load(name: str) -> list[dict]:
    """Rows of ``corpus/<name>.jsonl``."""
    with (CORPUS / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def question_and_choices(row: dict) -> tuple[str, list[str] | None]:
    """The question as the data builders write it (VSR's template for true/false rows) and its options."""
    if row["kind"] == "tf":
        return TRUE_FALSE_TEMPLATE.format(statement=row["statement"]), ["true", "false"]
    return row["question"], row.get("choices")


def judge_question(row: dict) -> str:
    """The question as the consistency judge sees it (options appended as ``(A) …`` lines)."""
    question, choices = question_and_choices(row)
    return question_with_options(question, choices)


def cohen_kappa(predicted: list[int], labels: list[int]) -> float:
    """Cohen's κ of two binary raters (see the module docstring); 0.0 when chance agreement is 1."""
    n = len(labels)
    observed = sum(p == y for p, y in zip(predicted, labels, strict=True)) / n
    yes_p, yes_y = sum(predicted) / n, sum(labels) / n
    expected = yes_p * yes_y + (1 - yes_p) * (1 - yes_y)
    return 0.0 if expected == 1 else (observed - expected) / (1 - expected)


def judge_figures(rows: list[dict]) -> dict:
    """Agreement, κ and the misjudged ids of the rule judge's consistency on ``rows``."""
    predicted = [int(concludes_answer(judge_question(r), r["think"], r["answer"])) for r in rows]
    labels = [int(r["consistent"]) for r in rows]
    agreement = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(rows)
    wrong = [r["id"] for r, p, y in zip(rows, predicted, labels, strict=True) if p != y]
    return {"n": len(rows), "agreement": agreement, "kappa": cohen_kappa(predicted, labels), "wrong": wrong}


def filter_figures(rows: list[dict]) -> dict:
    """Share of visual sentences kept and of non-visual sentences judged (not trivial), with the misses."""
    visual = [r["sentence"] for r in rows if r["visual"]]
    other = [r["sentence"] for r in rows if not r["visual"]]
    dropped = [s for s in visual if is_trivial_sentence(s)]
    judged = [s for s in other if not is_trivial_sentence(s)]
    return {
        "visual": len(visual),
        "non_visual": len(other),
        "visual_kept": 1 - len(dropped) / len(visual),
        "non_visual_judged": len(judged) / len(other),
        "dropped": dropped,
        "judged": judged,
    }


def main() -> None:
    for part in ("dev", "heldout", "heldout2", "heldout3"):
        print(part, "consistency", json.dumps(judge_figures(load(f"consistency_{part}"))))
    for part in ("dev", "heldout"):
        print(part, "sentences", json.dumps(filter_figures(load(f"sentences_{part}"))))


if __name__ == "__main__":
    main()
