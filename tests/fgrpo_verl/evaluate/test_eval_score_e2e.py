"""`score` end to end on synthetic parquet with hand-written responses, with the rule judge and over HTTP.

Every response is built from its row (scene graph, ground-truth boxes, options) to have known channels:

    kind           answer   reasoning concludes   sentence                          boxes cited
    consistent     right    the same option       names a real object               the gt boxes
    inconsistent   right    another option        names a real object               the gt boxes
    ungrounded     right    the same option       names an object not in the scene  none
    wrong          wrong    the same (wrong) one  names a real object               the gt boxes
    truncated      none     (no closing tags)     -                                 -
    missing        no generation line at all

The expected metrics are computed here from those kinds with the SPEC §5 definitions; the harness
computes them from the real scorer's channels.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_prep.mapping import rotate
from data_prep.schema import SpatialItem
from data_prep.writer import RowWriter
from fgrpo_verl.evaluate.__main__ import main
from fgrpo_verl.evaluate.compare import compare_runs
from reward_fns import to_model_frame
from tests.support.loopback_server import LoopbackJudgeServer

KINDS = ("consistent", "inconsistent", "ungrounded", "wrong", "truncated", "missing")
CIRCULAR_GROUPS = 3


def _letter(i: int) -> str:
    return chr(ord("A") + i)


def _box_sentences(extra: dict) -> str:
    """One sentence per gt box, naming its object and citing the box in the model's frame."""
    graph = json.loads(extra["scene_graph"])
    if not extra["gt_boxes"]:
        return f"The {graph['objects'][0]['name']} is in the image."
    framed = to_model_frame(extra["gt_boxes"], tuple(extra["image_sizes"][0]))
    sentences = []
    for original, box in zip(extra["gt_boxes"], framed, strict=True):
        name = next(o["name"] for o in graph["objects"] if [float(v) for v in o["box"]] == list(original))
        sentences.append(f"The {name} is at <bbox>[{', '.join(repr(float(v)) for v in box)}]</bbox>.")
    return " ".join(sentences)


def response(kind: str, extra: dict) -> str:
    right = extra["answer"]
    other = _letter((ord(right) - ord("A") + 1) % len(extra["choices"]))
    if kind == "truncated":
        return f"<think>{_box_sentences(extra)} So the answer"
    think_letter, answer, body = {
        "consistent": (right, right, _box_sentences(extra)),
        "inconsistent": (other, right, _box_sentences(extra)),
        "ungrounded": (right, right, "The white star is in the image."),
        "wrong": (other, other, _box_sentences(extra)),
    }[kind]
    return f"<think>{body} So the answer is ({think_letter}).</think><answer>{answer}</answer>"


def expected_channels(kind: str, extra: dict, grounding_judge: str) -> dict:
    """acc, and the value of each metric for this sample (None where it does not apply)."""
    has_boxes = bool(extra["gt_boxes"])
    no_reasoning = kind in ("truncated", "missing")
    cites_boxes = kind in ("consistent", "inconsistent", "wrong")
    if no_reasoning:
        semantic = None
    elif kind == "ungrounded" and grounding_judge == "rule":
        semantic = 0.0  # the rule judge finds no white star in the scene graph
    else:
        semantic = 1.0  # every object named exists (the loopback judge says CORRECT to every sentence)
    return {
        "acc": float(kind in ("consistent", "inconsistent", "ungrounded")),
        # SPEC §5: over all samples; no reasoning at all does not entail an answer.
        "inconsistent": float(kind in ("inconsistent", "truncated", "missing")),
        "semantic": semantic,
        "spatial": (1.0 if cites_boxes else 0.0) if has_boxes else None,
    }


def expected_judgements(evaluation) -> int:
    """One consistency judgement per sample plus one per non-trivial sentence of its reasoning."""
    total = 0
    for bench, rows in evaluation["rows"].items():
        for row in rows:
            extra = row["extra_info"]
            kind = evaluation["kinds"][(bench, extra["index"])]
            sentences = {"ungrounded": 1, "truncated": 0, "missing": 0}.get(kind, max(1, len(extra["gt_boxes"])))
            total += 1 + sentences
    return total


def _mean_or_none(values):
    values = [v for v in values if v is not None]
    return fmean(values) if values else None


def expected_benchmark(items: list[list[dict]]) -> dict:
    """SPEC §5 over items (lists of per-rotation expectations): accuracy needs every rotation right."""
    per_item = []
    for rotations in items:
        correct = [r for r in rotations if r["acc"] == 1.0]
        per_item.append(
            {
                "accuracy": float(all(r["acc"] == 1.0 for r in rotations)),
                "inconsistency_rate": _mean_or_none(r["inconsistent"] for r in rotations),
                "semantic_grounding": _mean_or_none(r["semantic"] for r in rotations),
                "semantic_grounding_correct": _mean_or_none(r["semantic"] for r in correct),
                "spatial_grounding": _mean_or_none(r["spatial"] for r in rotations),
            }
        )
    out = {metric: _mean_or_none(v[metric] for v in per_item) for metric in per_item[0]}
    out["n"] = len(items)
    out["n_samples"] = sum(len(rotations) for rotations in items)
    return out


