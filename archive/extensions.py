"""What the layers above ``archive`` add to its commands, given explicitly in one place.

``archive`` never imports ``lineage``, yet ``archivist snapshot`` carries the drift
report and ``archivist export`` the measured drift. Rather than a hook that a module
registers when it happens to be imported (so the same call would write a different
bag depending on import order), the console script builds one :class:`Extensions`
and hands it to the command group (``dashboard.cli.build_cli``); library callers
pass ``report=`` and ``drift=`` to :func:`archive.snapshot.snapshot` and
:func:`archive.export.export` themselves.

Examples
--------
>>> import click
>>> ext = Extensions(drift=lambda archive: None)
>>> @click.command()
... def show() -> None:
...     click.echo(current().drift is ext.drift)
>>> from click.testing import CliRunner
>>> CliRunner().invoke(show, obj=ext).output
'True\\n'
>>> current()
Extensions(report=None, drift=None)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
import polars as pl

from archive.store import Archive

__all__ = ["Extensions", "ReportWriter", "DriftReader", "current"]

#: writes the drift report of a tree: (archive, root, as_of) -> {relative path: bytes}; for a
#: snapshot with inferred links it is also given ``edges="all"``
ReportWriter = Callable[..., dict[str, bytes]]
#: per-node drift of the archive (``id`` + drift columns), or None when not measured; for an export
#: or snapshot with inferred links it is also given ``edges="all"``
DriftReader = Callable[..., pl.DataFrame | None]


@dataclass(frozen=True)
class Extensions:
    """The report writer and drift reader the commands use (``None``: without them).

    Attributes
    ----------
    report : ReportWriter or None
        Files of a tree's drift report for snapshots (``lineage.report.snapshot_report``).
    drift : DriftReader or None
        Per-node drift for exports and snapshots (``lineage.stale.stored_drift``).
    """

    report: ReportWriter | None = None
    drift: DriftReader | None = None


def current() -> Extensions:
    """The :class:`Extensions` of the running command (empty outside a command or when none was given)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Extensions) if ctx is not None else None
    return found or Extensions()
