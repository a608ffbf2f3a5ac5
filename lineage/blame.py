"""Prompt blame: which node of the path introduced each token of a prompt.

Walking the path from the root, each parent -> child token list is aligned
(Levenshtein edit script on tokens): a token kept from the parent keeps its
author; an inserted or replaced token is introduced by the child. A token the
child brings back after an ancestor used it (dropped on the way, or moved) is
marked ``reintroduced`` and ``first_by`` names the ancestor that used it first.
Only the first :data:`~lineage.text.MAX_ALIGN_TOKENS` tokens of a prompt are
aligned (a 1 MB prompt stays fast); later tokens are left out of the blame.

Blame share of an ancestor = its tokens in p_v / |p_v|. Root retention
``R(v)`` = tokens of p_v still authored by the root / |T_root| (by the root's
first real descendant when the root is a placeholder).

Examples
--------
>>> b = blame_path([("r", "a corgi surfing"), ("a", "a corgi dancing"), ("b", "a corgi surfing at night")])
>>> b.select("token", "introduced_by", "reintroduced").rows()
[('a', 'r', False), ('corgi', 'r', False), ('surfing', 'b', True), ('at', 'b', False), ('night', 'b', False)]
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl
from rapidfuzz.distance import Levenshtein

from lineage.paths import ancestor_at_depth, parent_index
from lineage.text import MAX_ALIGN_TOKENS, code_strings, token_codes, tokenize, tokens_series, weighted_tokens

__all__ = ["BLAME_SCHEMA", "SHARES_SCHEMA", "RETENTION_SCHEMA", "blame_path", "blame_tree", "blame_shares",
           "root_retention", "blame_summary"]

BLAME_SCHEMA = {
    "id": pl.String, "position": pl.Int64, "token": pl.String, "introduced_by": pl.String,
    "generation": pl.Int64, "reintroduced": pl.Boolean, "first_by": pl.String,
}
SHARES_SCHEMA = {"id": pl.String, "ancestor": pl.String, "generation": pl.Int64, "tokens": pl.Int64,
                 "share": pl.Float64}
RETENTION_SCHEMA = {"id": pl.String, "tokens": pl.Int64, "root_tokens": pl.Int64, "retention": pl.Float64}


def _align(parent_tok: str, parent_intro: list[int], parent_reint: list[bool], child_tok: str,
           me: int, first_on_path: dict[str, int]) -> tuple[list[int], list[bool], list[int]]:
    """Authors, reintroduction flags and first users of ``child_tok`` given its parent's blame."""
    n = len(child_tok)
    intro = [me] * n
    reint = [False] * n
    if parent_tok == child_tok:
        intro, reint = list(parent_intro), list(parent_reint)
        return intro, reint, [first_on_path.get(t, a) for t, a in zip(child_tok, intro)]
    for tag, s0, s1, d0, d1 in Levenshtein.opcodes(parent_tok, child_tok).as_list():
        if tag == "equal":
            intro[d0:d1] = parent_intro[s0:s1]
            reint[d0:d1] = parent_reint[s0:s1]
        elif tag != "delete":
            for j in range(d0, d1):
                reint[j] = child_tok[j] in first_on_path
    first = [first_on_path.get(t, a) for t, a in zip(child_tok, intro)]
    return intro, reint, first


