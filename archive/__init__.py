"""Collecting and keeping remix lineage: the record format, sources, ingest and the graph store."""
from archive.errors import (
    ArchiveError,
    IngestError,
    NotFoundError,
    SnapshotError,
    SourceError,
    StoreError,
    ValidationError,
)
from archive.store import Archive, Tree

__all__ = [
    "Archive",
    "Tree",
    "ArchiveError",
    "IngestError",
    "NotFoundError",
    "SnapshotError",
    "SourceError",
    "StoreError",
    "ValidationError",
]
