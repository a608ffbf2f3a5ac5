"""Perceptual fingerprints, facts and a thumbnail of one image or video file.

Images are decoded with Pillow (JPEG, PNG, WebP, GIF, TIFF; HEIC/HEIF with
``pillow-heif`` and AVIF with ``pillow-avif-plugin`` when they are installed),
videos with PyAV (MP4, MOV, WebM; no ffmpeg binary is ever called). Each gives:

- ``PDQ`` (Meta's 256-bit perceptual hash, ``pdqhash``) with its quality
  (0-100; below :data:`MIN_QUALITY` the picture is too flat for PDQ to mean
  much) and a 64-bit ``pHash`` (``imagehash``) as the fallback;
- for a video, one PDQ per sampled frame: every keyframe (encoders put one at
  each scene cut) when keyframes come at least every 2 s, else one frame per
  second and every keyframe (at most :data:`MAX_FRAMES`, spread evenly); frames
  no other frame refers to are never decoded (``skip_frame``);
- mime, bytes, width, height, duration; the embedded creation time (EXIF
  DateTimeOriginal, the container's ``creation_time``);
- a small WebP thumbnail (:func:`archive.media.thumbnail.webp_thumbnail`).

A file that cannot be read raises :class:`MediaError` with a one-line reason
(zero bytes, truncated, not an image or a video, no frames, a decompression
bomb, changed while read). An image above :data:`MAX_PIXELS` is refused from
its header alone, before anything is decoded, so memory stays bounded.

Examples
--------
>>> import io
>>> from PIL import Image
>>> buf = io.BytesIO(); Image.radial_gradient("L").convert("RGB").save(buf, "PNG")
>>> fp = fingerprint_bytes(buf.getvalue(), name="g.png")
>>> (fp.kind, fp.mime, fp.width, fp.height, len(fp.frames[0].pdq), fp.frames[0].frame_s)
('image', 'image/png', 256, 256, 64, None)
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from archive.errors import ArchiveError
from archive.media.thumbnail import webp_thumbnail

__all__ = ["MediaError", "Frame", "Fingerprint", "fingerprint_file", "fingerprint_bytes", "pdq_of", "phash_of",
           "IMAGE_EXTS", "VIDEO_EXTS", "MAX_PIXELS", "MAX_FRAMES", "MIN_QUALITY", "heif_support"]

IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "heic", "heif", "avif"})
VIDEO_EXTS = frozenset({"mp4", "mov", "m4v", "webm", "mkv"})
MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold (about 9,459 x 9,459)
MAX_FRAMES = 600  # sampled frames kept per video (10 minutes at 1 fps; longer videos are sampled more sparsely)
MIN_QUALITY = 50  # PDQ's own guidance: hashes of lower quality are not to be trusted for matching
_HASH_SIDE = 512  # PDQ reads a picture scaled to at most this side (its reference implementation's advice)
_MIMES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif", "tiff": "image/tiff",
          "heif": "image/heif", "avif": "image/avif", "mpo": "image/jpeg"}


class MediaError(ArchiveError):
    """A media file could not be read; the message is one line naming the file and why."""


@dataclass(slots=True)
class Frame:
    """One fingerprinted picture: the image itself, or a video frame at ``frame_s`` seconds."""

    frame_s: float | None
    pdq: str  # 64 hex characters
    quality: int
    phash: str  # 16 hex characters


@dataclass
class Fingerprint:
    """What :func:`fingerprint_file` learns about one file."""

    sha256: str
    bytes: int
    kind: str  # "image" | "video"
    mime: str
    width: int
    height: int
    duration_s: float | None
    frames: list[Frame]
    thumbnail: bytes  # WebP
    embedded_time: str | None = None  # RFC 3339, from EXIF or the container
    embedded_from: str | None = None  # "exif DateTimeOriginal" | "container creation_time"
    extra: dict[str, Any] = field(default_factory=dict)

    def media_entry(self) -> dict[str, Any]:
        """The record's ``media`` entry (``url`` is added by the caller)."""
        out: dict[str, Any] = {"sha256": self.sha256, "mime": self.mime, "bytes": self.bytes,
                               "width": self.width, "height": self.height}
        if self.duration_s is not None:
            out["duration_s"] = round(self.duration_s, 3)
        return out


_plugins_done = False


def heif_support() -> dict[str, bool]:
    """Which optional Pillow plugins are installed: ``{"heif": ..., "avif": ...}``.

    >>> sorted(heif_support())
    ['avif', 'heif']
    """
    global _plugins_done
    ok = {"heif": False, "avif": False}
    try:
        import pillow_heif

        if not _plugins_done:
            pillow_heif.register_heif_opener()
        ok["heif"] = True
    except ImportError:
        pass
    try:
        import pillow_avif  # noqa: F401  registers the AVIF plugin on import

        ok["avif"] = True
    except ImportError:
        pass
    _plugins_done = True
    return ok


