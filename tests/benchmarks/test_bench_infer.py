"""Lineage inference at scale: every post of a simulated archive without its declared links.

The figure is the time of :func:`lineage.infer.infer_frame` (candidates, features, score,
choice) on ``REMIX_BENCH_POSTS`` posts (default 1,000,000), in a fresh process so its peak
memory is its own; the baseline is datasketch's own MinHashLSH used post by post (update per
token, insert, query), measured on 20,000 posts of the same run and extrapolated linearly.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.benchmarks import bench_table
from tests.benchmarks.bench_data import POSTS, REPO

pytestmark = pytest.mark.benchmark

_MAKE = """
import sys
from archive.sources.simulate import SimParams, simulate
from lineage.infer import posts_from_records
recs, _ = simulate(SimParams(seed=77, posts=int(sys.argv[1]), self_remix=0.2, repost=0.1, attachment=1.0))
posts_from_records(recs)[0].write_parquet(sys.argv[2])
print("{}")
"""

_RUN = """
import json, resource, sys, time
import polars as pl
from lineage.infer import infer_frame
posts = pl.read_parquet(sys.argv[1])
t = time.perf_counter()
r = infer_frame(posts)
s = time.perf_counter() - t
print(json.dumps({"seconds": s, "edges": r.edges.height, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

_BASE = """
import json, sys, time
from datasketch import MinHash, MinHashLSH
from archive.sources.simulate import SimParams, simulate
from lineage.text import tokens_series
import polars as pl
recs, _ = simulate(SimParams(seed=77, posts=int(sys.argv[1])))
toks = tokens_series(pl.Series([r["prompt"] for r in recs])).to_list()
t = time.perf_counter()
lsh = MinHashLSH(threshold=0.4, num_perm=48)
for k, words in enumerate(toks):
    m = MinHash(num_perm=48)
    for w in set(words):
        m.update(w.encode())
    lsh.query(m)
    lsh.insert(str(k), m)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def _py(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_infer_speed_and_memory(tmp_path):
    from tests.benchmarks.bench_data import cache_dir

    data = cache_dir() / f"infer-posts-{POSTS}.parquet"
    if not data.exists():
        _py(_MAKE, str(POSTS), str(data))
    got = _py(_RUN, str(data))
    base_n = min(POSTS, 20_000)
    base = _py(_BASE, str(base_n))["seconds"] * POSTS / base_n
    bench_table.record("infer", got["seconds"], baseline=base,
                       note=f"{POSTS:,} posts, {got['edges']:,} parents found")
    bench_table.record("infer_memory", got["maxrss_kb"] / 1024 / 1024,
                       note="the posts frame read from Parquet, then inference")
    assert got["edges"] > 0
