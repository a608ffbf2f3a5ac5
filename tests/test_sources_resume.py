"""Crawls killed with SIGKILL mid-way and run again: every record stored exactly once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from archive.store import Archive
from tests.replay.openai_api import serve_videos, synthetic_videos
from tests.replay.scratch_api import serve_tree, synthetic_tree
from tests.replay.server import ReplayServer

ARCHIVIST = str(Path(sys.executable).parent / "archivist")


def _commits(arc: Path) -> int:
    log = arc / "records" / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def _kill_midway_then_finish(cmd: list[str], arc: Path, env: dict | None = None) -> tuple[dict, int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    while _commits(arc) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, f"the crawl ended before it could be killed: {proc.stderr.read().decode()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored_at_kill = Archive.open(arc).records(columns=["id"]).height
    done = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout), stored_at_kill


def test_scratch_crawl_killed_and_rerun_stores_every_project_once(tmp_path):
    projects, children = synthetic_tree(500, seed=11)
    arc = tmp_path / "archive"
    with ReplayServer(delay=0.01) as srv:  # a slow server: the kill lands mid-crawl
        serve_tree(srv, projects, children)
        cmd = [ARCHIVIST, "ingest", "scratch", str(min(projects)), "--base-url", srv.url, "--allow-private",
               "--rate", "1000", "--batch-size", "25", "--archive", str(arc), "--json"]
        second, stored_at_kill = _kill_midway_then_finish(cmd, arc)
        asked = Counter((q.path, q.query.get("offset")) for q in srv.requests)
    assert 0 < stored_at_kill < 500
    assert second["resumed_from"] is not None and second["status"] == "completed"
    ids = Archive.open(arc).records(columns=["id"])["id"].to_list()
    counts = Counter(ids)
    assert set(counts) == {f"scratch:{p}" for p in projects}
    assert max(counts.values()) == 1  # every project exactly once
    # the rerun started where the killed run stopped, not from the top: the start project was
    # fetched once, and only the pages in flight after the last commit were asked again
    assert asked[(f"/projects/{min(projects)}", None)] == 1
    again = sum(n - 1 for n in asked.values())
    assert again < 0.5 * len(asked), (again, len(asked))


def test_openai_listing_killed_and_rerun_stores_every_video_once(tmp_path):
    videos = synthetic_videos(200, seed=2)
    arc = tmp_path / "archive"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-resume-0001"}
    with ReplayServer(delay=0.1) as srv:
        serve_videos(srv, videos)
        cmd = [ARCHIVIST, "ingest", "openai-videos", "--base-url", srv.url + "/v1", "--allow-private",
               "--rate", "1000", "--page-size", "10", "--batch-size", "10", "--archive", str(arc), "--json"]
        second, stored_at_kill = _kill_midway_then_finish(cmd, arc, env)
    assert 0 < stored_at_kill < 200 and second["resumed_from"]
    counts = Counter(Archive.open(arc).records(columns=["id"])["id"].to_list())
    assert set(counts) == {f"openai-videos:{v['id']}" for v in videos} and max(counts.values()) == 1
    runs = Archive.open(arc).read_table("runs")
    assert not any("sk-test-resume-0001" in str(c) for c in runs.row(0))  # the key is never stored
