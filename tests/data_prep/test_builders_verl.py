"""A multi-image builder's output (MindCube: several views per question) loads in verl's RLHFDataset and each
``<image>`` placeholder becomes one image of the tiny Qwen2.5-VL processor."""

from __future__ import annotations

import asyncio

import pytest

from data_prep import mindcube
from tests.data_prep.builder_fixtures import run_builder, write_image, write_jsonl


@pytest.mark.slow
def test_mindcube_rows_load_in_verl_with_one_image_per_placeholder(tmp_path, tiny_qwen_dir):
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    data = tmp_path / "data"
    views = [f"other_all_image/among/s1/{i}.jpg" for i in range(4)]
    for i, view in enumerate(views):
        write_image(data / view, size=(56 + 28 * i, 56), color=(50 * i, 40, 40))
    write_jsonl(data / "raw" / "MindCube_tinybench.jsonl", [
        {"id": f"among_{n}", "images": views[: n + 2], "gt_answer": "A",
         "question": "Which object is in front of the chair? A. table B. lamp"}
        for n in range(3)
    ])  # fmt: skip
    out = tmp_path / "mindcube.parquet"
    assert run_builder(mindcube, out, "--source", str(data)).rc == 0

    processor = AutoProcessor.from_pretrained(tiny_qwen_dir)
    config = OmegaConf.create(
        {"max_prompt_length": 4096, "filter_overlong_prompts": True, "cache_dir": str(tmp_path / "cache")}
    )
    dataset = RLHFDataset(str(out), processor.tokenizer, config, processor=processor)
    assert len(dataset) == 3  # nothing filtered: every prompt was processed with its images

    vision_start = processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")
    for n in range(3):
        row = dataset[n]
        messages = row["raw_prompt"]
        parts = messages[0]["content"]
        assert sum(p["type"] == "image" for p in parts) == n + 2
        images, _ = asyncio.run(RLHFDataset.process_vision_info(messages, dataset.image_patch_size, config))
        assert [img.size[1] for img in images] == [56] * (n + 2)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text], images=images, return_tensors="pt")
        assert inputs["image_grid_thw"].shape[0] == n + 2
        assert int((inputs["input_ids"][0] == vision_start).sum()) == n + 2
