"""Visual similarity, visual drift and remix decay on what people see; visual-only parent assignment.

Pictures are compared by their PDQ fingerprints (``media_fingerprints``,
:mod:`archive.media.store`). For two posts the **distance** is the smallest
Hamming distance between any fingerprint of one and any of the other (a video's
best-matching frames; 0-256 bits). **Visual similarity** is
``max(0, 1 - distance / 128)``: 1 for the same picture, 0 at the distance two
unrelated pictures have on average (128 of 256 bits). **Visual drift** is
``1 - similarity``. For videos, **frames matched** is the share of the child's
sampled frames that have a match (within :data:`MATCH_BITS`) among the
parent's. Visual fidelity decay fits ``F(d) = F∞ + (1 - F∞) e^(-λd)`` on
``1 - visual root drift``, as :func:`lineage.decay.fit_fidelity` does for prompts.

Parent assignment from pictures alone (:func:`assign_parents`) takes, for each
post, the most similar post created strictly earlier (time is the direction;
among equally similar ones the latest: a copy of a copy is as near its last copy
as its first), within ``max_distance`` bits; a post with no such candidate
starts a tree.

Examples
--------
>>> fps = pl.DataFrame({"id": ["a", "b", "c"], "pdq": ["00" * 32, "00" * 31 + "0f", "ff" * 32]})
>>> edge_visual(pl.DataFrame({"child": ["b", "c"], "parent": ["a", "a"]}), fps).select(
...     "child", "visual_distance", "visual_drift").rows()
[('b', 4, 0.03125), ('c', 256, 1.0)]
"""
from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy.signal import correlate

from archive.media.index import build_index, hex_to_words, nearest
from archive.media.store import fingerprints, thumbnail_data_uri, thumbnails
from archive.store import Archive

__all__ = ["MATCH_BITS", "similarity", "edge_visual", "node_visual_drift", "assign_parents", "visual_decay",
           "crop_match", "small_gray",
           "analyze_visual", "VISUAL_EDGE_SCHEMA", "tree_pictures", "pictures_html"]

MATCH_BITS = 31  # PDQ's own "same picture" threshold
VISUAL_EDGE_SCHEMA = {"child": pl.String, "parent": pl.String, "visual_distance": pl.Int64,
                      "visual_similarity": pl.Float64, "visual_drift": pl.Float64, "frames_matched": pl.Float64}


def similarity(distance: int | float | None) -> float | None:
    """Visual similarity of a PDQ distance: ``max(0, 1 - d / 128)``.

    >>> similarity(0), similarity(32), similarity(200), similarity(None)
    (1.0, 0.75, 0.0, None)
    """
    return None if distance is None else max(0.0, 1.0 - float(distance) / 128.0)


def _words_by_id(fps: pl.DataFrame) -> dict[str, np.ndarray]:
    fps = fps.drop_nulls("pdq")
    w = hex_to_words(fps.get_column("pdq").to_list())
    out: dict[str, list[int]] = {}
    for i, pid in enumerate(fps.get_column("id").to_list()):
        out.setdefault(pid, []).append(i)
    return {k: w[v] for k, v in out.items()}


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """Best distance between any rows of ``a`` and ``b``, and the share of ``a``'s rows matched in ``b``."""
    d = np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2)
    best = d.min(axis=1)
    return int(best.min()), float((best <= MATCH_BITS).mean())


def edge_visual(pairs: pl.DataFrame, fps: pl.DataFrame) -> pl.DataFrame:
    """Visual distance, similarity, drift and frames matched for each ``(child, parent)`` row of ``pairs``.

    ``fps`` has ``id, pdq`` (one row per fingerprint, several per video). Rows where
    either post has no fingerprint get nulls (no picture: no measure, never 0).
    Frame schema: :data:`VISUAL_EDGE_SCHEMA`.
    """
    by_id = _words_by_id(fps)
    rows = []
    for child, parent in pairs.select("child", "parent").iter_rows():
        a, b = by_id.get(child), by_id.get(parent)
        if a is None or b is None:
            rows.append((child, parent, None, None, None, None))
            continue
        dist, share = _pair(a, b)
        sim = similarity(dist)
        rows.append((child, parent, dist, sim, None if sim is None else 1.0 - sim, share))
    return pl.DataFrame(rows, schema=VISUAL_EDGE_SCHEMA, orient="row")


