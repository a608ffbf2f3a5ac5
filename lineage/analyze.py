"""`analyze`: compute every measure and write the analysis tables (placeholder until the measures land)."""
from __future__ import annotations

from archive.store import Archive

__all__ = ["analyze"]


def analyze(archive: Archive) -> dict:
    """Compute the measures for the archive's trees and store them. Not yet implemented: returns {}."""
    return {}
