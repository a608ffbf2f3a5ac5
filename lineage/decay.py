"""Remix decay: how fidelity, branching, activity and engagement fall off down the trees, and tree shape.

- fidelity ``F(d)`` = mean of ``1 - root drift`` over depth-d nodes, fitted by
  ``F(d) = F∞ + (1 - F∞) e^(-λd)``; generational half-life ``ln 2 / λ`` with a
  bootstrap interval (trees resampled with replacement, ``seed=``);
- branching: ``m_g = N_{g+1} / N_g`` and the fit ``m_g = m0 γ^g`` (Poisson maximum
  likelihood: children of generation g ~ Poisson(N_g m0 γ^g));
- activity: the remixes' delays after their root; the activity half-life is the
  median delay; Kaplan-Meier survival of a tree's "time to last remix", trees
  with a remix in the ``quiet`` period before fetch time censored (still active);
- engagement decay: least-squares slope of ``log(1 + views)`` on depth;
- tree shape: size, depth, breadth, structural virality (mean distance between
  two nodes), Sackin (sum of leaf depths) and Colless (sum over internal nodes of
  the absolute leaf-count differences between every pair of children);
- remixing dilemma: correlation of generativity (children per post) with
  originality (the post's drift from its parent).

Examples
--------
>>> lin = pl.DataFrame({"id": ["r", "a", "b", "c"], "parent": [None, "r", "r", "a"],
...                     "root": ["r"] * 4, "depth": [0, 1, 1, 2]})
>>> tree_shape(lin).select("size", "depth", "breadth", "leaves", "sackin", "colless").row(0)
(4, 2, 2, 2, 3, 0)
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from lineage.paths import parent_index, subtree_sums

__all__ = [
    "fidelity_by_depth", "fit_fidelity", "branching_decay", "activity", "kaplan_meier", "engagement_decay",
    "tree_shape", "remixing_dilemma", "TREE_SHAPE_SCHEMA",
]

TREE_SHAPE_SCHEMA = {"root": pl.String, "size": pl.Int64, "depth": pl.Int64, "breadth": pl.Int64,
                     "leaves": pl.Int64, "structural_virality": pl.Float64, "sackin": pl.Int64,
                     "colless": pl.Int64}


def fidelity_by_depth(node_drift: pl.DataFrame) -> pl.DataFrame:
    """``depth, nodes, fidelity, sd``: mean and spread of ``1 - root_drift`` per depth.

    >>> nd = pl.DataFrame({"depth": [0, 1, 1], "root_drift": [0.0, 0.2, 0.4]})
    >>> fidelity_by_depth(nd).rows()
    [(0, 1, 1.0, None), (1, 2, 0.7, 0.14142135623730953)]
    """
    return (node_drift.filter(pl.col("root_drift").is_not_null())
            .group_by("depth").agg(nodes=pl.len().cast(pl.Int64), fidelity=(1 - pl.col("root_drift")).mean(),
                                   sd=(1 - pl.col("root_drift")).std())
            .sort("depth"))


def _fit_exp(d: np.ndarray, f: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares of ``F = F∞ + (1-F∞) e^(-λ d)``; λ by a bounded scalar search, F∞ closed form."""
    from scipy.optimize import minimize_scalar

    def solve(lam: float) -> tuple[float, float]:
        e = np.exp(-lam * d)
        x = 1.0 - e  # F - e = F∞ (1 - e)
        y = f - e
        den = float((w * x * x).sum())
        finf = float((w * x * y).sum() / den) if den > 0 else 0.0
        finf = min(max(finf, 0.0), 1.0)
        return finf, float((w * (f - (finf + (1 - finf) * e)) ** 2).sum())

    res = minimize_scalar(lambda z: solve(math.exp(z))[1], bounds=(math.log(1e-4), math.log(50.0)),
                          method="bounded", options={"xatol": 1e-6})
    lam = math.exp(float(res.x))
    return solve(lam)[0], lam


