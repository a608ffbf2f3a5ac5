"""Benchmark: snapshot of a 10,000-node remix tree without media (target <= 5 s).

The figure is the whole `archivist snapshot` work: records JSONL, posts CSV, GraphML,
Newick, PROV-JSON, the drift report (Markdown, HTML, CSV; the tree's measures
computed on the spot because the store is not analysed), and the BagIt bag with
sha256 + sha512 manifests. The baseline, measured in the same run, is the plainest
way to keep the same records: ``json.dumps`` each one, hash it with sha256 and
sha512, write it to a file. A second figure is taken after ``archivist analyze``
(the report reuses the stored measures).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import pytest

from lineage.report import snapshot_report  # the drift report in snapshots, as the CLI passes it
from archive.ingest import ingest_records
from archive.snapshot import snapshot, verify
from archive.store import Archive

N = 10_000
SUBJECTS = ["a corgi", "an astronaut grandmother", "a tiny knight", "a glass hummingbird", "a jazz band of frogs",
            "a retired superhero", "a paper crane", "a neon koi"]
ACTIONS = ["surfing a wave", "riding a bicycle", "baking bread", "juggling oranges", "sword fighting", "painting"]
SETTINGS = ["at golden hour", "on the rings of Saturn", "in a flooded library", "inside a snow globe", "in Lagos"]
STYLES = ["claymation", "film noir", "35mm film", "bokeh", "anamorphic lens", "watercolor", "1970s", "low key",
          "stop motion", "comic book", "tilt shift", "hokusai"]


def tree_records(n: int = N, seed: int = 7) -> list[dict]:
    """One seeded remix tree of ``n`` posts, each prompt a mutation of its parent's."""
    rng = random.Random(seed)
    slots = [[rng.choice(SUBJECTS), rng.choice(ACTIONS), rng.choice(SETTINGS), [rng.choice(STYLES)]]]
    recs = [{"id": "bench:0", "source": "bench", "created_at": "2026-01-01T00:00:00Z", "author": "@a0",
             "prompt": "a corgi surfing a wave at golden hour, claymation", "metrics": {"views": 100_000}}]
    for i in range(1, n):
        p = rng.randrange(max(0, i - 40), i) if rng.random() < 0.8 else rng.randrange(i)
        s = [x if not isinstance(x, list) else list(x) for x in slots[p]]
        k = rng.randrange(4)
        if k < 3:
            s[k] = rng.choice([SUBJECTS, ACTIONS, SETTINGS][k])
        else:
            s[3] = (s[3] + [rng.choice(STYLES)])[-3:]
        slots.append(s)
        day, sec = divmod(i * 97, 86_400)
        recs.append({"id": f"bench:{i}", "source": "bench", "parents": [f"bench:{p}"], "author": f"@a{i % 500}",
                     "created_at": f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}Z",
                     "prompt": f"{s[0]} {s[1]} {s[2]}, {', '.join(s[3])}", "metrics": {"views": rng.randrange(10_000)}})
    return recs


def baseline(records: list[dict], out: Path) -> float:
    t = time.perf_counter()
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            line = json.dumps(r, sort_keys=True, ensure_ascii=False)
            hashlib.sha256(line.encode()).hexdigest()
            hashlib.sha512(line.encode()).hexdigest()
            f.write(line + "\n")
    return time.perf_counter() - t


@pytest.mark.benchmark
def test_bench_snapshot_10k(tmp_path: Path, record_figure) -> None:
    from lineage.analyze import analyze

    recs = tree_records()
    arc = Archive.open(tmp_path / "archive", create=True)
    ingest_records(arc, recs)
    arc.tree("bench:0")  # the store's views are built once, as for any reader
    base = baseline(recs, tmp_path / "baseline.jsonl")

    t = time.perf_counter()
    bag = snapshot(arc, "bench:0", out=tmp_path / "cold", report=snapshot_report)
    cold = time.perf_counter() - t
    analyze(arc)
    arc.tree("bench:0")
    t = time.perf_counter()
    warm_bag = snapshot(arc, "bench:0", out=tmp_path / "warm", report=snapshot_report)
    warm = time.perf_counter() - t

    assert verify(bag).ok and verify(warm_bag).ok
    info = (bag / "bag-info.txt").read_text("utf-8")
    assert f"Remix-Posts: {N}" in info and "Remix-Drift-Report: full report" in info
    print(f"\nsnapshot of a {N:,}-node tree: {cold:.2f} s not analysed, {warm:.2f} s analysed; "
          f"baseline (json.dumps + sha256 + sha512 per record) {base:.2f} s; "
          f"ratio {cold / base:.1f}x / {warm / base:.1f}x the baseline's time")
    record_figure("snapshot", cold, baseline=base,
                  note=f"not analysed (report measured on the spot); {warm:.2f} s after `archivist analyze`")
