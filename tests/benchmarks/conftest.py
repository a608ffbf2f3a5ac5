"""Benchmark harness: the 1,000,000-post data, and one table of every target printed at the end.

Every benchmark module records its figures with the ``record_figure`` fixture (or
:func:`bench_table.record`); at the end of the run the table lists each target of
DESIGN.md "Targets" with its value, the target, the baseline measured in the same
run, the ratio to it and pass/short. A target no module measured prints
"not available" rather than failing the suite. Run with ``./run.sh bench``
(``pytest tests/benchmarks -m benchmark -s``); ``REMIX_BENCH_POSTS`` makes a smaller
run (the table says how many posts it used).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `tests` is a package

from tests.benchmarks import bench_table  # noqa: E402
from tests.benchmarks.bench_data import POSTS, posts_jsonl, store_for  # noqa: E402

_RAN = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def bench_posts() -> int:
    """How many simulated posts this run uses (1,000,000 unless ``REMIX_BENCH_POSTS`` says otherwise)."""
    return POSTS


@pytest.fixture(scope="session")
def posts_file() -> Path:
    """The cached JSON Lines file of the simulated posts."""
    return posts_jsonl(POSTS)


@pytest.fixture(scope="session")
def bench_store() -> Path:
    """A store holding the simulated posts (built once, cached; treat as read-only except for analysis tables)."""
    return store_for(POSTS)


@pytest.fixture(scope="session")
def record_figure():
    """``record_figure(key, value, baseline=None, note="")``: put a figure in the end-of-run table."""
    return bench_table.record


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_RAN] = any(item.get_closest_marker("benchmark") for item in session.items)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not config.stash.get(_RAN, False):
        return
    terminalreporter.write_line("")
    for line in bench_table.render(POSTS).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(also written to {bench_table.save(POSTS)})")
