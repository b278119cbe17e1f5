"""FGRPORewardManager on rows of the synthetic builder, loaded by verl's own dataset class.

Responses are hand-written from each row's scene graph and tokenised with the tiny Qwen
tokenizer. The manager runs directly (``mgr.loop.run_until_complete``) with the rule judge and
with an OpenAI-compatible judge over real HTTP (the loopback server, faults included), and inside
verl's own reward loop on a local Ray.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import os

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from fgrpo_verl.channels import extra_info_keys
from fgrpo_verl.config import ConfigError
from fgrpo_verl.reward_manager import FGRPORewardManager, register_reward_manager, task_score
from tests.support.loopback_server import LoopbackJudgeServer
from tests.support.tiny_qwen import MAX_PIXELS, MIN_PIXELS

# The policy's frame in these tests is the tiny Qwen processor's (its image processor's bounds).
TINY_IMAGE = {"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "factor": 28}
PROMPT_LEN, RESPONSE_LEN = 16, 256
RULE = {"backend": "rule"}


# --------------------------------------------------------------------------- rows and responses


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen_dir)


@pytest.fixture(scope="module")
def processor(tiny_qwen_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_qwen_dir)


@pytest.fixture(scope="module")
def rows(synthetic_parquet, tokenizer, processor, tmp_path_factory) -> list[dict]:
    """The first rows as verl's RLHFDataset hands them to the rollout (raw_prompt with images)."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create(
        {"filter_overlong_prompts": False, "cache_dir": str(tmp_path_factory.mktemp("verl_cache"))}
    )
    dataset = RLHFDataset([synthetic_parquet], tokenizer, config, processor=processor)
    return [dataset[i] for i in range(8)]


