"""The demo's ``report.md``: what was run, the final numbers, the figures, and what they show.

Every number in the report is read from the metrics document that is written next to it as
``metrics.json`` (formatted to three decimals), and the closing paragraph is composed from those
numbers: it says "rose" or "fell" as the simulation came out, and says so when the expected contrast
did not appear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fgrpo_verl.demo.settings import OUTCOMES, STYLES

#: A constraint counts as held "near τ" when its final mean is at least τ − this.
NEAR_TAU = 0.05

_SHORT = {"consistency": "C", "semantic_grounding": "S", "spatial_grounding": "G"}


def fmt(value: float | None) -> str:
    """Three decimals; ``—`` for an undefined value (e.g. no applicable rollout)."""
    return "—" if value is None else f"{value:.3f}"


def _change(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return f"went from {fmt(before)} to {fmt(after)}"
    if round(after, 3) == round(before, 3):
        return f"stayed at {fmt(after)}"
    return f"{'rose' if after > before else 'fell'} from {fmt(before)} to {fmt(after)}"


def _lambda_path(series: Mapping[str, Sequence[float | None]], final: Mapping[str, Any], k: str) -> dict[str, float]:
    used = [v for v in series.get(f"fgrpo/lambda/{k}", []) if v is not None]
    path = [*used, final[f"lambda/{k}"]]
    peak_step = max(range(len(path)), key=path.__getitem__)
    return {"init": path[0], "peak": path[peak_step], "peak_step": peak_step, "final": path[-1]}


def summarize(runs: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Headline numbers of a GRPO-T / FGRPO pair (``runs[mode]`` = a run entry of ``metrics.json``)."""
    summary: dict[str, Any] = {}
    for mode, run in runs.items():
        initial, final = run["initial"], run["final"]
        entry: dict[str, Any] = {
            key: {"initial": initial[f"policy/{key}"], "final": final[f"policy/{key}"]}
            for key in ("accuracy", "inconsistency_rate")
        }
        entry["styles"] = {
            s: {"initial": initial[f"policy/style/{s}"], "final": final[f"policy/style/{s}"]} for s in STYLES
        }
        entry["constraints"] = {}
        for k, tau in thresholds.items():
            mean = final[f"policy/constraint/{k}/mean"]
            entry["constraints"][k] = {
                "final": mean,
                "tau": tau,
                "near_tau": mean is not None and mean >= tau - NEAR_TAU,
            }
        if any(key.startswith("lambda/") for key in final):
            entry["lambda"] = {k: _lambda_path(run["series"], final, k) for k in thresholds}
        summary[mode] = entry
    grpo, fgrpo = summary["grpo_t"], summary["fgrpo"]
    incons_grpo, incons_fgrpo = grpo["inconsistency_rate"], fgrpo["inconsistency_rate"]
    # GRPO-T minus FGRPO at the end (None where a value is undefined).
    summary["final_gap"] = {
        key: None if None in (grpo[key]["final"], fgrpo[key]["final"]) else grpo[key]["final"] - fgrpo[key]["final"]
        for key in ("accuracy", "inconsistency_rate")
    }
    summary["verdict"] = {
        "grpo_t_inconsistency_rose": _greater(incons_grpo["final"], incons_grpo["initial"]),
        "fgrpo_less_inconsistent_than_grpo_t": _greater(incons_grpo["final"], incons_fgrpo["final"]),
        "fgrpo_constraints_near_tau": all(c["near_tau"] for c in fgrpo["constraints"].values()),
    }
    return summary


def _greater(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a > b


def _results_table(runs: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, float]) -> list[str]:
    constraints = list(thresholds)
    header = [
        "",
        "accuracy",
        "inconsistency rate",
        *(k.replace("_", " ") for k in constraints),
        *(f"λ_{_SHORT[k]}" for k in constraints),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # Both runs start from the same policy; the constrained run's entry also holds λ_init.
    start = runs["fgrpo"] if "fgrpo" in runs else next(iter(runs.values()))
    rows = [("initial policy (both runs)", start["initial"])]
    rows += [(f"{run['label']} final", run["final"]) for run in runs.values()]
    for name, values in rows:
        cells = [fmt(values["policy/accuracy"]), fmt(values["policy/inconsistency_rate"])]
        cells += [fmt(values[f"policy/constraint/{k}/mean"]) for k in constraints]
        cells += [fmt(values.get(f"lambda/{k}")) for k in constraints]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "| τ (FGRPO target) | | | "
        + " | ".join(f"{thresholds[k]:.3f}" for k in constraints)
        + " |"
        + " |" * len(constraints)
    )
    return lines


