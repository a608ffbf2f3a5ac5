"""Cost curves: time and peak memory of each step of the archive's life at growing sizes, and how they grow.

For each size (``REMIX_BENCH_SIZES``, default ``100000,300000,1000000,3000000``) the
simulated posts (made once and cached, as in :mod:`tests.benchmarks.bench_data`; above
1,000,000 posts, independent 1,000,000-post simulations end to end) go through the steps
of :data:`STEPS`, each in a fresh child process: ``ingest`` (the JSONL into a new store),
``views`` (posts, edges, root/depth: the first read after an ingest), ``analyze`` (every
measure, every tree), ``tree`` (``Archive.tree`` on the tree closest to 1,000 nodes, views
in memory, median of 5) and ``infer`` when ``lineage.infer`` is there (``infer_frame`` on
every post with the declared links hidden: every post is a target, as on an archive of
re-posts; on the links the archive has, nearly every post has a parent and there is
little left to infer). The child times the step itself and reports its own peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``: the interpreter and its imports included).

No step may pass ``REMIX_BENCH_CURVES_MEM_GB`` (default 10) of memory: a size whose
peak, projected from the smaller sizes (:func:`projected_gb`), is above it is reported as
``skipped (projected X GB)``, and a child that goes past it anyway is stopped and reported.

Printed: a table of time and memory per size, and the growth exponent between
consecutive sizes, ``log(t2/t1) / log(n2/n1)`` (1 is linear; n log n is a little
above 1, and the table flags a step that grows clearly faster). Written: a log-log
plot (plotly + kaleido) to ``REMIX_BENCH_CURVES_PNG`` (default ``docs/cost-curves.png``),
titled with the sizes it used, and the table beside it as text in the bench cache.

Run: ``REMIX_BENCH_SIZES=20000,60000 pytest tests/benchmarks/test_bench_curves.py -m benchmark -s``.
A step is added by appending a :class:`Step` to :data:`STEPS`.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.benchmarks import bench_table
from tests.benchmarks.bench_data import REPO, cache_dir, posts_jsonl

pytestmark = pytest.mark.benchmark

SIZES = [int(s.replace("_", "")) for s in os.environ.get("REMIX_BENCH_SIZES", "100000,300000,1000000,3000000")
         .split(",") if s.strip()]
PNG = Path(os.environ.get("REMIX_BENCH_CURVES_PNG", str(REPO / "docs" / "cost-curves.png")))
# above n log n by more than this (on the exponent) is flagged: timings on a shared machine are noisy
# each size runs REPEAT times (a fresh store each time) and keeps each step's fastest run: on a shared
# machine the minimum is the steadier figure; worth it at small sizes
REPEAT = max(1, int(os.environ.get("REMIX_BENCH_CURVES_REPEAT", "1")))
SLACK = float(os.environ.get("REMIX_BENCH_CURVES_SLACK", "0.15"))
# no step may pass this much memory: a size whose projected peak is above it is skipped, a child that goes past it
# is stopped (both reported in the table instead of failing the run or the machine)
MEM_LIMIT_GB = float(os.environ.get("REMIX_BENCH_CURVES_MEM_GB", "10"))

# every child: argv = [store, jsonl]; prints one JSON line {"seconds", "maxrss_kb", ...} last
_HEAD = "import json, resource, sys, time\nfrom archive.store import Archive\nstore, src = sys.argv[1], sys.argv[2]\n"
_TAIL = "\nout['maxrss_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nprint(json.dumps(out))\n"


@dataclass(frozen=True)
class Step:
    name: str
    code: str                 # the child's body: sets `out = {"seconds": ..., ...}`
    needs: str | None = None  # a module the step needs; missing: the step is skipped with a note


STEPS: list[Step] = [
    Step("ingest", """
from archive.ingest import ingest
from archive.sources.jsonl import JsonlSource
a = Archive.open(store, create=True)
t = time.perf_counter()
r = ingest(a, JsonlSource([src]))
out = {"seconds": time.perf_counter() - t, "read": r.read, "stored": r.stored, "quarantined": r.quarantined}
"""),
    Step("views", """
