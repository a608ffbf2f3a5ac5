"""Where things live: the bundled data folder and the default archive path."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "default_archive_path"]


def data_dir() -> Path:
    """The bundled ``data/`` folder (sample archive, style lexicon, schema).

    >>> (data_dir() / "remix-record.schema.json").exists()
    True
    """
    env = os.environ.get("REMIX_ARCHIVIST_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def default_archive_path() -> Path:
    """``$REMIX_ARCHIVE`` if set, else ``./remix-archive``.

    >>> default_archive_path().name in ("remix-archive", Path(os.environ.get("REMIX_ARCHIVE", "x")).name)
    True
    """
    return Path(os.environ.get("REMIX_ARCHIVE", "remix-archive"))