@pytest.fixture(scope="module")
def circular_parquet(synthetic_parquet, tmp_path_factory) -> str:
    """Three synthetic questions, each as every rotation of its options (circular_id circ/<k>)."""
    rows = pq.read_table(synthetic_parquet).slice(0, CIRCULAR_GROUPS).to_pylist()
    out = tmp_path_factory.mktemp("circular") / "circ.parquet"
    with RowWriter(out) as writer:
        for k, row in enumerate(rows):
            extra = row["extra_info"]
            choices, answer = extra["choices"], ord(extra["answer"]) - ord("A")
            for r in range(len(choices)):
                rotated, index = rotate(choices, answer, r)
                item = SpatialItem(
                    data_source="circ",
                    question=extra["question"],
                    choices=rotated,
                    answer=index,
                    images=row["images"],
                    gt_boxes=extra["gt_boxes"],
                    scene_graph=json.loads(extra["scene_graph"]),
                    circular_id=f"circ/{k}",
                    rotation=r,
                )
                assert writer.add(item, f"circ/{k}/{r}")
    return str(out)


@pytest.fixture(scope="module")
def evaluation(synthetic_parquet, circular_parquet, tmp_path_factory):
    """GEN.jsonl with every kind of response and every kind of bad line; kinds by row; expected issues."""
    gen = tmp_path_factory.mktemp("gen") / "gen.jsonl"
    lines: list[str] = []
    kinds: dict[tuple[str, int], str] = {}
    for row in pq.read_table(synthetic_parquet).to_pylist():
        extra = row["extra_info"]
        kind = KINDS[extra["index"] % len(KINDS)]
        kinds[("synthetic", extra["index"])] = kind
        if kind != "missing":
            lines.append(
                json.dumps({"index": extra["index"], "data_source": "synthetic", "response": response(kind, extra)})
            )
    # Circular groups: 0 all right; 1 rotation 0 wrong; 2 last rotation without a generation.
    circ_rows = pq.read_table(circular_parquet).to_pylist()
    for row in circ_rows:
        extra = row["extra_info"]
        group, rotation = int(extra["circular_id"].split("/")[1]), extra["rotation"]
        kind = "consistent"
        if group == 1 and rotation == 0:
            kind = "wrong"
        if group == 2 and rotation == len(extra["choices"]) - 1:
            kind = "missing"
        kinds[("circ", extra["index"])] = kind
        if kind != "missing":
            line = {
                "index": extra["index"],
                "data_source": "circ",
                "response": response(kind, extra),
                "rotation": rotation,
            }
            lines.append(json.dumps(line))
    first = json.loads(lines[0])
    duplicate = json.dumps({**first, "response": "<think>x</think><answer>Z</answer>"})
    bad = ["this is not json", json.dumps({"index": 3, "data_source": "synthetic"}), json.dumps([1, 2])]
    unknown = [
        json.dumps({"index": 9999, "data_source": "synthetic", "response": "r"}),
        json.dumps({"index": 1, "data_source": "nowhere", "response": "r"}),
    ]
    lines = [*lines[:5], bad[0], duplicate, *lines[5:10], bad[1], *unknown, bad[2], *lines[10:]]
    gen.write_text("\n".join(lines) + "\n")
    malformed_numbers = [n for n, text in enumerate(lines, 1) if text in bad]
    duplicate_number = lines.index(duplicate) + 1
    return {
        "data": [synthetic_parquet, circular_parquet],
        "gen": gen,
        "kinds": kinds,
        "rows": {"synthetic": pq.read_table(synthetic_parquet).to_pylist(), "circ": circ_rows},
        "malformed_numbers": malformed_numbers,
        "duplicate_number": duplicate_number,
    }


def expected_metrics(evaluation, grounding_judge: str) -> dict:
    out = {}
    for bench, rows in evaluation["rows"].items():
        groups: dict[str, list[dict]] = {}
        for row in rows:
            extra = row["extra_info"]
            key = extra["circular_id"] or f"row{extra['index']}"
            kind = evaluation["kinds"][(bench, extra["index"])]
            groups.setdefault(key, []).append(expected_channels(kind, extra, grounding_judge))
        out[bench] = expected_benchmark(list(groups.values()))
    return out


