"""The ``archivist`` console script's entry point.

The product's imports (polars, Delta Lake, Dash: about a second) happen inside :func:`main`, so a
Ctrl-C while they load says what it did instead of printing Python's traceback of an import.
"""
from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Load the command line (:func:`dashboard.cli.main`) and run it; Ctrl-C while loading exits 130."""
    try:
        from dashboard.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("archivist: interrupted while starting; nothing was done.\n")
        raise SystemExit(130) from None
    run()
