"""The archive core and the measures at 1,000,000 simulated posts, each against a plain baseline of the same run.

Run with ``./run.sh bench`` (or ``pytest tests/benchmarks -m benchmark -s``). The
figures go into the table printed at the end (see ``conftest.py``). A figure whose
code is not there prints "not available" instead of failing the suite.
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import orjson
import polars as pl
import pytest

from archive.graph import compute_lineage
from archive.record import canonical_json, check, content_hash
from archive.store import Archive
from tests.benchmarks import bench_table
from tests.benchmarks.bench_data import REPO, cache_dir

pytestmark = pytest.mark.benchmark
_WORD = re.compile(r"\w+")
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\x00-\x1f\x7f]")

_INGEST = """
import json, resource, sys, time
from archive.ingest import ingest
from archive.sources.jsonl import JsonlSource
from archive.store import Archive
a = Archive.open(sys.argv[1], create=True)
t, c = time.perf_counter(), time.process_time()
r = ingest(a, JsonlSource([sys.argv[2]]))
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": s, "cpu": cpu, "read": r.read, "stored": r.stored, "quarantined": r.quarantined,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

_READ_NDJSON = """
import json, resource, sys, time
import polars as pl
t, c = time.perf_counter(), time.process_time()
df = pl.read_ndjson(sys.argv[1])
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": s, "cpu": cpu, "rows": df.height,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _median_time(f, n: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_ingest_rate_and_memory(posts_file: Path, bench_posts: int, record_figure):
    # baseline: the plain per-record path (parse, validate, canonical JSON, hash) over a sample, no store
    with open(posts_file, "rb") as f:
        sample = [line for _, line in zip(range(100_000), f)]
    t = time.perf_counter()
    for line in sample:
        norm, _ = check(orjson.loads(line))
        content_hash(canonical_json(norm))
    base_rate = len(sample) / (time.perf_counter() - t)

    target = cache_dir() / f"ingest-run-{os.getpid()}"
    shutil.rmtree(target, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-c", _INGEST, str(target), str(posts_file)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["read"] == res["stored"] + res["quarantined"]
    rate = res["read"] / res["seconds"]
    # the bare parse of the same file, in a fresh process too: polars.read_ndjson (no checks, no store)
    bare = json.loads(subprocess.run([sys.executable, "-c", _READ_NDJSON, str(posts_file)], cwd=REPO,
                                     capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    record_figure("ingest_vs_parse", res["seconds"] / bare["seconds"],
                  note=f"ingest {res['seconds']:.1f} s / polars.read_ndjson {bare['seconds']:.1f} s of the same file "
                       f"(CPU time {res['cpu']:.1f} s / {bare['cpu']:.1f} s, read_ndjson on every core; "
                       f"read_ndjson peak {bare['maxrss_kb'] / 2**20:.2f} GB)")
    # CPU time says what the machine's load does not: records per second of one busy core
    record_figure("ingest_rate", rate, baseline=base_rate,
                  note=f"{res['read']:,} records in {res['seconds']:.1f} s ({res['read'] / res['cpu']:,.0f} records per "
                       f"CPU second), fresh process, one Delta commit per batch")
    record_figure("ingest_memory", res["maxrss_kb"] / 2**20,
                  note=f"peak RSS of the ingesting process (interpreter and libraries included); "
                       f"the JSONL file is {posts_file.stat().st_size / 2**30:.2f} GB")
    cached = cache_dir() / f"store-{posts_file.stem}"
    if not (cached / "records" / "_delta_log").exists():  # keep it as the store the other benchmarks read
        shutil.rmtree(cached, ignore_errors=True)
        target.rename(cached)
        Archive.open(cached).lineage()
    else:
        shutil.rmtree(target, ignore_errors=True)


def test_root_and_depth_for_every_node(bench_store: Path, record_figure):
    import networkx as nx

    a = Archive.open(bench_store, read_only=True)
    posts = a.posts()
    real = posts.filter(~pl.col("placeholder"))
    nodes, created, edges = real.select("id"), real.select("id", "created_at"), a.edges()
    secs, (lin, _) = _median_time(lambda: compute_lineage(nodes, edges, created=created))

    prim = lin.filter(pl.col("parent").is_not_null())
    roots = lin.filter(pl.col("parent").is_null()).get_column("id").to_list()
    pairs = list(zip(prim.get_column("parent").to_list(), prim.get_column("id").to_list()))
    t = time.perf_counter()
    g = nx.DiGraph()
    g.add_nodes_from(lin.get_column("id").to_list())
    g.add_edges_from(pairs)
    depth: dict[str, int] = {}
    root_of: dict[str, str] = {}
    for r in roots:
        for v, d in nx.single_source_shortest_path_length(g, r).items():
            depth[v], root_of[v] = d, r
    base = time.perf_counter() - t
    check_rows = lin.sample(2000, seed=1).select("id", "root", "depth").rows()
    assert all(depth[i] == d and root_of[i] == r for i, r, d in check_rows)
    record_figure("root_depth", secs, baseline=base,
                  note=f"{lin.height:,} nodes, {edges.height:,} edges; median of 3 runs of compute_lineage")


def test_lexical_drift_for_every_edge(bench_store: Path, record_figure):
    if not _has("lineage.drift"):
        pytest.skip("lineage.drift is not there: not available")
    from rapidfuzz.distance import Levenshtein

    from lineage.drift import edge_drift

    def tokenize(s: str | None) -> list[str]:  # the same normalisation, written plainly
        s = unicodedata.normalize("NFKC", s or "").casefold()
        return _WORD.findall(_INVISIBLE.sub("", s))

    a = Archive.open(bench_store, read_only=True)
    nodes = a.posts().select("id", "text", "placeholder")
    edges = a.edges().select("child", "parent")
    secs, out = _median_time(lambda: edge_drift(nodes, edges, ops=False), n=2)
    assert out.height == edges.height

    text = dict(zip(nodes.get_column("id").to_list(), nodes.get_column("text").to_list()))
    rows = random.Random(1).sample(edges.rows(), min(20_000, edges.height))
    t = time.perf_counter()
    for c, p in rows:  # row-by-row Python: tokenise both prompts, Jaccard on sets, token edit distance
        tc, tp = tokenize(text.get(c)), tokenize(text.get(p))
        sc, sp = set(tc), set(tp)
        _ = 1 - len(sc & sp) / len(sc | sp) if sc | sp else 0.0
        _ = Levenshtein.distance(tp, tc) / max(len(tp), len(tc), 1)
    base = (time.perf_counter() - t) * edges.height / len(rows)
    record_figure("edge_drift", secs, baseline=base,
                  note=f"{edges.height:,} edges, jaccard + token edit distance (no phrase lists)")


_ANALYZE = """
import json, sys, time
from archive.store import Archive
from lineage.analyze import analyze
a = Archive.open(sys.argv[1])
a.lineage(), a.posts(), a.edges(), a.trees()
t = time.perf_counter()
res = analyze(a, force=True)
print(json.dumps({"seconds": time.perf_counter() - t, "trees": res["trees"], "nodes": res["nodes"],
                  "recomputed": res["trees_recomputed"]}))
