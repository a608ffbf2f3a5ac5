"""Lineage inference: the most likely earlier parent of every post that declares none.

Platforms stop declaring remix links (closed apps, removed pages, dumps with
authors and times but no parents). :func:`infer_frame` reconstructs them from the
content, and says how sure it is:

1. **Candidates** (bounded per post): MinHash LSH over each prompt's distinct word
   tokens (:mod:`lineage.text` tokens; ``datasketch``'s MinHash permutations, the
   banding vectorised over every post at once), the few most recent earlier
   posts of the same author, near-duplicate media fingerprints when the
   archive has a ``media_fingerprints`` table (:func:`visual_pairs`), :data:`STYLE_BANDS`
   one-row MinHash bands over the prompt's style terms (:func:`lineage.styles.styles_frame`:
   a remix that rewrote its subject keeps its styles), and a few *older* posts with exactly
   the same words (the first, and the 16th, 32nd... latest: :data:`DEEP_SAME_TEXT`). In each
   LSH bucket a post sees only the :data:`PER_BUCKET` most recent earlier posts, and
   it keeps :data:`MAX_CANDIDATES` of them, ranked by token Jaccard less
   :data:`CUT_DELAY_DISCOUNT` per e-fold of the delay, so
   ten thousand identical prompts still give a handful of candidates each; a post
   whose platform publishes 0 remixes (:func:`_final_counts`) takes no place in them, nor in the
   windows of near-duplicate pictures.
   Time is the direction: a candidate is created *strictly* earlier; two posts
   with the same timestamp never link each other.
2. **Score**: a conditional logit (one softmax per post over its candidates and
   "no parent") on the features in :data:`FEATURES`: token Jaccard and its gap to
   the best candidate, ties at the best, band hits, the delay (log hours), its
   recency rank, same author, the parent's views and published remix count
   (when the platform publishes one and it was read after the child was posted:
   :func:`_count_for`), visual similarity, the prompt's length, its
   novel words (used by no earlier post: the mark of a new idea more than of a remix),
   the overlap of style terms (Jaccard, the parent's styles the child lacks: a chain keeps
   its styles while its subject drifts, an unrelated post that shares subject words does
   not), the delay's square and its share of the child's longest candidate delay (a
   parent is neither the latest nor the oldest similar post), and the step in views
   (engagement falls down a chain: a parent is a step above its child, a sibling level).
   Weights are fitted on the simulator's ground truth (:func:`fit`) and shipped in
   ``data/inference_weights.json`` with the fit report.
3. **Assign**: each post takes its highest-probability option; because every
   candidate is earlier, the result is acyclic (time makes the per-post choice the
   optimum arborescence: Chu-Liu/Edmonds over these candidates would give the same links).
   A second stage (:attr:`Weights.attach`, a logistic model fitted on every candidate of
   the posts the first stage leaves without parent, on the same simulated truth) then attaches
   such a post to its best candidate among those more likely than not in the post's own
   tree: a remix wrongly left as a root cuts its whole subtree off its tree, a root wrongly
   given a parent merges its tree into another, and both cost about the subtree below the
   post, so the even odds are the right bar. The link keeps its low confidence (the
   probability that this candidate is *the* parent). Where a parent's published count
   holds for every post (:func:`_final_counts`), it is a capacity: the children of a week are
   assigned at once, the summed utility at its highest under the remixes left
   (:func:`_capacitated`).
4. **Confidence**: the option's softmax probability, recalibrated on simulated archives
   held apart from the fit (Platt scaling, J. Platt 1999, with eight covariates,
   :data:`CALIBRATION_TERMS`: whether the parent's remix count is known (and the logit's slope then), the Jaccard, the
   delay, whether both posts have a picture, the share of earlier posts without words, and
   whether the child, or else the parent, has none; plain Platt was over-confident where
   counts are published and under-confident where not): the probability that the chosen parent is the true one. A post whose "no parent" option wins, and that the second
   stage leaves alone, starts a tree.
5. **Tree check** (:func:`tree_check`, :attr:`Weights.tree_check`): the per-post choice
   cannot see what a link does to whole trees. A post with many remixes of its own below
   it (its descendants through the links just chosen and the declared ones) is far more
   often an original than a remix of a weakly similar, long-earlier post: remix cascades
   thin out with depth. Each link is looked at again with a logistic model of "the parent
   is in the child's own tree" on the child's descendant count, the Jaccard, the delay and
   the parent's depth, fitted on the simulator's truth with every link weighted by the
   posts its mistake would misplace (``1 + descendants``); a link below even odds is cut
   and the child starts a tree (counted as ``cut by the tree check``, the link kept in the
   ``inferred_cut`` table). Its decision depends on later posts (their links make the
   descendant count), so every run checks every link again.

Ties: candidates are ordered by (score, later ``created_at``, smaller id), so
the same input always gives the same parents.

Examples
--------
>>> import polars as pl
>>> from datetime import datetime, timezone
>>> t = lambda h: datetime(2026, 1, 1, h, tzinfo=timezone.utc)
>>> posts = pl.DataFrame({"id": ["a", "b", "c"], "created_at": [t(1), t(2), t(3)],
...     "author": ["x", "y", "z"],
...     "text": ["a corgi surfing a glassy wave in Tokyo at night, claymation",
...              "a corgi surfing a glassy wave in Tokyo at night, claymation, film noir",
...              "two robots in love on a frozen lake"]})
>>> res = infer_frame(posts)
>>> res.edges.select("child", "parent").rows()
[('b', 'a')]
>>> 0 < res.edges["confidence"][0] <= 1
True
"""
from __future__ import annotations

import hashlib
import json
import math
import shlex
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from archive.paths import data_dir
from archive.store import read_delta
from lineage.errors import LineageError
from lineage.paths import depths as node_depths, parent_index, subtree_sums
from lineage.text import MAX_ALIGN_TOKENS, code_strings, set_strings, token_codes, tokens_series

__all__ = [
    "METHOD_VERSION", "INFER_STAGES", "FEATURES", "INFERRED_SCHEMA", "Weights", "InferResult", "load_weights",
    "infer_frame", "infer", "inferred_edges", "evaluate", "evaluate_frame", "fit", "posts_from_records",
    "load_fingerprints", "visual_pairs", "why", "CALIBRATION_TERMS", "calibration_design", "TREE_CHECK_TERMS",
    "tree_check", "tree_check_design", "inferred_cut", "why_cut", "since_time", "inferred_behind", "inferred_gap",
]

#: /3: style-term features and candidate bands, older same-word candidates, delay shape and
#: engagement step, the second stage over every candidate, recalibration with covariates, 16 candidates
#: a post instead of 12. /4: a candidate must share a subject word or a near-duplicate picture.
#: /5: the tree check (:func:`tree_check`). /6: the token edit distance (DESIGN's second text
#: similarity beside the Jaccard: word order and repeats, which a set of words cannot see). /7: the
#: visual similarity's weights fitted (up to /6 the fit's archives had no pictures, so the score gave
#: them no weight: a near-duplicate picture found candidates but did not help choose among them), and
#: posts held without their prompt (two features: the child's or the candidate's text is missing).
METHOD_VERSION = "text-style-time-author-visual/11"
NUM_PERM = 48
BANDS, ROWS = 16, 3  # LSH: a pair with token Jaccard s shares a band with probability 1 - (1 - s^3)^16
PER_BUCKET = 12  # most recent earlier posts a post sees in one LSH bucket
PER_AUTHOR = 3  # most recent earlier posts of the same author
DEEP_SAME_TEXT = [0, 16, 32, 64, 128]  # older posts with the same words: the first one, and the 16th, 32nd... latest
MAX_CANDIDATES = 16  # kept per post after ranking by token Jaccard (discounted by the delay), then recency
#: The candidates' second cut ranks by token Jaccard less this much per e-fold of ``1 + delay in hours``:
#: on the bundled sample a remix's parent an hour before it (Jaccard 0.35, the setting rewritten) lost its
#: place to sixteen posts of another tree a week older that shared a longer setting (0.4-0.53), and a tree
#: of 75 posts split off; ranked so, a week costs 0.26 and an hour 0.03. (The utility weighs the delay
#: again: this only decides who is scored.)
CUT_DELAY_DISCOUNT = 0.05
FEATURES = [
    "bias", "jaccard", "jaccard_gap", "is_best", "log_ties", "hits", "log_delay_h", "log_recency_rank",
    "same_author", "log_views", "has_count", "log_remixes", "zero_remixes", "visual", "has_visual",
    "log_tokens", "short_prompt", "log_same_text", "log_novel", "log_delay_sq", "delay_share", "views_step",
    "views_step_sq", "style_jaccard", "style_lost", "no_styles", "log_token_edits", "no_text", "parent_no_text",
    "visual_no_text", "missing_before",
]  # in the order _features makes the columns (tests/test_infer.py holds each name to its column)
FEATURE_STRUCT = pl.Struct({"jaccard": pl.Float64, "delay_hours": pl.Float64, "same_author": pl.Boolean,
                            "visual": pl.Float64, "candidates": pl.Int64, "ties": pl.Int64,
                            "margin": pl.Float64})
UTC = pl.Datetime("us", "UTC")
INFERRED_SCHEMA: dict[str, Any] = {
    "child": pl.String, "parent": pl.String, "confidence": pl.Float64, "method": pl.String,
    "features": FEATURE_STRUCT, "run_id": pl.String, "store_version": pl.Int64, "inferred_at": UTC,
}
#: The ``inferred_cut`` table: links the tree check cut (their children start trees), kept so that
#: the next run can check them again (a link's check depends on later posts).
CUT_SCHEMA: dict[str, Any] = {**INFERRED_SCHEMA, "descendants": pl.Int64, "tree_check": pl.Float64}
WEIGHTS_FILE = "inference_weights.json"
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)


# ---------------------------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class Weights:
    """Fitted weights: ``coef`` per feature of :data:`FEATURES`, the recalibration's coefficients
    per :data:`CALIBRATION_TERMS` (``(a, b)`` alone is plain Platt scaling), the second stage's
    ``attach`` logit per feature, and the ``tree_check`` logit per :data:`TREE_CHECK_TERMS`
    (empty: the tree check cuts nothing)."""

    coef: dict[str, float]
    calibration: tuple[float, ...] = (1.0, 0.0)
    attach: dict[str, float] = field(default_factory=dict)
    version: str = METHOD_VERSION
    report: dict = field(default_factory=dict)
    tree_check: dict[str, float] = field(default_factory=dict)

    def vector(self) -> np.ndarray:
        return np.array([self.coef.get(f, 0.0) for f in FEATURES], dtype=np.float64)

    def attach_vector(self) -> np.ndarray | None:
        """The second stage's logit per feature (None: no second stage)."""
        if not self.attach:
            return None
        return np.array([self.attach.get(f, 0.0) for f in FEATURES], dtype=np.float64)


def load_weights(path: str | Path | None = None, *, todo: str | None = None) -> Weights:
    """The shipped weights (``data/inference_weights.json``) or those in ``path``.

    Raises :class:`~lineage.errors.LineageError` when the file is missing or made for another method, ending
    with ``todo`` (what to do; default: refit, or use the shipped weights).

    >>> load_weights().version == METHOD_VERSION
    True
    """
    p = Path(path) if path is not None else data_dir() / WEIGHTS_FILE
    # a file of the user's own: `--fit` alone would write the shipped file, and theirs would fail again
    todo = todo or ("run `archivist infer --fit`" if path is None else
                    f"run `archivist infer --fit` with --weights {shlex.quote(str(p))} to refit it, or leave out "
                    "--weights to use the shipped weights")
    try:
        d = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise LineageError(f"inference weights {p} cannot be read ({e}); {todo}") from None
    if not isinstance(d, dict):
        raise LineageError(f"inference weights {p} are not a JSON object; {todo}")
    if d.get("method") != METHOD_VERSION:
        raise LineageError(f"inference weights {p} are for method {d.get('method')!r}, not {METHOD_VERSION!r}; "
                           f"{todo}")
    problems: list[str] = []
    coef = _weight_terms(d, "coef", FEATURES, problems)
    attach = _weight_terms(d, "attach", FEATURES, problems, required=False, every=False)
    tree = _weight_terms(d, "tree_check", TREE_CHECK_TERMS, problems)
    cal = d.get("calibration")
    if not (isinstance(cal, list) and 2 <= len(cal) <= len(CALIBRATION_TERMS) and all(_finite(x) for x in cal)):
        problems.append(f"calibration must be a list of 2 to {len(CALIBRATION_TERMS)} finite numbers "
                        f"({', '.join(CALIBRATION_TERMS)})")
    if problems:
        raise LineageError(f"inference weights {p} are not usable: {'; '.join(problems)}; "
                           f"{todo}")
    return Weights(coef=coef, calibration=tuple(float(x) for x in cal), attach=attach,
                   version=d["method"], report=d.get("report", {}), tree_check=tree)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def archive_weights(archive_path: str | Path) -> Path | None:
    """The archive's own weights file (``ARCHIVE/inference_weights.json``, written by ``archivist infer
    --calibrate``: the shipped weights with the confidence recalibrated on the archive's declared
    links), or None when it has none. :func:`infer` and :func:`lineage.infer_eval.evaluate` read it
    when given no weights.

    >>> import tempfile
    >>> archive_weights(tempfile.mkdtemp()) is None
    True
    """
    p = Path(archive_path) / WEIGHTS_FILE
    return p if p.is_file() else None


def weights_for(archive_path: str | Path) -> Weights:
    """The weights an archive's runs use: its own (:func:`archive_weights`), else the shipped ones.

    Raises :class:`~lineage.errors.LineageError` when the archive's file cannot be used, saying how
    to calibrate again or go back to the shipped weights.
    """
    own = archive_weights(archive_path)
    if own is None:
        return load_weights()
    return load_weights(own, todo=f"it is this archive's own calibration (`archivist infer --calibrate`): run that "
                                  f"again, or delete {shlex.quote(str(own))} to use the shipped weights")


def _weight_terms(d: dict, key: str, names: list[str], problems: list[str], *, required: bool = True,
                  every: bool = True) -> dict[str, float]:
    """The ``{term: number}`` object ``d[key]`` checked against its term ``names`` (problems appended:
    missing, not an object, unknown or, with ``every``, absent terms, values not finite numbers)."""
    v = d.get(key)
    if v is None and not required and key not in d:
        return {}
    if not isinstance(v, dict):
        problems.append(f"{key} is missing" if key not in d else f"{key} must be an object of term: number")
        return {}
    unknown = sorted(set(v) - set(names))
    absent = [n for n in names if n not in v] if every else []
    bad = sorted(k for k, x in v.items() if k in names and not _finite(x))
    if unknown:
        problems.append(f"{key} has unknown terms {', '.join(unknown)}")
    if absent:
        problems.append(f"{key} lacks the terms {', '.join(absent)}")
    if bad:
        problems.append(f"{key} has values that are not finite numbers: {', '.join(bad)}")
    return {k: float(x) for k, x in v.items() if k in names and _finite(x)}


# ---------------------------------------------------------------------------------------------- media
def load_fingerprints(archive_path: str | Path) -> pl.DataFrame | None:
    """The ``media_fingerprints`` table of an archive (``id, pdq`` per image or frame), or None.

    The media part of the archive writes it (columns ``id, sha256, kind, frame_s, pdq, quality``);
    inference needs only ``id`` and ``pdq`` (64 hex characters, 256 bits).

    >>> import tempfile
    >>> load_fingerprints(tempfile.mkdtemp()) is None
    True
    """
    p = Path(archive_path) / "media_fingerprints"
    if not (p / "_delta_log").exists():
        return None
    return _valid_fingerprints(read_delta(p, columns=["id", "pdq"]).drop_nulls())


def _valid_fingerprints(fingerprints: pl.DataFrame | None) -> pl.DataFrame | None:
    """``id, pdq`` rows whose ``pdq`` is a PDQ hash (:func:`archive.media.store.valid_pdq`), each once
    (one picture written twice is one frame); for the table read and for a frame given directly alike
    (a null or short hash stopped inference with a TypeError or ValueError)."""
    from archive.media.store import valid_pdq

    if fingerprints is None:
        return None
    return valid_pdq(fingerprints.select(pl.col("id").cast(pl.String), "pdq")).unique(maintain_order=True)


def _pdq_words(pdq: pl.Series) -> np.ndarray:
    """Each 64-hex PDQ hash as four uint64 words."""
    hexes = pdq.to_list()
    out = np.zeros((len(hexes), 4), dtype=np.uint64)
    for k in range(4):
        out[:, k] = np.array([int(h[16 * k:16 * (k + 1)], 16) for h in hexes], dtype=np.uint64)
    return out


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(np.int64)