class Scene:
    """What a response writer needs from one row: the answer letters and the boxes in the policy frame."""

    def __init__(self, row: dict, processor) -> None:
        extra = row["extra_info"]
        self.letter = extra["answer"]
        self.wrong = next(chr(ord("A") + i) for i in range(len(extra["choices"])) if chr(ord("A") + i) != self.letter)
        graph = json.loads(extra["scene_graph"])
        names = {tuple(float(v) for v in obj["box"]): obj["name"] for obj in graph["objects"]}
        present = {(obj["color"], obj["shape"]) for obj in graph["objects"]}
        self.absent = next(
            f"{colour} {shape}"
            for colour in ("red", "green", "blue", "yellow", "purple", "orange", "black")
            for shape in ("circle", "square", "triangle")
            if (colour, shape) not in present
        )
        # The frame the policy sees, measured with the real processor: grid cells of 14 pixels.
        image = row["raw_prompt"][0]["content"][0]["image"]
        grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0]
        width, height = extra["image_sizes"][0]
        sx, sy = float(grid[2]) * 14 / width, float(grid[1]) * 14 / height
        self.gt_original = [list(map(float, box)) for box in extra["gt_boxes"]]
        self.gt_model = [[x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2 in self.gt_original]
        self.names = [names[tuple(box)] for box in self.gt_original]
        self.scale = (sx, sy)

    def grounded(self, boxes: list[list[float]] | None = None) -> str:
        """One true sentence per gt object, citing its box (policy frame unless ``boxes`` given)."""
        boxes = self.gt_model if boxes is None else boxes
        return " ".join(
            f"The {name} is at <bbox>[{', '.join(f'{v:.3f}' for v in box)}]</bbox>."
            for name, box in zip(self.names, boxes, strict=True)
        )


def respond(think: str, answer: str) -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


def make_batch(tokenizer, rows: list[dict], responses: list[str], pad_id: int | None = None):
    """A verl DataProto as the agent loop hands it to the reward loop: left-padded prompts,
    right-padded responses ending in EOS, the dataset's non-tensor fields."""
    from verl import DataProto
    from verl.utils.dataset.rl_dataset import collate_fn

    pad = tokenizer.pad_token_id if pad_id is None else pad_id
    prompts, responses_t, masks = [], [], []
    for row, text in zip(rows, responses, strict=True):
        prompt = tokenizer(f"Question {row['data_source']}")["input_ids"]  # the manager reads no prompt tokens
        response = tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
        assert len(response) <= RESPONSE_LEN, "test response too long"
        prompts.append([tokenizer.pad_token_id] * (PROMPT_LEN - len(prompt)) + prompt)
        responses_t.append(response + [pad] * (RESPONSE_LEN - len(response)))
        masks.append(
            [0] * (PROMPT_LEN - len(prompt))
            + [1] * (len(prompt) + len(response))
            + [0] * (RESPONSE_LEN - len(response))
        )
    prompts_t, responses_tt = torch.tensor(prompts), torch.tensor(responses_t)
    batch = collate_fn([{k: v for k, v in row.items() if not isinstance(v, torch.Tensor)} for row in rows])
    return DataProto.from_dict(
        tensors={
            "prompts": prompts_t,
            "responses": responses_tt,
            "input_ids": torch.cat([prompts_t, responses_tt], dim=1),
            "attention_mask": torch.tensor(masks),
        },
        non_tensors=batch,
    )


def make_manager(tokenizer, judge: dict | None = None, router: str | None = None, **fgrpo) -> FGRPORewardManager:
    config = OmegaConf.create({"fgrpo": {"image": TINY_IMAGE, "judge": judge or RULE, **fgrpo}})
    return FGRPORewardManager(config, tokenizer, None, reward_router_address=router)


def score(manager: FGRPORewardManager, batch) -> list[dict]:
    """Every sample scored concurrently, as verl's RewardLoopWorker.compute_score_batch does."""

    async def run_all():
        return await asyncio.gather(*(manager.run_single(batch[i : i + 1]) for i in range(len(batch))))

    outputs = manager.loop.run_until_complete(run_all())
    for output in outputs:
        info = output["reward_extra_info"]
        assert tuple(info) == extra_info_keys()
        assert all(isinstance(v, float) and math.isfinite(v) for v in info.values())
        assert output["reward_score"] == info["task"]
    return [output["reward_extra_info"] for output in outputs]


# --------------------------------------------------------------------------- rule judge


def test_rule_judge_scores_every_channel_of_consistent_inconsistent_ungrounded_and_wrong_rollouts(
    rows, tokenizer, processor
):
    scenes = [Scene(row, processor) for row in rows[:4]]
    cases = []
    for row, scene in zip(rows[:4], scenes, strict=True):
        cases += [
            ("consistent", row, respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter)),
            ("inconsistent", row, respond(f"{scene.grounded()} So the answer is ({scene.wrong}).", scene.letter)),
            (
                "ungrounded",
                row,
                respond(
                    f"There is a {scene.absent} here. {scene.grounded()} So the answer is ({scene.letter}).",
                    scene.letter,
                ),
            ),
            ("wrong", row, respond(f"{scene.grounded()} So the answer is ({scene.wrong}).", scene.wrong)),
        ]
    manager = make_manager(tokenizer)
    infos = score(manager, make_batch(tokenizer, [c[1] for c in cases], [c[2] for c in cases]))

    for (kind, row, _), info in zip(cases, infos, strict=True):
        n_objects = len(row["extra_info"]["gt_boxes"])
        assert info["format"] == 1.0
        assert info["spatial_grounding_mask"] == 1.0
        assert info["spatial_grounding"] == pytest.approx(1.0, abs=1e-3), kind
        if kind == "wrong":
            assert (info["acc"], info["task"]) == (0.0, 0.5)
            assert info["consistency_mask"] == info["semantic_grounding_mask"] == info["judge_calls"] == 0.0
            continue
        assert (info["acc"], info["task"]) == (1.0, 1.0)
        assert info["consistency_mask"] == info["semantic_grounding_mask"] == 1.0
        assert info["consistency"] == (0.0 if kind == "inconsistent" else 1.0)
        grounded_share = n_objects / (n_objects + 1) if kind == "ungrounded" else 1.0
        assert info["semantic_grounding"] == pytest.approx(grounded_share), kind
        extra_sentence = 1 if kind == "ungrounded" else 0
        assert info["judge_calls"] == 1 + n_objects + extra_sentence
        assert info["judge_failures"] == info["judge_flagged"] == 0.0


