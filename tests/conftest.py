"""Shared fixtures: the repository's data folder and a sample archive built once per session."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archive.ingest import ingest
from archive.sources.jsonl import JsonlSource
from archive.store import Archive

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SAMPLE = DATA / "sample"
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample (remixes + messy) ingested into a store. Treat as read-only:
    tests that write use ``sample_copy``."""
    path = tmp_path_factory.mktemp("sample") / "archive"
    arc = Archive.open(path, create=True)
    ingest(arc, JsonlSource([str(SAMPLE / "remixes.jsonl.gz"), str(SAMPLE / "messy.jsonl")]))
    return path


@pytest.fixture()
def sample_copy(sample_store: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the sample store."""
    dst = tmp_path / "archive"
    shutil.copytree(sample_store, dst)
    return dst


@pytest.fixture()
def empty_store(tmp_path: Path) -> Archive:
    return Archive.open(tmp_path / "archive", create=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (pytest-xdist, ``--dist loadgroup``), the Spark tests share one worker
    and the headless-Chromium tests another, so two JVMs or two browsers never compete for the
    cores and the browser tests' session store (``archivist demo``) is built once."""
    for item in items:
        for mark in ("spark", "browser"):
            if item.get_closest_marker(mark) is not None:
                item.add_marker(pytest.mark.xdist_group(mark))
                break
