"""The dashboard's HTTP surface, against a real `archivist dashboard` process on 127.0.0.1.

Cases: dashboard-no-security-headers-any-host (security headers, a Host allow-list against DNS
rebinding, a warning when bound beyond loopback, no absolute local path on pages) and
dashboard-drift-rate-hover-unescaped-root-id (every record string escaped in plotly labels).
"""
from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent / "browser"))
from dashboard_harness import Server, archivist, free_port  # noqa: E402

HOSTILE = Path(__file__).parent / "data" / "dashboard-hostile" / "hostile.jsonl"


@pytest.fixture(scope="module")
def hostile_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "private-archive"
    subprocess.run([*archivist(), "ingest", "jsonl", str(HOSTILE), "--archive", str(path)], check=True,
                   capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def server(hostile_archive: Path):
    s = Server(hostile_archive)
    yield s
    s.stop()


def get(port: int, path: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.putrequest("GET", path, skip_host=True)
    c.putheader("Host", host or f"127.0.0.1:{port}")
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_security_headers_on_pages_and_assets(server):
    for path in ("/", "/explore", "/_dash-layout", "/assets/style.css"):
        status, h, _ = get(server.port, path)
        assert status == 200, path
        csp = h["content-security-policy"]
        assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
        script = next(p for p in csp.split(";") if p.strip().startswith("script-src")).split()
        assert "'unsafe-inline'" not in script and "'self'" in script
        assert any(s.startswith("'sha256-") for s in script), "Dash's inline renderer script is allowed by its hash"
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "SAMEORIGIN"
        assert "werkzeug" not in h.get("server", "").lower() and "python" not in h.get("server", "").lower()


@pytest.mark.parametrize("host", ["rebind.attacker.example:{port}", "rebind.attacker.example", "127.0.0.1.nip.io:{port}"])
def test_foreign_host_header_is_refused(server, host):
    status, _, body = get(server.port, "/_dash-layout", host.format(port=server.port))
    assert status == 400
    assert b"--allowed-host" in body and b"a private prompt" not in body


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_loopback_host_names_are_answered(server, host):
    assert get(server.port, "/_dash-layout", host.format(port=server.port))[0] == 200


def test_no_absolute_local_path_on_pages(server, hostile_archive):
    for path in ("/", "/_dash-layout", "/archive"):
        assert str(hostile_archive).encode() not in get(server.port, path)[2]
    assert b"private-archive" in get(server.port, "/_dash-layout")[2]  # the folder's name is shown


def test_allowed_host_and_warning_beyond_loopback(hostile_archive):
    port = free_port()
    proc = subprocess.Popen([*archivist(), "dashboard", "--archive", str(hostile_archive), "--host", "0.0.0.0",
                             "--port", str(port), "--allowed-host", "archive.lan"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(port, "/_dash-layout")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.2)
        assert get(port, "/_dash-layout", f"archive.lan:{port}")[0] == 200
        assert get(port, "/_dash-layout", f"evil.example:{port}")[0] == 400
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    warning = [line for line in err.splitlines() if line.startswith("warning: --host 0.0.0.0")]
    assert len(warning) == 1 and "without a password" in warning[0] and "archive.lan" in warning[0]


def test_loopback_bind_prints_no_warning(server):
    assert "warning:" not in server.log.read_text(errors="replace")


def test_drift_rate_hover_escapes_the_root_id():
    from dashboard.figures import drift_rate_figure

    fig = drift_rate_figure(pl.DataFrame({"root": ['x:<a href="https://evil.example/phish">CLICK-ME</a>'],
                                          "size": [6], "drift_rate": [0.2], "root_text": ["a fox"]}))
    assert fig.data[0].hovertext[0] == 'a fox<br>x:&lt;a href="https://evil.example/phish"&gt;CLICK-ME&lt;/a&gt;'


def test_every_figure_label_escapes_and_shows_bidi_controls():
    """Tree labels (heatmap/Sankey ticks, shapes hover) and the explorer's hover escape markup and bidi."""
    from dashboard.figures import flow_heatmap, flow_sankey, tree_labels, tree_shapes_figure

    hostile = 'x:<b>bold</b>\u202e'
    names = tree_labels(pl.DataFrame({"root": [hostile, "x:2"], "root_text": [None, "<i>a</i> fox\u202e"]}))
    assert names == {hostile: "x:&lt;b&gt;bold&lt;/b&gt;⟨U+202E⟩", "x:2": "x:2 · &lt;i&gt;a&lt;/i&gt; fox⟨U+202E⟩"}
    flow = pl.DataFrame({"from_root": [hostile], "to_root": ["x:2"], "adoptions": [3]})
    for fig in (flow_heatmap(flow, {}), flow_sankey(flow, {})):
        labels = list(fig.data[0].x) if fig.data[0].type == "heatmap" else list(fig.data[0].node.label)
        assert all("<b>" not in str(l) and "\u202e" not in str(l) for l in labels), labels
    shapes = pl.DataFrame({"root": [hostile], "size": [3], "depth": [2], "breadth": [1], "sackin": [3],
                           "colless_like": [0.0], "structural_virality": [1.3]})
    hover = tree_shapes_figure(shapes).data[0].hovertext[0]
    assert "<b>" not in hover and "&lt;b&gt;" in hover