"""


def _run_watched(args: list[str], limit_gb: float) -> tuple[subprocess.CompletedProcess | None, float, float]:
    """Run a child, killing it past ``limit_gb`` of RSS; ``(result or None if killed, peak GB, seconds)``."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        try:
            rss_kb = int(next(x for x in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                              if x.startswith("VmRSS")).split()[1])
            peak = max(peak, rss_kb / 2**20)
        except (OSError, StopIteration, ValueError):
            pass
        if peak > limit_gb:
            proc.kill()
            proc.wait()
            return None, peak, time.perf_counter() - t
        time.sleep(0.25)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise AssertionError(f"{args[:3]} failed: {err[-2000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err), peak, time.perf_counter() - t


def test_analyze_whole_archive(bench_store: Path, record_figure):
    if not _has("lineage.analyze"):
        pytest.skip("lineage.analyze is not there: not available")
    from lineage.analyze import analyze_tree

    a = Archive.open(bench_store)
    # baseline: the same per-tree measures called once per tree (no buckets), extrapolated from 300 trees
    lin = a.lineage().select("id", "parent", "root", "depth", "placeholder", "created_at")
    n_trees = a.trees().height
    nodes = lin.join(a.posts().select("id", "text", "style_tags"), on="id", how="left")
    all_roots = nodes.get_column("root").unique().sort().to_list()
    roots = random.Random(2).sample(all_roots, min(300, len(all_roots)))
    parts = nodes.filter(pl.col("root").is_in(roots)).partition_by("root")
    t = time.perf_counter()
    for part in parts:
        analyze_tree(part)
    base = (time.perf_counter() - t) * n_trees / len(parts)
    del lin, nodes, parts

    limit = float(os.environ.get("REMIX_BENCH_MEM_LIMIT_GB", "14"))
    res, peak, secs = _run_watched([sys.executable, "-c", _ANALYZE, str(bench_store)], limit)
    if res is None:
        bench_table.record_failure("analyze", f"stopped after {secs:.0f} s at {peak:.1f} GB of memory "
                                              f"(limit {limit:g} GB; REMIX_BENCH_MEM_LIMIT_GB)")
        pytest.fail(f"analyze went past {limit:g} GB of memory after {secs:.0f} s")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["recomputed"] == out["trees"]
    record_figure("analyze", out["seconds"], baseline=base,
                  note=f"{out['nodes']:,} nodes in {out['trees']:,} trees, force=True, all tables written, "
                       f"peak {peak:.1f} GB")


def test_open_a_1000_node_tree(bench_store: Path, record_figure):
    a = Archive.open(bench_store, read_only=True)
    lin, trees = a.lineage(), a.trees()
    a.posts(), a.edges()  # the dashboard holds the views in memory
    # the tree closest to 1,000 nodes (a million simulated posts may hold none that large: then the largest)
    root = trees.with_columns(d=(pl.col("size").cast(pl.Int64) - 1000).abs()).sort("d", "root").get_column("root")[0]
    size = int(trees.filter(pl.col("root") == root).get_column("size")[0])
    times = []
    for _ in range(9):
        t = time.perf_counter()
        tree = a.tree(root)
        times.append(time.perf_counter() - t)
    assert tree.nodes.height == size
    rows = lin.select("id", "parent", "root", "depth").rows()
    t = time.perf_counter()
    picked = [r for r in rows if r[2] == root]
    base = time.perf_counter() - t
    assert len(picked) == size
    record_figure("open_tree_archive", statistics.median(times) * 1000, baseline=base * 1000,
                  note=f"Archive.tree on a {size:,}-node tree (the closest to 1,000) of the {lin.height:,}-node "
                       "archive, views in memory, median of 9")
