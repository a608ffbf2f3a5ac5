"""The report as PDF: figures drawn by kaleido, the HTML page printed by the system Chromium."""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from archive.store import Archive  # noqa: F401  (doctests)
from lineage.errors import LineageError
from lineage.report.data import ReportData, report_data  # noqa: F401  (report_data: doctests)
from lineage.report.figures import _figures
from lineage.report.html import _e, _html_body, _page

__all__ = ["to_pdf"]


def _chromium() -> str:
    """The Chromium that prints PDFs (and that kaleido draws with): ``$BROWSER_PATH`` or the system's.

    A ``$BROWSER_PATH`` that is not a working Chromium is refused at once, with what to do
    (kaleido would otherwise wait for it for ever).
    """
    given = os.environ.get("BROWSER_PATH")
    if given:
        path = shutil.which(given)
        ok = False
        if path:
            try:
                out = subprocess.run([path, "--version"], capture_output=True, timeout=20)
                ok = out.returncode == 0 and b"chrom" in out.stdout.lower()
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        if not ok:
            raise LineageError(f"BROWSER_PATH={given} is not a working Chromium (`{given} --version` failed): "
                               "point it at chromium (Debian: /usr/bin/chromium) or unset it")
        return path  # type: ignore[return-value]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise LineageError("no Chromium found for the PDF: install chromium (Debian: apt install chromium) "
                       "or set BROWSER_PATH")


def _draw(pio: Any, kaleido: Any, fig: dict) -> bytes:
    """One figure as SVG through kaleido's running server; once more, on a fresh server, when kaleido's page
    was not ready (under load its Chromium answered "kaleido_scopes is not defined": its scripts had not
    loaded yet, and the whole report failed)."""
    try:
        return pio.to_image(fig, format="svg", validate=False)
    except Exception as first:  # noqa: BLE001  (kaleido's errors have no common class across its versions)
        kaleido.stop_sync_server(silence_warnings=True)
        kaleido.start_sync_server(silence_warnings=True)
        try:
            return pio.to_image(fig, format="svg", validate=False)
        except Exception as again:  # noqa: BLE001
            raise LineageError(f"kaleido could not draw the figure {fig['layout']['title']['text']!r} for the PDF "
                               f"(twice: {(str(first).splitlines() or [type(first).__name__])[0][:200]}); the HTML report has the same "
                               "figures (--format html)") from again


def to_pdf(d: ReportData) -> bytes:
    """The report as PDF: figures drawn by kaleido (SVG), the page printed by the system Chromium.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "x"}])
    >>> to_pdf(report_data(a, "t:1"))[:5]
    b'%PDF-'
    """
    import warnings

    import kaleido
    import plotly.io as pio

    figs = {}
    drawn = _figures(d)
    chromium = _chromium()  # checked before kaleido starts it
    os.environ["BROWSER_PATH"] = chromium
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kaleido warns that per-call options are ignored by its server
        kaleido.start_sync_server(silence_warnings=True)  # one Chromium for every figure
        try:
            for k, f in drawn.items():
                f["layout"]["width"] = 900
                if k == "tree":  # fits below the brief on the first page (a taller one leaves it half blank)
                    f["layout"]["height"] = min(f["layout"].get("height") or 450, 340)
                for tr in f["data"]:
                    tr["type"] = tr["type"].replace("scattergl", "scatter")  # vector output for print
                svg = _draw(pio, kaleido, f)
                figs[k] = (f"<figure><img alt='{_e(f['layout']['title']['text'])}' "
                           f"src='data:image/svg+xml;base64,{base64.b64encode(svg).decode()}'></figure>")
        finally:
            kaleido.stop_sync_server(silence_warnings=True)
    page = _page(d, _html_body(d, figs))
    with tempfile.TemporaryDirectory(prefix="remix-report-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(page, "utf-8")
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", src.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise LineageError("Chromium took more than 2 minutes to print the report") from None
        if not out.exists() or out.stat().st_size == 0:
            raise LineageError(f"Chromium could not print the report (exit {proc.returncode}): "
                               f"{proc.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:]}")
        return out.read_bytes()