def _score(evaluation, out: Path, *judge_args: str) -> dict:
    argv = ["score", "--data", *evaluation["data"], "--generations", str(evaluation["gen"]), "--out", str(out)]
    # 3 of the 52 lines are malformed on purpose (5.8 %): above the default bound of 5 %.
    assert main([*argv, *judge_args, "--max-reject-share", "0.1", "--no-progress"]) == 0
    return json.loads((out / "metrics.json").read_text())


def _check_metrics(metrics: dict, expected: dict) -> None:
    assert set(metrics) == {"synthetic", "circ", "average"}
    for bench, values in expected.items():
        for metric, value in values.items():
            assert metrics[bench][metric] == pytest.approx(value), (bench, metric)
    for metric in ("accuracy", "inconsistency_rate", "semantic_grounding", "spatial_grounding"):
        assert metrics["average"][metric] == pytest.approx(fmean(expected[b][metric] for b in expected)), metric
    assert metrics["average"]["n"] == sum(expected[b]["n"] for b in expected)


@pytest.fixture(scope="module")
def rule_run(evaluation, tmp_path_factory):
    out = tmp_path_factory.mktemp("rule_run")
    return out, _score(evaluation, out, "--judge", "rule")


def test_rule_judge_metrics_match_the_constructed_responses(rule_run, evaluation):
    _, metrics = rule_run
    _check_metrics(metrics, expected_metrics(evaluation, "rule"))
    assert metrics["synthetic"]["judge_failures"] == 0


def test_issues_are_counted_and_missing_rows_stay_in_the_denominators(rule_run, evaluation):
    _, metrics = rule_run
    kinds = evaluation["kinds"]
    synthetic = metrics["synthetic"]["issues"]
    assert synthetic["missing_generations"] == sum(
        1 for (b, _), k in kinds.items() if b == "synthetic" and k == "missing"
    )
    assert synthetic["truncated_responses"] == sum(
        1 for (b, _), k in kinds.items() if b == "synthetic" and k == "truncated"
    )
    assert synthetic["duplicate_lines"] == 1 and synthetic["unknown_ids"] == 1
    assert metrics["synthetic"]["accuracy_n"] == metrics["synthetic"]["n"] == 48
    circ = metrics["circ"]["issues"]
    assert circ["missing_generations"] == 1 and circ["circular_incomplete"] == 1 and circ["rotation_mismatch"] == 0
    issues = metrics["average"]["issues"]
    assert issues["malformed_lines"] == 3 and issues["malformed_line_numbers"] == evaluation["malformed_numbers"]
    assert issues["duplicate_lines"] == 1 and issues["duplicate_line_numbers"] == [evaluation["duplicate_number"]]
    assert issues["unknown_ids"] == 2
    assert sorted(map(tuple, issues["unknown_id_examples"])) == [("nowhere", 1), ("synthetic", 9999)]
    # Each malformed line is a reject naming file:line and why.
    rejects = [json.loads(line) for line in (rule_run[0] / "rejects.jsonl").read_text().splitlines()]
    assert [r["source_id"] for r in rejects] == [f"{evaluation['gen']}:{n}" for n in evaluation["malformed_numbers"]]
    assert [r["reason"] for r in rejects] == ["bad_json", "bad_record", "bad_record"]
    assert "'response' must be a string" in rejects[1]["detail"] and "got list" in rejects[2]["detail"]
    # The duplicate (a wrong answer) came second: the first line's right answer is the one scored.
    samples = [json.loads(line) for line in (rule_run[0] / "samples.jsonl").read_text().splitlines()]
    first = next(s for s in samples if (s["data_source"], s["index"]) == ("synthetic", 0))
    assert first["acc"] == 1.0


def test_circular_item_is_correct_only_when_every_rotation_is(rule_run, evaluation):
    out, metrics = rule_run
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    circ = [s for s in samples if s["data_source"] == "circ"]
    assert {s["circular_id"] for s in circ} == {f"circ/{k}" for k in range(CIRCULAR_GROUPS)}
    by_group = {k: [s for s in circ if s["circular_id"] == f"circ/{k}"] for k in range(CIRCULAR_GROUPS)}
    assert all(s["acc"] == 1.0 for s in by_group[0])
    assert sorted(s["acc"] for s in by_group[1]) == [0.0] + [1.0] * (len(by_group[1]) - 1)
    assert [s["generated"] for s in by_group[2]].count(False) == 1
    # Only group 0 counts as correct, although most rotations of groups 1 and 2 are right.
    assert metrics["circ"]["n"] == CIRCULAR_GROUPS and metrics["circ"]["accuracy"] == pytest.approx(1 / CIRCULAR_GROUPS)
    assert metrics["circ"]["n_samples"] == len(circ)


