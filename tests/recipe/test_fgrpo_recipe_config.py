"""The FGRPO recipe config composes on verl's ppo_trainer with the paper's values, and selects the FGRPO trainer.

Composed in-process with Hydra's compose API, through the same search path the launch commands use
(the installed ``hydra_plugins`` search-path plugin for ``+recipe=fgrpo``; the recipe main's primary
config for ``recipe.fgrpo.main_fgrpo``). The subprocess runs of both commands are in
``test_fgrpo_launch.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from fgrpo_verl.config import FGRPOConfig
from tests.support.recipe_config import compose_recipe, recipe_config

pytestmark = pytest.mark.slow

RECIPE_DIR = Path(__file__).parents[2] / "recipe/fgrpo/config/recipe"
VARIANTS = sorted(p.stem for p in RECIPE_DIR.glob("fgrpo*.yaml"))


def _leaf_keys(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_composed_config_holds_the_papers_setting_on_verl_keys():
    config = recipe_config()
    actor = config.actor_rollout_ref.actor
    assert config.actor_rollout_ref.rollout.n == 5
    assert actor.optim.lr == 1e-6 and actor.optim.weight_decay == 0.01
    assert (actor.clip_ratio_low, actor.clip_ratio_high) == (0.2, 0.28)
    assert actor.use_kl_loss and actor.kl_loss_coef == 0.01 and actor.kl_loss_type == "low_var_kl"
    assert actor.optim.clip_grad == 1.0  # the key verl's FSDP engine reads
    assert config.data.train_batch_size == 128 and actor.ppo_mini_batch_size == 64
    assert config.data.max_response_length == 1024
    assert actor.freeze_vision_tower is True
    assert config.algorithm.adv_estimator == "grpo" and config.algorithm.use_kl_in_reward is False
    assert config.trainer.v1.trainer_mode == "sync"
    manager = config.reward.reward_manager
    assert (manager.source, manager.name, manager.module.path) == (
        "importlib",
        "FGRPORewardManager",
        "pkg://fgrpo_verl.reward_manager",
    )


def test_composed_config_carries_the_papers_epochs_prompt_budget_and_clipping():
    config = recipe_config()
    assert config.trainer.total_epochs == 3
    assert config.data.max_prompt_length == 8192 and config.data.filter_overlong_prompts is True
    assert config.actor_rollout_ref.actor.optim.clip_grad == 1.0
    # actor.grad_clip is a legacy key verl's FSDP engine ignores: the recipe must not set it.
    recipe = OmegaConf.load(RECIPE_DIR / "fgrpo.yaml")
    assert "grad_clip" not in recipe.actor_rollout_ref.actor


def test_one_image_budget_for_data_prep_the_processor_and_the_reward_frame():
    """fgrpo.image, data_prep's token estimate and verl's image resizing (qwen_vl_utils) use the same bounds."""
    import inspect

    from qwen_vl_utils import vision_process

    from data_prep.writer import RowWriter, estimate_prompt_tokens
    from fgrpo_verl import image_budget
    from fgrpo_verl.config import ImageConfig

    budget = (image_budget.MIN_PIXELS, image_budget.MAX_PIXELS, image_budget.FACTOR)
    image = recipe_config().fgrpo.image
    assert (image.min_pixels, image.max_pixels, image.factor) == budget
    assert (ImageConfig().min_pixels, ImageConfig().max_pixels, ImageConfig().factor) == budget
    for fn in (RowWriter, estimate_prompt_tokens):
        params = inspect.signature(fn).parameters
        assert (params["min_pixels"].default, params["max_pixels"].default, params["factor"].default) == budget
    # verl's dataset resizes with fetch_image, whose defaults are IMAGE_{MIN,MAX}_TOKEN_NUM * (2 * 14)^2.
    patch = image_budget.FACTOR
    assert vision_process.IMAGE_MIN_TOKEN_NUM * patch**2 == image_budget.MIN_PIXELS
    assert vision_process.IMAGE_MAX_TOKEN_NUM * patch**2 == image_budget.MAX_PIXELS


def test_fgrpo_block_is_the_spec_default_and_validates():
    config = recipe_config()
    assert FGRPOConfig.from_dict(config.fgrpo) == FGRPOConfig()
    assert FGRPOConfig.from_verl(config).active_thresholds() == {
        "consistency": 0.95,
        "semantic_grounding": 0.95,
        "spatial_grounding": 0.7,
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_verl_key_the_recipe_sets_exists_in_verls_config(variant):
    """Hydra merges unknown keys silently: a typo or a key verl renamed would be ignored at run time."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        verl_defaults = compose("ppo_trainer")
    recipe = OmegaConf.to_container(OmegaConf.load(RECIPE_DIR / f"{variant}.yaml"))

    def exists(key: str) -> bool:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(verl_defaults, parent) if parent else verl_defaults
        return node is not None and leaf in list(node.keys())  # `in node` is False for "???" (mandatory) values

    keys = [key for key in _leaf_keys(recipe) if key.split(".")[0] not in ("fgrpo", "hydra", "defaults")]
    assert keys and [key for key in keys if not exists(key)] == []