def node_visual_drift(lineage: pl.DataFrame, fps: pl.DataFrame) -> pl.DataFrame:
    """``id, root, depth, root_drift``: each post's visual drift from its tree's root (null without pictures).

    >>> lin = pl.DataFrame({"id": ["a", "b"], "root": ["a", "a"], "depth": [0, 1]})
    >>> fps = pl.DataFrame({"id": ["a", "b"], "pdq": ["00" * 32, "00" * 31 + "ff"]})
    >>> node_visual_drift(lin, fps).get_column("root_drift").to_list()
    [0.0, 0.0625]
    """
    ev = edge_visual(lineage.select(child="id", parent="root"), fps)
    return lineage.select("id", "root", "depth").join(
        ev.select(id="child", root_drift="visual_drift"), on="id", how="left").sort(["root", "depth", "id"])


def visual_decay(lineage: pl.DataFrame, fps: pl.DataFrame, *, n_boot: int = 200, seed: int = 0) -> dict[str, Any]:
    """Fit remix decay on visual fidelity (``1 - visual root drift``): the same fit as for prompts.

    >>> lin = pl.DataFrame({"id": list("abcd"), "root": ["a"] * 4, "depth": [0, 1, 2, 3]})
    >>> fps = pl.DataFrame({"id": list("abcd"), "pdq": ["00" * 32, "00" * 30 + "ffff",
    ...                     "00" * 28 + "ffffffff", "00" * 26 + "ffffffffffff"]})
    >>> visual_decay(lin, fps, n_boot=5)["depths"]
    4
    """
    from lineage.decay import fit_fidelity

    nd = node_visual_drift(lineage, fps)
    return fit_fidelity(nd, n_boot=n_boot, seed=seed)


def small_gray(picture: Any, width: int) -> np.ndarray:
    """A picture (Pillow image or encoded bytes, e.g. a stored WebP thumbnail) as grey float32, ``width`` wide.

    >>> from PIL import Image
    >>> small_gray(Image.new("RGB", (200, 100)), 24).shape
    (12, 24)
    """
    from PIL import Image

    img = Image.open(io.BytesIO(picture)) if isinstance(picture, (bytes, bytearray)) else picture
    w, h = img.size
    return np.asarray(img.convert("L").resize((width, max(2, round(h * width / w))), Image.Resampling.BOX),
                      dtype=np.float32)


def _ncc_map(parent: np.ndarray, tmpl: np.ndarray, box_at: tuple[int, int, int, int] | None = None
             ) -> tuple[float, int, int]:
    """Best normalised cross-correlation of ``tmpl`` inside ``parent`` (grey arrays) and where (row, column).

    ``box_at`` = (row0, row1, col0, col1) limits the template's top-left corner to that box.
    """
    th, tw = tmpl.shape
    H, W = parent.shape
    if th > H or tw > W:
        return -1.0, 0, 0
    r0, r1, c0, c1 = box_at or (0, H - th, 0, W - tw)
    r0, c0 = max(0, r0), max(0, c0)
    r1, c1 = min(H - th, r1), min(W - tw, c1)
    if r1 < r0 or c1 < c0:
        return -1.0, 0, 0
    sub = parent[r0:r1 + th, c0:c1 + tw]
    t0 = tmpl - tmpl.mean()
    tn = float(np.sqrt((t0 * t0).sum()))
    if tn < 1e-6:
        return -1.0, 0, 0
    if (r1 - r0 + 1) * (c1 - c0 + 1) <= 256:  # few positions (coarse pass, refinement box): direct sums
        win = np.lib.stride_tricks.sliding_window_view(sub, (th, tw))
        corr = np.einsum("ijkl,kl->ij", win, t0 / tn, optimize=False)
    else:  # many positions: by FFT (a tenth of the direct sums' time at 96 px)
        corr = correlate(sub, t0 / tn, mode="valid", method="fft")
    n = th * tw
    ii = np.pad(sub, ((1, 0), (1, 0))).cumsum(0).cumsum(1, dtype=np.float64)
    jj = np.pad(sub.astype(np.float64) ** 2, ((1, 0), (1, 0))).cumsum(0).cumsum(1)

    def box(a: np.ndarray) -> np.ndarray:
        return a[th:, tw:] - a[:-th, tw:] - a[th:, :-tw] + a[:-th, :-tw]

    var = box(jj) - box(ii) ** 2 / n
    m = corr / np.sqrt(np.maximum(var, 1e-6))
    k = int(np.argmax(m))
    y, x = divmod(k, m.shape[1])
    return float(m[y, x]), r0 + y, c0 + x


