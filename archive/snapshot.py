"""Snapshots: a remix tree packed into a fixity-checked BagIt bag, verified and restored.

A snapshot is a BagIt bag (RFC 8493, written by the ``bagit`` library with
sha256 and sha512 manifests) whose payload holds everything needed to read the
tree without this program:

=========================  ==========================================================
``data/records.jsonl``     every observation of every post of the tree (remix records)
``data/posts.csv``         one row per node: lineage, text, engagement, drift if measured
``data/tree.graphml``      the lineage graph (networkx, Gephi, yEd)
``data/tree.nwk``          the primary tree in Newick/NHX
``data/prov.json``         W3C PROV-JSON (``prov`` library)
``data/report/``           the drift report (from ``lineage``), or stored drift as JSON
``data/c2pa/``             C2PA manifests: the records' own, and read from fetched media
``data/media/``            media files fetched with ``media=True``; ``index.json`` says which
``data/snapshot.json``     root, counts and the content hash of every post
=========================  ==========================================================

``bag-info.txt`` names the store version, the archive, the sources, the time and
the counts. The payload carries no time of its own, so a snapshot restored into
an empty store and snapshotted again has the same payload manifest.

Snapshots of one tree sit side by side as versions in
``<archive>/snapshots/<root id, percent-encoded>/<UTC time>-v<store version>/``;
:func:`list_snapshots` compares consecutive ones.

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> from archive.store import Archive
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> _ = ingest_records(a, [
...     {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a cat"},
...     {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a cat, claymation",
...      "parents": [{"id": "t:1"}]}])
>>> bag = snapshot(a, "t:2")
>>> bag.parent.name, sorted(p.name for p in (bag / "data").iterdir())[:4]
('t%3A1', ['c2pa', 'media', 'posts.csv', 'prov.json'])
>>> verify(bag).ok
True
>>> b = Archive.open(tempfile.mkdtemp() + "/arc2", create=True)
>>> restore(bag, b).stored, restore(bag, b).stored   # idempotent
(2, 0)
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import stat
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import bagit
import polars as pl

from archive.errors import ArchiveError, NotFoundError, SnapshotError
from archive.export import _drift, export_frames, to_csv, to_graphml, to_newick, to_prov_json
from archive.ingest import IngestResult, ingest
from archive.record import content_hash
from archive.store import Archive

__all__ = [
    "CHECKSUMS",
    "ReportHook",
    "register_report_hook",
    "safe_name",
    "snapshot",
    "VerifyResult",
    "verify",
    "check_bag_paths",
    "restore",
    "read_bag_info",
    "list_snapshots",
    "snapshot_roots",
]

CHECKSUMS = ["sha256", "sha512"]
#: a function that writes the drift report of a tree: (archive, root, as_of) -> {relative path: bytes}
ReportHook = Callable[[Archive, str, Any], dict[str, bytes]]
_REPORT_HOOKS: list[ReportHook] = []
_MEDIA_LIMIT = 2 * 1024 ** 3


def register_report_hook(hook: ReportHook) -> ReportHook:
    """Register a function that adds the drift report to every snapshot (``lineage.report`` does).

    The archive package does not import ``lineage``; lineage registers itself here
    when it is imported, so ``archivist snapshot`` carries the full report.

    Examples
    --------
    >>> h = register_report_hook(lambda archive, root, as_of: {"hello.txt": b"hi"})
    >>> h in _REPORT_HOOKS
    True
    >>> _REPORT_HOOKS.remove(h)
    """
    if hook not in _REPORT_HOOKS:
        _REPORT_HOOKS.append(hook)
    return hook


def safe_name(post_id: str) -> str:
    """A post id made into one safe folder name (percent-encoded; long ids shortened with a hash).

    Examples
    --------
    >>> safe_name("sora:video_68d7/x")
    'sora%3Avideo_68d7%2Fx'
    >>> len(safe_name("x:" + "y" * 500))
    117
    """
    s = urllib.parse.quote(post_id, safe="")
    if len(s) > 120:
        s = s[:100] + "-" + hashlib.sha256(post_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return s


def _utc_stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


# ---------------------------------------------------------------------- media
@functools.lru_cache(maxsize=256)
def _public_host(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            return False
    return True


def _fetch(url: str, dest: Path, *, allow_private: bool, timeout: float, media_dirs: tuple[Path, ...]) -> str:
    """Copy or download one media file; returns a status word (``ok`` or why not)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        src = Path(urllib.parse.unquote(parsed.path) if parsed.scheme else url).resolve()
        # a record names the file: copy it only from folders the user allowed, never e.g. /etc
        if not any(d == src or d in src.parents for d in media_dirs):
            return "local file outside the allowed media folders (not copied)"
        if not src.is_file():
            return "not found"
        shutil.copyfile(src, dest)
        return "ok"
    if parsed.scheme not in ("http", "https"):
        return f"unsupported scheme {parsed.scheme!r}"
    if not allow_private and not _public_host(parsed.hostname or ""):
        return "unreachable or private address"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as out:  # noqa: S310
            n = 0
            while chunk := resp.read(1 << 20):
                n += len(chunk)
                if n > _MEDIA_LIMIT:
                    raise OSError("larger than 2 GB")
                out.write(chunk)
    except (OSError, ValueError) as e:
        dest.unlink(missing_ok=True)
        return f"failed: {e}"[:200]
    return "ok"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _c2pa_store(path: Path) -> dict | None:
    try:
        import c2pa

        return json.loads(c2pa.Reader(str(path)).json())
    except Exception:  # noqa: BLE001  (no manifest, unsupported type: the file simply has none)
        return None


