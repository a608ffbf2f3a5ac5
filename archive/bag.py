"""BagIt bags: verify (RFC 8493, every problem as a typed value) and restore into a store.

:func:`verify` runs the ``bagit`` library's own checks (structure, ``bagit.txt`` version,
encoding and byte-order mark, ``fetch.txt`` entries, Payload-Oxum) and the product's own
checks of every rule of RFC 8493 it can test without a network:

=======================  ================================================================
problem type             rule
=======================  ================================================================
:class:`StructureProblem`  §2: ``bagit.txt``, a ``data/`` folder and a payload manifest exist
:class:`BagitTxtProblem`   §2.1.1: no byte-order mark; exactly ``BagIt-Version: M.N`` then
                         ``Tag-File-Character-Encoding: ENC``
:class:`ManifestProblem`   §2.1.3: well-formed lines, a known algorithm, each path once,
                         payload paths under ``data/``
:class:`UnsafePath`        §2.1.3 / §6: no path that leaves the bag, no links or special files
:class:`NotInManifest`     §3: every payload file is listed in *every* payload manifest
:class:`FileMissing`       §3: every listed file exists
:class:`UnexpectedFile`    §3: every payload file is listed somewhere
:class:`ChecksumMismatch`  §3: every checksum of every manifest (payload and tag) matches
:class:`OxumMismatch`      §2.2.2: Payload-Oxum is the payload's size and file count
:class:`FetchProblem`      §2.2.3: fetch lines are ``URL LENGTH PATH`` with an absolute URL and
                         a path inside ``data/`` that every payload manifest lists
:class:`NormalizationConflict`  two payload names that are equal after Unicode NFC
:class:`BagitFinding`      anything the ``bagit`` library refuses that no own check named
=======================  ================================================================

File names in manifests and ``fetch.txt`` are decoded as RFC 8493 §2.1.3 says (``%0A``,
``%0D`` and ``%25`` are LF, CR and ``%``) and matched to the files on disk after Unicode
NFC normalization, as ``bagit`` does, so a bag copied through macOS (NFD names) still verifies.

Examples
--------
>>> import tempfile
>>> d = Path(tempfile.mkdtemp()) / "b"; d.mkdir(); _ = (d / "a.txt").write_text("hello")
>>> _ = bagit.make_bag(str(d), checksums=["md5"])
>>> r = verify(d); r.ok, r.algorithms
(True, ['md5'])
>>> _ = (d / "data" / "a.txt").write_text("jello!")
>>> [type(p).__name__ for p in verify(d).problems]
['ChecksumMismatch', 'OxumMismatch']
"""
from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import re
import stat
import unicodedata
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import bagit
import polars as pl

from archive.digest import file_digests
from archive.errors import NotFoundError, SnapshotError
from archive.ingest import IngestResult, ingest
from archive.store import Archive

__all__ = [
    "BagProblem",
    "StructureProblem",
    "BagitTxtProblem",
    "ManifestProblem",
    "UnsafePath",
    "NotInManifest",
    "FileMissing",
    "UnexpectedFile",
    "ChecksumMismatch",
    "OxumMismatch",
    "FetchProblem",
    "NormalizationConflict",
    "BagitFinding",
    "VerifyResult",
    "verify",
    "check_bag_paths",
    "restore_refusals",
    "restore",
    "decode_bag_path",
    "one_line",
    "encode_bag_path",
]


# ---------------------------------------------------------------------- problems
@dataclass(frozen=True)
class BagProblem:
    """One thing wrong with a bag: the path at fault and what is wrong (``kind`` names the rule)."""

    path: str
    detail: str
    kind: ClassVar[str] = "problem"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail}

    def __getitem__(self, key: str) -> str:  # read like the dicts of earlier versions
        return self.as_dict()[key]

    def __str__(self) -> str:
        return one_line(f"{self.kind}: {self.path} ({self.detail})")


def one_line(s: str) -> str:
    """``s`` with control characters shown as Python escapes (a path may hold a newline).

    Examples
    --------
    >>> print(one_line("data/a\\nb"))
    data/a\\nb
    """
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group(0))[1:-1], s)


class StructureProblem(BagProblem):
    """The bag's layout is wrong: no ``data/`` payload folder, or a tag file where a folder should be (RFC 8493 §2)."""

    kind = "structure"


