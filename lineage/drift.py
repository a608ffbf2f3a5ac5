"""Prompt drift: how far each remix moved from its parent, and from its root.

Per edge (parent u -> child v, tokens from :mod:`lineage.text`):

- ``jaccard = 1 - |T_u ∩ T_v| / |T_u ∪ T_v|`` on token *sets* (0 for two empty prompts);
- ``edit`` = token Levenshtein distance / the longer length, on the first
  :data:`~lineage.text.MAX_ALIGN_TOKENS` tokens of each prompt (so a 1 MB prompt stays fast);
- ``drift`` = ``jaccard``: the headline figure used everywhere else;
- ``added``, ``removed``, ``replaced``: the phrases (runs of words) the edit script
  inserted, deleted or swapped (``"old words → new words"``);
- ``reweighted``: words kept whose emphasis weight changed (``"oil painting: 1.2 → 1.5"``,
  Stable Diffusion ``(word:1.2)`` syntax, :mod:`lineage.syntax`). A weight edit is not word
  drift: it changes neither ``jaccard`` nor ``edit``.

Per node: ``root_drift`` = Jaccard drift from the tree's root (from the root's
first real descendant on the path when the root is a placeholder), ``path_drift``
= the sum of edge drift along the path, ``directness = root_drift / path_drift``
(1 when nothing drifted). A tree's drift rate is the least-squares slope of root
drift on depth. Edges whose parent is a placeholder (not in the archive, no text)
get null drift.

Examples
--------
>>> nodes = pl.DataFrame({"id": ["r", "a"],
...                       "text": ["a corgi surfing, claymation", "a cat surfing, claymation, film noir"]})
>>> e = edge_drift(nodes, pl.DataFrame({"child": ["a"], "parent": ["r"]}))
>>> e.select("jaccard", "edit").rows()  # 3 shared words of 7; 3 edits over 6 words
[(0.5714285714285714, 0.5)]
>>> e.select("added", "removed", "replaced").row(0)
(['film noir'], [], ['corgi → cat'])
>>> sd = pl.DataFrame({"id": ["r", "a"], "text": ["🐶 in space, (oil painting:1.2)", "🐶 in space, (oil painting:1.5)"]})
>>> edge_drift(sd, pl.DataFrame({"child": ["a"], "parent": ["r"]})).select("drift", "reweighted").row(0)
(0.0, ['oil painting: 1.2 → 1.5'])
"""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import Indel, Levenshtein

from lineage.paths import ancestor_at_depth, parent_index, path_sums
from lineage.syntax import format_weight
from lineage.text import (MAX_ALIGN_TOKENS, code_strings, set_strings, text_index, token_codes, tokenize, tokens_series,
                          weighted_tokens, weights_series)

__all__ = [
    "EDGE_DRIFT_SCHEMA",
    "NODE_DRIFT_SCHEMA",
    "node_tokens",
    "jaccard_expr",
    "edge_drift",
    "edit_ops",
    "node_drift",
    "drift_rate",
    "drift_rate_expr",
    "token_diff",
    "semantic_drift",
]

EDGE_DRIFT_SCHEMA = {
    "child": pl.String, "parent": pl.String, "jaccard": pl.Float64, "edit": pl.Float64, "drift": pl.Float64,
    "added": pl.List(pl.String), "removed": pl.List(pl.String), "replaced": pl.List(pl.String),
    "reweighted": pl.List(pl.String),
}
NODE_DRIFT_SCHEMA = {
    "id": pl.String, "parent": pl.String, "root": pl.String, "depth": pl.Int64, "edge_drift": pl.Float64,
    "root_drift": pl.Float64, "path_drift": pl.Float64, "directness": pl.Float64,
}
_ARROW = " → "
_THREADED_PAIRS = 50_000  # edge pairs from which rapidfuzz runs on every core


