"""Time ``compute_fgrpo_advantage`` against verl's ``grpo`` and ``grpo_vectorized`` estimators.

All three run in one process on the same batch: B responses in groups of G, L tokens, uuid
string group ids (what verl's ``uid`` holds), an int64 response mask with ragged lengths.
FGRPO gets four channels (task + three constraints with random applicability); verl gets one
channel as ``token_level_rewards`` (the score on each response's last token). The figure
printed is the median wall time of ``--repeats`` runs after one warm-up, and the two ratios
FGRPO / verl. Targets: ≤ 0.3 of ``grpo`` and ≤ 1.2 of ``grpo_vectorized`` — the floor for
all three is writing the ``[B, L]`` tensor.

    python benchmarks/bench_advantage.py                       # B=8192, L=1024, 7 repeats, 1 thread
    python benchmarks/bench_advantage.py --batch 2048 --length 512 --repeats 3 --threads 0
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

import numpy as np
import torch

from fgrpo_verl.advantage import compute_fgrpo_advantage
from fgrpo_verl.channels import CONSTRAINTS

TARGET_VS_GRPO = 0.3
TARGET_VS_GRPO_VECTORIZED = 1.2


def make_batch(batch: int, length: int, group: int, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    prompts = [str(uuid.UUID(int=int(x))) for x in torch.randint(0, 2**62, (batch // group,), generator=gen)]
    index = np.array(prompts, dtype=object).repeat(group)
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    response_mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).to(torch.int64)
    task = torch.randint(0, 3, (batch,), generator=gen).float() / 2
    constraints = {name: torch.rand(batch, generator=gen) for name in CONSTRAINTS}
    masks = {name: (torch.rand(batch, generator=gen) < 0.7).float() for name in CONSTRAINTS}
    token_level_rewards = torch.zeros(batch, length)
    token_level_rewards[torch.arange(batch), lengths - 1] = task
    return {
        "index": index,
        "response_mask": response_mask,
        "task": task,
        "constraints": constraints,
        "masks": masks,
        "lambdas": dict.fromkeys(CONSTRAINTS, 1.0),
        "token_level_rewards": token_level_rewards,
    }


def median_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time per function; the runs are interleaved so load on a shared machine hits all alike."""
    for fn in fns.values():
        fn()  # warm-up: allocator, lazy imports
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8192, help="responses B (default 8192)")
    parser.add_argument("--length", type=int, default=1024, help="response tokens L (default 1024)")
    parser.add_argument("--group", type=int, default=8, help="rollouts per prompt (default 8)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per estimator (default 7)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: steadier on a shared machine; 0 = torch default)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from verl.trainer.ppo.core_algos import (  # imported late: importing verl takes seconds
        compute_grpo_outcome_advantage,
        compute_grpo_vectorized_outcome_advantage,
    )

    b = make_batch(args.batch, args.length, args.group, args.seed)

    def fgrpo() -> torch.Tensor:
        return compute_fgrpo_advantage(
            b["task"], b["constraints"], b["masks"], b["lambdas"], b["index"], b["response_mask"]
        )

    def grpo() -> torch.Tensor:
        return compute_grpo_outcome_advantage(b["token_level_rewards"], b["response_mask"], b["index"])[0]

    def grpo_vectorized() -> torch.Tensor:
        return compute_grpo_vectorized_outcome_advantage(b["token_level_rewards"], b["response_mask"], b["index"])[0]

    medians = median_seconds({"fgrpo": fgrpo, "grpo": grpo, "grpo_vectorized": grpo_vectorized}, args.repeats)
    t_fgrpo, t_grpo, t_vec = medians["fgrpo"], medians["grpo"], medians["grpo_vectorized"]
    vs_grpo, vs_vec = t_fgrpo / t_grpo, t_fgrpo / t_vec

    print(f"B={args.batch} L={args.length} group={args.group} repeats={args.repeats} threads={torch.get_num_threads()}")
    print(f"fgrpo (task + {len(CONSTRAINTS)} constraints): {t_fgrpo * 1e3:9.2f} ms")
    print(f"verl grpo (1 channel):             {t_grpo * 1e3:9.2f} ms")
    print(f"verl grpo_vectorized (1 channel):  {t_vec * 1e3:9.2f} ms")
    print(
        f"fgrpo / grpo            = {vs_grpo:.3f}  target <= {TARGET_VS_GRPO}: {'met' if vs_grpo <= TARGET_VS_GRPO else 'NOT met'}"
    )
    print(
        f"fgrpo / grpo_vectorized = {vs_vec:.3f}  target <= {TARGET_VS_GRPO_VECTORIZED}: "
        f"{'met' if vs_vec <= TARGET_VS_GRPO_VECTORIZED else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
