"""Writers at the same time: nothing doubled, nobody killed, the runs ledger complete.

Cases: concurrent-ingest-same-records-duplicated (two ingests of one file at once stored every
record twice), redact-during-ingest-commit-conflict (a redaction beside an ingest killed one of
them with a Delta commit error). Real processes and real threads on a real Delta store; each
race is run many times.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from archive.ingest import ingest, ingest_lines, reconcile_runs
from archive.redact import redact
from archive.sources.jsonl import JsonlSource
from archive.sources.simulate import SimParams, simulate, write_jsonl
from archive.store import Archive

BIN = Path(sys.executable).parent
SECRET = "ZEBRAQUOKKA-7731"
BAD = ['{"id":"bad:1","source":"x"}', "not json"]  # two lines for quarantine, as in the case


def _records_file(tmp: Path, posts: int, seed: int = 1) -> Path:
    recs, truth = simulate(SimParams(seed=seed, posts=posts))
    f = write_jsonl(recs, tmp / "recs.jsonl")
    with open(f, "a", encoding="utf-8") as out:
        out.write("\n".join(BAD) + "\n")
    return f


def _log_counts(path: Path) -> tuple[int, int, int, int]:
    """(rows, distinct (id, content_hash), quarantine rows, distinct quarantined lines)."""
    r = pl.read_delta(str(path / "records"), columns=["id", "content_hash"])
    q = pl.read_delta(str(path / "quarantine"), columns=["raw_hash"])
    return r.height, r.unique(["id", "content_hash"]).height, q.height, q["raw_hash"].n_unique()


def test_two_ingests_of_the_same_file_at_once_store_each_record_once(tmp_path: Path):
    """The case's right value, many times over: the log holds each record once and quarantine
    each bad line once; between them the two runs store every record exactly once."""
    f = _records_file(tmp_path, 400)
    n = 400
    for trial in range(12):
        path = tmp_path / f"arc{trial}"
        Archive.open(path, create=True)
        results: list = []

        def run() -> None:  # each thread its own Archive, as two processes would have
            results.append(ingest(Archive.open(path), JsonlSource([str(f)]), batch_size=50 + 7 * trial))

        threads = [threading.Thread(target=run) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        rows, distinct, qrows, qdistinct = _log_counts(path)
        assert (rows, distinct, qrows, qdistinct) == (n, n, 2, 2), trial
        assert all(r.reconciles and r.read == n + 2 for r in results)
        assert sum(r.stored for r in results) == n and sum(r.unchanged for r in results) == n
        assert reconcile_runs(Archive.open(path)).height == 0  # the ledger already counts every row


def test_two_ingest_processes_of_the_same_file(tmp_path: Path):
    """The case itself with two `archivist ingest jsonl` processes started together."""
    f = _records_file(tmp_path, 3000)
    arc = tmp_path / "arc"
    cmd = [str(BIN / "archivist"), "ingest", "jsonl", str(f), "--archive", str(arc), "--batch-size", "300", "--json"]
    Archive.open(arc, create=True)
    ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in ps]
    assert [p.returncode for p in ps] == [0, 0], [o[1][-500:] for o in outs]
    res = [json.loads(o[0]) for o in outs]
    assert sum(r["stored"] for r in res) == 3000 and all(r["read"] == 3002 for r in res)
    assert _log_counts(arc) == (3000, 3000, 2, 2)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert json.loads(again.stdout)["unchanged"] == 3000


def test_redact_during_ingest_both_finish(tmp_path: Path):
    """Redaction beside a many-batch ingest, many times: neither is killed, the content is gone,
    every new record is stored once."""
    base = tmp_path / "base"
    a = Archive.open(base, create=True)
    recs, _ = simulate(SimParams(seed=5, posts=300))
    ingest_lines(a, [json.dumps(r) for r in recs])
    ingest_lines(a, [json.dumps({"id": "test:secret1", "source": "test", "created_at": "2026-05-01T10:00:00Z",
                                 "prompt": f"{SECRET} my face"})])
    new, _ = simulate(SimParams(seed=11, posts=1500))
    new_lines = [json.dumps(r) for r in new]
    for trial in range(8):
        path = tmp_path / f"a{trial}"
        subprocess.run(["cp", "-r", str(base), str(path)], check=True)
        errors: list[BaseException] = []
        done: dict[str, object] = {}

        def crawl() -> None:
            try:
                done["ingest"] = ingest_lines(Archive.open(path), new_lines, batch_size=100)
            except BaseException as e:  # noqa: BLE001 - the test reports it
                errors.append(e)

        t = threading.Thread(target=crawl)
        t.start()
        threading.Event().wait(0.02 * trial)  # the redaction lands at a different batch each trial
        try:
            done["redact"] = redact(Archive.open(path), "test:secret1", reason="takedown")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        t.join()
        assert errors == [], (trial, errors)
        arc = Archive.open(path)
        rows = arc.records(columns=["id", "content_hash"])
        assert rows.height == rows.unique().height == 301 + 1500
        assert arc.posts().filter(pl.col("id") == "test:secret1").get_column("redacted").to_list() == [True]
        assert not any(SECRET.encode() in p.read_bytes() for p in path.rglob("*") if p.is_file())


_KILL_AFTER_COMMIT = """
import os, signal, sys
from archive.store import Archive
from archive.ingest import ingest_lines
real = Archive.append
def append(self, name, frame, **kw):
    v = real(self, name, frame, **kw)
    if name == "records":            # the batch is committed; its checkpoint in `runs` is not
        os.kill(os.getpid(), signal.SIGKILL)
    return v
Archive.append = append
lines = [l for l in open(sys.argv[2], encoding="utf-8")]
ingest_lines(Archive.open(sys.argv[1]), lines, batch_size=100)
"""


def test_runs_ledger_accounts_for_rows_committed_before_a_kill(tmp_path: Path):
    """kill -9 between a batch's commit and its checkpoint: the next run adds the missing count."""
    recs, _ = simulate(SimParams(seed=3, posts=250))
    f = tmp_path / "r.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs), "utf-8")
    path = tmp_path / "arc"
    Archive.open(path, create=True)
    p = subprocess.run([sys.executable, "-c", _KILL_AFTER_COMMIT, str(path), str(f)], capture_output=True)
    assert p.returncode == -9
    a = Archive.open(path)
    killed = a.runs().row(0, named=True)
    assert killed["status"] == "interrupted" and killed["stored"] == 0 and a.records().height == 100
    r = ingest_lines(a, f.read_text("utf-8").splitlines())  # the next run reconciles first
    assert r.stored == 150 and r.unchanged == 100
    by_run = a.records(columns=["run_id"]).group_by("run_id").len()
    ledger = a.runs().select("run_id", "stored", "error")
    both = ledger.join(by_run, on="run_id")
    assert both.height == 2 and (both["stored"] == both["len"].cast(pl.Int64)).all()
    assert "reconciled: 100 stored row(s)" in both.filter(pl.col("run_id") == killed["run_id"])["error"][0]
