"""Running the dashboard and a headless Chromium for tests and benchmarks."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

__all__ = ["REPO", "CHROMIUM", "CHROMEDRIVER", "free_port", "archivist", "Server", "make_browser"]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def archivist() -> list[str]:
    exe = Path(sys.executable).parent / "archivist"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dashboard.cli"]


class Server:
    """``archivist dashboard`` running in a subprocess on a free port."""

    def __init__(self, archive: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = archive.parent / f"dashboard-{self.port}.log"
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen([*archivist(), "dashboard", "--archive", str(archive), "--port", str(self.port)],
                                     cwd=REPO, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/_dash-layout", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._out.close()


def make_browser(width: int = 1600, height: int = 1100, extra_args: tuple[str, ...] = ()):
    """A headless Chromium with the flags this machine needs and a fresh profile: ``(driver, profile dir)``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Chromium is not installed (./run.sh test installs it)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--enable-unsafe-swiftshader",  # software WebGL: without it plotly's scattergl shows "not supported"
              f"--user-data-dir={profile}", f"--window-size={width},{height}", *extra_args):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    return driver, profile


@contextlib.contextmanager
def served(path: Path):
    """The dashboard on the archive at ``path`` and a headless Chromium, both stopped after."""
    server = Server(path)
    driver, profile = make_browser()
    try:
        yield server, driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        server.stop()