a = Archive.open(store)
t = time.perf_counter()
lin = a.lineage(); a.posts(); a.edges(); a.trees()
out = {"seconds": time.perf_counter() - t, "nodes": lin.height}
"""),
    Step("analyze", """
from lineage.analyze import analyze
a = Archive.open(store)
t = time.perf_counter()
res = analyze(a, force=True)
out = {"seconds": time.perf_counter() - t, "trees": res["trees"], "nodes": res["nodes"]}
""", needs="lineage.analyze"),
    Step("tree", """
import statistics
import polars as pl
a = Archive.open(store, read_only=True)
trees = a.trees(); a.lineage(); a.posts(); a.edges()  # the dashboard holds the views in memory
root = trees.with_columns(d=(pl.col("size").cast(pl.Int64) - 1000).abs()).sort("d", "root")["root"][0]
times = []
for _ in range(5):
    t = time.perf_counter(); tree = a.tree(root); times.append(time.perf_counter() - t)
out = {"seconds": statistics.median(times), "tree_nodes": tree.nodes.height}
"""),
    Step("infer", """
import polars as pl
from lineage.infer import infer_frame
a = Archive.open(store, read_only=True)
t = time.perf_counter()
# the archive with its declared links hidden: every post is a target and every earlier post a candidate, as
# `archivist infer` on an archive of re-posts without links (the same columns; the inferred_edges write left out)
posts = a.posts().filter(~pl.col("placeholder")).select("id", "source", "created_at", "fetched_at", "author", "text",
                                                         "views", "remixes")
