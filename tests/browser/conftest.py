"""Browser fixtures: the demo archive, the dashboard in a subprocess, one headless Chromium.

The store is built once per session with ``archivist demo --no-serve`` (the same
command a person runs); each browser module gets one server and one browser.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from dashboard_harness import REPO, Server, archivist, make_browser

SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo archive (sample ingested and analysed), built by the real command."""
    path = tmp_path_factory.mktemp("demo") / "archive"
    subprocess.run([*archivist(), "demo", "--no-serve", "--archive", str(path)], check=True, cwd=REPO,
                   capture_output=True, timeout=300)
    return path


@pytest.fixture(scope="module")
def server(demo_store: Path):
    s = Server(demo_store)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    driver, profile = make_browser()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