def visual_pairs(fingerprints: pl.DataFrame | None, ids: pl.Series, *, max_distance: int = 31,
                 child: np.ndarray | None = None, parent: np.ndarray | None = None, t: np.ndarray | None = None,
                 eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visual similarity ``1 - hamming / 256`` of the best frame pair, for candidate pairs or new ones.

    ``ids`` are the posts in index order. With ``child``/``parent`` index arrays it
    scores those pairs (NaN where either post has no fingerprint); without them it
    finds candidate pairs whose best frames are within ``max_distance`` bits, by
    multi-index hashing (eight 32-bit blocks: pairs within 7 bits always share a
    block; the rest are found when they happen to), each post paired with the
    :data:`PER_BUCKET` posts before it in a block's bucket (``t``, the posts' times in
    index order: before the first post of its time, so a batch of pictures posted at one
    instant does not fill the window; ``eligible``, a bool per post in index order: only those posts may
    be a parent, and only they take a place in the window, as in the text's windows, so twenty copies of a
    picture that publish 0 remixes do not hide the post they copied). The one place that knows the
    fingerprint format, so a faster index can replace it.
    Returns ``(child, parent, similarity)``; pairs found are not yet ordered in time.

    >>> fp = pl.DataFrame({"id": ["a", "b"], "pdq": ["0" * 64, "0" * 63 + "f"]})
    >>> c, p, s = visual_pairs(fp, pl.Series(["a", "b", "c"]), child=np.array([1, 2]), parent=np.array([0, 0]))
    >>> float(s[0]), bool(np.isnan(s[1]))
    (0.984375, True)
    """
    empty = np.zeros(0, dtype=np.int64)
    if fingerprints is None or fingerprints.height == 0:
        if child is None:
            return empty, empty, np.zeros(0)
        return child, parent, np.full(child.shape[0], np.nan)  # type: ignore[return-value]
    index = pl.DataFrame({"id": ids}).with_row_index("_i")
    fp = fingerprints.join(index, on="id", how="inner").sort("_i", "pdq")
    pos = fp.get_column("_i").cast(pl.Int64).to_numpy()
    words = _pdq_words(fp.get_column("pdq"))
    if child is not None:
        assert parent is not None
        return child, parent, _best_frame_similarity(pos, words, ids.len(), child, parent)
    cs, ps = [], []
    m = pos.shape[0]
    for blk in range(8):
        key = (words[:, blk // 2] >> np.uint64(32 * (blk % 2))) & _MAX32
        order = np.lexsort((pos, key))
        sk, sp = key[order], pos[order]
        # one group per post in the bucket (a video's frames that share the block are one): the window
        # holds PER_BUCKET earlier *posts*, or forty frames of one video hid the picture it was cut from
        gstart = np.r_[True, (sk[1:] != sk[:-1]) | (sp[1:] != sp[:-1])] if m else np.zeros(0, dtype=bool)
        gk, gp = sk[gstart], sp[gstart]
        g = gk.shape[0]
        if t is None:
            base = np.arange(g)
        else:  # the first group of each run of one key and one time
            gt = t[gp]
            start = np.r_[True, (gk[1:] != gk[:-1]) | (gt[1:] != gt[:-1])] if g else np.zeros(0, dtype=bool)
            base = np.maximum.accumulate(np.where(start, np.arange(g), 0)) if g else np.zeros(0, dtype=np.int64)
        if eligible is not None and g and not eligible[gp].all():
            # count back over the key's eligible groups only (ecum[a]: eligible groups before position a)
            el = eligible[gp]
            ecum = np.r_[0, np.cumsum(el)]
            epos = np.flatnonzero(el)
            kstart = np.r_[True, gk[1:] != gk[:-1]]
            avail = ecum[base] - ecum[np.maximum.accumulate(np.where(kstart, np.arange(g), 0))]
            for d in range(1, PER_BUCKET + 1):
                i = np.flatnonzero(avail >= d)
                cs.append(gp[i])
                ps.append(gp[epos[ecum[base[i]] - d]])
            continue
        for d in range(1, PER_BUCKET + 1):
            i = np.flatnonzero(base >= d)
            j = base[i] - d
            same = gk[i] == gk[j]
            cs.append(gp[i[same]])
            ps.append(gp[j[same]])
    if not cs:
        return empty, empty, np.zeros(0)
    pair = np.unique(np.concatenate(cs) * ids.len() + np.concatenate(ps))
    a, b = pair // ids.len(), pair % ids.len()
    sim = _best_frame_similarity(pos, words, ids.len(), a, b)  # the best frame pair, not the one that met
    ok = sim >= 1.0 - max_distance / 256.0
    return a[ok], b[ok], sim[ok]


def _best_frame_similarity(pos: np.ndarray, words: np.ndarray, n: int, child: np.ndarray, parent: np.ndarray,
                           chunk: int = 4_000_000) -> np.ndarray:
    """``1 - min hamming / 256`` over every frame pair of each (child, parent) pair; NaN where either
    post has no frame. ``pos`` (sorted) names each frame row's post, ``words`` its PDQ as four uint64.
    Every frame pair is expanded at once, ``chunk`` frame pairs at a time (a post's frames are few:
    one a picture, a few a video), so the work is numpy's, not a loop per pair."""
    sim = np.full(child.shape[0], np.nan)
    starts = np.searchsorted(pos, np.arange(n + 1))
    na = (starts[child + 1] - starts[child]).astype(np.int64)
    nb = (starts[parent + 1] - starts[parent]).astype(np.int64)
    todo = np.flatnonzero((na > 0) & (nb > 0))
    k0 = 0
    while k0 < todo.size:
        # as many pairs as fit in chunk frame pairs (at least one)
        sizes = na[todo[k0:]] * nb[todo[k0:]]
        k1 = k0 + max(1, int(np.searchsorted(np.cumsum(sizes), chunk, side="right")))
        ks = todo[k0:k1]
        m = na[ks] * nb[ks]
        pair = np.repeat(np.arange(ks.size), m)
        j = np.arange(pair.size) - np.repeat(np.cumsum(m) - m, m)  # frame pair index within its pair
        fa = starts[child[ks]][pair] + j // nb[ks][pair]
        fb = starts[parent[ks]][pair] + j % nb[ks][pair]
        d = _popcount(words[fa] ^ words[fb]).sum(axis=1)
        best = np.full(ks.size, 257, dtype=np.int64)
        np.minimum.at(best, pair, d)
        sim[ks] = 1.0 - best / 256.0
        k0 = k1
    return sim


# ---------------------------------------------------------------------------------------------- candidates
def _minhash(codes: pl.Series, hashes: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """MinHash signatures (rows, :data:`NUM_PERM`) of each row's token hashes, datasketch's legacy scheme.

    Equal to ``datasketch.MinHash(num_perm=NUM_PERM, seed=1, scheme="legacy")`` updated
    with each token hash (a test checks it), computed for every row at once.
    """
    from datasketch import MinHash

    a, b = MinHash(num_perm=NUM_PERM, seed=1, scheme="legacy", hashfunc=lambda x: x).permutations.astype(np.uint64)
    n = lens.shape[0]
    sig = np.full((n, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)  # 32-bit values (datasketch's _max_hash)
    has = lens > 0
    if hashes.size == 0:
        return sig
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])[has]
    # permute each distinct token once (a table by token code), then gather per post: far fewer
    # multiplications and modulos than one per post and token
    flat = codes.explode().drop_nulls().to_numpy().astype(np.int64)
    table_h = np.zeros(int(flat.max()) + 1, dtype=np.uint64)
    table_h[flat] = hashes
    step = 8
    for k0 in range(0, NUM_PERM, step):
        ks = slice(k0, min(NUM_PERM, k0 + step))
        perm = (((table_h[:, None] * a[None, ks] + b[None, ks]) % _MERSENNE) & _MAX32).astype(np.uint32)
        sig[has, ks] = np.minimum.reduceat(perm[flat], starts, axis=0)
    return sig


