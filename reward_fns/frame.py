"""The policy's coordinate frame: Qwen2.5-VL's ``smart_resize`` and box rescaling.

**[decided]** (SPEC §1) Ground-truth boxes are stored in original pixels and compared with
predicted boxes in the frame the policy sees, i.e. after the image is resized to the model's
input size. That size follows Qwen2.5-VL's rule, which verl applies through
``qwen_vl_utils.fetch_image``; the bounds are ``fgrpo.image.{factor,min_pixels,max_pixels}``
and must match the data processor's settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Qwen2.5-VL refuses images whose long side exceeds this multiple of the short side.
MAX_ASPECT_RATIO = 200


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = 4 * 28 * 28,
    max_pixels: int = 16384 * 28 * 28,
) -> tuple[int, int]:
    """The ``(height, width)`` Qwen2.5-VL resizes an image to.

    Both sides are rounded to the nearest multiple of ``factor`` (at least ``factor``). If the
    area ``h·w`` then exceeds ``max_pixels``, the image is scaled by ``β = sqrt(H·W / max_pixels)``
    and each side floored to a multiple of ``factor``; if it is below ``min_pixels``, scaled by
    ``β = sqrt(min_pixels / (H·W))`` and each side ceiled. The aspect ratio is kept as far as the
    grid allows.

    Raises ``ValueError`` for a non-positive size or bound, ``min_pixels > max_pixels``, an
    aspect ratio above 200 (as Qwen2.5-VL does), and when the bounds leave a side shorter than
    ``factor`` (where the reference rule would return an unusable zero-pixel side).

    >>> smart_resize(480, 640)
    (476, 644)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    if factor <= 0 or min_pixels <= 0 or max_pixels < min_pixels:
        raise ValueError(
            f"need factor > 0 and 0 < min_pixels <= max_pixels, got factor={factor}, "
            f"min_pixels={min_pixels}, max_pixels={max_pixels}"
        )
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio of {height}x{width} exceeds {MAX_ASPECT_RATIO}")
    new_h = max(factor, round(height / factor) * factor)
    new_w = max(factor, round(width / factor) * factor)
    if new_h * new_w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        new_h = math.floor(height / beta / factor) * factor
        new_w = math.floor(width / beta / factor) * factor
    elif new_h * new_w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * beta / factor) * factor
        new_w = math.ceil(width * beta / factor) * factor
    if new_h < factor or new_w < factor:
        raise ValueError(
            f"max_pixels={max_pixels} is too small for a {height}x{width} image: "
            f"a side would be shorter than factor={factor}"
        )
    return new_h, new_w


def rescale_boxes(
    boxes: Sequence[Sequence[float]],
    orig_size: tuple[float, float],
    new_size: tuple[float, float],
) -> list[list[float]]:
    """Map ``[x1, y1, x2, y2]`` boxes from an image of ``orig_size = (w, h)`` to one of ``new_size = (w', h')``.

    ``x ↦ x·w'/w`` and ``y ↦ y·h'/h`` (sizes are (width, height), as in PIL and ``extra_info.image_sizes``).

    >>> rescale_boxes([[10, 20, 30, 40]], orig_size=(100, 200), new_size=(50, 100))
    [[5.0, 10.0, 15.0, 20.0]]
    """
    (orig_w, orig_h), (new_w, new_h) = orig_size, new_size
    if min(orig_w, orig_h, new_w, new_h) <= 0:
        raise ValueError(f"image sizes must be positive, got orig_size={orig_size}, new_size={new_size}")
    sx, sy = new_w / orig_w, new_h / orig_h
    rescaled = []
    for box in boxes:
        if len(box) != 4:
            raise ValueError(f"a box must be [x1, y1, x2, y2], got {list(box)!r}")
        x1, y1, x2, y2 = box
        rescaled.append([float(x1) * sx, float(y1) * sy, float(x2) * sx, float(y2) * sy])
    return rescaled


def to_model_frame(
    boxes: Sequence[Sequence[float]],
    image_size: tuple[int, int],
    factor: int = 28,
    min_pixels: int = 4 * 28 * 28,
    max_pixels: int = 16384 * 28 * 28,
) -> list[list[float]]:
    """Ground-truth boxes in original pixels of an image of ``image_size = (w, h)`` → the model's frame.

    ``rescale_boxes(boxes, (w, h), (w', h'))`` with ``(h', w') = smart_resize(h, w, …)``; pass
    the ``fgrpo.image`` settings as the keyword arguments.
    """
    width, height = image_size
    new_h, new_w = smart_resize(int(height), int(width), factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return rescale_boxes(boxes, orig_size=(width, height), new_size=(new_w, new_h))
