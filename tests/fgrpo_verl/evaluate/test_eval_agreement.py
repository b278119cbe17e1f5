"""Judge agreement: Cohen's kappa against hand-computed values, confusion matrices, repeat stability, the command."""

from __future__ import annotations

import json

import pytest

from fgrpo_verl.evaluate.__main__ import main
from fgrpo_verl.evaluate.agreement import LabelItem, agreement, cohen_kappa, confusion_matrix, load_labels
from tests.support.loopback_server import LoopbackJudgeServer


def _pairs(counts: dict[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    a, b = [], []
    for (x, y), n in counts.items():
        a += [x] * n
        b += [y] * n
    return a, b


def test_kappa_matches_the_hand_computed_two_by_two_example():
    # 50 items: both YES 20, A YES / B NO 5, A NO / B YES 10, both NO 15.
    # p_o = 35/50 = 0.7; P_A(YES) = 0.5, P_B(YES) = 0.6 -> p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5 = 0.4.
    a, b = _pairs({("YES", "YES"): 20, ("YES", "NO"): 5, ("NO", "YES"): 10, ("NO", "NO"): 15})
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_three_categories_hand_computed():
    # Rows = rater A, columns = rater B over (C, I, S):
    #   C: 10 2 0 | I: 1 5 1 | S: 0 1 4   -> N = 24, p_o = 19/24
    # A marginals 12, 7, 5; B marginals 11, 8, 5 -> p_e = (132 + 56 + 25) / 576 = 213/576
    a, b = _pairs(
        {("C", "C"): 10, ("C", "I"): 2, ("I", "C"): 1, ("I", "I"): 5, ("I", "S"): 1, ("S", "I"): 1, ("S", "S"): 4}
    )
    p_o, p_e = 19 / 24, 213 / 576
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e) / (1 - p_e))


def test_kappa_edge_cases():
    assert cohen_kappa(["YES", "NO"], ["YES", "NO"]) == pytest.approx(1.0)
    assert cohen_kappa(["YES", "NO"], ["NO", "YES"]) == pytest.approx(-1.0)
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["YES", "YES"], ["YES", "YES"]) is None  # p_e = 1: undefined, not 1 or 0
    with pytest.raises(ValueError, match="length"):
        cohen_kappa(["YES"], [])


def test_confusion_matrix_rows_are_truth_columns_are_prediction():
    matrix = confusion_matrix(["YES", "YES", "NO", "NO", "NO"], ["YES", "NO", "NO", "NO", "YES"], ["YES", "NO"])
    assert matrix == [[1, 1], [1, 2]]


def _labels_file(tmp_path, lines):
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _consistency(i, think_letter, answer, label):
    return {
        "id": f"c{i}",
        "task": "consistency",
        "question": f"Scene {i}: is the red circle left or right of the blue square?",
        "choices": ["left", "right"],
        "think": f"The red circle is on the left side. So the answer is ({think_letter}).",
        "answer": answer,
        "label": label,
    }


def test_agreement_stability_counts_items_whose_label_changes():
    runs = [["YES", "NO", "YES", None], ["YES", "YES", "YES", "NO"], ["YES", "NO", "YES", "NO"]]
    labelled = [
        LabelItem(id=str(i), task="consistency", label=h, question="q")
        for i, h in enumerate(["YES", "NO", "YES", "NO"])
    ]
    result = agreement(labelled, runs)["consistency"]
    # Item 3 failed in repeat 1: 3 items judged in every repeat; item 1 changes (NO, YES, NO).
    assert result["items_judged_every_repeat"] == 3
    assert result["changed"] == pytest.approx(1 / 3)
    assert result["failures"] == 1
    per_repeat_kappa = [r["kappa"] for r in result["repeats"]]
    expected = [
        cohen_kappa(["YES", "NO", "YES"], ["YES", "NO", "YES"]),
        cohen_kappa(["YES", "NO", "YES", "NO"], ["YES", "YES", "YES", "NO"]),
        cohen_kappa(["YES", "NO", "YES", "NO"], ["YES", "NO", "YES", "NO"]),
    ]
    assert per_repeat_kappa == pytest.approx(expected)
    assert result["kappa"] == pytest.approx(sum(expected) / 3)
    pair_kappas = [
        cohen_kappa(["YES", "NO", "YES"], ["YES", "YES", "YES"]),
        cohen_kappa(["YES", "NO", "YES"], ["YES", "NO", "YES"]),
        cohen_kappa(["YES", "YES", "YES", "NO"], ["YES", "NO", "YES", "NO"]),
    ]
    assert result["kappa_between_repeats"] == pytest.approx(sum(pair_kappas) / 3)


def test_a_bad_label_line_is_a_reject_naming_the_line_and_the_rest_is_kept(tmp_path):
    bad = _labels_file(
        tmp_path, [_consistency(0, "A", "A", "YES"), {**_consistency(1, "A", "A", "YES"), "label": "MAYBE"}]
    )
    labels = load_labels(bad)
    assert [item.id for item in labels.items] == ["c0"]
    [reject] = labels.rejects.rejects
    assert reject.where == f"{bad}:2" and reject.reason == "bad_label" and "'MAYBE'" in reject.detail


def test_judge_agreement_command_with_rule_and_loopback_judges(tmp_path):
    # Rule and loopback judges both say YES exactly when the reasoning concludes the answer's option.
    # Human labels: 6 correct labels, then 2 deliberately flipped -> the judge agrees on 6 of 8.
    lines = []
    for i in range(4):
        lines.append(_consistency(i, "A", "A", "YES"))
        lines.append(_consistency(10 + i, "B", "A", "NO"))
    lines[6]["label"], lines[7]["label"] = "NO", "YES"
    labels = _labels_file(tmp_path, lines)
    human = [line["label"] for line in lines]
    judge = ["YES", "NO"] * 4
    expected_kappa = cohen_kappa(human, judge)

    assert (
        main(
            [
                "judge-agreement",
                "--labels",
                str(labels),
                "--judge",
                "rule",
                "--repeats",
                "2",
                "--out",
                str(tmp_path / "rule"),
                "--no-progress",
            ]
        )
        == 0
    )
    rule = json.loads((tmp_path / "rule" / "agreement.json").read_text())["tasks"]["consistency"]
    assert rule["kappa"] == pytest.approx(expected_kappa)
    assert rule["accuracy"] == pytest.approx(6 / 8)
    assert rule["changed"] == 0.0 and rule["kappa_between_repeats"] == pytest.approx(1.0)
    assert rule["repeats"][0]["confusion"] == confusion_matrix(human, judge, ["YES", "NO"])
    assert "consistency" in (tmp_path / "rule" / "agreement.md").read_text()

    # The first request of the second repeat hits an outage: one counted failure, not a disagreement.
    with LoopbackJudgeServer() as server:
        server.script(["ok"] * 8 + ["http_400"])
        out = tmp_path / "http"
        code = main(
            [
                "judge-agreement",
                "--labels",
                str(labels),
                "--judge-url",
                server.url,
                "--judge-model",
                "loopback",
                "--judge-retries",
                "0",
                "--repeats",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        assert code == 0
        assert server.requests == 16  # a fresh judge per repeat: no cache hits across repeats
    http = json.loads((out / "agreement.json").read_text())["tasks"]["consistency"]
    assert http["failures"] == 1
    assert [r["judged"] for r in http["repeats"]] == [8, 7]
    assert http["repeats"][0]["kappa"] == pytest.approx(expected_kappa)
    assert http["items_judged_every_repeat"] == 7