r = infer_frame(posts)
out = {"seconds": time.perf_counter() - t, "targets": posts.height, "parents": r.edges.height}
""", needs="lineage.infer"),
]


def _rss_gb(pid: int) -> float:
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS"))
        return int(line.split()[1]) / 2**20
    except (OSError, StopIteration, ValueError):
        return 0.0


def _run(step: Step, store: Path, src: Path) -> dict:
    """Run one step in a child; past :data:`MEM_LIMIT_GB` of RSS it is stopped: ``{"stopped": "..."}``."""
    code = _HEAD + step.code + _TAIL
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(store), str(src)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _rss_gb(proc.pid))
        if peak > MEM_LIMIT_GB:
            proc.kill()
            proc.communicate()
            return {"stopped": f"stopped at {peak:.1f} GB after {time.perf_counter() - t:.0f} s", "peak_gb": peak}
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise AssertionError(f"step {step.name} failed:\n{stderr[-3000:]}")
    out = json.loads(stdout.strip().splitlines()[-1])
    out["wall"] = time.perf_counter() - t
    out["peak_gb"] = out["maxrss_kb"] / 2**20
    return out


def projected_gb(per: dict[int, dict], n: int) -> float | None:
    """Peak memory a step would need at ``n`` posts, from its measured sizes below ``n`` (``None``: none yet).

    From the largest measured size, growing as the last two measured sizes grew, and
    at least linearly (fixed costs make small sizes look flatter than large ones grow).
    """
    done = sorted(k for k, v in per.items() if k < n and "seconds" in v)
    if not done:
        return None
    n2 = done[-1]
    e = 1.0
    if len(done) > 1:
        n1 = done[-2]
        e = max(1.0, exponent(n1, per[n1]["peak_gb"], n2, per[n2]["peak_gb"]))
    return per[n2]["peak_gb"] * (n / n2) ** e


def exponent(n1: float, v1: float, n2: float, v2: float) -> float:
    """Growth exponent between two sizes: ``log(v2/v1) / log(n2/n1)`` (1: linear)."""
    return math.log(v2 / v1) / math.log(n2 / n1)


def nlogn_exponent(n1: float, n2: float) -> float:
    """The exponent ``n log n`` shows between ``n1`` and ``n2`` (a little above 1)."""
    return exponent(n1, n1 * math.log(n1), n2, n2 * math.log(n2))


def _fmt_t(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def render(results: dict[str, dict[int, dict]], sizes: list[int]) -> tuple[str, list[str]]:
    """The table (time, peak memory, exponents per step and size) and the steps flagged above n log n.

    A size a step did not run at (``{"skipped": ...}`` or ``{"stopped": ...}``) has its
    reason in the time column; exponents are taken between the sizes it ran at.
    """
    head = ["step", "posts", "time", "peak RSS", "time exp.", "mem exp.", "n log n exp.", ""]
    rows, flagged = [head], []
    for name, per in results.items():
        prev = None
        for n in sizes:
            if n not in per:
                continue
            r = per[n]
            if "seconds" not in r:
                rows.append([name, f"{n:,}", r.get("skipped") or r.get("stopped", ""),
                             f"{r['peak_gb']:.2f} GB" if "stopped" in r else "", "", "", "", ""])
                continue
            te = me = nl = ""
            flag = ""
            if prev is not None:
                pn, pr = prev
                e = exponent(pn, pr["seconds"], n, r["seconds"])
                m = exponent(pn, pr["peak_gb"], n, r["peak_gb"])
                k = nlogn_exponent(pn, n)
                te, me, nl = f"{e:.2f}", f"{m:.2f}", f"{k:.2f}"
                if name == "tree" and e > 0.5:  # one tree of the same size: should hardly grow with the archive
                    flag = "grows with the archive"
                    flagged.append(f"{name} {pn:,} -> {n:,}: time exponent {e:.2f} for a tree of fixed size")
                elif name != "tree" and e > k + SLACK:
                    flag = "faster than n log n"
                    flagged.append(f"{name} {pn:,} -> {n:,}: time exponent {e:.2f} (n log n: {k:.2f})")
            rows.append([name, f"{n:,}", _fmt_t(r["seconds"]), f"{r['peak_gb']:.2f} GB", te, me, nl, flag])
            prev = (n, r)
    w = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w[i]) if i in (0, 7) else c.rjust(w[i]) for i, c in enumerate(row)).rstrip()
             for row in rows]
    lines.insert(1, "-+-".join("-" * x for x in w))
    return "\n".join(lines), flagged


def plot(results: dict[str, dict[int, dict]], sizes: list[int], path: Path, subtitle: str) -> Path:
    """A log-log plot of time and peak memory against posts, one line per step (PNG via kaleido)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("time of the step (s)", "peak RSS of its process (GB)"))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for i, (name, per) in enumerate(results.items()):
        ns = [n for n in sizes if "seconds" in per.get(n, {})]
        c = colors[i % len(colors)]
        fig.add_trace(go.Scatter(x=ns, y=[per[n]["seconds"] for n in ns], name=name, mode="lines+markers",
                                 line={"color": c}, legendgroup=name), row=1, col=1)
        fig.add_trace(go.Scatter(x=ns, y=[per[n]["peak_gb"] for n in ns], name=name, mode="lines+markers",
                                 line={"color": c}, legendgroup=name, showlegend=False), row=1, col=2)
    if "seconds" in results.get("ingest", {}).get(sizes[0], {}) and len(sizes) > 1:  # a guide: linear growth
        n0 = sizes[0]
        t0 = results["ingest"][n0]["seconds"]
        fig.add_trace(go.Scatter(x=sizes, y=[t0 * n / n0 for n in sizes], name="∝ n (guide)", mode="lines",
                                 line={"color": "#999", "dash": "dot"}), row=1, col=1)
    for col in (1, 2):
        fig.update_xaxes(type="log", title_text="posts", row=1, col=col)
        fig.update_yaxes(type="log", row=1, col=col)
    sizes_txt = ", ".join(f"{n:,}" for n in sizes)
    small = " (a small run: REMIX_BENCH_SIZES=" + ",".join(map(str, sizes)) + ")" if max(sizes) < 1_000_000 else ""
    fig.update_layout(title={"text": f"Cost curves at {sizes_txt} posts{small}<br><sup>{subtitle}</sup>"},
                      width=1100, height=500, template="plotly_white")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_image(str(path), format="png", scale=1)
    return path


