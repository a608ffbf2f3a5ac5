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
    "resource_problem",
]

import errno

# (errno, words a Rust or polars message uses for it, what it is, what to do)
_RESOURCES = (
    (errno.ENOSPC, ("no space left on device", "os error 28"), "no space left on device",
     "free some space (or use an archive on a bigger disk) and run the same command again: "
     "what was committed is kept and a rerun completes the rest"),
    (errno.EDQUOT, ("disk quota exceeded", "os error 122"), "disk quota exceeded",
     "free some space or raise the quota and run the same command again"),
    (errno.EFBIG, ("file too large", "os error 27"), "file size limit reached",
     "raise the limit (`ulimit -f`) and run the same command again"),
    (errno.EROFS, ("read-only file system", "os error 30"), "the folder is on a read-only file system",
     "read commands, the dashboard and `snapshot -o ELSEWHERE` still work; to change the archive, "
     "make it writable (or copy it) and run the command again"),
    (errno.EACCES, ("permission denied", "os error 13"), "permission denied",
     "give this user write access to the archive folder (read commands work without it) and run the "
     "command again"),
    (errno.EPERM, ("operation not permitted", "os error 1)"), "operation not permitted",
     "give this user write access to the archive folder and run the command again"),
)


def resource_problem(exc: BaseException) -> tuple[str, str] | None:
    """``(what, what to do)`` when ``exc`` (or an exception it was raised from) is a resource error.

    Full disk, quota, file size limit, read-only file system, missing permission:
    whether raised by Python (``OSError``) or reported inside a Delta/polars/Rust
    message. ``None`` for anything else.

    Examples
    --------
    >>> resource_problem(OSError(28, "No space left on device"))[0]
    'no space left on device'
    >>> resource_problem(RuntimeError("Generic LocalFileSystem error: ... (os error 30)"))[0]
    'the folder is on a read-only file system'
    >>> resource_problem(ValueError("bad")) is None
    True
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        code = getattr(e, "errno", None)
        text = str(e).lower()
        for num, words, what, todo in _RESOURCES:
            if code == num or any(w in text for w in words):
                return what, todo
        e = e.__cause__ or e.__context__
    return None


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