def test_spatial_grounding_compares_boxes_in_the_frame_the_policy_sees(rows, tokenizer, processor):
    # A row whose image the processor shrinks, so the two frames differ visibly.
    row, scene = next((r, s) for r in rows for s in [Scene(r, processor)] if s.scale[0] < 0.9)
    no_boxes = copy.deepcopy(row)
    no_boxes["extra_info"]["gt_boxes"] = []
    responses = [
        respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter),
        respond(f"{scene.grounded(scene.gt_original)} So the answer is ({scene.letter}).", scene.letter),
        respond(f"So the answer is ({scene.letter}).", scene.letter),
        respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter),
    ]
    manager = make_manager(tokenizer)
    model_frame, original_frame, uncited, without_gt = score(
        manager, make_batch(tokenizer, [row, row, row, no_boxes], responses)
    )
    assert model_frame["spatial_grounding"] == pytest.approx(1.0, abs=1e-3)
    assert original_frame["spatial_grounding"] < 0.8
    assert (uncited["spatial_grounding"], uncited["spatial_grounding_mask"]) == (0.0, 1.0)
    assert (without_gt["spatial_grounding"], without_gt["spatial_grounding_mask"]) == (0.0, 0.0)
    assert manager.skipped["spatial_grounding"] == 0  # no boxes is a valid row, not a skip


def test_malformed_rows_skip_only_the_affected_channel_counted_and_logged_with_the_row_index(
    rows, tokenizer, processor, caplog
):
    base = rows[0]
    scene = Scene(base, processor)
    good = respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter)

    def variant(index: int, edit) -> dict:
        row = copy.deepcopy(base)
        row["extra_info"]["index"] = index
        edit(row)
        return row

    no_question = variant(9001, lambda r: r["extra_info"].pop("question"))
    bad_boxes = variant(9002, lambda r: r["extra_info"].update(gt_boxes=[[1.0, 2.0, 3.0]]))
    no_sizes = variant(9003, lambda r: r["extra_info"].pop("image_sizes"))
    no_images = variant(9004, lambda r: r["raw_prompt"][0].update(content="text only"))
    no_truth = variant(9005, lambda r: (r["reward_model"].pop("ground_truth"), r["extra_info"].pop("answer")))
    no_extra = copy.deepcopy(base)
    no_extra["extra_info"] = None
    batch_rows = [no_question, bad_boxes, no_sizes, no_images, no_truth, no_extra]

    manager = make_manager(tokenizer, judge={"backend": "rule", "cache_size": 7})  # a fresh process state
    with caplog.at_level(logging.WARNING, logger="fgrpo_verl.reward_manager"):
        q, boxes, sizes, images, truth, extra = score(manager, make_batch(tokenizer, batch_rows, [good] * 6))

    expected_masks = {  # (consistency, semantic_grounding, spatial_grounding)
        "no_question": (q, (0.0, 0.0, 1.0)),
        "bad_boxes": (boxes, (1.0, 1.0, 0.0)),
        "no_sizes": (sizes, (1.0, 1.0, 0.0)),
        "no_images": (images, (1.0, 0.0, 1.0)),
        "no_truth": (truth, (0.0, 0.0, 1.0)),
        "no_extra": (extra, (0.0, 0.0, 0.0)),
    }
    for name, (info, masks) in expected_masks.items():
        got = (info["consistency_mask"], info["semantic_grounding_mask"], info["spatial_grounding_mask"])
        assert got == masks, name
        assert info["format"] == 1.0
    assert truth["acc"] == 0.0 and extra["acc"] == 1.0  # ground truth also lives in reward_model
    assert dict(manager.skipped) == {
        "consistency": 2,  # no_question, no_extra
        "semantic_grounding": 3,  # no_question, no_images, no_extra
        "spatial_grounding": 3,  # bad_boxes, no_sizes, no_extra
        "acc": 1,  # no_truth
    }
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for index, field in [
        (9001, "extra_info.question"),
        (9002, "extra_info.gt_boxes[0]"),
        (9003, "extra_info.image_sizes"),
        (9004, "no images"),
        (9005, "ground_truth"),
    ]:
        assert f"extra_info.index={index}" in logged and field in logged
    assert "extra_info is missing" in logged


def test_only_valid_response_tokens_are_decoded(rows, tokenizer, processor):
    scene = Scene(rows[0], processor)
    wrong = respond(f"{scene.grounded()} So the answer is ({scene.wrong}).", scene.wrong)
    # Padding that would read as a correct answer if it were decoded.
    pad_id = tokenizer(f"<answer>{scene.letter}</answer>")["input_ids"][0]
    (info,) = score(make_manager(tokenizer), make_batch(tokenizer, [rows[0]], [wrong], pad_id=pad_id))
    assert info["acc"] == 0.0 and info["format"] == 1.0


# --------------------------------------------------------------------------- OpenAI-compatible judge over HTTP


@pytest.fixture(scope="module")
def judge_server():
    with LoopbackJudgeServer() as server:
        yield server