def _walk(ids: list[str], parent: np.ndarray, depth: np.ndarray, tokens: np.ndarray, placeholder: np.ndarray
          ) -> Iterator[tuple[int, str, list[int], list[bool], list[int], int]]:
    """Yield ``(node, tokens, intro, reint, first, anchor)`` parents first; frees parents when done.

    ``tokens`` holds one string per node with one character per token (:func:`lineage.text.code_strings`),
    so alignment runs in C on plain strings.
    """
    n = len(ids)
    order = np.lexsort((np.arange(n), depth)).tolist()
    kids = np.bincount(parent[parent >= 0], minlength=n) if n else np.zeros(0, dtype=np.int64)
    left = kids.tolist()
    state: dict[int, tuple[str, list[int], list[bool], dict[str, int], int]] = {}
    par = parent.tolist()
    for v in order:
        tok = tokens[v]
        p = par[v]
        if p < 0 or p not in state:
            intro, reint = [v] * len(tok), [False] * len(tok)
            path: dict[str, int] = {}
            first = [v] * len(tok)
            anchor = v
        else:
            ptok, pintro, preint, ppath, panchor = state[p]
            intro, reint, first = _align(ptok, pintro, preint, tok, v, ppath)
            path = ppath
            anchor = v if (par[p] < 0 and placeholder[p]) else panchor
            left[p] -= 1
            if left[p] == 0:
                del state[p]
        new = [t for t in tok if t not in path]
        if new:
            path = dict(path)
            for t in new:
                path.setdefault(t, v)
        if left[v] > 0:
            state[v] = (tok, intro, reint, path, anchor)
        yield v, tok, intro, reint, first, anchor


def _walk_authors(parent: np.ndarray, depth: np.ndarray, tokens: np.ndarray, placeholder: np.ndarray
                  ) -> Iterator[tuple[int, list[int], int, Counter[int]]]:
    """The lean walk behind :func:`blame_summary`: ``(node, author of each token, anchor, tokens per author)``,
    parents first.

    Same authors as :func:`_walk`, without reintroduction bookkeeping; an unchanged
    prompt shares its parent's author list and counts.
    """
    n = depth.shape[0]
    order = np.lexsort((np.arange(n), depth)).tolist()
    left = (np.bincount(parent[parent >= 0], minlength=n) if n else np.zeros(0, dtype=np.int64)).tolist()
    state: dict[int, tuple[str, list[int], int, Counter[int]]] = {}
    par = parent.tolist()
    opcodes = Levenshtein.opcodes
    for v in order:
        tok = tokens[v]
        p = par[v]
        if p < 0 or p not in state:
            intro = [v] * len(tok)
            counts = Counter(intro)
            anchor = v
        else:
            ptok, pintro, panchor, pcounts = state[p]
            if ptok == tok:
                intro, counts = pintro, pcounts
            else:
                intro = [v] * len(tok)
                for tag, s0, s1, d0, d1 in opcodes(ptok, tok).as_list():
                    if tag == "equal":
                        intro[d0:d1] = pintro[s0:s1]
                counts = Counter(intro)
            anchor = v if (par[p] < 0 and placeholder[p]) else panchor
            left[p] -= 1
            if left[p] == 0:
                del state[p]
        if left[v] > 0:
            state[v] = (tok, intro, anchor, counts)
        yield v, intro, anchor, counts


def _prepare(nodes: pl.DataFrame, lineage: pl.DataFrame, text: str, max_tokens: int
             ) -> tuple[pl.DataFrame, list[str], np.ndarray, np.ndarray, pl.Series, np.ndarray, np.ndarray]:
    lin = lineage.select(pl.col("id").cast(pl.String), pl.col("parent").cast(pl.String), pl.col("depth").cast(pl.Int64))
    cols = ["id"] + [c for c in ("tokens", "codes", text, "placeholder") if c in nodes.columns]
    lin = lin.join(nodes.select(cols), on="id", how="left").sort(["depth", "id"])
    tok = lin.get_column("tokens") if "tokens" in lin.columns else tokens_series(
        lin.get_column(text) if text in lin.columns else pl.Series([None] * lin.height, dtype=pl.String))
    tok = tok.fill_null([])
    codes = lin.get_column("codes").fill_null([]) if "codes" in lin.columns else token_codes(tok)
    ph = (lin.get_column("placeholder").fill_null(True) if "placeholder" in lin.columns
          else pl.Series([False] * lin.height)).to_numpy()
    return (lin, lin.get_column("id").to_list(), parent_index(lin), lin.get_column("depth").to_numpy(),
            tok, code_strings(codes, max_tokens=max_tokens), ph)


