"""`generate`: the training prompt as a vLLM request, resumable appends, and the lines it writes.

The generator is an object with vLLM's ``LLM.generate`` interface that answers from the prompt it is
given, so these tests run our request building, batching, resume and writing code on CPU. The real
vLLM path is the GPU test at the end.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import jinja2
import pytest

from data_prep.schema import SpatialItem
from data_prep.writer import RowWriter
from fgrpo_verl.evaluate.generate import (
    GenerationUnavailable,
    build_request,
    chat_messages,
    generate,
    load_vllm,
    max_images_per_prompt,
    prepare_output,
)
from fgrpo_verl.evaluate.inputs import InputError
from fgrpo_verl.evaluate.joins import iter_rows, read_generations
from reward_fns import smart_resize
from tests.support.tiny_qwen import CHAT_TEMPLATE


class TemplateProcessor:
    """Renders the Qwen2.5-VL chat template (the text part of a processor's ``apply_chat_template``)."""

    image_processor = types.SimpleNamespace(patch_size=14)

    def __init__(self) -> None:
        self.template = jinja2.Environment().from_string(CHAT_TEMPLATE)

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=True):
        assert tokenize is False
        return self.template.render(messages=messages, add_generation_prompt=add_generation_prompt)


class EchoLLM:
    """vLLM ``LLM.generate`` interface: one result per request, in order; the text names the request."""

    def __init__(self, fail_after_calls: int | None = None) -> None:
        self.calls: list[list[dict]] = []
        self.fail_after_calls = fail_after_calls

    def generate(self, prompts, sampling_params, use_tqdm=True):
        if self.fail_after_calls is not None and len(self.calls) >= self.fail_after_calls:
            raise RuntimeError("GPU fell over")
        self.calls.append(prompts)
        return [
            types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"<answer>{len(p['prompt'])}</answer>")])
            for p in prompts
        ]


def _png(color: str, size=(64, 48)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def mixed_parquet(tmp_path_factory) -> str:
    """Two plain one-image rows, one two-image row, and a circular group of 2 rotations."""
    out = tmp_path_factory.mktemp("gen") / "mixed.parquet"
    items = [
        SpatialItem("bench", "Where is the cup?", ["left", "right"], "A", [_png("red")], source_id="p0"),
        SpatialItem("bench", "Where is the dog?", ["up", "down", "behind"], "B", [_png("blue")], source_id="p1"),
        SpatialItem("multi", "Across the views, where?", ["near", "far"], "B", [_png("gray"), _png("white", (30, 90))]),
        SpatialItem("circ", "Which is larger?", ["cat", "dog"], "A", [_png("green")], circular_id="c/0", rotation=0),
        SpatialItem("circ", "Which is larger?", ["dog", "cat"], "B", [_png("green")], circular_id="c/0", rotation=1),
    ]
    with RowWriter(out) as writer:
        for n, item in enumerate(items):
            assert writer.add(item, f"s{n}")
    return str(out)


def _rows(path):
    return list(iter_rows([path]))


def test_chat_messages_put_images_where_the_placeholders_are(mixed_parquet):
    (_, row) = _rows(mixed_parquet)[2]
    messages = chat_messages(row)
    parts = messages[0]["content"]
    kinds = [p["type"] for p in parts]
    assert kinds == ["text", "image", "text", "image", "text"]  # "Image 1: <image>\nImage 2: <image>\n..."
    assert parts[1]["image"].size == (64, 48) and parts[3]["image"].size == (30, 90)
    text = "".join(p.get("text", "<image>") for p in parts)
    assert text == row["prompt"][0]["content"]


def test_placeholder_and_image_counts_must_agree(mixed_parquet):
    (_, row) = _rows(mixed_parquet)[0]
    row = {**row, "images": row["images"] * 2}
    with pytest.raises(ValueError, match="bench/0: 1 <image> placeholders for 2 images"):
        chat_messages(row, "bench/0")


def test_request_has_the_templated_prompt_and_the_resized_images(mixed_parquet):
    (_, row) = _rows(mixed_parquet)[2]
    request = build_request(row, TemplateProcessor())
    question = row["prompt"][0]["content"].replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>")
    assert request["prompt"] == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    )
    images = request["multi_modal_data"]["image"]
    # Resized as Qwen2.5-VL does (verl's defaults: 4..16384 tokens of 28x28 pixels); sizes are (w, h).
    expected = [smart_resize(48, 64)[::-1], smart_resize(90, 30)[::-1]]
    assert [img.size for img in images] == expected


def test_generate_writes_one_line_per_row_with_rotation_for_circular_items(mixed_parquet, tmp_path):
    out = tmp_path / "gen.jsonl"
    llm = EchoLLM()
    summary = generate(
        llm, TemplateProcessor(), iter_rows([mixed_parquet]), out, "greedy", batch_size=2, progress=False
    )
    assert summary.written == 5 and summary.skipped_done == 0
    assert [len(call) for call in llm.calls] == [2, 2, 1]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    rows = _rows(mixed_parquet)
    assert [(line["data_source"], line["index"]) for line in lines] == [key for key, _ in rows]
    assert ["rotation" in line for line in lines] == [False, False, False, True, True]
    assert [line.get("rotation") for line in lines[3:]] == [0, 1]
    prompts = [request["prompt"] for call in llm.calls for request in call]
    assert [line["response"] for line in lines] == [f"<answer>{len(p)}</answer>" for p in prompts]
    assert set(lines[0]) == {"index", "data_source", "response"}
    # The file is a valid generations file for `score`.
    assert len(read_generations(out).by_key) == 5


