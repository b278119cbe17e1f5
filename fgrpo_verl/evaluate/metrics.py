"""Aggregation of scored samples into the paper's metrics (SPEC §5), per benchmark and on average.

Items (:mod:`fgrpo_verl.evaluate.circular`) are what a benchmark counts; a circular group is one
item. For item ``i`` with samples ``s`` (one, or one per rotation) and a benchmark ``b``:

    accuracy(b)            = Σ_{i∈A} acc(i) / |A|        A = items whose accuracy is known (all, unless
                                                          the answer judge failed)
    inconsistency_rate(b)  = Σ_{i∈C} inc(i) / |C|       inc(i) = mean over s with consistency_mask = 1 of
                                                          (1 − consistency(s)); C = items with such an s
    semantic_grounding(b)  = Σ_{i∈S} sem(i) / |S|       sem(i) = mean R_S over s with semantic_grounding_mask = 1
                                                          (at least one sentence graded CORRECT/INCORRECT)
    semantic_grounding_correct(b): the same over the samples with acc = 1 only
    spatial_grounding(b)   = Σ_{i∈G} spa(i) / |G|       spa(i) = mean R_G over s with gt boxes

``n`` = number of items, ``n_samples`` = number of rows; ``<metric>_n`` = its denominator. A
metric with an empty denominator is ``None``. Consistency and semantic grounding are judged on
*every* sample (``judge_all``), so the inconsistency rate is over all samples, not only correct
ones; a judge failure makes the sample's channel not applicable (out of the denominator) and is
counted in ``judge_failures``.

``average``: the unweighted mean over benchmarks of each metric (benchmarks where it is ``None``
left out), and the sums of ``n``, ``n_samples``, ``judge_failures`` and every count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

from fgrpo_verl.channels import mask_key
from fgrpo_verl.evaluate.circular import Item, group_items
from fgrpo_verl.evaluate.joins import MAX_EXAMPLES, GenerationIssues, Key
from fgrpo_verl.evaluate.records import SampleScore

#: The four metrics of the paper's table, in its column order.
HEADLINE: tuple[str, ...] = ("accuracy", "inconsistency_rate", "semantic_grounding", "spatial_grounding")
#: Every averaged metric (the headline plus the grounding of correct answers).
RATES: tuple[str, ...] = (*HEADLINE, "semantic_grounding_correct")
#: Per-benchmark issue counts (see the README's "issues" table).
ISSUE_COUNTS: tuple[str, ...] = (
    "missing_generations",
    "truncated_responses",
    "duplicate_lines",
    "unknown_ids",
    "circular_incomplete",
    "rotation_mismatch",
    "consistency_unjudged",
    "answer_judge_failures",
)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return fmean(values) if values else None


def _channel_mean(samples: Sequence[SampleScore], channel: str, *, correct_only: bool = False) -> float | None:
    """Mean of ``channel`` over the samples where it is applicable (and ``acc = 1`` if asked)."""
    return _mean(
        sample.channels[channel]
        for sample in samples
        if sample.channels[mask_key(channel)] > 0 and (not correct_only or sample.acc == 1.0)
    )


def _inconsistency(samples: Sequence[SampleScore]) -> float | None:
    return _mean(1.0 - s.channels["consistency"] for s in samples if s.channels[mask_key("consistency")] > 0)


def _item_values(item: Item) -> dict[str, float | None]:
    return {
        "accuracy": item.acc,
        "inconsistency_rate": _inconsistency(item.samples),
        "semantic_grounding": _channel_mean(item.samples, "semantic_grounding"),
        "semantic_grounding_correct": _channel_mean(item.samples, "semantic_grounding", correct_only=True),
        "spatial_grounding": _channel_mean(item.samples, "spatial_grounding"),
    }


def benchmark_metrics(items: Sequence[Item], issues: Mapping[str, int]) -> dict[str, Any]:
    """Metrics of one benchmark from its items (formulas in the module docstring)."""
    per_item = [_item_values(item) for item in items]
    samples = [s for item in items for s in item.samples]
    out: dict[str, Any] = {}
    for metric in RATES:
        values = [v[metric] for v in per_item if v[metric] is not None]
        out[metric] = _mean(values)
        out[f"{metric}_n"] = len(values)
    out["n"] = len(items)
    out["n_samples"] = len(samples)
    out["judge_failures"] = int(sum(s.channels["judge_failures"] for s in samples))
    out["judge_flagged"] = int(sum(s.channels["judge_flagged"] for s in samples))
    out["issues"] = {name: int(issues.get(name, 0)) for name in ISSUE_COUNTS}
    return out


def _sample_issues(items: Sequence[Item]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in items:
        counts["circular_incomplete"] += int(item.incomplete)
        for s in item.samples:
            counts["missing_generations"] += int(not s.generated)
            counts["truncated_responses"] += int(s.generated and s.truncated)
            counts["rotation_mismatch"] += int(s.rotation_mismatch)
            counts["consistency_unjudged"] += int(s.channels[mask_key("consistency")] == 0)
            counts["answer_judge_failures"] += int(s.answer_judge_failed)
    return counts


def aggregate(
    samples: Sequence[SampleScore], generation_issues: GenerationIssues, unknown: Sequence[Key]
) -> dict[str, Any]:
    """``{benchmark: metrics, ..., "average": metrics}``; benchmarks in the order their rows came.

    ``unknown``: generation keys that no data row has. Duplicate and unknown lines count under
    the benchmark their ``data_source`` names; those naming no benchmark, and malformed lines,
    count in ``average.issues`` only, which holds the totals over the whole generations file
    together with example line numbers / keys.
    """
    items = group_items(samples)
    by_benchmark: dict[str, list[Item]] = {}
    for item in items:
        by_benchmark.setdefault(item.data_source, []).append(item)
    if not by_benchmark:
        raise ValueError("no data rows to score")
    if "average" in by_benchmark:
        raise ValueError("a data_source named 'average' would clash with the average entry of metrics.json")
    duplicates = Counter({source: 0 for source in by_benchmark})
    for (source, _), lines in generation_issues.duplicate_lines.items():
        duplicates[source] += len(lines)
    unknown_by_source = Counter(source for source, _ in unknown)

    result: dict[str, Any] = {}
    for benchmark, bench_items in by_benchmark.items():
        issues = _sample_issues(bench_items)
        issues["duplicate_lines"] = duplicates[benchmark]
        issues["unknown_ids"] = unknown_by_source[benchmark]
        result[benchmark] = benchmark_metrics(bench_items, issues)
    result["average"] = _average(result, generation_issues, unknown)
    return result


def _average(
    per_benchmark: Mapping[str, Mapping[str, Any]], generation_issues: GenerationIssues, unknown: Sequence[Key]
) -> dict[str, Any]:
    benchmarks = list(per_benchmark.values())
    out: dict[str, Any] = {}
    for metric in RATES:
        out[metric] = _mean(m[metric] for m in benchmarks if m[metric] is not None)
        out[f"{metric}_n"] = sum(m[f"{metric}_n"] for m in benchmarks)
    for count in ("n", "n_samples", "judge_failures", "judge_flagged"):
        out[count] = sum(m[count] for m in benchmarks)
    out["benchmarks"] = list(per_benchmark)
    issues: dict[str, Any] = {name: sum(m["issues"][name] for m in benchmarks) for name in ISSUE_COUNTS}
    # Totals over the whole generations file, including lines that name no benchmark.
    issues["duplicate_lines"] = sum(len(lines) for lines in generation_issues.duplicate_lines.values())
    issues["unknown_ids"] = len(unknown)
    issues["malformed_lines"] = generation_issues.malformed_count
    issues["malformed_line_numbers"] = list(generation_issues.malformed_lines)
    issues["duplicate_line_numbers"] = sorted(n for lines in generation_issues.duplicate_lines.values() for n in lines)[
        :MAX_EXAMPLES
    ]
    issues["unknown_id_examples"] = [[source, index] for source, index in list(unknown)[:MAX_EXAMPLES]]
    out["issues"] = issues
    return out
