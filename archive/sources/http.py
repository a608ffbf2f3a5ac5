"""The one polite HTTP client every network source uses.

What it guarantees, for every request a connector makes:

- **only http(s), never private networks**: the URL's scheme must be ``http`` or
  ``https`` and every address its host resolves to must be public; loopback,
  private, link-local, reserved and multicast addresses are refused unless the
  user passes ``--allow-private``. The connection goes to the address that was
  checked (no second DNS lookup), and each redirect is checked again;
- **timeouts** on connect and on every read;
- **a per-host rate limit**: requests to one host are spaced at least
  ``1/rate`` seconds apart (retries included), so ``rate=10`` never exceeds
  10 requests in any second;
- **retries with backoff**: connection errors, timeouts, truncated bodies and
  500/502/504 are retried with exponential backoff and jitter; 429 and 503
  wait what ``Retry-After`` says (seconds or an HTTP date);
- **secrets stay secret**: API keys come from the environment, travel only in
  headers, and are replaced by ``***`` in every error message;
- **a User-Agent naming the tool**: :data:`USER_AGENT`.

Examples
--------
>>> check_url("ftp://example.org/x")
Traceback (most recent call last):
...
archive.errors.SourceError: ftp://example.org/x: only http:// and https:// URLs can be fetched
>>> check_url("http://127.0.0.1:9/")
Traceback (most recent call last):
...
archive.errors.SourceError: http://127.0.0.1:9/: 127.0.0.1 is a loopback or private address; pass --allow-private to fetch from it
>>> check_url("http://127.0.0.1:9/", allow_private=True)[:3]
('http', '127.0.0.1', 9)
"""
from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import os
import random
import re
import socket
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

import orjson

from archive.errors import SourceError

__all__ = [
    "USER_AGENT",
    "HttpClient",
    "HttpError",
    "Response",
    "RateLimiter",
    "ClientStats",
    "check_url",
    "open_url",
    "redact",
    "retry_after_seconds",
    "env_secret",
]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("remix-archivist")
    except Exception:  # not installed (running from a source tree)
        return "0"


USER_AGENT = f"remix-archivist/{_version()} (+https://github.com/remix-archivist)"
_RETRY_STATUS = frozenset({500, 502, 504})
_WAIT_STATUS = frozenset({429, 503})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_QUERY_SECRET = re.compile(r"(?i)\b((?:api[_-]?)?key|token|secret|password|auth)=([^&\s\"']+)")


class HttpError(SourceError):
    """A request that failed for good: ``status`` is the HTTP status (``None`` when none came)."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret value and every ``key=``/``token=`` query value replaced by ``***``.

    >>> redact("GET https://x.org/a?token=abc123&n=1 failed for sk-live-999", ["sk-live-999"])
    'GET https://x.org/a?token=***&n=1 failed for ***'
    """
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}=***", text)


