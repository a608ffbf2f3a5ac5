"""The one polite HTTP client every network source and every download uses.

What it guarantees, for every request (API pages, JSON Lines URLs, ``--download``,
``snapshot --media``):

- **only http(s), never private networks**: the URL's scheme must be ``http`` or
  ``https`` and every address its host resolves to must be public. What a
  :class:`NetPolicy` opens, and nothing more: ``--allow-private`` opens loopback
  and private ranges (a local mirror, a test server); ``--allow-host HOST``
  opens only the named hosts; link-local and cloud-metadata addresses
  (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200) stay refused unless
  ``--allow-link-local`` names them too. Unspecified and multicast addresses are
  never fetched. Every resolution is checked and the connection goes to the
  address that was checked (no second DNS lookup: DNS rebinding is harmless);
  each redirect is checked again before anything connects;
- **timeouts** on connect and on every read, and **a total deadline** per request
  (``deadline``, default four times the timeout): a server that drips its answer
  byte by byte is cut off and the request retried. Streams (media, JSON Lines) get
  the deadline plus the time the bytes received would take at ``min_rate``;
- **bounded reads**: an API answer larger than ``max_body`` (64 MiB) and a stream
  or download larger than ``max_file`` (8 GiB) stop with one line naming the limit;
  a gzip body is inflated with the same caps and refused when it inflates more
  than ``max_ratio`` times its size (a gzip bomb);
- **complete bodies only**: a body shorter than its ``Content-Length`` (or a chunked
  body without its last chunk) is an error and is retried; :meth:`HttpClient.download`
  streams to disk under a temporary name, checks the length and (when given) the
  sha256, and only then renames the file into place;
- **a per-host rate limit**: requests to one host are spaced at least
  ``1/rate`` seconds apart (retries included), so ``rate=10`` never exceeds
  10 requests in any second;
- **retries with backoff**: connection errors, timeouts, truncated bodies and
  500/502/504 are retried with exponential backoff and jitter; 429 and 503
  wait what ``Retry-After`` says (seconds or an HTTP date); the count of tries
  and the waits are tenacity's (``stop_after_attempt``, ``wait_exponential``
  plus ``wait_random_exponential``, a wait that honours ``Retry-After``);
- **secrets stay secret**: API keys come from the environment, travel only in
  headers, and are replaced by ``***`` in every error message;
- **a User-Agent naming the tool**: :data:`USER_AGENT`.

Examples
--------
>>> check_url("ftp://example.org/x")
Traceback (most recent call last):
...
archive.sources.http.AddressRefused: ftp://example.org/x: only http:// and https:// URLs can be fetched
>>> check_url("http://127.0.0.1:9/")
Traceback (most recent call last):
...
archive.sources.http.AddressRefused: http://127.0.0.1:9/: 127.0.0.1 is a loopback or private address; pass --allow-private (or --allow-host 127.0.0.1) to fetch from it
>>> check_url("http://127.0.0.1:9/", allow_private=True)[:3]
('http', '127.0.0.1', 9)
>>> check_url("http://169.254.169.254/latest/meta-data/", allow_private=True)
Traceback (most recent call last):
...
archive.sources.http.AddressRefused: http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a link-local or cloud-metadata address, refused even with --allow-private; pass --allow-link-local to fetch from it
"""
from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

import orjson
import tenacity

from archive.errors import SourceError

