"""Whether stored analysis describes the archive: the one rule every reader uses.

``archivist analyze`` writes ``analysis_*`` tables and one ``runs`` row per analysis
(the store version it read, :data:`~lineage.analyze.ANALYSIS_VERSION`). Stored
analysis describes a store version when the latest run read that version with the
current measure code; it describes one tree when that tree's content hash
(:func:`~lineage.analyze.tree_hashes`) equals the stored one, even when other trees
changed since. :func:`analysis_state` decides both and says what to recompute; the
dashboard, the reports, the CLI and the exports ask it instead of comparing versions,
hashes or row counts each their own way.

An analysis is of one edge set (:data:`~lineage.analyze.EDGE_SETS`): declared links, or
all links with the ones ``archivist infer`` reconstructed (``analyze --edges all``,
tables ``analysis_all_*``). Ask with ``edges=``: an ``"all"`` analysis is also stale
when the ``inferred_edges`` table moved since it was computed (a new ``archivist infer``).

Examples
--------
>>> import tempfile
>>> from archive.ingest import ingest_records
>>> from lineage.analyze import analyze
>>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
>>> rec = {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a cat"}
>>> _ = ingest_records(a, [rec])
>>> analysis_state(a).recompute
'archive'
>>> _ = analyze(a, n_boot=5)
>>> s = analysis_state(a, root="t:1")
>>> s.current, s.tree_current, s.recompute
(True, True, 'nothing')
>>> _ = ingest_records(a, [{**rec, "id": "t:2"}])
>>> s = analysis_state(a, root="t:1")
>>> s.current, s.tree_current, s.recompute
(False, True, 'archive')
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from archive.errors import NotFoundError
from archive.store import Archive
from lineage.analyze import ANALYSIS_VERSION, inferred_note, load_results, tree_hashes
from lineage.errors import LineageError

__all__ = ["AnalysisState", "analysis_state", "tree_content_hash", "stored_drift", "MEASURE_COLS", "DRIFT_COLUMNS"]

#: the node columns the per-tree measures read (and the content hash covers)
MEASURE_COLS = ["id", "parent", "root", "depth", "created_at", "text", "style_tags", "placeholder"]
#: the per-node drift columns exports and snapshots carry
DRIFT_COLUMNS = ["id", "edge_drift", "root_drift", "path_drift", "directness"]


@dataclass(frozen=True)
class AnalysisState:
    """What stored analysis describes, compared with one store version (and one tree).

    Attributes
    ----------
    store_version : int
        The store version asked about.
    analysed_version : int or None
        The store version the latest ``archivist analyze`` read (``None``: never analyzed).
    current : bool
        The stored archive-wide tables describe ``store_version`` (read with the
        current measure code, :data:`~lineage.analyze.ANALYSIS_VERSION`).
    root : str or None
        The tree asked about (its root id), if any.
    tree_current : bool or None
        The stored per-tree rows of ``root`` describe that tree as it is at ``store_version``
        (``None`` when no tree was asked about).
    recompute : str
        ``"nothing"`` (all current), ``"tree"`` (only this tree's measures are stale, the
        archive-wide ones are current), or ``"archive"`` (run ``archivist analyze``).
    edges : str
        The edge set asked about: ``"declared"`` or ``"all"`` (inferred links included).
    inferred_version : int or None
        With ``edges="all"``: the ``inferred_edges`` table version now (-1: ``infer`` never ran).
    analysed_inferred_version : int or None
        With ``edges="all"``: the ``inferred_edges`` version the latest analysis read.
    inferred_links, min_confidence : int, float or None
        With ``edges="all"``: how many inferred links the analysed graph held, and the lowest
        confidence among them (:meth:`inferred_note` says it in words).
    """

    store_version: int
    analysed_version: int | None
    current: bool
    root: str | None = None
    tree_current: bool | None = None
    recompute: str = "archive"
    edges: str = "declared"
    inferred_version: int | None = None
    analysed_inferred_version: int | None = None
    inferred_links: int | None = None
    min_confidence: float | None = None

    def inferred_note(self) -> str | None:
        """``"includes N inferred links, confidence >= X"`` for figures of an ``"all"`` analysis, else ``None``.

        >>> AnalysisState(5, 5, True, edges="all", inferred_links=3, min_confidence=0.51).inferred_note()
        'includes 3 inferred links, confidence >= 0.51'
        """
        return inferred_note(self.inferred_links, self.min_confidence) if self.edges == "all" else None

    def note(self) -> str | None:
        """One sentence for a reader of stale figures (``None`` when they are current).

        >>> AnalysisState(5, 3, False).note()
        'These measures are from the analysis of store version 3; the store is at version 5 now. Run `archivist analyze` to bring them up to date.'
        >>> AnalysisState(5, 5, True).note() is None
        True
        """
        if self.current:
            return None
        cmd = "archivist analyze" + (" --edges all" if self.edges == "all" else "")
        if self.analysed_version is None:
            what = " with inferred links" if self.edges == "all" else ""
            return f"The archive was never analysed{what}: run `{cmd}`."
        if self.analysed_version == self.store_version and self.edges == "all":
            return (f"These measures used the inferred links of inferred_edges version "
                    f"{self.analysed_inferred_version}; `archivist infer` has run since (version "
                    f"{self.inferred_version}). Run `{cmd}` to bring them up to date.")
        return (f"These measures are from the analysis of store version {self.analysed_version}; the store is at "
                f"version {self.store_version} now. Run `{cmd}` to bring them up to date.")


def tree_content_hash(nodes: pl.DataFrame) -> str:
    """The content hash of one tree's nodes (what ``analysis_trees.content_hash`` stores when it was measured).

    Parameters
    ----------
    nodes : polars.DataFrame
        The nodes of one tree (:attr:`archive.store.Tree.nodes`): the columns of
        :data:`MEASURE_COLS` that are present are hashed.

    Returns
    -------
    str
        Equal to the stored hash exactly when the tree's measures need no recomputing.

    Examples
    --------
    >>> n = pl.DataFrame({"id": ["a"], "parent": [None], "root": ["a"], "depth": [0], "text": ["x"]},
    ...                  schema_overrides={"parent": pl.String})
    >>> tree_content_hash(n) == tree_content_hash(n), tree_content_hash(n) == tree_content_hash(
    ...     n.with_columns(text=pl.lit("y")))
    (True, False)
    """
    return tree_hashes(nodes.select([c for c in MEASURE_COLS if c in nodes.columns])).get_column("content_hash")[0]


def _latest_run(archive: Archive, edges: str = "declared") -> dict | None:
    try:
        runs = load_results(archive, "runs", edges=edges)
    except LineageError:
        return None
    if runs.height == 0:
        return None
    return runs.sort("at").row(-1, named=True)


def analysis_state(archive: Archive, *, version: int | None = None, root: str | None = None,
                   edges: str = "declared") -> AnalysisState:
    """Whether stored analysis describes store ``version`` (and the tree of ``root``), and what to recompute.

    Parameters
    ----------
    archive : Archive
        The archive whose ``analysis_*`` tables are checked.
    version : int, optional
        The store version to compare with (default: the archive's current version; the
        dashboard passes the version it shows).
    root : str, optional
        Any post id of a tree: the tree's stored rows are checked by content hash
        (the tree read at ``version``, on the edge set ``edges``).
    edges : {"declared", "all"}
        Which analysis: of declared links (``archivist analyze``) or of all links, inferred
        ones included (``archivist analyze --edges all``). An ``"all"`` analysis is current
        only while the ``inferred_edges`` table is at the version it read.

    Returns
    -------
    AnalysisState
        ``current`` (archive-wide tables), ``tree_current`` (the tree's rows) and
        ``recompute`` (``"nothing"``, ``"tree"`` or ``"archive"``).

    Raises
    ------
    archive.errors.NotFoundError
        ``root`` is not in the archive.
    lineage.errors.LineageError
        ``edges`` is not an edge set.

    Examples
    --------
    >>> import tempfile
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> analysis_state(a)
    AnalysisState(store_version=0, analysed_version=None, current=False, root=None, tree_current=None, recompute='archive', edges='declared', inferred_version=None, analysed_inferred_version=None, inferred_links=None, min_confidence=None)
    >>> analysis_state(a, edges="all").note()
    'The archive was never analysed with inferred links: run `archivist analyze --edges all`.'

    See Also
    --------
    lineage.analyze.load_results : read an analysis table.
    lineage.analyze.tree_hashes : the per-tree content hash.
    """
    v = archive.version() if version is None else int(version)
    run = _latest_run(archive, edges)  # checks edges
    av = None if run is None else int(run["store_version"])
    same_code = run is not None and run.get("analysis_version") == ANALYSIS_VERSION
    current = same_code and av == v
    extra: dict = {"edges": edges}
    if edges == "all":
        iv = archive.table_version("inferred_edges")
        aiv = None if run is None else run.get("inferred_version")
        current = current and aiv == iv
        extra.update(inferred_version=iv, analysed_inferred_version=aiv,
                     inferred_links=None if run is None else run.get("inferred_links"),
                     min_confidence=None if run is None else run.get("min_confidence"))
    if root is None:
        return AnalysisState(v, av, current, recompute="nothing" if current else "archive", **extra)
    tree = archive.tree(root, as_of=v, edges=edges)
    tree_ok = False
    if av is not None:
        try:
            stored = load_results(archive, "trees", edges=edges).filter(pl.col("root") == tree.root)
        except (LineageError, NotFoundError):
            stored = pl.DataFrame()
        if stored.height == 1 and "content_hash" in stored.columns:
            tree_ok = tree_content_hash(tree.nodes) == stored.get_column("content_hash")[0]
    recompute = "nothing" if current and tree_ok else "tree" if current else "archive"
    return AnalysisState(v, av, current, root=tree.root, tree_current=tree_ok, recompute=recompute, **extra)


def stored_drift(archive: Archive, *, edges: str = "declared") -> pl.DataFrame | None:
    """Per-node drift from the latest analysis, for exports and snapshots (``None``: never analyzed).

    ``edges="all"`` reads the analysis of the graph with inferred links (``archivist analyze
    --edges all``), and only while it is current (``None`` once the store or ``inferred_edges``
    moved): a drift measured from another parent or root would be a wrong value, not a stale one.

    Returns
    -------
    polars.DataFrame or None
        ``id`` (String), ``edge_drift``, ``root_drift``, ``path_drift``, ``directness``
        (Float64, null where undefined), from the ``nodes`` analysis table.

    Examples
    --------
    >>> import tempfile
    >>> stored_drift(Archive.open(tempfile.mkdtemp() + "/arc", create=True)) is None
    True

    See Also
    --------
    archive.export.export_frames : takes it as ``drift=``.
    """
    if edges == "all" and not analysis_state(archive, edges="all").current:
        return None
    try:
        nodes = load_results(archive, "nodes", edges=edges)
    except LineageError:
        return None
    return nodes.select([c for c in DRIFT_COLUMNS if c in nodes.columns])
