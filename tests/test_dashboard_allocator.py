"""`archivist dashboard` runs with its allocators (polars' jemalloc, glibc's malloc) returning freed memory
at once (issue 18: its memory peak)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from archive.ingest import ingest_records
from archive.store import Archive
from dashboard.cli import GLIBC_MALLOC, JEMALLOC_CONF

ARCHIVIST = str(Path(sys.executable).parent / "archivist")


def test_dashboard_process_sets_the_allocator_once(tmp_path: Path):
    arc = Archive.open(tmp_path / "arc", create=True)
    ingest_records(arc, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"}])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in (JEMALLOC_CONF[0], "REMIX_ALLOCATOR",
                                                         *(var for var, _ in GLIBC_MALLOC))}
    proc = subprocess.Popen([ARCHIVIST, "dashboard", "--archive", str(arc.path), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.2)
        else:
            raise AssertionError("the dashboard did not start listening")
        # the serving process is the same pid, run again once with the setting (execv keeps the pid)
        environ = dict(kv.split("=", 1) for kv in
                       Path(f"/proc/{proc.pid}/environ").read_text().split("\0") if "=" in kv)
        name, conf = JEMALLOC_CONF
        assert environ[name].endswith("," + conf)  # after polars' own settings: this one wins
        assert environ["REMIX_ALLOCATOR"] == conf
        # glibc's malloc (Python's larger blocks): one arena for every thread
        assert environ["MALLOC_ARENA_MAX"] == "1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
