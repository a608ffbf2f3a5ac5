"""Hostile servers on 127.0.0.1 against the one HTTP client: bounded reads, a total deadline, one downloader.

Each test is one case of ../shared/cases (named in its docstring) with its right value. The servers are real
(raw sockets where a well-behaved HTTP server could not misbehave enough); the product runs for real, as a
library or as the `archivist` command.
"""
from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from archive.ingest import ingest_records
from archive.snapshot import snapshot, verify
from archive.sources.http import USER_AGENT, AddressRefused, HttpClient, HttpError, NetPolicy, TooLarge, check_url
from archive.store import Archive
from tests.replay.server import Reply, ReplayServer

ARCHIVIST = str(Path(sys.executable).parent / "archivist")
DATA = Path(__file__).resolve().parent / "data"


class RawServer:
    """A raw-socket server on 127.0.0.1: ``serve(conn)`` answers each connection however it likes."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._stop = threading.Event()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            self._serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        threading.Thread(target=self._loop, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()


def _endless(conn: socket.socket, header: str, chunk: bytes, seconds: float = 20.0) -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{header}\r\n\r\n".encode())
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        conn.sendall(chunk)


def _run_measured(cmd: list[str], timeout: float = 60) -> tuple[int, str, int]:
    """Run ``cmd``; return (exit code, stderr, peak RSS in MB) of that one process (``os.wait4``)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = bytearray()
    reader = threading.Thread(target=lambda: err.extend(p.stderr.read()), daemon=True)
    reader.start()
    end = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > end:
            p.kill()  # the process this test started
            pid, status, usage = os.wait4(p.pid, 0)
            break
        time.sleep(0.05)
    p.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    return p.returncode, err.decode(errors="replace"), usage.ru_maxrss // 1024


def _baseline_rss(tmp_path: Path) -> int:
    """Peak RSS (MB) of the same ingest that fails at once (nothing listens on the port): the
    interpreter, the modules and the store it opens. A bounded read adds at most the page cap
    (64 MiB) and its buffers to this."""
    code, err, rss = _run_measured([ARCHIVIST, "ingest", "scratch", "1", "--base-url", "http://127.0.0.1:9",
                                    "--allow-private", "--timeout", "2", "--archive", str(tmp_path / "baseline")])
    assert code == 1, err
    return rss


# ---------------------------------------------------------------- network-huge-body-read-into-memory
def test_an_answer_announcing_5_gb_is_refused_before_it_is_read():
    """network-huge-body-read-into-memory: `Content-Length: 5000000000` -> one line naming the limit."""
    with RawServer(lambda c: _endless(c, "Content-Length: 5000000000", b"0" * 65536)) as srv:
        with pytest.raises(TooLarge, match=r"/projects/1: the answer is larger than 64 MiB .*--max-body\); stopped"):
            HttpClient(rate=None, allow_private=True).get_json(srv.url + "/projects/1")
        assert srv.connections == 1  # not retried


@pytest.mark.parametrize("header", ["Transfer-Encoding: chunked", "Content-Length: 5000000000"])
def test_the_scratch_crawl_against_an_endless_answer_stops_with_bounded_memory(tmp_path, header):
    """network-huge-body-read-into-memory (CLI, chunked too): exit 1 with one line; memory stays bounded."""
    block = b"0" * 65536
    chunk = b"10000\r\n" + block + b"\r\n" if "chunked" in header else block
    with RawServer(lambda c: _endless(c, header, chunk)) as srv:
        code, err, rss = _run_measured([ARCHIVIST, "ingest", "scratch", "1", "--base-url", srv.url,
                                        "--allow-private", "--archive", str(tmp_path / "a")])
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "is larger than 64 MiB" in lines[0] and "--max-body" in lines[0]
    assert 0 < rss < _baseline_rss(tmp_path) + 300, rss  # the case reached 1,600 MB in 8 s (64 MiB page cap + the process)


def test_max_body_is_configurable():
    with ReplayServer() as srv:
        srv.add("/p", {"x": "y" * 5000})
        with pytest.raises(TooLarge, match="larger than 4 KiB"):
            HttpClient(rate=None, allow_private=NetPolicy(private=True, max_body=4096)).get(srv.url + "/p")
        assert HttpClient(rate=None, allow_private=True).get_json(srv.url + "/p")["x"] == "y" * 5000