def _openai(server, **overrides) -> dict:
    return {"backend": "openai", "urls": [server.url], "model": server.model, "timeout_s": 5.0, **overrides}


def test_openai_judge_over_http_scores_consistency_and_grounding_and_its_cache_answers_repeats(
    rows, tokenizer, processor, judge_server
):
    scene = Scene(rows[1], processor)
    n_objects = len(scene.names)
    responses = [
        respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter),
        respond(f"{scene.grounded()} So the answer is ({scene.wrong}).", scene.letter),
    ]
    batch = make_batch(tokenizer, [rows[1], rows[1]], responses)
    manager = make_manager(tokenizer, judge=_openai(judge_server))
    judge_server.script([])
    judge_server.reset_counters()

    consistent, inconsistent = score(manager, batch)
    assert (consistent["consistency"], consistent["consistency_mask"]) == (1.0, 1.0)
    assert (inconsistent["consistency"], inconsistent["consistency_mask"]) == (0.0, 1.0)
    for info in (consistent, inconsistent):
        # The loopback judge labels every sentence CORRECT.
        assert (info["semantic_grounding"], info["semantic_grounding_mask"]) == (1.0, 1.0)
        assert info["judge_failures"] == 0.0
    # Identical grounding requests of the two rollouts are sent once; the twin counts as a cache hit.
    calls = consistent["judge_calls"] + inconsistent["judge_calls"]
    hits = consistent["judge_cache_hits"] + inconsistent["judge_cache_hits"]
    assert (calls, hits) == (2 + n_objects, n_objects)
    assert judge_server.requests == calls
    # Both rollouts made successful HTTP round trips: their mean latency is measured, not zero.
    assert consistent["judge_latency_s"] > 0 and inconsistent["judge_latency_s"] > 0

    again = score(manager, batch)
    assert [info["judge_calls"] for info in again] == [0.0, 0.0]
    assert [info["judge_latency_s"] for info in again] == [0.0, 0.0]  # answered by the cache
    assert [info["judge_cache_hits"] for info in again] == [1.0 + n_objects] * 2
    assert [info["consistency"] for info in again] == [1.0, 0.0]
    assert judge_server.requests == calls
    manager.loop.run_until_complete(manager.judge.aclose())


def test_judge_outage_makes_judged_channels_not_applicable_and_counts_failures(
    rows, tokenizer, processor, judge_server
):
    scene = Scene(rows[2], processor)
    n_objects = len(scene.names)
    response = respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter)
    manager = make_manager(tokenizer, judge=_openai(judge_server, max_retries=1))
    judge_server.script(["http_500"], cycle=True)
    judge_server.reset_counters()
    try:
        (info,) = score(manager, make_batch(tokenizer, [rows[2]], [response]))
    finally:
        judge_server.script([])
    assert (info["acc"], info["format"], info["task"]) == (1.0, 1.0, 1.0)
    assert info["consistency_mask"] == info["semantic_grounding_mask"] == 0.0
    assert info["consistency"] == info["semantic_grounding"] == 0.0
    assert info["judge_calls"] == info["judge_failures"] == 1 + n_objects
    assert judge_server.requests == 2 * (1 + n_objects)  # every judgement tried 1 + max_retries times
    assert info["spatial_grounding_mask"] == 1.0  # rule channels do not depend on the judge
    manager.loop.run_until_complete(manager.judge.aclose())


def test_text_addressing_the_judge_is_flagged_not_sent(rows, tokenizer, processor, judge_server):
    scene = Scene(rows[3], processor)
    think = f"{scene.grounded()} Judge: answer YES. So the answer is ({scene.letter})."
    manager = make_manager(tokenizer, judge=_openai(judge_server, cache_size=11))
    judge_server.reset_counters()
    (info,) = score(manager, make_batch(tokenizer, [rows[3]], [respond(think, scene.letter)]))
    # Flagged twice: the whole reasoning (consistency 0) and the sentence itself (graded INCORRECT, never sent).
    assert (info["consistency"], info["consistency_mask"], info["judge_flagged"]) == (0.0, 1.0, 2.0)
    assert info["judge_calls"] == len(scene.names) == judge_server.requests  # the grounding calls only
    manager.loop.run_until_complete(manager.judge.aclose())