def node_tokens(nodes: pl.DataFrame, *, text: str = "text") -> pl.DataFrame:
    """``id, tokens, codes, placeholder, weights`` for every node (reuses ``tokens``/``weights`` if present).

    ``codes`` are the tokens as small integers (:func:`lineage.text.token_codes`): set and
    edit operations run on them. ``weights`` are the tokens' emphasis weights
    (:func:`lineage.text.weights_series`, null when all are 1 or when no text is given).

    >>> node_tokens(pl.DataFrame({"id": ["x"], "text": ["Film (noir:1.3)"]})).select("tokens", "weights").row(0)
    (['film', 'noir'], [1.0, 1.3])
    """
    cols = nodes.columns
    tok = nodes.get_column("tokens") if "tokens" in cols else tokens_series(
        nodes.get_column(text) if text in cols else pl.Series([None] * nodes.height, dtype=pl.String))
    ph = (nodes.get_column("placeholder").fill_null(False) if "placeholder" in cols
          else pl.Series([False] * nodes.height))
    w = (nodes.get_column("weights") if "weights" in cols else weights_series(nodes.get_column(text)) if text in cols
         else pl.Series([None] * nodes.height, dtype=pl.List(pl.Float64)))
    return pl.DataFrame({"id": nodes.get_column("id").cast(pl.String), "tokens": tok.fill_null([]),
                         "codes": token_codes(tok.fill_null([])), "placeholder": ph,
                         "weights": w.cast(pl.List(pl.Float64))})


def jaccard_expr(a: str | pl.Expr, b: str | pl.Expr) -> pl.Expr:
    """Jaccard distance of two list columns (0 when both are empty).

    >>> pl.select(jaccard_expr(pl.lit(["a", "b"]), pl.lit(["b", "c"]))).item()
    0.6666666666666667
    """
    a = pl.col(a) if isinstance(a, str) else a
    b = pl.col(b) if isinstance(b, str) else b
    union = a.list.set_union(b).list.len()
    inter = a.list.set_intersection(b).list.len()
    return pl.when(union == 0).then(0.0).otherwise(1.0 - inter / union)


def _blocks(a: str, b: str) -> list[tuple[int, int, int, int]]:
    """Change blocks ``(a0, a1, b0, b1)`` of the token edit script from ``a`` to ``b``.

    Adjacent insert/delete/replace steps form one block: "claymation → film noir", not two steps.
    """
    blocks: list[list[int]] = []
    for tag, s0, s1, d0, d1 in Levenshtein.opcodes(a, b).as_list():
        if tag == "equal":
            continue
        if blocks and blocks[-1][1] == s0 and blocks[-1][3] == d0:
            blocks[-1][1], blocks[-1][3] = s1, d1
        else:
            blocks.append([s0, s1, d0, d1])
    return [(x[0], x[1], x[2], x[3]) for x in blocks]


def edit_ops(parent_tokens: list[str], child_tokens: list[str], *,
             max_tokens: int = MAX_ALIGN_TOKENS) -> tuple[list[str], list[str], list[str]]:
    """``(added, removed, replaced)`` phrases turning ``parent_tokens`` into ``child_tokens``.

    >>> edit_ops(["a", "red", "fox", "at", "night"], ["a", "blue", "fox", "in", "snow", "at", "night"])
    (['in snow'], [], ['red → blue'])
    >>> edit_ops([], ["hello"])
    (['hello'], [], [])
    """
    pa, ch = parent_tokens[:max_tokens], child_tokens[:max_tokens]
    added: list[str] = []
    removed: list[str] = []
    replaced: list[str] = []
    if pa == ch:
        return added, removed, replaced
    for s0, s1, d0, d1 in _blocks(pa, ch):  # type: ignore[arg-type]
        old = " ".join(pa[s0:s1])
        new = " ".join(ch[d0:d1])
        if not old:
            added.append(new)
        elif not new:
            removed.append(old)
        else:
            replaced.append(old + _ARROW + new)
    return added, removed, replaced


