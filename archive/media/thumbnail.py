"""Small WebP thumbnails, named by the sha256 of their own bytes (content-addressed).

Examples
--------
>>> from PIL import Image
>>> data = webp_thumbnail(Image.new("RGB", (1920, 1080), "teal"))
>>> data[:4], data[8:12]
(b'RIFF', b'WEBP')
>>> Image.open(__import__("io").BytesIO(data)).size
(256, 144)
"""
from __future__ import annotations

import hashlib
import io
from typing import Any

__all__ = ["webp_thumbnail", "thumb_name", "THUMB_SIDE", "to_webp_thumbnail"]

THUMB_SIDE = 256  # longest side of a thumbnail, in pixels


def webp_thumbnail(img: Any, *, side: int = THUMB_SIDE, quality: int = 70) -> bytes:
    """A WebP thumbnail (longest side ``side``) of a Pillow image; never larger than the image."""
    from PIL import Image

    small = img.convert("RGB") if img.mode not in ("RGB", "RGBA") else img.copy()
    small.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    out = io.BytesIO()
    small.save(out, "WEBP", quality=quality, method=2)
    return out.getvalue()


def to_webp_thumbnail(data: bytes, *, side: int = THUMB_SIDE) -> bytes:
    """Re-encode any image bytes Pillow reads (e.g. a C2PA ingredient thumbnail, JPEG or PNG) as a WebP thumbnail.

    >>> from PIL import Image
    >>> b = io.BytesIO(); Image.new("RGB", (40, 30)).save(b, "PNG")
    >>> to_webp_thumbnail(b.getvalue())[8:12]
    b'WEBP'
    """
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    if img.width * img.height > 40_000_000:
        raise ValueError(f"thumbnail of {img.width} x {img.height} pixels refused (too large)")
    return webp_thumbnail(img, side=side)


def thumb_name(data: bytes) -> str:
    """The content-addressed file name of thumbnail bytes: ``<sha256>.webp``.

    >>> thumb_name(b"x")
    '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881.webp'
    """
    return hashlib.sha256(data).hexdigest() + ".webp"