def test_report_and_charts_hold_the_numbers_of_metrics_json(rule_run):
    out, metrics = rule_run
    report = (out / "report.md").read_text()
    for bench in ("synthetic", "circ"):
        row = next(line for line in report.splitlines() if line.startswith(f"| {bench} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        values = [
            metrics[bench][m] for m in ("accuracy", "inconsistency_rate", "semantic_grounding", "spatial_grounding")
        ]
        assert cells[1:5] == [f"{100 * v:.1f}" for v in values]
        assert cells[5] == str(metrics[bench]["n"])
    average = next(line for line in report.splitlines() if line.startswith("| **Average** |"))
    assert f"**{100 * metrics['average']['accuracy']:.1f}**" in average
    assert "malformed lines: 3" in report
    # The judge that scored the run is named in all three outputs (SPEC §1a).
    assert "- judge: rule (offline RuleJudge)" in report
    assert metrics["average"]["judge"] == "rule (offline RuleJudge)"
    run = json.loads((out / "run.json").read_text())
    assert run["judge_backend"] == "rule" and run["judge_model"] is None and run["judge"] == metrics["average"]["judge"]
    for metric in ("accuracy", "inconsistency_rate", "semantic_grounding", "spatial_grounding"):
        with Image.open(out / f"{metric}.png") as chart:
            assert chart.format == "PNG" and chart.size[0] > 100


def test_loopback_judge_over_http_gives_the_same_consistency(evaluation, tmp_path, rule_run):
    with LoopbackJudgeServer() as server:
        metrics = _score(evaluation, tmp_path, "--judge-url", server.url, "--judge-model", "loopback")
        assert server.requests > 0
    _check_metrics(metrics, expected_metrics(evaluation, "loopback"))
    assert metrics["average"]["judge_failures"] == 0


def test_judge_outage_is_counted_not_scored_as_wrong(evaluation, tmp_path, rule_run):
    with LoopbackJudgeServer(behaviours=["http_503"], cycle=True) as server:
        metrics = _score(
            evaluation, tmp_path, "--judge-url", server.url, "--judge-model", "loopback", "--judge-retries", "1"
        )
        requests = server.requests
    _, rule_metrics = rule_run
    for bench in ("synthetic", "circ"):
        m = metrics[bench]
        # Accuracy is rule-based: unchanged. The judged metrics have no judged sample left.
        assert m["accuracy"] == pytest.approx(rule_metrics[bench]["accuracy"])
        assert m["inconsistency_rate"] is None and m["inconsistency_rate_n"] == 0
        assert m["semantic_grounding"] is None
        assert m["spatial_grounding"] == pytest.approx(rule_metrics[bench]["spatial_grounding"])
        assert m["issues"]["consistency_unjudged"] == m["n_samples"]
    # Every judgement failed: one consistency question per sample, one grounding question per
    # non-trivial sentence. Each was retried once (identical judgements in flight share requests).
    failures = metrics["average"]["judge_failures"]
    assert failures == expected_judgements(evaluation)
    assert failures < requests <= 2 * failures
    report = (tmp_path / "report.md").read_text()
    assert f"| average | {metrics['average']['n']} |" in report and str(failures) in report


def test_compare_puts_runs_side_by_side_with_deltas(evaluation, rule_run, tmp_path):
    rule_dir, rule_metrics = rule_run
    with LoopbackJudgeServer() as server:
        http_metrics = _score(evaluation, tmp_path / "http", "--judge-url", server.url, "--judge-model", "loopback")
        judge_url = server.url
    out = tmp_path / "cmp"
    assert main(["compare", str(rule_dir), str(tmp_path / "http"), "--names", "rule", "http", "--out", str(out)]) == 0
    comparison = json.loads((out / "compare.json").read_text())
    assert comparison["benchmarks"] == ["synthetic", "circ", "average"]
    for bench in comparison["benchmarks"]:
        for metric in ("accuracy", "semantic_grounding"):
            expected = 100 * (http_metrics[bench][metric] - rule_metrics[bench][metric])
            assert comparison["deltas"][metric][bench]["http"] == pytest.approx(expected)
    table = (out / "compare.md").read_text()
    synthetic = next(line for line in table.splitlines() if line.startswith("| synthetic |"))
    sem_rule, sem_http = (
        rule_metrics["synthetic"]["semantic_grounding"],
        http_metrics["synthetic"]["semantic_grounding"],
    )
    assert f"{100 * sem_http:.1f} ({100 * (sem_http - sem_rule):+.1f})" in synthetic
    assert comparison["judges"] == {"rule": "rule (offline RuleJudge)", "http": f"loopback at {judge_url}"}
    assert "scored by different judges" in table
    with Image.open(out / "compare.png") as chart:
        assert chart.format == "PNG"
    with pytest.raises(ValueError, match="at least two"):
        compare_runs([rule_dir], out)
