"""One exception tree for the archive package.

Every message names the thing at fault and, where it can, what to do.
"""
from __future__ import annotations

__all__ = [
    "ArchiveError",
    "NotFoundError",
    "StoreError",
    "IngestError",
    "SourceError",
    "SnapshotError",
    "ValidationError",
]


class ArchiveError(Exception):
    """Base class of every error raised by :mod:`archive`."""


class NotFoundError(ArchiveError, KeyError):
    """A post, tree, table or file that was asked for does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not
        return str(self.args[0]) if self.args else "not found"


class StoreError(ArchiveError):
    """The store on disk is missing, unreadable or not an archive."""


class IngestError(ArchiveError):
    """An ingest could not start or could not finish."""


class SourceError(ArchiveError):
    """A source (connector) could not read what it was given."""


class SnapshotError(ArchiveError):
    """A snapshot could not be made, verified or restored."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = list(details or [])


class ValidationError(ArchiveError):
    """A record breaks the remix record schema; ``reasons`` lists every problem."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message)
        self.reasons = list(reasons)