def _paragraph(summary: Mapping[str, Any], runs: Mapping[str, Mapping[str, Any]]) -> str:
    grpo, fgrpo = summary["grpo_t"], summary["fgrpo"]
    g_label, f_label = runs["grpo_t"]["label"], runs["fgrpo"]["label"]
    text = [
        f"Under {g_label}, which rewards only accuracy and format, the share of the shortcut style "
        f"{_change(grpo['styles']['shortcut']['initial'], grpo['styles']['shortcut']['final'])}; accuracy "
        f"{_change(grpo['accuracy']['initial'], grpo['accuracy']['final'])} and the inconsistency rate "
        f"{_change(grpo['inconsistency_rate']['initial'], grpo['inconsistency_rate']['final'])}.",
        f"Under {f_label}, the grounded style's share "
        f"{_change(fgrpo['styles']['grounded']['initial'], fgrpo['styles']['grounded']['final'])}; accuracy "
        f"{_change(fgrpo['accuracy']['initial'], fgrpo['accuracy']['final'])} and the inconsistency rate "
        f"{_change(fgrpo['inconsistency_rate']['initial'], fgrpo['inconsistency_rate']['final'])}.",
    ]
    for k, path in fgrpo.get("lambda", {}).items():
        text.append(
            f"λ_{k} went from {fmt(path['init'])} to a peak of {fmt(path['peak'])} (step {path['peak_step']}) "
            f"and ended at {fmt(path['final'])}."
        )
    met = [f"{k.replace('_', ' ')} {fmt(c['final'])} (τ {c['tau']:.3f})" for k, c in fgrpo["constraints"].items()]
    text.append(f"At the end {f_label}'s constraint means were " + ", ".join(met) + ".")
    gap = summary["final_gap"]
    if None not in gap.values():
        text.append(
            f"{f_label} ends {fmt(abs(gap['inconsistency_rate']))} {'less' if gap['inconsistency_rate'] > 0 else 'more'}"
            f" inconsistent than {g_label}, at {fmt(abs(gap['accuracy']))} "
            f"{'lower' if gap['accuracy'] > 0 else 'higher'} accuracy."
        )
    verdict = summary["verdict"]
    if all(verdict.values()):
        text.append(
            f"This is the behaviour FGRPO is built for: the unconstrained baseline buys accuracy with unfaithful "
            f"reasoning, while dual ascent raises λ until the constraints hold (within {NEAR_TAU} of τ)."
        )
    else:
        failed = ", ".join(name.replace("_", " ") for name, ok in verdict.items() if not ok)
        text.append(f"With these settings the expected contrast did not fully appear (not true: {failed}).")
    return " ".join(text)


