"""FGRPOTrainer._compute_advantage on a real local TransferQueue, with a batch shaped like a real step.

The step is written the way verl 0.9.1's agent loop writes rollouts (one key ``{uid}_{session}_0``
per rollout, the reward manager's ``reward_extra_info`` inside ``extra_fields``), then padded by
verl's own ``upsample_batch_to_divisible_size`` (copies of sample 0 tagged ``is_padding``) and
reordered as ``_balance_batch`` does. The trainer is built by its real constructor from the
composed recipe config; its advantages are checked against ``compute_mode_advantage`` run on
the real rollouts only, so any leak of the padding rows into a statistic shows.
"""

from __future__ import annotations

import random
import uuid

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from fgrpo_verl.advantage import compute_mode_advantage
from fgrpo_verl.channels import CONSTRAINTS, mask_key
from fgrpo_verl.duals import DualAscent
from fgrpo_verl.step_stats import MissingChannelsError
from tests.support.recipe_config import recipe_config

pytestmark = pytest.mark.slow

GROUP = 5  # rollout.n of the recipe
PROMPTS = 5
PAD_TO = 16  # 25 rollouts -> 32 rows: 7 padding rows
N_PADDING = 7


@pytest.fixture(scope="module")
def tq(ray_local):
    """verl's TransferQueue on the local Ray, as verl's CPU tests start it (one storage unit: 2 CPUs)."""
    import transfer_queue

    transfer_queue.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield transfer_queue
    transfer_queue.close()


def _trainer(**updates):
    from fgrpo_verl.trainer import FGRPOTrainer

    return FGRPOTrainer(config=recipe_config({"fgrpo.min_applicable": 2, **updates}))


def _reward_extra_info(rng: random.Random) -> dict[str, float]:
    acc = float(rng.random() < 0.6)
    fmt = float(rng.random() < 0.8)
    info = {"acc": acc, "format": fmt, "task": 0.5 * acc + 0.5 * fmt}
    for name in CONSTRAINTS:
        applicable = rng.random() < 0.8 and (acc > 0 or name == "spatial_grounding")
        value = float(rng.random() < 0.5) if name == "consistency" else round(rng.random(), 3)
        info[name] = value if applicable else 0.0
        info[mask_key(name)] = float(applicable)
    for key in ("judge_calls", "judge_failures", "judge_cache_hits", "judge_flagged"):
        info[key] = float(rng.randint(0, 3))
    info["judge_latency_s"] = rng.choice([0.0, rng.uniform(0.01, 2.0)])
    return info


def _put_step(tq, infos: list[dict], seed: int):
    """Write one step's rollouts like the agent loop, pad and reorder like verl; returns (batch, rows)."""
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.padding_utils import upsample_batch_to_divisible_size
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    rng = random.Random(seed)
    partition = f"train-{uuid.uuid4().hex[:8]}"
    keys, fields, tags, rows = [], [], [], []
    for i, info in enumerate(infos):
        if i % GROUP == 0:
            uid = uuid.uuid4().hex
        length, prompt_len = rng.randint(3, 12), 6
        prompts = torch.randint(10, 100, (prompt_len,))
        responses = torch.randint(10, 100, (length,))
        rm_scores = torch.zeros(length)
        rm_scores[-1] = info.get("task", 0.0)
        fields.append(
            {
                "prompts": prompts,
                "responses": responses,
                "input_ids": torch.cat([prompts, responses]),
                "attention_mask": torch.ones(prompt_len + length, dtype=torch.int64),
                "position_ids": torch.arange(prompt_len + length),
                "response_mask": torch.ones(length, dtype=torch.int64),
                "rm_scores": rm_scores,
                "num_turns": 2,
                "uid": uid,
                "extra_fields": {"reward_extra_info": info, "min_global_steps": 1, "max_global_steps": 1},
            }
        )
        keys.append(f"{uid}_{i % GROUP}_0")
        tags.append(
            {
                "status": "success",
                "prompt_len": prompt_len,
                "response_len": length,
                "seq_len": prompt_len + length,
                "global_steps": 1,
                "min_global_steps": 1,
                "max_global_steps": 1,
            }
        )
        rows.append({"key": keys[-1], "uid": uid, "length": length, "info": info})
    tq.kv_batch_put(keys=keys, partition_id=partition, fields=list_of_dict_to_tensordict(fields), tags=tags)
    batch = upsample_batch_to_divisible_size(
        KVBatchMeta(partition_id=partition, keys=keys, tags=tags), PAD_TO, eos_token_id=0
    )
    order = list(range(len(batch)))
    rng.shuffle(order)
    batch.reorder(order)
    return batch, rows


def _expected(trainer, rows: list[dict], lambdas: dict[str, float]) -> torch.Tensor:
    """compute_mode_advantage over the real rollouts only (no padding rows at all)."""
    config = trainer.fgrpo
    col = {key: torch.tensor([r["info"][key] for r in rows]) for key in rows[0]["info"]}
    width = max(r["length"] for r in rows)
    response_mask = torch.tensor([[1] * r["length"] + [0] * (width - r["length"]) for r in rows])
    return compute_mode_advantage(
        config.mode,
        task=col["task"],
        acc=col["acc"],
        fmt=col["format"],
        constraints={k: col[k] for k in config.constraints},
        masks={k: col[mask_key(k)] for k in config.constraints},
        lambdas=lambdas,
        index=np.array([r["uid"] for r in rows], dtype=object),
        response_mask=response_mask,
        eps=config.eps,
        whiten=config.whiten,
    )