def _one_pass(steps: list[Step], n: int, src: Path, lines: int, results: dict[str, dict[int, dict]]) -> None:
    """Every step on a fresh store of the ``n``-post file; keeps each step's fastest run in ``results``.

    A step whose projected peak memory (:func:`projected_gb`) is above :data:`MEM_LIMIT_GB`
    is skipped; one stopped at the limit is noted; without a store (ingest skipped or
    stopped) the other steps are skipped too.
    """
    store = cache_dir() / f"curves-store-{n}"
    shutil.rmtree(store, ignore_errors=True)
    try:
        outs: dict[str, dict] = {}
        for s in steps:
            proj = projected_gb(results[s.name], n)
            if s.name != "ingest" and "seconds" not in outs.get("ingest", {}):
                out = {"skipped": "skipped (no store: ingest did not run)"}
            elif proj is not None and proj > MEM_LIMIT_GB:
                out = {"skipped": f"skipped (projected {proj:.1f} GB)"}
            else:
                out = _run(s, store, src)
            outs[s.name] = out
            best = results[s.name].get(n)
            if best is None or "seconds" not in best or ("seconds" in out and out["seconds"] < best["seconds"]):
                results[s.name][n] = out
            if "seconds" not in out:
                print(f"[curves] {n:>9,} posts  {s.name:<8} {out.get('skipped') or out['stopped']}", flush=True)
                continue
            print(f"[curves] {n:>9,} posts  {s.name:<8} {_fmt_t(out['seconds']):>10}  peak {out['peak_gb']:.2f} GB"
                  + (f"  ({out['tree_nodes']:,}-node tree)" if "tree_nodes" in out else "")
                  + (f"  ({out['parents']:,} parents for {out['targets']:,} posts)" if "parents" in out else ""),
                  flush=True)
        ing = outs["ingest"]
        if "seconds" in ing:
            assert ing["read"] == lines and ing["stored"] + ing["quarantined"] == lines, ing
        if "seconds" in outs.get("views", {}):
            assert outs["views"]["nodes"] >= lines
            if "seconds" in outs.get("analyze", {}):
                assert outs["analyze"]["nodes"] == outs["views"]["nodes"]
        if "seconds" in outs.get("infer", {}):
            assert 0 < outs["infer"]["parents"] < outs["infer"]["targets"]
    finally:
        shutil.rmtree(store, ignore_errors=True)


@pytest.mark.timeout(4 * 3600)  # every size, every step: 8-10 minutes at full size on 2 cores, more under load
def test_cost_curves():
    assert len(SIZES) >= 2 and SIZES == sorted(set(SIZES)), "REMIX_BENCH_SIZES: two or more sizes, increasing"
    steps = []
    for s in STEPS:
        if s.needs and importlib.util.find_spec(s.needs) is None:
            print(f"\n[curves] step {s.name!r} skipped: {s.needs} is not on this branch", flush=True)
        else:
            steps.append(s)
    results: dict[str, dict[int, dict]] = {s.name: {} for s in steps}
    load0 = os.getloadavg()[0]
    for n in SIZES:
        src = posts_jsonl(n)
        with open(src, "rb") as f:
            lines = sum(1 for line in f if line.strip())
        for _ in range(REPEAT):
            _one_pass(steps, n, src, lines, results)
    table, flagged = render(results, SIZES)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    best = f" - fastest of {REPEAT} runs per step" if REPEAT > 1 else ""
    subtitle = f"{bench_table.machine()} - {when} - load average {load0:.1f} at the start, {load:.1f} at the end{best}"
    text = f"Cost curves at {', '.join(f'{n:,}' for n in SIZES)} posts - {subtitle}\n{table}\n"
    text += f"(peak memory limit per step: {MEM_LIMIT_GB:g} GB, REMIX_BENCH_CURVES_MEM_GB)\n"
    if flagged:
        text += f"flagged (time exponent above n log n + {SLACK}, or a fixed-size tree above 0.5):\n  "
        text += "\n  ".join(flagged) + "\n"
    print("\n" + text, flush=True)
    (cache_dir() / "cost-curves.txt").write_text(text)
    png = plot(results, SIZES, PNG, subtitle)
    assert png.stat().st_size > 10_000
    print(f"[curves] plot written to {png}; table to {cache_dir() / 'cost-curves.txt'}", flush=True)