def _write_media(records: pl.DataFrame, data: Path, *, fetch: bool, allow_private: bool,
                 timeout: float, media_dirs: tuple[Path, ...]) -> tuple[list[dict], int]:
    """Media index rows (and files when ``fetch``), and how many C2PA stores were read from them."""
    index: list[dict] = []
    n_c2pa = 0
    seen: set[tuple[str, str]] = set()
    for rid, rec in records.select("id", "record").iter_rows():
        for i, m in enumerate(json.loads(rec).get("media") or []):
            url = m.get("url")
            if not url or (rid, url) in seen:
                continue
            seen.add((rid, url))
            row: dict[str, Any] = {"id": rid, "url": url, "file": None, "sha256": m.get("sha256"),
                                   "status": "not fetched (snapshot without --media)"}
            if fetch:
                ext = Path(urllib.parse.urlparse(url).path).suffix[:10]
                rel = f"media/{safe_name(rid)}/{i}{ext}"
                dest = data / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                row["status"] = _fetch(url, dest, allow_private=allow_private, timeout=timeout,
                                       media_dirs=media_dirs)
                if row["status"] == "ok":
                    digest = _sha256(dest)
                    if m.get("sha256") and m["sha256"].lower() != digest:
                        row["status"] = "ok, but sha256 differs from the record's"
                    row["file"], row["sha256"] = rel, digest
                    store = _c2pa_store(dest)
                    if store is not None:
                        n_c2pa += 1
                        (data / "c2pa").mkdir(exist_ok=True)
                        (data / "c2pa" / f"{safe_name(rid)}.media-{i}.json").write_text(
                            json.dumps(store, indent=1, sort_keys=True, ensure_ascii=False), "utf-8")
                elif not any(dest.parent.iterdir()):
                    dest.parent.rmdir()
            index.append(row)
    return index, n_c2pa


# ---------------------------------------------------------------------- snapshot
def _tree_records(archive: Archive, ids: pl.DataFrame, as_of: Any) -> pl.DataFrame:
    recs = archive.records(as_of, columns=["id", "fetched_at", "content_hash", "record"])
    # ordered by what the records say, never by when this store ingested them
    return (recs.join(ids, on="id", how="semi")
            .sort(["id", "fetched_at", "content_hash"], nulls_last=False)
            .unique("content_hash", keep="first", maintain_order=True))