def blame_tree(nodes: pl.DataFrame, lineage: pl.DataFrame, *, text: str = "text",
               max_tokens: int = MAX_ALIGN_TOKENS) -> pl.DataFrame:
    """Blame of every token of every node: ``id, position, token, introduced_by, generation, reintroduced, first_by``.

    ``nodes`` has ``id`` and ``text`` (or ``tokens``), optionally ``placeholder``;
    ``lineage`` has ``id, parent, depth`` (any number of trees).

    >>> nodes = pl.DataFrame({"id": ["r", "a"], "text": ["red fox", "red cat"]})
    >>> lin = pl.DataFrame({"id": ["r", "a"], "parent": [None, "r"], "depth": [0, 1]})
    >>> blame_tree(nodes, lin).filter(pl.col("id") == "a").select("token", "introduced_by", "generation").rows()
    [('red', 'r', 0), ('cat', 'a', 1)]
    """
    lin, ids, parent, depth, tokens, strings, ph = _prepare(nodes, lineage, text, max_tokens)
    col_id: list[int] = []
    col_pos: list[int] = []
    col_intro: list[int] = []
    col_re: list[bool] = []
    col_first: list[int] = []
    for v, tok, intro, reint, first, _ in _walk(ids, parent, depth, strings, ph):
        k = len(tok)
        col_id.extend([v] * k)
        col_pos.extend(range(k))
        col_intro.extend(intro)
        col_re.extend(reint)
        col_first.extend(first)
    idx = pl.Series(ids, dtype=pl.String)
    dep = pl.Series(depth, dtype=pl.Int64)
    intro_s = pl.Series(col_intro, dtype=pl.Int64)
    words = (pl.DataFrame({"_v": np.arange(len(ids), dtype=np.int64), "token": tokens.list.head(max_tokens)})
             .with_columns(position=pl.int_ranges(pl.col("token").list.len(), dtype=pl.Int64))
             .explode(["token", "position"]).drop_nulls("position"))
    out = pl.DataFrame({
        "_v": pl.Series(col_id, dtype=pl.Int64),
        "position": pl.Series(col_pos, dtype=pl.Int64),
        "introduced_by": idx.gather(intro_s),
        "generation": dep.gather(intro_s),
        "reintroduced": pl.Series(col_re, dtype=pl.Boolean),
        "first_by": idx.gather(pl.Series(col_first, dtype=pl.Int64)),
    }).with_row_index("_k").join(words, on=["_v", "position"], how="left").sort("_k")
    out = out.with_columns(id=idx.gather(out.get_column("_v")))
    return out.select(list(BLAME_SCHEMA)).cast(BLAME_SCHEMA)  # type: ignore[arg-type]


