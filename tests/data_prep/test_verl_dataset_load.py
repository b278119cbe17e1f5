"""Built parquet loads through verl's RLHFDataset with a tiny local Qwen2.5-VL processor, images lining up.

The path below is the one verl's agent loop takes for a prompt: ``RLHFDataset.__getitem__`` builds the
chat messages from the ``<image>`` placeholders, ``_process_multi_modal_info`` extracts the images
(``qwen_vl_utils``), and the processor expands each image into ``<|image_pad|>`` tokens.
"""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_prep.schema import IMAGE_PLACEHOLDER, SpatialItem
from data_prep.writer import RowWriter, estimate_prompt_tokens

pytestmark = pytest.mark.slow
MAX_PROMPT_LENGTH = 1024


@pytest.fixture
def one_torch_thread():
    """Tiny tensors on a shared 2-core machine run ~10x faster on one thread than on contended two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tiny_qwen_dir):
    from transformers import AutoProcessor, AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen_dir), AutoProcessor.from_pretrained(tiny_qwen_dir)


def _png(size, color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def multi_image_parquet(tmp_path_factory) -> str:
    """Rows with 1-3 images of different sizes (a multi-view layout like MindCube)."""
    out = tmp_path_factory.mktemp("multi") / "multi.parquet"
    sizes = [(90, 60), (300, 200), (56, 400)]
    with RowWriter(out) as writer:
        for n in (1, 2, 3):
            item = SpatialItem(
                data_source="multi",
                question=f"Across the {n} views, where is the chair?",
                choices=["left", "right", "behind"],
                answer="C",
                images=[_png(sizes[k], "gray") for k in range(n)],
                source_id=f"m{n}",
            )
            assert writer.add(item, f"m{n}")
    return str(out)


def _dataset(paths, tokenizer, processor, tmp_path):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create(
        {
            "cache_dir": str(tmp_path / "verl_cache"),
            "max_prompt_length": MAX_PROMPT_LENGTH,
            # verl's length filter is datasets.filter over a closure holding the tokenizer; fingerprinting
            # it pickles the 151k-entry vocabulary (about a minute here). The test measures every prompt
            # with the processor itself instead.
            "filter_overlong_prompts": False,
            "return_raw_chat": True,
        }
    )
    return RLHFDataset(paths, tokenizer, config, processor), config


def test_rows_load_in_rlhf_dataset_and_image_tokens_match_placeholders(
    synthetic_parquet, multi_image_parquet, tiny, tmp_path, one_torch_thread
):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tokenizer, processor = tiny
    rows = pq.read_table(synthetic_parquet).to_pylist() + pq.read_table(multi_image_parquet).to_pylist()
    dataset, config = _dataset([synthetic_parquet, multi_image_parquet], tokenizer, processor, tmp_path)
    assert len(dataset) == len(rows)

    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    vision_start = tokenizer.convert_tokens_to_ids("<|vision_start|>")
    merge = processor.image_processor.merge_size**2
    for i, row in enumerate(rows):
        item = dataset[i]
        assert item["index"] == row["extra_info"]["index"]
        assert item["data_source"] == row["data_source"]
        messages = item["raw_prompt"]
        images, videos, _ = RLHFDataset._process_multi_modal_info(messages, dataset.image_patch_size, config)
        placeholders = row["prompt"][0]["content"].count(IMAGE_PLACEHOLDER)
        assert placeholders == len(row["images"]) == len(images)
        assert videos is None
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text], images=images, return_tensors="pt")
        ids = inputs["input_ids"][0]
        assert int((ids == vision_start).sum()) == placeholders
        assert int((ids == image_pad).sum()) == int(inputs["image_grid_thw"].prod(dim=1).sum()) // merge
        assert len(ids) <= MAX_PROMPT_LENGTH  # verl's filter would keep it


def test_token_estimate_matches_the_processor_count(synthetic_parquet, multi_image_parquet, tiny, one_torch_thread):
    """The budget estimate (tokenizer + smart_resize) is within a few tokens of the processor's prompt."""
    tokenizer, processor = tiny
    bounds = {
        "min_pixels": processor.image_processor.size["shortest_edge"],
        "max_pixels": processor.image_processor.size["longest_edge"],
    }
    rows = pq.read_table(synthetic_parquet).to_pylist()[:10] + pq.read_table(multi_image_parquet).to_pylist()
    for row in rows:
        images = [Image.open(io.BytesIO(im["bytes"])) for im in row["images"]]
        parts = row["prompt"][0]["content"].split(IMAGE_PLACEHOLDER)
        content = [{"type": "text", "text": parts[0]}]
        for part in parts[1:]:
            content += [{"type": "image"}, {"type": "text", "text": part}]
        text = processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        actual = processor(text=[text], images=images, return_tensors="pt")["input_ids"].shape[1]
        exact_text = estimate_prompt_tokens(row, tokenizer=tokenizer, **bounds)
        approximate = estimate_prompt_tokens(row, **bounds)
        assert abs(exact_text - actual) <= 6, (exact_text, actual)
        assert abs(approximate - actual) <= 0.2 * actual, (approximate, actual)