def _ncc(parent: np.ndarray, tmpl: np.ndarray) -> float:
    return _ncc_map(parent, tmpl)[0]


_SCALES = tuple(float(x) for x in np.linspace(0.6, 1.0, 9))


def _templates(picture: Any, width: int, scales: Sequence[float]) -> list[np.ndarray]:
    from PIL import Image

    img = Image.open(io.BytesIO(picture)) if isinstance(picture, (bytes, bytearray)) else picture
    return [small_gray(img, max(4, round(width * s))) for s in scales]


def _match(P: np.ndarray, templates: list[np.ndarray], mirror: bool) -> float:
    best = -1.0
    for t in templates:
        best = max(best, _ncc(P, t))
        if mirror:
            best = max(best, _ncc(P, t[:, ::-1].copy()))
    return best


def crop_match(child: Any, parent: Any, *, width: int = 48, scales: Sequence[float] = _SCALES,
               mirror: bool = False) -> float:
    """How well ``child`` matches a region of ``parent`` (a crop of it, resized, re-encoded, overlaid):
    the best normalised cross-correlation (-1..1) of the child, scaled to each fraction of the parent's width in
    ``scales``, at any position inside the parent (grey, ``width`` pixels wide). PDQ does not survive crops
    that move the frame; this does, so :func:`assign_parents` uses it to rank candidates when pictures are given.

    >>> from PIL import Image
    >>> p = Image.radial_gradient("L").convert("RGB").resize((128, 96))
    >>> round(crop_match(p.crop((10, 8, 118, 90)), p), 2) > 0.95, round(crop_match(p.rotate(90), p), 2) < 0.9
    (True, True)
    """
    P = parent if isinstance(parent, np.ndarray) else small_gray(parent, width)
    return _match(P, _templates(child, P.shape[1], scales), mirror)