def _bag_hashes(nodes: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """A redacted post keeps its original content hash in the store (so re-ingesting the same record does not
    bring the text back); in the bag it gets the hash of the reduced record the bag holds, as a restore computes."""
    red = nodes.filter(pl.col("redacted").fill_null(False)).select("id", "content_hash")
    if red.height == 0:
        return nodes
    rows = records.join(red, on=["id", "content_hash"], how="semi").select("id", "record")
    new = pl.DataFrame({"id": rows.get_column("id"),
                        "_h": [content_hash(r) for r in rows.get_column("record").to_list()]},
                       schema={"id": pl.String, "_h": pl.String})
    return (nodes.join(new, on="id", how="left", maintain_order="left")
            .with_columns(content_hash=pl.coalesce("_h", "content_hash")).drop("_h"))


def _write_inferred(archive: Archive, edges: pl.DataFrame, path: Path) -> None:
    """The tree's inferred links as JSON Lines: ``child, parent, evidence, confidence, method, features``."""
    inf = edges.filter(pl.col("evidence") == "inferred").select("child", "parent", "confidence")
    extra = archive.read_table("inferred_edges", columns=["child", "method", "features"]) \
        if archive.has_table("inferred_edges") else None
    if extra is not None:
        inf = inf.join(extra, on="child", how="left", maintain_order="left")
    rows = [{"child": r["child"], "parent": r["parent"], "relation": "remix", "evidence": "inferred",
             "confidence": r["confidence"], "method": r.get("method"), "features": r.get("features")}
            for r in inf.sort("child").iter_rows(named=True)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), "utf-8")


