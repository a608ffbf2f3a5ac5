"""Media benchmarks: fingerprint + thumbnail (1080p image, 1080p video), index queries at 1M, forest accuracy.

Each figure is printed with a plain baseline measured in the same run (see bench_table.TARGETS).
Run: ``pytest tests/benchmarks/test_media_bench.py -m benchmark -s``.
"""
from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from archive.media.fingerprint import fingerprint_file, pdq_of, phash_of
from archive.media.index import build_index, nearest_brute, nearest_rows
from archive.sources.simulate_media import evaluate, sample_photographs, simulate_media_forest

pytestmark = pytest.mark.benchmark


def _hd_jpegs(folder: Path, n: int = 8) -> list[Path]:
    from PIL import Image

    out = []
    for i, p in enumerate(sample_photographs()[:n]):
        img = Image.open(p).convert("RGB").resize((1920, 1080))
        f = folder / f"hd{i}.jpg"
        img.save(f, "JPEG", quality=90)
        out.append(f)
    return out


def _naive(path: Path) -> None:
    from PIL import Image

    from archive.media.thumbnail import webp_thumbnail

    img = Image.open(path).convert("RGB")
    pdq_of(np.asarray(img))
    phash_of(img)
    webp_thumbnail(img)


def test_bench_image_fingerprint(tmp_path: Path, record_figure) -> None:
    files = _hd_jpegs(tmp_path)
    for f in files[:2]:
        fingerprint_file(f)  # warm imports
    t = time.perf_counter()
    for _ in range(3):
        for f in files:
            fingerprint_file(f)
    ours = (time.perf_counter() - t) / (3 * len(files)) * 1000
    t = time.perf_counter()
    for f in files:
        _naive(f)
    base = (time.perf_counter() - t) / len(files) * 1000
    record_figure("media_image", ours, baseline=base, note=f"{len(files)} photographs at 1920x1080, JPEG q90")


def _hd_video(path: Path, seconds: int) -> Path:
    import av
    from PIL import Image

    img = np.asarray(Image.open(sample_photographs()[0]).convert("RGB").resize((2400, 1350)))
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 1920, 1080, "yuv420p"
        st.options = {"preset": "veryfast"}  # x264 defaults otherwise: keyframe every 250 frames, B-frames
        for i in range(seconds * 30):
            x = (i * 3) % 480
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[135:1215, x:x + 1920]), format="rgb24")
            for pkt in st.encode(fr):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    return path


def _naive_video(path: Path) -> None:
    import av

    due = 0.0
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            if f.time is not None and f.time >= due:
                pdq_of(f.to_ndarray(format="rgb24"))
                due += 1.0


def test_bench_video_fingerprint(tmp_path: Path, record_figure) -> None:
    seconds = 20
    v = _hd_video(tmp_path / "hd.mp4", seconds)
    t = time.perf_counter()
    fp = fingerprint_file(v)
    ours = (time.perf_counter() - t) * 60 / seconds
    t = time.perf_counter()
    _naive_video(v)
    base = (time.perf_counter() - t) * 60 / seconds
    assert fp.kind == "video" and len(fp.frames) >= seconds
    record_figure("media_video", ours, baseline=base,
                  note=f"{seconds} s of 1080p30 H.264 (x264 veryfast, default GOP), scaled to a minute; "
                       f"{len(fp.frames)} frames hashed")