def test_both_launch_forms_compose_the_same_config():
    via_main_ppo = OmegaConf.to_container(compose_recipe(form="main_ppo"))
    via_recipe_main = OmegaConf.to_container(compose_recipe(form="main_fgrpo"))
    assert via_main_ppo == via_recipe_main


@pytest.mark.parametrize("form", ["main_ppo", "main_fgrpo"])
def test_command_line_overrides_win(form):
    config = compose_recipe(
        ["fgrpo.mode=fixed_lambda", "fgrpo.thresholds.consistency=0.8", "actor_rollout_ref.rollout.n=8"], form=form
    )
    parsed = FGRPOConfig.from_dict(config.fgrpo)
    assert parsed.mode == "fixed_lambda" and parsed.thresholds["consistency"] == 0.8
    assert config.actor_rollout_ref.rollout.n == 8


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_composes_and_validates(variant):
    config = compose_recipe(recipe=variant)
    parsed = FGRPOConfig.from_verl(config)
    expected_mode = {
        "fgrpo_fixed_lambda": "fixed_lambda",
        "fgrpo_grpo_t": "grpo_t",
        "fgrpo_additive": "additive",
        "fgrpo_multiplicative": "multiplicative",
    }.get(variant, "fgrpo")
    assert parsed.mode == expected_mode
    if variant == "fgrpo_consistency_only":
        assert parsed.constraints == ("consistency",)
    if variant == "fgrpo_grounding_only":
        assert parsed.constraints == ("semantic_grounding", "spatial_grounding")
    if variant == "fgrpo_served_judge":
        assert config.reward.reward_model.enable and config.reward.reward_model.enable_resource_pool
        assert parsed.judge.backend == "router"
    assert config.actor_rollout_ref.rollout.n == 5  # the variants change only what they name


def test_verl_selects_the_fgrpo_trainer_in_sync_mode():
    from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync

    from fgrpo_verl.trainer import FGRPOTrainer

    config = recipe_config()
    trainer = get_trainer_cls(config.trainer.v1.trainer_mode)(config=config)
    assert isinstance(trainer, FGRPOTrainer)
    assert trainer.trainer_mode == "sync"
    assert isinstance(trainer.replay_buffer, ReplayBuffer) and not isinstance(trainer.replay_buffer, ReplayBufferAsync)

    plain = recipe_config()
    with open_dict(plain):
        del plain["fgrpo"]
    assert type(get_trainer_cls("sync")(config=plain)) is PPOTrainerSync


def test_a_bad_fgrpo_block_fails_when_the_trainer_is_built():
    from verl.trainer.ppo.v1 import get_trainer_cls

    from fgrpo_verl.config import ConfigError

    with pytest.raises(ConfigError, match="fgrpo.thresholds.consistency"):
        get_trainer_cls("sync")(config=recipe_config({"fgrpo.thresholds.consistency": 1.5}))