__all__ = [
    "USER_AGENT",
    "HttpClient",
    "HttpError",
    "AddressRefused",
    "TooLarge",
    "NetPolicy",
    "MAX_BODY",
    "MAX_FILE",
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


class AddressRefused(SourceError):
    """A URL the :class:`NetPolicy` does not allow (scheme, or an address it resolves to); nothing was sent."""


class TooLarge(SourceError):
    """An answer beyond a size limit (``max_body``, ``max_file``, ``max_ratio``); it is not retried."""


MAX_BODY = 64 << 20  # an API page (a Scratch page of 40 projects is ~100 KB)
MAX_FILE = 8 << 30  # one media file or JSON Lines stream
MAX_RATIO = 200  # inflated / compressed; JSON Lines compress 5-20 times, a gzip bomb 1000 times

_LINK_LOCAL = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10",  # link-local: where every cloud keeps its metadata service
    "fd00:ec2::254/128",  # AWS metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """``public``, ``private`` (loopback and private ranges), ``link-local`` (metadata too) or ``never``.

    An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address.

    >>> [_kind(ipaddress.ip_address(a)) for a in ("93.184.216.34", "127.0.0.1", "10.0.0.1", "::ffff:127.0.0.1",
    ...  "169.254.169.254", "64:ff9b::a9fe:a9fe", "fd00:ec2::254", "fd12::1", "0.0.0.0", "224.0.0.1")]
    ['public', 'private', 'private', 'private', 'link-local', 'link-local', 'link-local', 'private', 'never', 'never']
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    if any(ip in n for n in _LINK_LOCAL if n.version == ip.version) or ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or ip.is_multicast:
        return "never"
    if ip.is_loopback:
        return "private"
    if ip.is_global:
        return "public"
    if ip.is_reserved:
        return "never"
    if ip.is_private or ip in _CGNAT:
        return "private"
    return "never"


@dataclass(frozen=True)
class NetPolicy:
    """What the client may fetch: which addresses, and how much.

    ``private`` opens loopback and private ranges (``--allow-private``); ``hosts``
    opens only the named hosts, wherever they resolve (``--allow-host``); link-local
    and cloud-metadata addresses need ``link_local`` as well (``--allow-link-local``).
    ``max_body`` caps an API answer, ``max_file`` a stream or download, ``max_ratio``
    how much a gzip body may inflate.

    >>> p = NetPolicy(hosts=frozenset({"mirror.lan"}))
    >>> p.allows("mirror.lan", "private"), p.allows("other.lan", "private"), p.allows("mirror.lan", "link-local")
    (True, False, False)
    >>> NetPolicy.of(True).private, NetPolicy.of(NetPolicy(link_local=True)).link_local
    (True, True)
    """

    private: bool = False
    link_local: bool = False
    hosts: frozenset[str] = frozenset()
    max_body: int = MAX_BODY
    max_file: int = MAX_FILE
    max_ratio: float = MAX_RATIO

    @classmethod
    def from_options(cls, allow_private: bool = False, allow_host: Iterable[str] = (), allow_link_local: bool = False,
                     max_body_mb: float | None = None) -> NetPolicy:
        """The policy the CLI flags ask for (``--allow-private``, ``--allow-host``, ``--allow-link-local``,
        ``--max-body`` in MB).

        >>> NetPolicy.from_options(False, ["Mirror.LAN"], max_body_mb=1).hosts, _size(NetPolicy.from_options(max_body_mb=1).max_body)
        (frozenset({'mirror.lan'}), '1 MiB')
        """
        return cls(private=allow_private, link_local=allow_link_local,
                   hosts=frozenset(h.lower().strip("[]") for h in allow_host),
                   max_body=int(max_body_mb * (1 << 20)) if max_body_mb is not None else MAX_BODY)

    @classmethod
    def of(cls, allow_private: bool | NetPolicy) -> NetPolicy:
        """A policy from ``--allow-private`` (a bool) or a policy as it is."""
        return allow_private if isinstance(allow_private, NetPolicy) else cls(private=bool(allow_private))

    def allows(self, host: str, kind: str) -> bool:
        """May an address of ``kind`` (see :func:`_kind`) that ``host`` resolved to be fetched?"""
        if kind == "public":
            return True
        if kind == "private":
            return self.private or host.lower().strip("[]") in self.hosts
        if kind == "link-local":
            return self.link_local
        return False


def check_url(url: str, *, allow_private: bool | NetPolicy = False) -> tuple[str, str, int, list[str]]:
    """Check that ``url`` may be fetched; return ``(scheme, host, port, addresses)``.

    The host is resolved and *every* address must be one the policy allows
    (``allow_private``: a bool for ``--allow-private``, or a :class:`NetPolicy`).
    Raises :class:`AddressRefused` naming the address and the flag that would open it.
    """
    policy = NetPolicy.of(allow_private)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise AddressRefused(f"{url}: only http:// and https:// URLs can be fetched")
    host = parts.hostname
    if not host:
        raise AddressRefused(f"{url}: the URL has no host")
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
    for a in addrs:
        kind = _kind(ipaddress.ip_address(a))
        if policy.allows(host, kind):
            continue
        what = host if host == a else f"{host} resolves to {a}, which"
        if kind == "private":
            raise AddressRefused(f"{url}: {what} is a loopback or private address; pass --allow-private "
                                 f"(or --allow-host {host}) to fetch from it")
        if kind == "link-local":
            raise AddressRefused(f"{url}: {what} is a link-local or cloud-metadata address, refused even with "
                                 "--allow-private; pass --allow-link-local to fetch from it")
        raise AddressRefused(f"{url}: {what} is an unspecified, multicast or reserved address; it is never fetched")
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
        self._sent: dict[str, deque[list[float]]] = {}  # per host: [send time] of the last requests
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
                at = max(at, sent[-1][0] + 0.5 * step)  # catching up: at most twice the rate
            if len(sent) == most:
                at = max(at, sent[0][0] + window)  # the hard limit per window
            cell = [at]
            sent.append(cell)
            self._next[host] = ideal + step
        delay = at - now
        if delay > 0:
            self._sleep(delay)
            woke = self._clock()
            if woke > at:  # slept longer than asked: the window counts from when the request really went
                with self._lock:
                    cell[0] = woke
        return max(delay, 0.0)


class _Failed(Exception):
    """One failed try, as tenacity sees it: why, and the ``Retry-After`` seconds if the server gave some."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class _WaitRetryAfter(tenacity.wait.wait_base):
    """A tenacity wait: the server's ``Retry-After`` when the failed try carried one, else ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome is not None else None
        after = getattr(exc, "retry_after", None)
        return float(after) if after is not None else float(self.fallback(retry_state))


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


def _size(n: float) -> str:
    """``n`` bytes for people.

    >>> _size(64 << 20), _size(8 << 30), _size(1500)
    ('64 MiB', '8 GiB', '1.5 KiB')
    """
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{int(n)} bytes"


class _Late(TimeoutError):
    """A request or transfer past its deadline (retried once: a server this slow is likely to stay so)."""


class _Body(io.RawIOBase):
    """A streamed response body; closing it closes its connection.

    Each read makes one ``recv`` (never waits to fill a buffer), so the deadline is
    checked between reads: the transfer may take ``deadline`` seconds plus the time
    the bytes received would take at ``min_rate`` bytes/s, no longer. A body that
    ends before its ``Content-Length`` raises ``OSError`` (retried by downloads).
    """

    def __init__(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, url: str, *,
                 timeout: float, deadline: float, min_rate: float, max_bytes: int, headers: dict[str, str]) -> None:
        self._resp, self._conn, self._url = resp, conn, url
        self._expected, self._got = resp.length, 0
        self._timeout, self._deadline, self._min_rate, self._max = timeout, deadline, min_rate, max_bytes
        self._t0 = time.monotonic()
        self.headers = headers

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if not len(b):
            return 0
        left = self._t0 + self._deadline + self._got / self._min_rate - time.monotonic()
        if left <= 0:
            raise _Late(f"{self._url}: the transfer was slower than {_size(self._min_rate)}/s after "
                               f"{self._deadline:.0f} s ({self._got} bytes received); stopped at the deadline")
        sock = self._conn.sock
        if sock is not None:
            sock.settimeout(min(self._timeout, left))
        try:
            data = self._resp.read1(len(b))
        except TimeoutError:
            if left < self._timeout:  # the read was cut to what was left of the deadline
                raise _Late(f"{self._url}: the transfer was slower than {_size(self._min_rate)}/s after "
                            f"{self._deadline:.0f} s ({self._got} bytes received); stopped at the deadline") from None
            raise OSError(f"{self._url}: no data for {self._timeout:.0f} s mid-stream (timed out)") from None
        except (OSError, http.client.HTTPException) as e:
            raise OSError(f"{self._url}: the connection broke mid-stream ({type(e).__name__}: {e})") from None
        n = len(data)
        b[:n] = data
        self._got += n
        if self._got > self._max:
            raise TooLarge(f"{self._url}: the answer is larger than {_size(self._max)} (the file size limit, "
                           "max_file); stopped")
        if n == 0 and self._expected is not None and self._got < self._expected:
            raise OSError(f"{self._url}: the body was cut short ({self._got} of {self._expected} bytes)")
        return n

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
            self._conn.close()
        super().close()


class _Inflate(io.RawIOBase):
    """A gzip (or zlib) stream inflated as it is read, members one after another, with a size and ratio cap."""

    def __init__(self, src: BinaryIO, url: str, *, max_bytes: int, max_ratio: float) -> None:
        self._src, self._url, self._max, self._ratio = src, url, max_bytes, max_ratio
        self._d = zlib.decompressobj(47)
        self._buf = b""
        self._in = self._out = 0
        self._mid = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            if not self._buf:
                data = self._src.read1(1 << 16)  # type: ignore[attr-defined]
                if not data:
                    if self._mid:
                        raise OSError(f"{self._url}: the gzip data was cut short")
                    return 0
                self._in += len(data)
                self._buf = data
            if self._d.eof:  # the next gzip member
                self._d = zlib.decompressobj(47)
            try:
                out = self._d.decompress(self._buf, len(b))
            except zlib.error as e:
                raise OSError(f"{self._url}: the gzip data is damaged ({e})") from None
            self._mid = not self._d.eof
            self._buf = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            if not out:
                continue
            self._out += len(out)
            if self._out > self._max:
                raise TooLarge(f"{self._url}: the inflated answer is larger than {_size(self._max)} (the file size "
                               "limit, max_file); stopped")
            if self._out > (1 << 20) and self._out > self._ratio * self._in:
                raise TooLarge(f"{self._url}: the gzip body inflates more than {self._ratio:.0f} times its size "
                               "(a gzip bomb?); stopped")
            b[:len(out)] = out
            return len(out)

    def close(self) -> None:
        if not self.closed:
            self._src.close()
        super().close()


def _inflate(data: bytes, url: str, *, max_bytes: int, max_ratio: float) -> bytes:
    """Inflate a whole gzip/zlib body with the caps of :class:`_Inflate`.

    >>> import gzip
    >>> _inflate(gzip.compress(b"abc") * 2, "u", max_bytes=10, max_ratio=100)
    b'abcabc'
    >>> _inflate(gzip.compress(bytes(1 << 22)), "http://x/y", max_bytes=1 << 30, max_ratio=100)
    Traceback (most recent call last):
    ...
    archive.sources.http.TooLarge: http://x/y: the gzip body inflates more than 100 times its size (a gzip bomb?); stopped
    """
    with io.BufferedReader(_Inflate(io.BufferedReader(io.BytesIO(data)), url, max_bytes=max_bytes,  # type: ignore[arg-type]
                                    max_ratio=max_ratio)) as f:
        return f.read()


_Key = tuple[str, str, int]
_ENCODED = frozenset({"gzip", "x-gzip", "deflate"})


class HttpClient:
    """A polite HTTP client: see the module docstring for what it guarantees.

    ``rate`` is requests per second per host (``None``: no limit), ``per_host``
    overrides it for named hosts. ``headers`` are sent with every request to the
    first host the client talks to (e.g. ``Authorization``); ``secrets`` are
    redacted from every error message. ``allow_private`` is ``--allow-private`` (a
    bool) or a :class:`NetPolicy` (addresses and size limits). ``timeout`` bounds
    connecting and each read, ``deadline`` a whole request (default ``4 * timeout``);
    streams may take longer only while they keep ``min_rate`` bytes/s on average.
    """

    def __init__(self, *, rate: float | None = 5.0, per_host: Mapping[str, float] | None = None,
                 timeout: float = 30.0, retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 300.0, allow_private: bool | NetPolicy = False,
                 headers: Mapping[str, str] | None = None, secrets: Iterable[str] = (),
                 user_agent: str = USER_AGENT, sleep: Callable[[float], None] = time.sleep,
                 deadline: float | None = None, min_rate: float = 16 << 10) -> None:
        self.limiter = RateLimiter(rate, per_host=per_host)
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self.deadline = deadline if deadline is not None else 4 * timeout
        self.min_rate = min_rate
        self.max_retry_after = max_retry_after
        self.policy = NetPolicy.of(allow_private)
        self.allow_private = self.policy.private
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
            scheme, host, port, addrs = check_url(url, allow_private=self.policy)
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

    def _tries(self) -> tenacity.RetryCallState:
        """A fresh count of tries for one request, kept by tenacity: ``retries + 1`` tries at most,
        waiting what ``Retry-After`` said or an exponential backoff with "equal jitter"
        (between half and all of ``min(max_backoff, backoff * 2**n)``)."""
        half, cap = self.backoff / 2, self.max_backoff / 2
        policy = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=_WaitRetryAfter(tenacity.wait_exponential(multiplier=half, max=cap)
                                 + tenacity.wait_random_exponential(multiplier=half, max=cap)),
            sleep=self._pause)
        return tenacity.RetryCallState(policy, fn=None, args=(), kwargs={})

    def _pause(self, seconds: float) -> None:
        self.stats.backoff_s += seconds
        self._sleep(seconds)

    def _read_body(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, url: str,
                   t_end: float) -> bytes:
        """The whole body, one ``recv`` at a time: up to ``max_body`` bytes, by the deadline, complete."""
        limit = self.policy.max_body
        expected = resp.length
        if expected is not None and expected > limit:
            raise TooLarge(self._redact(f"GET {url}: the answer is larger than {_size(limit)} ({expected} bytes "
                                        "announced; the page size limit, --max-body); stopped"))
        buf = bytearray()
        while True:
            left = t_end - time.monotonic()
            if left <= 0:
                raise _Late(f"no complete answer within the {self.deadline:.0f} s deadline "
                            f"({len(buf)} bytes received)")
            if conn.sock is not None:
                conn.sock.settimeout(min(self.timeout, left))
            chunk = resp.read1(1 << 16)
            if not chunk:
                break
            buf += chunk
            if len(buf) > limit:
                raise TooLarge(self._redact(f"GET {url}: the answer is larger than {_size(limit)} (the page size "
                                            "limit, --max-body); stopped"))
        if expected is not None and len(buf) < expected:
            raise http.client.IncompleteRead(bytes(buf), expected - len(buf))
        resp.close()  # read to the end: the connection may carry the next request
        return bytes(buf)

    # -- requests -------------------------------------------------------------------------------------
    def request(self, url: str, *, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, stream: bool = False) -> Any:
        """GET ``url`` (with ``params``); return a :class:`Response`, or a file-like body when ``stream``.

        Raises :class:`HttpError` for a status that is not retried (404 ...) or
        when the retries run out; :class:`AddressRefused` when the URL is refused,
        :class:`TooLarge` when the answer is beyond a size limit.

        >>> HttpClient().request("http://169.254.169.254/latest/meta-data/")
        Traceback (most recent call last):
        ...
        archive.sources.http.AddressRefused: http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a link-local or cloud-metadata address, refused even with --allow-private; pass --allow-link-local to fetch from it
        """
        if params:
            q = {k: v for k, v in params.items() if v is not None}
            if q:
                url = f"{url}{'&' if '?' in url else '?'}{urlencode(q)}"
        first = urlsplit(url)
        if self._auth_origin is None:
            self._auth_origin = (first.scheme, first.hostname or "", first.port or 0)
        redirects = 0
        tries, late = self._tries(), 0  # late: tries that ran past the deadline (a second one ends the request)
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
            t_end = time.monotonic() + self.deadline
            expired = threading.Event()

            def cut(conn: http.client.HTTPConnection = conn) -> None:  # the deadline passed: end the request
                expired.set()
                if conn.sock is not None:
                    try:
                        conn.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            watchdog = threading.Timer(self.deadline, cut)
            watchdog.daemon = True
            watchdog.start()
            try:
                try:
                    if conn.sock is None:
                        conn.timeout = min(self.timeout, self.deadline)
                    else:  # a reused connection: the last body read may have shortened its timeout
                        conn.sock.settimeout(self.timeout)
                    conn.request("GET", target, headers=hdrs)
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException) as e:
                    connected = conn.sock is not None
                    conn.close()
                    if expired.is_set():  # a server this slow once is retried once, not five times
                        late += 1
                        self._retry_or_raise(url, tries, f"no answer within the {self.deadline:.0f} s "
                                                                     "deadline", final=late > 1)
                        continue
                    if reused and isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                                 BrokenPipeError)):
                        continue  # a keep-alive connection the server had closed: not a real failure
                    if not connected:
                        self._next_address(url)  # could not connect to this address: try the next one
                    self._retry_or_raise(url, tries, f"{type(e).__name__}: {e}")
                    continue
                status = resp.status
                self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
                rh = {k.lower(): v for k, v in resp.getheaders()}
                if status == 200 and stream:
                    watchdog.cancel()  # from here the stream keeps its own deadline
                    if resp.length is not None and resp.length > self.policy.max_file:
                        conn.close()
                        raise TooLarge(self._redact(f"GET {url}: the answer is larger than "
                                                    f"{_size(self.policy.max_file)} ({resp.length} bytes announced; "
                                                    "the file size limit, max_file); stopped"))
                    raw = _Body(resp, conn, self._redact(url), timeout=self.timeout, deadline=self.deadline,
                                min_rate=self.min_rate, max_bytes=self.policy.max_file, headers=rh)
                    return io.BufferedReader(raw, buffer_size=1 << 16)
                try:
                    body = self._read_body(resp, conn, url, t_end)
                except TooLarge:
                    conn.close()
                    raise
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    if expired.is_set() or isinstance(e, _Late) or time.monotonic() >= t_end - 0.05:
                        late += 1
                        self._retry_or_raise(url, tries, f"no complete answer within the "
                                                                     f"{self.deadline:.0f} s deadline", final=late > 1)
                    else:
                        self._retry_or_raise(url, tries, f"body cut short ({type(e).__name__}: {e})")
                    continue
            finally:
                watchdog.cancel()
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
            if rh.get("content-encoding", "").strip().lower() in _ENCODED and body:
                try:
                    body = _inflate(body, self._redact(url), max_bytes=self.policy.max_body,
                                    max_ratio=self.policy.max_ratio)
                except OSError as e:
                    self._retry_or_raise(url, tries, str(e))
                    continue
            if 200 <= status < 300:
                return Response(status, rh, body, url)
            if status in _WAIT_STATUS or status in _RETRY_STATUS:
                wait = retry_after_seconds(rh.get("retry-after")) if status in _WAIT_STATUS else None
                if wait is not None and wait > self.max_retry_after:
                    raise HttpError(self._redact(f"GET {url}: HTTP {status}, the server asks to wait {wait:.0f} s "
                                                 f"(more than {self.max_retry_after:.0f} s); run again later"),
                                    status=status, url=self._redact(url))
                self._retry_or_raise(url, tries, f"HTTP {status}", wait=wait, status=status,
                                               body=body)
                continue
            raise HttpError(self._redact(f"GET {url}: HTTP {status} {_snippet(body)}".rstrip()), status=status,
                            url=self._redact(url))

    def _retry_or_raise(self, url: str, tries: tenacity.RetryCallState, why: str, *, wait: float | None = None,
                        status: int | None = None, body: bytes = b"", final: bool = False) -> None:
        """Record a failed try; raise :class:`HttpError` when tenacity's stop says so (or ``final``),
        else sleep tenacity's wait (``wait``, a ``Retry-After``, takes precedence) and count the next try."""
        failed = _Failed(why, wait)
        tries.set_exception((_Failed, failed, None))
        policy = tries.retry_object
        if final or policy.stop(tries):
            raise HttpError(self._redact(f"GET {url}: {why} after {tries.attempt_number} tries "
                                         f"{_snippet(body)}").rstrip(), status=status, url=self._redact(url))
        self.stats.retries += 1
        policy.sleep(policy.wait(tries))
        tries.prepare_for_next_attempt()

    def get(self, url: str, *, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url`` and read the whole body (retried as described above).

        >>> HttpClient().get("file:///etc/passwd")
        Traceback (most recent call last):
        ...
        archive.sources.http.AddressRefused: file:///etc/passwd: only http:// and https:// URLs can be fetched
        """
        return self.request(url, params=params, headers=headers)

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, missing_ok: bool = False) -> Any:
        """GET ``url`` and parse JSON; a body that is not JSON (cut short) is fetched again.

        With ``missing_ok`` a 404 or 410 returns ``None`` instead of raising.

        >>> HttpClient(rate=None).get_json("http://127.0.0.1:9/x", missing_ok=True)
        Traceback (most recent call last):
        ...
        archive.sources.http.AddressRefused: http://127.0.0.1:9/x: 127.0.0.1 is a loopback or private address; pass --allow-private (or --allow-host 127.0.0.1) to fetch from it
        """
        tries = self._tries()
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
                self._retry_or_raise(full, tries, f"the response is not valid JSON ({e})")

    def open(self, url: str, *, inflate: bool = True) -> BinaryIO:
        """Open ``url`` as a streamed, buffered binary file (it has ``.peek``); close it when done.

        With ``inflate``, a gzip body (``Content-Encoding`` or the gzip magic bytes) is
        inflated as it is read, within ``max_file`` and ``max_ratio``.
        """
        body = self.request(url, stream=True)
        if not inflate:
            return body  # type: ignore[no-any-return]
        enc = body.raw.headers.get("content-encoding", "").strip().lower()
        if enc in _ENCODED or body.peek(2)[:2] == b"\x1f\x8b":
            return io.BufferedReader(_Inflate(body, self._redact(url), max_bytes=self.policy.max_file,  # type: ignore[return-value]
                                              max_ratio=self.policy.max_ratio), buffer_size=1 << 16)
        return body  # type: ignore[no-any-return]

    def download(self, url: str, folder: Path, *, suffix: str = "", dest: Path | None = None,
                 sha256: str | None = None) -> dict[str, Any]:
        """Stream ``url`` into ``folder/<sha256><suffix>`` (or ``dest``); return ``{path, sha256, bytes, mime}``.

        The file is written under a temporary name and renamed once complete: its
        length matched the announced ``Content-Length`` (a body cut short is retried,
        never kept) and, when ``sha256`` is given, its digest matched it. A crash never
        leaves a partial file under a final name. Larger than ``max_file``: :class:`TooLarge`.

        >>> HttpClient().download("ftp://example.org/v.mp4", Path(tempfile.mkdtemp()))
        Traceback (most recent call last):
        ...
        archive.sources.http.AddressRefused: ftp://example.org/v.mp4: only http:// and https:// URLs can be fetched
        """
        where = dest.parent if dest is not None else folder
        where.mkdir(parents=True, exist_ok=True)
        tries, late = self._tries(), 0
        while True:
            n = 0
            h = hashlib.sha256()  # hashed as it arrives: the file is never read twice
            fd, tmp = tempfile.mkstemp(dir=where, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out:
                    raw = self.request(url, stream=True)
                    mime = _mime_of(raw)
                    enc = raw.raw.headers.get("content-encoding", "").strip().lower()
                    body = (io.BufferedReader(_Inflate(raw, self._redact(url), max_bytes=self.policy.max_file,
                                                       max_ratio=self.policy.max_ratio))
                            if enc in _ENCODED else raw)
                    with body:
                        while chunk := body.read(1 << 16):
                            h.update(chunk)
                            out.write(chunk)
                            n += len(chunk)
                digest = h.hexdigest()
            except OSError as e:
                os.unlink(tmp)
                why = str(e)
                short = self._redact(url) + ": "
                late += isinstance(e, _Late)
                self._retry_or_raise(url, tries, why[len(short):] if why.startswith(short) else why,
                                               final=late > 1)
                continue
            except BaseException:
                os.unlink(tmp)
                raise
            if sha256 and digest != sha256.lower():
                os.unlink(tmp)
                raise HttpError(self._redact(f"GET {url}: the file's sha256 {digest[:12]}… is not the expected "
                                             f"{sha256[:12]}…; not kept"), url=self._redact(url))
            final = dest if dest is not None else folder / f"{digest}{suffix}"
            os.replace(tmp, final)
            return {"path": final, "sha256": digest, "bytes": n, "mime": mime}


def _mime_of(body: Any) -> str | None:
    raw = getattr(body, "raw", None)
    ct = getattr(raw, "headers", {}).get("content-type")
    return ct.split(";", 1)[0].strip() if ct else None


def _snippet(body: bytes, n: int = 160) -> str:
    if not body:
        return ""
    text = body[:n].decode("utf-8", "replace").replace("\n", " ").strip()
    return f"({text}{'…' if len(body) > n else ''})"


def open_url(url: str, *, allow_private: bool | NetPolicy = False, timeout: float = 30.0,
             client: HttpClient | None = None) -> BinaryIO:
    """Open ``url`` as a streamed, buffered binary file, gzip inflated (see :meth:`HttpClient.open`).

    Used by ``archivist ingest jsonl https://...``: the body is read as it
    arrives, never held whole in memory, within the client's deadline and size
    limits. The request itself is retried; a connection that breaks mid-stream
    raises ``OSError`` naming the URL.

    >>> open_url("http://localhost:9/records.jsonl")
    Traceback (most recent call last):
    ...
    archive.sources.http.AddressRefused: http://localhost:9/records.jsonl: localhost resolves to 127.0.0.1, which is a loopback or private address; pass --allow-private (or --allow-host localhost) to fetch from it
    """
    c = client or HttpClient(rate=None, timeout=timeout, allow_private=allow_private)
    return c.open(url)
