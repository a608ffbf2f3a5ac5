"""The lineage package's exception: a measure could not run on what it was given."""
from __future__ import annotations

from archive.errors import ArchiveError

__all__ = ["LineageError"]


class LineageError(ArchiveError):
    """A measure could not run: the message names the input at fault and what to do.

    It derives from :class:`archive.errors.ArchiveError`, so the CLI's error handler
    turns it into a one-line message.

    >>> str(LineageError("no tree 'x': run `archivist analyze` first"))
    "no tree 'x': run `archivist analyze` first"
    """
