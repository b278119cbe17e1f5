"""The frozen vision tower: which parameters freeze, and that FSDP1 and FSDP2 then train only the rest.

On the tiny Qwen2.5-VL (random weights, built in memory). The FSDP tests run one gloo rank on CPU and
take a real optimizer step on an image+text batch; the end-to-end proof through verl's own engine is
``recipe/fgrpo/smoke_cpu.sh`` (FSDP2), run by ``tests/recipe/test_smoke_cpu.py``.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
from torch import nn

from fgrpo_verl.freeze_vision import (
    find_vision_tower,
    freeze_vision_tower,
    fsdp1_wrap_policy,
    is_frozen_by_us,
    maximal_frozen_subtrees,
)
from tests.support.tiny_qwen import IMAGE_PAD_ID, build_model_config

CPU = torch.device("cpu")


def _tiny_model():
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    config = build_model_config()
    config._attn_implementation = "sdpa"
    return Qwen2_5_VLForConditionalGeneration(config)


def _batch():
    """One 56x56 image (grid 1x4x4 patches -> 4 image tokens after the 2x2 merge) inside a short text."""
    torch.manual_seed(1)
    pixel_values = torch.randn(16, 3 * 2 * 14 * 14)
    ids = [151644, 872, 198, 151652] + [IMAGE_PAD_ID] * 4 + [151653, 3838, 30, 151645]
    input_ids = torch.tensor([ids])
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "pixel_values": pixel_values,
        "image_grid_thw": torch.tensor([[1, 4, 4]]),
        "labels": input_ids.clone(),
    }


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    def full(t):
        return t.full_tensor() if hasattr(t, "full_tensor") else t

    return {name: full(p.detach()).clone() for name, p in model.named_parameters()}


def test_freezes_the_vision_tower_but_not_the_projector_or_language_model():
    model = _tiny_model()
    summary = freeze_vision_tower(model)
    assert summary.tower == "model.visual" and is_frozen_by_us(model)
    for name, param in model.named_parameters():
        in_tower = name.startswith("model.visual.")
        in_projector = name.startswith("model.visual.merger.")
        assert param.requires_grad == (not in_tower or in_projector), name
    assert any(n.startswith("model.visual.patch_embed.") for n in summary.frozen_names)
    assert any(n.startswith("model.visual.blocks.1.") for n in summary.frozen_names)
    total = sum(p.numel() for p in model.parameters())
    assert summary.frozen_params + summary.trainable_params == total and summary.frozen_params > 0


def test_a_model_without_vision_tower_is_a_config_error():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10))
    assert find_vision_tower(model) is None
    with pytest.raises(ValueError, match="freeze_vision_tower=true.*no vision tower"):
        freeze_vision_tower(model)


def test_maximal_frozen_subtrees_cover_exactly_the_frozen_parameters_with_callable_modules():
    model = _tiny_model()
    assert maximal_frozen_subtrees(model) == []  # nothing frozen: no extra units
    freeze_vision_tower(model)
    roots = maximal_frozen_subtrees(model)
    assert "model.visual.patch_embed" in roots and "model.visual.blocks.0" in roots
    covered = []
    for root in roots:
        module = model.get_submodule(root)
        assert not isinstance(module, nn.ModuleList | nn.ModuleDict)
        params = list(module.named_parameters(prefix=root))
        assert params and not any(p.requires_grad for _, p in params)
        covered += [name for name, _ in params]
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert sorted(covered) == sorted(frozen)  # each frozen tensor in exactly one root


@pytest.fixture
def gloo_rank():
    """A one-rank gloo process group for FSDP on CPU."""
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _train_one_step(wrapped: nn.Module) -> None:
    optimizer = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.01)
    loss = wrapped(**_batch()).loss
    loss.backward()
    optimizer.step()


def _assert_only_unfrozen_moved(before: dict, after: dict) -> None:
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    vision = {n for n in before if n.startswith("model.visual.") and not n.startswith("model.visual.merger.")}
    assert vision and not (changed & vision), sorted(changed & vision)[:3]
    assert any(n.startswith("model.language_model.") for n in changed)
    assert any(n.startswith("model.visual.merger.") for n in changed)  # the projector trains


def _transformer_policy(model):
    import functools

    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

    block_classes = {type(model.model.visual.blocks[0]), type(model.model.language_model.layers[0])}
    return functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=block_classes)


@pytest.mark.slow
def test_fsdp1_needs_the_extra_units_and_then_trains_only_the_unfrozen_part(gloo_rank):
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    model = _tiny_model()
    freeze_vision_tower(model)
    # verl's policy alone (the blocks) leaves the frozen patch embedding in the root unit next to
    # trainable weights, which FSDP1 refuses to flatten.
    with pytest.raises(ValueError, match="requires_grad"):
        FSDP(model, auto_wrap_policy=_transformer_policy(model), use_orig_params=False, device_id=CPU)

    model = _tiny_model()
    freeze_vision_tower(model)
    before = _snapshot(model)
    wrapped = FSDP(
        model,
        auto_wrap_policy=fsdp1_wrap_policy(model, _transformer_policy(model)),
        use_orig_params=False,
        device_id=CPU,
    )
    _train_one_step(wrapped)
    with FSDP.summon_full_params(wrapped):
        after = {
            name.replace("_fsdp_wrapped_module.", ""): p.detach().clone() for name, p in wrapped.named_parameters()
        }
    _assert_only_unfrozen_moved(before, after)


@pytest.mark.slow
def test_fsdp2_trains_only_the_unfrozen_part(gloo_rank):
    from torch.distributed.fsdp import fully_shard

    model = _tiny_model()
    freeze_vision_tower(model)
    before = _snapshot(model)
    for block in [*model.model.visual.blocks, *model.model.language_model.layers]:
        fully_shard(block)
    fully_shard(model)
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("model.visual.blocks."))
    _train_one_step(model)
    _assert_only_unfrozen_moved(before, _snapshot(model))


def test_verl_actor_config_hands_the_flag_to_its_engine_config():
    import verl  # noqa: F401 - loads the fgrpo-verl plugin, which installs the patch
    from verl.utils.config import omega_conf_to_dataclass

    from fgrpo_verl.freeze_vision_patch import ENGINE_FLAG
    from tests.support.recipe_config import recipe_config

    for flag in (True, False):
        config = recipe_config({"actor_rollout_ref.actor.freeze_vision_tower": flag})
        actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
        assert getattr(actor.engine, ENGINE_FLAG) is flag
        assert actor.engine is actor.fsdp_config  # the object verl's FSDP engine receives


@pytest.mark.slow
def test_verls_fsdp1_wrap_policy_gets_the_frozen_units(gloo_rank):
    """verl's own get_fsdp_wrap_policy (as its engine calls it, patched) makes FSDP1 accept the frozen model."""
    import verl  # noqa: F401
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from verl.workers.engine.fsdp import transformer_impl

    model = _tiny_model()
    freeze_vision_tower(model)
    policy = transformer_impl.get_fsdp_wrap_policy(module=model, config=None, is_lora=False)
    wrapped = FSDP(model, auto_wrap_policy=policy, use_orig_params=False, device_id=CPU)
    flat = [p for p in wrapped.parameters()]
    assert any(p.requires_grad for p in flat) and any(not p.requires_grad for p in flat)
