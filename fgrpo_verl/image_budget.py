"""Qwen2.5-VL's image budget, defined once for every place that resizes or counts image tokens.

An image of ``H×W`` pixels becomes ``(h'/FACTOR)·(w'/FACTOR)`` ``<|image_pad|>`` tokens, with
``(h', w') = smart_resize(H, W, FACTOR, MIN_PIXELS, MAX_PIXELS)`` (``reward_fns.frame``): at most
``MAX_PIXELS / FACTOR² = 16384`` tokens per image. Three places must agree on these bounds:

* the processor that builds the prompt: verl's dataset resizes with ``qwen_vl_utils.fetch_image``
  (defaults ``IMAGE_MIN_TOKEN_NUM·28² .. IMAGE_MAX_TOKEN_NUM·28²``, the same numbers) and the model's
  HF image processor (``min_pixels``/``max_pixels`` in its ``preprocessor_config.json``; Qwen2.5-VL
  ships these values);
* ``data_prep`` (``--min-pixels``/``--max-pixels``, ``--token-budget``): prompt lengths for choosing
  ``data.max_prompt_length``;
* ``fgrpo.image.{min_pixels,max_pixels,factor}``: the frame the spatial reward maps boxes into.

Changing the budget means changing all three (tests/recipe/test_fgrpo_recipe_config.py checks that
the defaults agree). Kept free of imports so ``data_prep`` can use it without torch.
"""

FACTOR = 28
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 16384 * 28 * 28
