"""Dashboard under load while an ingest runs: error rate, p50/p95 latency and memory, beside idle figures.

A simulated archive (``REMIX_LOAD_POSTS`` posts, default the benchmark size capped at 300,000),
analysed (kept between runs in ``REMIX_LOAD_CACHE`` when set), served by `archivist dashboard` on 127.0.0.1. Four client threads request the pages one
after another (bounded: at most four requests in flight) for an idle phase, then again while an
`archivist ingest jsonl` of a third more posts commits ten new store versions beside it. The
dashboard's resident memory (VmRSS) is sampled every 0.2 s. Figures are printed, and the memory
bound of the README (<= 1 GB for a 300,000-post archive, whatever the versions seen) is reported as
pass/short in the table; nothing here fails on a timing.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from archive.sources.simulate import SimParams, simulate, write_jsonl
from tests.benchmarks.bench_data import POSTS

pytestmark = pytest.mark.benchmark

ARCHIVIST = str(Path(sys.executable).parent / "archivist")
LOAD_POSTS = int(os.environ.get("REMIX_LOAD_POSTS", str(min(POSTS, 300_000))))
PAGES = ["/", "/drift", "/explore", "/bleed", "/decay", "/archive"]
IDLE_S = float(os.environ.get("REMIX_LOAD_IDLE_S", "20"))


def _body(path: str) -> bytes:
    return json.dumps({"output": ".._pages_content.children..._pages_store.data..",
                       "outputs": [{"id": "_pages_content", "property": "children"},
                                   {"id": "_pages_store", "property": "data"}],
                       "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                                  {"id": "_pages_location", "property": "search", "value": ""}],
                       "changedPropIds": ["_pages_location.pathname"], "state": []}).encode()


def _rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return float("nan")


class Load:
    """Four sequential clients and an RSS sampler, until ``stop`` is set."""

    def __init__(self, port: int, pid: int) -> None:
        self.port, self.pid = port, pid
        self.lat: list[float] = []
        self.errors = 0
        self.rss: list[float] = []
        self.stop = threading.Event()

    def client(self, k: int) -> None:
        i = k
        while not self.stop.is_set():
            path = PAGES[i % len(PAGES)]
            i += 1
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/_dash-update-component", data=_body(path),
                                         headers={"Content-Type": "application/json"})
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    r.read()
                    ok = r.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            self.lat.append(time.perf_counter() - t)
            self.errors += not ok

    def sampler(self) -> None:
        while not self.stop.is_set():
            self.rss.append(_rss_mb(self.pid))
            time.sleep(0.2)

    def run(self, until) -> dict:
        ths = [threading.Thread(target=self.client, args=(k,)) for k in range(4)] + [threading.Thread(target=self.sampler)]
        [t.start() for t in ths]
        until()
        self.stop.set()
        [t.join() for t in ths]
        lat = sorted(self.lat)
        q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [float("nan")] * 19
        return {"requests": len(lat), "error_rate": self.errors / max(len(lat), 1), "p50": statistics.median(lat),
                "p95": q[18], "max": lat[-1], "rss_peak": max(self.rss), "rss_end": self.rss[-1]}


def _inputs(folder: Path) -> tuple[Path, Path, int]:
    """The analysed base archive and the jsonl of later posts, built in ``folder`` (once, when it is a cache)."""
    arc, base, extra, done = folder / "arc", folder / "base.jsonl", folder / "extra.jsonl", folder / "built.json"
    if done.exists():
        return arc, extra, json.loads(done.read_text())["more"]
    folder.mkdir(parents=True, exist_ok=True)
    recs, _ = simulate(SimParams(seed=5, posts=LOAD_POSTS))
    write_jsonl(recs, base)
    more, _ = simulate(SimParams(seed=11, posts=max(LOAD_POSTS // 3, 100)))
    write_jsonl([{**r, "id": r["id"].replace("simulate:", "simulate:late-"),
                  "parents": [{**p, "id": p["id"].replace("simulate:", "simulate:late-")}
                              for p in r.get("parents") or []]} for r in more], extra)
    subprocess.run([ARCHIVIST, "ingest", "jsonl", str(base), "--archive", str(arc)], check=True, capture_output=True)
    subprocess.run([ARCHIVIST, "analyze", "--archive", str(arc)], check=True, capture_output=True)
    done.write_text(json.dumps({"more": len(more)}))
    return arc, extra, len(more)


def test_dashboard_under_load_while_ingesting(tmp_path: Path, record_figure):
    # REMIX_LOAD_CACHE=DIR keeps the analysed base archive between runs (copied, since the run ingests into it)
    cache = os.environ.get("REMIX_LOAD_CACHE")
    if cache:
        src, extra, n_more = _inputs(Path(cache) / f"posts-{LOAD_POSTS}")
        arc = tmp_path / "arc"
        shutil.copytree(src, arc)
    else:
        arc, extra, n_more = _inputs(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dash = subprocess.Popen([ARCHIVIST, "dashboard", "--archive", str(arc), "--port", str(port), "--host", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t = time.time()
        while time.time() - t < 600:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        idle = Load(port, dash.pid).run(lambda: time.sleep(IDLE_S))
        ingest = subprocess.Popen([ARCHIVIST, "ingest", "jsonl", str(extra), "--archive", str(arc),
                                   "--batch-size", str(max(n_more // 10, 10))],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        busy = Load(port, dash.pid).run(lambda: (ingest.wait(), time.sleep(10)))
        assert ingest.returncode == 0
        after = Load(port, dash.pid).run(lambda: time.sleep(IDLE_S))  # the new version served, old ones let go
    finally:
        dash.terminate()
        try:
            dash.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dash.kill()
    print(f"\n[load] dashboard on {LOAD_POSTS:,} posts (+{n_more:,} ingested in 10 commits during the load), "
          "4 sequential clients over 6 pages")
    print(f"[load] {'phase':<18}{'requests':>9}{'errors':>8}{'p50 s':>8}{'p95 s':>8}{'max s':>8}"
          f"{'RSS peak MB':>13}{'RSS end MB':>12}")
    for name, r in (("idle", idle), ("during ingest", busy), ("after ingest", after)):
        print(f"[load] {name:<18}{r['requests']:>9}{100 * r['error_rate']:>7.1f}%{r['p50']:>8.3f}{r['p95']:>8.3f}"
              f"{r['max']:>8.2f}{r['rss_peak']:>13.0f}{r['rss_end']:>12.0f}")
    print(f"[load] p95 during ingest / idle: {busy['p95'] / idle['p95']:.1f}x; "
          f"RSS peak during ingest / idle: {busy['rss_peak'] / idle['rss_peak']:.2f}x")
    peak = max(idle["rss_peak"], busy["rss_peak"], after["rss_peak"])
    record_figure("dashboard_rss", peak, baseline=idle["rss_peak"], figure="dashboard memory under load + ingest",
                  unit="MB", note=f"{LOAD_POSTS:,} posts; README bound <= 1,024 MB for 300,000 posts; "
                                  f"errors {100 * busy['error_rate']:.1f}% during ingest")
    assert idle["requests"] > 0 and busy["requests"] > 0
