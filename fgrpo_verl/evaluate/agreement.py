"""How far the judges can be trusted: agreement with human labels and run-to-run stability.

Labels file (JSONL), one judgement per line::

    {"id": "c1", "task": "consistency", "question": "...", "choices": ["left", "right"],
     "think": "...", "answer": "B", "label": "YES"}                                 # YES | NO
    {"id": "g1", "task": "grounding", "question": "...", "context": "...", "sentence": "...",
     "images": ["img/1.png"], "scene_graph": {...}, "label": "CORRECT"}            # CORRECT | INCORRECT | SKIP

``choices`` (optional) are appended to the question as ``(A) …`` lines, as in training; image
paths are relative to the labels file; ``scene_graph`` is only read by the rule judge. A line
that cannot be used (not UTF-8, not JSON, wrong types, an unknown label, an unreadable image, a
repeated id) is a reject in ``rejects.jsonl`` with ``file:line``; one id with two different
labels stops the command. The judge
labels every item ``k`` times (``--repeats``), each repeat with a fresh judge (no cache shared
between repeats). Per task, with ``h`` the human labels and ``j_r`` the judge's labels of repeat
``r`` (items the judge failed on are left out and counted):

    accuracy_r  = #(j_r = h) / #judged
    κ_r         = (p_o − p_e) / (1 − p_e)      Cohen's kappa of (h, j_r):
                  p_o = observed agreement, p_e = Σ_c P_h(c)·P_j(c) (agreement by chance from the
                  two label distributions); undefined (None) when p_e = 1
    confusion_r[h][j] = #items with human label h and judge label j
    changed     = share of items judged in every repeat whose label is not the same in all repeats
    κ_repeats   = mean over repeat pairs (r, s) of κ(j_r, j_s)

Consistency judges answer YES / NO / UNCERTAIN; the judges map UNCERTAIN to NO (SPEC §1), so
consistency labels are YES or NO here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from statistics import fmean, pstdev
from typing import Any

from tqdm import tqdm

from fgrpo_verl.evaluate.inputs import (
    DEFAULT_MAX_REJECT_SHARE,
    InputError,
    Reject,
    RejectLog,
    iter_json_lines,
    prepare_out_dir,
    require_file,
)
from fgrpo_verl.judges import CONSISTENCY_LABELS, GROUNDING_LABELS, Judge
from fgrpo_verl.rollout_scoring import question_with_options

TASK_LABELS: dict[str, tuple[str, ...]] = {
    "consistency": tuple(label for label in CONSISTENCY_LABELS if label != "UNCERTAIN"),
    "grounding": GROUNDING_LABELS,
}
_BOOLEAN_LABELS = {"true": "YES", "1": "YES", "false": "NO", "0": "NO"}
#: Everything ``judge-agreement`` writes to ``--out``.
AGREEMENT_OUTPUTS: tuple[str, ...] = ("agreement.json", "agreement.md", "rejects.jsonl")


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's κ of two raters' labels of the same items: ``(p_o − p_e) / (1 − p_e)``.

    ``p_o = (1/N) Σ_i [a_i = b_i]``, ``p_e = Σ_c (n_a(c)/N)·(n_b(c)/N)`` over the categories ``c``
    either rater used. ``None`` for no items, or when ``p_e = 1`` (both raters gave every item the
    same single category, so agreement beyond chance is undefined).
    """
    if len(a) != len(b):
        raise ValueError(f"label sequences differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    chance = sum((a.count(c) / n) * (b.count(c) / n) for c in set(a) | set(b))
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def confusion_matrix(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """``m[i][j]`` = number of items with ``truth = labels[i]`` and ``predicted = labels[j]``."""
    position = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[position[t]][position[p]] += 1
    return matrix


@dataclasses.dataclass
class LabelItem:
    """One human-labelled judgement."""

    id: str
    task: str
    label: str
    question: str
    think: str = ""
    answer: str = ""
    context: str = ""
    sentence: str = ""
    images: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    scene_graph: Any = None


class _BadLine(Exception):
    """A labels line that cannot be used: a reject with ``reason`` and ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _text(record: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = record.get(key, None if required else "")
    if not isinstance(value, str):
        raise _BadLine("bad_record", f"'{key}' must be a string, got {value!r:.60}")
    return value


def _label(record: Mapping[str, Any], task: str) -> str:
    raw = record.get("label")
    text = str(raw).strip() if isinstance(raw, str | bool | int) else ""
    label = text.upper() if task == "grounding" else _BOOLEAN_LABELS.get(text.lower(), text.upper())
    if label not in TASK_LABELS[task]:
        raise _BadLine("bad_label", f"label {raw!r:.60} is not one of {list(TASK_LABELS[task])} for {task}")
    return label


def _strings(record: Mapping[str, Any], key: str) -> list[str]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _BadLine("bad_record", f"'{key}' must be a list of strings, got {value!r:.60}")
    return value


def _item_id(record: Mapping[str, Any], where: str) -> str:
    value = record.get("id", where)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise _BadLine("bad_record", f"'id' must be a non-empty string or an integer, got {value!r:.60}")
    return str(value)


def _parse_label_line(record: Any, where: str, base: Path) -> LabelItem:
    if not isinstance(record, dict):
        raise _BadLine("bad_record", f"expected a JSON object, got {type(record).__name__}")
    task = record.get("task")
    if task not in TASK_LABELS:
        raise _BadLine("bad_record", f"task must be one of {list(TASK_LABELS)}, got {task!r:.60}")
    question = question_with_options(_text(record, "question"), _strings(record, "choices"))
    item = LabelItem(id=_item_id(record, where), task=task, label=_label(record, task), question=question)
    if task == "consistency":
        item.think, item.answer = _text(record, "think"), _text(record, "answer")
        return item
    item.sentence = _text(record, "sentence")
    item.context = _text(record, "context", required=False)
    item.scene_graph = record.get("scene_graph")
    for image in _strings(record, "images"):
        path = Path(image) if Path(image).is_absolute() else base / image
        try:
            item.images.append({"bytes": path.read_bytes(), "path": str(path)})
        except (OSError, ValueError) as err:  # ValueError: a path with a NUL byte, which no file system accepts
            reason = getattr(err, "strerror", None) or err
            raise _BadLine("missing_image", f"cannot read image {str(path)!r}: {reason}") from err
    return item


@dataclasses.dataclass
class LabelSet:
    """The usable items of a labels file, and its rejected lines."""

    items: list[LabelItem]
    rejects: RejectLog


def load_labels(path: str | Path) -> LabelSet:
    """Parse a labels file; a line that cannot be used is a reject naming ``file:line`` (the rest are kept).

    The same ``id`` twice with the same label: the later line is a ``duplicate_id`` reject. The
    same ``id`` with different labels is an :class:`InputError` naming the id and both lines
    (which human label holds is not for the tool to guess), as is a file with no lines.
    """
    path = require_file(path, "a labels file (JSONL)")
    items: list[LabelItem] = []
    log = RejectLog(str(path))
    first_seen: dict[str, tuple[int, LabelItem]] = {}
    for number, value in iter_json_lines(path):
        log.lines += 1
        where = f"{path}:{number}"
        if isinstance(value, Reject):
            log.rejects.append(value)
            continue
        try:
            item = _parse_label_line(value, where, path.parent)
        except _BadLine as bad:
            log.rejects.append(Reject(where, bad.reason, bad.detail))
            continue
        if item.id in first_seen:
            line, earlier = first_seen[item.id]
            if earlier.task != item.task or earlier.label != item.label:
                raise InputError(
                    f"{path}: id {item.id!r} is labelled {earlier.task} {earlier.label} on line {line} and "
                    f"{item.task} {item.label} on line {number}; keep one of them"
                )
            log.rejects.append(Reject(where, "duplicate_id", f"id {item.id!r} already on line {line} (first kept)"))
            continue
        first_seen[item.id] = (number, item)
        items.append(item)
    if log.lines == 0:
        raise InputError(f"{path} holds no labelled items")
    return LabelSet(items, log)


async def judge_item(judge: Judge, item: LabelItem) -> str | None:
    """The judge's label for one item (``None`` when the judge failed)."""
    if item.task == "consistency":
        verdict = await judge.consistency(item.question, item.think, item.answer, scene_graph=item.scene_graph)
        return None if verdict is None else ("YES" if verdict == 1.0 else "NO")
    label = await judge.ground_sentence(
        item.images, item.question, item.context, item.sentence, scene_graph=item.scene_graph
    )
    return None if label is None else str(label).upper()


async def judge_repeats(
    judge_factory: Callable[[], Judge], items: Sequence[LabelItem], repeats: int, progress: bool = True
) -> list[list[str | None]]:
    """``repeats`` label lists (one per repeat, aligned with ``items``), a fresh judge per repeat."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    runs = []
    with tqdm(total=repeats * len(items), desc="judge-agreement", unit="item", disable=not progress) as bar:
        for _ in range(repeats):
            judge = judge_factory()
            try:

                async def one(item: LabelItem, judge: Judge = judge) -> str | None:
                    label = await judge_item(judge, item)
                    bar.update(1)
                    return label

                runs.append(list(await asyncio.gather(*(one(item) for item in items))))
            finally:
                await judge.aclose()
    return runs


def _repeat_stats(truth: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> dict[str, Any]:
    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if p is not None]
    human, judge = [t for t, _ in pairs], [p for _, p in pairs]
    return {
        "judged": len(pairs),
        "failures": len(truth) - len(pairs),
        "accuracy": fmean(t == p for t, p in pairs) if pairs else None,
        "kappa": cohen_kappa(human, judge),
        "confusion": confusion_matrix(human, judge, labels),
    }


def _stability(runs: Sequence[Sequence[str | None]]) -> dict[str, Any]:
    complete = [labels for labels in zip(*runs, strict=True) if None not in labels]
    pair_kappas = []
    for r, s in itertools.combinations(range(len(runs)), 2):
        both = [(x, y) for x, y in zip(runs[r], runs[s], strict=True) if x is not None and y is not None]
        pair_kappas.append(cohen_kappa([x for x, _ in both], [y for _, y in both]))
    defined = [k for k in pair_kappas if k is not None]
    return {
        "items_judged_every_repeat": len(complete),
        "changed": fmean(len(set(labels)) > 1 for labels in complete) if complete and len(runs) > 1 else None,
        "kappa_between_repeats": fmean(defined) if defined else None,
    }


def agreement(items: Sequence[LabelItem], runs: Sequence[Sequence[str | None]]) -> dict[str, Any]:
    """Per task: n, label order, per-repeat accuracy / κ / confusion / failures, their means, and stability."""
    out: dict[str, Any] = {}
    for task, labels in TASK_LABELS.items():
        positions = [i for i, item in enumerate(items) if item.task == task]
        if not positions:
            continue
        truth = [items[i].label for i in positions]
        task_runs = [[run[i] for i in positions] for run in runs]
        per_repeat = [_repeat_stats(truth, run, labels) for run in task_runs]
        kappas = [r["kappa"] for r in per_repeat if r["kappa"] is not None]
        accuracies = [r["accuracy"] for r in per_repeat if r["accuracy"] is not None]
        out[task] = {
            "n": len(positions),
            "labels": list(labels),
            "kappa": fmean(kappas) if kappas else None,
            "kappa_std": pstdev(kappas) if kappas else None,
            "accuracy": fmean(accuracies) if accuracies else None,
            "accuracy_std": pstdev(accuracies) if accuracies else None,
            "failures": sum(r["failures"] for r in per_repeat),
            "repeats": per_repeat,
            **_stability(task_runs),
        }
    return out


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_markdown(result: Mapping[str, Any]) -> str:
    """The agreement report: a summary table per task, then each task's confusion matrix (repeat 1)."""
    lines = ["# Judge agreement", "", f"- labels: `{result['labels']}`", f"- judge: {result['judge']}"]
    lines += [f"- repeats: {result['repeats']}", f"- rejected label lines: {result['rejected_lines']}", ""]
    header = [
        "Task",
        "n",
        "κ (mean)",
        "κ std",
        "accuracy",
        "judge failures",
        "changed across repeats",
        "κ between repeats",
    ]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for task, stats in result["tasks"].items():
        row = [task, stats["n"], _number(stats["kappa"]), _number(stats["kappa_std"]), _number(stats["accuracy"])]
        row += [stats["failures"], _number(stats["changed"]), _number(stats["kappa_between_repeats"])]
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    for task, stats in result["tasks"].items():
        labels = stats["labels"]
        lines += ["", f"## {task}: confusion matrix (repeat 1; rows = human, columns = judge)", ""]
        lines += [
            "| human \\ judge | " + " | ".join(labels) + " |",
            "|" + "|".join("---" for _ in range(len(labels) + 1)) + "|",
        ]
        for label, counts in zip(labels, stats["repeats"][0]["confusion"], strict=True):
            lines.append(f"| {label} | " + " | ".join(str(c) for c in counts) + " |")
    lines.append("")
    return "\n".join(lines)


def run_agreement(
    labels_path: str | Path,
    judge_factory: Callable[[], Judge],
    out_dir: str | Path,
    *,
    repeats: int = 1,
    judge_description: str = "",
    progress: bool = True,
    overwrite: bool = False,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
) -> dict[str, Any]:
    """Judge the labelled items ``repeats`` times; write ``agreement.json`` and ``agreement.md`` to ``out_dir``.

    Rejected label lines go to ``rejects.jsonl``; after writing everything,
    :class:`TooManyRejects` when their share exceeds ``max_reject_share``.
    """
    require_file(labels_path, "a labels file (JSONL)")
    out = prepare_out_dir(out_dir, AGREEMENT_OUTPUTS, overwrite)
    labels = load_labels(labels_path)
    labels.rejects.write(out / "rejects.jsonl")
    if not labels.items:
        raise InputError(
            f"none of the {labels.rejects.lines} lines of {labels_path} is a usable labelled item; "
            f"see {out / 'rejects.jsonl'}"
        )
    items = labels.items
    runs = asyncio.run(judge_repeats(judge_factory, items, repeats, progress))
    result = {
        "labels": str(labels_path),
        "judge": judge_description,
        "repeats": repeats,
        "rejected_lines": len(labels.rejects.rejects),
        "tasks": agreement(items, runs),
        "judge_labels": [
            {"id": item.id, "task": item.task, "human": item.label, "judge": [run[i] for run in runs]}
            for i, item in enumerate(items)
        ],
    }
    (out / "agreement.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "agreement.md").write_text(render_markdown(result), encoding="utf-8")
    labels.rejects.check(max_reject_share, out / "rejects.jsonl")
    return result