def pdq_of(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ hash (64 hex characters) and quality of an RGB ``uint8`` array (height x width x 3).

    >>> h, q = pdq_of(np.zeros((64, 64, 3), np.uint8)); (len(h), q)
    (64, 0)
    """
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def phash_of(img: Any) -> str:
    """64-bit perceptual hash (``imagehash.phash``, 16 hex characters) of a Pillow image.

    >>> from PIL import Image
    >>> len(phash_of(Image.new("RGB", (32, 32))))
    16
    """
    import imagehash

    return str(imagehash.phash(img))


def _hash_image(img: Any) -> tuple[Frame, Any]:
    """The picture's frame, and the copy it was hashed from (at most 512 px: the thumbnail is made from it)."""
    from PIL import Image

    # bilinear with a reducing gap: PDQ and pHash low-pass the picture far more themselves; a third of bicubic's time
    small = img if max(img.size) <= _HASH_SIDE else img.resize(_fit(img.size, _HASH_SIDE),
                                                               Image.Resampling.BILINEAR, reducing_gap=2.0)
    pdq, quality = pdq_of(np.asarray(small))
    return Frame(None, pdq, quality, phash_of(small)), small


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    w, h = size
    s = side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def _exif_time(img: Any) -> str | None:
    try:
        exif = img.getexif()
        sub = exif.get_ifd(0x8769)
    except Exception:  # a damaged EXIF block is not a damaged picture: no time from it
        return None
    raw, offset = sub.get(36867) or exif.get(306), sub.get(36881)
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz = timezone.utc
    if isinstance(offset, str) and len(offset) >= 6 and offset[0] in "+-":
        try:
            sign = 1 if offset[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        except ValueError:
            pass
    return t.replace(tzinfo=tz).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _image(data: bytes, name: str) -> tuple[str, int, int, list[Frame], bytes, str | None, dict[str, Any]]:
    from PIL import Image, UnidentifiedImageError

    heif_support()
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise MediaError(f"{name}: not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise MediaError(f"{name}: refused as a decompression bomb ({e})") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise MediaError(f"{name}: refused as a decompression bomb ({w} x {h} = {w * h:,} pixels, "
                         f"more than {MAX_PIXELS:,})")
    fmt = (img.format or "").lower()
    extra: dict[str, Any] = {}
    if getattr(img, "n_frames", 1) > 1:
        extra["frames_in_file"] = int(img.n_frames)
    when = _exif_time(img)
    try:
        if fmt == "jpeg":
            img.draft("RGB", (_HASH_SIDE, _HASH_SIDE))  # decode at 1/2, 1/4 or 1/8 scale: same hash, far faster
        img.load()
        rgb = img.convert("RGB")
    except Image.DecompressionBombError as e:
        raise MediaError(f"{name}: refused as a decompression bomb ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"{name}: damaged or truncated {fmt or 'image'} ({e})") from None
    frame, small = _hash_image(rgb)
    return _MIMES.get(fmt, f"image/{fmt}"), w, h, [frame], webp_thumbnail(small), when, extra


def _video(path: Path, name: str) -> tuple[str, int, int, float | None, list[Frame], bytes, str | None]:
    import av
    from PIL import Image

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaError(f"{name}: not a video PyAV can read ({e})") from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{name}: has no video stream")
        st = container.streams.video[0]
        fmt = (container.format.name or "").split(",")
        mime = ("video/webm" if "webm" in fmt or "matroska" in fmt else
                "video/quicktime" if path.suffix.lower() == ".mov" else "video/mp4")
        duration = float(container.duration / 1_000_000) if container.duration else (
            float(st.duration * st.time_base) if st.duration and st.time_base else None)
        created = container.metadata.get("creation_time") or st.metadata.get("creation_time")
        tb = st.time_base
        try:  # pass 1, no decoding: where the keyframes are
            keys = sorted(float(p.pts * tb) for p in container.demux(st) if p.is_keyframe and p.pts is not None)
        except (av.error.FFmpegError, ValueError) as e:
            raise MediaError(f"{name}: damaged video ({e})") from None
    span = duration or (keys[-1] if keys else 0.0)
    dense = bool(keys) and max(np.diff([*keys, span]), default=0.0) <= 2.0
    step = max(1.0, (span or 0.0) / MAX_FRAMES)
    frames: list[Frame] = []
    first: Any = None
    w = h = 0
    try:
        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            vs.thread_type = "AUTO"
            # keyframes at least every 2 s: decode only them; else skip the frames no other frame refers
            # to (B-frames, mostly): what is left is still several frames a second, at half the decoding
            vs.codec_context.skip_frame = "NONKEY" if dense else "NONREF"
            # no deblocking and the decoder's fast flags: invisible once a frame is scaled to 512 px for PDQ,
            # and about a third less decoding
            vs.codec_context.options = {"skip_loop_filter": "all", "flags2": "+fast"}
            due = 0.0
            for f in c.decode(vs):
                t = float(f.time) if f.time is not None else due
                if not dense and not f.key_frame and t < due:
                    continue
                due = (t // step + 1) * step
                w, h = f.width, f.height
                tw, th = _fit((f.width, f.height), _HASH_SIDE)
                rgb = f.to_ndarray(width=tw, height=th, format="rgb24")
                if first is None:
                    first = rgb
                pdq, q = pdq_of(rgb)
                frames.append(Frame(round(t, 3), pdq, q, phash_of(Image.fromarray(rgb))))
    except (av.error.FFmpegError, ValueError) as e:
        if not frames:
            raise MediaError(f"{name}: damaged video, no frame could be decoded ({e})") from None
    if not frames:
        raise MediaError(f"{name}: video without frames")
    if len(frames) > MAX_FRAMES:
        keep = np.linspace(0, len(frames) - 1, MAX_FRAMES).round().astype(int)
        frames = [frames[i] for i in sorted(set(keep.tolist()))]
    when = None
    if isinstance(created, str):
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
            when = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
            when = None if when.year < 1971 else when.strftime("%Y-%m-%dT%H:%M:%SZ")  # 1904/1970 = "not set"
        except ValueError:
            when = None
    return mime, w, h, duration, frames, webp_thumbnail(Image.fromarray(first)), when


def fingerprint_bytes(data: bytes, *, name: str = "<bytes>") -> Fingerprint:
    """Fingerprint an image held in memory (videos need a file: :func:`fingerprint_file`)."""
    if not data:
        raise MediaError(f"{name}: empty file (0 bytes)")
    mime, w, h, frames, thumb, when, extra = _image(data, name)
    return Fingerprint(hashlib.sha256(data).hexdigest(), len(data), "image", mime, w, h, None, frames, thumb,
                       when, "exif DateTimeOriginal" if when else None, extra)


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


def fingerprint_file(path: str | os.PathLike[str], *, name: str | None = None,
                     max_image_bytes: int = 512 * 1024 * 1024) -> Fingerprint:
    """Fingerprint the image or video at ``path`` (the kind is found from the content, not the name).

    ``name`` is how the file is named in error messages (default: the path).
    A file whose size, modification time or inode changes while it is read is
    refused (its hash would not describe what was fingerprinted).

    >>> fingerprint_file("/nonexistent.png")
    Traceback (most recent call last):
    ...
    archive.media.fingerprint.MediaError: /nonexistent.png: cannot be opened (No such file or directory)
    """
    p = Path(path)
    label = name or str(p)
    try:
        fh = open(p, "rb")
    except OSError as e:
        raise MediaError(f"{label}: cannot be opened ({e.strerror})") from None
    with fh:
        before = _stat_key(os.fstat(fh.fileno()))
        if before[0] == 0:
            raise MediaError(f"{label}: empty file (0 bytes)")
        head = fh.read(64)
        fh.seek(0)
        video = _looks_like_video(head, p)
        if video:
            sha = hashlib.file_digest(fh, "sha256").hexdigest()
            data = None
        else:
            if before[0] > max_image_bytes:
                raise MediaError(f"{label}: {before[0]:,} bytes is more than the {max_image_bytes:,} read for an image")
            data = fh.read()
            sha = hashlib.sha256(data).hexdigest()
    if data is not None:
        mime, w, h, frames, thumb, when, extra = _image(data, label)
        fp = Fingerprint(sha, len(data), "image", mime, w, h, None, frames, thumb, when,
                         "exif DateTimeOriginal" if when else None, extra)
    else:
        mime, w, h, dur, frames, thumb, when = _video(p, label)
        fp = Fingerprint(sha, before[0], "video", mime, w, h, dur, frames, thumb, when,
                         "container creation_time" if when else None)
    try:
        after = _stat_key(os.stat(p))
    except OSError as e:
        raise MediaError(f"{label}: disappeared while being read ({e.strerror})") from None
    if after != before:
        raise MediaError(f"{label}: changed while being read (size or modification time moved); read it again "
                         "once it is complete")
    return fp


def _looks_like_video(head: bytes, p: Path) -> bool:
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return brand not in (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis", b"hevc", b"heim", b"heis")
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM / Matroska
        return True
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):  # QuickTime without ftyp
        return True
    # nothing recognisable: trust the name, so a text file named .mp4 is reported as "not a video"
    return p.suffix.lower().lstrip(".") in VIDEO_EXTS