def test_an_interrupted_run_resumes_without_repeating_rows(mixed_parquet, tmp_path):
    out = tmp_path / "gen.jsonl"
    with pytest.raises(RuntimeError, match="GPU fell over"):
        generate(
            EchoLLM(fail_after_calls=1),
            TemplateProcessor(),
            iter_rows([mixed_parquet]),
            out,
            None,
            batch_size=2,
            progress=False,
        )
    assert len(out.read_text().splitlines()) == 2  # the first batch was written before the failure
    with open(out, "a") as handle:
        handle.write('{"index": 2, "data_source": "mul')  # a line cut off mid-write
    llm = EchoLLM()
    summary = generate(llm, TemplateProcessor(), iter_rows([mixed_parquet]), out, None, batch_size=2, progress=False)
    assert summary.skipped_done == 2 and summary.written == 3
    assert sum(len(call) for call in llm.calls) == 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]  # every line parses: the cut line is gone
    assert sorted((line["data_source"], line["index"]) for line in lines) == sorted(
        key for key, _ in _rows(mixed_parquet)
    )
    # A complete run again generates nothing.
    again = generate(EchoLLM(), TemplateProcessor(), iter_rows([mixed_parquet]), out, None, progress=False)
    assert again.written == 0 and again.skipped_done == 5


def test_prepare_output_creates_parents_and_ignores_malformed_lines(tmp_path):
    out = tmp_path / "deep" / "gen.jsonl"
    assert prepare_output(out) == set() and out.exists()
    out.write_text('{"index": 1, "data_source": "a", "response": "x"}\nnot json\n{"index": 2, "data_source": "a"}\n')
    assert prepare_output(out) == {("a", 1)}
    # A line that is not UTF-8 is not done (it is regenerated) and does not stop the resume.
    out.write_bytes(
        b'{"index": 1, "data_source": "a", "response": "\xff"}\n{"index": 2, "data_source": "a", "response": "y"}\n'
    )
    assert prepare_output(out) == {("a", 2)}


@pytest.mark.parametrize(
    ("out", "message"),
    [("data", "is also a --data file"), ("other parquet", "is a parquet file"), ("folder", "is a directory")],
)
def test_generate_refuses_an_out_it_would_damage_before_loading_the_model(mixed_parquet, tmp_path, out, message):
    # The resume appends to --out and cuts an unfinished last line off it: a parquet named there by
    # mistake would be destroyed. Refused before vLLM is imported (this machine has none).
    from fgrpo_verl.evaluate.generate import generate_files

    data = Path(mixed_parquet)
    target = {"data": data, "other parquet": tmp_path / "copy.parquet", "folder": tmp_path}[out]
    if out == "other parquet":
        target.write_bytes(data.read_bytes())
    before = target.read_bytes() if target.is_file() else None
    with pytest.raises(InputError, match=message):
        generate_files("/nonexistent-model", [mixed_parquet], target)
    with pytest.raises(InputError, match=message if out != "data" else "is a parquet file"):
        prepare_output(target)
    if before is not None:
        assert target.read_bytes() == before


def test_max_images_per_prompt_reads_the_prompts(mixed_parquet):
    assert max_images_per_prompt([mixed_parquet]) == 2


def test_without_vllm_the_error_says_what_to_install():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(GenerationUnavailable, match="pip install 'verl\\[vllm\\]"):
            load_vllm("/nonexistent")
    else:
        pytest.skip("vLLM is installed here")


@pytest.mark.slow
def test_request_text_equals_verls_rollout_prompt(mixed_parquet, tiny_qwen_dir, tmp_path):
    """Our prompt is the one verl's RLHFDataset + agent loop build for the same row (real processor)."""
    from omegaconf import OmegaConf
    from transformers import AutoProcessor, AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    processor = AutoProcessor.from_pretrained(tiny_qwen_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    config = OmegaConf.create(
        {"cache_dir": str(tmp_path / "cache"), "max_prompt_length": 4096, "return_raw_chat": True}
    )
    dataset = RLHFDataset([mixed_parquet], tokenizer, config, processor)
    for i, (_, row) in enumerate(_rows(mixed_parquet)):
        messages = dataset[i]["raw_prompt"]
        verl_text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        verl_images, _, _ = RLHFDataset._process_multi_modal_info(messages, image_patch_size=14, config=config)
        request = build_request(row, processor)
        assert request["prompt"] == verl_text
        assert [img.size for img in request["multi_modal_data"]["image"]] == [img.size for img in verl_images]


@pytest.mark.gpu
def test_vllm_generates_for_the_tiny_model(mixed_parquet, tiny_qwen_dir, tmp_path):
    pytest.importorskip("vllm")
    from fgrpo_verl.evaluate.generate import generate_files

    out = tmp_path / "gen.jsonl"
    summary = generate_files(
        tiny_qwen_dir,
        [mixed_parquet],
        out,
        max_tokens=8,
        max_model_len=2048,
        gpu_memory_utilization=0.3,
        progress=False,
    )
    assert summary.written == 5
    assert len(read_generations(out).by_key) == 5
