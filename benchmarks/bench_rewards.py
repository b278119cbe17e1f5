"""Throughput of the rule reward channels: rollouts per second on one core (no judge).

Per rollout it does what the reward manager does without a judge: ``format_reward``,
``accuracy_reward`` (multiple choice), ``extract_think``, ``parse_bboxes`` on the think text,
ground truth to the model frame (``to_model_frame``), ``spatial_grounding_reward`` and
``nontrivial_sentences`` (sentence splitting plus the trivial filter). Rollouts are generated:
a think block of about 150 words citing two boxes, an answer naming an option in one of its
letter or text forms; a share of them (``--risky``) contains text that sentence splitting
cannot take on its fast path (abbreviations, decimals in prose, quotes, lists), which goes
to pysbd. The figure is compared with the target of 2000 rollouts/s per core, and the
same rollouts are also timed with every split forced through pysbd, side by side.

    python benchmarks/bench_rewards.py --num 3000 --risky 0.15
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from unittest import mock

import torch

import reward_fns
from reward_fns import segmenter, sentences

TARGET_PER_CORE = 2000.0

COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "gray", "white")
OBJECTS = ("circle", "square", "triangle", "cup", "chair", "lamp", "book", "bottle", "box", "plant")
RELATIONS = ("to the left of", "to the right of", "above", "below", "closer to the camera than", "larger than")
PLANNING = (
    "Let me look at the image carefully to find the objects mentioned in the question.",
    "I need to compare the positions of the two objects.",
    "First, I will locate each object in the image.",
    "Okay, the question asks about the relative position of two objects.",
    "Hmm, let me double-check the coordinates before answering.",
    "Wait, I should make sure I am comparing the correct objects.",
)
RISKY = (
    "The {a} is approx. {n} px wide, i.e. about {f} times the {b}.",
    'The label says "{a}." and the {b} has no label.',
    "The objects are: 1. the {a} 2. the {b}.",
    "The {a} is about {f}x the size of the {b}... it is clearly bigger.",
    "The {a} (at roughly {n}.5 px) sits e.g. near the edge.",
)


def _object(rng: random.Random) -> str:
    return f"{rng.choice(COLOURS)} {rng.choice(OBJECTS)}"


def _box(rng: random.Random, width: int, height: int) -> list[int]:
    x1, y1 = rng.randrange(0, width - 60), rng.randrange(0, height - 60)
    return [x1, y1, x1 + rng.randrange(20, 60), y1 + rng.randrange(20, 60)]


def make_rollout(rng: random.Random, risky: bool) -> dict:
    """One generated rollout with its sample fields (ground truth, choices, boxes, image size)."""
    width, height = rng.choice([(640, 480), (800, 600), (1024, 768), (512, 512)])
    a, b = _object(rng), _object(rng)
    relation = rng.choice(RELATIONS)
    gt_boxes = [_box(rng, width, height), _box(rng, width, height)]
    # The policy cites boxes in its own (resized) frame, near but not exactly on the truth.
    frame = reward_fns.to_model_frame(gt_boxes, (width, height))
    cited = [[round(v + rng.uniform(-8, 8)) for v in box] for box in frame]
    sentences = [rng.choice(PLANNING)]
    sentences.append(f"The {a} is located at <bbox>[{', '.join(map(str, cited[0]))}]</bbox> in the image.")
    sentences.append(
        f"The {b} appears at <bbox>[{', '.join(map(str, cited[1]))}]</bbox> near the {rng.choice(('top', 'bottom', 'middle'))}."
    )
    while sum(len(s.split()) for s in sentences) < 130:
        sentences.append(
            rng.choice(
                (
                    f"The {a} is {rng.choice(RELATIONS)} the {_object(rng)} on the {rng.choice(('left', 'right'))} side.",
                    f"Its center is at about {rng.randrange(10, 900)} px while the {b} is near {rng.randrange(10, 900)} px.",
                    f"So {rng.randrange(100, 900)} minus {rng.randrange(10, 99)} gives {rng.randrange(10, 900)}.",
                    f"The {b} looks {rng.choice(('smaller', 'larger', 'darker', 'brighter'))} than the {a}.",
                    rng.choice(PLANNING),
                    f"There is also a {_object(rng)} behind the {_object(rng)} in the background.",
                )
            )
        )
    if risky:
        template = rng.choice(RISKY)
        text = template.format(a=a, b=b, n=rng.randrange(10, 99), f=rng.choice(("1.5", "2.5", "3.2")))
        sentences.insert(rng.randrange(1, len(sentences)), text)
    sentences.append(f"Therefore, the {a} is {relation} the {b}, so the answer is ({rng.choice('AB')}).")
    choices = [f"{relation} the {b}", f"not {relation} the {b}"]
    answer = rng.choice(("A", "(A)", "Option A", f"A) {choices[0]}", choices[0], "B"))
    return {
        "response": f"<think>{' '.join(sentences)}</think>\n<answer>{answer}</answer>",
        "ground_truth": "A",
        "choices": choices,
        "gt_boxes": gt_boxes,
        "image_size": (width, height),
    }


def score(sample: dict) -> dict[str, float]:
    """Every rule channel and the sentence filter for one rollout."""
    response = sample["response"]
    think = reward_fns.extract_think(response) or ""
    gt_frame = reward_fns.to_model_frame(sample["gt_boxes"], sample["image_size"])
    return {
        "format": reward_fns.format_reward(response),
        "acc": reward_fns.accuracy_reward(response, sample["ground_truth"], sample["choices"]),
        "spatial_grounding": reward_fns.spatial_grounding_reward(reward_fns.parse_bboxes(think), gt_frame),
        "sentences": float(len(reward_fns.nontrivial_sentences(think))),
    }


def split_path(text: str) -> str:
    """Which way :func:`reward_fns.split_sentences` takes for ``text``."""
    protected = segmenter._protect_boxes(text)[0]
    if segmenter._fast_split(protected) is not None:
        return "fast path"
    pieces = segmenter._pieces(protected)
    return "cut + pysbd on pieces" if len(pieces) > 1 else "pysbd on all"


def pysbd_only(text: str) -> list[str]:
    """The baseline: boxes protected, then pysbd on the whole text (no fast path, no cutting)."""
    protected, boxes, prefix = segmenter._protect_boxes(text)
    return [segmenter._restore_boxes(s, boxes, prefix) for s in segmenter._pysbd_split(protected)]


def rollouts_per_second(samples: list[dict], fn: Callable[[dict], object], repeats: int) -> tuple[float, float]:
    """Rollouts per second of CPU time and of wall time, best of ``repeats`` passes.

    CPU time (``time.process_time``, with torch on one thread) is the per-core figure: on a
    machine shared with other jobs, wall time also counts the time this process waited for a core.
    """
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        segmenter._split_cached.cache_clear()  # every pass splits every text afresh
        cpu, wall = time.process_time(), time.perf_counter()
        for sample in samples:
            fn(sample)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return len(samples) / best_cpu, len(samples) / best_wall


def machine_reference() -> tuple[float, float]:
    """CPU microseconds of a fixed pure-Python loop and of one tiny torch op, to compare machines."""
    start = time.process_time()
    sum(i * i for i in range(100_000))
    python_us = (time.process_time() - start) * 1e6
    a = torch.zeros(2)
    start = time.process_time()
    for _ in range(2000):
        a = a + 1
    return python_us, (time.process_time() - start) * 1e6 / 2000


def _gt_frame(sample: dict) -> list[list[float]]:
    return reward_fns.to_model_frame(sample["gt_boxes"], sample["image_size"])


def _think(sample: dict) -> str:
    return reward_fns.extract_think(sample["response"]) or ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=2000, help="rollouts per pass")
    parser.add_argument("--risky", type=float, default=0.15, help="share of rollouts that need pysbd")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one core: the reward loop runs one rollout per worker thread
    rng = random.Random(args.seed)
    samples = [make_rollout(rng, rng.random() < args.risky) for _ in range(args.num)]
    words = sum(len(_think(s).split()) for s in samples) / len(samples)
    paths = [split_path(_think(s)) for s in samples]
    for sample in samples[:50]:  # warm up (compiled regexes, the pysbd segmenter, torch kernels)
        score(sample)

    rate, wall_rate = rollouts_per_second(samples, score, args.repeats)
    with mock.patch.object(sentences, "split_sentences", pysbd_only):
        pysbd_rate, _ = rollouts_per_second(samples, score, 1)
    pred = {id(s): reward_fns.parse_bboxes(_think(s)) for s in samples}
    gt = {id(s): _gt_frame(s) for s in samples}
    parts = {
        "format_reward": lambda s: reward_fns.format_reward(s["response"]),
        "accuracy_reward": lambda s: reward_fns.accuracy_reward(s["response"], s["ground_truth"], s["choices"]),
        "parse_bboxes + to_model_frame": lambda s: (reward_fns.parse_bboxes(_think(s)), _gt_frame(s)),
        "spatial_grounding_reward (CIoU + match)": lambda s: reward_fns.spatial_grounding_reward(
            pred[id(s)], gt[id(s)]
        ),
        "split_sentences": lambda s: reward_fns.split_sentences(_think(s)),
        "nontrivial_sentences (split + filter)": lambda s: reward_fns.nontrivial_sentences(_think(s)),
    }
    shares = ", ".join(
        f"{paths.count(p) / len(paths):.0%} {p}" for p in ("fast path", "cut + pysbd on pieces", "pysbd on all")
    )
    print(f"{args.num} rollouts, {words:.0f} think words on average; sentence splitting: {shares}")
    for name, fn in parts.items():
        print(f"  {name:<42} {1e6 / rollouts_per_second(samples, fn, args.repeats)[0]:8.1f} us CPU per rollout")
    python_us, torch_op_us = machine_reference()
    print(
        f"  machine reference: pure-Python loop {python_us / 1000:.1f} ms CPU, one tiny torch op {torch_op_us:.1f} us CPU"
    )
    print(f"all rule channels                : {rate:8.0f} rollouts/s per core (wall clock: {wall_rate:.0f}/s)")
    print(
        f"same, every split by pysbd alone : {pysbd_rate:8.0f} rollouts/s per core (speed-up {rate / pysbd_rate:.1f}x)"
    )
    verdict = "met" if rate >= TARGET_PER_CORE else "NOT met"
    print(f"target >= {TARGET_PER_CORE:.0f} rollouts/s per core: {verdict}")


if __name__ == "__main__":
    main()