def _styles_table(styles: Mapping[str, Mapping[str, float | None]], constraints: Sequence[str]) -> list[str]:
    header = ["style", "accuracy", "format", "inconsistency rate", *(k.replace("_", " ") for k in constraints)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for style, entry in styles.items():
        cells = [entry["policy/accuracy"], entry["policy/format"], entry["policy/inconsistency_rate"]]
        cells += [entry[f"policy/constraint/{k}/mean"] for k in constraints]
        lines.append(f"| {style} | " + " | ".join(fmt(c) for c in cells) + " |")
    return lines


def _examples(examples: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for example in examples:
        ch = example["channels"]
        scores = [f"acc {fmt(ch['acc'])}", f"format {fmt(ch['format'])}"]
        for k in ("consistency", "semantic_grounding", "spatial_grounding"):
            scores.append(f"{_SHORT[k]} {fmt(ch[k]) if ch[f'{k}_mask'] else 'n/a'}")
        lines += [f"**{example['style']}** — " + ", ".join(scores), "", "```text", example["response"], "```", ""]
    return lines


def demo_report(doc: Mapping[str, Any], figures: Mapping[str, str]) -> str:
    """Markdown for ``report.md`` from the ``metrics.json`` document and the figure file names."""
    config, sim, data = doc["config"]["fgrpo"], doc["config"]["simulator"], doc["dataset"]
    thresholds = {k: config["thresholds"][k] for k in config["constraints"]}
    runs = doc["runs"]
    lines = [
        "# fgrpo-verl demo: GRPO-T vs FGRPO on a simulated policy",
        "",
        "## What was run",
        "",
        f"- Data: {data['num_questions']} synthetic spatial questions (`data_prep.synthetic`, seed {sim['seed']}), "
        f"written to `{data['path']}` and read back; types: "
        + ", ".join(f"{t} {n}" for t, n in data["question_types"].items())
        + ".",
        f"- Rollouts: {doc['scoring']['rollouts_scored']} response texts (per question: {len(STYLES)} reasoning "
        f"styles × {len(OUTCOMES)} outcomes — wrong, correct, slip — × 2 phrasings), each scored once by the reward "
        f"manager's scoring code (`fgrpo_verl.rollout_scoring.score_rollout`) with the offline rule judge "
        f"({doc['scoring']['judge_calls']} judge calls); training samples from these scores.",
        f"- Policy: a softmax over the styles {', '.join(STYLES)} per question type, initially "
        + ", ".join(f"{s} {p:g}" for s, p in sim["initial_style_probs"].items())
        + f"; REINFORCE with learning rate {sim['policy_lr']:g}; {sim['steps']} steps of {sim['prompts_per_step']} "
        f"questions × {sim['group_size']} rollouts, seed {sim['seed']}; slip rate {sim['slip_rate']:g}.",
        f"- {runs['grpo_t']['label']}: advantage = group-normalised task reward "
        f"({config['w_acc']:g}·acc + {config['w_format']:g}·format).",
        f"- {runs['fgrpo']['label']}: decoupled advantage with constraints {', '.join(config['constraints'])}; "
        f"τ = {', '.join(f'{k} {v:g}' for k, v in thresholds.items())}; dual ascent η = {config['dual_lr']:g}, "
        f"λ_max = {config['lambda_max']:g}, λ_init = "
        + ", ".join(f"{config['lambda_init'][k]:g}" for k in thresholds)
        + ".",
        f"- Wall time: {doc['timings_s']['total']:.1f} s after start-up (data {doc['timings_s']['dataset']:.1f} s, "
        f"scoring {doc['timings_s']['scoring']:.1f} s, training {doc['timings_s']['training']:.1f} s).",
        "",
        "## Results",
        "",
        "Final policy, exact expectation over all questions (no sampling noise). Constraint columns are the",
        "mean over applicable rollouts (consistency and semantic grounding: correct answers; spatial grounding:",
        "questions with ground-truth boxes). λ is the multiplier after the last dual step.",
        "",
        *_results_table(runs, thresholds),
        "",
        "## What it shows",
        "",
        _paragraph(doc["summary"], runs),
        "",
        "## Figures",
        "",
    ]
    captions = {
        "accuracy_inconsistency": "Accuracy and inconsistency rate (share of correct rollouts whose reasoning "
        "does not conclude the answer). Solid: the policy's expectation; faint: the sampled batch.",
        "constraints": "Constraint means against τ (dashed). Solid: the policy's expectation; faint: the batch "
        "mean that dual ascent reads.",
        "lambda": "λ per constraint, the value used for each step's advantage.",
        "styles": "Share of each reasoning style, averaged over question types.",
    }
    for key, name in figures.items():
        lines += [f"![{key}]({name})", "", captions[key], ""]
    lines += [
        "## What the styles earn",
        "",
        "A policy that always used one style, in expectation over the questions (its accuracy per question type",
        "is in `config.simulator.skill`). Constraint columns are means over applicable rollouts; — means never",
        "applicable.",
        "",
        *_styles_table(doc["scoring"]["styles"], list(thresholds)),
        "",
        "## Example rollouts",
        "",
        "The first question, each style's correct-answer text and what the reward code gave it",
        "(C, S, G: consistency, semantic and spatial grounding; `n/a` = not applicable).",
        "",
        "```text",
        doc["scoring"]["examples"][0]["question"],
        "```",
        "",
        *_examples(doc["scoring"]["examples"]),
        "## What this is not",
        "",
        "A simulator, not a VLM: the policy chooses among four hand-written reasoning styles and its accuracy per",
        "style is a fixed table, so the run shows the dynamics of the advantage and of dual ascent on real reward",
        "channels, not what a model learns. The rewards, the advantage and the dual update are the project's code.",
        "",
    ]
    return "\n".join(lines)