def assign_parents(nodes: pl.DataFrame, fps: pl.DataFrame, *, max_distance: int = 80, k: int = 50,
                   pictures: dict[str, Any] | None = None, min_match: float = 0.7, tolerance: float = 0.0015,
                   exhaustive_below: int = 3000, mirror: bool = False, shortlist: tuple[int, int] = (32, 16)
                   ) -> pl.DataFrame:
    """Visual-only parents: the most similar strictly earlier post within ``max_distance`` (ties: the latest).

    ``nodes`` has ``id, created_at``; ``fps`` has ``id, pdq``. Candidates come from
    the multi-index hashing index (:func:`archive.media.index.nearest`), so the
    cost per post stays small in a large archive. Returns ``id, parent, distance``
    (parent null: no earlier picture close enough, the post starts a tree).

    With ``pictures`` (id -> Pillow image or thumbnail bytes) candidates are ranked
    by :func:`crop_match` instead, which survives crops: every earlier post is a
    candidate while the archive has fewer than ``exhaustive_below`` posts, else the
    PDQ neighbours. Every candidate is matched at 24 px, the best ``shortlist[0]``
    again at 96 px, and the best ``shortlist[1]`` of those at full size (up to 640 px),
    where a copy's own re-encodes show. Each candidate is also tried at the child's own
    scale in it (child width / candidate width: an unresized crop lines up exactly).
    The best match at or above ``min_match`` wins, except that transformations
    accumulate: a post's region is in its parent and its grandparent alike, so among
    matches within ``tolerance`` of the best, the latest one descending from the best
    (by the parents already chosen) is taken, as the nearest link of that chain.
    ``distance`` is then the PDQ distance to the chosen parent. Measured on the media
    simulator's forests (tests/benchmarks/test_media_bench.py): crops defeat PDQ alone,
    not this; ``tolerance`` was set on three seeded forests (seeds 11-13).

    >>> nodes = pl.DataFrame({"id": ["a", "b", "c"], "created_at": [1, 2, 3]})
    >>> fps = pl.DataFrame({"id": ["a", "b", "c"], "pdq": ["00" * 32, "00" * 31 + "03", "00" * 31 + "07"]})
    >>> assign_parents(nodes, fps).rows()
    [('a', None, None), ('b', 'a', 2), ('c', 'b', 1)]
    """
    if pictures:
        return _assign_by_pictures(nodes, fps, pictures, max_distance=max_distance, k=k, min_match=min_match,
                                   tolerance=tolerance, exhaustive_below=exhaustive_below, mirror=mirror,
                                   shortlist=shortlist)
    fps = fps.drop_nulls("pdq").join(nodes.select("id"), on="id", how="semi")
    index = build_index(fps.get_column("id").to_list(), fps.get_column("pdq").to_list())
    when = dict(nodes.select("id", "created_at").iter_rows())
    hashes: dict[str, list[str]] = {}
    for pid, h in fps.select("id", "pdq").iter_rows():
        hashes.setdefault(pid, []).append(h)
    out = []
    for pid, t in nodes.select("id", "created_at").sort(["created_at", "id"]).iter_rows():
        best = None
        if pid in hashes and t is not None:
            cands = [(d, c) for c, d in nearest(index, hashes[pid], k=k, max_distance=max_distance)
                     if c != pid and when.get(c) is not None and when[c] < t]
            if cands:  # nearest first; among equally near, the latest (a copy of a copy is nearest its last copy)
                dmin = min(d for d, _ in cands)
                best = (dmin, max((when[c], c) for d, c in cands if d == dmin)[1])
        out.append((pid, best[1] if best else None, best[0] if best else None))
    return pl.DataFrame(out, schema={"id": pl.String, "parent": pl.String, "distance": pl.Int64}, orient="row")


def _refine(child: Any, parent: Any, parent96: np.ndarray, templates96: list[np.ndarray], scales96: Sequence[float],
            mirror: bool) -> float:
    """The match of ``child`` in ``parent`` at full size (up to 640 px wide), near the best 96 px match.

    At full size a copy's own re-encodes show, so the parent a post was cut from
    beats its near-copies and cousins holding the same region. The child's own
    width is tried as a scale (a crop without resizing lines up pixel for pixel).
    """
    best = (-2.0, 0, 0, 0)
    for k, t in enumerate(templates96):
        for flip in ((False, True) if mirror else (False,)):
            sc, y, x = _ncc_map(parent96, t[:, ::-1].copy() if flip else t)
            if sc > best[0]:
                best = (sc, k, y, x)
    _, k, y, x = best
    pimg, cimg = Image_of(parent), Image_of(child)
    width = min(640, pimg.size[0])
    P = small_gray(pimg, width)
    f = P.shape[1] / parent96.shape[1]
    s0 = scales96[k]
    widths = {max(4, round(width * s)) for s in (s0 - 0.02, s0 - 0.01, s0, s0 + 0.01, s0 + 0.02)}
    own = round(cimg.size[0] * width / pimg.size[0])
    if abs(own - width * s0) <= 0.04 * width:
        widths.add(own)
    cy, cx = round(y * f), round(x * f)
    r = max(3, round(f * 1.5))
    return max(_ncc_map(P, small_gray(cimg, w), (cy - r, cy + r, cx - r, cx + r))[0] for w in sorted(widths))


def Image_of(picture: Any) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(picture)) if isinstance(picture, (bytes, bytearray)) else picture


def _descends(post: str, ancestor: str, parent_of: dict[str, str]) -> bool:
    """Whether ``ancestor`` is on ``post``'s chain of parents (cycles end the walk)."""
    seen: set[str] = set()
    v = parent_of.get(post)
    while v is not None and v not in seen:
        if v == ancestor:
            return True
        seen.add(v)
        v = parent_of.get(v)
    return False


