"""Crawler speed against the local replay server (run with ``pytest -m benchmark -s``).

1. Per-page overhead: the shared client (rate limit off) fetching and parsing a
   40-project Scratch remixes page, against a plain ``http.client`` keep-alive loop
   over the same server and page (the baseline), and the whole crawler
   (client + record building) per page.
2. A 10,000-project Scratch remix tree ingested into a store at a fixed rate
   limit: the wall time against the least time the limit allows,
   ``(requests - 1) * 1.01 / rate`` (the limiter keeps a 1% margin). A ratio near 1 means the crawl is bound by the rate
   limit and by nothing else. The rate is ``RA_BENCH_SCRATCH_RATE`` (default 50
   requests/s, so the run takes about a minute; the real Scratch limit of 10/s
   would take about five minutes for the ~3,100 requests of this tree).
"""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `tests` is a package

from archive.ingest import ingest  # noqa: E402
from archive.sources.http import HttpClient  # noqa: E402
from archive.sources.scratch import ScratchSource  # noqa: E402
from archive.store import Archive  # noqa: E402
from tests.replay.scratch_api import serve_tree, synthetic_tree  # noqa: E402
from tests.replay.server import ReplayServer  # noqa: E402

pytestmark = pytest.mark.benchmark


def test_per_page_overhead():
    projects, children = synthetic_tree(3000, seed=1)
    root = min(projects)
    n = 400
    with ReplayServer() as srv:
        serve_tree(srv, projects, children)
        path = f"/projects/{root}/remixes?limit=40&offset=0"
        body_size = len(orjson.dumps([projects[c] for c in children[root][:40]]))
        host, port = srv.url.removeprefix("http://").split(":")
        c = HttpClient(rate=None, allow_private=True)

        def plain() -> float:  # baseline: http.client on one keep-alive connection, parsed with orjson
            conn = http.client.HTTPConnection(host, int(port))
            t = time.perf_counter()
            for _ in range(n):
                conn.request("GET", path)
                orjson.loads(conn.getresponse().read())
            conn.close()
            return (time.perf_counter() - t) / n

        def shared() -> float:
            t = time.perf_counter()
            for _ in range(n):
                c.get_json(srv.url + f"/projects/{root}/remixes", params={"limit": 40, "offset": 0})
            return (time.perf_counter() - t) / n

        base, ours = min(plain(), plain()), min(shared(), shared())
        # the whole crawler: pages + records, no rate limit
        src = ScratchSource(root, base_url=srv.url, client=HttpClient(rate=None, allow_private=True))
        before = len(srv.requests)
        t = time.perf_counter()
        items = sum(1 for _ in src.items(None))
        crawl = time.perf_counter() - t
        pages = len(srv.requests) - before
    print(f"\nper page ({body_size / 1024:.0f} KiB, 40 projects): plain http.client {base * 1e3:.2f} ms, "
          f"shared client {ours * 1e3:.2f} ms (overhead {(ours - base) * 1e3:+.2f} ms, x{ours / base:.2f}); "
          f"whole crawler {crawl / pages * 1e3:.2f} ms/page ({items} projects, {pages} requests, {crawl:.2f} s)")
    assert items == 3000


def test_ten_thousand_project_tree_is_bound_by_the_rate_limit(tmp_path):
    rate = float(os.environ.get("RA_BENCH_SCRATCH_RATE", "50"))
    # the replay server runs in its own process, as a real API would: no GIL shared with the crawler
    server = subprocess.Popen([sys.executable, "-m", "tests.replay.serve_tree", "10000", "1"], cwd=Path(__file__).parents[2],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[0]
        arc = Archive.open(tmp_path / "a", create=True)
        root = min(synthetic_tree(1)[0])  # every synthetic tree starts at the same root id
        src = ScratchSource(root, base_url=url, allow_private=True, rate=rate)
        t = time.perf_counter()
        r = ingest(arc, src, batch_size=200)
        wall = time.perf_counter() - t
    finally:
        server.stdin.close()
        requests = int(server.stdout.readline())
        server.wait()
    ideal = (requests - 1) * 1.01 / rate  # the limiter keeps a 1% margin for timer jitter
    print(f"\n10,000-project tree at {rate:g} requests/s: {requests} requests, {r.stored} records, "
          f"{r.commits} commits in {wall:.1f} s; the limit (less its 1% jitter margin) allows {ideal:.1f} s "
          f"at best: ratio {wall / ideal:.3f} ({requests / wall:.2f} requests/s achieved)")
    assert r.stored == 10_000
    assert requests / wall <= rate * 1.001  # never faster than the limit
