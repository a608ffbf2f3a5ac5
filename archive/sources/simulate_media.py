"""The media simulator: remix forests of real photographs, transformed down each chain, with the truth.

Roots are regions of the photographs scikit-image ships inside its package
(``skimage/data/*.png|jpg``: astronaut, coffee, chelsea the cat, a rocket,
motorcycles, the Hubble deep field, ...; read from disk, nothing downloaded),
each taken at a different position and scale, so two roots are different
pictures. Every remix applies one to three transformations to its parent's
picture, as re-posts do: ``crop`` (keep 80-95% of each side), ``resize``
(60-95%), ``colour`` (brightness, contrast, saturation within ±20%), ``text``
(a caption or a watermark drawn over it), ``reencode`` (JPEG quality 50-90) and
``mirror`` (left-right). Each remix also edits its parent's prompt (one word
replaced or added), so text and pictures can be compared as evidence.
:func:`make_video` turns a picture into a short pan/zoom clip with PyAV.

Times: roots arrive over the first days, each remix comes 1 hour to 3 days
after its parent. The truth (parent, root, depth, transformations) is returned
and written beside the files as ``truth.json``; each file has a sidecar JSON
with its prompt and ``created_at`` but no parents (the links are hidden).

Examples
--------
>>> import tempfile
>>> truth = simulate_media_forest(tempfile.mkdtemp(), seed=1, roots=2, posts=6, side=128)
>>> len(truth["nodes"]), sum(n["parent"] is None for n in truth["nodes"].values())
(6, 2)
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["sample_photographs", "simulate_media_forest", "transform", "make_video", "TRANSFORMS", "evaluate",
           "repost_distances"]

TRANSFORMS = ("crop", "resize", "colour", "text", "reencode", "mirror")
_WORDS = ["heron", "lantern", "harbour", "fox", "neon", "rain", "glacier", "violin", "market", "comet", "desert",
          "carousel", "kite", "orchard", "subway", "lighthouse", "tiger", "moth", "balloon", "cathedral"]
_CAPTIONS = ["REMIX", "@repost", "lol", "sora", "wait for it", "#ai", "part 2", "©", "made with ai", "v2"]


def sample_photographs() -> list[Path]:
    """The photographs bundled inside scikit-image's package (colour and grey), sorted by name.

    >>> len(sample_photographs()) >= 8
    True
    """
    import skimage

    d = Path(skimage.__file__).parent / "data"
    keep = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field", "retina", "camera",
            "moon", "page", "coins", "ihc", "clock_motion", "horse", "cell", "microaneurysms", "text", "logo")
    # (left out: the texture swatches brick, grass, gravel and the synthetic colour wheel: not photographs)
    from PIL import Image

    return sorted(p for p in d.iterdir() if p.suffix in (".png", ".jpg") and p.stem in keep
                  and min(Image.open(p).size) >= 256)  # not the tiny ones: a re-post is seldom a thumbnail


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # old Pillow: one fixed size
        return ImageFont.load_default()


def transform(img: Any, name: str, rng: random.Random) -> Any:
    """Apply one named transformation to a Pillow RGB image (seeded by ``rng``).

    >>> from PIL import Image
    >>> transform(Image.new("RGB", (100, 80)), "crop", random.Random(0)).size[0] < 100
    True
    """
    from PIL import Image, ImageDraw, ImageEnhance, ImageOps

    w, h = img.size
    if name == "crop":
        fw, fh = rng.uniform(0.8, 0.95), rng.uniform(0.8, 0.95)
        cw, ch = max(8, int(w * fw)), max(8, int(h * fh))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        return img.crop((x, y, x + cw, y + ch))
    if name == "resize":
        s = rng.uniform(0.6, 0.95)
        return img.resize((max(8, int(w * s)), max(8, int(h * s))), Image.Resampling.BILINEAR)
    if name == "colour":
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.8, 1.2))
        return ImageEnhance.Color(img).enhance(rng.uniform(0.8, 1.2))
    if name == "text":
        out = img.copy()
        draw = ImageDraw.Draw(out)
        size = max(8, h // rng.randint(8, 14))
        text = rng.choice(_CAPTIONS)
        x, y = rng.randint(0, max(1, w // 2)), rng.choice([rng.randint(0, h // 6), rng.randint(h * 2 // 3, h - size)])
        colour = rng.choice([(255, 255, 255), (0, 0, 0), (255, 230, 0)])
        draw.text((x, y), text, fill=colour, font=_font(size), stroke_width=max(1, size // 12),
                  stroke_fill=(0, 0, 0) if colour != (0, 0, 0) else (255, 255, 255))
        return out
    if name == "reencode":
        import io

        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(50, 90))
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if name == "mirror":
        return ImageOps.mirror(img)
    raise ValueError(f"unknown transformation {name!r}; known: {', '.join(TRANSFORMS)}")


def repost_distances(n: int = 1000, *, seed: int = 0, side: int = 512,
                     transforms: tuple[str, ...] = ("crop", "reencode", "text", "resize", "colour"),
                     per_edge: tuple[int, int] = (1, 2)) -> list[int]:
    """PDQ Hamming distances (bits of 256) between ``n`` real pictures and re-posts of them.

    Each picture is a root picture of :func:`simulate_media_forest` (a region of one of the
    bundled photographs); its re-post applies one or two of ``transforms`` as a remix of that
    forest does; both are hashed with PDQ (:func:`archive.media.fingerprint.pdq_of`). The text
    simulator draws the distance of a remix that re-uses its parent's picture from this list
    (``data/pdq_repost_distances.json`` holds ``repost_distances()``). PDQ is not made for crops:
    a crop of a tenth moves it by 100 bits or more, as far as an unrelated picture.

    >>> d = repost_distances(3, side=128)
    >>> len(d), all(0 <= x <= 256 for x in d)
    (3, True)
    """
    from archive.media.fingerprint import pdq_of

    rng = random.Random(seed)
    photos = sample_photographs()
    out = []
    for _ in range(n):
        img = _root_picture(photos[rng.randrange(len(photos))], rng.randrange(2), side, rng)
        steps = rng.sample(list(transforms), min(len(transforms), rng.randint(*per_edge)))
        post = img
        for s in steps:
            post = transform(post, s, rng)
        a = int(pdq_of(np.asarray(img))[0], 16)
        b = int(pdq_of(np.asarray(post.convert("RGB")))[0], 16)
        out.append(bin(a ^ b).count("1"))
    return out


def _root_picture(photo: Path, k: int, side: int, rng: random.Random) -> Any:
    from PIL import Image

    img = Image.open(photo).convert("RGB")
    w, h = img.size
    f = rng.uniform(0.55, 0.8) if k else 1.0  # the first root of a photo is the whole photo
    cw, ch = int(w * f), int(h * f)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = img.crop((x, y, x + cw, y + ch))
    if k % 2 == 1:
        img = img.rotate(90, expand=True)
    img.thumbnail((side, side))
    return img


def simulate_media_forest(out: str | Path, *, seed: int = 0, roots: int = 10, posts: int = 100, side: int = 512,
                          transforms: tuple[str, ...] = ("crop", "reencode", "text", "resize", "colour"),
                          per_edge: tuple[int, int] = (1, 2), start: datetime | None = None) -> dict[str, Any]:
    """Write a forest of ``posts`` JPEG files (``roots`` trees) into ``out``; returns (and writes) the truth.

    Returns ``{"params": {...}, "nodes": {file id: {"file", "parent", "root", "depth",
    "created_at", "transforms", "prompt"}}}``. ``id`` is the file stem; after
    ``archivist ingest media`` map ids with each file's sha256 (``media:<sha256>``),
    which the truth also gives (``sha256``).
    """
    import hashlib

    rng = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    photos = sample_photographs()
    start = start or datetime(2026, 3, 1, tzinfo=timezone.utc)
    nodes: dict[str, dict[str, Any]] = {}
    pics: dict[str, Any] = {}
    order: list[str] = []
    for r in range(roots):
        nid = f"n{len(order):05d}"
        photo = photos[r % len(photos)]
        pics[nid] = _root_picture(photo, r // len(photos), side, rng)
        words = rng.sample(_WORDS, 5)
        nodes[nid] = {"parent": None, "root": nid, "depth": 0, "transforms": [], "photo": photo.name,
                      "created_at": start + timedelta(hours=rng.uniform(0, 72)), "prompt": " ".join(words)}
        order.append(nid)
    while len(order) < posts:
        parent = rng.choice(order[-max(5, len(order) // 2):] if rng.random() < 0.5 else order)
        nid = f"n{len(order):05d}"
        steps = rng.sample(list(transforms), min(len(transforms), rng.randint(*per_edge)))
        img = pics[parent]
        for s in steps:
            img = transform(img, s, rng)
        pics[nid] = img
        words = nodes[parent]["prompt"].split()
        if rng.random() < 0.5:
            words[rng.randrange(len(words))] = rng.choice(_WORDS)
        else:
            words.insert(rng.randrange(len(words) + 1), rng.choice(_WORDS))
        nodes[nid] = {"parent": parent, "root": nodes[parent]["root"], "depth": nodes[parent]["depth"] + 1,
                      "transforms": steps, "created_at": nodes[parent]["created_at"] + timedelta(
                          hours=rng.uniform(1, 72)), "prompt": " ".join(words)}
        order.append(nid)
    for nid in order:
        f = out / f"{nid}.jpg"
        pics[nid].save(f, "JPEG", quality=rng.randint(80, 95))
        n = nodes[nid]
        n["file"] = f.name
        n["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
        n["created_at"] = n["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        (out / f"{nid}.json").write_text(json.dumps({"prompt": n["prompt"], "created_at": n["created_at"]}), "utf-8")
    truth = {"params": {"seed": seed, "roots": roots, "posts": posts, "side": side, "transforms": list(transforms),
                        "per_edge": list(per_edge)}, "nodes": nodes}
    (out / "truth.json").write_text(json.dumps(truth, indent=1, default=str), "utf-8")
    return truth


def make_video(path: str | Path, img: Any, *, seconds: float = 3.0, fps: int = 10, size: tuple[int, int] = (320, 240),
               zoom: float = 1.3, codec: str = "libx264") -> Path:
    """Write a short pan/zoom clip over a Pillow image with PyAV (H.264 in MP4, or VP9 in WebM by ``codec``).

    >>> import tempfile
    >>> from PIL import Image
    >>> p = make_video(tempfile.mkdtemp() + "/v.mp4", Image.radial_gradient("L").convert("RGB"), seconds=1)
    >>> p.stat().st_size > 0
    True
    """
    import av
    from PIL import Image

    path = Path(path)
    n = max(1, int(seconds * fps))
    w, h = img.size
    with av.open(str(path), "w") as c:
        st = c.add_stream(codec, rate=fps)
        st.width, st.height, st.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(n):
            z = 1 + (zoom - 1) * i / max(1, n - 1)
            cw, ch = int(w / z), int(h / z)
            x = int((w - cw) * i / max(1, n - 1))
            frame = img.crop((x, (h - ch) // 2, x + cw, (h - ch) // 2 + ch)).resize(size, Image.Resampling.BILINEAR)
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.asarray(frame.convert("RGB")), format="rgb24")):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    return path


def evaluate(truth_parent: dict[str, str | None], predicted_parent: dict[str, str | None]) -> dict[str, float]:
    """Image-phylogeny measures of a predicted forest against the truth (same ids in both).

    ``exact_parent``: share of posts whose predicted parent is the true one (a
    root's is none). ``root``: share of true roots predicted as roots.
    ``ancestry``: Σ|A∩A'| / Σ|A∪A'| over posts' ancestor sets (Dias et al.'s
    ancestry measure; 1 when no post has ancestors in either forest).

    >>> evaluate({"a": None, "b": "a", "c": "b"}, {"a": None, "b": "a", "c": "a"})
    {'exact_parent': 0.667, 'root': 1.0, 'ancestry': 0.667}
    """
    def ancestors(par: dict[str, str | None], v: str) -> set[str]:
        out: set[str] = set()
        p = par.get(v)
        while p is not None and p not in out:
            out.add(p)
            p = par.get(p)
        return out

    ids = sorted(truth_parent)
    exact = sum(truth_parent[i] == predicted_parent.get(i) for i in ids) / len(ids)
    roots = [i for i in ids if truth_parent[i] is None]
    root = sum(predicted_parent.get(i) is None for i in roots) / max(1, len(roots))
    inter = union = 0
    for i in ids:
        a, b = ancestors(truth_parent, i), ancestors(predicted_parent, i)
        inter += len(a & b)
        union += len(a | b)
    return {"exact_parent": round(exact, 3), "root": round(root, 3), "ancestry": round(inter / union, 3) if union else 1.0}