def env_secret(name: str, *, required: bool = True) -> str | None:
    """Read an API key from the environment variable ``name`` (never from options or files).

    >>> os.environ["RA_DOCTEST_KEY"] = "k-123"
    >>> env_secret("RA_DOCTEST_KEY")
    'k-123'
    >>> env_secret("RA_DOCTEST_MISSING", required=False) is None
    True
    """
    value = os.environ.get(name, "").strip()
    if not value:
        if required:
            raise SourceError(f"{name} is not set: export your API key as {name}=... (keys are read "
                              "from the environment only and never stored)")
        return None
    return value


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool = False) -> tuple[str, str, int, list[str]]:
    """Check that ``url`` may be fetched; return ``(scheme, host, port, addresses)``.

    The host is resolved and *every* address must be public unless ``allow_private``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"{url}: only http:// and https:// URLs can be fetched")
    host = parts.hostname
    if not host:
        raise SourceError(f"{url}: the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as e:
        raise SourceError(f"{url}: bad port ({e})") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise HttpError(f"{url}: cannot resolve {host} ({e.strerror})", url=url) from None
    addrs: list[str] = []
    for info in infos:
        a = str(info[4][0]).split("%", 1)[0]
        if a not in addrs:
            addrs.append(a)
    if not allow_private:
        for a in addrs:
            if not _is_public(ipaddress.ip_address(a)):
                what = host if host == a else f"{host} resolves to {a}, which"
                raise SourceError(f"{url}: {what} is a loopback or private address; "
                                  "pass --allow-private to fetch from it")
    return scheme, host, port, addrs


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    >>> retry_after_seconds("3"), retry_after_seconds(None), retry_after_seconds("soon")
    (3.0, None, None)
    >>> retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
    10.0
    """
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return float(v)
    try:
        when = parsedate_to_datetime(v).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class RateLimiter:
    """At most ``rate`` requests per second to each host, evenly spaced (thread-safe).

    Requests follow an even schedule ``1 / rate`` apart (plus 1% for timer jitter).
    A requester that fell behind (a slow page, a busy process) may catch up at up
    to twice the rate, but never beyond the hard limit: any window of
    ``max(1, 1/rate)`` seconds holds at most ``max(1, floor(rate * window))`` requests.

    >>> rl = RateLimiter(100.0)
    >>> t = time.monotonic(); _ = [rl.wait("h") for _ in range(101)]
    >>> time.monotonic() - t >= 1.0   # 101 requests need a second at 100/s
    True
    >>> RateLimiter(None).wait("h")
    0.0
    """

    def __init__(self, rate: float | None, *, per_host: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate is not None and rate <= 0:
            raise SourceError(f"rate limit must be positive, got {rate}")
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self.per_host = dict(per_host or {})
        self._next: dict[str, float] = {}
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> float:
        """Block until a request to ``host`` may go; return the seconds slept."""
        rate = self.per_host.get(host, self.rate)
        if not rate:
            return 0.0
        window = max(1.0, 1.0 / rate) * 1.01  # a 1% margin for timer jitter
        most = max(1, int(rate * window / 1.01 + 1e-9))
        step = window / most  # the even schedule: exactly `most` requests per window
        with self._lock:
            now = self._clock()
            sent = self._sent.setdefault(host, deque(maxlen=most))
            ideal = max(self._next.get(host, now), now - window)  # the even schedule, at most a window behind
            at = max(now, ideal)
            if sent:
                at = max(at, sent[-1] + 0.5 * step)  # catching up: at most twice the rate
            if len(sent) == most:
                at = max(at, sent[0] + window)  # the hard limit per window
            sent.append(at)
            self._next[host] = ideal + step
        delay = at - now
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)


@dataclass
class ClientStats:
    """What a client did: requests sent, retries, seconds slept for the rate limit and for backoff."""

    requests: int = 0
    retries: int = 0
    rate_wait_s: float = 0.0
    backoff_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass
class Response:
    """A complete response: ``status``, lower-case ``headers``, ``body`` bytes and the final ``url``."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Conn(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand (no second DNS lookup)."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TLSConn(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _Body(io.RawIOBase):
    """A streamed response body; closing it closes its connection."""

    def __init__(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, url: str) -> None:
        self._resp, self._conn, self._url = resp, conn, url
        self._expected, self._got = resp.length, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            n = self._resp.readinto(b)
        except (OSError, http.client.HTTPException) as e:
            raise OSError(f"{self._url}: the connection broke mid-stream ({type(e).__name__}: {e})") from None
        self._got += n
        if n == 0 and len(b) and self._expected is not None and self._got < self._expected:
            raise OSError(f"{self._url}: the body was cut short ({self._got} of {self._expected} bytes)")
        return n

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
            self._conn.close()
        super().close()


_Key = tuple[str, str, int]


class HttpClient:
    """A polite HTTP client: see the module docstring for what it guarantees.

    ``rate`` is requests per second per host (``None``: no limit), ``per_host``
    overrides it for named hosts. ``headers`` are sent with every request to the
    first host the client talks to (e.g. ``Authorization``); ``secrets`` are
    redacted from every error message.
    """

    def __init__(self, *, rate: float | None = 5.0, per_host: Mapping[str, float] | None = None,
                 timeout: float = 30.0, retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 300.0, allow_private: bool = False,
                 headers: Mapping[str, str] | None = None, secrets: Iterable[str] = (),
                 user_agent: str = USER_AGENT, sleep: Callable[[float], None] = time.sleep) -> None:
        self.limiter = RateLimiter(rate, per_host=per_host)
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self.max_retry_after = max_retry_after
        self.allow_private = allow_private
        self.headers = dict(headers or {})
        self.secrets = [s for s in secrets if s]
        self.user_agent = user_agent
        self.stats = ClientStats()
        self._sleep = sleep
        self._pool: dict[_Key, http.client.HTTPConnection] = {}
        self._resolved: dict[tuple[str, str, int], list[str]] = {}
        self._auth_origin: tuple[str, str, int] | None = None
        self._ssl: ssl.SSLContext | None = None

    # -- plumbing -------------------------------------------------------------------------------------
    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        for c in self._pool.values():
            c.close()
        self._pool.clear()

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def _address(self, url: str) -> tuple[str, str, int, str]:
        parts = urlsplit(url)
        key = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or 0)
        addrs = self._resolved.get(key)
        if addrs is None:
            scheme, host, port, addrs = check_url(url, allow_private=self.allow_private)
            self._resolved[key] = addrs
            return scheme, host, port, addrs[0]
        port = parts.port or (443 if key[0] == "https" else 80)
        return key[0], key[1], port, addrs[0]

    def _next_address(self, url: str) -> None:
        """After a failed connection, try the host's next checked address (IPv6 then IPv4, say)."""
        parts = urlsplit(url)
        addrs = self._resolved.get((parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or 0))
        if addrs and len(addrs) > 1:
            addrs.append(addrs.pop(0))

    def _connection(self, scheme: str, host: str, port: int, ip: str) -> tuple[http.client.HTTPConnection, bool]:
        key = (scheme, host, port)
        conn = self._pool.pop(key, None)
        if conn is not None:
            return conn, True
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            return _TLSConn(host, port, ip, self.timeout, self._ssl), False
        return _Conn(host, port, ip, self.timeout), False

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * (2 ** attempt)) * (0.5 + random.random() / 2)

    def _pause(self, seconds: float) -> None:
        self.stats.backoff_s += seconds
        self._sleep(seconds)

    # -- requests -------------------------------------------------------------------------------------
    def request(self, url: str, *, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, stream: bool = False) -> Any:
        """GET ``url`` (with ``params``); return a :class:`Response`, or a file-like body when ``stream``.

        Raises :class:`HttpError` for a status that is not retried (404 ...) or
        when the retries run out; :class:`SourceError` when the URL is refused.

        >>> HttpClient().request("http://169.254.169.254/latest/meta-data/")
        Traceback (most recent call last):
        ...
        archive.errors.SourceError: http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a loopback or private address; pass --allow-private to fetch from it
        """
        if params:
            q = {k: v for k, v in params.items() if v is not None}
            if q:
                url = f"{url}{'&' if '?' in url else '?'}{urlencode(q)}"
        first = urlsplit(url)
        if self._auth_origin is None:
            self._auth_origin = (first.scheme, first.hostname or "", first.port or 0)
        redirects = 0
        attempt = 0
        while True:
            scheme, host, port, ip = self._address(url)
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            hdrs = {"User-Agent": self.user_agent, "Accept": "*/*", "Accept-Encoding": "identity"}
            if (parts.scheme, parts.hostname or "", parts.port or 0) == self._auth_origin:
                hdrs.update(self.headers)
            hdrs.update(headers or {})
            self.stats.rate_wait_s += self.limiter.wait(f"{host}:{port}")
            conn, reused = self._connection(scheme, host, port, ip)
            self.stats.requests += 1
            try:
                conn.request("GET", target, headers=hdrs)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                connected = conn.sock is not None
                conn.close()
                if reused and isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                             BrokenPipeError)):
                    continue  # a keep-alive connection the server had closed: not a real failure
                if not connected:
                    self._next_address(url)  # could not connect to this address: try the next one
                attempt = self._retry_or_raise(url, attempt, f"{type(e).__name__}: {e}")
                continue
            status = resp.status
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            rh = {k.lower(): v for k, v in resp.getheaders()}
            if status == 200 and stream:
                return io.BufferedReader(_Body(resp, conn, self._redact(url)), buffer_size=1 << 16)
            try:
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                attempt = self._retry_or_raise(url, attempt, f"body cut short ({type(e).__name__})")
                continue
            if resp.will_close:
                conn.close()
            else:
                self._pool[(scheme, host, port)] = conn
            if status in _REDIRECTS and "location" in rh:
                redirects += 1
                if redirects > _MAX_REDIRECTS:
                    raise HttpError(self._redact(f"{url}: more than {_MAX_REDIRECTS} redirects"), status=status,
                                    url=self._redact(url))
                url = urljoin(url, rh["location"])
                continue
            if 200 <= status < 300:
                return Response(status, rh, body, url)
            if status in _WAIT_STATUS or status in _RETRY_STATUS:
                wait = retry_after_seconds(rh.get("retry-after")) if status in _WAIT_STATUS else None
                if wait is not None and wait > self.max_retry_after:
                    raise HttpError(self._redact(f"GET {url}: HTTP {status}, the server asks to wait {wait:.0f} s "
                                                 f"(more than {self.max_retry_after:.0f} s); run again later"),
                                    status=status, url=self._redact(url))
                attempt = self._retry_or_raise(url, attempt, f"HTTP {status}", wait=wait, status=status,
                                               body=body)
                continue
            raise HttpError(self._redact(f"GET {url}: HTTP {status} {_snippet(body)}".rstrip()), status=status,
                            url=self._redact(url))

    def _retry_or_raise(self, url: str, attempt: int, why: str, *, wait: float | None = None,
                        status: int | None = None, body: bytes = b"") -> int:
        if attempt >= self.retries:
            raise HttpError(self._redact(f"GET {url}: {why} after {attempt + 1} tries {_snippet(body)}").rstrip(),
                            status=status, url=self._redact(url))
        self.stats.retries += 1
        self._pause(wait if wait is not None else self._backoff(attempt))
        return attempt + 1

    def get(self, url: str, *, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url`` and read the whole body (retried as described above).

        >>> HttpClient().get("file:///etc/passwd")
        Traceback (most recent call last):
        ...
        archive.errors.SourceError: file:///etc/passwd: only http:// and https:// URLs can be fetched
        """
        return self.request(url, params=params, headers=headers)

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, missing_ok: bool = False) -> Any:
        """GET ``url`` and parse JSON; a body that is not JSON (cut short) is fetched again.

        With ``missing_ok`` a 404 or 410 returns ``None`` instead of raising.

        >>> HttpClient(rate=None).get_json("http://127.0.0.1:9/x", missing_ok=True)
        Traceback (most recent call last):
        ...
        archive.errors.SourceError: http://127.0.0.1:9/x: 127.0.0.1 is a loopback or private address; pass --allow-private to fetch from it
        """
        attempt = 0
        while True:
            try:
                resp = self.request(url, params=params)
            except HttpError as e:
                if missing_ok and e.status in (404, 410):
                    return None
                raise
            try:
                return orjson.loads(resp.body)
            except orjson.JSONDecodeError as e:
                full = resp.url
                attempt = self._retry_or_raise(full, attempt, f"the response is not valid JSON ({e})")

    def download(self, url: str, folder: Path, *, suffix: str = "") -> dict[str, Any]:
        """Stream ``url`` into ``folder/<sha256><suffix>``; return ``{path, sha256, bytes, mime}``.

        The file is written under a temporary name and renamed once complete, so a
        crash never leaves a partial file under a final name. A broken transfer is retried.

        >>> HttpClient().download("ftp://example.org/v.mp4", Path(tempfile.mkdtemp()))
        Traceback (most recent call last):
        ...
        archive.errors.SourceError: ftp://example.org/v.mp4: only http:// and https:// URLs can be fetched
        """
        folder.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            h = hashlib.sha256()
            n = 0
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out:
                    body = self.request(url, stream=True)
                    with body:
                        mime = _mime_of(body)
                        while chunk := body.read(1 << 16):
                            h.update(chunk)
                            out.write(chunk)
                            n += len(chunk)
            except OSError as e:
                os.unlink(tmp)
                attempt = self._retry_or_raise(url, attempt, str(e))
                continue
            except BaseException:
                os.unlink(tmp)
                raise
            digest = h.hexdigest()
            final = folder / f"{digest}{suffix}"
            os.replace(tmp, final)
            return {"path": final, "sha256": digest, "bytes": n, "mime": mime}


def _mime_of(body: Any) -> str | None:
    raw = getattr(body, "raw", None)
    resp = getattr(raw, "_resp", None)
    ct = resp.getheader("content-type") if resp is not None else None
    return ct.split(";", 1)[0].strip() if ct else None


def _snippet(body: bytes, n: int = 160) -> str:
    if not body:
        return ""
    text = body[:n].decode("utf-8", "replace").replace("\n", " ").strip()
    return f"({text}{'…' if len(body) > n else ''})"


def open_url(url: str, *, allow_private: bool = False, timeout: float = 30.0,
             client: HttpClient | None = None) -> BinaryIO:
    """Open ``url`` as a streamed, buffered binary file (it has ``.peek``); close it when done.

    Used by ``archivist ingest jsonl https://...``: the body is read as it
    arrives, never held whole in memory. The request itself is retried; a
    connection that breaks mid-stream raises ``OSError`` naming the URL.

    >>> open_url("http://localhost:9/records.jsonl")
    Traceback (most recent call last):
    ...
    archive.errors.SourceError: http://localhost:9/records.jsonl: localhost resolves to 127.0.0.1, which is a loopback or private address; pass --allow-private to fetch from it
    """
    c = client or HttpClient(rate=None, timeout=timeout, allow_private=allow_private)
    return c.request(url, stream=True)  # type: ignore[no-any-return]
