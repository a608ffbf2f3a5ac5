"""A snapshot is all or nothing, even under `kill -9`; a redaction leaves no copy in the archive folder.

Case snapshot-kill-leaves-partial-bag-redact-misses-it: a killed snapshot left a hidden
`.partial-*` bag (the whole tree's content) that nothing removed and that `redact` did not see.
"""
from __future__ import annotations

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive.ingest import ingest_lines
from archive.snapshot import list_snapshots, snapshot_roots, verify
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive

ARCHIVIST = str(Path(sys.executable).parent / "archivist")
SECRET = "ZEBRAQUOKKA-7731"


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An archive whose largest tree takes a second or two to snapshot, with one post to be redacted in it."""
    path = tmp_path_factory.mktemp("killsnap") / "arc"
    a = Archive.open(path, create=True)
    recs, _ = simulate(SimParams(seed=9, posts=6000, m0=6, gamma=0.97))
    ingest_lines(a, [json.dumps(r) for r in recs])
    root = a.trees().get_column("root")[0]
    ingest_lines(a, [json.dumps({"id": "test:secret2", "source": "test", "created_at": "2026-05-01T10:00:00Z",
                                 "prompt": f"{SECRET} portrait of my face", "parents": [{"id": root}]})])
    return path, root


def _copy(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    return dst


def _holding(folder: Path, needle: str) -> list[str]:
    return [str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file() and needle.encode() in f.read_bytes()]


def _partials(arc: Path) -> list[str]:
    return glob.glob(f"{arc}/snapshots/*/.partial-*")


def test_the_case_kill_while_writing_then_redact(big_tree, tmp_path: Path):
    """The case's steps: kill -9 once tree.graphml is being written, then redact the post."""
    arc = _copy(big_tree[0], tmp_path / "arc")
    p = subprocess.Popen([ARCHIVIST, "snapshot", big_tree[1], "--archive", str(arc)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.time()
    while p.poll() is None and time.time() - t < 120:
        if glob.glob(f"{arc}/snapshots/*/.partial-*/tree.graphml"):
            os.kill(p.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    p.wait()
    assert p.returncode == -9 and _partials(arc)  # the kill landed mid-write
    r = subprocess.run([ARCHIVIST, "redact", "test:secret2", "--reason", "consent revoked", "--yes", "--archive",
                        str(arc)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _holding(arc, SECRET) == []  # the right value: no file under the archive holds the prompt
    assert _partials(arc) == []


def test_kill_at_random_points_leaves_nothing(big_tree, tmp_path: Path):
    """Property: wherever a kill lands, no bag is half there; the next write command removes what is left,
    and whatever `snapshots` lists verifies."""
    rng = random.Random(18)
    arc = _copy(big_tree[0], tmp_path / "arc")
    t0 = time.time()  # one unkilled run to learn how long a snapshot takes here
    subprocess.run([ARCHIVIST, "snapshot", big_tree[1], "--archive", str(arc)], check=True, capture_output=True)
    full = time.time() - t0
    for trial in range(5):
        p = subprocess.Popen([ARCHIVIST, "snapshot", big_tree[1], "--archive", str(arc)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, full))
        p.send_signal(signal.SIGKILL)
        p.wait()
        a = Archive.open(arc)
        assert all(not b.name.startswith(".") and verify(b).ok for b in snapshot_roots(a)), trial
        listed = list_snapshots(a, big_tree[1])["bag"].to_list()
        assert not any(".partial-" in b for b in listed)
        # the next write command (any: here an ingest with nothing new) removes the leftovers of the dead process
        r = subprocess.run([ARCHIVIST, "ingest", "jsonl", "-", "--archive", str(arc)], input="", text=True,
                           capture_output=True)
        assert r.returncode == 0, r.stderr
        assert _partials(arc) == [], trial


_KILL_BEFORE_RENAME = """
import os, signal, sys
import archive.snapshot as s
from archive.store import Archive
real = os.rename
def rename(a, b):
    if os.path.basename(str(a)).startswith(".partial-"):
        os.kill(os.getpid(), signal.SIGKILL)   # the bag is whole, its rename into place has not happened
    return real(a, b)
os.rename = rename
s.snapshot(Archive.open(sys.argv[1]), sys.argv[2])
"""


def test_kill_after_the_bag_is_whole_before_its_rename(big_tree, tmp_path: Path):
    """The rare kill the case saw once: the leftover is a valid bag, yet never listed, and swept."""
    arc = _copy(big_tree[0], tmp_path / "arc")
    p = subprocess.run([sys.executable, "-c", _KILL_BEFORE_RENAME, str(arc), big_tree[1]], capture_output=True)
    assert p.returncode == -9
    (left,) = _partials(arc)
    assert (Path(left) / "bagit.txt").exists() and verify(left).ok  # whole, but in its temporary folder
    a = Archive.open(arc)
    assert snapshot_roots(a) == [] and list_snapshots(a, big_tree[1]).height == 0
    r = subprocess.run([ARCHIVIST, "snapshot", big_tree[1], "--archive", str(arc), "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert _partials(arc) == [] and len(snapshot_roots(Archive.open(arc))) == 1


def test_redact_killed_at_random_points_then_rerun(big_tree, tmp_path: Path):
    """Property: a redaction killed anywhere leaves a readable store, and its rerun finishes the job
    (no file under the archive holds the prompt, the ledger has the entry)."""
    rng = random.Random(1818)
    src = _copy(big_tree[0], tmp_path / "src")
    cmd = ["redact", "test:secret2", "--reason", "takedown", "--yes"]
    t0 = time.time()
    assert subprocess.run([ARCHIVIST, *cmd, "--archive", str(_copy(src, tmp_path / "timing"))],
                          capture_output=True).returncode == 0
    full = time.time() - t0
    for trial in range(4):
        arc = _copy(src, tmp_path / f"a{trial}")
        p = subprocess.Popen([ARCHIVIST, *cmd, "--archive", str(arc)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, full))
        p.send_signal(signal.SIGKILL)
        p.wait()
        stats = subprocess.run([ARCHIVIST, "stats", "--archive", str(arc), "--json"], capture_output=True, text=True)
        assert stats.returncode == 0, (trial, stats.stderr)
        r = subprocess.run([ARCHIVIST, *cmd, "--archive", str(arc), "--json"], capture_output=True, text=True)
        assert r.returncode == 0, (trial, r.stderr)
        assert json.loads(r.stdout)["id"] == "test:secret2"
        assert _holding(arc, SECRET) == [], trial
