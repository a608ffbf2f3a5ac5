"""Media: fingerprints, thumbnails, the index, `ingest media`, `similar`, visual drift, bad input."""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from archive.ingest import ingest
from archive.media.fingerprint import MIN_QUALITY, MediaError, fingerprint_bytes, fingerprint_file
from archive.media.index import build_index, hamming, nearest, nearest_brute
from archive.media.store import fingerprints, media_nodes, thumbnails
from archive.sources.media import MediaSource
from archive.sources.simulate_media import evaluate, make_video, sample_photographs, transform
from archive.store import Archive
from dashboard.cli import cli

C2PA = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "c2pa"
if not C2PA.exists():
    C2PA = Path("/work/shared/fixtures/c2pa")


def _photo(i: int = 0, side: int = 384) -> Image.Image:
    img = Image.open(sample_photographs()[i]).convert("RGB")
    img.thumbnail((side, side))
    return img


def _jpeg(img: Image.Image, q: int = 90) -> bytes:
    b = io.BytesIO()
    img.save(b, "JPEG", quality=q)
    return b.getvalue()


# ---------------------------------------------------------------- fingerprints
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(photo=st.integers(0, 5), quality=st.integers(40, 95), scale=st.floats(0.4, 1.0))
def test_pdq_stable_under_reencode_and_resize(photo: int, quality: int, scale: float):
    img = _photo(photo)
    a = fingerprint_bytes(_jpeg(img, 95)).frames[0]
    small = img.resize((max(32, int(img.width * scale)), max(32, int(img.height * scale))))
    b = fingerprint_bytes(_jpeg(small, quality)).frames[0]
    if min(a.quality, b.quality) >= MIN_QUALITY:
        assert hamming(a.pdq, b.pdq) <= 31  # PDQ's "same picture" threshold
    else:  # a flat picture: PDQ says its hash is weak, the pHash fallback holds
        assert hamming(a.phash, b.phash) <= 10
    other = fingerprint_bytes(_jpeg(_photo((photo + 1) % 6), 95)).frames[0]
    assert hamming(a.pdq, other.pdq) > 31 or hamming(a.phash, other.phash) > 10  # another photograph is not it


def test_image_facts_and_thumbnail():
    fp = fingerprint_bytes(_jpeg(_photo(0).resize((1200, 700))), name="x.jpg")
    assert (fp.kind, fp.mime) == ("image", "image/jpeg")
    assert (fp.width, fp.height) == (1200, 700) and fp.frames[0].quality >= 50
    thumb = Image.open(io.BytesIO(fp.thumbnail))
    assert thumb.format == "WEBP" and max(thumb.size) == 256


def test_video_made_with_pyav(tmp_path: Path):
    p = make_video(tmp_path / "pan.mp4", _photo(1, 640), seconds=4, fps=10, size=(320, 240))
    fp = fingerprint_file(p)
    assert fp.kind == "video" and fp.mime == "video/mp4"
    assert (fp.width, fp.height) == (320, 240)
    assert fp.duration_s == pytest.approx(4.0, abs=0.3)
    times = [f.frame_s for f in fp.frames]
    assert len(times) >= 4 and times == sorted(times)  # about one a second (and every keyframe)
    w = make_video(tmp_path / "pan.webm", _photo(1, 640), seconds=2, fps=10, codec="libvpx-vp9")
    assert fingerprint_file(w).mime == "video/webm"
    # the frames of the clip match the still it was made from better than an unrelated photograph does
    still = fingerprint_bytes(_jpeg(_photo(1, 640))).frames[0].pdq
    other = fingerprint_bytes(_jpeg(_photo(3, 640))).frames[0].pdq
    assert min(hamming(f.pdq, still) for f in fp.frames) < min(hamming(f.pdq, other) for f in fp.frames)


