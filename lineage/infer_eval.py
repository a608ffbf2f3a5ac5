"""Scoring lineage inference against known links (``archivist infer --evaluate``).

Hide the declared links, infer, and compare: exact parent, ancestor, tree membership
(the whole path: the post's inferred root is its true root; and per link: its own chosen parent
is in its true tree) and root accuracy, NIST-style vertex and edge overlap per true tree (as in the
MediFor provenance-graph evaluation: ``2|A ∩ B| / (|A| + |B|)``), a reliability table,
the expected calibration error, precision among links at confidence >= 0.9 and the
share of links that reach it, and the plain baseline (the most similar earlier prompt)
measured in the same run. Two more say how far to trust and where to look: 95% intervals
of the accuracies by a cluster bootstrap over the true trees (posts of one tree share their
mistakes, so resampling posts would understate the spread; Field and Welsh 2007), and the
candidate recall, the share of remixes whose true parent was among their candidates (what
the choice could reach; the rest is lost before any scoring).

Examples
--------
>>> from archive.sources.simulate import SimParams, simulate
>>> posts, truth = posts_from_records(simulate(SimParams(seed=2, posts=200))[0])
>>> sorted(evaluate_frame(posts, truth))[:4]
['ancestor_accuracy', 'baseline_parent_accuracy', 'candidate_recall', 'coverage_at_0_9']
"""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from lineage.errors import LineageError

__all__ = ["evaluate", "evaluate_frame", "posts_from_records", "recalibrate", "reliability", "tree_bootstrap",
           "tree_membership"]

UTC = pl.Datetime("us", "UTC")


def _truth_root(ids: list[str], parent: dict[str, str | None]) -> dict[str, str]:
    root: dict[str, str] = {}
    for i in ids:
        path = []
        x: str | None = i
        while x is not None and x not in root and len(path) <= len(ids):
            path.append(x)
            x = parent.get(x)
        r = root[x] if x is not None and x in root else path[-1]
        for y in path:
            root[y] = r
    return root


