"""A real `archivist ingest` process killed with SIGKILL mid-way, then run again: every record exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from archive.sources.simulate import SimParams, simulate, write_jsonl
from archive.store import Archive

ARCHIVIST = [sys.executable, "-c", "from dashboard.cli import main; main()"]


def _versions(path: Path) -> int:
    log = path / "records" / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def test_kill_minus_nine_mid_ingest_then_rerun_stores_every_record_once(tmp_path: Path):
    records, _ = simulate(SimParams(seed=5, posts=20_000))
    src = write_jsonl(records, tmp_path / "big.jsonl")
    with open(src, "ab") as f:  # some bad lines too, so quarantine is part of the story
        f.write(b"not json\n{\"id\": 1}\n")
    arc = tmp_path / "archive"
    cmd = ARCHIVIST + ["ingest", "jsonl", str(src), "--archive", str(arc), "--batch-size", "500", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _versions(arc) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    assert proc.poll() is None, "the ingest finished before it could be killed; make the input bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = Archive.open(arc).records(columns=["id"]).height
    assert 0 < killed_at < len(records)
    runs = Archive.open(arc).runs()
    assert runs.get_column("status").to_list() == ["interrupted"]

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    a = Archive.open(arc)
    ids = a.records(columns=["id"]).get_column("id")
    assert ids.len() == len(records) and ids.n_unique() == len(records)
    assert set(ids.to_list()) == {r["id"] for r in records}
    import json
    result = json.loads(done.stdout)
    assert result["stored"] == len(records) - killed_at
    assert result["unchanged"] == killed_at
    assert result["quarantined"] == 2
    assert a.quarantine().height == 2
    statuses = a.runs().sort("started_at").get_column("status").to_list()
    assert statuses == ["interrupted", "completed"]
    # the store is consistent: every committed version reads, and lineage covers every post
    assert a.lineage().filter(~pl.col("placeholder")).height == len(records)