def _ops_frame(p_tok: pl.Series, c_tok: pl.Series, p_str: np.ndarray, c_str: np.ndarray,
               rows: np.ndarray, n: int) -> pl.DataFrame:
    """``added, removed, replaced`` lists for ``n`` edges; only ``rows`` have changes (aligned on code strings)."""
    e_i: list[int] = []
    s0s: list[int] = []
    s1s: list[int] = []
    d0s: list[int] = []
    d1s: list[int] = []
    for k in rows.tolist():
        for s0, s1, d0, d1 in _blocks(p_str[k], c_str[k]):
            e_i.append(k)
            s0s.append(s0)
            s1s.append(s1)
            d0s.append(d0)
            d1s.append(d1)
    spans = pl.DataFrame({"_e": e_i, "s0": s0s, "s1": s1s, "d0": d0s, "d1": d1s},
                         schema={"_e": pl.Int64, "s0": pl.Int64, "s1": pl.Int64, "d0": pl.Int64, "d1": pl.Int64})
    idx = spans.get_column("_e")
    spans = spans.with_columns(p_tok.gather(idx).alias("_p"), c_tok.gather(idx).alias("_c")).with_columns(
        old=pl.col("_p").list.slice(pl.col("s0"), pl.col("s1") - pl.col("s0")).list.join(" "),
        new=pl.col("_c").list.slice(pl.col("d0"), pl.col("d1") - pl.col("d0")).list.join(" "),
    ).with_columns(
        kind=pl.when(pl.col("old") == "").then(pl.lit("added")).when(pl.col("new") == "").then(pl.lit("removed"))
        .otherwise(pl.lit("replaced")),
        phrase=pl.when(pl.col("old") == "").then(pl.col("new")).when(pl.col("new") == "").then(pl.col("old"))
        .otherwise(pl.concat_str("old", pl.lit(_ARROW), "new")),
    )
    base = pl.DataFrame({"_e": np.arange(n, dtype=np.int64)})
    for kind in ("added", "removed", "replaced"):
        agg = (spans.filter(pl.col("kind") == kind).sort("_e", "s0", "d0")
               .group_by("_e", maintain_order=True).agg(pl.col("phrase").alias(kind)))
        base = base.join(agg, on="_e", how="left")
    empty = pl.lit([], dtype=pl.List(pl.String))
    return base.sort("_e").select(pl.col(k).fill_null(empty) for k in ("added", "removed", "replaced"))


def _reweighted(tokens: pl.Series, weights: pl.Series | None, strings: np.ndarray, p: np.ndarray, c: np.ndarray,
                live: np.ndarray) -> pl.Series:
    """Per edge, the kept words whose emphasis weight changed: ``["oil painting: 1.2 → 1.5"]``.

    Words are aligned as for the edit script; consecutive kept words with the same change form one phrase.
    """
    n = p.shape[0]
    out: list[list[str]] = [[] for _ in range(n)]
    if weights is None or weights.null_count() == weights.len():
        return pl.Series("reweighted", out, dtype=pl.List(pl.String))
    has_w = weights.is_not_null().to_numpy()
    rows = np.flatnonzero(live & (has_w[p] | has_w[c]))
    memo: dict[tuple[int, int], list[str]] = {}
    wl = weights.to_list()
    for k in rows.tolist():
        key = (int(p[k]), int(c[k]))
        if key not in memo:
            pw, cw = wl[key[0]], wl[key[1]]
            pt = tokens[key[0]].to_list()
            memo[key] = _weight_changes(strings[key[0]], strings[key[1]], pt, pw, cw)
        out[k] = memo[key]
    return pl.Series("reweighted", out, dtype=pl.List(pl.String))


def _weight_changes(a: str, b: str, a_tok: list[str], a_w: list[float] | None, b_w: list[float] | None) -> list[str]:
    """Phrases of kept words (equal in the alignment of ``a`` to ``b``) whose weight differs."""
    phrases: list[str] = []
    run: list[str] = []
    run_key: tuple[float, float] | None = None
    last = -2

    def flush() -> None:
        if run and run_key is not None:
            phrases.append(f"{' '.join(run)}: {format_weight(run_key[0])}{_ARROW}{format_weight(run_key[1])}")

    for tag, s0, s1, d0, _ in Levenshtein.opcodes(a, b).as_list():
        if tag != "equal":
            continue
        for j in range(s1 - s0):
            i, k = s0 + j, d0 + j
            old = a_w[i] if a_w is not None and i < len(a_w) else 1.0
            new = b_w[k] if b_w is not None and k < len(b_w) else 1.0
            if old == new:
                continue
            if run_key == (old, new) and last == i - 1:
                run.append(a_tok[i])
            else:
                flush()
                run, run_key = [a_tok[i]], (old, new)
            last = i
    flush()
    return phrases