def test_cli_max_body_option(tmp_path):
    from click.testing import CliRunner

    from dashboard.cli import cli

    with ReplayServer() as srv:
        srv.add("/projects/1", {"id": 1, "title": "t" * 3000})
        res = CliRunner().invoke(cli, ["ingest", "scratch", "1", "--base-url", srv.url, "--allow-private",
                                       "--max-body", "0.001", "--archive", str(tmp_path / "a")])
    assert res.exit_code == 1 and "--max-body" in res.output and len(res.output.strip().splitlines()) == 1, res.output


# ---------------------------------------------------------------- network-jsonl-url-unbounded-line-and-gzip-bomb
def test_a_gzip_bomb_over_http_stops_with_one_line(tmp_path):
    """network-jsonl-url-unbounded-line-and-gzip-bomb (gzip): 16 members of 64 MiB of zeros, no newline."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9)
    body = member * 16  # 1 GiB inflated from ~1 MB
    with ReplayServer() as srv:
        srv.add("/records.jsonl", Reply(body=body, headers={"Content-Encoding": "gzip"}))
        srv.add("/records2.jsonl", Reply(body=gzip.compress(b"\n" * (64 << 20)) * 16))  # blank lines: magic only
        for name in ("records.jsonl", "records2.jsonl"):
            code, err, rss = _run_measured([ARCHIVIST, "ingest", "jsonl", f"{srv.url}/{name}", "--allow-private",
                                            "--archive", str(tmp_path / name)])
            assert code == 1, err
            assert err.strip().endswith("inflates more than 200 times its size (a gzip bomb?); stopped"), err
            assert len(err.strip().splitlines()) == 1
            assert 0 < rss < _baseline_rss(tmp_path) + 300, rss  # bounded: not the inflated size


def test_a_jsonl_line_without_end_is_quarantined_and_reading_goes_on(tmp_path):
    """network-jsonl-url-unbounded-line-and-gzip-bomb (plain): 80 MB with no newline, then one good record."""
    good = b'{"id": "w:1", "source": "w", "created_at": "2026-01-01T00:00:00Z"}\n'

    def serve(c: socket.socket) -> None:
        n = 80 << 20
        c.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {n + 1 + len(good)}\r\n\r\n".encode())
        for _ in range(n // 65536):
            c.sendall(b"0" * 65536)
        c.sendall(b"\n" + good)

    with RawServer(serve) as srv:
        code, err, rss = _run_measured([ARCHIVIST, "ingest", "jsonl", srv.url + "/r.jsonl", "--allow-private",
                                        "--archive", str(tmp_path / "a"), "--json"])
    assert code == 0, err
    q = Archive.open(tmp_path / "a").quarantine()
    assert q.get_column("reasons").to_list() == [[f"line longer than {64 << 20} bytes (the JSON Lines line limit); "
                                                  "skipped"]]
    assert Archive.open(tmp_path / "a").records(columns=["id"]).get_column("id").to_list() == ["w:1"]
    assert 0 < rss < _baseline_rss(tmp_path) + 300, rss  # a 5 GB line is never held


def test_every_overlong_line_is_quarantined_by_its_start_and_place(tmp_path):
    from archive.ingest import ingest
    from archive.sources.jsonl import JsonlSource

    good = b'{"id": "w:1", "source": "w", "created_at": "2026-01-01T00:00:00Z"}'
    f = tmp_path / "r.jsonl"
    f.write_bytes(b"x" * 500 + b"\n" + good + b"\n" + b"x" * 500 + b"\n")
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, JsonlSource([str(f)], max_line=100))
    assert (r.read, r.stored, r.quarantined) == (3, 1, 2)
    q = arc.quarantine().sort("location")
    assert q.get_column("location").to_list() == [f"{f}:1", f"{f}:3"]  # both kept, not one deduplicated
    assert all(raw.endswith("x" * 100 + "…") and len(raw) < 300 for raw in q.get_column("raw").to_list())
    assert ingest(arc, JsonlSource([str(f)], max_line=100)).quarantined == 2  # a rerun adds no rows
    assert arc.quarantine().height == 2


# ---------------------------------------------------------------- network-slow-drip-defeats-timeout
BODY = json.dumps({"id": 1, "title": "t", "history": {"created": "2024-01-01T00:00:00.000Z"},
                   "stats": {"remixes": 0}, "remix": {"parent": None, "root": None}}).encode()


def _drip(c: socket.socket) -> None:
    c.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n".encode())
    for i in range(len(BODY)):
        c.sendall(BODY[i:i + 1])
        time.sleep(1.0)


def test_a_1_byte_per_second_drip_ends_at_the_deadline():
    """network-slow-drip-defeats-timeout: 141 bytes at 1 byte/s, each byte within the 2 s read timeout."""
    with RawServer(_drip) as srv:
        c = HttpClient(rate=None, allow_private=True, timeout=2.0, deadline=3.0, retries=5, backoff=0.01)
        t0 = time.monotonic()
        with pytest.raises(HttpError, match=r"no complete answer within the 3 s deadline.* after 2 tries"):
            c.get_json(srv.url + "/projects/1")
        took = time.monotonic() - t0
        assert srv.connections == 2  # a server this slow is retried once, not five times
    assert took < 30  # not the 2 x 141 s the drip would take: each try ends at its 3 s deadline


def test_a_dripped_header_ends_at_the_deadline_too():
    def drip_headers(c: socket.socket) -> None:
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            c.sendall(bytes([b]))
            time.sleep(0.2)

    with RawServer(drip_headers) as srv:
        c = HttpClient(rate=None, allow_private=True, timeout=1.0, deadline=2.0, retries=0)
        with pytest.raises(HttpError, match="no answer within the 2 s deadline"):
            c.get(srv.url + "/x")


def test_a_dripped_stream_ends_when_it_falls_below_the_minimum_rate(tmp_path):
    with RawServer(_drip) as srv:
        c = HttpClient(rate=None, allow_private=True, timeout=2.0, deadline=2.0, retries=0)
        with pytest.raises(HttpError, match="slower than 16 KiB/s after 2 s"):
            c.download(srv.url + "/v.mp4", tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing kept, not even a partial file


# ---------------------------------------------------------------- allow-private says what it opens
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",
                                 "http://[fd00:ec2::254]/latest/meta-data/", "http://100.100.100.200/",
                                 "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/"])
def test_allow_private_never_opens_link_local_or_metadata_addresses(url):
    with pytest.raises(AddressRefused, match="link-local or cloud-metadata address, refused even with "
                                             "--allow-private; pass --allow-link-local"):
        check_url(url, allow_private=True)
    assert check_url(url, allow_private=NetPolicy(link_local=True))[0] == "http"


@pytest.mark.parametrize("url", ["http://0.0.0.0:1/", "http://[::]:1/", "http://224.0.0.1/"])
def test_unspecified_and_multicast_are_never_fetched(url):
    with pytest.raises(AddressRefused, match="never fetched"):
        check_url(url, allow_private=NetPolicy(private=True, link_local=True))


def test_allow_host_opens_only_the_named_host():
    policy = NetPolicy(hosts=frozenset({"localhost"}))
    assert check_url("http://localhost:1/x", allow_private=policy)[3] == ["127.0.0.1"]
    with pytest.raises(AddressRefused, match=r"--allow-host 127.0.0.1"):
        check_url("http://127.0.0.1:1/x", allow_private=policy)
    with ReplayServer() as srv:
        port = srv.url.rsplit(":", 1)[1]
        srv.add("/r", Reply(302, b"", {"Location": f"http://127.0.0.1:{port}/secret"}))
        srv.add("/secret", b"internal")
        c = HttpClient(rate=None, allow_private=policy)
        with pytest.raises(AddressRefused, match="127.0.0.1 is a loopback or private address"):
            c.get(f"http://localhost:{port}/r")  # the named host only; a redirect elsewhere is checked afresh
        assert srv.count("/secret") == 0


def test_cli_allow_host_and_allow_link_local_options(tmp_path):
    from click.testing import CliRunner

    from dashboard.cli import cli

    with ReplayServer() as srv:
        port = srv.url.rsplit(":", 1)[1]
        srv.add("/projects/1", {"id": 1, "title": "t", "history": {"created": "2024-01-01T00:00:00.000Z"},
                                "stats": {"remixes": 0}, "remix": {"parent": None, "root": None}})
        srv.add("/projects/1/remixes", [])
        ok = CliRunner().invoke(cli, ["ingest", "scratch", "1", "--base-url", f"http://localhost:{port}",
                                      "--allow-host", "localhost", "--archive", str(tmp_path / "a"), "--json"])
        assert ok.exit_code == 0, ok.output
        refused = CliRunner().invoke(cli, ["ingest", "scratch", "1", "--base-url", f"http://127.0.0.1:{port}",
                                           "--allow-host", "localhost", "--archive", str(tmp_path / "a")])
        assert refused.exit_code == 1 and "--allow-host 127.0.0.1" in refused.output
    meta = CliRunner().invoke(cli, ["ingest", "scratch", "1", "--base-url", "http://169.254.169.254",
                                    "--allow-private", "--archive", str(tmp_path / "b")])
    assert meta.exit_code == 1 and "refused even with --allow-private" in meta.output


# ---------------------------------------------------------------- snapshot media: one downloader
def _media_archive(tmp_path: Path, urls: list[str], rid: str = "t:1") -> Archive:
    arc = Archive.open(tmp_path / "arc", create=True)
    ingest_records(arc, [{"id": rid, "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "p",
                          "media": [{"url": u} for u in urls]}])
    return arc


def _index(bag: Path) -> dict[str, dict]:
    return {r["url"]: r for r in json.loads((bag / "data" / "media" / "index.json").read_text("utf-8"))}


def test_a_media_body_cut_short_is_never_stored_as_ok(tmp_path):
    """snapshot-media-truncated-download-stored-ok: 400 of 1000 bytes -> failed, no file; the full one ok."""
    full = bytes(range(250)) * 4

    def serve(c: socket.socket) -> None:
        # the request line was read by RawServer; answer both paths from one handler by peeking at nothing:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n")
        c.sendall(full[:400])

    with RawServer(serve) as cut, ReplayServer() as ok:
        ok.add("/full.png", Reply(body=full, headers={"Content-Type": "image/png"}))
        arc = _media_archive(tmp_path, [ok.url + "/full.png", cut.url + "/cut.png"])
        bag = snapshot(arc, "t:1", media=True, allow_private=True, out=tmp_path / "bags")
        tries = cut.connections
    index = _index(bag)
    good, bad = index[ok.url + "/full.png"], index[cut.url + "/cut.png"]
    assert good["status"] == "ok" and (bag / "data" / good["file"]).read_bytes() == full
    assert bad["status"].startswith("failed: ") and "cut short (400 of 1000 bytes)" in bad["status"]
    assert bad["file"] is None and tries == 4  # retried three times, then listed as failed
    assert not list((bag / "data" / "media").rglob(".part-*"))
    assert verify(bag).ok


def test_snapshot_media_go_through_the_polite_client(tmp_path):
    """snapshot-media-not-the-polite-client: User-Agent, rate limit per host, 429 + Retry-After retried."""
    with ReplayServer() as srv:
        for i in range(25):
            srv.add(f"/m{i}.png", Reply(body=b"\x89PNG\r\n\x1a\n%d" % i, headers={"Content-Type": "image/png"}))
        srv.script("/busy.png", Reply(429, b"", {"Retry-After": "1"}))
        srv.add("/busy.png", Reply(body=b"\x89PNG\r\n\x1a\nbusy"))
        urls = [f"{srv.url}/m{i}.png" for i in range(25)] + [srv.url + "/busy.png"]
        bag = snapshot(_media_archive(tmp_path, urls), "t:1", media=True, allow_private=True, out=tmp_path / "b")
        seen = list(srv.requests)
    index = _index(bag)
    assert all(index[u]["status"] == "ok" for u in urls), [index[u]["status"] for u in urls]
    assert {r.headers["user-agent"] for r in seen} == {USER_AGENT}
    assert sum(1 for r in seen if r.path == "/busy.png") == 2  # the 429, then the file
    times = sorted(r.at for r in seen)
    # MEDIA_RATE: 10 requests per second to one host (the case saw 51 in 0.04 s). The span is a lower
    # bound a busy machine cannot break; arrival times carry scheduling jitter, so the window checked is
    # a little under the second the client keeps.
    assert times[-1] - times[0] >= (len(times) - 10) / 10
    most = max(sum(1 for t in times if s <= t < s + 0.8) for s in times)
    assert most <= 10, most


def test_snapshot_media_redirects_and_rebinding_are_refused(tmp_path):
    """snapshot-media-redirect-and-rebinding-ssrf and snapshot-media-redirect-to-private-address.

    `public.example` and `rebind.example` are made public names by the case's netguard (loaded into the
    archivist process only): connects to the fake public address go to 127.0.0.1, any other non-loopback
    connect is blocked and logged; `rebind.example` answers public first and 127.0.0.1 after.
    """
    seen: list[tuple[str, str]] = []
    with ReplayServer() as srv:
        port = srv.url.rsplit(":", 1)[1]
        targets = {"/media/to-loopback.png": f"http://127.0.0.1:{port}/secret/a",
                   "/media/to-localhost.png": f"http://localhost:{port}/secret/b",
                   "/media/to-mapped.png": f"http://[::ffff:127.0.0.1]:{port}/secret/c",
                   "/media/to-metadata.png": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                   "/media/to-10.png": "http://10.0.0.1/admin",
                   "/media/to-ftp.png": f"ftp://127.0.0.1:{port}/x"}

        def handler(path: str, query: dict, headers: dict) -> Reply:
            seen.append((headers.get("host", ""), path))
            if path in targets:
                return Reply(302, b"", {"Location": targets[path]})
            body = b"SECRET-ON-LOOPBACK\n" if path.startswith("/secret") else b"\x89PNG\r\n\x1a\nfine"
            return Reply(body=body, headers={"Content-Type": "image/png"})

        srv.route("/", handler)
        cases = {"direct-loopback": f"http://127.0.0.1:{port}/secret/direct",
                 "public-ok": f"http://public.example:{port}/media/ok.png",
                 **{f"redirect-{p.split('-', 1)[1][:-4]}": f"http://public.example:{port}{p}" for p in targets},
                 "dns-rebinding": f"http://rebind.example:{port}/secret/rebind.png"}
        arc = tmp_path / "arc"
        a = Archive.open(arc, create=True)
        ingest_records(a, [{"id": f"t:{k}", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": k,
                            "media": [{"url": u}]} for k, u in cases.items()])
        guard = tmp_path / "guard.jsonl"
        env = {**os.environ, "PYTHONPATH": str(DATA / "snapshot-media-redirect-and-rebinding-ssrf" / "netguard"),
               "NETGUARD_LOG": str(guard), "NETGUARD_FAKE": "public.example=93.184.216.34,"
               "rebind.example=93.184.216.34;127.0.0.1", "NETGUARD_NAT": "93.184.216.34=127.0.0.1"}
        status: dict[str, tuple[str, bytes | None]] = {}
        for k in cases:
            out = tmp_path / "bags" / k
            subprocess.run([ARCHIVIST, "snapshot", f"t:{k}", "--media", "--archive", str(arc), "-o", str(out)],
                           env=env, capture_output=True, check=True, timeout=120)  # no --allow-private
            bag = next(out.iterdir())
            row = next(iter(_index(bag).values()))
            status[k] = (row["status"], (bag / "data" / row["file"]).read_bytes() if row["file"] else None)
    assert status["public-ok"] == ("ok", b"\x89PNG\r\n\x1a\nfine")  # the emulated public host works
    for k, (st, stored) in status.items():
        if k in ("public-ok", "dns-rebinding"):
            continue
        assert stored is None, (k, stored)
        assert st.startswith("refused: "), (k, st)
        assert ("only http:// and https://" if k == "redirect-ftp" else "link-local or cloud-metadata"
                if k == "redirect-metadata" else "is a loopback or private address") in st, (k, st)
    # the only secret path ever asked for is the rebinding one, and it was asked of the checked public
    # address (netguard NATs it to this server): the name was resolved once, checked and pinned
    assert [p for _, p in seen if p.startswith("/secret")] == ["/secret/rebind.png"]
    events = [json.loads(line) for line in guard.read_text().splitlines()]
    connects = [e for e in events if e["ev"].startswith("connect")]
    assert {e["to"][0] for e in connects} == {"93.184.216.34"}  # never 127.0.0.1, 169.254.169.254 or 10.0.0.1
    rebind = [e for e in events if e["ev"] == "resolve" and e["host"] == "rebind.example"]
    assert len(rebind) == 1 and rebind[0]["answer"] == ["93.184.216.34"]  # the 127.0.0.1 answer never asked for