def _read(tq, batch, field: str) -> dict[str, torch.Tensor]:
    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=[field])
    return dict(zip(batch.keys, data[field].unbind(), strict=True))


def _check_step(tq, trainer, batch, rows, lambdas_used):
    expected = _expected(trainer, rows, lambdas_used)
    advantages, returns = _read(tq, batch, "advantages"), _read(tq, batch, "returns")
    for i, row in enumerate(rows):
        got = advantages[row["key"]]
        assert got.shape == (row["length"],)
        torch.testing.assert_close(got, expected[i, : row["length"]], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(returns[row["key"]], got)
    real = {row["key"] for row in rows}
    padding = [key for key in batch.keys if key not in real]
    assert len(padding) == N_PADDING
    for key in padding:
        assert torch.count_nonzero(advantages[key]) == 0


def _clear(tq, batch):
    tq.kv_clear(keys=batch.keys, partition_id=batch.partition_id)


def test_fgrpo_step_matches_the_reference_on_real_rows_then_updates_lambda(tq):
    trainer = _trainer(**{"fgrpo.dual_lr": 0.5})
    reference = DualAscent(
        trainer.fgrpo.active_thresholds(), lr=0.5, lambda_init=trainer.fgrpo.active_lambda_init(), min_applicable=2
    )
    rng = random.Random(0)
    for step in range(2):  # the second step must use the λ the first step produced
        infos = [_reward_extra_info(rng) for _ in range(PROMPTS * GROUP)]
        batch, rows = _put_step(tq, infos, seed=step)
        lambdas_used = trainer.duals.lambdas
        assert lambdas_used == reference.lambdas
        metrics: dict = {}
        returned = trainer._compute_advantage(batch, metrics)
        assert list(returned.keys) == list(batch.keys)
        _check_step(tq, trainer, batch, rows, lambdas_used)

        real = {k: torch.tensor([r["info"][k] for r in rows]) for k in rows[0]["info"]}
        reference_metrics = reference.update(
            {k: real[k] for k in CONSTRAINTS}, {k: real[mask_key(k)] for k in CONSTRAINTS}
        )
        assert trainer.duals.lambdas == pytest.approx(reference.lambdas)
        assert trainer.duals.step == step + 1
        for key, value in reference_metrics.items():
            assert metrics[key] == pytest.approx(value), key
        for name in CONSTRAINTS:
            assert metrics[f"fgrpo/lambda/{name}"] == lambdas_used[name]
        # Sums over real rollouts only: the padding copies of sample 0 must not be counted.
        assert metrics["fgrpo/judge/calls"] == sum(r["info"]["judge_calls"] for r in rows)
        assert metrics["fgrpo/reward/task/mean"] == pytest.approx(float(real["task"].mean()))
        _clear(tq, batch)
    assert trainer.duals.lambdas != trainer.fgrpo.active_lambda_init()


def test_fixed_lambda_keeps_lambda(tq):
    trainer = _trainer(**{"fgrpo.mode": "fixed_lambda", "fgrpo.lambda_init.consistency": 2.5})
    infos = [_reward_extra_info(random.Random(1)) for _ in range(PROMPTS * GROUP)]
    batch, rows = _put_step(tq, infos, seed=1)
    before = trainer.duals.lambdas
    metrics: dict = {}
    trainer._compute_advantage(batch, metrics)
    _check_step(tq, trainer, batch, rows, before)
    assert trainer.duals.lambdas == before and before["consistency"] == 2.5
    assert metrics["fgrpo/lambda/consistency"] == 2.5 and "fgrpo/lambda_next/consistency" not in metrics
    _clear(tq, batch)


@pytest.mark.parametrize("mode", ["grpo_t", "additive", "multiplicative"])
def test_modes_without_lambda_log_constraints_but_no_lambda(tq, mode):
    trainer = _trainer(**{"fgrpo.mode": mode})
    rng = random.Random(2)
    infos = [_reward_extra_info(rng) for _ in range(PROMPTS * GROUP)]
    batch, rows = _put_step(tq, infos, seed=2)
    metrics: dict = {}
    trainer._compute_advantage(batch, metrics)
    _check_step(tq, trainer, batch, rows, {})
    assert not any(key.startswith("fgrpo/lambda") for key in metrics)
    assert "fgrpo/constraint/consistency/mean" in metrics
    assert trainer.duals.step == 0
    _clear(tq, batch)


def test_rollouts_without_fgrpo_channels_fail_naming_keys_and_manager(tq):
    trainer = _trainer()
    # What verl's naive reward manager leaves: a score and maybe an `acc`, none of the FGRPO channels.
    infos = [{"acc": 1.0, "score": 1.0} for _ in range(PROMPTS * GROUP)]
    batch, _ = _put_step(tq, infos, seed=3)
    with pytest.raises(MissingChannelsError) as err:
        trainer._compute_advantage(batch, {})
    message = str(err.value)
    assert "consistency_mask (25 of 25 rows)" in message and "FGRPORewardManager" in message
    assert trainer.duals.step == 0
    _clear(tq, batch)