def _node_frame(nodes: pl.DataFrame, text: str) -> pl.DataFrame:
    """``id, text, placeholder`` of ``nodes`` (no text: ``""``; no placeholder column: none are)."""
    cols = nodes.columns
    return pl.DataFrame({
        "id": nodes.get_column("id").cast(pl.String),
        "text": (nodes.get_column(text).cast(pl.String) if text in cols
                 else pl.Series([None] * nodes.height, dtype=pl.String)).fill_null(""),
        "placeholder": (nodes.get_column("placeholder").fill_null(False) if "placeholder" in cols
                        else pl.Series([False] * nodes.height)),
    })


def _rows(tok: pl.DataFrame, ids: pl.Series) -> np.ndarray:
    """Row of each id in ``tok`` (-1 when absent)."""
    col = tok.get_column("id")
    n = col.len()
    # sorted with no two neighbours equal is unique: a comparison of neighbours, not a hash of every id
    if n and col.null_count() == 0 and col.is_sorted() and not (col.slice(1) == col.slice(0, n - 1)).any():
        # the store's views are sorted by id: binary search instead of a hash join
        ids = ids.cast(pl.String)
        pos = col.search_sorted(ids, side="left").to_numpy().astype(np.int64)
        found = np.minimum(pos, col.len() - 1)
        hit = (col.gather(found) == ids).fill_null(False).to_numpy() & (pos < col.len())
        return np.where(hit, pos, -1)
    m = pl.DataFrame({"id": ids.cast(pl.String)}).join(tok.select("id").with_row_index("_t"), on="id", how="left",
                                                       maintain_order="left")
    return m.get_column("_t").cast(pl.Int64).fill_null(-1).to_numpy()