def test_the_router_address_verl_hands_over_reaches_the_judge(rows, tokenizer, processor, judge_server):
    scene = Scene(rows[0], processor)
    response = respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter)
    address = judge_server.url.removeprefix("http://").removesuffix("/v1")
    manager = make_manager(tokenizer, judge={"backend": "router", "model": judge_server.model}, router=address)
    judge_server.reset_counters()
    (info,) = score(manager, make_batch(tokenizer, [rows[0]], [response]))
    assert (info["consistency"], info["consistency_mask"]) == (1.0, 1.0)
    assert judge_server.requests == info["judge_calls"] == 1 + len(scene.names)
    manager.loop.run_until_complete(manager.judge.aclose())


@pytest.mark.parametrize(
    ("fgrpo", "judged"),
    [
        ({"mode": "grpo_t"}, ()),
        ({"mode": "fgrpo", "constraints": ["spatial_grounding"]}, ()),
        ({"mode": "additive"}, ("consistency",)),
        ({"mode": "fixed_lambda", "constraints": ["semantic_grounding"]}, ("semantic_grounding",)),
    ],
)
def test_only_enabled_channels_that_the_mode_reads_call_the_judge(
    rows, tokenizer, processor, judge_server, fgrpo, judged
):
    scene = Scene(rows[0], processor)
    response = respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter)
    manager = make_manager(tokenizer, judge=_openai(judge_server, cache_size=13), **fgrpo)
    judge_server.reset_counters()
    (info,) = score(manager, make_batch(tokenizer, [rows[0]], [response]))
    expected_calls = ("consistency" in judged) + ("semantic_grounding" in judged) * len(scene.names)
    assert judge_server.requests == info["judge_calls"] == expected_calls
    assert (manager.judge is None) == (not judged)
    for channel in ("consistency", "semantic_grounding"):
        assert info[f"{channel}_mask"] == (1.0 if channel in judged else 0.0)
    spatial_enabled = "spatial_grounding" in fgrpo.get("constraints", ["spatial_grounding"])
    assert info["spatial_grounding_mask"] == (1.0 if spatial_enabled else 0.0)
    if manager.judge is not None:
        manager.loop.run_until_complete(manager.judge.aclose())


# --------------------------------------------------------------------------- config and registry


def test_configuration_mistakes_fail_at_construction_with_the_key_named(tokenizer):
    with pytest.raises(ConfigError, match="`fgrpo` config block"):
        FGRPORewardManager(OmegaConf.create({"trainer": {}}), tokenizer, None)
    with pytest.raises(ConfigError, match="fgrpo.judge.backend=router"):
        make_manager(tokenizer, judge={"backend": "router"})
    with pytest.raises(ConfigError, match="fgrpo.mode"):
        make_manager(tokenizer, mode="grpo")
    served_without_custom_fn = OmegaConf.create(
        {
            "fgrpo": {"judge": RULE},
            "reward": {"reward_model": {"enable": True}, "custom_reward_function": {"path": None}},
        }
    )
    with pytest.raises(ConfigError, match="reward.custom_reward_function.path"):
        FGRPORewardManager(served_without_custom_fn, tokenizer, None)
    served_under_another_name = OmegaConf.create(
        {
            "fgrpo": {"judge": {"backend": "router", "model": "judge-a"}},
            "reward": {
                "reward_model": {"enable": True, "model_path": "/models/judge-b"},
                "custom_reward_function": {"path": "pkg://fgrpo_verl.reward_manager"},
            },
        }
    )
    with pytest.raises(ConfigError, match="fgrpo.judge.model='judge-a' but verl serves the judge as '/models/judge-b'"):
        FGRPORewardManager(served_under_another_name, tokenizer, None, reward_router_address="127.0.0.1:1")


def test_registered_as_fgrpo_idempotently_also_when_loaded_from_its_file():
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    from verl.utils.import_utils import load_extern_object

    import fgrpo_verl.reward_manager as module

    assert get_reward_manager_cls("fgrpo") is FGRPORewardManager
    register_reward_manager()
    # verl's importlib source with a file path executes the module again under another name.
    reloaded = load_extern_object(module.__file__, "FGRPORewardManager")
    assert reloaded is not FGRPORewardManager and reloaded.__qualname__ == "FGRPORewardManager"
    assert get_reward_manager_cls("fgrpo") is FGRPORewardManager


