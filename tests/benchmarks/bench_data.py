"""The benchmark data: 1,000,000 simulated posts as JSON Lines, made once and cached.

The file lives under ``$REMIX_BENCH_CACHE`` (default ``/tmp/remix-archivist-bench``)
and is named after the simulator's parameters and a hash of ``simulate.py``, so a
change to the simulator makes a new file. It is written by a separate process so the
simulator's memory never counts against a benchmark. Run it on its own with
``python -m tests.benchmarks.bench_data [POSTS]``.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["POSTS", "SEED", "cache_dir", "posts_jsonl", "store_for"]

POSTS = int(os.environ.get("REMIX_BENCH_POSTS", "1000000"))
SEED = 42
REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    d = Path(os.environ.get("REMIX_BENCH_CACHE", "/tmp/remix-archivist-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _sim_tag() -> str:
    src = (REPO / "archive" / "sources" / "simulate.py").read_bytes()
    return hashlib.sha256(src).hexdigest()[:10]


def posts_jsonl(posts: int = POSTS) -> Path:
    """The cached JSONL file of ``posts`` simulated posts (made on first use)."""
    path = cache_dir() / f"sim-s{SEED}-{posts}-{_sim_tag()}.jsonl"
    if not path.exists():
        t = time.perf_counter()
        print(f"\n[bench] simulating {posts:,} posts into {path} (once; cached) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_data", str(posts), str(path)], cwd=REPO,
                       check=True)
        print(f"[bench] simulated in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return path


def store_for(posts: int = POSTS) -> Path:
    """A store holding the cached posts, built once by a plain ingest (the archive under test)."""
    src = posts_jsonl(posts)
    path = cache_dir() / f"store-{src.stem}"
    if not (path / "records" / "_delta_log").exists():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        t = time.perf_counter()
        print(f"[bench] building the store {path} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-c",
                        "import sys; from archive.store import Archive; from archive.ingest import ingest; "
                        "from archive.sources.jsonl import JsonlSource; a = Archive.open(sys.argv[1], create=True); "
                        "ingest(a, JsonlSource([sys.argv[2]])); a.lineage()", str(path), str(src)],
                       cwd=REPO, check=True)
        print(f"[bench] store built in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return path


def _main(argv: list[str]) -> None:
    from archive.sources.simulate import SimParams, simulate, write_jsonl

    posts = int(argv[0]) if argv else POSTS
    out = Path(argv[1]) if len(argv) > 1 else cache_dir() / f"sim-s{SEED}-{posts}.jsonl"
    records, truth = simulate(SimParams(seed=SEED, posts=posts))
    tmp = out.with_name(out.name + ".tmp")
    write_jsonl(records, tmp, truth)
    tmp.replace(out)
    truth_tmp = tmp.parent / f"{tmp.name.split('.')[0]}.truth.json"
    if truth_tmp.exists():
        truth_tmp.replace(out.parent / f"{out.name.split('.')[0]}.truth.json")


if __name__ == "__main__":
    _main(sys.argv[1:])