def _assign_by_pictures(nodes: pl.DataFrame, fps: pl.DataFrame, pictures: dict[str, Any], *, max_distance: int,
                        k: int, min_match: float, tolerance: float, exhaustive_below: int, mirror: bool,
                        shortlist: tuple[int, int]) -> pl.DataFrame:
    order = nodes.select("id", "created_at").sort(["created_at", "id"]).rows()
    when = dict(order)
    fps = fps.drop_nulls("pdq").join(nodes.select("id"), on="id", how="semi")
    index = build_index(fps.get_column("id").to_list(), fps.get_column("pdq").to_list())
    hashes: dict[str, list[str]] = {}
    for pid, h in fps.select("id", "pdq").iter_rows():
        hashes.setdefault(pid, []).append(h)
    coarse = {pid: small_gray(pic, 24) for pid, pic in pictures.items()}
    sizes = {pid: Image_of(pic).size for pid, pic in pictures.items()}
    fine: dict[str, np.ndarray] = {}
    exhaustive = len(order) < exhaustive_below
    chosen: dict[str, str] = {}  # parents picked so far (posts in time order)
    out = []
    for i, (pid, t) in enumerate(order):
        if pid not in pictures or t is None:
            out.append((pid, None, None))
            continue
        if exhaustive:
            cands = [c for c, tc in order[:i] if tc is not None and tc < t and c in pictures]
        else:
            cands = [c for c, _ in nearest(index, hashes.get(pid, []), k=k, max_distance=max_distance)
                     if c in pictures and when.get(c) is not None and when[c] < t]
        # a coarse pass (24 px) on every candidate, the best few at 96 px, the best three at full size
        small = _templates(pictures[pid], 24, _SCALES)
        own: dict[int, np.ndarray] = {}  # the child at its own scale in each candidate: width -> template

        def at_own_scale(c: str, width: int) -> list[np.ndarray]:
            """A crop that was not resized sits in its parent at exactly (child width / parent width), which
            the grid of scales can miss by a pixel at 96 px: a textured picture then matches far worse."""
            r = sizes[pid][0] / sizes[c][0]
            if not _SCALES[0] - 0.1 <= r <= 1.0:
                return []
            w = max(4, round(width * r))
            if w not in own:
                own[w] = small_gray(pictures[pid], w)
            return [own[w]]

        rough = sorted(((_match(coarse[c], small + at_own_scale(c, 24), mirror), c) for c in cands),
                       reverse=True)[:shortlist[0]]
        big = _templates(pictures[pid], 96, _SCALES) if rough else []
        scored = []
        for s0, c in rough:
            if s0 < min_match - 0.15:
                continue
            if c not in fine:
                fine[c] = small_gray(pictures[c], 96)
            s1 = _match(fine[c], big + at_own_scale(c, 96), mirror)
            if s1 >= min_match:
                scored.append((s1, c))
        if not scored:
            out.append((pid, None, None))
            continue
        if len(scored) > 1:  # the last word at full size, near where the 96 px pass found the match
            scored = [(_refine(pictures[pid], pictures[c], fine[c], big + at_own_scale(c, 96),
                               (*_SCALES, sizes[pid][0] / sizes[c][0]), mirror), c)
                      for _, c in sorted(scored, reverse=True)[:shortlist[1]]]
        # transformations accumulate: a post matches its parent and its grandparent about equally well (the
        # crop it came from is in both), so among matches within `tolerance` of the best, the latest one that
        # descends (by the parents chosen so far) from the best wins; unrelated near-copies do not
        top = max(s1 for s1, _ in scored)
        best = max((s1, when[c], c) for s1, c in scored)[2]
        parent = max((when[c], c) for s1, c in scored
                     if s1 >= top - tolerance and (c == best or _descends(c, best, chosen)))[1]
        chosen[pid] = parent
        d = None
        if pid in hashes and parent in hashes:
            d = min(int(np.bitwise_count(a ^ b).sum()) for a in hex_to_words(hashes[pid])
                    for b in hex_to_words(hashes[parent]))
        out.append((pid, parent, d))
    return pl.DataFrame(out, schema={"id": pl.String, "parent": pl.String, "distance": pl.Int64}, orient="row")