def tree_membership(ids: list[str], truth_parent: dict[str, str | None], inferred_parent: dict[str, str | None]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Tree membership per post (bool arrays in the order of ``ids``), two ways: by the whole path (the
    post's inferred root is its true root: one wrong link misplaces every post below it) and per link
    (the post's own inferred parent is in its true tree, or a true root is left a root: each decision
    counted once, as ancestor accuracy counts it). Parents missing from the maps are roots.

    >>> truth = {"a": None, "b": "a", "c": "b", "d": None}
    >>> path, link = tree_membership(["a", "b", "c", "d"], truth, {"b": "d", "c": "b"})
    >>> path.tolist(), link.tolist()
    ([True, False, False, True], [True, False, True, True])
    """
    tp = {i: truth_parent.get(i) for i in ids}
    ip = {i: inferred_parent.get(i) for i in ids}
    return _membership(ids, tp, ip, _truth_root(ids, tp), _truth_root(ids, ip))


def _membership(ids: list[str], tp: dict[str, str | None], ip: dict[str, str | None], t_root: dict[str, str],
                i_root: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tree_membership` from the posts' true and inferred roots, where the caller has them."""
    path = np.array([t_root[i] == i_root[i] for i in ids], dtype=bool)
    link = np.array([t_root.get(ip[i]) == t_root[i] if ip[i] is not None else tp[i] is None for i in ids], dtype=bool)
    return path, link


def _baseline(res_pairs: dict[str, np.ndarray], n_ids: int, min_jaccard: float = 0.5) -> np.ndarray:
    """Most similar earlier prompt among the candidates (ties: most recent); none under ``min_jaccard``."""
    c, p, jac, t = res_pairs["c"], res_pairs["p"], res_pairs["jac"], res_pairs["t"]
    out = np.full(n_ids, -1, dtype=np.int64)
    if c.size == 0:
        return out
    order = np.lexsort((-t[p], -jac, c))
    first = order[np.searchsorted(c[order], np.unique(c))]
    ok = jac[first] >= min_jaccard
    out[c[first[ok]]] = p[first[ok]]
    return out


def reliability(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> tuple[list[dict[str, Any]], float | None]:
    """The reliability table and the expected calibration error (Naeini et al. 2015; Guo et al. 2017)
    of links with ``confidence`` (float in [0, 1]) of which ``right`` (0/1 or bool) are the true parent.

    The table has one row per non-empty bin of width ``1 / bins``: ``bin`` (str), ``n`` (int),
    ``confidence`` (mean) and ``accuracy`` (share right); the error is the bins' mean gap
    between the two, weighted by their links (None without links).

    >>> table, ece = reliability(np.array([0.95, 0.95, 0.15, 0.15]), np.array([1, 1, 0, 1]))
    >>> [(r["bin"], r["n"], r["accuracy"]) for r in table], round(ece, 3)
    ([('0.1-0.2', 2, 0.5), ('0.9-1.0', 2, 1.0)], 0.2)
    """
    cf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(right, dtype=np.float64)
    table: list[dict[str, Any]] = []
    if cf.size == 0:
        return table, None
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (cf >= lo) & ((cf < hi) if b < bins - 1 else (cf <= hi))
        if m.any():
            table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(m.sum()), "confidence": float(cf[m].mean()),
                          "accuracy": float(ok[m].mean())})
            ece += m.sum() / cf.size * abs(cf[m].mean() - ok[m].mean())
    return table, float(ece)


BOOTSTRAP_REPLICATES = 1000
#: The bootstrap's seed: an evaluation gives the same intervals every time.
BOOTSTRAP_SEED = 20261201


def tree_bootstrap(tree: np.ndarray, hits: dict[str, np.ndarray], *, replicates: int = BOOTSTRAP_REPLICATES,
                   level: float = 0.95, seed: int = BOOTSTRAP_SEED) -> dict[str, list[float]]:
    """Percentile intervals of accuracies by a cluster bootstrap over trees.

    ``tree`` (int, one per post) names each post's true tree; ``hits`` maps a figure's name to
    a 0/1 (or bool) array over the same posts. Each replicate draws as many trees as there are,
    with replacement (multinomial weights, as ``scipy.stats.bootstrap`` resamples; Poisson
    weights, their large-sample form, made the interval of an archive of a few trees far too
    wide: among five trees, one drawn alone is 36 times likelier), and takes each figure's share over
    the posts drawn. Returns ``{name: [low, high]}`` at ``level``; an empty dict with fewer than
    two trees (one tree says nothing of how trees vary).

    >>> t = np.repeat(np.arange(50), 4)
    >>> iv = tree_bootstrap(t, {"a": np.tile([1, 1, 1, 0], 50)})["a"]
    >>> iv[0] == iv[1] == 0.75  # every tree holds the same share: no spread
    True
    >>> lo, hi = tree_bootstrap(t, {"a": (t < 25)})["a"]
    >>> 0.3 < lo < 0.5 < hi < 0.7
    True
    >>> tree_bootstrap(np.zeros(3, dtype=np.int64), {"a": np.array([1, 0, 1])})
    {}
    """
    codes, inv = np.unique(tree, return_inverse=True)
    if codes.size < 2:
        return {}
    names = list(hits)
    # trees alike in size and hits (most single-post trees are) are pooled: the draws of a group of
    # trees are a multinomial over the groups, the same distribution in far fewer cells
    per_tree = np.column_stack([np.bincount(inv)] + [np.bincount(inv, weights=np.asarray(hits[k], dtype=np.float64))
                                                     for k in names])
    kinds, trees_of_kind = np.unique(per_tree, axis=0, return_counts=True)
    size = kinds[:, 0]
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {}
    step = max(1, min(replicates, 10_000_000 // kinds.shape[0]))  # bounds the weights' memory
    draws: dict[str, list[np.ndarray]] = {k: [] for k in names}
    share = trees_of_kind / codes.size
    for r0 in range(0, replicates, step):
        w = rng.multinomial(codes.size, share, size=min(step, replicates - r0)).astype(np.float64)
        n = w @ size  # every tree holds a post: never 0
        for j, k in enumerate(names):
            draws[k].append((w @ kinds[:, j + 1]) / n)
    a = (1.0 - level) / 2.0
    for k in hits:
        d = np.concatenate(draws[k])
        out[k] = [float(np.quantile(d, a)), float(np.quantile(d, 1.0 - a))]
    return out


def evaluate_frame(posts: pl.DataFrame, truth_parent: dict[str, str | None], *, weights: Any = None,
                   fingerprints: pl.DataFrame | None = None, bins: int = 10) -> dict[str, Any]:
    """Infer on ``posts`` with every link hidden and score against ``truth_parent`` (id -> parent or None).

    Returns the figures of :func:`evaluate` (``parent_accuracy``, ``ancestor_accuracy``,
    ``tree_accuracy``, ``root_accuracy``, ``vertex_overlap``, ``edge_overlap``, ``ece``,
    ``precision_at_0_9``, ``coverage_at_0_9``, ``baseline_parent_accuracy``, ``n``,
    ``reliability``), ``link_tree_accuracy`` (share of posts whose own link stays in their true
    tree: the chosen parent is in it, or a true root is left a root; ``tree_accuracy`` is the share
    whose inferred root is their true root, so one wrong link misplaces every post below it),
    ``candidate_recall`` (share of posts with a true parent that had it
    among their candidates; None without such posts) and ``intervals`` (95% cluster-bootstrap
    intervals of ``parent_accuracy``, ``tree_accuracy`` and ``baseline_parent_accuracy``,
    :func:`tree_bootstrap`), ``no_part`` (counts, by reason, of the posts that could take no part).

    >>> from archive.sources.simulate import SimParams, simulate
    >>> recs, _ = simulate(SimParams(seed=5, posts=300))
    >>> posts, truth = posts_from_records(recs)
    >>> r = evaluate_frame(posts, truth)
    >>> r["n"], r["parent_accuracy"] > r["baseline_parent_accuracy"]
    (300, True)
    """
    from lineage.infer import infer_frame, plain_candidates

    res = infer_frame(posts, weights=weights, fingerprints=fingerprints, keep_pairs=True)
    ids = res.pairs["ids"].to_list()  # type: ignore[index]
    inferred = dict(zip(res.edges.get_column("child").to_list(), res.edges.get_column("parent").to_list()))
    conf = dict(zip(res.edges.get_column("child").to_list(), res.edges.get_column("confidence").to_list()))
    # the plain baseline reads no remix counts: its candidates are the method's with every count hidden
    # (the method's own where no count is published: the same pairs, not found twice)
    hidden = "remixes" not in posts.columns or posts.get_column("remixes").null_count() == posts.height
    plain = res.pairs if hidden else plain_candidates(posts, fingerprints)
    assert plain["ids"].equals(res.pairs["ids"])  # type: ignore[index]
    base_idx = _baseline(plain, len(ids))  # type: ignore[arg-type]
    base = {ids[k]: (ids[j] if j >= 0 else None) for k, j in enumerate(base_idx.tolist())}
    tp = {i: truth_parent.get(i) for i in ids}
    ip = {i: inferred.get(i) for i in ids}
    t_root, i_root = _truth_root(ids, tp), _truth_root(ids, ip)
    tree_hit, link_hit = _membership(ids, tp, ip, t_root, i_root)
    anc: dict[str, set[str]] = {}

    def ancestors(x: str) -> set[str]:
        out: set[str] = set()
        y = tp.get(x)
        while y is not None and y not in out:
            out.add(y)
            y = tp.get(y)
        return out

    n = len(ids)
    exact_hit = np.array([inferred.get(i) == tp[i] for i in ids], dtype=bool)
    base_hit = np.array([base[i] == tp[i] for i in ids], dtype=bool)
    exact, base_exact = int(exact_hit.sum()), int(base_hit.sum())
    anc_ok = 0
    for i in ids:
        q = inferred.get(i)
        if q is None:
            anc_ok += tp[i] is None
        else:
            anc[i] = anc.get(i) or ancestors(i)
            anc_ok += q in anc[i]
    tree_ok, link_ok = int(tree_hit.sum()), int(link_hit.sum())
    root_ok = sum((tp[i] is None) == (inferred.get(i) is None) for i in ids)
    intervals = tree_bootstrap(
        pl.Series([t_root[i] for i in ids], dtype=pl.String).cast(pl.Categorical).to_physical().to_numpy(),
        {"parent_accuracy": exact_hit, "tree_accuracy": tree_hit, "baseline_parent_accuracy": base_hit})
    # candidate recall: the true parent among the post's candidates
    index = {x: k for k, x in enumerate(ids)}
    true_idx = np.array([index.get(tp[i], -1) if tp[i] is not None else -1 for i in ids], dtype=np.int64)
    pc, pp = res.pairs["c"], res.pairs["p"]  # type: ignore[index]
    found = np.zeros(len(ids), dtype=bool)
    found[pc[true_idx[pc] == pp]] = True
    with_parent = true_idx >= 0
    recall = float(found[with_parent].mean()) if with_parent.any() else None
    # NIST-style overlap per true tree: the true tree against the inferred tree holding its root
    t_members: dict[str, set[str]] = {}
    i_members: dict[str, set[str]] = {}
    for i in ids:
        t_members.setdefault(t_root[i], set()).add(i)
        i_members.setdefault(i_root[i], set()).add(i)
    vo, eo = [], []
    for r, vt in t_members.items():
        vs = i_members[i_root[r]]
        vo.append(2 * len(vt & vs) / (len(vt) + len(vs)))
        et = {(tp[x], x) for x in vt if tp[x] is not None}
        es = {(inferred[x], x) for x in vs if inferred.get(x) is not None}
        eo.append(2 * len(et & es) / (len(et) + len(es)) if (et or es) else 1.0)
    # calibration over the inferred edges
    ch = list(inferred)
    cf = np.array([conf[x] for x in ch])
    ok = np.array([inferred[x] == tp[x] for x in ch], dtype=float)
    edges_n = len(ch)
    table, ece = reliability(cf, ok, bins)
    hi9 = cf >= 0.9
    return {
        "n": n,
        "parent_accuracy": exact / n if n else None,
        "ancestor_accuracy": anc_ok / n if n else None,
        "tree_accuracy": tree_ok / n if n else None,
        "link_tree_accuracy": link_ok / n if n else None,
        "root_accuracy": root_ok / n if n else None,
        "vertex_overlap": float(np.mean(vo)) if vo else None,
        "edge_overlap": float(np.mean(eo)) if eo else None,
        "ece": ece,
        "precision_at_0_9": float(ok[hi9].mean()) if hi9.any() else None,
        "coverage_at_0_9": float(hi9.mean()) if edges_n else None,
        "baseline_parent_accuracy": base_exact / n if n else None,
        "candidate_recall": recall,
        "intervals": intervals,
        "inferred_edges": edges_n,
        "true_edges": sum(v is not None for v in tp.values()),
        "reliability": table,
        # posts that could take no part (no words and no picture, a date from the future), by reason: they
        # are scored as roots, so a remix among them counts against parent accuracy
        "no_part": res.summary()["no_part"],
    }


def evaluate(arc: Any, *, weights: Any = None, source: str | None = None, until: Any = None) -> dict[str, Any]:
    """Hide the archive's declared links, infer, and compare with them (nothing is written).

    Truth is each post's primary declared parent (placeholders, parents missing from the
    archive, count as no parent), and for a simulated link left undeclared its true parent
    (:func:`_truth`; the result's ``undeclared_truth`` counts them). ``warnings`` (list of str) says when
    the declared links stop well before the posts read do (:data:`DECLARED_STOP`; with ``until`` too, which
    may lie past the stop): the later posts are scored as roots. Raises :class:`~lineage.errors.LineageError` when the archive has no
    declared link to compare with.

    >>> import tempfile
    >>> from archive.store import Archive
    >>> evaluate(Archive.open(tempfile.mkdtemp() + "/a", create=True))
    Traceback (most recent call last):
    lineage.errors.LineageError: the archive has no declared links to evaluate against (a link to a post the archive lacks counts as none); ingest an archive that has them (e.g. archivist ingest simulate)
    """
    from lineage.infer import load_fingerprints, weights_for

    posts, truth, hidden = _scoped(arc, source, until)
    rep = evaluate_frame(posts, truth, weights=weights or weights_for(arc.path),
                         fingerprints=load_fingerprints(arc.path))
    rep["undeclared_truth"] = len(hidden)
    rep["warnings"] = []
    stop = _declared_stop(posts, truth)  # of the posts read: with --until too (an --until past the stop)
    if stop is not None:  # scored, as asked, but not silently: --calibrate refuses such an archive
        stamp, after = stop
        rep["warnings"].append(
            f"the declared links stop at {stamp} (the last post with one), and the {after:,} posts after it "
            f"({_share(after, posts.height)}) are scored as roots: if the platform stopped declaring links then, "
            f"the links inference finds there count as wrong; score the posts before it with --until {stamp}")
    elif source is None and "source" in posts.columns:  # one platform of several may have stopped
        for src in sorted(posts.get_column("source").unique().drop_nulls().to_list()):
            part = posts.filter(pl.col("source") == src)
            stop = _declared_stop(part, {i: truth.get(i) for i in part.get_column("id").to_list()})
            if stop is not None:
                stamp, after = stop
                rep["warnings"].append(
                    f"the declared links of source {src} stop at {stamp}, and its {after:,} posts after it "
                    f"({_share(after, part.height)}) are scored as roots: if {src} stopped declaring links then, "
                    f"score its posts before it with --source {src} --until {stamp}")
    return rep


#: Fewest links (inferred on the archive with its declared links hidden) a recalibration is fitted on:
#: ten coefficients, and each half of the trees must hold enough links to score the other half's fit.
MIN_CALIBRATION_LINKS = 200


def _scoped(arc: Any, source: str | None = None, until: Any = None, *, purpose: str = "evaluate against"
            ) -> tuple[pl.DataFrame, dict[str, str | None], set[str]]:
    """The posts inference reads, each one's declared parent (:func:`_truth`), and the ids among them scored
    against a simulated truth no declared link states; only ``source``'s posts and those created at or before
    ``until`` (aware datetime) when given: a link to a post outside them counts as none. Raises
    :class:`~lineage.errors.LineageError` when no declared link is left to compare with."""
    from lineage.infer import _archive_posts

    posts = _archive_posts(arc)
    if source is not None:
        posts = posts.filter(pl.col("source") == source)
    if until is not None:
        posts = posts.filter(pl.col("created_at") <= until)
    keep = set(posts.get_column("id").to_list())
    whole, hidden = _truth(arc)
    truth = {i: (p if p in keep else None) for i, p in whole.items() if i in keep}
    if not any(p is not None for p in truth.values()):  # none, or only links to posts it lacks or does not read
        scope = "" if source is None and until is None else " among the posts read (--source, --until)"
        raise LineageError(f"the archive has no declared links to {purpose}{scope} (a link to a post the "
                           "archive lacks counts as none); ingest an archive that has them (e.g. archivist "
                           "ingest simulate)")
    return posts, truth, {i for i in hidden if truth.get(i) is not None}


def _truth(arc: Any) -> tuple[dict[str, str | None], set[str]]:
    """Each post's primary declared parent (a placeholder, or a parent the archive lacks, counts as none),
    with :func:`undeclared_truth` where no declared link states one; and the ids that took theirs from it.
    Scored as roots, the links inference rebuilt there read as wrong (exact parent 0.41 where it was
    0.83), and a calibration fitted on that spoiled every later confidence."""
    lin = arc.lineage().filter(~pl.col("placeholder"))
    placeholders = set(arc.posts().filter(pl.col("placeholder")).get_column("id").to_list())
    truth = {i: (p if p not in placeholders else None) for i, p in lin.select("id", "parent").iter_rows()}
    hidden = undeclared_truth(arc, lin)
    truth.update(hidden)
    return truth, set(hidden)


def undeclared_truth(arc: Any, lineage: pl.DataFrame | None = None) -> dict[str, str]:
    """``id -> parent`` (String) of the simulated posts whose records keep a true parent no declared link
    states (``ingest simulate --undeclared``: ``extra.simulator.parent``), read from each post's current
    observation (:func:`archive.sources.simulate.simulator_values`); a post that declares a parent, or whose true parent is not in the archive, is left out.
    Empty for an archive of other sources. ``lineage`` is ``arc.lineage()`` without placeholders, if read."""
    from archive.sources.simulate import simulator_values

    got = simulator_values(arc, "parent")
    if not got.height:
        return {}
    lin = lineage if lineage is not None else arc.lineage().filter(~pl.col("placeholder"))
    declared = dict(lin.select("id", "parent").iter_rows())
    return {i: p for i, p in got.iter_rows() if i in declared and declared[i] is None and p in declared}


#: The prior's standard deviation on each recalibration coefficient, centred on the shipped one: a term
#: that varies on a handful of the archive's links moves little (7 pictured links of 1,964, all right, took
#: the picture term's slope from 0.22 to 7.5 unpenalised), one that varies on hundreds as they say.
CALIBRATION_PRIOR_SD = 1.0


def _refit(D: np.ndarray, ok: np.ndarray, given: tuple[float, ...]) -> tuple[float, ...]:
    """The recalibration's coefficients fitted on ``D`` (:func:`lineage.infer.calibration_design` rows) and
    ``ok``: the maximum a posteriori logistic regression under a normal prior centred on ``given`` (sd
    :data:`CALIBRATION_PRIOR_SD`), where a term that does not vary here (no link has a picture, every parent
    publishes a count) keeps its ``given`` coefficient, the constant absorbing its value: these links cannot
    tell its slope, and a later post where it does vary is read as the shipped fit read it.

    >>> D = np.column_stack([np.linspace(-2, 2, 40), np.ones(40), np.ones(40)])  # the third term never varies
    >>> ok = (np.arange(40) % 3 > 0).astype(float)
    >>> c = _refit(D, ok, (1.0, 0.0, 0.5))
    >>> c[2], round(c[1] + c[2], 4) == round(_refit(D[:, :2], ok, (1.0, 0.0))[1], 4)
    (0.5, True)
    """
    from scipy.optimize import minimize

    base = np.zeros(D.shape[1])
    base[:len(given)] = given[:D.shape[1]]
    fit = np.ptp(D, axis=0) > 0
    fit[:2] = True  # the logit and the constant are always fitted
    X, w0 = D[:, fit], base[fit]

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ w
        d = w - w0
        g = X.T @ (1.0 / (1.0 + np.exp(-z)) - ok) + d / CALIBRATION_PRIOR_SD ** 2
        return float(np.sum(np.logaddexp(0.0, z) - ok * z) + 0.5 * d @ d / CALIBRATION_PRIOR_SD ** 2), g

    out = base.copy()
    out[fit] = minimize(f, w0, jac=True, method="L-BFGS-B").x
    out[1] -= float(base[~fit] @ D[0, ~fit])
    return tuple(float(x) for x in out)


#: Without ``until``, :func:`recalibrate` refuses an archive where more than this share of the posts it reads
#: (and more than :data:`DECLARED_STOP_POSTS`) come after the last post with a declared parent: a platform that
#: stopped declaring links, whose later posts would all count as roots.
DECLARED_STOP = 0.1
DECLARED_STOP_POSTS = 50


def _share(part: int, whole: int) -> str:
    """``part / whole`` as a whole percentage that says 100% and 0% only when it is so (1,998 of 2,000 read 100%).

    >>> _share(1998, 2000), _share(2000, 2000), _share(1, 2000), _share(450, 1500)
    ('99%', '100%', '1%', '30%')
    """
    pct = 100.0 * part / whole if whole else 0.0
    shown = round(pct)
    if shown >= 100 and part < whole:
        shown = 99
    elif shown <= 0 and part > 0:
        shown = 1
    return f"{shown}%"


def _declared_stop(posts: pl.DataFrame, truth: dict[str, str | None]) -> tuple[str, int] | None:
    """Where the declared links stop well before the posts do (:data:`DECLARED_STOP`): the last linked
    post's time (RFC 3339, to the microsecond: ``--until`` that time holds the post itself) and how many
    posts come after it; None when they run to the end."""
    linked = [i for i, p in truth.items() if p is not None]
    last = posts.filter(pl.col("id").is_in(linked)).get_column("created_at").max()
    if last is None:
        return None
    after = posts.filter(pl.col("created_at") > last).height
    if after <= max(DECLARED_STOP * posts.height, DECLARED_STOP_POSTS):
        return None
    stamp = last.strftime("%Y-%m-%dT%H:%M:%S") + (f".{last.microsecond:06d}" if last.microsecond else "") + "Z"  # type: ignore[union-attr]
    return stamp, after


def _declared_until_the_end(posts: pl.DataFrame, truth: dict[str, str | None]) -> None:
    """Raise :class:`~lineage.errors.LineageError` when the declared links stop well before the posts do
    (:func:`_declared_stop`), naming the time to give as ``--until``."""
    stop = _declared_stop(posts, truth)
    if stop is not None:
        stamp, after = stop
        raise LineageError(f"the declared links stop at {stamp} (the last post with one), and the {after:,} posts "
                           f"after it ({_share(after, posts.height)}) would count as roots: if the platform stopped "
                           f"declaring links then, calibrate on the posts before it (--until {stamp}); if those "
                           "posts are roots indeed, give --until after the last post to calibrate on every one "
                           "(the shipped calibration stays in use)")


def recalibrate(arc: Any, *, weights: Any = None, source: str | None = None, until: Any = None
                ) -> tuple[Any, dict[str, Any]]:
    """Fit the confidence's recalibration on the archive's own declared links.

    The shipped calibration is fitted on simulated archives, and a platform's habits move it: where
    each remix's delay runs from its parent's time (cascade timing; the simulator's
    ``edge_delays``), links of confidence 0.5-0.8 were right 10-20 points less often than they said
    (expected calibration error 0.10-0.17 on the four unseen settings). This hides the declared
    links, infers with ``weights`` (default: the shipped ones), and refits the
    :data:`lineage.infer.CALIBRATION_TERMS` (Platt scaling with covariates, Platt 1999, under a prior
    centred on the given coefficients, :func:`_refit`) on whether each chosen parent is the declared
    one; the scores, the assignment and the tree check are left as they are, so the links do not
    change, only how sure they say they are. ``source`` and ``until`` (an aware datetime) read only
    that source's posts and those created at or before it: where the declared links are the whole truth.

    Returns ``(weights, report)``: the weights with the new calibration, and ``links`` (int: the
    links fitted on), ``trees`` (int: true trees), ``share_right`` (float), ``ece_before`` (the
    given calibration on these links), ``ece_after`` (cross-validated: the trees split in two
    halves, each half's links scored by the calibration fitted on the other half), the same pair for
    ``precision_at_0_9`` and ``coverage_at_0_9`` (None where no link reaches 0.9),
    ``reliability_after`` (:func:`reliability`, cross-validated) and ``calibration`` (the
    coefficients fitted on every link). The declared links are taken as the whole truth, as
    :func:`evaluate` takes them. Raises :class:`~lineage.errors.LineageError` when the archive
    has no declared link, fewer than :data:`MIN_CALIBRATION_LINKS` links are inferred, the trees do
    not split into two halves that each hold links (nothing to score a fit on apart from what it was
    fitted on), or, without
    ``until``, the declared links stop well before the posts do (:data:`DECLARED_STOP`).
    """
    import dataclasses
    import zlib

    from lineage.infer import _calibrate, infer_frame, load_fingerprints, load_weights

    w = weights or load_weights()
    posts, truth, hidden = _scoped(arc, source, until, purpose="calibrate on")
    if until is None:
        _declared_until_the_end(posts, truth)
    res = infer_frame(posts, weights=w, fingerprints=load_fingerprints(arc.path))
    e = res.edges.join(res.calibration, on="child", how="left")  # type: ignore[arg-type]
    if e.height < MIN_CALIBRATION_LINKS:
        raise LineageError(f"only {e.height} links were inferred with the declared links hidden, and a calibration "
                           f"needs at least {MIN_CALIBRATION_LINKS}; calibrate on a larger archive with declared "
                           "links (the shipped calibration stays in use)")
    D = e.get_column("design").to_numpy().astype(np.float64).reshape(e.height, -1)
    ok = np.array([truth.get(c) == p for c, p in e.select("child", "parent").iter_rows()], dtype=np.float64)
    # every link right (or every one wrong) is news too: a chain of small edits whose links all hold, at a
    # shipped confidence of 0.2, says the confidence is too low; the prior keeps the fit finite (no
    # separation), each term moving as far as these links outweigh its standard deviation
    before = e.get_column("confidence").to_numpy()
    # the caps infer_frame puts on the calibrated value (a picture alone, candidates alike in everything)
    # stay where they bind
    raw = _calibrate(D, w.calibration)
    cap = np.where(before < raw - 1e-12, before, np.inf)
    ids = list(truth)
    root = _truth_root(ids, truth)
    fold = np.array([zlib.crc32(root.get(c, c).encode()) & 1 for c in e.get_column("child").to_list()])
    after = np.empty(e.height)
    for k in (0, 1):
        held = fold == k
        if held.all() or not held.any():
            n_trees = len(set(root.values()))
            why = ("a calibration needs two halves of the trees, one to fit on and one to score the fit" if n_trees < 2
                   else "one half of them holds no link, so a calibration fitted on the other half cannot be scored "
                        "apart from what it was fitted on")
            raise LineageError(f"the declared links make {n_trees:,} tree{'s' if n_trees != 1 else ''}: {why}; calibrate "
                               "on an archive with more trees (the shipped calibration stays in use)")
        after[held] = np.minimum(_calibrate(D[held], _refit(D[~held], ok[~held], w.calibration)), cap[held])
    cal = _refit(D, ok, w.calibration)
    table, ece_after = reliability(after, ok)

    def at_0_9(conf: np.ndarray) -> tuple[float | None, float]:
        hi = conf >= 0.9
        return (float(ok[hi].mean()) if hi.any() else None), float(hi.mean())

    (p0, c0), (p1, c1) = at_0_9(before), at_0_9(after)
    report = {"links": int(e.height), "trees": len(set(root.values())), "share_right": float(ok.mean()),
              "undeclared_truth": sum(1 for c in e.get_column("child").to_list() if c in hidden),
              "ece_before": reliability(before, ok)[1], "ece_after": ece_after,
              "precision_at_0_9_before": p0, "precision_at_0_9_after": p1,
              "coverage_at_0_9_before": c0, "coverage_at_0_9_after": c1,
              "reliability_after": table, "calibration": list(cal)}
    return dataclasses.replace(w, calibration=tuple(cal)), report


def posts_from_records(records: list[dict]) -> tuple[pl.DataFrame, dict[str, str | None]]:
    """Remix records (dicts) as the posts frame :func:`infer_frame` takes, and the declared parent of each
    (for a simulated record whose link was left undeclared, its true parent, ``extra.simulator.parent``).

    >>> from archive.sources.simulate import SimParams, simulate
    >>> posts, truth = posts_from_records(simulate(SimParams(seed=1, posts=20))[0])
    >>> posts.columns, len(truth)
    (['id', 'created_at', 'fetched_at', 'author', 'text', 'views', 'remixes'], 20)
    """
    from archive.record import parse_time

    rows = []
    truth: dict[str, str | None] = {}
    for r in records:
        m = r.get("metrics") or {}
        rows.append((r["id"], parse_time(r["created_at"]), parse_time(r["fetched_at"]) if r.get("fetched_at")
                     else None, r.get("author"), r.get("prompt") or r.get("title") or "", m.get("views"),
                     m.get("remixes")))
        ps = r.get("parents") or []
        # a simulated link left undeclared (``ingest simulate --undeclared``) keeps its truth in extra
        hidden = ((r.get("extra") or {}).get("simulator") or {}).get("parent")
        first = ps[0] if ps else None  # a parent is an id or an object with one (the record format takes both)
        truth[r["id"]] = (first if isinstance(first, str) else first["id"]) if first is not None else hidden
    posts = pl.DataFrame(rows, schema={"id": pl.String, "created_at": UTC, "fetched_at": UTC, "author": pl.String,
                                       "text": pl.String, "views": pl.Int64, "remixes": pl.Int64}, orient="row")
    return posts, truth
