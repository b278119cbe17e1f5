"""Turn the images a sample carries into ``data:`` URLs for a chat-completions request.

Accepted forms (what verl's dataset and our parquet files hold): encoded PNG/JPEG
``bytes``, a ``PIL.Image.Image`` (re-encoded as PNG), or a dict ``{"bytes": ..., "path": ...}``
(bytes used when present, else the file at ``path`` is read).
"""

from __future__ import annotations

import base64
import io
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


def image_data_urls(images: Sequence[Any] | None) -> list[str]:
    """``data:<mime>;base64,…`` URLs for ``images`` in order."""
    urls = []
    for image in images or ():
        data = image_bytes(image)
        urls.append(f"data:{_mime_type(data)};base64,{base64.b64encode(data).decode('ascii')}")
    return urls
