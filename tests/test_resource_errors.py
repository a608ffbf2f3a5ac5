"""Full disk, read-only archive, missing archive: one line, nothing left behind, a rerun completes.

Case disk-full-traceback: a full disk ended every write command in a 40-60 line traceback
starting with a Rust panic, and analyze/snapshot left `.tmp` view files. The disk is filled for
real: a small tmpfs mounted as the archive folder (needs root; skipped otherwise). A read-only
archive is a real read-only bind mount.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from archive.sources.simulate import SimParams, simulate, write_jsonl
from archive.store import Archive

ARCHIVIST = str(Path(sys.executable).parent / "archivist")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs or a read-only bind needs root")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ARCHIVIST, *args], capture_output=True, text=True, timeout=600)


def _leftovers(path: Path) -> list[str]:
    return [str(p) for p in path.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".partial-")]


@pytest.fixture()
def mount(tmp_path: Path):
    mounted: list[Path] = []

    def do(*args: str, target: Path) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *args, str(target)], check=True, capture_output=True)
        mounted.append(target)
        return target

    yield do
    for m in reversed(mounted):
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


@needs_root
def test_full_disk_is_one_line_and_a_rerun_completes(tmp_path: Path, mount):
    recs, _ = simulate(SimParams(seed=5, posts=20000))
    big = write_jsonl(recs, tmp_path / "big.jsonl")
    small = mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", target=tmp_path / "small")
    arc = small / "arc"
    r = run("ingest", "jsonl", str(big), "--archive", str(arc), "--batch-size", "2500")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("Error: no space left on device") and "run the same command again" in lines[0]
    assert "panicked" not in r.stderr and "Traceback" not in r.stderr
    stats = run("stats", "--archive", str(arc), "--json")  # the store stays readable on the full disk
    assert stats.returncode == 0, stats.stderr
    committed = json.loads(stats.stdout)["observations"]
    assert 0 < committed < len(recs)
    for cmd in (["analyze"], ["snapshot", recs[0]["id"]]):
        r = run(*cmd, "--archive", str(arc))
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
        assert "no space left on device" in r.stderr
    assert _leftovers(arc) == []
    subprocess.run(["mount", "-o", "remount,size=200m", str(small)], check=True)
    r = run("ingest", "jsonl", str(big), "--archive", str(arc), "--batch-size", "2500", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unchanged"] == committed
    ids = pl.read_delta(str(arc / "records"), columns=["id"])["id"]
    assert ids.len() == ids.n_unique() == len({r["id"] for r in recs})
    assert run("analyze", "--archive", str(arc)).returncode == 0
    assert run("snapshot", recs[0]["id"], "--archive", str(arc)).returncode == 0
    assert _leftovers(arc) == []


@needs_root
def test_read_only_archive_serves_reads_dashboard_and_snapshot_elsewhere(sample_store: Path, tmp_path: Path, mount):
    src = tmp_path / "src"
    subprocess.run(["cp", "-r", str(sample_store), str(src)], check=True)
    subprocess.run(["rm", "-rf", str(src / "_views")], check=True)  # no cache to lean on
    ro = mount("--bind", str(src), target=tmp_path / "ro")
    subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
    with pytest.raises(OSError):
        (ro / "probe").write_text("x")  # really read-only
    root = Archive.open(ro, read_only=True).trees().get_column("root")[0]
    for cmd in (["stats"], ["trees", "--limit", "3"], ["show", root], ["runs"], ["snapshots", root]):
        r = run(*cmd, "--archive", str(ro))
        assert r.returncode == 0, (cmd, r.stderr)
    r = run("snapshot", root, "--archive", str(ro), "-o", str(tmp_path / "bags"), "--json")
    assert r.returncode == 0, r.stderr
    r = run("ingest", "jsonl", "-", "--archive", str(ro))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "read-only file system" in r.stderr and "read commands" in r.stderr
    from dashboard.app import create_app

    client = create_app(ro).server.test_client()
    assert client.get("/").status_code == 200


def test_archive_deleted_under_a_reader_is_one_line(sample_store: Path, tmp_path: Path):
    from archive.errors import StoreError

    path = tmp_path / "arc"
    subprocess.run(["cp", "-r", str(sample_store), str(path)], check=True)
    a = Archive.open(path, read_only=True)
    a.trees()
    subprocess.run(["rm", "-rf", str(path)], check=True)
    with pytest.raises(StoreError, match=r"is gone \(its records table is missing.*put it back"):
        a.trees()