def blame_path(prompts: Sequence[tuple[str, str | None]], *, max_tokens: int = MAX_ALIGN_TOKENS) -> pl.DataFrame:
    """Blame of the last prompt of a root-first path ``[(id, text), ...]``.

    Columns as :func:`blame_tree` (``generation`` = position on the path, root 0) plus
    ``weight``: the token's emphasis weight in that prompt (``(word:1.3)`` syntax, else 1).
    A weight change alone does not change who introduced a word.

    >>> blame_path([("r", "a red fox"), ("c", "a blue fox")]).select("token", "introduced_by").rows()
    [('a', 'r'), ('blue', 'c'), ('fox', 'r')]
    >>> blame_path([("r", "a (fox:1.2)"), ("c", "a (fox:1.5)")]).select("token", "introduced_by", "weight").rows()
    [('a', 'r', 1.0), ('fox', 'r', 1.5)]
    >>> blame_path([("r", "")]).height
    0
    """
    if not prompts:
        return pl.DataFrame(schema={**BLAME_SCHEMA, "weight": pl.Float64})
    ids = [str(i) for i, _ in prompts]
    nodes = pl.DataFrame({"id": [f"{k}" for k in range(len(ids))],
                          "tokens": [tokenize(t) for _, t in prompts]}, schema={"id": pl.String,
                                                                                "tokens": pl.List(pl.String)})
    lin = pl.DataFrame({"id": nodes["id"], "parent": [None] + nodes["id"].to_list()[:-1],
                        "depth": list(range(len(ids)))}, schema={"id": pl.String, "parent": pl.String,
                                                                 "depth": pl.Int64})
    last = str(len(ids) - 1)
    name = dict(zip(nodes["id"].to_list(), ids))
    out = blame_tree(nodes, lin, max_tokens=max_tokens).filter(pl.col("id") == last)
    w = [x for _, x in weighted_tokens(prompts[-1][1])][:max_tokens]
    weight = pl.Series("weight", w, dtype=pl.Float64).gather(out.get_column("position")) if out.height else (
        pl.Series("weight", [], dtype=pl.Float64))
    return out.with_columns([pl.col(c).replace_strict(name, return_dtype=pl.String)
                             for c in ("id", "introduced_by", "first_by")] + [weight])


def blame_shares(blame: pl.DataFrame) -> pl.DataFrame:
    """Share of each node's tokens authored by each ancestor: ``id, ancestor, generation, tokens, share``.

    >>> b = blame_path([("r", "a red fox"), ("c", "a blue fox")])
    >>> blame_shares(b).select("ancestor", "tokens", "share").rows()
    [('r', 2, 0.6666666666666666), ('c', 1, 0.3333333333333333)]
    """
    return (
        blame.group_by("id", "introduced_by")
        .agg(generation=pl.col("generation").first(), tokens=pl.len().cast(pl.Int64))
        .with_columns(share=pl.col("tokens") / pl.col("tokens").sum().over("id"))
        .rename({"introduced_by": "ancestor"})
        .sort(["id", "generation"])
        .select(list(SHARES_SCHEMA))
        .cast(SHARES_SCHEMA)  # type: ignore[arg-type]
    )


def root_retention(blame: pl.DataFrame, lineage: pl.DataFrame) -> pl.DataFrame:
    """``R(v)`` per node: ``id, tokens, root_tokens, retention`` (null when the root has no tokens).

    ``lineage`` has ``id, parent, depth`` and optionally ``placeholder`` (a placeholder
    root is skipped: its first real descendant on the path counts as the root).

    >>> nodes = pl.DataFrame({"id": ["r", "a"], "text": ["red fox", "red cat"]})
    >>> lin = pl.DataFrame({"id": ["r", "a"], "parent": [None, "r"], "depth": [0, 1]})
    >>> root_retention(blame_tree(nodes, lin), lin).select("id", "retention").rows()
    [('a', 0.5), ('r', 1.0)]
    """
    lin = lineage.select("id", "parent", "depth", *([c for c in ("placeholder",) if c in lineage.columns]))
    lin = lin.sort(["depth", "id"])
    par = parent_index(lin)
    dep = lin.get_column("depth").to_numpy()
    n = lin.height
    root = ancestor_at_depth(par, dep, np.arange(n), np.zeros(n, dtype=np.int64))
    anchor = root.copy()
    if "placeholder" in lin.columns:
        ph = lin.get_column("placeholder").fill_null(False).to_numpy()
        deep = np.flatnonzero(ph[root] & (dep >= 1))
        anchor[deep] = ancestor_at_depth(par, dep, deep, np.ones(deep.size, dtype=np.int64))
    amap = pl.DataFrame({"id": lin.get_column("id"), "anchor": lin.get_column("id").gather(anchor)})
    count = blame.group_by("id").agg(tokens=pl.len().cast(pl.Int64))
    kept = (blame.join(amap, on="id").filter(pl.col("introduced_by") == pl.col("anchor"))
            .group_by("id").agg(kept=pl.len().cast(pl.Int64)))
    return (
        amap.join(count, on="id", how="left")
        .join(count.rename({"id": "anchor", "tokens": "root_tokens"}), on="anchor", how="left")
        .join(kept, on="id", how="left")
        .with_columns(pl.col("tokens", "root_tokens", "kept").fill_null(0))
        .with_columns(retention=pl.when(pl.col("root_tokens") > 0)
                      .then(pl.col("kept") / pl.col("root_tokens")).otherwise(None))
        .select(list(RETENTION_SCHEMA)).sort("id").cast(RETENTION_SCHEMA)  # type: ignore[arg-type]
    )