class BagitTxtProblem(BagProblem):
    """``bagit.txt`` is missing, unreadable or does not declare the version and tag encoding (RFC 8493 §2.1.1)."""

    kind = "bagit.txt"


class ManifestProblem(BagProblem):
    """A manifest is missing, unreadable or has a malformed line (RFC 8493 §2.1.3)."""

    kind = "manifest"


class UnsafePath(BagProblem):
    """A manifest names a path outside the bag (absolute, ``..``) or one no file system can hold."""

    kind = "unsafe-path"


class NotInManifest(BagProblem):
    """A payload file is not listed in every payload manifest (RFC 8493 §3: a complete bag)."""

    kind = "incomplete"


class FileMissing(BagProblem):
    """A file a manifest lists is not in the bag."""

    kind = "missing"


class UnexpectedFile(BagProblem):
    """A payload file no manifest lists."""

    kind = "extra"


class ChecksumMismatch(BagProblem):
    """A file's checksum differs from its manifest's: it changed since the bag was made."""

    kind = "changed"


class OxumMismatch(BagProblem):
    """``Payload-Oxum`` in ``bag-info.txt`` disagrees with the payload's byte and file counts, or is malformed."""

    kind = "oxum"


class FetchProblem(BagProblem):
    """A ``fetch.txt`` line is malformed or names a file no manifest lists (RFC 8493 §2.2.3)."""

    kind = "fetch"


class NormalizationConflict(BagProblem):
    """Two paths that differ only in Unicode normalization (NFC/NFD): one file on some systems."""

    kind = "normalization"