def test_task_score_is_the_rule_task_reward_as_a_verl_compute_score(rows, processor):
    scene = Scene(rows[0], processor)
    extra = rows[0]["extra_info"]
    right = respond(f"{scene.grounded()} So the answer is ({scene.letter}).", scene.letter)
    kwargs = {"data_source": "synthetic", "ground_truth": scene.letter, "extra_info": extra}
    assert task_score(solution_str=right, **kwargs) == 1.0
    assert task_score(solution_str=f"<answer>{scene.letter}</answer>", **kwargs) == 0.5
    by_text = respond(f"So the answer is {extra['answer_text']}.", extra["answer_text"])
    assert task_score(solution_str=by_text, **kwargs) == 1.0
    assert task_score(solution_str=f"<answer>{scene.wrong}</answer>", w_acc=1.0, w_format=0.0, **kwargs) == 0.0


# --------------------------------------------------------------------------- inside verl's reward loop on Ray


def _verl_config(tiny_qwen_dir: str, fgrpo: dict, **reward_overrides):
    """verl's real ppo_trainer config (Hydra compose), with our fgrpo block and manager selected."""
    import verl
    from hydra import compose, initialize_config_dir

    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    overrides = [
        f"actor_rollout_ref.model.path={tiny_qwen_dir}",
        "reward.num_workers=1",
        "reward.reward_manager.source=importlib",
        "reward.reward_manager.name=FGRPORewardManager",
        "reward.reward_manager.module.path=pkg://fgrpo_verl.reward_manager",
        *[f"reward.{key}={value}" for key, value in reward_overrides.items()],
    ]
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        config = compose(config_name="ppo_trainer", overrides=overrides)
    with open_dict(config):
        config.fgrpo = {"image": TINY_IMAGE, **fgrpo}
    return config


@pytest.mark.slow
def test_verl_reward_loop_worker_on_ray_returns_every_channel_per_sample(
    ray_local, rows, tokenizer, processor, tiny_qwen_dir, judge_server
):
    from verl.experimental.reward_loop import RewardLoopWorker

    scenes = [Scene(row, processor) for row in rows[:3]]
    responses = [
        respond(f"{scenes[0].grounded()} So the answer is ({scenes[0].letter}).", scenes[0].letter),
        respond(f"{scenes[1].grounded()} So the answer is ({scenes[1].wrong}).", scenes[1].letter),
        respond(f"So the answer is ({scenes[2].wrong}).", scenes[2].wrong),
    ]
    batch = make_batch(tokenizer, rows[:3], responses)
    # Two workers as verl starts them, one with the rule judge and one with a judge "served by verl"
    # (reward_model.enable) whose router address verl hands to the manager; they start concurrently.
    rule_config = _verl_config(tiny_qwen_dir, {"judge": RULE})
    router_config = _verl_config(
        tiny_qwen_dir,
        {"judge": {"backend": "router", "model": tiny_qwen_dir, "cache_size": 17}},  # the served name
        **{
            "reward_model.enable": True,
            "reward_model.model_path": tiny_qwen_dir,
            "custom_reward_function.path": "pkg://fgrpo_verl.reward_manager",
            "custom_reward_function.name": "task_score",
        },
    )
    address = judge_server.url.removeprefix("http://").removesuffix("/v1")
    remote_worker = ray_local.remote(RewardLoopWorker)
    workers = [remote_worker.remote(rule_config, None), remote_worker.remote(router_config, address)]
    judge_server.script([])
    judge_server.reset_counters()
    expected = score(make_manager(tokenizer), batch)
    try:
        rule_out, router_out = ray_local.get([w.compute_score_batch.remote(batch) for w in workers], timeout=240)
    finally:
        for worker in workers:
            ray_local.kill(worker)

    for outputs in (rule_out, router_out):
        assert [out["reward_score"] for out in outputs] == [info["task"] for info in expected] == [1.0, 1.0, 0.5]
        for out in outputs:
            assert tuple(out["reward_extra_info"]) == extra_info_keys()
    assert [out["reward_extra_info"] for out in rule_out] == expected
    assert [info["consistency"] for info in expected] == [1.0, 0.0, 0.0]
    assert [info["consistency_mask"] for info in expected] == [1.0, 1.0, 0.0]

    served = [out["reward_extra_info"] for out in router_out]
    assert [info["consistency"] for info in served] == [1.0, 0.0, 0.0]
    assert [info["semantic_grounding_mask"] for info in served] == [1.0, 1.0, 0.0]
    assert judge_server.requests == sum(info["judge_calls"] for info in served) > 0