def snapshot(archive: Archive, root: str, *, out: str | Path | None = None, media: bool = False,
             as_of: Any = None, allow_private: bool = False, media_dirs: Sequence[str | Path] = (),
             timeout: float = 30.0,
             now: datetime | None = None, edges: str = "declared") -> Path:
    """Pack the tree of ``root`` (any node of it) into a new BagIt bag; returns the bag folder.

    ``edges="all"`` packs the tree with inferred links (``archivist infer``): the graph files
    mark them ``evidence: inferred`` with their confidence, ``inferred_edges.jsonl`` lists
    them with the features that decided them, and ``records.jsonl`` stays what was observed.

    ``out`` is the parent folder of the bag (default ``<archive>/snapshots/<root>``).
    With ``media=True`` every media URL is copied (local files, ``file://``) or
    downloaded (public http(s) only, unless ``allow_private``); local paths and
    ``file://`` URLs are copied only from inside ``media_dirs``; what could not be
    reached is listed in ``data/media/index.json``, never silently skipped.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"}])
    >>> bag = snapshot(a, "t:1", now=datetime(2026, 5, 1, tzinfo=timezone.utc))
    >>> bag.name, read_bag_info(bag)["Remix-Posts"]
    ('20260501T000000Z-v1', '1')
    """
    now = now or datetime.now(timezone.utc)
    version = archive._pin(as_of)[0]
    mode = edges
    nodes, edges = export_frames(archive, root, as_of=as_of, edges=mode)
    nodes = nodes.drop("observed_at", strict=False)  # ingest time when fetched_at is missing: not the tree's
    tree_root = nodes.filter(pl.col("depth") == 0).get_column("id")[0]
    parent = Path(out) if out is not None else archive.path / "snapshots" / safe_name(tree_root)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".partial-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        records = _tree_records(archive, nodes.select("id"), as_of)
        nodes = _bag_hashes(nodes, records)
        (tmp / "records.jsonl").write_text(
            "".join(r + "\n" for r in records.get_column("record").to_list()), "utf-8")
        (tmp / "posts.csv").write_bytes(to_csv(nodes))
        if mode == "all":
            _write_inferred(archive, edges, tmp / "inferred_edges.jsonl")
        (tmp / "tree.graphml").write_bytes(to_graphml(nodes, edges))
        (tmp / "tree.nwk").write_text(to_newick(nodes), "utf-8")
        (tmp / "prov.json").write_bytes(to_prov_json(nodes, edges, engine="direct"))
        report_note = _write_reports(archive, tree_root, as_of, tmp / "report")
        (tmp / "c2pa").mkdir()
        (tmp / "media").mkdir()
        n_c2pa = 0
        latest = records.unique("id", keep="last", maintain_order=True)
        for rid, rec in latest.select("id", "record").iter_rows():
            c2 = (json.loads(rec).get("provenance") or {}).get("c2pa") if '"c2pa"' in rec else None
            if c2:
                n_c2pa += 1
                (tmp / "c2pa" / f"{safe_name(rid)}.record.json").write_text(
                    json.dumps(c2, indent=1, sort_keys=True, ensure_ascii=False), "utf-8")
        index, n_media_c2pa = _write_media(latest, tmp, fetch=media, allow_private=allow_private,
                                           timeout=timeout,
                                           media_dirs=tuple(Path(d).resolve() for d in media_dirs))
        (tmp / "media" / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False), "utf-8")
        posts = nodes.select("id", "content_hash", "placeholder", "redacted")
        real = posts.filter(~pl.col("placeholder"))
        counts = {"posts": real.height, "placeholders": posts.height - real.height, "edges": edges.height,
                  "observations": records.height, "depth": int(nodes.get_column("depth").max() or 0),
                  "media_listed": len(index), "media_files": sum(1 for r in index if r["file"]),
                  "c2pa_manifests": n_c2pa + n_media_c2pa,
                  "redacted": int(posts.get_column("redacted").fill_null(False).sum())}
        meta = {"format": "remix-archivist snapshot 1", "root": tree_root, "counts": counts,
                "posts": dict(zip(*real.select("id", "content_hash").get_columns()))}
        (tmp / "snapshot.json").write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False),
                                           "utf-8")
        sources = sorted(set(real.join(nodes.select("id", "source"), on="id").get_column("source").to_list()))
        info = {
            "Source-Organization": "Remix Archivist",
            "External-Identifier": tree_root,
            "External-Description": f"Remix tree of {tree_root}: {counts['posts']} posts, depth {counts['depth']}",
            "Remix-Root": tree_root,
            "Remix-Store-Version": str(version),
            "Remix-As-Of": "" if as_of is None else str(as_of),
            "Remix-Archive": str(archive.path.resolve()),
            "Remix-Sources": ", ".join(s for s in sources if s),
            "Remix-Snapshot-Time": now.isoformat().replace("+00:00", "Z"),
            **{f"Remix-{k.replace('_', '-').title()}": str(v) for k, v in counts.items()},
            "Remix-Drift-Report": report_note,
            **({"Remix-Edges": "all (declared, C2PA and inferred links)"} if mode == "all" else {}),
        }
        cwd = os.getcwd()
        try:
            bagit.make_bag(str(tmp), info, processes=1, checksums=CHECKSUMS)
        finally:
            os.chdir(cwd)
        name = f"{_utc_stamp(now)}-v{version}"
        final, k = parent / name, 1
        while final.exists():
            k += 1
            final = parent / f"{name}-{k}"
        os.rename(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_reports(archive: Archive, root: str, as_of: Any, folder: Path) -> str:
    folder.mkdir()
    files: dict[str, bytes] = {}
    failed: list[str] = []
    for hook in _REPORT_HOOKS:
        try:
            files.update(hook(archive, root, as_of))
        except ArchiveError as e:  # the bag is still worth making; say what went wrong inside it
            failed.append(f"{getattr(hook, '__name__', 'report')}: {e}")
    if failed:
        (folder / "REPORT-FAILED.txt").write_text("The drift report could not be made:\n" + "\n".join(failed) + "\n",
                                                  "utf-8")
    if files:
        for rel, data in files.items():
            p = (folder / rel).resolve()
            if folder.resolve() not in p.parents:
                raise SnapshotError(f"report file {rel!r} would leave the bag's report folder")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return "full report (" + ", ".join(sorted(files)) + ")" + (" with failures" if failed else "")
    if failed:
        return "failed (see data/report/REPORT-FAILED.txt)"
    drift = _drift(archive)
    if drift is not None:
        ids = archive.tree(root, as_of=as_of).nodes.select("id")
        rows = drift.join(ids, on="id", how="semi").sort("id")
        (folder / "drift.json").write_text(json.dumps(rows.to_dicts(), indent=1), "utf-8")
        return "stored drift per node (drift.json); import lineage for the full report"
    (folder / "README.txt").write_text(
        "No drift measures were available when this snapshot was taken: run `archivist analyze`\n"
        "and snapshot again, or use `archivist snapshot` (which adds the full report).\n", "utf-8")
    return "none (no drift measures available)"


# ---------------------------------------------------------------------- verify
@dataclass
class VerifyResult:
    """The outcome of :func:`verify`: every problem found, not only the first."""

    bag: Path
    files: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"bag": str(self.bag), "ok": self.ok, "files": self.files, "problems": self.problems}


def _hash_file(path: Path, algs: list[str]) -> dict[str, str]:
    hs = {a: hashlib.new(a) for a in algs}
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            for h in hs.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hs.items()}


