"""Turn the images a sample carries into ``data:`` URLs for a chat-completions request.

Accepted forms (what verl's dataset and our parquet files hold): encoded PNG/JPEG
``bytes``, a ``PIL.Image.Image`` (re-encoded as PNG), or a dict ``{"bytes": ..., "path": ...}``
(bytes used when present, else the file at ``path`` is read).

The judge's copy is separate from the policy's input (``fgrpo.image.*``): with ``max_pixels`` set,
an image of ``w × h > max_pixels`` pixels is resized to ``⌊w·s⌋ × ⌊h·s⌋`` with
``s = sqrt(max_pixels / (w·h))`` (aspect ratio kept, Lanczos filter) and re-encoded (JPEG quality 90
for a JPEG source, else PNG); smaller images are sent byte for byte. A VLM judge pays for pixels
in prompt tokens (Qwen-VL: one token per 28×28 or 32×32 block), so a full-resolution photo would
cost thousands of tokens per sentence judged.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def _mime_type(data: bytes) -> str:
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ValueError(f"image bytes are not PNG, JPEG, GIF, BMP or WebP (first bytes {data[:8]!r})")


def image_bytes(image: Any) -> bytes:
    """The encoded bytes of one image given in any accepted form; ``ValueError`` naming the form otherwise."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, dict):
        if image.get("bytes"):
            return bytes(image["bytes"])
        if image.get("path"):
            return Path(image["path"]).read_bytes()
        raise ValueError("image dict has neither 'bytes' nor 'path'")
    try:
        from PIL import Image
    except ImportError as err:  # pillow is a core dependency; keep the message useful anyway
        raise ValueError(f"cannot encode image of type {type(image).__name__} without pillow") from err
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise ValueError(f"unsupported image type {type(image).__name__}: expected bytes, PIL.Image or {{bytes, path}}")


@dataclasses.dataclass(frozen=True)
class EncodedImages:
    """A sample's images, already downscaled and encoded as ``data:`` URLs (reused for every sentence),
    and the ``(width, height)`` frame in which the policy's cited boxes are written (``None``: unknown).

    The judge sees its own downscaled copy, not the policy's input; without the frame a cited
    ``[x1,y1,x2,y2]`` could not be placed on the image it is shown.
    """

    urls: tuple[str, ...]
    box_frame: tuple[int, int] | None = None


def downscaled_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """``(w, h)`` unchanged when ``w·h ≤ max_pixels``, else ``(⌊w·s⌋, ⌊h·s⌋)`` with ``s = sqrt(max_pixels/(w·h))``.

    A side that would fall below one pixel is 1, and the other is then cut to ``max_pixels`` (a sliver
    cannot keep its aspect ratio); the product never exceeds ``max_pixels``.
    """
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    new_width, new_height = math.floor(width * scale), math.floor(height * scale)
    if new_width < 1:
        return 1, min(height, max_pixels)
    if new_height < 1:
        return min(width, max_pixels), 1
    return new_width, new_height


def downscale(data: bytes, max_pixels: int) -> bytes:
    """Encoded image ``data`` with at most ``max_pixels`` pixels (see the module docstring)."""
    from PIL import Image, UnidentifiedImageError

    mime = _mime_type(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            size = downscaled_size(image.width, image.height, max_pixels)
            if size == (image.width, image.height):
                return data
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: much less work for a large photo.
            image.draft("RGB", size)
            resized = image.resize(size, Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise ValueError(f"cannot decode the image to downscale it: {err}") from err
    buffer = io.BytesIO()
    if mime == "image/jpeg":
        resized.convert("RGB").save(buffer, format="JPEG", quality=90)
    else:
        resized.save(buffer, format="PNG")
    return buffer.getvalue()


def image_data_urls(images: Sequence[Any] | None, max_pixels: int | None = None) -> list[str]:
    """``data:<mime>;base64,…`` URLs for ``images`` in order, each downscaled to ``max_pixels`` when given."""
    urls = []
    for image in images or ():
        data = image_bytes(image)
        _mime_type(data)  # refuse non-images before decoding anything
        if max_pixels is not None:
            data = downscale(data, max_pixels)
        urls.append(f"data:{_mime_type(data)};base64,{base64.b64encode(data).decode('ascii')}")
    return urls
