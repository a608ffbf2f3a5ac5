"""Serve a synthetic Scratch tree from its own process (benchmarks: no GIL shared with the crawler).

    python -m tests.replay.serve_tree N SEED    # from the repository root; prints the base URL, serves until stdin closes
"""
from __future__ import annotations

import sys

from tests.replay.scratch_api import serve_tree, synthetic_tree
from tests.replay.server import ReplayServer

if __name__ == "__main__":
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    projects, children = synthetic_tree(n, seed=seed)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children)
        print(srv.url, len(srv.requests), flush=True)
        sys.stdin.read()
        print(len(srv.requests), flush=True)
