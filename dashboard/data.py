"""How pages reach the archive: opened read-only, per request, from the app's config."""
from __future__ import annotations

from flask import current_app

from archive.store import Archive

__all__ = ["archive"]


def archive() -> Archive:
    """The archive this app serves, opened read-only (cheap: views are cached per version on disk)."""
    return Archive.open(current_app.config["ARCHIVE_PATH"], read_only=True)
