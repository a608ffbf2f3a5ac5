"""The shared HTTP client, each behaviour checked against a real server on 127.0.0.1."""
from __future__ import annotations

import gzip
import time

import pytest

from archive.errors import SourceError
from archive.sources.http import USER_AGENT, HttpClient, HttpError, open_url
from tests.replay.server import Reply, ReplayServer


def client(**kw) -> HttpClient:
    kw.setdefault("allow_private", True)
    kw.setdefault("rate", None)
    kw.setdefault("backoff", 0.01)
    return HttpClient(**kw)


def test_user_agent_names_the_tool_and_connections_are_reused():
    with ReplayServer() as srv:
        srv.add("/a", {"ok": 1})
        with client() as c:
            for _ in range(3):
                assert c.get_json(srv.url + "/a") == {"ok": 1}
        assert [r.headers["user-agent"] for r in srv.requests] == [USER_AGENT] * 3
        assert USER_AGENT.startswith("remix-archivist/") and "(+https://github.com/remix-archivist)" in USER_AGENT


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/x", "http://localhost:1/x", "http://10.1.2.3/x",
                                 "http://[::1]:1/x", "http://169.254.169.254/latest/meta-data",
                                 "http://192.168.0.1/"])
def test_private_and_loopback_addresses_are_refused_without_allow_private(url):
    c = HttpClient(rate=None)
    with pytest.raises(SourceError, match="--allow-private"):
        c.get(url)
    assert c.stats.requests == 0  # refused before any connection


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x/"])
def test_only_http_and_https_schemes(url):
    with pytest.raises(SourceError, match="only http:// and https://"):
        HttpClient(allow_private=True).get(url)


def test_a_redirect_to_a_private_address_is_refused():
    with ReplayServer() as srv:
        srv.add("/r", Reply(302, b"", {"Location": "http://10.0.0.1/secret"}))
        c = HttpClient(rate=None, allow_private=False)
        # the test server itself is on loopback: pre-approve its address the way a checked public host
        # would be cached, so only the redirect target goes through the guard afresh
        c._resolved[("http", "127.0.0.1", int(srv.url.rsplit(":", 1)[1]))] = ["127.0.0.1"]
        with pytest.raises(SourceError, match="10.0.0.1 is a loopback or private address"):
            c.get(srv.url + "/r")
        assert srv.count("/r") == 1


def test_429_waits_what_retry_after_says_then_succeeds():
    with ReplayServer() as srv:
        srv.add("/p", Reply(429, {"error": "slow down"}, {"Retry-After": "1"}), {"page": 1})
        slept: list[float] = []
        c = client(sleep=slept.append)
        assert c.get_json(srv.url + "/p") == {"page": 1}
        assert slept == [1.0]
        assert c.stats.statuses == {429: 1, 200: 1}


def test_503_with_an_http_date_retry_after():
    with ReplayServer() as srv:
        when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
        srv.add("/p", Reply(503, b"busy", {"Retry-After": when}), {"ok": True})
        slept: list[float] = []
        assert client(sleep=slept.append).get_json(srv.url + "/p") == {"ok": True}
        assert len(slept) == 1 and 0 < slept[0] <= 2.0


def test_a_retry_after_longer_than_allowed_fails_with_a_clear_message():
    with ReplayServer() as srv:
        srv.add("/p", Reply(429, b"", {"Retry-After": "3600"}))
        with pytest.raises(HttpError, match="asks to wait 3600 s"):
            client(max_retry_after=60).get(srv.url + "/p")


def test_500s_are_retried_with_growing_backoff_then_give_up():
    with ReplayServer() as srv:
        srv.add("/flaky", Reply(500, b"oops"), Reply(502, b"oops"), {"ok": 1})
        slept: list[float] = []
        c = client(sleep=slept.append, backoff=1.0)
        assert c.get_json(srv.url + "/flaky") == {"ok": 1}
        assert len(slept) == 2 and 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0
        srv.add("/down", Reply(500, b"still broken"))
        with pytest.raises(HttpError, match=r"HTTP 500 after 3 tries \(still broken\)") as e:
            client(retries=2).get(srv.url + "/down")
        assert e.value.status == 500