def verify(bag: str | Path) -> VerifyResult:
    """Check a bag's fixity: every missing, changed and extra file, and the Payload-Oxum.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "b"; d.mkdir(); _ = (d / "a.txt").write_text("hello")
    >>> _ = bagit.make_bag(str(d), checksums=CHECKSUMS)
    >>> _ = (d / "data" / "a.txt").write_text("jello"); _ = (d / "data" / "new.txt").write_text("x")
    >>> sorted((p["kind"], p["path"]) for p in verify(d).problems)
    [('changed', 'data/a.txt'), ('changed', 'data/a.txt'), ('extra', 'data/new.txt'), ('oxum', 'bag-info.txt')]
    """
    path = Path(bag)
    result = VerifyResult(bag=path)
    if not path.is_dir():
        raise NotFoundError(f"no bag at {path}: give the folder that holds bagit.txt")
    try:
        b = bagit.Bag(str(path))
    except bagit.BagError as e:
        result.problems.append({"kind": "structure", "path": str(path), "detail": str(e)})
        return result
    algs = [a for a in b.algorithms if a in hashlib.algorithms_available]
    for rel, expected in sorted(b.entries.items()):
        f = path / rel
        if not f.is_file():
            result.problems.append({"kind": "missing", "path": rel, "detail": "listed in a manifest, not in the bag"})
            continue
        result.files += 1
        got = _hash_file(f, [a for a in algs if a in expected])
        for alg, value in got.items():
            if value != expected[alg].lower():
                result.problems.append({"kind": "changed", "path": rel,
                                        "detail": f"{alg} expected {expected[alg][:16]}…, found {value[:16]}…"})
    _, only_fs = b.compare_manifests_with_fs()
    for rel in sorted(only_fs):
        result.problems.append({"kind": "extra", "path": rel, "detail": "in the bag, not in any manifest"})
    oxum = b.info.get("Payload-Oxum")
    if isinstance(oxum, str) and "." in oxum:
        want_bytes, want_files = oxum.split(".", 1)
        files = list(b.payload_files())
        have_bytes = sum((path / p).stat().st_size for p in files)
        if (str(have_bytes), str(len(files))) != (want_bytes, want_files):
            result.problems.append({"kind": "oxum", "path": "bag-info.txt",
                                    "detail": f"Payload-Oxum says {want_files} files / {want_bytes} bytes, "
                                              f"found {len(files)} / {have_bytes}"})
    return result


