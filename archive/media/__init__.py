"""Media files in the archive: fingerprints (PDQ, pHash), thumbnails, a nearest-neighbour index, the media store.

Modules: :mod:`archive.media.fingerprint` (read one file), :mod:`archive.media.thumbnail`,
:mod:`archive.media.index` (multi-index hashing over PDQ), :mod:`archive.media.store`
(the media folder and the ``media_nodes`` / ``media_fingerprints`` tables).
"""
from archive.media.fingerprint import Fingerprint, Frame, MediaError, fingerprint_bytes, fingerprint_file
from archive.media.index import HashIndex, build_index, nearest
from archive.media.store import MediaStore, fingerprints, media_nodes, thumbnails

__all__ = ["Fingerprint", "Frame", "MediaError", "fingerprint_bytes", "fingerprint_file", "HashIndex",
           "build_index", "nearest", "MediaStore", "fingerprints", "media_nodes", "thumbnails"]