# ---------------------------------------------------------------- the index
def test_multi_index_hashing_equals_brute_force():
    rng = np.random.default_rng(3)
    base = [rng.bytes(32).hex() for _ in range(3000)]
    ids = [f"p:{i}" for i in range(len(base))]
    planted = []
    for i in range(200):  # near copies at every distance 0..63
        b = bytearray(bytes.fromhex(base[i]))
        for bit in rng.choice(256, i % 64, replace=False):
            b[bit // 8] ^= 1 << (bit % 8)
        planted.append(b.hex())
    idx = build_index(ids + [f"q:{i}" for i in range(200)], base + planted)
    for i in range(0, 200, 7):
        for r in (0, 15, 31, 47, 63):
            assert nearest(idx, base[i], k=20, max_distance=r) == nearest_brute(idx, base[i], k=20, max_distance=r)
    assert nearest(idx, base[5], k=2, max_distance=31)[0] == ("p:5", 0)


# ---------------------------------------------------------------- ingest media
def test_ingest_real_c2pa_files_and_video(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("CA.jpg", "CACA.jpg", "XCA.jpg", "video1.mp4"):
        shutil.copy(C2PA / name, src / name)
    shutil.copy(C2PA / "CA.jpg", src / "copy-of-CA.jpg")
    a = Archive.open(tmp_path / "arc", create=True)
    ms = MediaSource([src], archive=a)
    r = ingest(a, ms)
    s = ms.summary()
    assert s["files_found"] == 5 and s["copies_of_seen_content"] == 1 and s["media_nodes"] == 4
    assert s["files_found"] == s["media_nodes"] + s["copies_of_seen_content"] + s["files_quarantined"]
    assert r.reconciles and r.quarantined == 0
    posts = a.posts()
    media = posts.filter(pl.col("id").str.starts_with("media:"))
    assert media.height == 4
    recs = {json.loads(x)["id"]: json.loads(x) for x in a.records().get_column("record").to_list()}
    video = next(v for v in recs.values() if (v.get("media") or [{}])[0].get("mime") == "video/mp4")
    assert video["provenance"]["created_at_from"] == "c2pa signing time"
    assert video["provenance"]["c2pa"]["validation_state"] in ("Valid", "Trusted", "Invalid")
    assert video["media"][0]["duration_s"] > 0 and video["media"][0]["width"] > 0
    # the ingredient edges are c2pa edges, as `ingest c2pa` makes them
    e = a.edges()
    assert e.height >= 3 and set(e.get_column("evidence")) == {"c2pa"}
    # every media node and the ingredient manifests with thumbnails have one in the archive
    th = thumbnails(a)
    assert set(media.get_column("id")) <= set(th)
    assert any(k.startswith("c2pa:") for k in th)
    for name in th.values():
        assert Image.open(a.path / "media" / "thumbs" / name).format == "WEBP"
    fp = fingerprints(a)
    assert set(fp.get_column("kind")) <= {"image", "frame"} and fp.get_column("pdq").str.len_chars().eq(64).all()
    assert fp.schema["frame_s"] == pl.Float64 and fp.schema["quality"] == pl.Int32
    # reading the same folder again changes nothing
    again = MediaSource([src], archive=a)
    r2 = ingest(a, again)
    assert r2.stored == 0 and r2.unchanged == r.stored and again.tables == (0, 0)


def test_sidecar_and_exif_time(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    img = _photo(2)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2025:06:01 12:30:00"
    img.save(src / "root.jpg", "JPEG", quality=92, exif=exif)
    transform(img, "text", random.Random(1)).save(src / "remix.jpg", "JPEG", quality=80)
    (src / "remix.json").write_text(json.dumps({"prompt": "a cat, but in neon", "author": "bo",
                                                "parents": ["root.jpg"], "created_at": "2025-06-02T00:00:00Z"}))
    a = Archive.open(tmp_path / "arc", create=True)
    ingest(a, MediaSource([src], archive=a))
    recs = {json.loads(x)["title"]: json.loads(x) for x in a.records().get_column("record").to_list()}
    root, remix = recs["root.jpg"], recs["remix.jpg"]
    assert root["created_at"] == "2025-06-01T12:30:00Z"
    assert root["provenance"]["created_at_from"] == "exif DateTimeOriginal"
    assert remix["provenance"]["created_at_from"] == "sidecar created_at"
    assert remix["prompt"] == "a cat, but in neon" and remix["author"] == "bo"
    assert remix["parents"][0]["id"] == root["id"] and remix["parents"][0]["evidence"] == "declared"
    # analyze measures visual drift on the declared edge, beside prompt drift
    from lineage.analyze import analyze, load_results

    analyze(a, n_boot=5)
    ve = a.read_table("analysis_visual_edges")
    row = ve.filter(pl.col("child") == remix["id"]).row(0, named=True)
    assert row["parent"] == root["id"] and 0 <= row["visual_drift"] < 0.3
    assert load_results(a, "edges").height == 1
    # similar: the root is found from the remix's file, and comes first
    out = CliRunner().invoke(cli, ["similar", str(src / "remix.jpg"), "--json", "--max-distance", "48",
                                 "--archive", str(a.path)])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    first = [m for m in res["matches"] if m["first"]]
    assert first[0]["id"] == root["id"] and res["in_archive"]
    out = CliRunner().invoke(cli, ["similar", "media:nope", "--archive", str(a.path)])
    assert out.exit_code != 0 and "ingest media" in out.output


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


def test_bad_input_quarantined_or_skipped(tmp_path: Path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    good = _jpeg(_photo(0))
    (src / "good.jpg").write_bytes(good)
    (src / "zero.jpg").write_bytes(b"")
    (src / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (src / "text.mp4").write_text("this is not a video\n")
    import av

    with av.open(str(src / "noframes.mp4"), "w") as c:  # an MP4 with sound and not one video frame
        s = c.add_stream("aac", rate=8000)
        for i in range(4):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 8000, i * 1024
            for pkt in s.encode(fr):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    (src / "bomb.png").write_bytes(_png_header_only(20_000, 20_000))
    os.symlink(src, src / "sub" / "loop")  # a folder that contains itself
    (src / os.fsdecode(b"new\nline.jpg")).write_bytes(_jpeg(_photo(1)))
    (src / os.fsdecode(b"bad\xffname.jpg")).write_bytes(_jpeg(_photo(2)))
    a = Archive.open(tmp_path / "arc", create=True)
    ms = MediaSource([src], archive=a)
    r = ingest(a, ms)
    s = ms.summary()
    assert r.reconciles and s["files_found"] == s["media_nodes"] + s["copies_of_seen_content"] + s["files_quarantined"]
    assert s["media_nodes"] == 3 and s["files_quarantined"] == 5 and s["folders_skipped"] >= 1
    q = a.quarantine()
    reasons = {loc.rsplit("/", 1)[-1]: rs[0] for loc, rs in q.select("location", "reasons").iter_rows()}
    assert "empty file (0 bytes)" in reasons["zero.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "not a video PyAV can read" in reasons["text.mp4"]
    assert "no video stream" in reasons["noframes.mp4"]
    assert "decompression bomb" in reasons["bomb.png"] and "400000000 pixels" in reasons["bomb.png"]
    assert all("\n" not in x for x in reasons.values())  # one line each
    titles = set(a.posts().get_column("title").drop_nulls())
    assert {"new\\nline.jpg", "bad\\xffname.jpg", "good.jpg"} <= titles
    assert any("symlink loop" in w for w in ms.warnings)


def test_file_changing_while_read_is_refused(tmp_path: Path):
    p = make_video(tmp_path / "v.mp4", _photo(0, 320), seconds=6, fps=25, size=(320, 240))
    stop = threading.Event()

    def touch() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            os.utime(p, ns=(k * 1_000_000_000, k * 1_000_000_000))
            time.sleep(0.002)

    t = threading.Thread(target=touch)
    t.start()
    try:
        with pytest.raises(MediaError, match="changed while being read"):
            fingerprint_file(p)
    finally:
        stop.set()
        t.join()


def test_evaluate_counts_against_known_truth():
    truth = {"a": None, "b": "a", "c": "b", "d": None, "e": "d"}
    assert evaluate(truth, dict(truth)) == {"exact_parent": 1.0, "root": 1.0, "ancestry": 1.0}
    flat = {k: None for k in truth}
    assert evaluate(truth, flat)["exact_parent"] == 0.4 and evaluate(truth, flat)["ancestry"] == 0.0


def test_media_nodes_table_schema(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.png").write_bytes(b"")
    Image.radial_gradient("L").save(src / "b.png")
    a = Archive.open(tmp_path / "arc", create=True)
    ingest(a, MediaSource([src], archive=a, copy=False))
    n = media_nodes(a)
    assert n.height == 1 and n.get_column("file").to_list() == [None]  # referenced, not copied
    assert not any(p.suffix == ".png" for p in (a.path / "media").iterdir())


@pytest.mark.parametrize("ext,mime", [("png", "image/png"), ("webp", "image/webp"), ("gif", "image/gif"),
                                      ("tiff", "image/tiff"), ("heic", "image/heif"), ("avif", "image/avif")])
def test_every_image_format(tmp_path: Path, ext: str, mime: str):
    from archive.media.fingerprint import heif_support

    heif_support()  # registers the HEIF opener (pillow-heif) for saving too
    img = _photo(0, 256)
    img.save(tmp_path / f"x.{ext}")
    fp = fingerprint_file(tmp_path / f"x.{ext}")
    assert (fp.kind, fp.mime, fp.width) == ("image", mime, img.width)
    ref = fingerprint_bytes(_jpeg(img, 95)).frames[0].pdq
    assert hamming(fp.frames[0].pdq, ref) <= 31  # the same picture whatever the container


def test_ingredient_manifest_without_time_is_not_dated_by_another_files_mtime():
    # the case "c2pa-ingredient-created-at-is-file-mtime": the child is dated 2024-05-01 by its action; its
    # ingredient manifest has no time of its own and was dated by the container file's mtime (years later)
    child = {"id": "media:ab", "created_at": "2024-05-01T00:00:00Z", "parents": [{"id": "c2pa:parent"}]}
    parent = {"id": "c2pa:parent", "created_at": "2026-11-30T10:00:00Z", "parents": [],
              "provenance": {"c2pa": {"created_at_from": "file mtime"}}}
    MediaSource._date_ingredients({"c2pa:parent": parent}, [child, parent])
    assert parent["created_at"] == "2024-05-01T00:00:00Z" <= child["created_at"]
    assert "upper bound" in parent["provenance"]["c2pa"]["created_at_from"]
