"""The benchmark table: the targets of DESIGN.md "Targets", the figures recorded against them, and its rendering.

``ratio`` is always "how many times better than the baseline": baseline time /
our time for durations, our rate / baseline rate for rates, baseline / ours for memory.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Target", "TARGETS", "RESULTS", "record", "record_failure", "render", "machine", "save"]


@dataclass(frozen=True)
class Target:
    key: str
    figure: str
    unit: str          # "s", "ms", "records/s", "GB"
    limit: float
    higher_is_better: bool = False
    baseline: str = ""  # what the baseline is

    def text(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        return f"{op} {_num(self.limit, self.unit)}"

    def ok(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit


TARGETS: list[Target] = [
    Target("ingest_rate", "ingest JSONL -> store, with validation", "records/s", 200_000, True,
           "row-by-row Python: json.loads + check + canonical JSON + hash per record, no storage "
           "(ingest does all of that and writes the store)"),
    Target("ingest_vs_parse", "ingest time / polars.read_ndjson time of the same file", "x", 5.0, False),
    Target("ingest_memory", "ingest peak memory (RSS of the whole process)", "GB", 2.0, False),
    Target("root_depth", "root/depth for every node", "s", 0.5, False,
           "networkx: graph from the primary edges, BFS depth from every root"),
    Target("edge_drift", "lexical drift for every edge", "s", 3.0, False,
           "row-by-row Python: tokenise, Jaccard on sets, rapidfuzz token edit distance per edge, extrapolated from 20,000 edges"),
    Target("analyze", "analyze (drift, blame, styles, bleed, decay)", "s", 60.0, False,
           "analyze_tree called once per tree (no buckets), extrapolated from 300 trees"),
    Target("open_tree", "open one 1,000-node tree for the dashboard", "ms", 50.0, False),
    Target("open_tree_analysed", "open one 1,000-node tree, archive analysed", "ms", 30.0, False),
    Target("open_tree_archive", "open a tree of the 1M-post archive (Archive.tree)", "ms", 50.0, False,
           "row-by-row Python scan of the lineage for the tree's rows"),
    Target("draw_tree", "draw a 10,000-node tree in the browser", "s", 3.0, False, ""),
    Target("snapshot", "snapshot a 10,000-node tree", "s", 5.0, False, ""),
    Target("media_image", "fingerprint + thumbnail one 1080p JPEG", "ms", 50.0, False,
           "full-size decode with Pillow, PDQ and pHash on the full image, thumbnail"),
    Target("media_video", "fingerprint + thumbnail one minute of 1080p video", "s", 3.0, False,
           "PyAV: decode every frame, PDQ of the full-size frame once a second"),
    Target("media_query", "visual candidates among 1,000,000 fingerprints, per query", "ms", 10.0, False,
           "brute force: xor + popcount over every hash (numpy)"),
    Target("media_parent", "simulated image forest: exact parent, visual only", "share", 0.85, True,
           "text only (most similar earlier prompt)"),
    Target("media_root", "simulated image forest: root accuracy, visual only", "share", 0.95, True,
           "text only"),
    Target("infer", "infer (text) for every post without declared links", "s", 120.0, False,
           "datasketch MinHashLSH per post (MinHash.update per token, insert, query), no scoring, "
           "extrapolated from 20,000 posts"),
    Target("infer_memory", "infer peak memory (RSS of the whole process)", "GB", 4.0, False),
]
_BY_KEY = {t.key: t for t in TARGETS}


@dataclass
class Result:
    key: str
    figure: str
    value: float
    unit: str
    target: str
    baseline: float | None
    ratio: float | None
    ok: bool | None
    note: str


RESULTS: dict[str, Result] = {}


def _num(v: float, unit: str) -> str:
    if unit == "records/s":
        return f"{v:,.0f} rec/s"
    if unit == "GB":
        return f"{v:.2f} GB"
    if unit == "ms":
        return f"{v:.1f} ms"
    if unit == "share":
        return f"{v:.3f}"
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "s":
        return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"
    return f"{v:g} {unit}"


def record(key: str, value: float, *, baseline: float | None = None, note: str = "",
           figure: str | None = None, unit: str | None = None) -> Result:
    """Record a figure against the target ``key`` (or a free-standing figure with ``figure`` and ``unit``)."""
    t = _BY_KEY.get(key)
    if t is None and (figure is None or unit is None):
        raise KeyError(f"no target {key!r}; give figure= and unit= for a figure without a target")
    unit = unit or t.unit  # type: ignore[union-attr]
    ratio = None
    if baseline:
        hib = t.higher_is_better if t is not None else unit.endswith("/s")
        ratio = value / baseline if hib else baseline / value if value else None
    res = Result(key, figure or t.figure, float(value), unit, t.text() if t else "", baseline, ratio,  # type: ignore[union-attr]
                 t.ok(value) if t else None, note)
    RESULTS[key] = res
    print(f"\n[bench] {res.figure}: {_num(value, unit)}"
          + (f" (baseline {_num(baseline, unit)}, x{ratio:.1f})" if baseline and ratio else "")
          + (f" - {note}" if note else ""), flush=True)
    return res


def record_failure(key: str, note: str) -> Result:
    """Record that the figure for ``key`` could not be measured (the run failed): it shows as short."""
    t = _BY_KEY[key]
    res = Result(key, t.figure, float("nan"), t.unit, t.text(), None, None, False, note)
    RESULTS[key] = res
    print(f"\n[bench] {t.figure}: FAILED - {note}", flush=True)
    return res


def machine() -> str:
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def render(posts: int) -> str:
    rows = [("figure", "value", "target", "baseline", "ratio", "")]
    keys = [t.key for t in TARGETS] + [k for k in RESULTS if k not in _BY_KEY]
    for k in keys:
        r = RESULTS.get(k)
        t = _BY_KEY.get(k)
        if r is None:
            rows.append((t.figure, "not available", t.text(), "", "", ""))  # type: ignore[union-attr]
            continue
        rows.append((r.figure, "failed" if r.value != r.value else _num(r.value, r.unit), r.target,
                     _num(r.baseline, r.unit) if r.baseline else "", f"x{r.ratio:.1f}" if r.ratio else "",
                     "" if r.ok is None else ("pass" if r.ok else "short")))
    w = [max(len(row[i]) for row in rows) for i in range(6)]
    sep = "+".join("-" * (x + 2) for x in w)
    lines = [f"Benchmarks on {posts:,} simulated posts - {machine()} - {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             sep]
    for j, row in enumerate(rows):
        lines.append("|".join(f" {c:<{w[i]}} " if i in (0, 2, 5) else f" {c:>{w[i]}} " for i, c in enumerate(row)))
        if j == 0:
            lines.append(sep)
    lines.append(sep)
    notes = [f"- {r.figure}: {r.note}" for r in RESULTS.values() if r.note]
    base = [f"- {t.figure}: {t.baseline}" for t in TARGETS if t.baseline and t.key in RESULTS]
    if base:
        lines += ["baselines (measured in the same run; ratio = how many times better):"] + base
    if notes:
        lines += ["notes:"] + notes
    return "\n".join(lines)


def save(posts: int) -> Path:
    from tests.benchmarks.bench_data import cache_dir

    out = cache_dir() / "results.json"
    out.write_text(json.dumps({"posts": posts, "machine": machine(), "at": time.time(),
                               "results": [asdict(r) for r in RESULTS.values()],
                               "table": render(posts)}, indent=2), "utf-8")
    return out