def test_backoff_is_capped_and_a_429_without_retry_after_backs_off():
    with ReplayServer() as srv:
        srv.add("/capped", Reply(500, b"x"), Reply(500, b"x"), Reply(500, b"x"), Reply(429, b"x"), {"ok": 1})
        slept: list[float] = []
        c = client(sleep=slept.append, backoff=1.0, max_backoff=1.0)
        assert c.get_json(srv.url + "/capped") == {"ok": 1}
        # each wait lies between half and all of min(max_backoff, backoff * 2**n): here [0.5, 1.0]
        assert len(slept) == 4 and all(0.5 <= s <= 1.0 for s in slept)
        assert c.stats.retries == 4 and c.stats.backoff_s == pytest.approx(sum(slept))


def test_404_is_not_retried():
    with ReplayServer() as srv:
        c = client()
        with pytest.raises(HttpError, match="HTTP 404") as e:
            c.get(srv.url + "/gone")
        assert e.value.status == 404 and srv.count("/gone") == 1
        assert c.get_json(srv.url + "/gone", missing_ok=True) is None


def test_a_slow_response_past_the_timeout_is_retried_then_fails():
    with ReplayServer() as srv:
        srv.add("/slow", Reply(body={"late": True}, delay=1.0))
        c = client(timeout=0.2, retries=1)
        with pytest.raises(HttpError, match="timed out after 2 tries"):
            c.get(srv.url + "/slow")
        srv2_calls = srv.count("/slow")
        assert srv2_calls == 2


def test_a_slow_response_then_a_fast_one():
    with ReplayServer() as srv:
        srv.add("/slow", Reply(body={"late": True}, delay=1.0), {"late": False})
        assert client(timeout=0.3).get_json(srv.url + "/slow") == {"late": False}


def test_truncated_json_is_fetched_again():
    body = b'{"items": [1, 2, 3], "metadata": {"nextCursor": "abc"}}'
    with ReplayServer() as srv:
        # first reply: full Content-Length announced, half sent; second: complete but cut JSON; third: good
        srv.add("/t", Reply(body=body, truncate=20), Reply(body=body[:30]), Reply(body=body))
        c = client()
        assert c.get_json(srv.url + "/t")["metadata"]["nextCursor"] == "abc"
        assert c.stats.retries == 2
        srv.add("/bad", Reply(body=b'{"items": [1, 2'))
        with pytest.raises(HttpError, match="not valid JSON"):
            client(retries=1).get_json(srv.url + "/bad")


def test_rate_limit_per_host_spaces_requests():
    with ReplayServer() as srv, ReplayServer() as other:
        srv.add("/r", {"ok": 1})
        other.add("/r", {"ok": 1})
        c = client(rate=5.0)
        t = time.monotonic()
        for _ in range(6):
            c.get(srv.url + "/r")
        # 5 requests/s to one host: the sixth request goes at least a second after the first
        assert time.monotonic() - t >= 1.0
        waited = c.stats.rate_wait_s
        c.get(other.url + "/r")  # another host has its own budget: no wait
        assert c.stats.rate_wait_s == waited


def test_rate_limiter_spaces_evenly_and_catches_up_within_the_hard_limit():
    from archive.sources.http import RateLimiter

    clock = [0.0]  # a virtual clock: the limiter's decisions, free of this machine's timer noise

    def sleep(s: float) -> None:
        clock[0] += s

    rl = RateLimiter(10.0, clock=lambda: clock[0], sleep=sleep)
    starts = []
    for i in range(40):
        rl.wait("h")
        starts.append(clock[0])
        clock[0] += 0.001  # the request itself
        if i == 5:
            clock[0] += 0.35  # the requester falls behind (a slow page)
    gaps = [round(b - a, 6) for a, b in zip(starts, starts[1:])]
    assert gaps[:5] == [0.101] * 5  # evenly spaced at 10/s (less 1% for timer jitter)
    assert all(b - a >= 1.0 for a, b in zip(starts, starts[10:]))  # never more than 10 in any second
    assert 0.05 <= min(gaps[6:]) < 0.1  # catching up, at most twice the rate
    assert starts[-1] - starts[0] < 39 * 0.101 + 0.35 - 0.2  # most of the stall was made up


def test_secrets_never_appear_in_errors_and_go_only_to_the_first_host():
    secret = "sk-test-THIS-IS-SECRET-42"
    with ReplayServer() as srv:
        srv.add("/v", Reply(401, {"error": {"message": f"Incorrect API key provided: {secret}"}}))
        c = client(headers={"Authorization": f"Bearer {secret}"}, secrets=[secret])
        with pytest.raises(HttpError) as e:
            c.get(srv.url + "/v", params={"token": "qs-secret-value"})
        assert secret not in str(e.value) and "qs-secret-value" not in str(e.value)
        assert "***" in str(e.value)
        assert srv.requests[0].headers["authorization"] == f"Bearer {secret}"


