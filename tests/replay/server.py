"""A real, threaded HTTP server on 127.0.0.1 that replays recorded API responses.

Tests start one per test (``with ReplayServer() as srv``), register responses by
path (``srv.add("/projects/1", body)``) or a handler (``srv.route("/videos", fn)``)
and point a connector at ``srv.url``. Scripted trouble: a list of responses for
one path is served in order (e.g. a 429 with ``Retry-After``, then the page),
``Reply(delay=...)`` answers slowly, ``Reply(truncate=n)`` announces the full
length but sends ``n`` bytes and hangs up. Every request is logged with its
headers and arrival time.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HERE = Path(__file__).resolve().parent


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: int | None = None  # send only this many bytes of the body, then close

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


Handler = Callable[[str, dict[str, str], dict[str, str]], "Reply | Any"]


def load(name: str) -> Any:
    """A recorded response file under tests/replay/ (e.g. ``scratch/project_1001.json``)."""
    return json.loads((HERE / name).read_text("utf-8"))


class _Quiet(ThreadingHTTPServer):
    """A server that lets a client hang up without a word: a connection the client reset or closed (what
    --max-body and the timeouts do on purpose) printed socketserver's traceback to stderr, which a
    CliRunner test read as the command's own output (`test_cli_max_body_option` failed so, under load)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class ReplayServer:
    """Serve scripted replies on 127.0.0.1 (a random free port) from a background thread."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay  # added to every reply (a slow server)
        self.requests: list[Seen] = []
        self._fixed: dict[str, list[Reply]] = {}
        self._scripts: dict[str, list[Reply]] = {}
        self._routes: list[tuple[str, Handler]] = []
        self._lock = threading.Lock()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer._serve(self)

        self._httpd = _Quiet(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add(self, path: str, *replies: Reply | Any) -> None:
        """Serve ``replies`` for ``path`` (with its query, any order) in turn; the last one repeats."""
        key = _key(path)
        with self._lock:
            self._fixed.setdefault(key, []).extend(r if isinstance(r, Reply) else Reply(body=r) for r in replies)

    def script(self, path: str, *replies: Reply | Any) -> None:
        """Serve ``replies`` for ``path`` once each, in turn, before whatever else answers it."""
        key = _key(path)
        with self._lock:
            self._scripts.setdefault(key, []).extend(r if isinstance(r, Reply) else Reply(body=r) for r in replies)

    def route(self, prefix: str, handler: Handler) -> None:
        """Answer every path starting with ``prefix`` with ``handler(path, query, headers)``."""
        self._routes.append((prefix, handler))

    def count(self, prefix: str = "") -> int:
        return sum(1 for r in self.requests if r.path.startswith(prefix))

    def _reply_for(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        key = _key(path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""))
        with self._lock:
            scripted = self._scripts.get(key) or self._scripts.get(_key(path))
            if scripted:
                return scripted.pop(0)
            queue = self._fixed.get(key) or self._fixed.get(_key(path))
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        for prefix, handler in self._routes:
            if path.startswith(prefix):
                r = handler(path, query, headers)
                return r if isinstance(r, Reply) else Reply(body=r)
        return Reply(404, {"code": "NotFound", "message": f"{path} not found"})

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append(Seen(parts.path, query, headers, time.monotonic()))
        reply = self._reply_for(parts.path, query, headers)
        if self.delay or reply.delay:
            time.sleep(self.delay + reply.delay)
        body = reply.payload()
        try:
            h.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            if reply.truncate is not None:
                h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body if reply.truncate is None else body[: reply.truncate])
            h.wfile.flush()
            if reply.truncate is not None:
                h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            h.close_connection = True


def _key(path_query: str) -> str:
    parts = urlsplit(path_query)
    q = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return parts.path + ("?" + "&".join(f"{k}={v}" for k, v in q) if q else "")
