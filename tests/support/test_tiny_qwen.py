"""The tiny Qwen2.5-VL fixture: real Qwen2.5 token ids, a working processor and a model that runs on CPU."""

from __future__ import annotations

import pytest
from PIL import Image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tiny_qwen_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    return (
        AutoTokenizer.from_pretrained(tiny_qwen_dir),
        AutoProcessor.from_pretrained(tiny_qwen_dir),
        AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir),
    )


def test_tokenizer_has_the_qwen25_vocabulary_and_special_ids(loaded):
    tokenizer, _, _ = loaded
    assert tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [9707, 1879]
    expected = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    expected |= {"<|vision_start|>": 151652, "<|vision_end|>": 151653, "<|image_pad|>": 151655, "<|file_sep|>": 151664}
    assert {t: tokenizer.convert_tokens_to_ids(t) for t in expected} == expected
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|endoftext|>")
    text = "<think>the red circle</think><answer>B</answer>"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_chat_template_follows_the_qwen_format(loaded):
    tokenizer, processor, _ = loaded
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Where?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    plain = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=False, tokenize=False
    )
    assert plain.endswith("<|im_start|>user\nhi<|im_end|>\n")


def test_processor_bounds_image_tokens_and_the_model_runs_forward_generate_and_backward(loaded):
    import torch

    from reward_fns import smart_resize
    from tests.support.tiny_qwen import MAX_PIXELS, MIN_PIXELS

    tokenizer, processor, model = loaded
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where is it?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    for width, height in ((40, 30), (1000, 800), (300, 200)):
        inputs = processor(text=[text], images=[Image.new("RGB", (width, height), "red")], return_tensors="pt")
        h, w = smart_resize(height, width, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
        assert int((inputs["input_ids"] == 151655).sum()) == (h // 28) * (w // 28)
        assert 4 <= (h // 28) * (w // 28) <= 64
    out = model(**inputs)
    assert out.logits.shape[:2] == inputs["input_ids"].shape
    generated = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 3
    loss = model(**inputs, labels=inputs["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
