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
``<archive>/snapshots/<portable name of the root id>/<UTC time>-v<store version>/``
(:func:`safe_name`; the id itself is in ``bag-info.txt`` and ``data/snapshot.json``);
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
('t_1-39f34643f186', ['c2pa', 'media', 'posts.csv', 'prov.json'])
>>> verify(bag).ok
True
>>> b = Archive.open(tempfile.mkdtemp() + "/arc2", create=True)
>>> restore(bag, b).stored, restore(bag, b).stored   # idempotent
(2, 0)
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import urllib.parse
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import bagit
import polars as pl

from archive.bag import VerifyResult, _bag_info, check_bag_paths, restore, restore_refusals, verify
from archive import tempfiles
from archive.extensions import ReportWriter
from archive.errors import ArchiveError, NotFoundError, SnapshotError, resource_problem
from archive.export import export_frames, made_by_infer, to_csv, to_graphml, to_newick, to_prov_json, with_parent_evidence
from archive.snapshot_media import write_media
from archive.names import ONE_LINE, escape_chars, portable_name
from archive.record import content_hash
from archive.sources.http import NetPolicy
from archive.store import Archive

__all__ = [
    "CHECKSUMS",
    "safe_name",
    "snapshot",
    "VerifyResult",
    "verify",
    "check_bag_paths",
    "restore_refusals",
    "restore",
    "read_bag_info",
    "list_snapshots",
    "snapshot_roots",
]

CHECKSUMS = ["sha256", "sha512"]


def safe_name(post_id: str) -> str:
    """A post id made into one portable folder or file name (:func:`archive.names.portable_name`).

    ASCII letters, digits, ``_ - .`` and a hash of the exact id: valid and distinct on every
    common file system, never ``.``/``..`` or a Windows device name, never in need of
    escaping in a BagIt manifest. The id itself is kept in the bag's metadata.

    Examples
    --------
    >>> safe_name("sora:video_68d7/x")
    'sora_video_68d7_x-4ff711bb35c3'
    >>> safe_name(".."), len(safe_name("x:" + "y" * 500))
    ('_-5ec1f7e700f3', 93)
    """
    return portable_name(post_id)


def _legacy_name(post_id: str) -> str:
    """The folder name snapshots had before portable names (to list old snapshots)."""
    s = urllib.parse.quote(post_id, safe="")
    if len(s) > 120:
        s = s[:100] + "-" + hashlib.sha256(post_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return s


def _tag_value(v: str) -> str:
    """A bag-info value on one line: controls, line breaks and ``␛`` as ``␛XXXX`` (:func:`archive.names.escape_chars`
    with :data:`archive.names.ONE_LINE`; :func:`archive.names.xml_unescape_text` gives the original back)."""
    return escape_chars(v, ONE_LINE)


def _utc_stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


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


#: edge set -> its ``Remix-Edge-Set`` tag in bag-info.txt
EDGE_SETS = {"declared": "declared (the links the sources state: declared and C2PA)",
             "all": "all (declared, C2PA and inferred links)"}


def _write_inferred(archive: Archive, inferred: pl.DataFrame, path: Path) -> None:
    """The tree's links made by ``archivist infer`` (``inferred``: edge rows of :func:`made_by_infer`) as
    JSON Lines: ``child, parent, evidence, confidence, method, features``."""
    inf = inferred.select("child", "parent", "confidence")
    extra = archive.read_table("inferred_edges", columns=["child", "parent", "method", "features"]) \
        if archive.has_table("inferred_edges") else None
    if extra is not None:
        inf = inf.join(extra, on=["child", "parent"], how="left", maintain_order="left")
    rows = [{"child": r["child"], "parent": r["parent"], "relation": "remix", "evidence": "inferred",
             "confidence": r["confidence"], "method": r.get("method"), "features": r.get("features")}
            for r in inf.sort("child").iter_rows(named=True)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), "utf-8")