def test_bench_index_query(record_figure) -> None:
    n = 1_000_000
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)
    t = time.perf_counter()
    idx = build_index([f"p:{i}" for i in range(n)], words=words)
    build = time.perf_counter() - t
    queries = []
    for i in range(200):  # near copies of stored hashes (12-31 bits flipped) and fresh random hashes
        q = words[i * 37].copy()
        for b in rng.choice(256, int(rng.integers(12, 32)), replace=False):
            q[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
        queries.append(q if i % 4 else rng.integers(0, 2**64 - 1, size=4, dtype=np.uint64, endpoint=True))
    t = time.perf_counter()
    found = [nearest_rows(idx, q, max_distance=31) for q in queries]
    ours = (time.perf_counter() - t) / len(queries) * 1000
    hexes = [q.astype(">u8").tobytes().hex() for q in queries[:20]]
    t = time.perf_counter()
    brute = [nearest_brute(idx, h, k=10, max_distance=31) for h in hexes]
    base = (time.perf_counter() - t) / len(hexes) * 1000
    assert sum(len(r) > 0 for r, _ in found) >= 140 and sum(len(b) > 0 for b in brute) >= 14
    record_figure("media_query", ours, baseline=base,
                  note=f"multi-index hashing, 16 x 16-bit chunks, radius 31; index built in {build:.1f} s")


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _text_parents(nodes: pl.DataFrame) -> dict[str, str | None]:
    """Text-only baseline: the earlier post with the most similar prompt (Jaccard), if any shares >= half."""
    rows = nodes.sort(["created_at", "id"]).rows(named=True)
    out: dict[str, str | None] = {}
    for i, r in enumerate(rows):
        t = _tokens(r["prompt"])
        best, arg = 0.5, None
        for e in rows[:i]:
            u = _tokens(e["prompt"])
            j = len(t & u) / len(t | u)
            if j > best or (j == best and arg is not None):
                best, arg = j, e["id"]
        out[r["id"]] = arg
    return out


def test_bench_forest_accuracy(tmp_path: Path, record_figure) -> None:
    from lineage.visual import assign_parents

    truth = simulate_media_forest(tmp_path / "forest", seed=11, roots=15, posts=200, side=512,
                                  transforms=("crop", "reencode", "text"), per_edge=(1, 2))
    from PIL import Image

    rows, fps, pics = [], [], {}
    for nid, n in truth["nodes"].items():
        fp = fingerprint_file(tmp_path / "forest" / n["file"])
        rows.append({"id": nid, "created_at": n["created_at"], "prompt": n["prompt"]})
        fps.extend({"id": nid, "pdq": f.pdq} for f in fp.frames)
        pics[nid] = Image.open(tmp_path / "forest" / n["file"]).convert("RGB")
    nodes = pl.DataFrame(rows)
    real = {k: v["parent"] for k, v in truth["nodes"].items()}
    pdq_only = dict(assign_parents(nodes, pl.DataFrame(fps)).select("id", "parent").iter_rows())
    t = time.perf_counter()
    visual = dict(assign_parents(nodes, pl.DataFrame(fps), pictures=pics).select("id", "parent").iter_rows())
    secs = time.perf_counter() - t
    text = _text_parents(nodes)
    from lineage.visual import crop_match

    # both: where the prompts name an earlier post whose picture also matches (a crop-aware match of 0.8 or
    # more), take it (text tells near-identical pictures apart); else the visual choice, else the text one
    both = {k: text[k] if text[k] is not None and (text[k] == visual[k] or crop_match(pics[k], pics[text[k]]) >= 0.8)
            else (visual[k] if visual[k] is not None else text[k]) for k in real}
    ev = {name: evaluate(real, pred) for name, pred in (("visual (PDQ + crop-aware match)", visual),
                                                         ("visual (PDQ only)", pdq_only), ("text", text),
                                                         ("both (text confirmed by the picture, else visual)", both))}
    ev["visual"] = ev["visual (PDQ + crop-aware match)"]
    print(f"crop-aware assignment: {secs:.1f} s for {len(real)} pictures")
    print("\nforest of 200 pictures in 15 trees (crop, re-encode, text overlay):\n"
          + json.dumps(ev, indent=1))
    record_figure("media_parent", ev["visual"]["exact_parent"], baseline=ev["text"]["exact_parent"],
                  note=f"ancestry {ev['visual']['ancestry']}; PDQ only {ev['visual (PDQ only)']}; "
                       f"both {ev['both (text confirmed by the picture, else visual)']}")
    record_figure("media_root", ev["visual"]["root"], baseline=ev["text"]["root"] or None)