# ---------------------------------------------------------------------- restore
def _dangerous(rel: str) -> bool:
    p = rel.replace("\\", "/")
    return (p.startswith("/") or p.startswith("~") or (len(p) > 1 and p[1] == ":")
            or ".." in p.split("/"))


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
            target = parts[-1]
            if mf.name == "fetch.txt":
                reasons.append(f"fetch.txt asks to download {target}; bags that fetch are not restored")
            elif _dangerous(target):
                reasons.append(f"{mf.name} names {target}, which leaves the bag")
    return reasons


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

    Refuses bags with links, paths that leave the bag or a ``fetch.txt``, and bags
    that fail :func:`verify`; every reason is in the error's ``details``. Records go
    through :func:`archive.ingest.ingest`, so restoring twice stores nothing new
    and bad lines are quarantined.

    Examples
    --------
    >>> import tempfile
    >>> restore(tempfile.mkdtemp(), Archive.open(tempfile.mkdtemp() + "/a", create=True))
    Traceback (most recent call last):
    ...
    archive.errors.SnapshotError: ... is not a snapshot bag (no bagit.txt or data/records.jsonl)
    """
    path = Path(bag)
    if path.is_symlink():
        raise SnapshotError(f"{path} is a symbolic link; give the bag folder itself")
    if not (path / "bagit.txt").is_file() or not (path / "data" / "records.jsonl").exists():
        raise SnapshotError(f"{path} is not a snapshot bag (no bagit.txt or data/records.jsonl)")
    unsafe = check_bag_paths(path)
    if unsafe:
        raise SnapshotError(f"refusing to restore {path}: {unsafe[0]}"
                            + (f" (and {len(unsafe) - 1} more problems)" if len(unsafe) > 1 else ""), unsafe)
    v = verify(path)
    if not v.ok:
        details = [f"{p['kind']}: {p['path']} ({p['detail']})" for p in v.problems]
        raise SnapshotError(f"refusing to restore {path}: fixity check failed ({details[0]}"
                            + (f", and {len(details) - 1} more" if len(details) > 1 else "")
                            + "); run `archivist verify` for the full list", details)
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
    DeltaTable(str(archive.table_path("records"))).update(updates={"redacted": "true"}, predicate=f"id IN ({listed})")


# ---------------------------------------------------------------------- listing
def read_bag_info(bag: str | Path) -> dict[str, str]:
    """The ``bag-info.txt`` of a bag as a dict (first value of repeated keys).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "bag-info.txt").write_text("Remix-Root: t:1\\n")
    >>> read_bag_info(d)
    {'Remix-Root': 't:1'}
    """
    out: dict[str, str] = {}
    f = Path(bag) / "bag-info.txt"
    if not f.exists():
        return out
    key = None
    for line in f.read_text("utf-8").splitlines():
        if line[:1] in (" ", "\t") and key:
            out[key] += " " + line.strip()
        elif ":" in line:
            key, val = line.split(":", 1)
            key = key.strip()
            out.setdefault(key, val.strip())
    return out


_LIST_SCHEMA = {"bag": pl.String, "root": pl.String, "taken_at": pl.String, "store_version": pl.Int64,
                "posts": pl.Int64, "added": pl.Int64, "removed": pl.Int64, "changed": pl.Int64,
                "media_files": pl.Int64}


def snapshot_roots(archive: Archive) -> list[Path]:
    """Every snapshot bag kept inside the archive, oldest first within each tree.

    Examples
    --------
    >>> import tempfile
    >>> snapshot_roots(Archive.open(tempfile.mkdtemp() + "/a", create=True))
    []
    """
    base = archive.path / "snapshots"
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob("*/*") if p.is_dir() and (p / "bagit.txt").exists())


def list_snapshots(archive: Archive, root: str | None = None, *, folder: str | Path | None = None) -> pl.DataFrame:
    """The snapshots of a tree, oldest first, each compared with the one before it.

    ``added``/``removed``/``changed`` count posts by content hash against the
    previous snapshot (null for the first).

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"}])
    >>> _ = snapshot(a, "t:1", now=datetime(2026, 5, 1, tzinfo=timezone.utc))
    >>> _ = ingest_records(a, [{"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "parents": ["t:1"]}])
    >>> _ = snapshot(a, "t:1", now=datetime(2026, 5, 2, tzinfo=timezone.utc))
    >>> list_snapshots(a, "t:1").select("store_version", "posts", "added", "removed", "changed").rows()
    [(1, 1, None, None, None), (2, 2, 1, 0, 0)]
    """
    if folder is None:
        if root is None:
            raise SnapshotError("name a tree (ROOT) or a snapshot folder")
        try:
            tree_root = archive.root_of(root)
        except NotFoundError:
            tree_root = root
        folder = archive.path / "snapshots" / safe_name(tree_root)
    base = Path(folder)
    bags = sorted(p for p in base.iterdir() if p.is_dir() and (p / "bagit.txt").exists()) if base.is_dir() else []
    rows: list[dict[str, Any]] = []
    prev: dict[str, str] | None = None
    for b in bags:
        info = read_bag_info(b)
        try:
            meta = json.loads((b / "data" / "snapshot.json").read_text("utf-8"))
        except (OSError, ValueError):
            meta = {"posts": {}, "root": info.get("Remix-Root")}
        cur: dict[str, str] = meta.get("posts") or {}
        row: dict[str, Any] = {"bag": str(b), "root": meta.get("root"), "taken_at": info.get("Remix-Snapshot-Time"),
                               "store_version": int(info.get("Remix-Store-Version", "-1") or -1),
                               "posts": len(cur), "added": None, "removed": None, "changed": None,
                               "media_files": int(info.get("Remix-Media-Files", "0") or 0)}
        if prev is not None:
            row["added"] = len(cur.keys() - prev.keys())
            row["removed"] = len(prev.keys() - cur.keys())
            row["changed"] = sum(1 for k in cur.keys() & prev.keys() if cur[k] != prev[k])
        rows.append(row)
        prev = cur
    return pl.DataFrame(rows, schema=_LIST_SCHEMA)