def edge_drift(nodes: pl.DataFrame, edges: pl.DataFrame, *, text: str = "text", ops: bool = True,
               max_tokens: int = MAX_ALIGN_TOKENS) -> pl.DataFrame:
    """Drift of every edge: ``child, parent, jaccard, edit, drift, added, removed, replaced``.

    ``nodes`` has ``id`` and ``text`` (or a ``tokens`` column), optionally ``placeholder``;
    ``edges`` has ``child`` and ``parent``. With ``ops=False`` the phrase lists are
    left empty (lexical drift only, the fast path). Rows keep the order of ``edges``.
    Vectorised: Jaccard with polars set operations on token codes, edit distance with
    rapidfuzz over one-character-per-token strings; only the phrase lists loop in Python.

    >>> n = pl.DataFrame({"id": ["p", "c", "d"], "text": ["", "", "x y"]})
    >>> edge_drift(n, pl.DataFrame({"child": ["c", "d"], "parent": ["p", "p"]})).select("jaccard", "edit").rows()
    [(0.0, 0.0), (1.0, 1.0)]
    """
    weights: pl.Series | None
    if "codes" in nodes.columns or "tokens" in nodes.columns:
        tok = nodes if "codes" in nodes.columns else node_tokens(nodes, text=text)
        tokens, codes = tok.get_column("tokens"), tok.get_column("codes")
        weights = tok.get_column("weights") if "weights" in tok.columns else None
        of_node = None
    else:  # raw text: tokenise each distinct text once; a node's measures come from its text
        tok = _node_frame(nodes, text)
        uniq, of_node = text_index(tok.get_column("text"))
        tokens = tokens_series(uniq, distinct=True)
        codes = token_codes(tokens)
        weights = weights_series(uniq) if ops else None  # weight edits are part of the phrase lists
    ci, pi = np.split(_rows(tok, pl.concat([edges.get_column("child").cast(pl.String),
                                            edges.get_column("parent").cast(pl.String)])), 2)
    ph = tok.get_column("placeholder").to_numpy()
    live = (ci >= 0) & (pi >= 0)
    live[live] = ~ph[pi[live]]
    safe_c, safe_p = np.where(ci >= 0, ci, 0), np.where(pi >= 0, pi, 0)
    if of_node is not None:
        safe_c, safe_p = of_node[safe_c], of_node[safe_p]
    jac = np.zeros(ci.shape[0])
    edit = np.zeros(ci.shape[0])
    strings = code_strings(codes, max_tokens=max_tokens)
    # equal codes (same row) give 0 for both; the rest is measured once per distinct (parent, child) pair
    todo = np.flatnonzero(live & (safe_c != safe_p))
    if todo.size:
        key = safe_p[todo].astype(np.int64) * np.int64(codes.len()) + safe_c[todo]
        ukey, inv = np.unique(key, return_inverse=True)
        up, uc = ukey // codes.len(), ukey % codes.len()
        # Jaccard on sets: sorted distinct codes as strings, |A ∩ B| from the Indel distance (see set_strings)
        sets = set_strings(codes)
        n_set = np.fromiter(map(len, sets), dtype=np.int64, count=len(sets))  # one character per distinct code
        # threads pay off only for many pairs: starting them costs about 1 ms (tens on a busy machine)
        workers = -1 if ukey.size >= _THREADED_PAIRS else 1
        indel = np.asarray(process.cpdist(sets[up], sets[uc], scorer=Indel.distance, dtype=np.int64, workers=workers),
                           dtype=np.int64)
        size = n_set[up] + n_set[uc]
        inter = (size - indel) // 2
        union = size - inter
        j = np.where(union == 0, 0.0, 1.0 - inter / np.maximum(union, 1))
        dist = np.asarray(process.cpdist(strings[up], strings[uc], scorer=Levenshtein.distance, dtype=np.int32,
                                         workers=workers), dtype=np.float64)
        lens = np.minimum(codes.list.len().fill_null(0).to_numpy(), max_tokens).astype(np.float64)
        longer = np.maximum(lens[uc], lens[up])
        e = np.divide(dist, longer, out=np.zeros_like(dist), where=longer > 0)
        jac[todo], edit[todo] = j[inv], e[inv]
    jac[~live] = np.nan
    edit[~live] = np.nan
    out = pl.DataFrame({"child": edges.get_column("child").cast(pl.String),
                        "parent": edges.get_column("parent").cast(pl.String),
                        "jaccard": pl.Series(jac).fill_nan(None), "edit": pl.Series(edit).fill_nan(None)}
                       ).with_columns(drift=pl.col("jaccard"))
    if ops:
        changed = np.flatnonzero(live & (edit > 0))
        c_str, p_str = strings[safe_c], strings[safe_p]
        phrases = _ops_frame(tokens.gather(safe_p), tokens.gather(safe_c), p_str, c_str, changed, ci.shape[0])
        out = pl.concat([out, phrases], how="horizontal")
        out = out.with_columns(reweighted=_reweighted(tokens, weights, strings, safe_p, safe_c, live))
    else:
        empty = pl.lit([], dtype=pl.List(pl.String))
        out = out.with_columns(added=empty, removed=empty, replaced=empty, reweighted=empty)
    return out.select(list(EDGE_DRIFT_SCHEMA)).cast(EDGE_DRIFT_SCHEMA)  # type: ignore[arg-type]