def fit_fidelity(node_drift: pl.DataFrame, *, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Fit fidelity decay: ``F_inf, lambda, half_life`` (generations), bootstrap ``half_life_low/high``.

    ``node_drift`` has ``root, depth, root_drift`` (:func:`lineage.drift.node_drift`).
    The bootstrap resamples whole trees (``n_boot`` times, seeded). Returns ``None``
    figures when fewer than two depths have nodes.

    >>> d = np.repeat(np.arange(8), 20)
    >>> nd = pl.DataFrame({"root": (np.arange(d.size) % 10).astype(str), "depth": d,
    ...                    "root_drift": 1 - (0.3 + 0.7 * np.exp(-0.5 * d))})
    >>> fit = fit_fidelity(nd, n_boot=20, seed=1)
    >>> round(fit["F_inf"], 3), round(fit["lambda"], 3), round(fit["half_life"], 3)
    (0.3, 0.5, 1.386)
    """
    nd = node_drift.filter(pl.col("root_drift").is_not_null())
    agg = nd.group_by("root", "depth").agg(s=(1 - pl.col("root_drift")).sum(), n=pl.len()).sort("root", "depth")
    out: dict[str, Any] = {"F_inf": None, "lambda": None, "half_life": None, "half_life_low": None,
                           "half_life_high": None, "nodes": nd.height, "depths": 0, "n_boot": n_boot}
    if agg.height == 0:
        return out
    roots = agg.get_column("root").unique().sort()
    ridx = agg.join(pl.DataFrame({"root": roots, "_r": np.arange(roots.len())}), on="root").sort("root", "depth")
    r = ridx.get_column("_r").to_numpy()
    dep = ridx.get_column("depth").to_numpy()
    s = ridx.get_column("s").to_numpy()
    n = ridx.get_column("n").to_numpy().astype(np.float64)
    max_d = int(dep.max())
    out["depths"] = int(np.unique(dep).size)
    if out["depths"] < 2:
        return out

    def fit(weights: np.ndarray) -> tuple[float, float]:
        ws = np.bincount(dep, weights=s * weights[r], minlength=max_d + 1)
        wn = np.bincount(dep, weights=n * weights[r], minlength=max_d + 1)
        ok = wn > 0
        d = np.flatnonzero(ok).astype(np.float64)
        return _fit_exp(d, ws[ok] / wn[ok], wn[ok])

    finf, lam = fit(np.ones(roots.len()))
    out.update({"F_inf": finf, "lambda": lam, "half_life": math.log(2) / lam})
    if n_boot > 0 and roots.len() > 1:
        rng = np.random.default_rng(seed)
        hl = []
        for _ in range(n_boot):
            w = rng.multinomial(roots.len(), np.full(roots.len(), 1.0 / roots.len())).astype(np.float64)
            _, lb = fit(w)
            hl.append(math.log(2) / lb)
        a = (1 - level) / 2
        out["half_life_low"], out["half_life_high"] = (float(np.quantile(hl, a)), float(np.quantile(hl, 1 - a)))
    return out


def branching_decay(lineage: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Offspring per generation and the fit ``m_g = m0 γ^g``.

    Returns ``(table, fit)``: ``table`` has ``generation, nodes, children, m``;
    ``fit`` has ``m0, gamma`` (Poisson maximum likelihood over every generation) and ``generations``.

    >>> lin = pl.DataFrame({"depth": [0, 0, 1, 1, 1, 1, 2, 2, 3]})
    >>> table, fit = branching_decay(lin)
    >>> table.rows()
    [(0, 2, 4, 2.0), (1, 4, 2, 0.5), (2, 2, 1, 0.5), (3, 1, 0, 0.0)]
    >>> round(fit["m0"], 2), round(fit["gamma"], 2)
    (1.84, 0.37)
    """
    counts = lineage.group_by("depth").agg(nodes=pl.len().cast(pl.Int64)).sort("depth")
    table = (counts.rename({"depth": "generation"})
             .join(counts.select(generation=pl.col("depth") - 1, children="nodes"), on="generation", how="left")
             .with_columns(pl.col("children").fill_null(0).cast(pl.Int64), pl.col("generation").cast(pl.Int64))
             .with_columns(m=pl.col("children") / pl.col("nodes")).sort("generation"))
    g = table.get_column("generation").to_numpy().astype(np.float64)
    N = table.get_column("nodes").to_numpy().astype(np.float64)
    C = table.get_column("children").to_numpy().astype(np.float64)
    fit: dict[str, Any] = {"m0": None, "gamma": None, "generations": int(table.height)}
    if table.height < 2 or C.sum() == 0:
        return table, fit
    from scipy.optimize import minimize

    def nll(p: np.ndarray) -> tuple[float, np.ndarray]:
        mu = N * np.exp(p[0] + p[1] * g)
        ll = float((C * (p[0] + p[1] * g) - mu).sum())
        grad = np.array([(C - mu).sum(), ((C - mu) * g).sum()])
        return -ll, -grad

    res = minimize(nll, np.array([math.log(max(C[0] / N[0], 1e-3)), 0.0]), jac=True, method="L-BFGS-B",
                   bounds=[(-20, 20), (-20, 5)])
    fit["m0"], fit["gamma"] = float(math.exp(res.x[0])), float(math.exp(res.x[1]))
    return table, fit


def _utc(t: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return t.dt.replace_time_zone("UTC")
    return t


def kaplan_meier(durations: np.ndarray, events: np.ndarray) -> pl.DataFrame:
    """Kaplan-Meier survival: ``time, at_risk, events, censored, survival`` at each distinct time.

    >>> kaplan_meier(np.array([1.0, 2.0, 2.0, 3.0]), np.array([True, True, False, True])).rows()
    [(1.0, 4, 1, 0, 0.75), (2.0, 3, 1, 1, 0.5), (3.0, 1, 1, 0, 0.0)]
    """
    df = pl.DataFrame({"time": np.asarray(durations, dtype=np.float64), "e": np.asarray(events, dtype=bool)})
    t = (df.group_by("time").agg(events=pl.col("e").sum().cast(pl.Int64), censored=(~pl.col("e")).sum().cast(pl.Int64))
         .sort("time"))
    total = df.height
    t = t.with_columns(at_risk=(total - (pl.col("events") + pl.col("censored")).cum_sum().shift(1, fill_value=0))
                       .cast(pl.Int64))
    return t.with_columns(survival=(1 - pl.col("events") / pl.col("at_risk")).cum_prod()).select(
        "time", "at_risk", "events", "censored", "survival")


def activity(nodes: pl.DataFrame, *, fetched_at: datetime | None = None, quiet: str | timedelta = "14d"
             ) -> tuple[dict[str, Any], pl.DataFrame]:
    """Activity half-life and survival of tree activity.

    ``nodes`` has ``id, root, depth, created_at`` and optionally ``fetched_at``
    (fetch time = ``fetched_at`` given, else the latest ``fetched_at``, else the latest
    ``created_at``). Returns ``(summary, survival)``: summary has ``half_life_days``
    (median delay of a remix after its root), ``remixes``, ``trees``, ``censored``,
    ``median_lifetime_days`` (where survival crosses 0.5); survival is :func:`kaplan_meier`
    of each tree's days from root to last remix, with trees whose last remix is
    within ``quiet`` of fetch time censored at fetch time.

    >>> from datetime import datetime, timezone
    >>> t = [datetime(2026, 1, d, tzinfo=timezone.utc) for d in (1, 2, 4, 10)]
    >>> n = pl.DataFrame({"id": list("abcd"), "root": ["a", "a", "a", "d"], "depth": [0, 1, 1, 0], "created_at": t})
    >>> summary, surv = activity(n, fetched_at=datetime(2026, 1, 11, tzinfo=timezone.utc), quiet="3d")
    >>> summary["half_life_days"], summary["censored"]
    (2.0, 1)
    """
    from lineage.bleed import parse_window

    dt = nodes.schema["created_at"]
    n = nodes.with_columns(_t=_utc(pl.col("created_at"), dt))
    roots = n.filter(pl.col("depth") == 0).select("root", _t0="_t")
    n = n.join(roots, on="root", how="left").with_columns(
        _off=(pl.col("_t") - pl.col("_t0")).dt.total_microseconds() / 86_400e6)
    if fetched_at is None:
        if "fetched_at" in n.columns and n.get_column("fetched_at").drop_nulls().len():
            fetched_at = n.select(_utc(pl.col("fetched_at"), n.schema["fetched_at"]).max()).item()
        else:
            fetched_at = n.get_column("_t").max()  # type: ignore[assignment]
    fetch = pl.lit(fetched_at).cast(pl.Datetime("us", "UTC"))
    rem = n.filter(pl.col("depth") > 0, pl.col("_off").is_not_null())
    q = parse_window(quiet)
    per_tree = (n.filter(pl.col("_t0").is_not_null()).group_by("root").agg(
        t0=pl.col("_t0").first(), last=pl.col("_t").max(), remixes=(pl.col("depth") > 0).sum())
        .with_columns(active=(fetch - pl.col("last")) < pl.lit(q))
        .with_columns(duration=pl.when(pl.col("active")).then(fetch - pl.col("t0"))
                      .otherwise(pl.col("last") - pl.col("t0")).dt.total_microseconds() / 86_400e6))
    surv = kaplan_meier(per_tree.get_column("duration").to_numpy(), ~per_tree.get_column("active").to_numpy())
    below = surv.filter(pl.col("survival") <= 0.5)
    summary = {
        "half_life_days": float(rem.get_column("_off").median()) if rem.height else None,  # type: ignore[arg-type]
        "remixes": rem.height,
        "trees": per_tree.height,
        "censored": int(per_tree.get_column("active").sum()),
        "median_lifetime_days": float(below.get_column("time")[0]) if below.height else None,
        "fetched_at": fetched_at,
    }
    return summary, surv


def engagement_decay(nodes: pl.DataFrame, *, metric: str = "views") -> dict[str, Any]:
    """Slope (and intercept) of ``log(1 + metric)`` on depth by least squares.

    >>> n = pl.DataFrame({"depth": [0, 1, 2], "views": [math.e ** 3 - 1, math.e ** 2 - 1, math.e - 1]})
    >>> {k: round(v, 6) for k, v in engagement_decay(n).items() if k != "n"}
    {'slope': -1.0, 'intercept': 3.0}
    """
    d = nodes.filter(pl.col(metric).is_not_null()).select(
        x=pl.col("depth").cast(pl.Float64), y=pl.col(metric).cast(pl.Float64).clip(0).log1p())
    out: dict[str, Any] = {"slope": None, "intercept": None, "n": d.height}
    if d.height < 2 or d.get_column("x").n_unique() < 2:
        return out
    x, y = d.get_column("x").to_numpy(), d.get_column("y").to_numpy()
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
    out["slope"], out["intercept"] = slope, float(y.mean() - slope * x.mean())
    return out


def tree_shape(lineage: pl.DataFrame) -> pl.DataFrame:
    """Shape of every tree: ``root, size, depth, breadth, leaves, structural_virality, sackin, colless``.

    ``lineage`` has ``id, parent, root, depth``. Structural virality is the mean
    shortest-path distance over all pairs of nodes (0 for a one-node tree).

    >>> chain = pl.DataFrame({"id": ["a", "b", "c"], "parent": [None, "a", "b"], "root": ["a"] * 3, "depth": [0, 1, 2]})
    >>> tree_shape(chain).select("structural_virality", "sackin", "colless").row(0)
    (1.3333333333333333, 2, 0)
    """
    lin = lineage.select(pl.col("id").cast(pl.String), pl.col("parent").cast(pl.String),
                         pl.col("root").cast(pl.String), pl.col("depth").cast(pl.Int64)).sort(["root", "depth", "id"])
    if lin.height == 0:
        return pl.DataFrame(schema=TREE_SHAPE_SCHEMA)
    par = parent_index(lin)
    dep = lin.get_column("depth").to_numpy()
    nkids = np.bincount(par[par >= 0], minlength=lin.height)
    leaf = (nkids == 0).astype(np.int64)
    size = subtree_sums(par, np.ones(lin.height, dtype=np.int64), dep)
    leaves = subtree_sums(par, leaf, dep)
    f = lin.with_columns(_size=size, _leaf=leaf, _leaves=leaves)
    tsize = f.group_by("root").agg(n=pl.len())
    f = f.join(tsize, on="root")
    # Colless: for each parent, sum over pairs of children |L_i - L_j| = sum_k (2k - m - 1) L_(k), sorted ascending
    kids = f.filter(pl.col("parent").is_not_null()).select("root", "parent", "_leaves")
    coll = (kids.with_columns(k=pl.col("_leaves").rank("ordinal").over("parent"), m=pl.len().over("parent"))
            .group_by("root").agg(colless=((2 * pl.col("k").cast(pl.Int64) - pl.col("m").cast(pl.Int64) - 1)
                                           * pl.col("_leaves")).sum()))
    out = (f.group_by("root").agg(
        size=pl.len().cast(pl.Int64),
        depth=pl.col("depth").max(),
        breadth=pl.col("depth").value_counts().struct.field("count").max().cast(pl.Int64),
        leaves=pl.col("_leaf").sum(),
        wiener=pl.when(pl.col("parent").is_not_null()).then(pl.col("_size") * (pl.col("n") - pl.col("_size")))
        .otherwise(0).sum(),
        sackin=(pl.col("depth") * pl.col("_leaf")).sum(),
    ).join(coll, on="root", how="left")
        .with_columns(pl.col("colless").fill_null(0),
                      structural_virality=pl.when(pl.col("size") > 1)
                      .then(pl.col("wiener") / (pl.col("size") * (pl.col("size") - 1) / 2)).otherwise(0.0)))
    return out.select(list(TREE_SHAPE_SCHEMA)).cast(TREE_SHAPE_SCHEMA).sort("root")  # type: ignore[arg-type]


def remixing_dilemma(node_drift: pl.DataFrame) -> tuple[dict[str, Any], pl.DataFrame]:
    """Generativity (children per post) against originality (drift from the parent).

    ``node_drift`` has ``id, parent, edge_drift``. Returns ``(summary, table)``:
    ``summary`` has ``pearson``, ``spearman``, ``n`` over remixes with a drift;
    ``table`` has ``children`` (0, 1, 2, 3, 4 meaning 4 or more), ``posts``, ``originality``.

    >>> nd = pl.DataFrame({"id": ["r", "a", "b", "c"], "parent": [None, "r", "r", "a"],
    ...                    "edge_drift": [None, 0.1, 0.9, 0.5]})
    >>> s, t = remixing_dilemma(nd)
    >>> round(s["pearson"], 3), t.rows()
    (-0.866, [(0, 2, 0.7), (1, 1, 0.1)])
    """
    kids = node_drift.filter(pl.col("parent").is_not_null()).group_by("parent").agg(children=pl.len())
    d = (node_drift.filter(pl.col("edge_drift").is_not_null())
         .join(kids.rename({"parent": "id"}), on="id", how="left")
         .with_columns(pl.col("children").fill_null(0).cast(pl.Int64)))
    summary: dict[str, Any] = {"pearson": None, "spearman": None, "n": d.height}
    if d.height >= 3 and d.get_column("children").n_unique() > 1 and d.get_column("edge_drift").n_unique() > 1:
        summary["pearson"] = d.select(pl.corr("children", "edge_drift")).item()
        summary["spearman"] = d.select(pl.corr("children", "edge_drift", method="spearman")).item()
    table = (d.with_columns(children=pl.col("children").clip(upper_bound=4))
             .group_by("children").agg(posts=pl.len().cast(pl.Int64), originality=pl.col("edge_drift").mean())
             .sort("children"))
    return summary, table
