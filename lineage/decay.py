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
  two nodes; Goel, Anderson, Hofman, Watts 2016, "The structural virality of
  online diffusion", Management Science), Sackin (sum of leaf depths; Sackin
  1972, Shao and Sokal 1990) and the Colless-like index for multifurcating trees
  (Mir, Rosselló, Rotger 2018, "Sound Colless-like balance indices for
  multifurcating trees", PLoS ONE 13(9): e0203401) with ``f(k) = ln(k + e)`` and
  the mean deviation from the median (MDM); normalized forms beside each (see
  :func:`tree_shape`). The classic Colless index is defined on binary trees only
  and is not given;
- remixing dilemma: correlation of generativity (children per post) with
  originality (the post's drift from its parent).

Examples
--------
>>> lin = pl.DataFrame({"id": ["r", "a", "b", "c"], "parent": [None, "r", "r", "a"],
...                     "root": ["r"] * 4, "depth": [0, 1, 1, 2]})
>>> tree_shape(lin).select("size", "depth", "breadth", "leaves", "sackin").row(0)
(4, 2, 2, 2, 3)
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from lineage.paths import parent_index, subtree_sums

__all__ = [
    "fidelity_by_depth", "fit_fidelity", "fidelity_curve", "branching_decay", "activity", "activity_by_tree", "kaplan_meier", "engagement_decay",
    "tree_shape", "remixing_dilemma", "TREE_SHAPE_SCHEMA", "MIN_R2", "MAX_DISPERSION",
]

#: A fidelity fit whose R² falls below this is reported but not headlined.
MIN_R2 = 0.5
#: A branching fit whose Pearson dispersion (X² / degrees of freedom) exceeds this does not fit.
MAX_DISPERSION = 3.0

TREE_SHAPE_SCHEMA = {"root": pl.String, "size": pl.Int64, "depth": pl.Int64, "breadth": pl.Int64,
                     "leaves": pl.Int64, "structural_virality": pl.Float64, "structural_virality_norm": pl.Float64,
                     "sackin": pl.Int64, "sackin_per_leaf": pl.Float64, "colless_like": pl.Float64,
                     "colless_like_norm": pl.Float64}


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


def fidelity_curve(fit: dict[str, Any], depths: np.ndarray) -> np.ndarray:
    """The fitted fidelity ``F∞ + (1-F∞) e^(-λ d)`` at ``depths`` (``fit`` as :func:`fit_fidelity` returns it).

    Parameters
    ----------
    fit : dict
        ``F_inf`` and ``lambda`` (floats, not ``None``).
    depths : numpy.ndarray
        Generations (floats), e.g. ``np.linspace(0, max_depth, 60)``.

    Returns
    -------
    numpy.ndarray
        Fidelity (1 = the root's words) at each depth.

    Examples
    --------
    >>> fidelity_curve({"F_inf": 0.3, "lambda": math.log(2)}, np.array([0.0, 1.0])).round(6).tolist()
    [1.0, 0.65]
    """
    f_inf, lam = float(fit["F_inf"]), float(fit["lambda"])
    return f_inf + (1 - f_inf) * np.exp(-lam * np.asarray(depths, dtype=np.float64))


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
                           "half_life_high": None, "nodes": nd.height, "depths": 0, "n_boot": n_boot, "r2": None,
                           "reason": None}
    if agg.height == 0:
        out["reason"] = "no prompt text to measure: no post has a drift from its root"
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
        out["reason"] = "fewer than two generations with a measured drift: nothing to fit"
        return out

    def fit(weights: np.ndarray) -> tuple[float, float]:
        ws = np.bincount(dep, weights=s * weights[r], minlength=max_d + 1)
        wn = np.bincount(dep, weights=n * weights[r], minlength=max_d + 1)
        ok = wn > 0
        d = np.flatnonzero(ok).astype(np.float64)
        return _fit_exp(d, ws[ok] / wn[ok], wn[ok])

    finf, lam = fit(np.ones(roots.len()))
    ws = np.bincount(dep, weights=s, minlength=max_d + 1)
    wn = np.bincount(dep, weights=n, minlength=max_d + 1)
    ok = wn > 0
    dd, ff, ww = np.flatnonzero(ok).astype(np.float64), ws[ok] / wn[ok], wn[ok]
    ss_tot = float((ww * (ff - np.average(ff, weights=ww)) ** 2).sum())
    if ss_tot <= 1e-12:
        out["reason"] = ("fidelity does not change with depth (every generation keeps the same share of its root): "
                         "no decay to fit")
        return out
    pred = fidelity_curve({"F_inf": finf, "lambda": lam}, dd)
    out["r2"] = 1 - float((ww * (ff - pred) ** 2).sum()) / ss_tot
    out.update({"F_inf": finf, "lambda": lam, "half_life": math.log(2) / lam})
    if out["r2"] < MIN_R2:
        out["reason"] = f"the exponential does not fit the fidelity by depth (R² = {out['r2']:.2f} < {MIN_R2})"
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
    ``fit`` has ``m0, gamma`` (Poisson maximum likelihood over every generation), ``generations``
    and how well it fits: ``deviance`` (against the saturated model), ``dispersion`` (Pearson
    X² over ``generations - 2`` degrees of freedom: about 1 when the children per generation
    are Poisson around the fit), ``lr_flat`` (likelihood-ratio statistic against a flat
    ``m_g = m`` for every g, chi-squared with 1 degree of freedom) and ``reason``: ``None``
    when the fit may be headlined, else why not (fewer than three generations: the two
    parameters meet every point, nothing is tested; dispersion above :data:`MAX_DISPERSION`).

    >>> lin = pl.DataFrame({"depth": [0, 0, 1, 1, 1, 1, 2, 2, 3]})
    >>> table, fit = branching_decay(lin)
    >>> table.rows()
    [(0, 2, 4, 2.0), (1, 4, 2, 0.5), (2, 2, 1, 0.5), (3, 1, 0, 0.0)]
    >>> round(fit["m0"], 2), round(fit["gamma"], 2), round(fit["dispersion"], 2), fit["reason"]
    (1.84, 0.37, 0.4, None)
    """
    counts = lineage.group_by("depth").agg(nodes=pl.len().cast(pl.Int64)).sort("depth")
    table = (counts.rename({"depth": "generation"})
             .join(counts.select(generation=pl.col("depth") - 1, children="nodes"), on="generation", how="left")
             .with_columns(pl.col("children").fill_null(0).cast(pl.Int64), pl.col("generation").cast(pl.Int64))
             .with_columns(m=pl.col("children") / pl.col("nodes")).sort("generation"))
    g = table.get_column("generation").to_numpy().astype(np.float64)
    N = table.get_column("nodes").to_numpy().astype(np.float64)
    C = table.get_column("children").to_numpy().astype(np.float64)
    fit: dict[str, Any] = {"m0": None, "gamma": None, "generations": int(table.height), "deviance": None,
                           "dispersion": None, "lr_flat": None, "reason": None}
    if C.sum() == 0:
        fit["reason"] = "no remixes: nothing branches"
        return table, fit
    if table.height < 3:
        fit["reason"] = "fewer than three generations: two parameters meet every point, the fit tells nothing"
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

    def deviance(mu: np.ndarray) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(C > 0, C * np.log(C / mu), 0.0)
        return float(2 * (t - (C - mu)).sum())

    mu = N * np.exp(res.x[0] + res.x[1] * g)
    fit["deviance"] = deviance(mu)
    fit["lr_flat"] = max(0.0, deviance(N * C.sum() / N.sum()) - fit["deviance"])
    fit["dispersion"] = float(((C - mu) ** 2 / mu).sum() / (table.height - 2))
    if fit["dispersion"] > MAX_DISPERSION:
        # as many decimals as it takes to read above the bound ("3.0 > 3" read as a contradiction)
        shown = next(t for k in (1, 2, 3, 4, 6) if float(t := f"{fit['dispersion']:.{k}f}") > MAX_DISPERSION or k == 6)
        fit["reason"] = (f"m0 γ^g does not fit the offspring per generation (dispersion {shown} "
                         f"> {MAX_DISPERSION:g})")
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
    (median delay of a remix after its root; a placeholder root is timed by its tree's
    earliest post), ``remixes``, ``trees``, ``censored``,
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
    # a placeholder root (never archived) has no time: its tree is timed from its earliest post
    roots = n.group_by("root").agg(_t0=pl.coalesce(pl.col("_t").filter(pl.col("depth") == 0).first(),
                                                   pl.col("_t").min()))
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


def activity_by_tree(nodes: pl.DataFrame) -> pl.DataFrame:
    """``root, activity_half_life_days``: per tree, the median days from its root to its remixes.

    ``nodes`` has ``root, depth, created_at``. A placeholder root (no time) is timed by
    its tree's earliest post, as in :func:`activity`; a tree without remixes gets null.

    >>> from datetime import datetime, timezone
    >>> t = [datetime(2026, 1, d, tzinfo=timezone.utc) for d in (1, 2, 4, 10)]
    >>> n = pl.DataFrame({"root": ["a", "a", "a", "d"], "depth": [0, 1, 1, 0], "created_at": t})
    >>> activity_by_tree(n).rows()
    [('a', 2.0), ('d', None)]
    """
    t = pl.col("created_at")
    t0 = pl.coalesce(t.filter(pl.col("depth") == 0).first(), t.min())
    return (nodes.group_by("root")
            .agg(activity_half_life_days=((t.filter(pl.col("depth") > 0) - t0).dt.total_microseconds()
                                          / 86_400e6).median())
            .sort("root"))


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
    """Shape of every tree, one row per root (columns of :data:`TREE_SHAPE_SCHEMA`).

    ``lineage`` has ``id, parent, root, depth``. Undefined is null, never 0.

    - ``structural_virality``: mean shortest-path distance over all pairs of nodes
      (Goel et al. 2016); null for a one-post tree (no pair). ``structural_virality_norm``
      places it between the star (``2(n-1)/n``, the least for n nodes) and the chain
      (``(n+1)/3``, the most): 0 for a star, 1 for a chain, null below 4 nodes (where the two agree).
    - ``sackin``: sum of leaf depths (Sackin 1972); ``sackin_per_leaf`` = Sackin / leaves,
      the mean leaf depth (Shao and Sokal 1990's N-bar), which compares trees of different sizes.
    - ``colless_like``: the Colless-like index of Mir, Rosselló and Rotger (2018), sound for
      multifurcating trees: the sum over internal nodes of the mean deviation from the median
      of the children's f-sizes, where the f-size of a subtree is the sum of ``ln(k + e)`` over
      its nodes (k = a node's number of children). 0 exactly for trees whose every node's
      children carry equal subtrees (a star, a chain). ``colless_like_norm`` divides by the
      paper's maximum over trees with the same number of leaves n and no single-child nodes,
      ``(ln e + ln(2 + e)) (n - 1)(n - 2) / 4`` (null below 3 leaves); chains of single
      remixes are outside that family, so the normalized value can exceed 1 on them.

    >>> chain = pl.DataFrame({"id": list("abcd"), "parent": [None, "a", "b", "c"], "root": ["a"] * 4,
    ...                       "depth": [0, 1, 2, 3]})
    >>> tree_shape(chain).select("structural_virality", "structural_virality_norm", "sackin", "colless_like").row(0)
    (1.6666666666666667, 1.0, 3, 0.0)
    >>> cat = pl.DataFrame({"id": list("rabcd"), "parent": [None, "r", "r", "b", "b"], "root": ["r"] * 5,
    ...                     "depth": [0, 1, 1, 2, 2]})
    >>> round(tree_shape(cat)["colless_like"][0], 4)  # root: f-sizes 1 and ln(2+e) + 2, MDM = (ln(2+e) + 1) / 2
    1.2757
    >>> one = pl.DataFrame({"id": ["a"], "parent": [None], "root": ["a"], "depth": [0]})
    >>> tree_shape(one).select("structural_virality", "sackin_per_leaf").row(0)
    (None, 0.0)
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
    fsize = subtree_sums(par, np.log(nkids + math.e), dep)
    f = lin.with_columns(_size=size, _leaf=leaf, _fsize=fsize)
    tsize = f.group_by("root").agg(n=pl.len())
    f = f.join(tsize, on="root")
    # Colless-like (MDM, ln(k + e)): per internal node, mean |f-size of a child - median of them|
    kids = f.filter(pl.col("parent").is_not_null()).select("root", "parent", "_fsize")
    coll = (kids.group_by("root", "parent").agg(bal=(pl.col("_fsize") - pl.col("_fsize").median()).abs().mean())
            .group_by("root").agg(colless_like=pl.col("bal").sum()))
    n = pl.col("size").cast(pl.Float64)
    sv_star, sv_chain = 2 * (n - 1) / n, (n + 1) / 3
    lv = pl.col("leaves").cast(pl.Float64)
    out = (f.group_by("root").agg(
        size=pl.len().cast(pl.Int64),
        depth=pl.col("depth").max(),
        breadth=pl.col("depth").value_counts().struct.field("count").max().cast(pl.Int64),
        leaves=pl.col("_leaf").sum(),
        wiener=pl.when(pl.col("parent").is_not_null()).then(pl.col("_size") * (pl.col("n") - pl.col("_size")))
        .otherwise(0).sum(),
        sackin=(pl.col("depth") * pl.col("_leaf")).sum(),
    ).join(coll, on="root", how="left")
        .with_columns(pl.col("colless_like").fill_null(0.0),
                      structural_virality=pl.when(pl.col("size") > 1)
                      .then(pl.col("wiener") / (n * (n - 1) / 2)).otherwise(None))
        .with_columns(
            structural_virality_norm=pl.when(pl.col("size") > 3)
            .then((pl.col("structural_virality") - sv_star) / (sv_chain - sv_star)).otherwise(None),
            sackin_per_leaf=pl.col("sackin") / lv,
            colless_like_norm=pl.when(pl.col("leaves") > 2).then(
                pl.col("colless_like") / ((1 + math.log(2 + math.e)) * (lv - 1) * (lv - 2) / 4)).otherwise(None)))
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