def analyze_visual(archive: Archive, *, n_boot: int = 200, seed: int = 0) -> dict[str, Any]:
    """Write ``analysis_visual_edges`` (every edge with pictures on both ends), ``analysis_visual_decay``
    (``measure, value, reason``: the fit of :func:`visual_decay`) and ``analysis_visual_fidelity`` (``depth,
    nodes, fidelity, sd``: visual fidelity to the root by generation, :func:`lineage.decay.fidelity_by_depth`).

    Does nothing (returns ``{}``) when the archive has no fingerprints. Called by
    :func:`lineage.analyze.analyze`.
    """
    fps = fingerprints(archive)
    if fps.height == 0:
        return {}
    edges = archive.edges().select("child", "parent").unique().sort(["child", "parent"])
    ev = edge_visual(edges, fps).drop_nulls("visual_distance")
    lin = archive.lineage().select("id", "root", "depth")
    from lineage.decay import fidelity_by_depth, fit_fidelity

    nd = node_visual_drift(lin, fps)
    fit = fit_fidelity(nd, n_boot=n_boot, seed=seed)
    decay = pl.DataFrame([{"measure": k, "value": None if v is None or isinstance(v, str) else float(v),
                           "reason": v if isinstance(v, str) else None} for k, v in fit.items()],
                         schema={"measure": pl.String, "value": pl.Float64, "reason": pl.String})
    archive.write_table("analysis_visual_edges", ev)
    archive.write_table("analysis_visual_decay", decay)
    archive.write_table("analysis_visual_fidelity", fidelity_by_depth(nd))
    return {"visual_edges": ev.height, "visual_half_life": fit.get("half_life")}


def tree_pictures(archive: Archive, nodes: pl.DataFrame) -> list[dict[str, Any]]:
    """For each node of a tree (``id, parent, depth``) that has a thumbnail: its picture as a data URI,
    its parent's, and the visual drift from the parent (for reports and snapshots).

    >>> import tempfile
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> tree_pictures(a, pl.DataFrame({"id": ["x"], "parent": [None], "depth": [0]}))
    []
    """
    thumbs = thumbnails(archive)
    if not thumbs:
        return []
    fps = fingerprints(archive)
    nodes = nodes.select("id", "parent", "depth").sort(["depth", "id"])
    pairs = nodes.drop_nulls("parent").select(child="id", parent="parent")
    drift = {c: d for c, _, d in edge_visual(pairs, fps).select("child", "parent", "visual_drift").iter_rows()}
    out = []
    for pid, parent, depth in nodes.iter_rows():
        if pid not in thumbs:
            continue
        out.append({"id": pid, "parent": parent, "depth": depth, "src": thumbnail_data_uri(archive, thumbs[pid]),
                    "parent_src": thumbnail_data_uri(archive, thumbs.get(parent)) if parent else None,
                    "visual_drift": drift.get(pid)})
    return out


def pictures_html(pictures: Sequence[dict[str, Any]], *, limit: int = 400) -> str:
    """An HTML section drawing the chain with its pictures (data URIs: works offline), generation by generation.

    >>> pictures_html([{"id": "a<b", "parent": None, "depth": 0, "src": "data:image/webp;base64,AA==",
    ...                 "parent_src": None, "visual_drift": None}]).count("<img")
    1
    """
    if not pictures:
        return ""
    p = ["<h2>The chain in pictures</h2><p>Each post's picture beside its parent's, with the visual drift "
         "(1 − PDQ similarity; 0 = the same picture).</p><div class='pictures'>"]
    for r in list(pictures)[:limit]:
        e = html.escape
        drift = "" if r["visual_drift"] is None else f"visual drift {r['visual_drift']:.2f}"
        parent = (f"<img class='thumb parent' alt='parent {e(r['parent'] or '')}' src='{r['parent_src']}'>"
                  if r.get("parent_src") else "")
        p.append(f"<figure class='picture' data-id='{e(r['id'])}'>{parent}<img class='thumb' alt='{e(r['id'])}' "
                 f"src='{r['src']}'><figcaption>gen {r['depth']} · {e(r['id'])}"
                 f"{'<br>from ' + e(r['parent']) if r['parent'] else ''}<br>{drift}</figcaption></figure>")
    p.append("</div>")
    if len(pictures) > limit:
        p.append(f"<p>… and {len(pictures) - limit} more pictures.</p>")
    return "".join(p)