def test_authorization_is_dropped_on_a_redirect_to_another_origin():
    with ReplayServer() as other, ReplayServer() as srv:
        other.add("/file", Reply(body=b"bytes", headers={"Content-Type": "video/mp4"}))
        srv.add("/content", Reply(302, b"", {"Location": other.url + "/file"}))
        c = client(headers={"Authorization": "Bearer abcdef"})
        assert c.get(srv.url + "/content").body == b"bytes"
        assert "authorization" in srv.requests[0].headers
        assert "authorization" not in other.requests[0].headers


def test_open_url_streams_with_peek_and_gzip(tmp_path):
    lines = b"".join(b'{"id": "x:%d"}\n' % i for i in range(1000))
    with ReplayServer() as srv:
        srv.add("/r.jsonl.gz", Reply(body=gzip.compress(lines), headers={"Content-Type": "application/gzip"}))
        f = open_url(srv.url + "/r.jsonl.gz", allow_private=True)
        assert f.peek(2)[:2] == b'{"'  # the client inflates gzip as it reads (within its caps)
        assert f.read() == lines
        f.close()
        raw = client().open(srv.url + "/r.jsonl.gz", inflate=False)
        assert gzip.GzipFile(fileobj=raw).read() == lines
        raw.close()
        with pytest.raises(SourceError, match="--allow-private"):
            open_url(srv.url + "/r.jsonl.gz")


def test_download_writes_sha256_named_file(tmp_path):
    import hashlib

    data = bytes(range(256)) * 1000
    with ReplayServer() as srv:
        srv.add("/v.mp4", Reply(body=data, truncate=1000), Reply(body=data, headers={"Content-Type": "video/mp4"}))
        got = client().download(srv.url + "/v.mp4", tmp_path / "media", suffix=".mp4")
    digest = hashlib.sha256(data).hexdigest()
    assert got["sha256"] == digest and got["bytes"] == len(data) and got["mime"] == "video/mp4"
    assert (tmp_path / "media" / f"{digest}.mp4").read_bytes() == data
    assert [p.name for p in (tmp_path / "media").iterdir()] == [f"{digest}.mp4"]  # no partial files left


def test_cli_ingest_jsonl_from_a_url_is_streamed_through_the_client(tmp_path):
    import json

    from click.testing import CliRunner

    from dashboard.cli import cli

    lines = b"".join(b'{"id": "w:%d", "source": "w", "created_at": "2026-01-01T00:00:00Z", "prompt": "p %d"}\n'
                     % (i, i) for i in range(500)) + b"not json\n"
    with ReplayServer() as srv:
        srv.add("/dump.jsonl.gz", Reply(body=gzip.compress(lines), headers={"Content-Type": "application/gzip"}))
        srv.add("/cut.jsonl", Reply(body=lines, truncate=len(lines) // 2))
        res = CliRunner().invoke(cli, ["ingest", "jsonl", srv.url + "/dump.jsonl.gz", "--allow-private",
                                       "--archive", str(tmp_path / "a"), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert (out["stored"], out["quarantined"]) == (500, 1)
        assert srv.requests[0].headers["user-agent"] == USER_AGENT
        refused = CliRunner().invoke(cli, ["ingest", "jsonl", srv.url + "/dump.jsonl.gz",
                                           "--archive", str(tmp_path / "a")])
        assert refused.exit_code == 1 and "--allow-private" in refused.output
        cut = CliRunner().invoke(cli, ["ingest", "jsonl", srv.url + "/cut.jsonl", "--allow-private",
                                       "--archive", str(tmp_path / "b")])
        assert cut.exit_code == 1 and "cut short" in cut.output


def test_an_unreachable_address_is_skipped_for_the_next_one():
    with ReplayServer() as srv:
        srv.add("/a", {"ok": 1})
        port = int(srv.url.rsplit(":", 1)[1])
        c = client(retries=2)
        # the host resolves to two addresses; the first refuses connections (nothing listens on 127.0.0.2:port)
        c._resolved[("http", "localhost", port)] = ["127.0.0.2", "127.0.0.1"]
        assert c.get_json(f"http://localhost:{port}/a") == {"ok": 1}
        assert c.stats.retries == 1