def snapshot(archive: Archive, root: str, *, out: str | Path | None = None, media: bool = False,
             as_of: Any = None, allow_private: bool | NetPolicy = False, media_dirs: Sequence[str | Path] = (),
             timeout: float = 30.0, now: datetime | None = None, report: ReportWriter | None = None,
             drift: pl.DataFrame | None = None, edges: str = "declared") -> Path:
    """Pack the tree of ``root`` (any node of it) into a new BagIt bag; returns the bag folder.

    ``edges="all"`` packs the tree with inferred links (``archivist infer``): the graph files
    mark them ``evidence: inferred`` with their confidence, ``inferred_edges.jsonl`` lists
    them with the features that decided them, and ``records.jsonl`` stays what was observed.

    ``out`` is the parent folder of the bag (default ``<archive>/snapshots/<root>``).
    With ``media=True`` every media URL is copied (local files, ``file://``) or
    downloaded through the shared polite client (public http(s) only; ``allow_private``
    is ``--allow-private`` or a :class:`~archive.sources.http.NetPolicy`); local paths and
    ``file://`` URLs are copied only from inside ``media_dirs``; what could not be
    reached is listed in ``data/media/index.json``, never silently skipped.

    ``report`` writes the drift report into ``data/report/`` and ``drift`` (``id`` and
    drift columns) adds measured drift to the tables; ``archive`` measures neither, so
    the caller passes them (``archivist snapshot`` passes
    ``lineage.report.snapshot_report`` and ``lineage.stale.stored_drift``). Without them
    the bag says so in ``data/report/README.txt``. The same call writes the same bag,
    whatever modules the process imported.

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
    nodes, edges = export_frames(archive, root, as_of=as_of, drift=drift, edges=mode)
    nodes = nodes.drop("observed_at", strict=False)  # ingest time when fetched_at is missing: not the tree's
    tree_root = nodes.filter(pl.col("depth") == 0).get_column("id")[0]
    parent = Path(out) if out is not None else archive.path / "snapshots" / safe_name(tree_root)
    tmp = _partial_bag(archive, parent)
    try:
        records = _tree_records(archive, nodes.select("id"), as_of)
        nodes = _bag_hashes(nodes, records)
        if mode == "all":  # posts.csv and tree.nwk say which parents are inferred
            nodes = with_parent_evidence(nodes, edges)
        (tmp / "records.jsonl").write_text(
            "".join(r + "\n" for r in records.get_column("record").to_list()), "utf-8")
        (tmp / "posts.csv").write_bytes(to_csv(nodes))
        # a parent a record states with evidence "inferred" is the source's, not a link of `archivist infer`
        guessed = made_by_infer(archive, edges, as_of) if mode == "all" else edges.head(0)
        if mode == "all":
            _write_inferred(archive, guessed, tmp / "inferred_edges.jsonl")
        (tmp / "tree.graphml").write_bytes(to_graphml(nodes, edges))
        (tmp / "tree.nwk").write_text(to_newick(nodes), "utf-8")
        (tmp / "prov.json").write_bytes(to_prov_json(nodes, edges, engine="direct"))
        report_note = _write_reports(archive, tree_root, as_of, tmp / "report", report, drift, mode)
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
        from archive.media.store import snapshot_media  # every node's thumbnail and C2PA manifest store

        snapshot_media(archive, nodes.get_column("id").to_list(), tmp)
        index, n_media_c2pa = write_media(latest, tmp, fetch=media, allow_private=allow_private,
                                           timeout=timeout,
                                           media_dirs=tuple(Path(d).resolve() for d in media_dirs),
                                           held_dir=archive.path / "media")
        (tmp / "media" / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False), "utf-8")
        posts = nodes.select("id", "content_hash", "placeholder", "redacted")
        real = posts.filter(~pl.col("placeholder"))
        counts = {"posts": real.height, "placeholders": posts.height - real.height, "edges": edges.height,
                  "observations": records.height, "depth": int(nodes.get_column("depth").max() or 0),
                  "media_listed": len(index), "media_files": sum(1 for r in index if r["file"]),
                  "c2pa_manifests": n_c2pa + n_media_c2pa,
                  "redacted": int(posts.get_column("redacted").fill_null(False).sum())}
        if mode == "all":  # how many of the edges are guesses (Remix-Inferred-Edges in bag-info.txt)
            counts["inferred_edges"] = guessed.height
        meta = {"format": "remix-archivist snapshot 1", "root": tree_root, "edges": mode, "counts": counts,
                "posts": dict(zip(*real.select("id", "content_hash").get_columns())),
                # every file and folder name made from an id (c2pa/, media/, the snapshot folder) -> that id
                "names": {safe_name(i): i for i in nodes.get_column("id").to_list()}}
        (tmp / "snapshot.json").write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False),
                                           "utf-8")
        sources = sorted(set(real.join(nodes.select("id", "source"), on="id").get_column("source").to_list()))
        # no local path (the bag travels); values escaped so a CR in an id cannot break the tag file
        info = {k: _tag_value(v) for k, v in {
            "Source-Organization": "Remix Archivist",
            "External-Identifier": tree_root,
            "External-Description": f"Remix tree of {tree_root}: {counts['posts']} posts, depth {counts['depth']}",
            "Remix-Root": tree_root,
            "Remix-Folder": safe_name(tree_root),
            "Remix-Store-Version": str(version),
            "Remix-As-Of": "" if as_of is None else str(as_of),
            "Remix-Sources": ", ".join(s for s in sources if s),
            "Remix-Snapshot-Time": now.isoformat().replace("+00:00", "Z"),
            **{f"Remix-{k.replace('_', '-').title()}": str(v) for k, v in counts.items()},
            "Remix-Drift-Report": report_note,
            # the edge set has a tag of its own: Remix-Edges is the edge count (it used to be overwritten)
            "Remix-Edge-Set": EDGE_SETS[mode],
        }.items()}
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
        _finish_bag(tmp, final)
        return final
    except BaseException as e:
        if not tmp.exists() and isinstance(e, OSError):
            raise SnapshotError(f"the snapshot being written in {parent} was removed meanwhile (a redaction of a "
                                "post of this tree deletes half-written bags); run the snapshot again") from None
        shutil.rmtree(tmp, ignore_errors=True)
        problem = None if isinstance(e, (KeyboardInterrupt, SystemExit)) else resource_problem(e)
        if problem:
            raise SnapshotError(f"{problem[0]} writing the snapshot in {parent} (nothing was left behind); "
                                f"{problem[1]}") from None
        raise


PARTIAL = ".partial-"  # a bag being written: <parent>/.partial-<pid>-<start>-<random>/


def _partial_bag(archive: Archive, parent: Path) -> Path:
    """A new temporary folder for a bag, after removing the stale ones of killed snapshots.

    The bag is written there and renamed into place only once it is whole
    (:func:`_finish_bag`); any failure removes it (``snapshot``), and a ``kill -9``
    leaves a folder stamped with a dead process, which the next write command of
    any kind removes (:meth:`Archive.sweep_leftovers`, and here for ``-o`` folders).
    """
    if not archive.read_only:
        with contextlib.suppress(ArchiveError):
            archive.sweep_leftovers()
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tempfiles.sweep(parent, PARTIAL)
        tmp = parent / tempfiles.temp_name(PARTIAL)
        tmp.mkdir()
    except OSError as e:
        problem = resource_problem(e)
        raise SnapshotError(f"cannot write a snapshot in {parent}: "
                            + (f"{problem[0]}; {problem[1]}" if problem else str(e))) from None
    return tmp


def _finish_bag(tmp: Path, final: Path) -> None:
    """Check the bag just made (file count and sizes against its Payload-Oxum, every tag file there)
    and rename it into place: a bag is in its final folder only when whole."""
    try:
        bagit.Bag(str(tmp)).validate(fast=True)
    except bagit.BagError as e:
        raise SnapshotError(f"the snapshot written in {tmp} is incomplete ({e}); nothing was kept") from None
    os.rename(tmp, final)


def _write_reports(archive: Archive, root: str, as_of: Any, folder: Path, report: ReportWriter | None,
                   drift: pl.DataFrame | None, edges: str = "declared") -> str:
    folder.mkdir()
    files: dict[str, bytes] = {}
    failed: list[str] = []
    if report is not None:
        try:
            files.update(report(archive, root, as_of) if edges == "declared"
                         else report(archive, root, as_of, edges=edges))  # the report of the bag's own graph
        except ArchiveError as e:  # the bag is still worth making; say what went wrong inside it
            failed.append(f"{getattr(report, '__name__', 'report')}: {e}")
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
    if drift is not None:
        ids = archive.tree(root, as_of=as_of).nodes.select("id")
        rows = drift.join(ids, on="id", how="semi").sort("id")
        (folder / "drift.json").write_text(json.dumps(rows.to_dicts(), indent=1), "utf-8")
        return "stored drift per node (drift.json); pass report= for the full report"
    (folder / "README.txt").write_text(
        "No drift measures were available when this snapshot was taken: run `archivist analyze`\n"
        "and snapshot again with `archivist snapshot` (which adds the full report).\n", "utf-8")
    return "none (no drift measures available)"


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
    return _bag_info(Path(bag), "utf-8")  # one reader of bag-info.txt (archive.bag), continuation lines too


_LIST_SCHEMA = {"bag": pl.String, "root": pl.String, "edges": pl.String, "taken_at": pl.String,
                "store_version": pl.Int64,
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
    return sorted(p for p in base.glob("*/*")
                  if p.is_dir() and not p.name.startswith(".") and (p / "bagit.txt").exists())


def list_snapshots(archive: Archive, root: str | None = None, *, folder: str | Path | None = None) -> pl.DataFrame:
    """The snapshots of a tree, oldest first, each compared with the one before it.

    ``added``/``removed``/``changed`` count posts by content hash against the
    previous snapshot of the same edge set (null for the first): ``edges`` is ``declared``, or
    ``all`` for a bag made with ``edges="all"`` (inferred links join trees, so such a bag can hold
    more posts than the declared tree without any post having been added). The bags made with
    ``edges="all"`` of the tree ``root`` is in with inferred links are listed too.

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
        folders = [archive.path / "snapshots" / safe_name(tree_root),
                   archive.path / "snapshots" / _legacy_name(tree_root)]  # bags made before portable names
        all_root = tree_root
        if archive.has_table("inferred_edges"):  # `snapshot ROOT --edges all` files the bag under that tree's root
            try:
                all_root = archive.root_of(root, edges="all")
            except NotFoundError:
                pass
        # the all-links tree's folder holds that root's declared bags too: only its edges=all bags are ROOT's
        extra = [archive.path / "snapshots" / safe_name(all_root)] if all_root != tree_root else []
    else:
        folders, extra = [Path(folder)], []

    def bags_in(bases: list[Path]) -> list[Path]:
        return [p for base in dict.fromkeys(bases) if base.is_dir() for p in base.iterdir()
                if p.is_dir() and not p.name.startswith(".") and (p / "bagit.txt").exists()]

    bags = sorted(bags_in(folders) + [b for b in bags_in(extra) if _bag_edges(read_bag_info(b)) == "all"],
                  key=lambda p: (p.name, str(p)))
    rows: list[dict[str, Any]] = []
    prev_of: dict[str, dict[str, str]] = {}  # edge set -> posts of the last bag of that set
    for b in bags:
        info = read_bag_info(b)
        mode = _bag_edges(info)
        prev = prev_of.get(mode)
        try:
            meta = json.loads((b / "data" / "snapshot.json").read_text("utf-8"))
        except (OSError, ValueError):
            meta = {"posts": {}, "root": info.get("Remix-Root")}
        cur: dict[str, str] = meta.get("posts") or {}
        row: dict[str, Any] = {"bag": str(b), "root": meta.get("root"), "edges": mode,
                               "taken_at": info.get("Remix-Snapshot-Time"),
                               "store_version": int(info.get("Remix-Store-Version", "-1") or -1),
                               "posts": len(cur), "added": None, "removed": None, "changed": None,
                               "media_files": int(info.get("Remix-Media-Files", "0") or 0)}
        if prev is not None:
            row["added"] = len(cur.keys() - prev.keys())
            row["removed"] = len(prev.keys() - cur.keys())
            row["changed"] = sum(1 for k in cur.keys() & prev.keys() if cur[k] != prev[k])
        rows.append(row)
        prev_of[mode] = cur
    return pl.DataFrame(rows, schema=_LIST_SCHEMA)


def _bag_edges(info: dict[str, str]) -> str:
    """``all`` for a bag made with inferred links (its ``Remix-Edge-Set`` tag; bags made before it
    had that tag wrote ``Remix-Edges: all (…)``), else ``declared``."""
    tag = info.get("Remix-Edge-Set") or info.get("Remix-Edges") or ""
    return "all" if tag.startswith("all") else "declared"
