"""Checksums of files: the one place a file is read in chunks and hashed (``hashlib.file_digest``).

Several algorithms are computed in one pass over the file (a bag's sha256 and
sha512 manifests read each payload file once).

Examples
--------
>>> import tempfile
>>> p = tempfile.mkdtemp() + "/f.txt"
>>> _ = open(p, "w").write("hi")
>>> file_sha256(p)
'8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4'
>>> sorted(file_digests(p, ["sha256", "md5"]))
['md5', 'sha256']
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import IO

__all__ = ["file_digests", "file_sha256"]


class _Fanout:
    """One ``update`` that feeds several hash objects (what ``hashlib.file_digest`` calls)."""

    def __init__(self, algs: Sequence[str]) -> None:
        self.hashes = {a: hashlib.new(a) for a in algs}

    def update(self, data: bytes | memoryview) -> None:
        for h in self.hashes.values():
            h.update(data)


def file_digests(file: str | os.PathLike[str] | IO[bytes], algs: Sequence[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file (a path, or a file open for binary reading) for each algorithm, in one read.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        An algorithm ``hashlib`` does not know.
    """
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as fh:
            return file_digests(fh, algs)
    fan = hashlib.file_digest(file, lambda: _Fanout(algs))  # type: ignore[arg-type, return-value]
    return {a: h.hexdigest() for a, h in fan.hashes.items()}  # type: ignore[attr-defined]


def file_sha256(file: str | os.PathLike[str] | IO[bytes]) -> str:
    """The sha256 of a file, as hex."""
    return file_digests(file, ("sha256",))["sha256"]