def node_drift(nodes: pl.DataFrame, lineage: pl.DataFrame, *, edges: pl.DataFrame | None = None,
               text: str = "text") -> pl.DataFrame:
    """Per node: ``id, parent, root, depth, edge_drift, root_drift, path_drift, directness``.

    ``nodes`` has ``id`` and ``text`` (or ``tokens``), optionally ``placeholder``;
    ``lineage`` has ``id, parent, root, depth`` (e.g. ``Archive.lineage()`` or
    ``Tree.nodes``). ``edges`` may pass a precomputed :func:`edge_drift` of the
    primary edges (``child, drift``). Sorted by ``root, depth, id``.

    >>> nodes = pl.DataFrame({"id": ["r", "a", "b"], "text": ["x y", "x z", "x y"]})
    >>> lin = pl.DataFrame({"id": ["r", "a", "b"], "parent": [None, "r", "a"], "root": ["r"] * 3, "depth": [0, 1, 2]})
    >>> node_drift(nodes, lin).select("id", "root_drift", "path_drift", "directness").rows()
    [('r', 0.0, 0.0, 1.0), ('a', 0.6666666666666667, 0.6666666666666667, 1.0), ('b', 0.0, 1.3333333333333335, 0.0)]
    """
    lin = lineage.select(pl.col("id").cast(pl.String), pl.col("parent").cast(pl.String),
                         pl.col("root").cast(pl.String), pl.col("depth").cast(pl.Int64))
    if lin.height == 0:
        return pl.DataFrame(schema=NODE_DRIFT_SCHEMA)
    tok = node_tokens(nodes, text=text) if "codes" not in nodes.columns else nodes
    lin = lin.join(tok.select("id", "codes", "placeholder"), on="id", how="left").with_columns(
        pl.col("codes").fill_null([]), pl.col("placeholder").fill_null(True))
    if edges is None:
        prim = lin.filter(pl.col("parent").is_not_null())
        ed = edge_drift(tok, prim.select(child="id", parent="parent"), ops=False)
    else:
        ed = edges
    ed = ed.select(id="child", edge_drift="drift").unique("id", keep="first", maintain_order=True)
    lin = lin.join(ed, on="id", how="left").sort(["root", "depth", "id"])
    par = parent_index(lin)
    dep = lin.get_column("depth").to_numpy()
    # anchor: the root, or the root's child on the path when the root is a placeholder
    is_ph_root = (lin.get_column("placeholder") & (lin.get_column("depth") == 0)).to_numpy()
    root_idx = ancestor_at_depth(par, dep, np.arange(lin.height), np.zeros(lin.height, dtype=np.int64))
    anchor = root_idx.copy()
    deep = np.flatnonzero(is_ph_root[root_idx] & (dep >= 1))
    if deep.size:
        anchor[deep] = ancestor_at_depth(par, dep, deep, np.ones(deep.size, dtype=np.int64))
    codes = lin.get_column("codes")
    pair = pl.DataFrame({"a": codes.gather(anchor), "v": codes})
    root_drift = pair.select(d=jaccard_expr("a", "v")).get_column("d")
    void = is_ph_root[root_idx] & (dep == 0)
    w = lin.get_column("edge_drift").fill_null(0.0).to_numpy()
    path = path_sums(par, w)
    out = lin.select("id", "parent", "root", "depth", "edge_drift").with_columns(
        root_drift=pl.Series(np.where(void, np.nan, root_drift.to_numpy())).fill_nan(None),
        path_drift=pl.Series(path),
    ).with_columns(
        directness=pl.when(pl.col("root_drift").is_null()).then(None)
        .when(pl.col("path_drift") <= 1e-12).then(1.0)
        .otherwise(pl.col("root_drift") / pl.col("path_drift"))
    )
    return out.cast(NODE_DRIFT_SCHEMA)  # type: ignore[arg-type]


def drift_rate_expr(depth: str = "depth", drift: str = "root_drift") -> pl.Expr:
    """Least-squares slope of ``drift`` on ``depth`` (an aggregation; null if depth never varies).

    >>> df = pl.DataFrame({"depth": [0, 1, 2], "root_drift": [0.0, 0.2, 0.4]})
    >>> round(df.select(drift_rate_expr()).item(), 6)
    0.2
    """
    ok = pl.col(drift).is_not_null()
    d = pl.col(depth).filter(ok).cast(pl.Float64)
    y = pl.col(drift).filter(ok)
    var = ((d - d.mean()) ** 2).sum()
    return pl.when(var > 0).then(((d - d.mean()) * (y - y.mean())).sum() / var).otherwise(None)


def drift_rate(node_drift_frame: pl.DataFrame) -> float | None:
    """A tree's drift rate: slope of root drift on depth (``None`` for a one-generation tree).

    >>> drift_rate(pl.DataFrame({"depth": [0, 1, 1, 2], "root_drift": [0.0, 0.1, 0.3, 0.5]}))
    0.25
    """
    v = node_drift_frame.select(drift_rate_expr()).item()
    return None if v is None else float(v)


