"""The dashboard's HTTP surface: security headers and a ``Host`` allow-list.

The dashboard serves a private archive (prompts, authors, quarantined raw lines) without
authentication, so it must not be readable by other sites through the archivist's browser:

- **DNS rebinding**: a page on ``attacker.example`` whose name is re-pointed at 127.0.0.1
  could read the archive through the browser, because the server binds 127.0.0.1 and answers
  whatever ``Host`` it is sent. Requests whose ``Host`` is not a loopback name, the bound
  address or a name given with ``--allowed-host`` get ``400`` (the defence Django's
  ``ALLOWED_HOSTS`` and Jupyter's ``allow_remote_access`` use).
- **Framing and sniffing**: ``Content-Security-Policy`` (``frame-ancestors 'self'``; scripts
  only from the server itself plus the hashes of Dash's own inline scripts, from
  ``Dash.csp_hashes()``), ``X-Frame-Options: SAMEORIGIN`` for older browsers,
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.

Plotly draws large trees with WebGL (``scattergl``), whose shader compiler (regl) builds
functions at run time, so ``script-src`` carries ``'unsafe-eval'``; no inline script runs
without its hash (the rule that stops injected markup from running). Styles are
``'unsafe-inline'`` because Plotly and Dash set element styles.
"""
from __future__ import annotations

import ipaddress

from dash import Dash
from flask import Response, abort, request

__all__ = ["LOOPBACK_NAMES", "allowed_hosts", "is_loopback", "secure_app"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the dashboard on this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("192.168.1.5")
    (True, True, False, False)
    """
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, extra: tuple[str, ...] | list[str] = ()) -> frozenset[str]:
    """Host names (without port, lower case) the dashboard answers.

    Loopback names always; the bound address when it is a concrete one; plus ``extra``
    (``--allowed-host``). A wildcard bind (``0.0.0.0``) adds no name: the machine's own
    names must be given with ``--allowed-host``.

    >>> sorted(allowed_hosts("127.0.0.1", ["archive.lan"]))
    ['127.0.0.1', '::1', 'archive.lan', 'localhost', 'localhost.localdomain']
    """
    names = set(LOOPBACK_NAMES)
    if bind not in WILDCARDS:
        names.add(bind.strip("[]").lower())
    names.update(h.strip().strip("[]").lower() for h in extra if h.strip())
    return frozenset(names)


def _hostname(host_header: str) -> str:
    """``Host`` header without its port: ``[::1]:8050`` -> ``::1``, ``a.b:80`` -> ``a.b``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def secure_app(app: Dash, *, hosts: frozenset[str]) -> None:
    """Install the ``Host`` check and the security headers on ``app``'s Flask server.

    The CSP's script hashes are computed at the first response, once every page's
    callbacks (and any inline clientside callback) are registered.
    """
    server = app.server
    csp: list[str] = []

    def policy() -> str:
        if not csp:
            scripts = " ".join(["'self'", "'unsafe-eval'", *app.csp_hashes()])
            csp.append("; ".join([
                "default-src 'self'", f"script-src {scripts}", "style-src 'self' 'unsafe-inline'",
                "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'",
                "worker-src 'self' blob:", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
                "frame-ancestors 'self'"]))
        return csp[0]

    @server.before_request
    def _check_host() -> None:
        if _hostname(request.host or "") not in hosts:
            abort(Response(
                "This dashboard only answers requests addressed to "
                + ", ".join(sorted(hosts)) + "; start it with --allowed-host NAME to add a name.\n",
                status=400, mimetype="text/plain"))

    @server.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = policy()
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return resp