class BagitFinding(BagProblem):
    """A problem bagit-python's own validator found that the checks here did not."""

    kind = "bagit"


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`: every problem found, and the algorithms actually checked."""

    bag: Path
    files: int = 0
    algorithms: list[str] = field(default_factory=list)
    tag_algorithms: list[str] = field(default_factory=list)
    problems: list[BagProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"bag": str(self.bag), "ok": self.ok, "files": self.files, "algorithms": self.algorithms,
                "tag_algorithms": self.tag_algorithms, "problems": [p.as_dict() for p in self.problems]}


# ---------------------------------------------------------------------- names
_PCT = re.compile(r"%(0[AaDd]|25)")


def decode_bag_path(s: str) -> str:
    """A manifest or fetch.txt path decoded as RFC 8493 §2.1.3 says: ``%0A`` LF, ``%0D`` CR, ``%25`` ``%``.

    Examples
    --------
    >>> decode_bag_path("data/a%0Ab%25c%41")
    'data/a\\nb%c%41'
    """
    return _PCT.sub(lambda m: {"0a": "\n", "0d": "\r", "25": "%"}[m.group(1).lower()], s)


def encode_bag_path(s: str) -> str:
    """The inverse of :func:`decode_bag_path` (what a manifest line holds for a file name).

    Examples
    --------
    >>> encode_bag_path("data/a\\nb%c")
    'data/a%0Ab%25c'
    """
    return s.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _leaves(rel: str) -> bool:
    p = rel.replace("\\", "/")
    return (p.startswith(("/", "~")) or (len(p) > 1 and p[1] == ":") or ".." in p.split("/")
            or "\x00" in p)


# ---------------------------------------------------------------------- verify
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_MANIFEST = re.compile(r"^(tag)?manifest-([A-Za-z0-9]+)\.txt$")


def _read_text(path: Path, encoding: str) -> tuple[list[str] | None, str | None]:
    """Lines of a tag file (CR, LF or CRLF ends, as RFC 8493 allows), or why it cannot be read."""
    try:
        text = path.read_bytes().decode(encoding)
    except (OSError, UnicodeDecodeError, LookupError) as e:
        return None, f"cannot be read as {encoding}: {e}"[:200]
    return re.split(r"\r\n|\r|\n", text.removesuffix("\n").removesuffix("\r")) if text else [], None


def _check_bagit_txt(root: Path, out: list[BagProblem]) -> str:
    """RFC 8493 §2.1.1; returns the tag file encoding to read the other tag files with."""
    f = root / "bagit.txt"
    if not f.is_file():
        out.append(StructureProblem("bagit.txt", "no bagit.txt: this is not a bag (RFC 8493 §2)"))
        return "utf-8"
    raw = f.read_bytes()
    if raw.startswith(codecs.BOM_UTF8) or raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        out.append(BagitTxtProblem("bagit.txt", "bagit.txt starts with a byte-order mark (RFC 8493 §2.1.1)"))
        raw = raw.lstrip(b"\xef\xbb\xbf")
    try:
        lines = [x for x in re.split(r"\r\n|\r|\n", raw.decode("utf-8")) if x != ""]
    except UnicodeDecodeError:
        out.append(BagitTxtProblem("bagit.txt", "bagit.txt is not UTF-8 (RFC 8493 §2.1.1)"))
        return "utf-8"
    ver = re.match(r"^BagIt-Version: ([0-9]+)\.([0-9]+)$", lines[0]) if lines else None
    enc = re.match(r"^Tag-File-Character-Encoding: (\S+)$", lines[1]) if len(lines) > 1 else None
    if len(lines) != 2 or not ver or not enc:
        out.append(BagitTxtProblem("bagit.txt", "bagit.txt must be exactly two lines, 'BagIt-Version: M.N' then "
                                                "'Tag-File-Character-Encoding: ENCODING' (RFC 8493 §2.1.1)"))
    encoding = enc.group(1) if enc else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        out.append(BagitTxtProblem("bagit.txt", f"unknown tag file encoding {encoding!r}"))
        encoding = "utf-8"
    return encoding


def _payload_files(root: Path, out: list[BagProblem]) -> dict[str, str]:
    """NFC name -> name on disk of every payload file (links and special files reported, not followed)."""
    files: dict[str, str] = {}
    data = root / "data"
    for dirpath, dirnames, filenames in os.walk(data, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out.append(UnsafePath(rel, "a symbolic link: a bag's files must be inside it"))
            elif stat.S_ISDIR(st.st_mode):
                continue
            elif not stat.S_ISREG(st.st_mode):
                out.append(UnsafePath(rel, "not a regular file"))
            else:
                key = _nfc(rel)
                if key in files:
                    out.append(NormalizationConflict(rel, f"equal to {files[key]!r} after Unicode NFC normalisation"))
                files[key] = rel
    return files


def _parse_manifest(path: Path, encoding: str, *, payload: bool,
                    out: list[BagProblem]) -> dict[str, tuple[str, str]]:
    """NFC path -> (path as decoded, checksum) of one manifest; bad lines reported."""
    entries: dict[str, tuple[str, str]] = {}
    lines, err = _read_text(path, encoding)
    if lines is None:
        out.append(ManifestProblem(path.name, err or "unreadable"))
        return entries
    if lines and lines[0].startswith("\ufeff"):
        out.append(ManifestProblem(path.name, "starts with a byte-order mark"))
        lines[0] = lines[0][1:]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = re.match(r"^(\S+)[ \t]+(.+)$", line)
        if not m or not _HEX.match(m.group(1)):
            out.append(ManifestProblem(path.name, f"line {n} is not 'CHECKSUM  PATH': {line[:80]!r}"))
            continue
        rel = decode_bag_path(m.group(2).lstrip("*") if m.group(2).startswith("*") else m.group(2))
        if _leaves(rel):
            out.append(UnsafePath(rel, f"named in {path.name}, which leaves the bag"))
            continue
        if payload and not rel.startswith("data/"):
            out.append(ManifestProblem(rel, f"{path.name} names a file outside data/ (RFC 8493 §2.1.3)"))
            continue
        if not payload and rel.startswith("data/"):
            out.append(ManifestProblem(rel, f"{path.name} is a tag manifest but names a payload file"))
            continue
        key = _nfc(rel)
        if key in entries:
            out.append(ManifestProblem(rel, f"listed more than once in {path.name} (RFC 8493 §2.1.3)"))
            continue
        entries[key] = (rel, m.group(1).lower())
    return entries


def _check_fetch(root: Path, encoding: str, manifests: dict[str, dict[str, tuple[str, str]]],
                 out: list[BagProblem]) -> None:
    f = root / "fetch.txt"
    if not f.is_file():
        return
    lines, err = _read_text(f, encoding)
    if lines is None:
        out.append(FetchProblem("fetch.txt", err or "unreadable"))
        return
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = re.split(r"[ \t]+", line, maxsplit=2)
        if len(parts) != 3:
            out.append(FetchProblem("fetch.txt", f"line {n} is not 'URL LENGTH PATH': {line[:80]!r}"))
            continue
        url, length, rel = parts[0], parts[1], decode_bag_path(parts[2])
        u = urllib.parse.urlparse(url)
        if not u.scheme or not (u.netloc or u.scheme == "file"):
            out.append(FetchProblem("fetch.txt", f"line {n}: {url[:80]!r} is not an absolute URL"))
        if not (length == "-" or length.isdigit()):
            out.append(FetchProblem("fetch.txt", f"line {n}: length {length!r} is neither a number nor '-'"))
        if _leaves(rel) or not rel.startswith("data/"):
            out.append(FetchProblem(rel, "fetch.txt names " + rel + ", which leaves the bag's data/ folder"
                                    " (RFC 8493 §2.2.3)"))
            continue
        for alg, entries in manifests.items():
            if _nfc(rel) not in entries:
                out.append(FetchProblem(rel, f"in fetch.txt but not listed in manifest-{alg}.txt (RFC 8493 §2.2.3)"))


def _hash_file(path: Path, algs: list[str]) -> dict[str, str]:
    return file_digests(path, algs)


def _oxum(root: Path, info: dict[str, str], files: dict[str, str], out: list[BagProblem]) -> None:
    oxum = info.get("Payload-Oxum")
    if oxum is None:
        return
    m = re.match(r"^([0-9]+)\.([0-9]+)$", oxum.strip())
    if not m:
        out.append(OxumMismatch("bag-info.txt", f"malformed Payload-Oxum {oxum!r}"))
        return
    have_bytes = sum((root / p).stat().st_size for p in files.values())
    if (int(m.group(1)), int(m.group(2))) != (have_bytes, len(files)):
        out.append(OxumMismatch("bag-info.txt", f"Payload-Oxum says {m.group(2)} files / {m.group(1)} bytes, "
                                                f"found {len(files)} / {have_bytes}"))


def _bag_info(root: Path, encoding: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines, _ = _read_text(root / "bag-info.txt", encoding) if (root / "bag-info.txt").is_file() else ([], None)
    key = None
    for line in lines or []:
        if line[:1] in (" ", "\t") and key:
            out[key] += " " + line.strip()
        elif ":" in line:
            key, val = line.split(":", 1)
            key = key.strip()
            out.setdefault(key, val.strip())
    return out


_BAGIT_STAGES = (("_validate_structure", StructureProblem), ("_validate_bagittxt", BagitTxtProblem),
                 ("validate_fetch", FetchProblem), ("_validate_oxum", OxumMismatch))


def _bagit_findings(root: Path, own: list[BagProblem]) -> list[BagProblem]:
    """What the ``bagit`` library refuses (each of its structural checks run on its own) that no own check named."""
    kinds = {p.kind for p in own}
    logging.getLogger("bagit").disabled = True
    found: list[BagProblem] = []
    try:
        try:
            b = bagit.Bag(str(root))
        except bagit.BagError as e:
            if not kinds & {"structure", "bagit.txt", "manifest", "unsafe-path", "fetch"}:
                found.append(BagitFinding(".", f"bagit: {e}"))
            return found
        for method, typ in _BAGIT_STAGES:
            try:
                getattr(b, method)()
            except bagit.BagError as e:
                if typ.kind not in kinds:
                    found.append(BagitFinding(".", f"bagit: {e}"))
    finally:
        logging.getLogger("bagit").disabled = False
    return found


def verify(bag: str | Path) -> VerifyResult:
    """Check a bag against RFC 8493 and its fixity: every problem, typed, not only the first.

    Runs the ``bagit`` library's structural checks and the product's own (see the module
    doc); every checksum of every manifest, payload and tag, is recomputed.
    ``result.algorithms`` names the payload algorithms actually checked.

    Raises :class:`~archive.errors.NotFoundError` when ``bag`` is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "b"; d.mkdir(); _ = (d / "a.txt").write_text("hello")
    >>> _ = bagit.make_bag(str(d), checksums=["sha256", "sha512"])
    >>> _ = (d / "data" / "a.txt").write_text("jello"); _ = (d / "data" / "new.txt").write_text("x")
    >>> sorted((p.kind, p.path) for p in verify(d).problems)
    [('changed', 'data/a.txt'), ('changed', 'data/a.txt'), ('extra', 'data/new.txt'), ('oxum', 'bag-info.txt')]
    """
    root = Path(bag)
    if not root.is_dir():
        raise NotFoundError(f"no bag at {root}: give the folder that holds bagit.txt")
    result = VerifyResult(bag=root)
    out = result.problems
    encoding = _check_bagit_txt(root, out)
    if not (root / "data").is_dir():
        out.append(StructureProblem("data", "no data/ directory (RFC 8493 §2)"))
        files: dict[str, str] = {}
    else:
        files = _payload_files(root, out)
    manifests: dict[str, dict[str, tuple[str, str]]] = {}
    tagmanifests: dict[str, dict[str, tuple[str, str]]] = {}
    for f in sorted(root.iterdir()):
        m = _MANIFEST.match(f.name)
        if not m or not f.is_file():
            continue
        alg = m.group(2).lower()
        if alg not in hashlib.algorithms_available:
            out.append(ManifestProblem(f.name, f"unknown checksum algorithm {alg!r}: its checksums cannot be checked"))
            continue
        (tagmanifests if m.group(1) else manifests)[alg] = _parse_manifest(f, encoding, payload=not m.group(1),
                                                                           out=out)
    if not manifests:
        out.append(StructureProblem(".", "no payload manifest (manifest-ALGORITHM.txt, RFC 8493 §2)"))
    result.algorithms = sorted(manifests)
    result.tag_algorithms = sorted(tagmanifests)
    # every payload file in every manifest; every listed file present; checksums
    listed: set[str] = set().union(*[set(e) for e in manifests.values()]) if manifests else set()
    for key in sorted(set(files) | listed):
        rel = files.get(key)
        if rel is None:
            shown = next(e[key][0] for e in manifests.values() if key in e)
            out.append(FileMissing(shown, "listed in a manifest, not in the bag"))
            continue
        if key not in listed:
            out.append(UnexpectedFile(rel, "in the bag, not in any manifest"))
            continue
        for alg, entries in sorted(manifests.items()):
            if key not in entries:
                out.append(NotInManifest(rel, f"{rel} is not listed in manifest-{alg}.txt"))
        want = {alg: entries[key][1] for alg, entries in manifests.items() if key in entries}
        if want:
            result.files += 1
            for alg, value in sorted(_hash_file(root / rel, sorted(want)).items()):
                if value != want[alg]:
                    out.append(ChecksumMismatch(rel, f"{alg} expected {want[alg][:16]}…, found {value[:16]}…"))
    for alg, entries in sorted(tagmanifests.items()):
        for _key, (rel, digest) in sorted(entries.items()):
            f = root / rel
            if f.is_symlink() or not f.is_file():
                out.append(FileMissing(rel, f"listed in tagmanifest-{alg}.txt, not in the bag"))
                continue
            value = _hash_file(f, [alg])[alg]
            if value != digest:
                out.append(ChecksumMismatch(rel, f"{alg} expected {digest[:16]}…, found {value[:16]}…"))
    _check_fetch(root, encoding, manifests, out)
    _oxum(root, _bag_info(root, encoding), files, out)
    out.extend(_bagit_findings(root, out))
    return result


# ---------------------------------------------------------------------- restore
def check_bag_paths(bag: str | Path) -> list[str]:
    """Every reason a bag is unsafe to read: links, special files, manifest paths that leave the bag, fetch.txt.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); (d / "data").mkdir()
    >>> _ = (d / "manifest-sha256.txt").write_text("00  ../../etc/passwd\\n")
    >>> (d / "data" / "ln").symlink_to("/etc/passwd")
    >>> for reason in check_bag_paths(d): print(reason)
    data/ln is a symbolic link
    manifest-sha256.txt names ../../etc/passwd, which leaves the bag
    """
    root = Path(bag)
    reasons: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                reasons.append(f"{rel} is a symbolic link")
            elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                reasons.append(f"{rel} is a hard link ({st.st_nlink} names for one file)")
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                reasons.append(f"{rel} is not a regular file or folder")
    for mf in sorted(root.glob("*manifest-*.txt")) + sorted(root.glob("fetch.txt")):
        if mf.is_symlink():
            continue
        for line in mf.read_text("utf-8", "replace").splitlines():
            parts = line.strip().split(None, 2 if mf.name == "fetch.txt" else 1)
            if not parts or line.startswith("#"):
                continue
            target = decode_bag_path(parts[-1])
            if mf.name == "fetch.txt":
                reasons.append(f"fetch.txt asks to download {target}; bags that fetch are not restored")
            elif _leaves(target):
                reasons.append(f"{mf.name} names {target}, which leaves the bag")
    return reasons


def restore_refusals(bag: str | Path) -> list[str]:
    """Every reason :func:`restore` would refuse ``bag`` (empty when it would load it).

    Everything :func:`verify` reports is a reason, and so are links, paths that
    leave the bag and a ``fetch.txt``. The CLI calls this before it creates a store,
    so a refused bag leaves no empty archive behind.

    Examples
    --------
    >>> import tempfile
    >>> restore_refusals(tempfile.mkdtemp())[0]
    '... is not a snapshot bag (no bagit.txt or data/records.jsonl)'
    """
    path = Path(bag)
    if path.is_symlink():
        return [f"{path} is a symbolic link; give the bag folder itself"]
    if not path.is_dir():
        return [f"no bag at {path}: give the folder that holds bagit.txt"]
    reasons = []
    if not (path / "bagit.txt").is_file() or not (path / "data" / "records.jsonl").is_file():
        reasons.append(f"{path} is not a snapshot bag (no bagit.txt or data/records.jsonl)")
    reasons += check_bag_paths(path)
    reasons += [str(p) for p in verify(path).problems]
    return list(dict.fromkeys(reasons))


class _BagSource:
    """The records of a bag as an ingest source."""

    name = "snapshot"

    def __init__(self, bag: Path) -> None:
        self.bag = bag
        self.target = str(bag.resolve())

    def items(self, cursor: str | None) -> Iterator[tuple[str, bytes, None]]:
        with open(self.bag / "data" / "records.jsonl", "rb") as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    yield (f"{self.bag.name}/data/records.jsonl:{i}", line.rstrip(b"\r\n"), None)


def restore(bag: str | Path, archive: Archive) -> IngestResult:
    """Load a bag's records into ``archive`` (idempotent) after checking paths and fixity.

    Refuses whatever :func:`restore_refusals` names (everything :func:`verify` refuses,
    links, paths that leave the bag, a ``fetch.txt``) with a one-line
    :class:`~archive.errors.SnapshotError` whose ``details`` hold every reason. Records go
    through :func:`archive.ingest.ingest`, so restoring twice stores nothing new and bad
    lines are quarantined.

    Examples
    --------
    >>> import tempfile
    >>> restore(tempfile.mkdtemp(), Archive.open(tempfile.mkdtemp() + "/a", create=True))
    Traceback (most recent call last):
    ...
    archive.errors.SnapshotError: refusing to restore ...: ... is not a snapshot bag (no bagit.txt or data/records.jsonl) (and 3 more; ...)
    """
    path = Path(bag)
    reasons = restore_refusals(path)
    if reasons:
        raise SnapshotError(f"refusing to restore {path}: {one_line(reasons[0])}"
                            + (f" (and {len(reasons) - 1} more; run `archivist verify` for the full list)"
                               if len(reasons) > 1 else ""), reasons)
    result = ingest(archive, _BagSource(path))
    _mark_redacted(archive, path / "data" / "records.jsonl")
    return result


def _mark_redacted(archive: Archive, records: Path) -> None:
    """Posts that were redacted in the archive the bag came from stay marked as redacted here."""
    ids: set[str] = set()
    with open(records, "rb") as f:
        for line in f:
            if b'"redacted":true' in line:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if (rec.get("extra") or {}).get("redacted") is True and isinstance(rec.get("id"), str):
                    ids.add(rec["id"])
    if not ids:
        return
    current = archive.records(columns=["id", "redacted"]).filter(pl.col("id").is_in(list(ids)), ~pl.col("redacted"))
    if current.height == 0:
        return
    from deltalake import DeltaTable

    listed = ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(ids))
    with archive.writing():
        archive.commit("marking restored redactions", lambda: DeltaTable(str(archive.table_path("records"))).update(
            updates={"redacted": "true"}, predicate=f"id IN ({listed})"))