class _Groups:
    """Rows ``R`` (global indices, ascending = time order) sorted by a group key, for "the few
    earlier rows of my group" lookups of any subset of children without sorting again.

    ``key`` is packed with the row's rank (< 2**24) in one uint64 (its top 40 bits): one sort
    instead of a two-key lexsort. Keys that share their top 40 bits merely add candidates,
    which the score then weighs. With ``t`` (every post's time, by global index) "the d-th
    earlier row" of a child is counted back from the first row of its group at the child's
    time: rows of the same time are never parents, so they take no place in the window.
    """

    def __init__(self, rows: np.ndarray, key: np.ndarray, t: np.ndarray | None = None,
                 eligible: np.ndarray | None = None) -> None:
        self.rows = rows
        if rows.size and int(rows.max()) < (1 << 24):
            packed = (key.astype(np.uint64) >> np.uint64(24) << np.uint64(24)) | rows.astype(np.uint64)
            self.order = np.argsort(packed)
            self.skey = packed[self.order] >> np.uint64(24)
        else:
            self.order = np.lexsort((rows, key))
            self.skey = key[self.order]
        self.inv = np.empty_like(self.order)
        self.inv[self.order] = np.arange(self.order.shape[0])
        # rank of each sorted position in its group (how many rows of the group come before it)
        m = self.order.shape[0]
        start = np.ones(m, dtype=bool)
        start[1:] = self.skey[1:] != self.skey[:-1]
        first = np.maximum.accumulate(np.where(start, np.arange(m), 0)) if m else np.zeros(0, dtype=np.int64)
        self.grank = (np.arange(m) - first).astype(np.int32)
        # rows of the group at the same time before each position (``t``, time order within a group): the
        # "d-th earlier row" counts from the first row of the child's time, so a batch of posts sharing one
        # timestamp does not fill the window with rows that cannot be parents (None: no such ties)
        self.tgap: np.ndarray | None = None
        if t is not None and m > 1:
            ts = t[rows[self.order]]
            tie = ~start[1:] & (ts[1:] == ts[:-1])
            if tie.any():
                tstart = np.r_[True, ~tie]
                tfirst = np.maximum.accumulate(np.where(tstart, np.arange(m), 0))
                self.tgap = (np.arange(m) - tfirst).astype(np.int32)
                self.grank = self.grank - self.tgap  # rows of the group strictly earlier
        # ``eligible`` (bool per global index, or None: every row): the rows that may be a parent. Every row
        # still looks for its earlier rows, but only eligible ones are counted and returned, so rows that
        # cannot be parents take no place in the window. ecum[a]: eligible sorted positions before a.
        self.ecum: np.ndarray | None = None
        self.epos: np.ndarray | None = None
        if eligible is not None and m:
            el = eligible[rows[self.order]]
            if not el.all():
                self.ecum = np.concatenate([np.zeros(1, dtype=np.int32), np.cumsum(el, dtype=np.int32)])
                self.epos = np.flatnonzero(el).astype(np.int32)  # int32: 8 bytes a row for both, not 16

    def _windows(self, a_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For children at sorted positions ``a_pos``: the position from which earlier rows are counted
        back (the first row of the child's time), the group's first position, and how many rows that
        may be parents lie strictly earlier in the group."""
        rank = self.grank[a_pos]
        base = self._base(a_pos)
        first = base - rank
        if self.ecum is None:
            return base, first, rank.astype(np.int64)
        return base, first, self.ecum[base] - self.ecum[first]

    def _back(self, base: np.ndarray, first: np.ndarray, d: int) -> np.ndarray:
        """Sorted position of the ``d``-th earlier row that may be a parent (``d`` 0: the group's first);
        callers keep only children with at least ``max(d, 1)`` such rows."""
        if self.ecum is None:
            return first if d == 0 else base - d
        return self.epos[self.ecum[first]] if d == 0 else self.epos[self.ecum[base] - d]

    def _base(self, a_pos: np.ndarray) -> np.ndarray:
        """Sorted position of the first row of the group at the same time as each of ``a_pos``."""
        return a_pos if self.tgap is None else a_pos - self.tgap[a_pos]

    def earlier(self, lo: int, hi: int, t: np.ndarray, depth: int, depths: list[int] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (child, parent) in global indices for children ``lo <= child < hi``: the ``depth``
        rows before each child in its group, created strictly earlier."""
        j0, j1 = np.searchsorted(self.rows, [lo, hi])
        if j0 == j1:
            z = np.zeros(0, dtype=np.int64)
            return z, z
        a_pos = self.inv[j0:j1]
        child = self.rows[j0:j1]
        cs, ps = [], []
        base, first, rank = self._windows(a_pos)
        for d in (depths if depths is not None else range(1, depth + 1)):
            ok = rank >= max(d, 1)
            b_pos = self._back(base[ok], first[ok], d)
            ch = child[ok]
            par = self.rows[self.order[b_pos]]
            keep = t[par] < t[ch]
            cs.append(ch[keep])
            ps.append(par[keep])
        return np.concatenate(cs), np.concatenate(ps)


    def earlier_dense(self, lo: int, hi: int, t: np.ndarray, out: np.ndarray, flag: int,
                      depths: list[int] | None = None) -> None:
        """The pairs of :meth:`earlier` written as ``parent * 2 + flag`` into ``out`` (``(hi - lo, depth)``,
        row = child - lo, column = d - 1); cells with no pair are left as they are. ``depths``
        (increasing; 0 first: the group's first row) replaces ``1 .. out.shape[1]``, one column each."""
        j0, j1 = np.searchsorted(self.rows, [lo, hi])
        if j0 == j1:
            return
        a_pos = self.inv[j0:j1]
        child = self.rows[j0:j1]
        # counted back from the first row of the child's time; rank: rows of the group strictly earlier
        # (those that may be parents)
        base, first, rank = self._windows(a_pos)
        if depths is None:
            depths = list(range(1, out.shape[1] + 1))
        for col, d in enumerate(depths):
            if d == 0:  # the group's first row
                ok = rank >= 1
                par = self.rows[self.order[self._back(base[ok], first[ok], 0)]]
                ch = child[ok]
                ok2 = t[par] < t[ch]
                out[ch[ok2] - lo, col] = par[ok2] * 2 + flag
                continue
            more = rank >= d  # children with a d-th earlier row in their group
            base, first, child, rank = base[more], first[more], child[more], rank[more]
            if base.size == 0:
                break
            par = self.rows[self.order[self._back(base, first, d)]]
            ok = t[par] < t[child]
            out[child[ok] - lo, col] = par[ok] * 2 + flag


@dataclass
class _Prepared:
    ids: pl.Series
    t: np.ndarray  # epoch µs, index order = (created_at, id)
    author: np.ndarray  # int codes, -1 unknown
    author_share: np.ndarray  # the author's share of the strictly earlier posts (smoothed: _author_share)
    views: np.ndarray
    remixes: np.ndarray  # NaN unknown
    counted: np.ndarray  # epoch µs the published count was read (its post's fetched_at), NaN unknown
    ntok: np.ndarray
    sets: np.ndarray  # object array of set strings
    seqs: np.ndarray  # object array of the tokens in order, one character each (the first MAX_ALIGN_TOKENS)
    same_before: np.ndarray  # earlier posts with exactly this token set (a meme's size so far)
    missing_before: np.ndarray  # share of earlier posts held without words (with a picture or not)
    novel: np.ndarray  # tokens of the post that no earlier post used (new words: a new idea more than a remix)
    sig: np.ndarray
    style_sets: np.ndarray  # object array of set strings of the style-lexicon terms in the prompt
    nstyle: np.ndarray
    style_keys: np.ndarray  # (posts, STYLE_BANDS) one-row MinHash keys of the style terms
    subject_sets: np.ndarray  # set strings of the tokens outside the style terms
    nsubject: np.ndarray
    usable: np.ndarray  # may take part (text or media, not from the future)
    reason: list[str | None]


def _count_for(P: _Prepared, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The parent's published remix count as evidence about each child: NaN (unknown) where the
    platform publishes none, or where it was read before the child was posted (a count fetched
    yesterday cannot hold today's remix: read as "no remixes", it hid the parent)."""
    rem = P.remixes[p]
    stale = P.counted[p] < P.t[c]  # False where the time it was read is unknown (NaN)
    return np.where(stale, np.nan, rem) if stale.any() else rem


def _final_counts(P: _Prepared) -> np.ndarray:
    """Each post's published count where no post of the archive can have outdated it (read after the
    archive's latest post, or at an unknown time), else NaN: the capacity of the assignment, and the
    windows' "a post with 0 remixes is no parent", need such a count. (The archive's latest post, not
    the run's: an incremental run reads the counts as a full run does. Every post not from the future
    counts, with words or without: a declared remix with no prompt is a remix too; :func:`infer`
    recomputes from the posts whose count this time outdates, :func:`_latest_post`.)"""
    here = ~(P.counted < P.t)  # not a date from the future (read before it was made)
    if not here.any():
        return P.remixes
    last = P.t[here].max()
    return np.where(P.counted < last, np.nan, P.remixes)


def _latest_post(posts: pl.DataFrame) -> datetime | None:
    """The time of the latest post of ``posts`` (``created_at``, ``fetched_at``) not from the future: the
    time :func:`_final_counts` holds a count against (None without such a post)."""
    here = posts.filter(pl.col("fetched_at").is_null() | (pl.col("created_at") <= pl.col("fetched_at")))
    return here.get_column("created_at").max() if here.height else None  # type: ignore[return-value]


#: Most distinct tokens a run codes one to one: :func:`lineage.text.code_strings` and
#: :func:`~lineage.text.set_strings` give each token one Unicode character, and there are about
#: 1.1 million. An archive with more (numbers, seeds, hashes, typos: a few million posts have them)
#: keeps its most used tokens and folds the rest into :data:`RARE_BUCKETS` by a hash of their text.
MAX_TOKEN_CODES = 1_000_000
RARE_BUCKETS = 200_000


def _fold_rare_tokens(tokens: pl.Series, limit: int | None = None, buckets: int | None = None) -> pl.Series:
    """``tokens`` (``list[str]`` per post) with at most ``limit`` (:data:`MAX_TOKEN_CODES`) distinct tokens:
    when there are more, the ``limit - buckets`` most used stay (ties: the smaller token) and every
    other token becomes one of ``buckets`` stand-ins (``"\\x00"`` and a number, from a seeded hash of
    its text, so the same archive gives the same stand-ins). Two rare tokens then count as the same
    word with probability ``1 / buckets``; an archive within the limit is returned as it is.

    >>> s = pl.Series([["a", "b", "x"], ["a", "y"], ["a", "b", "z"]])
    >>> _fold_rare_tokens(s, limit=4, buckets=2).to_list()[0][:2], _fold_rare_tokens(s).to_list() == s.to_list()
    (['a', 'b'], True)
    >>> len(set(_fold_rare_tokens(s, limit=4, buckets=2).explode().to_list()))
    4
    """
    limit = MAX_TOKEN_CODES if limit is None else limit
    buckets = RARE_BUCKETS if buckets is None else buckets
    flat = tokens.explode().drop_nulls().rename("tok")
    if flat.n_unique() <= limit:
        return tokens
    keep = (flat.value_counts(name="_n").sort(["_n", "tok"], descending=[True, False])
            .head(limit - buckets).get_column("tok"))
    e = pl.element()
    stand_in = pl.lit("\x00") + (e.hash(seed=20263) % buckets).cast(pl.String)
    return tokens.list.eval(pl.when(e.is_in(keep.implode())).then(e).otherwise(stand_in))


def _count_values(df: pl.DataFrame, col: str) -> np.ndarray:
    """A count column (``views``, ``remixes``) as float64 whole numbers, NaN (unknown) where absent or not a
    count: null, NaN, infinite, negative, or text that is no number (a published remix count of -1 closed
    its post to every child, one of infinity made any child its remix with confidence 1.0, and "many"
    stopped the run with a polars error)."""
    if col not in df.columns:
        return np.full(df.height, np.nan)
    try:
        v = df.get_column(col).cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy().astype(np.float64)
    except Exception as e:  # a list, a struct: nothing a count is read from
        raise LineageError(f"posts column {col} must hold counts (numbers), not {df.schema[col]}") from e
    return np.where(np.isfinite(v) & (v >= 0), np.rint(v), np.nan)


def _epoch_us(df: pl.DataFrame, col: str) -> pl.Series:
    """A time column as epoch µs (Int64, null kept): a Datetime of any zone (naive: UTC) or a Date; anything
    else raises :class:`~lineage.errors.LineageError` saying how to parse it (times as text stopped the run
    with polars' "casting from string to datetime is not supported")."""
    s = df.get_column(col)
    if s.dtype == pl.Date:
        s = s.cast(pl.Datetime("us"))
    if not isinstance(s.dtype, pl.Datetime):
        raise LineageError(f"posts column {col} must be a datetime, not {s.dtype}; parse text times first, "
                           f"e.g. pl.col({col!r}).str.to_datetime()")
    return s.dt.epoch("us")


#: Same-author evidence is discounted by how much of the archive the author posts (version 11). The
#: fitted weight is what a shared author is worth where authors post rarely, as in the simulator (a
#: handle among 14,400): where an author posts a share ``s`` of the earlier posts, a candidate of theirs
#: shares the author by chance about ``s`` of the time, so the evidence (a log likelihood ratio) is
#: ``ln(s / AUTHOR_REF_SHARE)`` nats weaker (Bayes' rule), and nothing at all from ``e**AUTHOR_SPAN`` times
#: the reference share (about 15% of the posts) up. Stated, not fitted: the fit's authors never post
#: that much, so the discount leaves the fit archives as they were.
AUTHOR_REF_SHARE = 0.001
AUTHOR_SPAN = 5.0  # nats: about the fitted same-author weight (4.87 in version 10)
AUTHOR_PRIOR_POSTS = 100  # pseudo-posts added to the earlier posts, so the first posts of an archive are not read as prolific


def _author_share(author: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Each post's author's share of the posts created strictly before it, less one (the author's own
    parent, where they remixed themselves, is no coincidence): ``max(k - 1, 0) / (N + 100)``, with ``k``
    the author's earlier posts and ``N`` all earlier posts (``t`` sorted; 0 for an unknown author).

    >>> _author_share(np.array([0, 0, 0, 0, 1, -1]), np.array([1, 2, 2, 3, 4, 5])).round(4).tolist()
    [0.0, 0.0, 0.0, 0.0194, 0.0, 0.0]
    """
    n = author.shape[0]
    if not n:
        return np.zeros(0)
    earlier = np.searchsorted(t, t, side="left")  # posts strictly before (t sorted)
    order = np.lexsort((t, author))
    a, ts = author[order], t[order]
    start = np.r_[True, (a[1:] != a[:-1]) | (ts[1:] != ts[:-1])]  # a run of one author at one instant
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    group = np.maximum.accumulate(np.where(np.r_[True, a[1:] != a[:-1]], np.arange(n), 0))
    k = np.empty(n, dtype=np.int64)
    k[order] = first - group
    # less one: where the author remixed their own post, that post is the parent, no coincidence
    share = np.maximum(k - 1, 0) / (earlier + AUTHOR_PRIOR_POSTS)
    share[author < 0] = 0.0
    return share


def _author_evidence(share: np.ndarray) -> np.ndarray:
    """How much of the fitted same-author weight a pair keeps (1 to 0) where the child's author posts
    ``share`` of the earlier posts: ``1 - ln(share / AUTHOR_REF_SHARE) / AUTHOR_SPAN`` past the reference.

    >>> _author_evidence(np.array([0.0, 0.001, 0.01, 0.2])).round(2).tolist()
    [1.0, 1.0, 0.54, 0.0]
    """
    return np.clip(1.0 - np.log(np.maximum(share, AUTHOR_REF_SHARE) / AUTHOR_REF_SHARE) / AUTHOR_SPAN, 0.0, 1.0)


def _prepare(posts: pl.DataFrame, fingerprints: pl.DataFrame | None) -> _Prepared:
    df = posts.sort(["created_at", "id"])
    n = df.height
    ids = df.get_column("id")
    t = _epoch_us(df, "created_at").fill_null(0).to_numpy().astype(np.int64)
    ordered = tokens_series(df.get_column("text").fill_null(""))
    ocodes = token_codes(ordered)  # dense: the largest code + 1 is the number of distinct tokens
    if n and (ocodes.list.max().max() or 0) >= MAX_TOKEN_CODES:
        ordered = _fold_rare_tokens(ordered)
        ocodes = token_codes(ordered)
    seqs = code_strings(ocodes, max_tokens=MAX_ALIGN_TOKENS)
    del ocodes
    # sorted distinct tokens; list.eval is several times faster than .list.unique().list.sort() here
    toks = ordered.list.eval(pl.element().unique().sort())
    del ordered
    codes = token_codes(toks)
    lens = toks.list.len().fill_null(0).to_numpy().astype(np.int64)
    hashes = toks.explode().drop_nulls().hash(seed=20261).to_numpy().astype(np.uint64) & _MAX32
    sig = _minhash(codes, hashes, lens)
    sets = set_strings(codes)
    same_before = (pl.DataFrame({"s": pl.Series(sets.tolist(), dtype=pl.String)})
                   .select(pl.int_range(pl.len()).over("s")).to_series().to_numpy().astype(np.int64))
    same_before[lens == 0] = 0  # posts without a prompt share no text: they are no meme
    # a token is novel in the first post (time order) that uses it
    first_use = (pl.DataFrame({"code": codes}).with_row_index("row").explode("code").drop_nulls("code")
                 .group_by("code").agg(pl.col("row").min()))
    novel = np.bincount(first_use.get_column("row").to_numpy().astype(np.int64), minlength=n).astype(np.int64)
    style_sets, nstyle, style_keys, terms = _style_sets(ids, df.get_column("text").fill_null(""))
    # the prompt's words outside its style terms (its subject): a candidate must share one (or a picture)
    style_toks = tokens_series(terms.list.join(" ")).fill_null(pl.lit([], dtype=pl.List(pl.String)))
    subject = token_codes(toks.list.set_difference(style_toks).list.set_difference(
        pl.lit(sorted(FUNCTION_WORDS), dtype=pl.List(pl.String))))
    nsubject = subject.list.len().fill_null(0).to_numpy().astype(np.int64)
    subject_sets = set_strings(subject)
    author = (df.get_column("author").cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
              if "author" in df.columns else np.full(n, -1))
    author_share = _author_share(author, t)
    views = np.nan_to_num(_count_values(df, "views"), nan=0.0)
    remixes = _count_values(df, "remixes")
    has_media = np.zeros(n, dtype=bool)
    if fingerprints is not None and fingerprints.height:
        has_media = ids.is_in(fingerprints.get_column("id").implode()).to_numpy()
    observed = None
    for col in ("fetched_at", "observed_at"):
        if col in df.columns:
            observed = _epoch_us(df, col).to_numpy()
            break
    future = np.zeros(n, dtype=bool)
    if observed is not None:
        obs = np.asarray(observed, dtype=np.float64)
        future = np.where(np.isnan(obs), False, t > obs)
    reason: list[str | None] = [None] * n
    no_content = (lens == 0) & ~has_media
    for i in np.nonzero(no_content)[0].tolist():
        reason[i] = "no prompt or media fingerprint"
    for i in np.nonzero(future)[0].tolist():
        reason[i] = "created after it was observed (a date from the future)"
    usable = ~no_content & ~future
    # the share of earlier posts held without words, with a picture or not (dates from the future aside):
    # where many parents have none, a worded child's best worded candidate is more often its grandparent
    here = ~future
    wordless = here & (lens == 0)
    missing_before = (np.cumsum(wordless) - wordless) / np.maximum(np.cumsum(here) - here, 1)
    counted = np.full(n, np.nan) if observed is None else np.asarray(observed, dtype=np.float64)
    return _Prepared(ids=ids, t=t, author=author, author_share=author_share, views=views, remixes=remixes, counted=counted, ntok=lens, sets=sets, seqs=seqs, same_before=same_before, missing_before=missing_before, novel=novel, sig=sig,
                     style_sets=style_sets, nstyle=nstyle, style_keys=style_keys,
                     subject_sets=subject_sets, nsubject=nsubject,
                     usable=usable, reason=reason)


STYLE_BANDS = 4  # one-row LSH bands over each post's style terms


def _style_sets(ids: pl.Series, text: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, pl.Series]:
    """Each post's style-lexicon terms (:func:`lineage.styles.styles_frame`, no unlisted artist names)
    as a set string (one character per distinct term), how many there are, and the
    :data:`STYLE_BANDS` one-row MinHash keys of the set (two posts share key ``k`` with probability
    the Jaccard of their style sets). Terms are found once per distinct text, :data:`CHUNK` texts at a
    time (bounded memory); the keys hash the terms' text, so they do not depend on which posts a run reads.
    Last, the terms themselves (``list[str]`` per post)."""
    from lineage.styles import styles_frame

    n = text.len()
    frame = pl.DataFrame({"text": text})
    uniq = frame.unique(maintain_order=True).with_row_index("u")
    parts = []
    for s0 in range(0, uniq.height, CHUNK):
        chunk = uniq.slice(s0, CHUNK)
        sf = styles_frame(pl.DataFrame({"id": chunk.get_column("u").cast(pl.String), "text": chunk.get_column("text")}),
                          artists=False)
        parts.append(sf.filter(pl.col("source") == "lexicon").select(u=pl.col("id").cast(pl.UInt32), term="term"))
    terms = (pl.concat(parts) if parts else pl.DataFrame(schema={"u": pl.UInt32, "term": pl.String})
             ).group_by("u").agg("term")
    per = (frame.with_row_index("row").join(uniq, on="text", how="left").join(terms, on="u", how="left")
           .sort("row").get_column("term").fill_null(pl.lit([], dtype=pl.List(pl.String))))
    lens = per.list.len().to_numpy().astype(np.int64)
    keys = np.zeros((n, STYLE_BANDS), dtype=np.uint64)
    flat = per.explode().drop_nulls().hash(seed=20262).to_numpy().astype(np.uint64)
    if flat.size:
        has = lens > 0
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])[has]
        for k in range(STYLE_BANDS):
            h = (flat + np.uint64(k + 1)) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(31)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(29)
            keys[has, k] = np.minimum.reduceat(h, starts)
    return set_strings(token_codes(per)), lens, keys, per


_INT32_ROWS = 1 << 25  # below this many posts the first cut packs its cells in int32
CHUNK = 100_000  # children whose candidates are gathered at once (bounds the memory of the raw pairs)


def _candidates(P: _Prepared, targets: np.ndarray, fingerprints: pl.DataFrame | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs ``(child, parent, band hits, jaccard)``: parent strictly earlier, sorted by child,
    at most MAX_CANDIDATES per child. Children are taken in time-ordered chunks of :data:`CHUNK`,
    each against every earlier post, so memory stays bounded and the result does not depend on
    the chunking."""
    n = P.t.shape[0]
    rows = np.nonzero(P.usable & (P.ntok > 0))[0]
    # a post whose platform publishes 0 remixes is no parent: it takes no place in a bucket's window
    # (the author's latest posts still include it: the utility weighs the count)
    eligible = ~(_final_counts(P) == 0)
    bands = []
    for band in range(BANDS):
        s = P.sig[rows, band * ROWS:(band + 1) * ROWS].astype(np.uint64)
        key = (s[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ ((s[:, 1] + np.uint64(0x632BE59BD9B4E019))
                                                          * np.uint64(0xBF58476D1CE4E5B9)) ^ s[:, 2]
        bands.append(_Groups(rows, key, P.t, eligible))
    # STYLE_BANDS more buckets: one-row MinHash bands over the style terms (a remix that rewrote its
    # subject keeps them; two posts share band k with probability the Jaccard of their style sets)
    srows = np.nonzero(P.usable & (P.nstyle > 0))[0]
    if srows.size:
        for k in range(STYLE_BANDS):
            bands.append(_Groups(srows, P.style_keys[srows, k], P.t, eligible))
    arows = np.nonzero(P.usable & (P.author >= 0))[0]
    # flagged groups (preferred at equal score by both cuts): the author's few latest posts, and older posts
    # with exactly the same words (an identical prompt's bucket holds its latest copies only)
    flagged: list[tuple[_Groups, list[int]]] = []
    if arows.size:
        flagged.append((_Groups(arows, P.author[arows].astype(np.uint64) << np.uint64(24), P.t),
                        list(range(1, PER_AUTHOR + 1))))
    trows = np.nonzero(P.usable & (P.ntok > 0))[0]
    if trows.size:
        tkey = pl.Series(P.sets[trows].tolist(), dtype=pl.String).hash(seed=20263).to_numpy()
        flagged.append((_Groups(trows, tkey, P.t, eligible), DEEP_SAME_TEXT))
    visual = None
    if fingerprints is not None:
        vc, vp, _ = visual_pairs(fingerprints, P.ids, t=P.t, eligible=eligible)
        later = P.t[vc] > P.t[vp]
        c2 = np.where(later, vc, vp)
        p2 = np.where(later, vp, vc)
        keep = (P.t[c2] != P.t[p2]) & P.usable[c2] & P.usable[p2]
        visual = (c2[keep], p2[keep])
    out = []
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        if not targets[lo:hi].any():
            continue
        out.append(_chunk_candidates(P, targets, bands, flagged, visual, lo, hi))
    z = np.zeros(0, dtype=np.int64)
    if not out:
        return z, z, z, np.zeros(0)
    return tuple(np.concatenate(x) for x in zip(*out))  # type: ignore[return-value]


def _chunk_candidates(P: _Prepared, targets: np.ndarray, bands: list[_Groups], flagged: list[tuple[_Groups, list[int]]],
                      visual: tuple[np.ndarray, np.ndarray] | None, lo: int, hi: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = P.t.shape[0]
    if visual is None:
        c, p, score = _dense_first_cut(P, targets, bands, flagged, lo, hi)
        return _second_cut(P, c, p, score, n)
    cs, ps = [], []
    for g in bands:
        c, p = g.earlier(lo, hi, P.t, PER_BUCKET)
        cs.append(c)
        ps.append(p)
    hits_from_lsh = sum(x.shape[0] for x in cs)
    for g, depths in flagged:
        c, p = g.earlier(lo, hi, P.t, 0, depths)
        cs.append(c)
        ps.append(p)
    if visual is not None:
        m = (visual[0] >= lo) & (visual[0] < hi)
        cs.append(visual[0][m])
        ps.append(visual[1][m])
    z = np.zeros(0, dtype=np.int64)
    c = np.concatenate(cs)
    p = np.concatenate(ps)
    not_lsh = np.ones(c.shape[0], dtype=np.int64)
    not_lsh[:hits_from_lsh] = 0
    keep = targets[c] & P.usable[p]
    # one sort of (pair code, not-from-LSH bit): distinct pairs and their band hits
    code = np.sort((c[keep] * n + p[keep]) * 2 + not_lsh[keep])
    del c, p, not_lsh, keep, cs, ps
    if code.size == 0:
        return z, z, z, np.zeros(0)
    pair = code >> 1
    start = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    hits = np.add.reduceat(1 - (code & 1), start)
    other = np.maximum.reduceat(code & 1, start)  # also the same author or a near-duplicate picture
    c, p = pair[start] // n, pair[start] % n
    del code, pair
    # first cut: at most 2 * MAX_CANDIDATES per child: same-author and media candidates first (a few),
    # then by band hits, then recency (no Jaccard yet): in a meme, the author's own earlier post
    # stays a candidate however many copies came between
    c, p, score = _top_per_child(c, p, other * 32 + hits, n, 2 * MAX_CANDIDATES)
    return _second_cut(P, c, p, score, n)


#: A candidate sharing no word with the child must look this alike (the media candidates' bar:
#: 31 of 256 PDQ bits) to stay one: an author's unrelated earlier post is no evidence by itself.
MIN_VISUAL = 1.0 - 31 / 256


#: Words that say nothing of a prompt's subject (articles, prepositions, conjunctions of the languages
#: prompts are mostly written in): two prompts sharing only these and style terms share no subject.
FUNCTION_WORDS = frozenset("""
a an the of on in at to for from with without by and or but as into onto over under near is are its it
this that these those very
de del la le les el los las un une una uno des du da do dos das di della dei y e et o ou en au aux à
con sin por para sur sous dans avec sans pour par per nel nella im am der die das dem den ein eine
einer und oder mit ohne auf unter über von zu zum zur no na em um uma com
""".split())


def _similar_only(P: _Prepared, c: np.ndarray, p: np.ndarray, hits: np.ndarray, jac: np.ndarray,
                  fingerprints: pl.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drop candidate pairs with nothing in common but style: no shared word outside the style
    lexicon's terms, and no near-duplicate picture.

    Such a pair (in practice the author's latest posts, candidates by author alone, or posts in
    one style bucket) is not "similar enough" to be a parent: left in, an author's unrelated
    prompts in other scripts were linked with confidence 0.3 to 0.85, and an author's unrelated
    subjects that end in their usual "cinematic lighting, highly detailed, 8k" with up to 0.98.
    On the simulator's truth such links are 0.1% of the true ones.
    """
    # a prompt of style terms and function words alone has no subject to share; the shared words may all be
    # style terms or function words ("a", "on", "the": an author's unrelated prompts were linked at up to 0.96
    # by them when neither had a style term): count the shared subject words (equal sets share their subject)
    keep = _text_related(P, c, p, jac)
    if not keep.all() and fingerprints is not None:
        rest = np.flatnonzero(~keep)
        _, _, vis = visual_pairs(fingerprints, P.ids, child=c[rest], parent=p[rest])
        keep[rest] = np.nan_to_num(vis) >= MIN_VISUAL
    if keep.all():
        return c, p, hits, jac
    return c[keep], p[keep], hits[keep], jac[keep]


#: The most a link may be trusted when the picture is its only evidence (the prompts share no subject word):
#: a near-duplicate picture is as likely a stock photo, a template or a watermark-only frame that
#: unrelated posts share as a remix that rewrote its whole prompt. The simulator cannot say which (its
#: pictures never collide by chance, so its fit trusts any match); the rule is stated, not fitted.
PICTURE_ONLY_CONFIDENCE = 0.5


def _text_related(P: _Prepared, c: np.ndarray, p: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """Pairs whose prompts share a subject word (or are the same words): :func:`_similar_only`'s text test."""
    keep = (jac > 0) & (P.nsubject[c] > 0) & (P.nsubject[p] > 0)
    check = np.flatnonzero(keep & (jac < 1.0))
    if check.size:
        keep[check] = _shared(P.subject_sets, P.nsubject, c[check], p[check]) > 0
    return keep


def _picture_only_cap(P: _Prepared, c: np.ndarray, p: np.ndarray, bounds: np.ndarray, seg: np.ndarray,
                      jac: np.ndarray, vis: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The highest confidence each chosen pair may have: 1, or where the prompts share no subject word
    and only a near-duplicate picture links them, :data:`PICTURE_ONLY_CONFIDENCE` shared among the
    child's candidates that show the same picture with no text in common (a stock photo three earlier
    unrelated posts carry says a third as much of which one is the parent). Where one of the two posts
    has no prompt at all (an exported file), nothing contradicts the picture: 1 shared among them."""
    cap = np.ones(chosen.shape[0])
    if chosen.size == 0:
        return cap
    alike = np.flatnonzero(np.nan_to_num(vis) >= MIN_VISUAL)  # few: the text test only where a picture matched
    only = np.zeros(c.shape[0], dtype=bool)
    only[alike] = ~_text_related(P, c[alike], p[alike], jac[alike])
    if not only[chosen].any():
        return cap
    k = np.maximum(np.bincount(seg, weights=only, minlength=bounds.shape[0])[seg[chosen]], 1.0)
    # a post held without its prompt has no words to disagree with the picture: its picture is all the
    # evidence there is, shared only among the earlier posts that show it
    worded = (P.ntok[c[chosen]] > 0) & (P.ntok[p[chosen]] > 0)
    return np.where(only[chosen], np.where(worded, PICTURE_ONLY_CONFIDENCE, 1.0) / k, 1.0)


def _second_cut(P: _Prepared, c: np.ndarray, p: np.ndarray, score: np.ndarray, n: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At most MAX_CANDIDATES per child from the first cut (``score = flag * 32 + band hits``, the
    flag set for a same-author or media candidate): highest token Jaccard discounted by the delay
    (:data:`CUT_DELAY_DISCOUNT` per e-fold of ``1 + hours``; a copy of the same words is not
    discounted), then (at an equal value) a flagged candidate, then the most recent. Returns
    ``(child, parent, hits, jaccard)``."""
    jac = _jaccard(P, c, p)
    hours = np.maximum(P.t[c] - P.t[p], 0) / 3.6e9
    s = np.where(jac >= 1.0, 1.0, np.maximum(jac - CUT_DELAY_DISCOUNT * np.log1p(hours), 0.0))
    q = np.rint(s * 32767).astype(np.int64) * 2 + (score >> 5)
    c, p, keep_idx = _top_per_child(c, p, q, n, MAX_CANDIDATES, return_index=True)
    return c, p, score[keep_idx] & 31, jac[keep_idx]


def _dense_first_cut(P: _Prepared, targets: np.ndarray, bands: list[_Groups], flagged: list[tuple[_Groups, list[int]]],
                     lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first cut of :func:`_chunk_candidates` without media: per child, its distinct candidates
    (LSH bucket mates and same-author posts), at most ``2 * MAX_CANDIDATES``: same-author ones
    first, then by band hits, then recency; ``(child, parent, flag * 32 + hits)`` sorted by child.

    Each child's raw candidates (at most ``BANDS * PER_BUCKET + PER_AUTHOR``) are one row of a
    matrix, so distinct pairs and their hits come from a row-wise sort instead of a sort of every
    pair of the chunk (tests/test_infer.py holds it equal to the pairwise path).
    """
    n = P.t.shape[0]
    small = n < _INT32_ROWS  # int32 cells (parent * 2 + flag; (flag * 32 + hits) << 25 | parent): faster row sorts
    dt = np.int32 if small else np.int64
    shift = 25 if small else 40
    width = len(bands) * PER_BUCKET + sum(len(d) for _, d in flagged)
    M = np.full((hi - lo, width), -1, dtype=dt)
    for b, g in enumerate(bands):
        g.earlier_dense(lo, hi, P.t, M[:, b * PER_BUCKET:(b + 1) * PER_BUCKET], 0)  # low bit 0: an LSH hit
    col = len(bands) * PER_BUCKET
    for g, depths in flagged:  # low bit 1: a flagged candidate
        g.earlier_dense(lo, hi, P.t, M[:, col:col + len(depths)], 1, depths)
        col += len(depths)
    # (every row of a group may take part: the groups hold usable posts only)
    M.sort(axis=1)
    cum = np.cumsum((M & 1) == 0, axis=1, dtype=np.int16)  # -1 cells are odd: never counted
    par = M >> 1  # -1 stays -1
    flag = (M & 1).astype(np.int8)  # at a run's last cell: 1 when the parent is also a same-author candidate
    del M
    last = np.empty(par.shape, dtype=bool)  # the last cell of a run of one parent
    last[:, -1] = True
    np.not_equal(par[:, 1:], par[:, :-1], out=last[:, :-1])
    last &= par >= 0
    # hits of a run: cum at its last cell minus cum at the previous run's last cell
    prev = np.zeros(par.shape, dtype=np.int16)
    np.multiply(last[:, :-1], cum[:, :-1], out=prev[:, 1:])
    np.maximum.accumulate(prev, axis=1, out=prev)
    cum -= prev
    del prev
    key = ((flag.astype(dt) * 32 + cum) << shift) | par  # same author first, then by hits, then recency
    del cum, par, flag
    key[~last] = -1
    del last
    k = min(2 * MAX_CANDIDATES, width)
    key.sort(axis=1)
    key = key[:, width - k:]
    key[~targets[lo:hi]] = -1
    r_idx, col = np.nonzero(key >= 0)
    kk = key[r_idx, col].astype(np.int64)
    return r_idx.astype(np.int64) + lo, kk & ((1 << shift) - 1), kk >> shift


def _top_per_child(c: np.ndarray, p: np.ndarray, score: np.ndarray, n: int, k: int, *, return_index: bool = False):
    """The ``k`` pairs of each child with the highest integer ``score`` (< 2**16), then the latest parent.

    Sorted by child, best first. One sort of a packed uint64 (child, score, parent) when
    ``n < 2**24``, else a lexsort.
    """
    if n < (1 << 24):
        packed = ((c.astype(np.uint64) << np.uint64(40)) | ((65535 - score).astype(np.uint64) << np.uint64(24))
                  | ((1 << 24) - 1 - p).astype(np.uint64))
        order = np.argsort(packed)
    else:
        order = np.lexsort((-p, -score, c))
    cs = c[order]
    first = np.searchsorted(cs, cs, side="left")
    sel = order[(np.arange(cs.shape[0], dtype=np.int64) - first) < k]
    if return_index:
        return c[sel], p[sel], sel
    return c[sel], p[sel], score[sel]


def _pair_distances(strings: np.ndarray, c: np.ndarray, p: np.ndarray, scorer: Callable) -> np.ndarray:
    """Per pair, ``scorer(strings[c], strings[p])`` (float64) by rapidfuzz's ``cpdist`` in C, 2,000,000 pairs
    at a time (the Python string lists of every pair would be the run's peak)."""
    from rapidfuzz.process import cpdist

    d = np.empty(c.shape[0])
    step = 2_000_000
    for s0 in range(0, c.shape[0], step):
        s1 = min(c.shape[0], s0 + step)
        d[s0:s1] = cpdist(strings[c[s0:s1]].tolist(), strings[p[s0:s1]].tolist(), scorer=scorer, workers=-1)
    return d


#: Pairs whose shorter set is longer than this are intersected as sorted arrays (linear time):
#: the Indel distance takes time in the product of the lengths (two 100,000-word prompts: 0.15 s a pair;
#: the two ways cost about the same near 600 words).
LONG_SET = 1000


def _shared(sets: np.ndarray, lens: np.ndarray, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per pair, how many elements the sets of ``c`` and ``p`` share (float64): :func:`lineage.text.set_strings`
    strings, ``|A & B| = (|A| + |B| - Indel(A, B)) / 2`` (rapidfuzz, :func:`_pair_distances`); pairs of two
    long sets (:data:`LONG_SET`) are intersected as sorted arrays of their characters instead (the same
    count: a set string is sorted and has no repeat).

    >>> s = set_strings(token_codes(pl.Series([[str(i) for i in range(5000)], [str(i) for i in range(2500, 9000)]])))
    >>> _shared(s, np.array([5000, 6500]), np.array([1]), np.array([0])).tolist()
    [2500.0]
    """
    from rapidfuzz.distance import Indel

    long = np.minimum(lens[c], lens[p]) > LONG_SET
    short = np.flatnonzero(~long)
    out = np.empty(c.shape[0])
    out[short] = (lens[c[short]] + lens[p[short]] - _pair_distances(sets, c[short], p[short], Indel.distance)) / 2.0
    as_codes = lambda x: np.frombuffer(x.encode("utf-32-le", "surrogatepass"), dtype="<u4")  # noqa: E731
    for k in np.flatnonzero(long).tolist():
        out[k] = np.intersect1d(as_codes(sets[c[k]]), as_codes(sets[p[k]]), assume_unique=True).shape[0]
    return out


def _token_edits(seqs: np.ndarray, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per pair, the token edit distance (float64): Levenshtein's distance between the two prompts'
    token sequences (:func:`lineage.text.code_strings`, one character per token; rapidfuzz,
    :func:`_pair_distances`), so a replaced word counts 1 and a moved or repeated word shows, unlike
    in the Jaccard of the sets.

    >>> s = code_strings(token_codes(pl.Series([["a", "red", "fox"], ["a", "fox", "red"], ["a", "red", "fox", "red"]])))
    >>> _token_edits(s, np.array([1, 2]), np.array([0, 0])).tolist()
    [2.0, 1.0]
    """
    from rapidfuzz.distance import Levenshtein

    return _pair_distances(seqs, c, p, Levenshtein.distance)


def _jaccard_of(sets: np.ndarray, lens: np.ndarray, c: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the exact Jaccard of two sets (0 when both are empty), and their intersection size."""
    inter = _shared(sets, lens, c, p)
    union = lens[c] + lens[p] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0), inter


def _jaccard(P: _Prepared, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the distinct token sets of each pair (rapidfuzz Indel on sorted-set strings)."""
    return _jaccard_of(P.sets, P.ntok, c, p)[0]


def _style_overlap(P: _Prepared, c: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: Jaccard of the style terms, how many of the parent's style terms the child lacks,
    and whether neither has any (then the Jaccard says nothing)."""
    jac, inter = _jaccard_of(P.style_sets, P.nstyle, c, p)
    return jac, P.nstyle[p] - inter, (P.nstyle[c] + P.nstyle[p]) == 0


def _segments(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For pairs sorted by child: where each child's run starts, and each pair's run number."""
    change = np.empty(c.shape[0], dtype=bool)
    change[:1] = True
    np.not_equal(c[1:], c[:-1], out=change[1:])
    bounds = np.flatnonzero(change)
    seg = np.cumsum(change) - 1
    return bounds, seg


def _features(P: _Prepared, c: np.ndarray, p: np.ndarray, hits: np.ndarray, jac: np.ndarray,
              fingerprints: pl.DataFrame | None, weights: list[np.ndarray | None], *, keep_matrix: bool = False
              ) -> tuple[list[np.ndarray | None], dict[str, np.ndarray], np.ndarray | None]:
    """Utilities of candidate pairs (sorted by child) under each weight vector of ``weights``
    (pairs x :data:`FEATURES` features, each rounded to float32, summed in the order of
    :data:`FEATURES`), the raw values for the store, and the float32 feature matrix when
    ``keep_matrix`` (fitting). Features are made one at a time and dropped once added, so the
    matrix (the largest array of a run) exists only when asked for.
    """
    m = c.shape[0]
    us: list[np.ndarray | None] = [np.zeros(m) if w is not None else None for w in weights]
    X = np.empty((m, len(FEATURES)), dtype=np.float32) if keep_matrix else None
    k = 0

    def add(values: Any) -> None:
        nonlocal k
        col = np.broadcast_to(np.asarray(values, dtype=np.float32), (m,)).astype(np.float64)
        if X is not None:
            X[:, k] = col
        for u, w in zip(us, weights):
            if u is not None and w is not None and w[k] != 0.0:
                u += col * w[k]
        k += 1

    bounds, seg = _segments(c)
    add(1.0)  # bias
    add(jac)
    best = np.maximum.reduceat(jac, bounds) if m else np.zeros(0)
    gap = jac - best[seg] if m else np.zeros(0)
    del best
    add(gap)
    is_best = gap > -1e-9
    del gap
    add(is_best)
    ties = (np.bincount(seg, weights=is_best)[seg] if m else np.zeros(0)).astype(np.int32)
    del is_best
    add(np.log1p(np.maximum(ties - 1, 0)))
    add(hits / BANDS)
    delay_h = (P.t[c] - P.t[p]) / 3.6e9
    add(np.log1p(np.maximum(delay_h, 0.0)))
    # recency rank among the child's candidates (0 = most recent); candidates posted at one instant share
    # their rank (the number of the child's candidates strictly later): nothing but the id tells them apart
    order = np.lexsort((-P.t[p], c))
    ts, cs = P.t[p[order]], c[order]
    new = np.r_[True, (cs[1:] != cs[:-1]) | (ts[1:] != ts[:-1])] if m else np.zeros(0, dtype=bool)
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.maximum.accumulate(np.where(new, np.arange(m), 0)) - bounds[seg[order]] if m else 0
    del order, ts, cs, new
    add(np.log1p(rank))
    del rank
    same_author = (P.author[c] >= 0) & (P.author[c] == P.author[p])
    add(np.where(same_author, _author_evidence(P.author_share[c]), 0.0))
    add(np.log1p(P.views[p]) / 10.0)
    rem = _count_for(P, c, p)
    has_count = ~np.isnan(rem)
    add(has_count)
    add(np.where(has_count, np.log1p(np.nan_to_num(rem)), 0.0))
    add(has_count & (np.nan_to_num(rem) == 0))
    del rem, has_count
    _, _, vis = visual_pairs(fingerprints, P.ids, child=c, parent=p)
    add(np.nan_to_num(vis))
    add(~np.isnan(vis))
    la = P.ntok[c]
    add(np.log1p(la))
    add(la <= 2)
    del la
    add(np.log1p(P.same_before[c]))
    add(np.log1p(P.novel[c]))
    ld = np.log1p(np.maximum(delay_h, 0.0))
    add(ld * ld / 10.0)
    # the delay as a share of the child's longest candidate delay (1: its oldest candidate)
    add(ld / np.maximum(np.maximum.reduceat(ld, bounds)[seg], 1e-9) if m else np.zeros(0))
    del ld
    # engagement falls down a chain: a parent is a step above its child, a sibling level with it
    step = np.log1p(P.views[p]) - np.log1p(P.views[c])
    add(step / 3.0)
    add(step * step / 9.0)
    del step
    sj, lost, none = _style_overlap(P, c, p)
    add(sj)
    add(np.log1p(lost))
    add(none)
    del sj, lost, none
    add(np.log1p(_token_edits(P.seqs, c, p)))
    # a post the archive holds without its prompt (an exported file, a re-post with no text): its own
    # baseline, so that a missing prompt reads neither as a short one nor as a meme's
    cnone, pnone = P.ntok[c] == 0, P.ntok[p] == 0
    add(cnone)
    add(pnone)
    wordless = cnone | pnone
    del cnone, pnone
    # and the picture weighs as the only evidence there, not as one beside the words
    add(np.nan_to_num(vis) * wordless)
    # where many earlier posts have no words, a worded child's true parent is often one of them, out of
    # the text's reach: its best worded candidate is then more often a grandparent
    # (between worded posts only: a child or a candidate without words has its own terms)
    add(np.where(wordless, 0.0, P.missing_before[c]))
    del wordless
    assert k == len(FEATURES)
    ncand = (np.bincount(seg)[seg] if m else np.zeros(0)).astype(np.int32)
    raw = {"jaccard": jac, "delay_hours": delay_h, "same_author": same_author, "visual": vis,
           "candidates": ncand, "ties": ties}
    return us, raw, X


def _softmax_choice(u: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair (utilities ``u``): probability under the per-child softmax with a "no parent" option of utility 0."""
    bounds, seg = _segments(c)
    mx = np.maximum(np.maximum.reduceat(u, bounds), 0.0) if u.size else np.zeros(0)
    e = np.exp(u - mx[seg])
    z = np.bincount(seg, weights=e) + np.exp(-mx)
    return e / z[seg], seg, bounds


#: The recalibration's terms: Platt's (the raw probability's logit, a constant) and eight covariates
#: on which the softmax's over- or under-confidence depends across settings: whether the parent
#: publishes a remix count (the capacitated choice), the prompt Jaccard, the delay, whether both
#: posts have a picture to compare, the share of earlier posts held without their prompt, whether
#: the child, or else the parent, has no words at all, and the logit again where a count is published
#: (the assignment of version 9 makes such links surer than their softmax says, more so the surer it is).
CALIBRATION_TERMS = ["logit", "bias", "has_count", "jaccard", "log_delay_h", "has_pictures", "missing_prompts",
                     "child_no_words", "parent_no_words", "logit_x_has_count"]


def calibration_design(prob: np.ndarray, has_count: np.ndarray, jaccard: np.ndarray, delay_h: np.ndarray,
                       visual: np.ndarray | None = None, missing: np.ndarray | None = None,
                       child_no_words: np.ndarray | None = None, parent_no_words: np.ndarray | None = None
                       ) -> np.ndarray:
    """The recalibration's design matrix (one row per link, one column per :data:`CALIBRATION_TERMS`).

    ``visual`` is the link's picture similarity (NaN, or None for every link: no picture on one side);
    the term is 1 where both posts have a picture: the softmax's sureness depends on whether pictures
    were there to compare, and how many posts have one varies from archive to archive.

    ``missing`` is the share of the child's earlier posts held without their prompt (None: 0; infer
    gives it for links between worded posts only); ``child_no_words`` and ``parent_no_words`` mark a
    link whose child, or (the child worded) whose parent, has no words: the picture alone made it.

    >>> calibration_design(np.array([0.5]), np.array([True]), np.array([0.8]), np.array([0.0])).tolist()
    [[0.0, 1.0, 1.0, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """
    q = np.clip(prob, 1e-9, 1 - 1e-9)
    vis = np.zeros(q.shape[0]) if visual is None else (~np.isnan(np.asarray(visual, dtype=np.float64))
                                                       ).astype(np.float64)
    miss = np.zeros(q.shape[0]) if missing is None else np.asarray(missing, dtype=np.float64)
    cnone, pnone = (np.zeros(q.shape[0]) if x is None else np.asarray(x, dtype=np.float64)
                    for x in (child_no_words, parent_no_words))
    logit = np.log(q / (1 - q))
    counted = has_count.astype(np.float64)
    return np.column_stack([logit, np.ones(q.shape[0]), counted,
                            np.nan_to_num(np.asarray(jaccard, dtype=np.float64)),
                            np.log1p(np.maximum(delay_h, 0.0)), vis, miss, cnone, pnone * (1.0 - cnone),
                            logit * counted])


def _row_dot(D: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``D @ w``, summed term by term from the first column: each row's value depends on that row alone.
    A BLAS product rounds a row by its place in the matrix, and a rerun, which computes fewer rows than a
    full run, read a confidence one unit in the last place off the full run's.

    >>> D = np.array([[0.1, 0.2, 0.3]] * 5)
    >>> bool((_row_dot(D, np.array([1.0, 2.0, 3.0])) == _row_dot(D[:1], np.array([1.0, 2.0, 3.0]))[0]).all())
    True
    """
    z = np.zeros(D.shape[0])
    for j in range(D.shape[1]):
        z += D[:, j] * w[j]
    return z


def _calibrate(D: np.ndarray, ab: tuple[float, ...]) -> np.ndarray:
    """Calibrated confidence from a :func:`calibration_design` matrix; ``ab`` may hold only Platt's ``(a, b)``."""
    w = np.zeros(len(CALIBRATION_TERMS))
    w[:len(ab)] = ab
    return 1.0 / (1.0 + np.exp(-_row_dot(D, w)))


#: The tree check's terms (:func:`tree_check_design`): a constant, the child's descendant count
#: (log), the prompt Jaccard, their product, the delay (log hours) and the parent's depth (log).
TREE_CHECK_TERMS = ["bias", "log_descendants", "jaccard", "jaccard_x_log_descendants", "log_delay_h",
                    "log_parent_depth"]
#: Parents deeper than this count as this deep in the tree check: the fit saw inferred parents down to
#: depth 23, and beyond its range the depth term extrapolates (an identical leaf posted a day under a
#: declared chain 5,000 deep, as Scratch keeps them, was cut).
TREE_CHECK_MAX_DEPTH = 32


def _forest(parent: np.ndarray, max_rounds: int = 64, soft: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Depth and descendant count of every node of a forest given as ``parent`` indices (-1: a root).

    Loops first (only a declared parent created after its child can close one): the nodes still
    climbing after ``max_rounds`` rounds of pointer jumping are on or below a loop; the links of
    the nodes *on* a loop are cut where they stand, those marked ``soft`` (bool per node: its link
    is inferred) first, as the readers drop the guess and keep the declared link; the nodes below
    keep their parents and count. Then :func:`lineage.paths.depths` and
    :func:`lineage.paths.subtree_sums` on the forest left.

    >>> d, n = _forest(np.array([-1, 0, 1, 0, -1]))
    >>> d.tolist(), n.tolist()
    ([0, 1, 2, 1, 0], [3, 1, 0, 0, 0])
    >>> d, n = _forest(np.array([1, 0, 1]), soft=np.array([False, True, False]))  # 0 <-> 1, 2 below
    >>> d.tolist(), n.tolist()
    ([1, 0, 1], [0, 2, 0])
    """
    nxt = parent.copy()
    for _ in range(max_rounds):
        live = np.flatnonzero(nxt >= 0)
        if live.size == 0:
            break
        nxt[live] = nxt[nxt[live]]  # the right side is read whole first: the round's jumps are synchronous
    else:
        live = np.flatnonzero(nxt >= 0)
        if live.size:
            # after 2^max_rounds jumps every such node points onto its loop, and the jump is a
            # rotation of each loop: the nodes pointed at are exactly the nodes on a loop
            on = np.zeros(parent.shape[0], dtype=bool)
            on[nxt[live]] = True
            if soft is not None and (on & soft).any():
                on &= soft
            cut = parent.copy()
            cut[on] = -1
            return _forest(cut, max_rounds, soft)
    depth = node_depths(parent)
    return depth, subtree_sums(parent, np.ones(parent.shape[0], dtype=np.int64), depth) - 1


def tree_check_design(descendants: np.ndarray, jaccard: np.ndarray, delay_h: np.ndarray,
                      parent_depth: np.ndarray) -> np.ndarray:
    """The tree check's design matrix (one row per link, one column per :data:`TREE_CHECK_TERMS`).

    >>> tree_check_design(np.array([0]), np.array([0.5]), np.array([0.0]), np.array([0])).tolist()
    [[1.0, 0.0, 0.5, 0.0, 0.0, 0.0]]
    """
    ld = np.log1p(np.asarray(descendants, dtype=np.float64))
    jac = np.asarray(jaccard, dtype=np.float64)
    return np.column_stack([np.ones(ld.shape[0]), ld, jac, jac * ld,
                            np.log1p(np.maximum(np.asarray(delay_h, dtype=np.float64), 0.0)),
                            np.log1p(np.asarray(parent_depth, dtype=np.float64))])


def _link_design(links: pl.DataFrame, lineage: pl.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The :func:`tree_check_design` rows of ``links`` in the forest they make with ``lineage``'s
    declared parents, and each child's descendant count."""
    parts = [links.select(id="child", parent="parent", soft=pl.lit(True))]
    if lineage is not None and lineage.height:
        parts.append(lineage.select("id", "parent", soft=pl.lit(False)).filter(pl.col("parent").is_not_null())
                     .join(links.select(id="child"), on="id", how="anti"))  # a child has one parent here
    edges = pl.concat(parts).unique("id", keep="first")
    nodes = pl.DataFrame({"id": pl.concat([edges.get_column("id"), edges.get_column("parent")]).unique().sort()})
    forest = nodes.join(edges, on="id", how="left", maintain_order="left")
    parent = parent_index(forest)
    # an inferred link: on a loop with declared ones, it goes
    depth, desc = _forest(parent, soft=forest.get_column("soft").fill_null(False).to_numpy())
    ci = (links.select(id="child").with_row_index("k").join(nodes.with_row_index("i"), on="id").sort("k")
          .get_column("i").to_numpy().astype(np.int64))
    pj = parent[ci]  # a link's parent is its child's parent in the forest
    f = links.get_column("features").struct
    X = tree_check_design(desc[ci], f.field("jaccard").fill_null(0.0).to_numpy(),
                          f.field("delay_hours").fill_null(0.0).to_numpy(),
                          np.minimum(depth[pj], TREE_CHECK_MAX_DEPTH))
    return X, desc[ci]


def tree_check(links: pl.DataFrame, weights: Weights | None = None, *, lineage: pl.DataFrame | None = None
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split inferred ``links`` into those kept and those the tree check cuts (step 5 of the module).

    ``links`` has ``child, parent`` (String) and ``features`` (:data:`FEATURE_STRUCT`: the
    ``jaccard`` and ``delay_hours`` are read), one row per child; ``lineage`` (``id, parent``,
    optional) the declared parent of other posts. Descendants and depths are counted in the
    forest of both. A link whose logit under :attr:`Weights.tree_check` is below 0 is cut.
    Returns ``(kept, cut)``: ``kept`` the rows of ``links`` kept, in their order; ``cut`` the
    others with ``descendants`` (Int64: the child's descendant count) and ``tree_check``
    (Float64: the logit). Without fitted terms nothing is cut.

    >>> links = pl.DataFrame({"child": ["b", "c"], "parent": ["a", "a"],
    ...     "features": [{"jaccard": 0.2, "delay_hours": 900.0}, {"jaccard": 0.9, "delay_hours": 1.0}]})
    >>> w = Weights(coef={}, tree_check={"bias": 1.0, "log_descendants": -2.0, "jaccard": 1.0})
    >>> lin = pl.DataFrame({"id": ["d", "e"], "parent": ["b", "b"]})
    >>> kept, cut = tree_check(links, w, lineage=lin)
    >>> kept["child"].to_list(), cut.select("child", "descendants").rows()
    (['c'], [('b', 2)])
    """
    w = weights or load_weights()
    empty = links.head(0).with_columns(descendants=pl.lit(0, dtype=pl.Int64), tree_check=pl.lit(0.0))
    if not w.tree_check or links.height == 0:
        return links, empty
    X, desc = _link_design(links, lineage)
    z = _row_dot(X, np.array([w.tree_check.get(t, 0.0) for t in TREE_CHECK_TERMS], dtype=np.float64))
    cut = z < 0.0
    if not cut.any():
        return links, empty
    out = links.with_columns(descendants=pl.Series(desc, dtype=pl.Int64), tree_check=pl.Series(z))
    return (links.filter(pl.Series(~cut)), out.filter(pl.Series(cut)))


@dataclass
class InferResult:
    """What :func:`infer_frame` found.

    ``edges``: ``child, parent, confidence, features`` (one row per post given a parent);
    ``reasons``: ``id, reason`` of posts that could take no part; ``considered``: posts looked at;
    ``cut``: the links the tree check cut (:func:`tree_check`; their children start trees);
    ``calibration``: each chosen link's recalibration row (what the fit calibrates on).
    """

    edges: pl.DataFrame
    reasons: pl.DataFrame
    considered: int
    pairs: dict[str, np.ndarray] | None = None
    cut: pl.DataFrame | None = None
    #: ``child`` and ``design`` (its link's :func:`calibration_design` row, the raw probability's logit first)
    calibration: pl.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        """``considered, parents_found, share_at_0_9, no_part`` (counts by reason), ``cut_by_tree_check``."""
        n = self.edges.height
        hi = int((self.edges.get_column("confidence") >= 0.9).sum()) if n else 0
        return {"considered": self.considered, "parents_found": n, "share_at_0_9": (hi / n) if n else None,
                "no_part": dict(sorted(self.reasons.group_by("reason").len().rows()))
                if self.reasons.height else {},
                "cut_by_tree_check": self.cut.height if self.cut is not None else 0}


#: The capacitated assignment's batches (:func:`_capacitated`): the children posted in one such span of time,
#: counted from the Unix epoch, are assigned together, after every earlier batch.
ASSIGN_BATCH_DAYS = 7


def assign_batch(t_us: np.ndarray) -> np.ndarray:
    """The batch of each time (epoch µs, int64): whole :data:`ASSIGN_BATCH_DAYS` spans since the Unix epoch."""
    return np.floor_divide(t_us, ASSIGN_BATCH_DAYS * 86_400_000_000)


def batch_start(t: datetime) -> datetime:
    """When the assignment batch holding ``t`` (aware) starts (:func:`assign_batch`).

    >>> batch_start(datetime(2026, 5, 21, 2, 26, tzinfo=timezone.utc)).isoformat()
    '2026-05-21T00:00:00+00:00'
    >>> batch_start(datetime(2026, 5, 27, 23, 59, tzinfo=timezone.utc)).isoformat()
    '2026-05-21T00:00:00+00:00'
    """
    first = int(assign_batch(pl.Series([t], dtype=UTC).dt.epoch("us").to_numpy())[0])
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(days=first * ASSIGN_BATCH_DAYS)


#: A component of the capacitated assignment whose slot-expanded matching would hold more edges than this
#: (a meme's first post with thousands of published remixes wanted by thousands of copies) is assigned in
#: time order instead, each child taking its best parent with room left (the method before version 9).
ASSIGN_MAX_EDGES = 4_000_000
_TIE_EPS = 1e-9  # the tie rule inside the matching: a utility nudged by the tie key, far below any real gap


def _best_per_child(val: np.ndarray, tie: np.ndarray, bounds: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Per child, the pair index of the highest ``val`` (ties: the higher ``tie``); -1 where all are -inf."""
    if val.size == 0:
        return np.zeros(0, dtype=np.int64)
    top = np.maximum.reduceat(val, bounds)
    at_top = (val == top[seg]) & np.isfinite(val)
    key = np.where(at_top, tie, -1)
    best_tie = np.maximum.reduceat(key, bounds)
    hit = at_top & (key == best_tie[seg])
    first = np.full(bounds.shape[0], -1, dtype=np.int64)
    k = np.flatnonzero(hit)[::-1]  # the last write wins: the first such pair of each child
    first[seg[k]] = k
    return first


def _capacitated(u: np.ndarray, c: np.ndarray, p: np.ndarray, bounds: np.ndarray, capacity: np.ndarray,
                 attach: np.ndarray | None = None, *, tie: np.ndarray | None = None,
                 batch: np.ndarray | None = None, remixed: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The assignment of children to parents that publish a remix count, each taking at most that many.

    A platform that publishes a remix count (``remixes``) says how many children a post has
    (``capacity`` per post: the count less the children it is known to have, NaN where
    unknown). The children of one batch (``batch`` per child, in time order: a week,
    :func:`assign_batch`; default one batch) are assigned at once, after every earlier batch
    took its remixes: the assignment maximises the summed utility of the batch's links (each
    child's "no parent" option has utility 0) under the remixes left, a maximum-weight
    b-matching, the capacitated optimum DESIGN.md "Assign" calls for (with unbounded parents
    it is each child's best candidate). Serving children one at a time in time order, each
    taking its best parent with room left (version 8), let an early child take the last remix
    of a parent a later child needed more, and left the later one to a re-post of the same
    words: on the first seeds of the unseen settings that publish counts
    (:func:`lineage.infer_fit.evaluation_archives`, 901 and 903, ``lineage.infer_eval.
    evaluate_frame``, weights unchanged) exact parent was 0.703 and 0.578 in time order, 0.771
    and 0.635 with the whole archive one batch, 0.767 and 0.635 a week at a time (0.744 and
    0.622 a day at a time). A week keeps nearly all of it, and keeps an incremental rerun
    cheap and exact: a child's link depends on its own batch and the earlier ones only, so a
    rerun recomputes from the start of the batch of the earliest change.

    Each batch is solved exactly (:func:`_assign_batch`): a parent that can take every child
    that prefers it to the child's best unbounded option is unbounded in effect (repeated to a
    fixed point); the rest splits into connected components (children joined through the
    bounded parents they prefer); a component of one parent gives its remixes to the children
    that gain most, any other is a minimum-weight full bipartite matching of its children to
    the parents' remixes (one column per remix, plus one per child for its best unbounded
    option; ``scipy.sparse.csgraph.min_weight_full_bipartite_matching``, LAPJVsp, after Jonker
    and Volgenant 1987). A component whose matching would hold over :data:`ASSIGN_MAX_EDGES`
    edges is served in time order instead.

    ``attach`` (per pair): the second stage's logit that the candidate is in the child's tree; a
    child left without parent goes under its best candidate among those with a positive such
    logit (if any), a parent whose remixes went to other children included (of this batch, of an earlier
    one, or declared: ``remixed`` per post, default every post with remixes left, says which posts have
    any remix at all, a published count of at least 1 or none published; until version 10 only the
    first, and the same child posted an hour later, past the week's start, started a tree): such a link
    takes no published remix (it is a guess about the tree, not about the count). ``tie`` (per pair,
    default ``p``): the higher wins a tie of utilities (the stated rule: the later parent, then
    the smaller id). Returns ``(chosen pair index, its probability, margin over the
    runner-up)``: the probability is the softmax over the candidates left to the child (with a
    published count above the children known at the batch's start, or none; less the parents it
    preferred whose remixes went to other children of its batch) and "no parent"; a second-stage
    link's margin is negative (what tells an incremental rerun that it took no remix).
    """
    tie = p if tie is None else tie
    if attach is None:
        attach = np.full(c.shape[0], -np.inf)
    nb, npair = bounds.shape[0], c.shape[0]
    if npair == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    ends = np.r_[bounds[1:], npair]
    counted = np.isfinite(capacity)
    cap = np.where(counted, np.maximum(np.round(np.where(counted, capacity, 0.0)), 0.0), np.inf)
    remixed = cap > 0.5 if remixed is None else remixed
    batch = np.zeros(nb, dtype=np.int64) if batch is None else batch
    first = np.flatnonzero(np.r_[True, batch[1:] != batch[:-1]])
    out_k, out_p, out_m = [], [], []
    for s0, s1 in zip(first.tolist(), np.r_[first[1:], nb].tolist()):
        a, b = int(bounds[s0]), int(ends[s1 - 1])
        k, pr, mg, used = _assign_batch(u[a:b], c[a:b], p[a:b], bounds[s0:s1] - a, cap, counted,
                                        attach[a:b], tie[a:b], remixed)
        cap = cap - used
        out_k.append(k + a)
        out_p.append(pr)
        out_m.append(mg)
    return np.concatenate(out_k), np.concatenate(out_p), np.concatenate(out_m)


def _assign_batch(u: np.ndarray, c: np.ndarray, p: np.ndarray, bounds: np.ndarray, cap: np.ndarray,
                  counted: np.ndarray, attach: np.ndarray, tie: np.ndarray, remixed: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One batch of :func:`_capacitated`: ``cap`` per post (remixes left, inf where no count is published),
    ``counted`` per post, ``remixed`` per post (may take a second-stage link);
    returns ``(chosen pair index, probability, margin, remixes taken per post)``."""
    from scipy.sparse import coo_matrix, csr_matrix
    from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

    nb, npair, npost = bounds.shape[0], c.shape[0], cap.shape[0]
    ends = np.r_[bounds[1:], npair]
    seg = np.repeat(np.arange(nb), ends - bounds)
    open_ = cap > 0.5
    tie_f = tie.astype(np.float64) / (float(tie.max()) + 1.0)  # in [0, 1)
    free = open_ & ~counted

    def alternative(free: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        val = np.where(free[p] & (u > 0.0), u, -np.inf)
        alt = _best_per_child(val, tie_f, bounds, seg)
        has = alt >= 0
        va = np.where(has, u[np.maximum(alt, 0)], 0.0)
        ta = np.where(has, tie_f[np.maximum(alt, 0)], np.inf)  # "no parent" wins a tie at utility 0
        beats = (u > va[seg]) | ((u == va[seg]) & (tie_f > ta[seg]))
        return alt, va, beats

    alt, va, beats = alternative(free)
    while True:
        F = open_[p] & ~free[p] & beats
        dem = np.bincount(p[F], minlength=npost)
        newly = open_ & ~free & (dem > 0) & (cap >= dem)
        if not newly.any():
            break
        free = free | newly
        alt, va, beats = alternative(free)
    pick = alt.copy()  # per child: the chosen pair (-1: none yet)
    used = np.zeros(npost)
    if F.any():
        fk = np.flatnonzero(F)
        fc, fp_ = seg[fk], p[fk]
        graph = coo_matrix((np.ones(fk.shape[0]), (fc, nb + fp_)), shape=(nb + npost, nb + npost))
        _, label = connected_components(graph, directed=False)
        comp = label[fc]
        order = np.lexsort((fp_, fc, comp))
        fk, fc, fp_, comp = fk[order], fc[order], fp_[order], comp[order]
        starts = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
        stops = np.r_[starts[1:], fk.shape[0]]
        gain = u - va[seg] + _TIE_EPS * (tie_f - np.where(alt >= 0, tie_f[np.maximum(alt, 0)], 1.0)[seg])
        for a, b in zip(starts.tolist(), stops.tolist()):
            ks, cs, ps = fk[a:b], fc[a:b], fp_[a:b]
            if (ps == ps[0]).all():  # one parent: its remixes go to the children that gain most
                take = ks[np.lexsort((cs, -gain[ks]))][: int(cap[ps[0]])]
                take = take[gain[take] > 0.0]
                pick[seg[take]] = take
                used[ps[0]] += take.shape[0]
                continue
            rows, r_of = np.unique(cs, return_inverse=True)
            cols, c_of = np.unique(ps, return_inverse=True)
            slots = cap[cols].astype(np.int64)
            edges = int(slots[c_of].sum())
            if edges > ASSIGN_MAX_EDGES:  # children in time order, each its best parent with room left
                done: set[int] = set()
                for k in ks[np.lexsort((-gain[ks], cs))].tolist():
                    s, q = int(seg[k]), int(p[k])
                    if s not in done and used[q] < cap[q] and gain[k] > 0.0:
                        pick[s] = k
                        used[q] += 1
                        done.add(s)
                continue
            first_slot = np.r_[0, np.cumsum(slots)[:-1]]
            rep = slots[c_of]
            er = np.repeat(r_of, rep)
            ec = np.repeat(first_slot[c_of], rep) + (np.arange(edges) - np.repeat(np.cumsum(rep) - rep, rep))
            top = float(gain[ks].max()) + 1.0
            ew = top - np.repeat(gain[ks], rep)  # positive weights: the matching minimises
            nslot = int(slots.sum())
            er = np.r_[er, np.arange(rows.shape[0])]
            ec = np.r_[ec, nslot + np.arange(rows.shape[0])]
            ew = np.r_[ew, np.full(rows.shape[0], top)]  # the child's best unbounded option: gain 0
            m = csr_matrix((ew, (er, ec)), shape=(rows.shape[0], nslot + rows.shape[0]))
            ri, ci = min_weight_full_bipartite_matching(m)
            slot_parent = np.repeat(np.arange(cols.shape[0]), slots)
            hit = ci < nslot
            q_of = slot_parent[ci[hit]]
            pair_key = r_of.astype(np.int64) * cols.shape[0] + c_of
            srt = np.argsort(pair_key, kind="stable")
            k = ks[srt[np.searchsorted(pair_key[srt], ri[hit].astype(np.int64) * cols.shape[0] + q_of)]]
            pick[rows[ri[hit]]] = k
            np.add.at(used, cols[q_of], 1.0)
    # a child's best unbounded option that publishes a count takes one of its remixes too
    at_alt = (pick == alt) & (alt >= 0)
    np.add.at(used, p[pick[at_alt]][counted[p[pick[at_alt]]]], 1.0)
    # a parent this child preferred whose remixes the assignment gave to others is no option left to it
    gone = F & (used[p] > cap[p] - 0.5)
    none = pick < 0
    if none.any():  # the second stage: the child's best candidate left, more likely than not in its tree
        # (a parent whose remixes went to others included: the child is in its tree all the same)
        val = np.where(remixed[p] & (attach > 0.0) & none[seg], u, -np.inf)
        pick = np.where(none, _best_per_child(val, tie_f, bounds, seg), pick)
    chosen = pick[pick >= 0]
    if chosen.size == 0:
        return chosen, np.zeros(0), np.zeros(0), used
    is_chosen = np.zeros(npair, dtype=bool)
    is_chosen[chosen] = True
    um = np.where((open_[p] & ~gone) | is_chosen, u, -np.inf)
    mx = np.maximum(np.maximum.reduceat(um, bounds), 0.0)
    total = np.bincount(seg, weights=np.exp(um - mx[seg]), minlength=nb) + np.exp(-mx)
    others = np.maximum(np.maximum.reduceat(np.where(is_chosen | gone, -np.inf, um), bounds), 0.0)
    s = seg[chosen]
    prob = np.exp(u[chosen] - mx[s]) / total[s]
    margin = (np.exp(u[chosen] - mx[s]) - np.exp(others[s] - mx[s])) / total[s]
    # a second-stage link's margin is negative whatever the gap (the assignment left its child without
    # parent): how it reads (:func:`why`) and what tells an incremental run it took no remix
    second_stage = none[s]
    margin = np.where(second_stage, -np.maximum(np.abs(margin), 1e-12), margin)
    return chosen, prob, margin, used


#: The least confidence a second-stage link keeps where its parent's published count is claimed in full.
CLAIMED_FLOOR = 0.01


def _claimed_cap(P: _Prepared, final: np.ndarray, conf: np.ndarray, child: np.ndarray, parent: np.ndarray,
                 second: np.ndarray, claims: pl.DataFrame | None) -> np.ndarray:
    """``conf`` (``final``: each post's published count, :func:`_final_counts`) with each second-stage link (``second``) under a parent that publishes a count made at most as
    sure as the remixes the count leaves unclaimed: the count less the parent's declared children and the
    confidences of its inferred links, those of earlier batches (:func:`assign_batch`) and the first-stage
    ones of the link's own, shared among the batch's second-stage links to it (at least
    :data:`CLAIMED_FLOOR`, a confidence is never 0). The assignment gave the parent's remixes to other
    children; the link is a guess about the tree (:func:`_capacitated`), and its softmax, read without them,
    said 0.88 beside the 0.88 of the child holding a count of 1. A stated rule, as the picture-only cap.

    Claims are summed link by link in one order (batch, first stage before second, child), from 0, and the
    count less its declared children is taken from them last, in a full run and in a rerun alike
    (:func:`kept_claims`), so both give the same confidence to the last bit.
    """
    n = final.shape[0]
    declared = np.zeros(n)
    claimed = np.zeros(n)
    if claims is not None and claims.height:
        got = pl.DataFrame({"id": P.ids}).join(claims, on="id", how="left")
        declared = got.get_column("declared").fill_null(0).to_numpy().astype(np.float64)
        claimed = got.get_column("claimed").fill_null(0.0).to_numpy().astype(np.float64)
    room0 = np.where(np.isnan(final), np.inf, final - declared)
    out = conf.copy()
    batch = assign_batch(P.t[child])
    order = np.lexsort((child, second, batch))  # links are in child order already; this states the rule
    b_sorted = batch[order]
    starts = np.flatnonzero(np.r_[True, b_sorted[1:] != b_sorted[:-1]])
    for s0, s1 in zip(starts.tolist(), np.r_[starts[1:], order.shape[0]].tolist()):
        idx = order[s0:s1]
        first, sec = idx[~second[idx]], idx[second[idx]]
        np.add.at(claimed, parent[first], out[first])
        if sec.size:
            q = parent[sec]
            share = (room0[q] - claimed[q]) / np.bincount(q, minlength=n)[q]
            out[sec] = np.minimum(out[sec], np.maximum(share, CLAIMED_FLOOR))
            np.add.at(claimed, q, out[sec])
    return out


def kept_claims(kept: pl.DataFrame, posts: pl.DataFrame, declared: pl.DataFrame) -> pl.DataFrame:
    """The ``claims`` of :func:`infer_frame` for a rerun: per parent, its ``declared`` children (``declared``
    has one row per declared link, column ``parent``) and ``claimed``, the confidences of the ``kept`` links
    (``child, parent, confidence, features``) summed in :func:`_claimed_cap`'s order.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> posts = pl.DataFrame({"id": ["a", "b", "c"], "created_at": [t, t, t]})
    >>> kept = pl.DataFrame({"child": ["b", "c"], "parent": ["a", "a"], "confidence": [0.5, 0.25],
    ...                      "features": [{"margin": 0.1}, {"margin": -0.1}]})
    >>> kept_claims(kept, posts, pl.DataFrame({"parent": ["a"]})).sort("id").rows()
    [('a', 1, 0.75)]
    """
    k = (kept.select("child", "parent", "confidence", second=pl.col("features").struct.field("margin")
                     .fill_null(0.0) < 0.0)
         .join(posts.select(child="id", t=_epoch_us(posts, "created_at")), on="child", how="left"))
    if k.height:
        k = (k.with_columns(batch=pl.Series(assign_batch(k.get_column("t").fill_null(0).to_numpy())))
             .sort(["batch", "second", "t", "child"]))
    ids = pl.concat([k.get_column("parent"), declared.get_column("parent")]).unique().sort()
    at = {x: j for j, x in enumerate(ids.to_list())}
    claimed = np.zeros(ids.len())
    np.add.at(claimed, np.array([at[x] for x in k.get_column("parent").to_list()], dtype=np.int64),
              k.get_column("confidence").to_numpy())
    dec = declared.group_by("parent").agg(declared=pl.len().cast(pl.Int64)).rename({"parent": "id"})
    return (pl.DataFrame({"id": ids, "claimed": claimed}).join(dec, on="id", how="left")
            .with_columns(pl.col("declared").fill_null(0)).select("id", "declared", "claimed"))


def _with_text(posts: pl.DataFrame) -> pl.DataFrame:
    if "text" in posts.columns:
        return posts
    return posts.with_columns(text=pl.coalesce(pl.col("prompt") if "prompt" in posts.columns else None,
                                               pl.col("title") if "title" in posts.columns else None,
                                               pl.lit("")))


def plain_candidates(posts: pl.DataFrame, fingerprints: pl.DataFrame | None = None) -> dict[str, Any]:
    """The candidate pairs of :func:`infer_frame` with every published remix count hidden, for the
    plain baseline of :func:`lineage.infer_eval.evaluate_frame` (the most similar earlier prompt
    must not know which posts have remixes): ``c, p`` (int64 post indices, in the order of
    ``InferResult.pairs["ids"]``), ``jac`` (token Jaccard) and ``t`` (every post's time, epoch µs)."""
    posts = _with_text(posts)
    if "remixes" in posts.columns:
        posts = posts.with_columns(pl.lit(None, dtype=pl.Float64).alias("remixes"))
    fingerprints = _valid_fingerprints(fingerprints)
    P = _prepare(posts, fingerprints)
    c, p, hits, jac = _candidates(P, P.usable.copy(), fingerprints)
    c, p, _, jac = _similar_only(P, c, p, hits, jac, fingerprints)
    return {"c": c, "p": p, "jac": jac, "t": P.t, "ids": P.ids}


#: The stages :func:`infer` reports through its ``progress`` callback, in order (a progress bar's steps).
INFER_STAGES = ("reading posts", "reading the prompts' words", "finding candidates", "scoring candidates",
                "assigning parents", "calibrating the confidence", "checking every link against the trees it makes",
                "writing inferred_cut and inferred_edges")


def infer_frame(posts: pl.DataFrame, *, targets: pl.Series | None = None, weights: Weights | None = None,
                fingerprints: pl.DataFrame | None = None, keep_pairs: bool = False,
                taken: pl.DataFrame | None = None, check: bool = True,
                claims: pl.DataFrame | None = None, progress: Callable[[str], None] | None = None) -> InferResult:
    """Infer the parent of each target post among every earlier post of ``posts``.

    ``posts`` has ``id, created_at, text`` and optionally ``author, views, remixes,
    fetched_at`` (a ``fetched_at`` earlier than ``created_at`` marks a date from the
    future: such a post neither gets nor gives a parent). ``targets`` (ids) are the
    posts that may get a parent (default: all). Where a post's published ``remixes`` count is
    known, it is a capacity: ``taken`` (``id, taken``) counts the children it already has
    (declared links, earlier inferred ones) and each later child takes a parent with room
    left (:func:`_capacitated`); a count below ``taken`` is no count (unknown). ``claims`` (``id, declared,
    claimed``: Int64 and Float64) gives, for a run that recomputes only later posts, each parent's declared
    children and the confidences of the inferred links it keeps from earlier batches (:func:`kept_claims`),
    which bound a second-stage link's confidence (:func:`_claimed_cap`). Returns an :class:`InferResult`;
    ``edges`` has ``child, parent`` (String), ``confidence`` (Float64 in (0, 1]) and
    ``features`` (:data:`FEATURE_STRUCT`), sorted by child. With ``check`` (default) the
    tree check (:func:`tree_check`) runs over the links found and moves those it cuts to
    ``cut``; :func:`infer` runs it itself, over the links of every run. ``progress`` is called with the
    name of each stage as it begins (:data:`INFER_STAGES`).

    >>> from datetime import datetime, timezone
    >>> t = lambda h: datetime(2026, 1, 1, h, tzinfo=timezone.utc)
    >>> posts = pl.DataFrame({"id": ["a", "b", "c"], "created_at": [t(1), t(1), t(2)], "text": ["x y z"] * 2 + [""]})
    >>> r = infer_frame(posts)
    >>> r.edges.height, r.reasons.rows()
    (0, [('c', 'no prompt or media fingerprint')])
    """
    w = weights or load_weights()
    say = progress or (lambda stage: None)
    say("reading the prompts' words")
    posts = _with_text(posts)
    fingerprints = _valid_fingerprints(fingerprints)
    P = _prepare(posts, fingerprints)
    n = P.ids.len()
    used = np.zeros(n)
    if taken is not None and taken.height:
        used = (pl.DataFrame({"id": P.ids}).join(taken, on="id", how="left").get_column("taken")
                .cast(pl.Float64).fill_null(0.0).to_numpy())
        # a count below the children the post is known to have is no count (Scratch's listings publish 0 for
        # remixed projects): read as "no remixes", it closed the post to every other child and left it out of
        # the windows
        wrong = _final_counts(P) < used
        if wrong.any():
            P.remixes = np.where(wrong, np.nan, P.remixes)
    tmask = np.ones(n, dtype=bool) if targets is None else P.ids.is_in(targets.implode()).to_numpy()
    tmask &= P.usable
    say("finding candidates")
    c, p, hits, jac = _candidates(P, tmask, fingerprints)
    say("scoring candidates")
    P.sig = P.sig[:0]  # the signatures served the candidates only (the largest per-post array)
    c, p, hits, jac = _similar_only(P, c, p, hits, jac, fingerprints)
    a = w.attach_vector()
    (u, ua), raw, X = _features(P, c, p, hits, jac, fingerprints, [w.vector(), a], keep_matrix=keep_pairs)
    del hits, jac
    attach = ua if ua is not None else np.full(c.shape[0], -np.inf)
    del ua
    prob, seg, bounds = _softmax_choice(u, c)
    say("assigning parents")
    final = _final_counts(P)
    capacity = final - used
    # the stated tie rule as one key per post (higher wins): the later parent, then the smaller id (posts are
    # indexed by (created_at, id), so among posts of one instant the smaller id has the smaller index)
    tie = np.empty(P.t.shape[0], dtype=np.int64)
    tie[np.lexsort((-np.arange(P.t.shape[0]), P.t))] = np.arange(P.t.shape[0])
    counted_run = bool(c.size and np.isfinite(capacity[p]).any())
    if counted_run:
        chosen, chosen_p, second = _capacitated(u, c, p, bounds, capacity, attach, tie=tie[p],
                                                batch=assign_batch(P.t[c[bounds]]), remixed=~(final < 0.5))
    else:
        # choose per child: the best candidate if it beats "no parent"; ties: later parent, then smaller id
        first = _best_per_child(prob, tie[p], bounds, seg)
        null_p = 1.0 - np.bincount(seg, weights=prob, minlength=bounds.shape[0])
        beats = prob[first] > null_p
        # else the candidate most likely in the child's own tree (second stage), if more likely than not
        alt = _best_per_child(np.where(attach > 0.0, prob, -np.inf), tie[p], bounds, seg)
        pick = np.where(beats, first, alt)
        chosen = pick[pick >= 0]
        chosen_p = prob[chosen]
        second = np.zeros(chosen.shape[0])
        if chosen.size:
            # margin: chosen minus the runner-up (another candidate or "no parent")
            pr = prob.copy()
            pr[chosen] = -1.0
            run = np.maximum(np.maximum.reduceat(pr, bounds)[seg[chosen]], null_p[seg[chosen]])
            second = prob[chosen] - run
    say("calibrating the confidence")
    cnone, pnone = P.ntok[c[chosen]] == 0, P.ntok[p[chosen]] == 0
    design = calibration_design(chosen_p, ~np.isnan(_count_for(P, c[chosen], p[chosen])), raw["jaccard"][chosen],
                                raw["delay_hours"][chosen], raw["visual"][chosen],
                                np.where(cnone | pnone, 0.0, P.missing_before[c[chosen]]), cnone, pnone)
    conf = _calibrate(design, w.calibration)
    conf = np.minimum(conf, _picture_only_cap(P, c, p, bounds, seg, raw["jaccard"], raw["visual"], chosen))
    if chosen.size:
        # candidates the model cannot tell apart (every feature equal: the same words posted at one instant)
        # share the link: the chosen one, by the tie rule alone, is at most 1/k sure
        best_u = np.full(bounds.shape[0], np.nan)
        best_u[seg[chosen]] = u[chosen]
        same = np.bincount(seg, weights=(u == best_u[seg]), minlength=bounds.shape[0])[seg[chosen]]
        conf = np.minimum(conf, 1.0 / np.maximum(same, 1.0))
    if counted_run and chosen.size:
        conf = _claimed_cap(P, final, conf, c[chosen], p[chosen], second < 0, claims)
    ids = P.ids
    feats = pl.DataFrame({
        # no prompt overlap where one of the two has no words: "prompt 0% the same" would say the words differ
        "jaccard": np.where(cnone | pnone, np.nan, raw["jaccard"][chosen]),
        "delay_hours": raw["delay_hours"][chosen],
        "same_author": raw["same_author"][chosen], "visual": raw["visual"][chosen],
        "candidates": raw["candidates"][chosen].astype(np.int64), "ties": raw["ties"][chosen].astype(np.int64),
        "margin": second,
    }).with_columns(pl.col("visual", "jaccard").fill_nan(None)).to_struct("features")
    edges = pl.DataFrame({"child": ids.gather(c[chosen]), "parent": ids.gather(p[chosen]),
                          "confidence": conf}).with_columns(feats).sort("child")
    reasons = pl.DataFrame({"id": ids, "reason": pl.Series(P.reason, dtype=pl.String)}).filter(
        pl.col("reason").is_not_null() & pl.Series(np.ones(n, dtype=bool) if targets is None
                                                    else ids.is_in(targets.implode()).to_numpy()))
    pairs = None
    if keep_pairs:
        pairs = {"c": c, "p": p, "X": X, "prob": prob, "ids": ids, "jac": raw["jaccard"], "t": P.t}
    cut = None
    if check:
        say("checking every link against the trees it makes")
        edges, cut = tree_check(edges, w)
    return InferResult(edges=edges, reasons=reasons.sort("id"), considered=int(tmask.sum() + len(reasons)),
                       pairs=pairs, cut=cut, calibration=pl.DataFrame({
                           "child": ids.gather(c[chosen]), "design": design.astype(np.float64)}))


# ---------------------------------------------------------------------------------------------- the archive
#: A title that is a media file's name (what ``archivist ingest media`` gives a picture without a prompt or
#: sidecar): "IMG_1000.jpg" and "IMG_1001.jpg" share the words "img" and "jpg", which say nothing of either.
FILE_NAME_TITLE = (r"(?i)^[^/\\\n]+\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif|jxl|mp4|m4v|mov|webm|mkv|avi"
                   r"|mpe?g|3gp)$")
#: A title a platform or editor gave a project nobody named: Scratch shares such projects as "Untitled",
#: "Untitled-2", "Untitled-3"… (its offline editor: "Scratch Project"). Like a file's name it says nothing of the
#: project: an author's "Untitled-6" is no remix of their "Untitled", and two "Untitled-2" share no idea.
DEFAULT_TITLE = r"(?i)^(untitled([ _-]*\d+)?|scratch project)$"


def _archive_posts(arc: Any, source: str | None = None) -> pl.DataFrame:
    """The posts inference reads: ``text`` is the prompt, else the title unless the title is only a media
    file's name (:data:`FILE_NAME_TITLE`) or a name given by default (:data:`DEFAULT_TITLE`): such a post
    takes part by its picture alone, and without one by no evidence (no prompt or media fingerprint)."""
    posts = arc.posts().filter(~pl.col("placeholder"))
    bare = pl.col("title").fill_null("").str.strip_chars()
    unnamed = bare.str.contains(FILE_NAME_TITLE) | bare.str.contains(DEFAULT_TITLE)  # a name nobody chose
    titled = bare.ne("") & ~unnamed
    # a prompt of no words (only punctuation, spaces, weights' syntax) is no prompt: the title stands in, as
    # for an empty one (the store's text took "..." over a worded title, and the post took part text-less)
    check = posts.select(pl.arg_where(titled & pl.col("prompt").fill_null("").str.strip_chars().ne(""))).to_series()
    wordless = pl.Series([], dtype=pl.UInt32)
    if check.len():
        worded = tokens_series(posts.get_column("prompt").gather(check)).list.len() > 0
        wordless = check.filter(~worded)
    no_prompt = pl.col("prompt").fill_null("").str.strip_chars() == ""
    text = (pl.when(pl.int_range(pl.len(), dtype=pl.UInt32).is_in(wordless.implode())).then(pl.col("title"))
            .when(no_prompt & unnamed).then(pl.lit("")).otherwise(pl.col("text")))
    # a record without fetched_at was observed when the store took it: a later created_at is from the future
    return posts.select("id", "source", "created_at", pl.coalesce("fetched_at", "observed_at").alias("fetched_at"),
                        "author", text.alias("text"), "views", "remixes", "content_hash")


def inferred_edges(arc: Any) -> pl.DataFrame:
    """The archive's ``inferred_edges`` table (:data:`INFERRED_SCHEMA`; empty when ``infer`` never ran).

    >>> import tempfile
    >>> from archive.store import Archive
    >>> inferred_edges(Archive.open(tempfile.mkdtemp() + "/a", create=True)).height
    0
    """
    return arc.read_table("inferred_edges", schema=INFERRED_SCHEMA)


def inferred_cut(arc: Any) -> pl.DataFrame:
    """The archive's ``inferred_cut`` table (:data:`CUT_SCHEMA`): the links the tree check cut in the
    latest run (empty when none or when ``infer`` never ran).

    >>> import tempfile
    >>> from archive.store import Archive
    >>> inferred_cut(Archive.open(tempfile.mkdtemp() + "/a", create=True)).columns[-2:]
    ['descendants', 'tree_check']
    """
    return arc.read_table("inferred_cut", schema=CUT_SCHEMA)


#: Key of the ``inferred_edges`` commit metadata saying whether the run covered every post (``all``) or
#: only a ``source``/``since`` scope (``partial``).
SCOPE_KEY = "remix_archivist.inferred_scope"
#: Key of the run id in the commit metadata of ``inferred_edges`` and ``inferred_cut``: a run writes the
#: cut links first, so two different ids mean a run stopped between the two (the next run is a full one).
RUN_KEY = "remix_archivist.infer_run"
#: Key of the weights' digest (:func:`_weights_digest`) in the commit metadata of ``inferred_edges``: a
#: run with other weights (``--weights``) than the last one recomputes every post.
WEIGHTS_KEY = "remix_archivist.infer_weights"
#: Key of the store version a run answered for, in the commit metadata of ``inferred_edges`` (the rows
#: carry it too, but a run that found no link has none): the next run recomputes only what changed since.
STORE_VERSION_KEY = "remix_archivist.infer_store_version"
#: Key of the ``media_fingerprints`` version a run read (``-1``: none), in the commit metadata of
#: ``inferred_edges``: pictures added or changed since (a post first known by its picture) are recomputed
#: from their post's time, as a changed post is.
PICTURES_KEY = "remix_archivist.infer_pictures"


def _pictures_changed(arc: Any, since: str | None) -> pl.Series | None:
    """Ids of posts whose fingerprints differ between ``media_fingerprints`` at version ``since`` (the
    last run's, ``-1`` or None: no table) and now; None when the old version cannot be read."""
    from archive.media.store import FINGERPRINTS_TABLE

    now = load_fingerprints(arc.path)
    now = now if now is not None else pl.DataFrame(schema={"id": pl.String, "pdq": pl.String})
    old = pl.DataFrame(schema={"id": pl.String, "pdq": pl.String})
    if since is not None and since.lstrip("-").isdigit() and int(since) >= 0:
        try:
            old = _valid_fingerprints(arc.read_table(FINGERPRINTS_TABLE, version=int(since), columns=["id", "pdq"]))
        except Exception:  # the version is gone (vacuumed, the table replaced): recompute every post
            return None
    diff = pl.concat([now.join(old, on=["id", "pdq"], how="anti"), old.join(now, on=["id", "pdq"], how="anti")])
    return diff.get_column("id").unique()


def inferred_behind(arc: Any) -> tuple[int, int] | None:
    """``(store version, posts)`` when the store moved on since ``archivist infer`` last ran: the store
    version that run answered for, and how many posts are new or changed since (their parents not looked
    for yet). ``None`` when infer never ran, or nothing changed since. Readers of inferred links say so
    (:func:`inferred_gap`): a tree of posts ingested after the last run has no inferred link because none
    was looked for.

    The posts of that version are compared with today's by content hash; where that version can no
    longer be read (a redaction rewrote the store's history), a post counts as new when no observation
    of its present content was ingested before the run's commit.

    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> from archive.store import Archive
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> rec = {"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a red fox"}
    >>> _ = ingest_records(a, [rec]); _ = infer(a)
    >>> inferred_behind(a) is None
    True
    >>> _ = ingest_records(a, [{**rec, "id": "t:2", "created_at": "2026-01-02T00:00:00Z"}])
    >>> inferred_behind(a)
    (1, 1)
    """
    if arc.table_version("inferred_edges") < 0:
        return None
    return _behind(arc, arc.table_commit_metadata("inferred_edges"))


def _behind(arc: Any, meta: dict[str, Any]) -> tuple[int, int] | None:
    """:func:`inferred_behind` from the last ``inferred_edges`` commit's ``meta`` (read once by its callers)."""
    v = str(meta.get(STORE_VERSION_KEY, ""))
    if not v.isdigit() or int(v) >= arc.version():
        return None
    now = arc.posts().filter(~pl.col("placeholder")).select("id", "content_hash")
    try:
        before = arc.posts(as_of=int(v)).filter(~pl.col("placeholder")).select("id", "content_hash")
        moved = now.join(before, on=["id", "content_hash"], how="anti").height
    except Exception:  # that version is gone (a redaction rewrites history): by the observations' times
        from archive.store import scan_delta

        stamp = meta.get("timestamp")
        if stamp is None or not arc.has_table("records"):
            return None
        run = datetime.fromtimestamp(int(stamp) / 1000, tz=timezone.utc)
        seen = (scan_delta(arc.table_path("records")).filter(pl.col("ingested_at") <= run)
                .select("id", "content_hash").unique().collect())
        moved = now.join(seen, on=["id", "content_hash"], how="anti").height
    return (int(v), moved) if moved else None


def inferred_gap(arc: Any) -> str | None:
    """The sentence a reader of inferred links owes its user when some posts were not looked at for a
    parent: posts ingested or changed since ``archivist infer`` last ran (:func:`inferred_behind`), or a
    last run limited to one source or to recent posts (``--source``, ``--since``). ``None`` otherwise, or
    when infer never ran (readers say that apart). Commands are in backticks.

    >>> import tempfile
    >>> from archive.store import Archive
    >>> inferred_gap(Archive.open(tempfile.mkdtemp() + "/arc", create=True)) is None
    True
    """
    if arc.table_version("inferred_edges") < 0:
        return None
    meta = arc.table_commit_metadata("inferred_edges")
    behind = _behind(arc, meta)
    if behind is not None:
        n = behind[1]
        return (f"`archivist infer` last ran on store version {behind[0]}: {n:,} post{'s' if n != 1 else ''} "
                f"ingested or changed since {'have' if n != 1 else 'has'} not been looked at for a parent yet "
                "(run `archivist infer`)")
    if meta.get(SCOPE_KEY) == "partial":
        return ("the last `archivist infer` run was limited to one source or to recent posts (--source, --since): "
                "the posts outside it keep what an earlier run gave them, or nothing (run `archivist infer` to look "
                "at every post)")
    return None


def _weights_digest(w: Weights) -> str:
    """A digest of everything in ``w`` that decides a link (not its fit report)."""
    doc = {"method": w.version, "coef": w.coef, "calibration": list(w.calibration), "attach": w.attach,
           "tree_check": w.tree_check}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def infer(arc: Any, *, source: str | None = None, since: datetime | str | None = None,
          weights: Weights | None = None, full: bool = False, progress: Callable[[str], None] | None = None
          ) -> dict[str, Any]:
    """Infer parents for the archive's posts without a declared or C2PA parent; write ``inferred_edges``.

    Only what new or changed posts can change is recomputed: every post's parent depends
    only on earlier posts, so targets created before the earliest post added or changed
    since the last run (or the parent, with a published remix count, of a declared link added or
    gone: later posts read the remixes it has taken; or a post whose published count a newer post now
    outdates, :func:`_final_counts`) keep their rows (``full=True`` recomputes all). ``source`` and
    ``since`` restrict the posts that get a parent (candidates come from the whole
    archive); rows of other posts are kept; such a run recomputes its whole scope, and the next
    run without them recomputes every post (it knows from the table's commit metadata,
    :data:`SCOPE_KEY`), as does a run with other weights than the last (:data:`WEIGHTS_KEY`)
    or after a run stopped between its two writes (:data:`RUN_KEY`). Every run checks every
    link again (:func:`tree_check`) and writes ``inferred_cut``, then ``inferred_edges``.
    Returns the summary: of this run's posts ``considered = parents_found + no_parent`` (they start
    trees, the links the tree check cut included) ``+`` the counts of ``no_part`` (by reason), and
    ``share_at_0_9`` of the links found; of the whole table ``inferred_links`` and
    ``inferred_share_at_0_9``, and ``cut_by_tree_check``; ``posts`` (the archive's, placeholders aside),
    ``eligible`` (the posts in scope without a declared parent), ``recomputed``, ``run_id`` (the run whose
    tables stand: a run that finds nothing changed since the last one, at the same store version, writes
    nothing), ``store_version``.
    ``since``: see :func:`since_time`.
    Raises :class:`~lineage.errors.LineageError` when the archive is read-only.

    >>> import tempfile
    >>> from archive.store import Archive
    >>> infer(Archive.open(tempfile.mkdtemp() + "/a", create=True))["parents_found"]
    0
    """
    if arc.read_only:
        raise LineageError(f"the archive at {arc.path} is open read-only; inference writes inferred_edges")
    say = progress or (lambda s: None)
    w = weights or weights_for(arc.path)
    version = arc.version()
    say("reading posts")
    posts = _archive_posts(arc)
    declared = arc.edges().get_column("child").unique()
    eligible = posts.filter(~pl.col("id").is_in(declared.implode()))
    if source is not None:
        eligible = eligible.filter(pl.col("source") == source)
    if since is not None:
        eligible = eligible.filter(pl.col("created_at") >= since_time(since))
    old = inferred_edges(arc)
    # the links of the last run before its tree check: the kept ones and the cut ones (both tables
    # from one run). Different run ids: a run stopped between its two writes; inferred_edges is still
    # the last finished run's (a --source/--since run keeps its rows of other posts), but that run's
    # cut links are gone, so every post is recomputed
    last_meta = arc.table_commit_metadata("inferred_edges")
    from archive.media.store import FINGERPRINTS_TABLE

    pictures_version = arc.table_version(FINGERPRINTS_TABLE)
    same_run = last_meta.get(RUN_KEY) == arc.table_commit_metadata("inferred_cut").get(RUN_KEY)
    if same_run:
        old = pl.concat([old, inferred_cut(arc).select(list(INFERRED_SCHEMA))])
    start = None  # recompute targets created at or after this time
    # a run restricted by source or since covers only its scope: it recomputes that scope, and the next
    # unrestricted run recomputes every post (the posts outside the scope were never looked at)
    restricted = source is not None or since is not None
    last_partial = last_meta.get(SCOPE_KEY) == "partial"
    digest = _weights_digest(w)
    # the store version the last run answered for: its rows say it, and (since a run that found no link
    # has no row) its commit metadata
    prev_v = (int(old.get_column("store_version").max()) if old.height
              else int(last_meta[STORE_VERSION_KEY]) if str(last_meta.get(STORE_VERSION_KEY, "")).isdigit()
              else None)
    if (not full and same_run and not restricted and not last_partial and prev_v is not None
            and set(old.get_column("method").unique().to_list()) <= {w.version}
            and last_meta.get(WEIGHTS_KEY) == digest):  # links of other weights: every post again
        try:
            before = arc.posts(as_of=prev_v).filter(~pl.col("placeholder")).select(
                "id", "content_hash", "created_at", pl.coalesce("fetched_at", "observed_at").alias("fetched_at"))
            before_edges = arc.edges(as_of=prev_v).select("child", "parent")
        except Exception:  # the older version can no longer be read (redaction): a full run
            before = None
        if before is not None:
            changed = posts.join(before, on=["id", "content_hash"], how="anti")
            # a changed post counts from its time before the change too: a created_at corrected to later
            # leaves the posts in between with a parent that is no longer earlier (and a full run would
            # give them another)
            was = before.join(posts, on=["id", "content_hash"], how="anti")
            gone = before.join(posts.select("id"), on="id", how="anti")
            before_decl = before_edges.get_column("child").unique()
            decl_changed = declared.to_frame().join(before_decl.to_frame(), on="child", how="anti")
            # a declared link added or gone changes its parent's count of remixes taken, which every
            # later post's capacitated choice reads (where the parent publishes a remix count):
            # recompute from the parent's time
            now_edges = arc.edges().select("child", "parent")
            moved = pl.concat([now_edges.join(before_edges, on=["child", "parent"], how="anti"),
                               before_edges.join(now_edges, on=["child", "parent"], how="anti")])
            counted = posts.filter(pl.col("remixes").is_not_null())
            # a count read between the archive's latest post then and now held for every post then and
            # holds no longer (or the other way): it stops (or starts) being a capacity and closing the
            # windows to a post with 0 remixes, for every later post (the post itself unchanged)
            ends = [x for x in (_latest_post(before), _latest_post(posts)) if x is not None]
            outdated = (counted.filter(pl.col("fetched_at").is_between(min(ends), max(ends), closed="left"))
                        if len(ends) == 2 else counted.head(0))
            pictured = (_pictures_changed(arc, last_meta.get(PICTURES_KEY))
                        if last_meta.get(PICTURES_KEY) != str(pictures_version) else pl.Series([], dtype=pl.String))
            if pictured is None:
                gone = posts.select("id")  # the old pictures cannot be read: every post again
                pictured = pl.Series([], dtype=pl.String)
            times = pl.concat([changed.select("created_at"), was.select("created_at"),
                               posts.filter(pl.col("id").is_in(pictured.implode())).select("created_at"),
                               posts.join(decl_changed.rename({"child": "id"}), on="id").select("created_at"),
                               counted.join(moved.select(id="parent").unique(), on="id").select("created_at"),
                               outdated.select("created_at")])
            if gone.height:
                start = None
            elif times.height == 0:
                start = "nothing"
            else:
                start = times.get_column("created_at").min()
    if start == "nothing" and prev_v == version:
        # nothing changed since the last run, which answered for this very store version: its tables are
        # this run's result, so nothing is written (a new version of inferred_edges would mark an
        # `analyze --edges all` made since as stale)
        return {"considered": 0, "parents_found": 0, "share_at_0_9": None, "no_part": {},
                "cut_by_tree_check": inferred_cut(arc).height, "no_parent": 0, "recomputed": 0,
                "eligible": eligible.height, "posts": posts.height, **_table_figures(inferred_edges(arc)),
                "run_id": last_meta.get(RUN_KEY), "store_version": version}
    if (start is not None and start != "nothing"
            and posts.filter(pl.col("remixes").is_not_null() & (pl.col("created_at") < start)).height):
        # the capacitated assignment serves its children a batch at a time (:func:`assign_batch`): the earlier
        # posts of the batch that holds the earliest change shared published remixes with the later ones, so
        # they are recomputed too (where an earlier post publishes a count at all)
        start = batch_start(start)
    if start == "nothing":
        targets = eligible.head(0)
    elif start is not None:
        targets = eligible.filter(pl.col("created_at") >= start)
    else:
        targets = eligible
    keep = old.filter(~pl.col("child").is_in(targets.get_column("id").implode()),
                      ~pl.col("child").is_in(declared.implode()),
                      pl.col("child").is_in(posts.get_column("id").implode()))
    if start is None and not restricted:
        keep = keep.head(0)
    # children each parent already has: declared ones and inferred ones kept from the last run that took
    # one of its published remixes (a second-stage link takes none, and its margin is negative by rule,
    # :func:`_assign_batch`: counting it would close a parent to later posts that a full run leaves open)
    took = keep.filter(pl.col("features").struct.field("margin").fill_null(0.0) >= 0.0)
    taken = (pl.concat([arc.edges().select(id="parent"), took.select(id="parent")])
             .group_by("id").agg(taken=pl.len().cast(pl.Float64)))
    res = infer_frame(posts, targets=targets.get_column("id"), weights=w,
                      fingerprints=load_fingerprints(arc.path), taken=taken, check=False,
                      claims=kept_claims(keep, posts, arc.edges().select("parent")), progress=progress)
    run_id = uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    new = res.edges.with_columns(method=pl.lit(w.version), run_id=pl.lit(run_id),
                                 store_version=pl.lit(version, dtype=pl.Int64),
                                 inferred_at=pl.lit(now, dtype=UTC)).select(list(INFERRED_SCHEMA))
    out = pl.concat([keep.cast(INFERRED_SCHEMA), new.cast(INFERRED_SCHEMA)]).sort("child")  # type: ignore[arg-type]
    # store_version names the store this table answers for; every row is valid for it
    out = out.with_columns(store_version=pl.lit(version, dtype=pl.Int64))
    say("checking every link against the trees it makes")
    out, cut = tree_check(out, w, lineage=arc.lineage().select("id", "parent"))
    say("writing inferred_cut and inferred_edges")
    arc.write_table("inferred_cut", cut.cast(CUT_SCHEMA).sort("child"), mode="overwrite",  # type: ignore[arg-type]
                    metadata={RUN_KEY: run_id})
    arc.write_table("inferred_edges", out, mode="overwrite",
                    metadata={SCOPE_KEY: "partial" if restricted else "all", RUN_KEY: run_id,
                              WEIGHTS_KEY: digest, STORE_VERSION_KEY: str(version),
                              PICTURES_KEY: str(pictures_version)})
    # the counts of this run's posts reconcile: considered = parents_found + no_parent + the no_part
    # reasons (a post whose link the tree check cut has no parent); the archive's whole table beside them
    found = out.join(targets.select(child="id"), on="child", how="semi")
    summary = res.summary()
    this_run = _table_figures(found)
    n = this_run["inferred_links"]
    summary.update({
        "considered": res.considered, "parents_found": n, "share_at_0_9": this_run["inferred_share_at_0_9"],
        "no_parent": res.considered - n - sum(summary["no_part"].values()),
        "cut_by_tree_check": cut.height, "recomputed": targets.height, "eligible": eligible.height,
        "posts": posts.height, **_table_figures(out), "run_id": run_id, "store_version": version,
    })
    return summary


def _table_figures(links: pl.DataFrame) -> dict[str, Any]:
    """``inferred_links`` (how many rows) and ``inferred_share_at_0_9`` (the share at confidence >= 0.9,
    None without a row) of inferred ``links``."""
    m = links.height
    return {"inferred_links": m,
            "inferred_share_at_0_9": int((links.get_column("confidence") >= 0.9).sum()) / m if m else None}


def since_time(since: datetime | str) -> datetime:
    """The time ``since`` names, in UTC: a datetime (naive: UTC), a date ``YYYY-MM-DD`` (midnight UTC) or
    an RFC 3339 time (without an offset: UTC). Raises :class:`~lineage.errors.LineageError` for anything else.

    >>> since_time("2026-06-01"), since_time(datetime(2026, 6, 1, 12))
    (datetime.datetime(2026, 6, 1, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc))
    >>> since_time("2026-01-05t06:00:00z")
    datetime.datetime(2026, 1, 5, 6, 0, tzinfo=datetime.timezone.utc)
    >>> since_time("last tuesday")
    Traceback (most recent call last):
    lineage.errors.LineageError: 'last tuesday' is not a date: give YYYY-MM-DD or an RFC 3339 time (2026-06-01T12:00:00Z)
    """
    from archive.record import parse_time

    if isinstance(since, datetime):
        return since.replace(tzinfo=timezone.utc) if since.tzinfo is None else since.astimezone(timezone.utc)
    v = str(since).strip().upper()  # RFC 3339 allows "t" and "z" as well
    try:
        return parse_time(v if "T" in v or " " in v else f"{v}T00:00:00Z").astimezone(timezone.utc)
    except (ValueError, TypeError):
        raise LineageError(f"{since!r} is not a date: give YYYY-MM-DD or an RFC 3339 time "
                           "(2026-06-01T12:00:00Z)") from None


def confidence_text(v: float) -> str:
    """A link's confidence for people: two decimals, or two significant digits below 0.01 (a guess at
    0.002 is not "0.00", which would read as no chance at all), and three, rounded down, from 0.995 to
    just below 1 (a guess at 0.9962 is not "1.00", which would read as a certainty).

    >>> confidence_text(0.8312), confidence_text(0.002265), confidence_text(1.0)
    ('0.83', '0.0023', '1.00')
    >>> confidence_text(0.9962), confidence_text(0.99996), confidence_text(1.2e-5)
    ('0.996', '0.999', '0.000012')
    """
    if 0 < v < 0.01:  # two significant digits, never in scientific notation ("1.2e-05")
        return f"{v:.{1 - math.floor(math.log10(v))}f}".rstrip("0")
    if 0.995 <= v < 1:
        return f"{math.floor(v * 1000) / 1000:.3f}"
    return f"{v:.2f}"


def why(features: dict[str, Any] | None, confidence: float | None) -> str:
    """A person's sentence for an inferred link: confidence, prompt overlap, delay, author.

    >>> why({"jaccard": 0.91, "delay_hours": 2.0, "same_author": True, "visual": None}, 0.83)
    'inferred, confidence 0.83: prompt 91% the same, posted 2 h after, same author'

    A link the second stage made ("no parent" scored higher, so its margin is negative) says so:

    >>> why({"jaccard": 0.5, "delay_hours": 30.0, "margin": -0.2}, 0.12)
    'inferred, confidence 0.12: prompt 50% the same, posted 30 h after; kept to hold the post in its tree, which it is likely in, though this parent is a guess'

    A post held without its prompt (or whose parent has none) has no words to compare (its ``jaccard`` is
    null): the sentence says so rather than "prompt 0% the same":

    >>> why({"jaccard": None, "delay_hours": 12.0, "visual": 1.0}, 0.78)
    'inferred, confidence 0.78: no prompt to compare, picture 100% alike, posted 12 h after'
    """
    f = features or {}
    parts = []
    if f.get("jaccard") is not None and not (isinstance(f["jaccard"], float) and math.isnan(f["jaccard"])):
        parts.append(f"prompt {round(100 * f['jaccard'])}% the same")
    elif "jaccard" in f:
        parts.append("no prompt to compare")
    if f.get("visual") is not None and not (isinstance(f["visual"], float) and math.isnan(f["visual"])):
        parts.append(f"picture {round(100 * f['visual'])}% alike")
    h = f.get("delay_hours")
    if h is not None:
        parts.append(f"posted {_duration(h)} after")
    if f.get("same_author"):
        parts.append("same author")
    head = f"inferred, confidence {confidence_text(confidence)}" if confidence is not None else "inferred"
    tail = ""
    if f.get("margin") is not None and f["margin"] < 0:
        tail = "; kept to hold the post in its tree, which it is likely in, though this parent is a guess"
    return head + (": " + ", ".join(parts) if parts else "") + tail


def why_cut(parent: str, features: dict[str, Any] | None, confidence: float | None, descendants: int) -> str:
    """A person's sentence for a post whose inferred link the tree check cut (:func:`tree_check`).

    ``descendants`` is what the check read: the posts below this one through the links inferred before
    it cut any, so a tree drawn after the check, which cut other links below too, may hold fewer.

    >>> why_cut("t:9", {"jaccard": 0.35, "delay_hours": 72.0}, 0.41, 245)
    'no inferred parent: the tree check cut the link to t:9 (confidence 0.41: prompt 35% the same, posted 3 days after), as this post headed 245 posts of its own through the links inferred before the check: more like an original than a remix'
    """
    link = why(features, confidence).removeprefix("inferred, ")
    return (f"no inferred parent: the tree check cut the link to {parent} ({link}), as this post headed "
            f"{descendants:,} post{'s' if descendants != 1 else ''} of its own through the links inferred "
            "before the check: more like an original than a remix")


def _duration(h: float) -> str:
    if h < 1:
        return f"{max(1, round(h * 60))} min"
    if h < 48:
        return f"{round(h)} h"
    return f"{round(h / 24)} days"


# ---------------------------------------------------------------------------------------------- fitting
from lineage.infer_eval import evaluate, evaluate_frame, posts_from_records  # noqa: E402  (re-exported)
from lineage.infer_fit import FIT_SETTINGS, EVAL_SETTINGS, fit  # noqa: E402  (re-exported)