def token_diff(a: str, b: str, *, max_tokens: int = MAX_ALIGN_TOKENS,
               weights: bool = False) -> list[tuple[Any, ...]]:
    """Word diff from ``a`` (parent) to ``b`` (child): ``(op, word)`` with op ``equal``, ``removed``, ``added``.

    Words are normalized tokens, in order; a replacement shows the removed words first.
    With ``weights=True`` each item is ``(op, word, old_weight, new_weight)`` (emphasis weights,
    ``None`` on the side that lacks the word) and a kept word whose weight changed is ``reweighted``.

    >>> token_diff("a red fox", "a blue fox")
    [('equal', 'a'), ('removed', 'red'), ('added', 'blue'), ('equal', 'fox')]
    >>> token_diff("", "")
    []
    >>> token_diff("a (fox:1.2)", "a (fox:1.5), 🌙", weights=True)
    [('equal', 'a', 1.0, 1.0), ('reweighted', 'fox', 1.2, 1.5), ('added', '🌙', None, 1.0)]
    """
    if weights:
        wa, wb = weighted_tokens(a)[:max_tokens], weighted_tokens(b)[:max_tokens]
        ta, tb = [t for t, _ in wa], [t for t, _ in wb]
    else:
        ta, tb = tokenize(a)[:max_tokens], tokenize(b)[:max_tokens]
    out: list[tuple[Any, ...]] = []
    for op in Levenshtein.opcodes(ta, tb):
        if op.tag == "equal":
            if weights:
                for i, k in zip(range(op.src_start, op.src_end), range(op.dest_start, op.dest_end)):
                    out.append(("equal" if wa[i][1] == wb[k][1] else "reweighted", ta[i], wa[i][1], wb[k][1]))
            else:
                out.extend(("equal", t) for t in ta[op.src_start:op.src_end])
            continue
        if weights:
            out.extend(("removed", wa[i][0], wa[i][1], None) for i in range(op.src_start, op.src_end))
            out.extend(("added", wb[k][0], None, wb[k][1]) for k in range(op.dest_start, op.dest_end))
        else:
            out.extend(("removed", t) for t in ta[op.src_start:op.src_end])
            out.extend(("added", t) for t in tb[op.dest_start:op.dest_end])
    return out


def semantic_drift(nodes: pl.DataFrame, edges: pl.DataFrame, *, model: str | object, text: str = "text",
                   batch_size: int = 256) -> pl.DataFrame:
    """``child, parent, semantic`` = 1 - cosine similarity of sentence embeddings (optional extra).

    ``model`` is a locally installed sentence-transformers model name or path, or any
    object with ``encode(list[str]) -> array``. Needs ``pip install 'remix-archivist[semantic]'``
    unless an object is given; nothing else depends on it.

    >>> class Bag:  # a toy embedding: counts of a few words
    ...     def encode(self, texts, **kw):
    ...         import numpy as np
    ...         return np.array([[t.count(w) + 1e-9 for w in ("cat", "dog", "sea")] for t in texts])
    >>> n = pl.DataFrame({"id": ["p", "c"], "text": ["cat sea", "dog sea"]})
    >>> round(semantic_drift(n, pl.DataFrame({"child": ["c"], "parent": ["p"]}), model=Bag())["semantic"][0], 3)
    0.5
    """
    from lineage.errors import LineageError

    if isinstance(model, str):
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError:
            raise LineageError("semantic drift needs sentence-transformers: pip install 'remix-archivist[semantic]'"
                               " (lexical drift works without it)") from None
        try:
            enc = SentenceTransformer(model, local_files_only=True)
        except Exception as exc:  # the library raises many kinds; name the model
            raise LineageError(f"could not load the embedding model {model!r} from local files: {exc}") from None
    else:
        enc = model
    ids = nodes.get_column("id").to_list()
    texts = nodes.get_column(text).fill_null("").to_list()
    vec = np.asarray(enc.encode(texts, batch_size=batch_size), dtype=np.float64)  # type: ignore[attr-defined]
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = vec / np.where(norm == 0, 1.0, norm)
    pos = {k: i for i, k in enumerate(ids)}
    c = np.array([pos.get(x, -1) for x in edges.get_column("child").to_list()])
    p = np.array([pos.get(x, -1) for x in edges.get_column("parent").to_list()])
    ok = (c >= 0) & (p >= 0)
    sim = np.full(c.shape[0], np.nan)
    sim[ok] = np.einsum("ij,ij->i", vec[c[ok]], vec[p[ok]])
    return pl.DataFrame({"child": edges.get_column("child"), "parent": edges.get_column("parent"),
                         "semantic": pl.Series(1.0 - sim).fill_nan(None)})
