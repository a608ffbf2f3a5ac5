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
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["PART", "POSTS", "SEED", "cache_dir", "posts_jsonl", "store_for"]

POSTS = int(os.environ.get("REMIX_BENCH_POSTS", "1000000"))
SEED = 42
PART = 1_000_000  # the most posts one simulation makes (see posts_jsonl)
REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    d = Path(os.environ.get("REMIX_BENCH_CACHE", "/tmp/remix-archivist-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _sim_tag() -> str:
    src = (REPO / "archive" / "sources" / "simulate.py").read_bytes()
    return hashlib.sha256(src).hexdigest()[:10]


def _simulated(seed: int, posts: int) -> Path:
    """The cached JSONL file of one simulation (``seed``, ``posts``), made by a child process on first use."""
    path = cache_dir() / f"sim-s{seed}-{posts}-{_sim_tag()}.jsonl"
    if not path.exists():
        t = time.perf_counter()
        print(f"\n[bench] simulating {posts:,} posts (seed {seed}) into {path} (once; cached) ...", file=sys.stderr,
              flush=True)
        subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_data", str(posts), str(path), str(seed)],
                       cwd=REPO, check=True)
        print(f"[bench] simulated in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return path


def posts_jsonl(posts: int = POSTS) -> Path:
    """The cached JSONL file of ``posts`` simulated posts (made on first use).

    Up to :data:`PART` posts it is one simulation (seed :data:`SEED`). The simulator
    holds every post in memory (about 4.5 GB at 1,000,000), so a larger file is the
    concatenation of independent simulations of at most :data:`PART` posts with seeds
    ``SEED, SEED + 1, ...`` (ids carry the seed: they never clash); the first part is
    the 1,000,000-post file itself. Its trees are as large as one simulation's, its
    days ``parts`` times as busy.
    """
    if posts <= PART:
        return _simulated(SEED, posts)
    path = cache_dir() / f"sim-s{SEED}-{posts}-{_sim_tag()}.jsonl"
    if not path.exists():
        parts = [_simulated(SEED + k, min(PART, posts - k * PART)) for k in range(-(-posts // PART))]
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 16 << 20)
        tmp.replace(path)
    return path


def store_for(posts: int = POSTS) -> Path:
    """A store holding the cached posts, built once by a plain ingest (the archive under test)."""
    src = posts_jsonl(posts)
    path = cache_dir() / f"store-{src.stem}"
    if not (path / "records" / "_delta_log").exists():
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
    seed = int(argv[2]) if len(argv) > 2 else SEED
    records, truth = simulate(SimParams(seed=seed, posts=posts))
    tmp = out.with_name(out.name + ".tmp")
    write_jsonl(records, tmp, truth)
    tmp.replace(out)
    truth_tmp = tmp.parent / f"{tmp.name.split('.')[0]}.truth.json"
    if truth_tmp.exists():
        truth_tmp.replace(out.parent / f"{out.name.split('.')[0]}.truth.json")


if __name__ == "__main__":
    _main(sys.argv[1:])