def blame_summary(nodes: pl.DataFrame, lineage: pl.DataFrame, *, text: str = "text",
                  max_tokens: int = MAX_ALIGN_TOKENS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(shares, retention)`` for every node without keeping the token-level blame (for whole archives).

    Same results as ``blame_shares(blame_tree(...))`` and ``root_retention(blame_tree(...), lineage)``.

    >>> nodes = pl.DataFrame({"id": ["r", "a"], "text": ["red fox", "red cat"]})
    >>> lin = pl.DataFrame({"id": ["r", "a"], "parent": [None, "r"], "depth": [0, 1]})
    >>> shares, ret = blame_summary(nodes, lin)
    >>> shares.filter(pl.col("id") == "a").select("ancestor", "share").rows()
    [('r', 0.5), ('a', 0.5)]
    >>> ret.select("id", "retention").rows()
    [('a', 0.5), ('r', 1.0)]
    """
    lin, ids, parent, depth, tokens, strings, ph = _prepare(nodes, lineage, text, max_tokens)
    s_id: list[int] = []
    s_anc: list[int] = []
    s_n: list[int] = []
    r_id: list[int] = []
    r_tok: list[int] = []
    r_kept: list[int] = []
    r_anchor: list[int] = []
    for v, intro, anchor, counts in _walk_authors(parent, depth, strings, ph):
        s_id.extend([v] * len(counts))
        s_anc.extend(counts.keys())
        s_n.extend(counts.values())
        r_id.append(v)
        r_tok.append(len(intro))
        r_kept.append(counts.get(anchor, 0))
        r_anchor.append(anchor)
    idx = pl.Series(ids, dtype=pl.String)
    dep = pl.Series(depth, dtype=pl.Int64)
    anc = pl.Series(s_anc, dtype=pl.Int64)
    shares = pl.DataFrame({
        "id": idx.gather(pl.Series(s_id, dtype=pl.Int64)), "ancestor": idx.gather(anc),
        "generation": dep.gather(anc), "tokens": pl.Series(s_n, dtype=pl.Int64),
    }).with_columns(share=pl.col("tokens") / pl.col("tokens").sum().over("id")).sort(["id", "generation"])
    tok_n = np.zeros(len(ids), dtype=np.int64)
    tok_n[np.asarray(r_id, dtype=np.int64)] = r_tok
    anchor_s = np.asarray(r_anchor, dtype=np.int64)
    root_tokens = tok_n[anchor_s] if len(r_id) else np.zeros(0, dtype=np.int64)
    ret = pl.DataFrame({
        "id": idx.gather(pl.Series(r_id, dtype=pl.Int64)), "tokens": pl.Series(r_tok, dtype=pl.Int64),
        "root_tokens": pl.Series(root_tokens, dtype=pl.Int64), "kept": pl.Series(r_kept, dtype=pl.Int64),
    }).with_columns(retention=pl.when(pl.col("root_tokens") > 0).then(pl.col("kept") / pl.col("root_tokens"))
                    .otherwise(None)).select(list(RETENTION_SCHEMA)).sort("id")
    return shares.cast(SHARES_SCHEMA), ret.cast(RETENTION_SCHEMA)  # type: ignore[arg-type]
