"""The seeded simulator: realistic remix networks with known parameters.

Roots arrive uniformly over ``span_days``. Each post at depth ``g`` gets
``Poisson(m0 * gamma**g)`` remixes (branching decay). The times of a tree's
remixes, measured from its root, are drawn from an exponential law with median
``activity_half_life_days`` and handed out in breadth-first order, so every
child comes after its parent and half of a tree's remixes come within the
half-life. Posts after ``fetch time`` do not exist yet (trees still active are
censored). Each remix applies ``Poisson(mutation_rate)`` edits to its
parent's prompt (replace subject, action or setting; add, replace or remove a
style term). A new style term is *borrowed* with probability ``bleed`` from
the styles another tree used in the last ``bleed_window_days`` (never from
the post's own path), else taken from the tree's own share of the lexicon.
Engagement falls with depth: ``log(views) ~ Normal(view_log_mean - engagement_decay * depth, 1)``.

Four more habits of real remixing, all off by default (the bundled sample does not
use them) and used by lineage inference to fit and test itself: ``attachment``
(popular posts draw most remixes: each post's rate is scaled by a Gamma weight of
mean 1 and variance ``attachment``), ``repost`` (a remix keeps its parent's prompt
verbatim), ``self_remix`` (an author remixes their own post) and ``cross_copy`` (a
new tree starts from an undeclared copy of an earlier post of another tree, with
a few edits: it is a root in the truth, the hard case for inference).

``style_popularity`` (off by default) makes style words shared the way real ones are: each
tree's palette is drawn from the lexicon with Zipf weights of that exponent (rank ``k`` weighs
``1/k**s``), so a few popular terms ("highly detailed") recur across unrelated trees. At 0
every tree owns a disjoint slice of the lexicon while it lasts, which makes style words a tree's
signature: lineage inference is evaluated with shared palettes so that it cannot lean on that.

``fingerprints`` (off by default) gives that share of posts a PDQ fingerprint of their picture
(``extra.simulator.pdq``, 64 hex characters), as an archive that downloaded their media holds. A
root's picture is new (256 random bits); a remix re-uses its parent's picture with probability
``media_reuse`` (re-cut, captioned, re-encoded: its PDQ moves by a distance drawn from real PDQ
distances of real re-posts, ``data/pdq_repost_distances.json``, made by
:func:`archive.sources.simulate_media.repost_distances`), else its picture is a new generation,
unrelated to its parent's. Every post gets a picture, so a chain stays a chain where one of its
posts was not fingerprinted. Lineage inference fits its visual weights on these.

``no_prompt`` (off by default) is the share of posts the archive holds without their prompt (an
exported file with no sidecar, a re-post with no text): the record has no ``prompt``, though its
remixes edit the prompt it had. With ``fingerprints`` such a post is known by its picture alone.

``undeclared`` (off by default) is the share of remixes whose record states no parent, as a
platform that stopped declaring links leaves them (the Sora app, Scratch's remix trees): the true
parent stays in ``extra.simulator.parent``, for ``archivist infer`` to find and be checked against.

``edge_delays`` (off by default) draws each remix's delay from its *parent's* time (an
exponential law with the same median), as in continuous-time cascade models (NetRate,
Gomez-Rodriguez et al. 2011), instead of handing the tree's sorted times out in breadth-first
order. The default makes every generation come after the whole one before it, a regularity
lineage inference learns to use (a parent is older than the child's similar siblings); with
cascade timing generations overlap, and ``archivist infer --evaluate`` shows what that costs.

Every record carries its ground truth in ``extra.simulator`` and
:func:`simulate` returns the parameters and realised figures, written as
``<output>.truth.json`` beside the records.

Examples
--------
>>> recs, truth = simulate(SimParams(seed=7, posts=300))
>>> len(recs), truth["posts"]
(300, 300)
>>> recs[0]["source"], recs[0]["id"].startswith("simulate:")
('simulate', True)
>>> truth["params"]["bleed"]
0.2
"""
from __future__ import annotations

import gzip
import json
import math
import random
from bisect import bisect_right
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from archive.paths import data_dir
from archive.record import format_time

__all__ = ["SimParams", "simulate", "check_params", "write_jsonl", "SimulateSource", "lexicon_terms", "simulator_values",
           "truth_file"]


@dataclass(frozen=True)
class SimParams:
    """The simulator's parameters (all written to the truth file)."""

    seed: int = 42
    posts: int = 3000
    m0: float = 3.0
    gamma: float = 0.75
    max_depth: int = 80
    mutation_rate: float = 1.2
    bleed: float = 0.2
    bleed_window_days: float = 30.0
    activity_half_life_days: float = 3.0
    span_days: float = 120.0
    horizon_days: float = 14.0
    start: str = "2026-03-01T00:00:00Z"
    view_log_mean: float = 8.0
    engagement_decay: float = 0.35
    languages: tuple[str, ...] = ("en", "en", "en", "en", "es", "fr", "de", "ja", "zh", "pt")
    styles_per_tree: int = 6
    # What real remixing leaves behind (all off by default, so the bundled sample stays the same):
    attachment: float = 0.0  # popularity spread: each post's remix rate is scaled by Gamma(1/a, a) (mean 1)
    repost: float = 0.0  # probability a remix re-posts its parent's prompt verbatim
    self_remix: float = 0.0  # probability a remix is posted by its parent's author
    cross_copy: float = 0.0  # probability a new tree starts from a copy of an earlier post of another tree
    style_popularity: float = 0.0  # Zipf exponent of style terms' popularity across trees' palettes (0: disjoint)
    edge_delays: bool = False  # each remix's delay is drawn from its parent's time, not from its root's
    # Media fingerprints (off by default): the share of posts whose picture the archive fingerprinted,
    # and the probability that a remix re-uses its parent's picture (else its picture is new)
    fingerprints: float = 0.0
    media_reuse: float = 0.5
    # the share of posts the archive holds without their prompt (an exported file, a re-post with no text)
    no_prompt: float = 0.0
    # the share of remixes whose records leave their link out (a platform that stopped declaring links)
    undeclared: float = 0.0


def lexicon_terms() -> list[str]:
    """Every phrase of the bundled style lexicon, in file order.

    >>> "claymation" in lexicon_terms()
    True
    """
    lex = json.loads((data_dir() / "style_lexicon.json").read_text("utf-8"))
    return [p for phrases in lex["facets"].values() for p in phrases]


# Slots of a prompt, per language: subject, action, setting. None of these
# contains a phrase of the style lexicon (a test checks it).
_VOCAB: dict[str, dict[str, list[str]]] = {
    "en": {
        "subject": ["a corgi in a tiny wetsuit", "an astronaut grandmother", "a paper boat", "a red panda barista",
                    "two robots in love", "a giant koi fish", "a lighthouse keeper", "a sleepy dragon",
                    "a skateboarding penguin", "a jazz band of frogs", "a lonely vending machine",
                    "a girl with a yellow umbrella", "a tiny knight", "an old tram", "a hummingbird made of glass",
                    "a capybara in a hot spring", "a street dancer", "a cat wearing sunglasses",
                    "a whale flying over a city", "a chef made of bread", "a snowman on holiday",
                    "a deep sea diver", "a marching band", "a fox in a trench coat", "a retired superhero"],
        "action": ["surfing a glassy wave", "dancing in the rain", "baking a cake", "running for the last train",
                   "reading a letter", "painting a mural", "chasing fireflies", "playing chess with a ghost",
                   "climbing a spiral staircase", "riding a bicycle", "fixing a broken clock", "singing karaoke",
                   "walking through a crowded market", "floating upward", "juggling oranges",
                   "opening a mysterious door", "sword fighting", "skipping stones", "feeding pigeons",
                   "building a sandcastle"],
        "setting": ["in Tokyo at night", "on the rings of Saturn", "in a flooded library", "on a rooftop in Lagos",
                    "inside a snow globe", "in a sunflower field", "at a rainy bus stop", "in a desert of salt",
                    "on a floating island", "in a tiny apartment kitchen", "under the Northern lights",
                    "in a coral reef", "on the streets of Havana", "in an abandoned mall", "at the top of a mountain",
                    "in a bamboo forest", "on a train across Siberia", "in a greenhouse on Mars",
                    "at a village festival", "on a frozen lake"],
    },
    "es": {
        "subject": ["un perro salchicha", "una abuela astronauta", "un barco de papel", "un robot jardinero",
                    "una tortuga gigante", "un mariachi esqueleto", "una niña con paraguas rojo", "un gato detective"],
        "action": ["bailando bajo la lluvia", "surfeando una ola", "cocinando paella", "corriendo por la playa",
                   "tocando la guitarra", "volando con globos", "leyendo un mapa antiguo"],
        "setting": ["en Ciudad de México", "en la luna", "en un mercado lleno de flores", "en una biblioteca inundada",
                    "en el desierto de Atacama", "en una azotea de Madrid", "en una selva tropical"],
    },
    "fr": {
        "subject": ["un escargot en costume", "une vieille bicyclette", "un boulanger géant", "une baleine volante",
                    "un chat philosophe", "une danseuse de ballet", "un petit robot"],
        "action": ["qui danse sous la pluie", "qui traverse un pont", "qui peint un tableau", "qui joue de l'accordéon",
                   "qui attrape des étoiles", "qui fait du vélo"],
        "setting": ["à Paris la nuit", "dans une forêt enchantée", "sur les toits de Montmartre", "au bord de la mer",
                    "dans un café bondé", "sur une planète lointaine"],
    },
    "de": {
        "subject": ["ein Dackel im Anzug", "eine alte Straßenbahn", "ein Roboter mit Hut", "ein riesiger Igel",
                    "eine Astronautin", "ein Bäcker aus Lebkuchen"],
        "action": ["tanzt im Regen", "fährt Fahrrad", "baut eine Sandburg", "liest Zeitung", "jagt Seifenblasen"],
        "setting": ["in Berlin bei Nacht", "im Schwarzwald", "auf dem Mond", "in einer Bibliothek", "am Bodensee"],
    },
    "ja": {
        "subject": ["柴犬が", "宇宙飛行士のおばあちゃんが", "小さなロボットが", "着物姿の猫が", "巨大な鯉が", "侍が"],
        "action": ["夕暮れの海でサーフィンしている", "雨の中で踊っている", "ラーメンを作っている", "桜の下で眠っている",
                   "電車を追いかけている"],
        "setting": ["東京の夜の街で", "月面で", "古い図書館で", "雪の神社で", "竹林の中で"],
    },
    "zh": {
        "subject": ["一只熊猫", "一位老奶奶宇航员", "一个小机器人", "一条金龙", "一只穿西装的猫"],
        "action": ["在雨中跳舞", "在海浪上冲浪", "在包饺子", "在骑自行车", "在放风筝"],
        "setting": ["在上海的夜晚", "在月球上", "在古老的图书馆里", "在竹林里", "在长城上"],
    },
    "pt": {
        "subject": ["um papagaio pirata", "uma avó astronauta", "um barco de papel", "um gato músico"],
        "action": ["dançando samba", "surfando uma onda", "tocando violão", "voando de balão"],
        "setting": ["no Rio de Janeiro", "na lua", "numa biblioteca inundada", "numa feira de rua"],
    },
}
_HANDLE_A = ["quiet", "neon", "paper", "lucky", "velvet", "cosmic", "tiny", "salty", "lazy", "wild", "mellow", "pixel"]
_HANDLE_B = ["otter", "comet", "fern", "moth", "harbor", "tram", "kiwi", "ghost", "loaf", "orbit", "crow", "dune"]
_SLOTS = ("subject", "action", "setting")


def _repost_distances() -> list[int]:
    """Real PDQ distances of real re-posts (bits), shipped in ``data/pdq_repost_distances.json``."""
    return [int(x) for x in json.loads((data_dir() / "pdq_repost_distances.json").read_text("utf-8"))["distances"]]


def _render(lang: str, p: dict[str, Any]) -> str:
    sep = "" if lang in ("ja", "zh") else " "
    head = sep.join([p["subject"], p["action"], p["setting"]])
    styles = ", ".join(p["styles"])
    return f"{head}, {styles}" if styles else head


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    # Knuth for small means, normal approximation for large ones
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


class _Positions:
    """Increasing positions of one kind of entry in the window; the head is dropped lazily."""

    __slots__ = ("pos", "lo")

    def __init__(self) -> None:
        self.pos: list[int] = []
        self.lo = 0

    def count(self, upto: int | None = None) -> int:
        """How many live positions are ``<= upto`` (all of them when ``upto`` is None)."""
        if upto is None:
            return len(self.pos) - self.lo
        return bisect_right(self.pos, upto, self.lo) - self.lo

    def drop_first(self) -> None:
        self.lo += 1
        if self.lo > 4096 and self.lo * 2 > len(self.pos):
            del self.pos[: self.lo]
            self.lo = 0


class _RecentStyles:
    """The style uses ``(time, tree, term)`` of the last window, in time order.

    Borrowing picks uniformly among the uses of *other* trees whose term is not
    excluded. A plain scan of the window is quadratic at a million posts; this
    keeps positions per tree, per term and per (tree, term) so the number of
    candidates and the k-th one (in window order, the order a scan would list
    them) come from bisection. The draw is the same as ``choice`` over the
    scanned list, so a seed gives the same archive either way.
    """

    def __init__(self) -> None:
        self.items: list[tuple[float, int, str]] = []
        self.base = 0  # position of items[0]
        self.head = 0  # first live position
        self.by_tree: dict[int, _Positions] = {}
        self.by_term: dict[str, _Positions] = {}
        self.by_pair: dict[tuple[int, str], _Positions] = {}

    def append(self, t: float, tree: int, term: str) -> None:
        p = self.base + len(self.items)
        self.items.append((t, tree, term))
        for d, k in ((self.by_tree, tree), (self.by_term, term), (self.by_pair, (tree, term))):
            lst = d.get(k)  # type: ignore[attr-defined]
            if lst is None:
                lst = d[k] = _Positions()  # type: ignore[index]
            lst.pos.append(p)

    def expire(self, before: float) -> None:
        """Drop the uses older than ``before``."""
        end = self.base + len(self.items)
        while self.head < end:
            t, tree, term = self.items[self.head - self.base]
            if t >= before:
                break
            self.by_tree[tree].drop_first()
            self.by_term[term].drop_first()
            self.by_pair[(tree, term)].drop_first()
            self.head += 1
        if self.head - self.base > 65536 and (self.head - self.base) * 2 > len(self.items):
            del self.items[: self.head - self.base]
            self.base = self.head

    def _excluded(self, tree: int, exclude: set[str], upto: int | None) -> int:
        own = self.by_tree.get(tree)
        n = own.count(upto) if own is not None else 0
        for term in exclude:
            lst = self.by_term.get(term)
            if lst is not None:
                n += lst.count(upto)
                pair = self.by_pair.get((tree, term))
                if pair is not None:
                    n -= pair.count(upto)
        return n

    def borrow(self, rng: random.Random, tree: int, exclude: set[str]) -> tuple[int, str] | None:
        """``rng.choice`` over the other trees' uses whose term is not in ``exclude``; None if there are none."""
        end = self.base + len(self.items)
        n = (end - self.head) - self._excluded(tree, exclude, None)
        if n <= 0:
            return None
        k = rng.choice(range(n))  # the same draw as choice() over the n candidates
        lo, hi = self.head, end - 1
        while lo < hi:  # the smallest position with k + 1 candidates up to it
            mid = (lo + hi) // 2
            if (mid - self.head + 1) - self._excluded(tree, exclude, mid) >= k + 1:
                hi = mid
            else:
                lo = mid + 1
        _, src_tree, term = self.items[lo - self.base]
        return src_tree, term


#: Settings that are probabilities or shares (0 to 1).
_PROBABILITIES = ("bleed", "repost", "self_remix", "cross_copy", "fingerprints", "media_reuse", "no_prompt",
                  "undeclared")
#: Settings that are counts, rates or spreads (0 or more): a negative mean remix count made a simulation of
#: roots only and wrote ``m0: -1.0`` into the truth file.
_NON_NEGATIVE = ("posts", "m0", "gamma", "max_depth", "mutation_rate", "bleed_window_days", "horizon_days",
                 "engagement_decay", "styles_per_tree", "attachment", "style_popularity")
#: Spans of time that must be longer than none (a half-life of 0 divides by zero).
_POSITIVE = ("activity_half_life_days", "span_days")
#: The most each rate may be: far past anything remixing shows, and short of what the simulator cannot hold
#: (a mean of 1e9 remixes took 8.5 GB in 30 s, a mutation rate of 1e6 never ended, a Zipf exponent of 1e300
#: overflowed).
_MAXIMUM = {"m0": 1000.0, "gamma": 10.0, "mutation_rate": 100.0, "attachment": 100.0, "style_popularity": 20.0,
            "engagement_decay": 100.0}


def check_params(params: SimParams, names: dict[str, str] | None = None) -> None:
    """Raise :class:`~archive.errors.SourceError` naming every setting that is not a finite number, a
    probability (:data:`_PROBABILITIES`) outside 0 to 1 (a NaN share of pictures gave none, silently), a
    count or rate below 0 (:data:`_NON_NEGATIVE`), a span of time not above 0 (:data:`_POSITIVE`) or a rate
    above its :data:`_MAXIMUM`. ``names`` (field -> what the user typed, e.g. ``"--half-life"``) names the
    settings in the message.

    >>> check_params(SimParams(fingerprints=float("nan"), repost=2.0))
    Traceback (most recent call last):
    ...
    archive.errors.SourceError: simulator settings out of range: repost=2.0 (a probability, 0 to 1); fingerprints=nan (a probability, 0 to 1)
    >>> check_params(SimParams(m0=-1.0, activity_half_life_days=0.0))
    Traceback (most recent call last):
    ...
    archive.errors.SourceError: simulator settings out of range: m0=-1.0 (0 or more); activity_half_life_days=0.0 (more than 0)
    >>> check_params(SimParams(mutation_rate=1e6, activity_half_life_days=0.0), {"activity_half_life_days": "--half-life"})
    Traceback (most recent call last):
    ...
    archive.errors.SourceError: simulator settings out of range: mutation_rate=1000000.0 (at most 100); --half-life=0.0 (more than 0)
    """
    from archive.errors import SourceError

    problems = []
    for name, value in asdict(params).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        label = (names or {}).get(name, name)  # what the user typed, where the caller knows it
        if name in _PROBABILITIES and not 0.0 <= value <= 1.0:
            problems.append(f"{label}={value} (a probability, 0 to 1)")
        elif not math.isfinite(value):
            problems.append(f"{label}={value} (not a finite number)")
        elif name in _NON_NEGATIVE and value < 0:
            problems.append(f"{label}={value} (0 or more)")
        elif name in _POSITIVE and value <= 0:
            problems.append(f"{label}={value} (more than 0)")
        elif name in _MAXIMUM and value > _MAXIMUM[name]:
            problems.append(f"{label}={value} (at most {_MAXIMUM[name]:g})")
    if problems:
        raise SourceError("simulator settings out of range: " + "; ".join(problems))


def simulate(params: SimParams | None = None) -> tuple[list[dict], dict]:
    """Generate ``params.posts`` remix records and the ground truth.

    Returns ``(records, truth)``; records are sorted by ``created_at``. Raises
    :class:`~archive.errors.SourceError` on settings out of range (:func:`check_params`).
    """
    P = params or SimParams()
    check_params(P)
    rng = random.Random(P.seed)
    t0 = datetime.fromisoformat(P.start.replace("Z", "+00:00"))
    span_s = P.span_days * 86400.0
    fetch_s = span_s + P.horizon_days * 86400.0
    scale_s = P.activity_half_life_days * 86400.0 / math.log(2)
    terms = lexicon_terms()

    # 1. structure and times, tree by tree
    nodes: list[dict[str, Any]] = []  # {tree, parent, depth, t}
    tree_roots: list[int] = []
    gen_counts: list[list[int]] = []  # per generation: [N_g, children of gen g]
    n_alive = 0  # posts made by fetch time: trees are added until there are enough of them
    while n_alive < P.posts:
        tree = len(tree_roots)
        t_root = rng.random() * span_s
        root = len(nodes)
        tree_roots.append(root)
        nodes.append({"tree": tree, "parent": -1, "depth": 0, "t": t_root})
        order = [root]
        frontier = [root]
        depth = 0
        while frontier and depth < P.max_depth and len(nodes) < P.posts * 4:
            lam = P.m0 * P.gamma ** depth
            nxt = []
            for par in frontier:
                rate = lam * (rng.gammavariate(1.0 / P.attachment, P.attachment) if P.attachment > 0 else 1.0)
                for _ in range(_poisson(rng, rate)):
                    nid = len(nodes)
                    nodes.append({"tree": tree, "parent": par, "depth": depth + 1, "t": None})
                    order.append(nid)
                    nxt.append(nid)
            frontier = nxt
            depth += 1
        # breadth-first order gets sorted offsets: parents always precede children
        remixes = order[1:]
        if P.edge_delays:  # breadth-first order: a parent's time is set before its children's
            for nid in remixes:
                nodes[nid]["t"] = nodes[nodes[nid]["parent"]]["t"] + rng.expovariate(1.0) * scale_s
        else:
            offsets = sorted(rng.expovariate(1.0) * scale_s for _ in remixes)
            for nid, off in zip(remixes, offsets):
                nodes[nid]["t"] = t_root + off
        n_alive += sum(1 for nid in order if nodes[nid]["t"] <= fetch_s)
    # 2. what exists at fetch time, at most P.posts posts (cut whole posts in time order)
    alive = [i for i, n in enumerate(nodes) if n["t"] <= fetch_s]
    alive.sort(key=lambda i: (nodes[i]["t"], i))
    keep = set(alive[: P.posts])
    # a child is kept only with its parent (time order guarantees the parent is earlier)
    kept = [i for i in sorted(keep, key=lambda i: (nodes[i]["t"], i))
            if nodes[i]["parent"] < 0 or nodes[i]["parent"] in keep]
    keep = set(kept)
    # 3. realised branching: N_g and their kept children
    for i in kept:
        d = nodes[i]["depth"]
        while len(gen_counts) <= d + 1:
            gen_counts.append([0, 0])
        gen_counts[d][0] += 1
        if nodes[i]["parent"] >= 0:
            gen_counts[d - 1][1] += 1
    children: dict[int, int] = {}
    for i in kept:
        if nodes[i]["parent"] >= 0:
            children[nodes[i]["parent"]] = children.get(nodes[i]["parent"], 0) + 1

    # 4. prompts in global time order, so borrowing sees only the past
    order_rng = random.Random(P.seed + 1)
    slice_of: dict[int, list[str]] = {}
    pool = terms[:]
    order_rng.shuffle(pool)
    n_trees = len(tree_roots)
    disjoint = n_trees * P.styles_per_tree <= len(pool)
    popularity = [1.0 / (k + 1) ** P.style_popularity for k in range(len(pool))]
    for tr in range(n_trees):
        if P.style_popularity > 0:  # popular terms recur across trees: drawn by weight, without repeats
            palette: list[str] = []
            while len(palette) < min(P.styles_per_tree, len(pool)):
                term = order_rng.choices(pool, weights=popularity)[0]
                if term not in palette:
                    palette.append(term)
            slice_of[tr] = palette
        elif disjoint:
            slice_of[tr] = pool[tr * P.styles_per_tree:(tr + 1) * P.styles_per_tree]
        else:
            slice_of[tr] = order_rng.sample(pool, P.styles_per_tree)
    lang_of = {tr: order_rng.choice(P.languages) for tr in range(n_trees)}
    recent = _RecentStyles()  # (time, tree, term) style uses of the last window
    state: dict[int, dict[str, Any]] = {}
    path_styles: dict[int, frozenset[str]] = {}
    records: list[dict] = []
    window = P.bleed_window_days * 86400.0
    n_new = n_bled = 0
    seed_tag = f"s{P.seed}"
    extra_rng = random.Random(P.seed + 2)  # the optional habits draw from their own stream
    author_of: dict[int, str] = {}
    done: list[int] = []
    media_rng = random.Random(P.seed + 3)
    text_rng = random.Random(P.seed + 4)
    link_rng = random.Random(P.seed + 5)  # its own stream: the posts are the same with or without links left out
    picture: dict[int, int] = {}  # each post's PDQ as one 256-bit integer
    reposts = _repost_distances() if P.fingerprints > 0 else []

    def rec_id(k: int) -> str:
        return f"simulate:{seed_tag}_{k:07d}"

    for i in kept:
        n = nodes[i]
        tr, lang = n["tree"], lang_of[n["tree"]]
        voc = _VOCAB[lang]
        recent.expire(n["t"] - window)
        ops: list[str] = []
        new_styles: list[dict[str, Any]] = []

        def new_style(exclude: set[str]) -> str:
            nonlocal n_new, n_bled
            n_new += 1
            if order_rng.random() < P.bleed:
                picked = recent.borrow(order_rng, tr, exclude)
                if picked is not None:
                    src_tree, term = picked
                    n_bled += 1
                    new_styles.append({"term": term, "kind": "bled", "from_tree": src_tree})
                    return term
            own = [s for s in slice_of[tr] if s not in exclude] or [s for s in slice_of[tr] if s not in p["styles"]]
            term = order_rng.choice(own)
            new_styles.append({"term": term, "kind": "own", "from_tree": tr})
            return term

        copied = None
        if n["parent"] < 0 and P.cross_copy > 0 and records and extra_rng.random() < P.cross_copy:
            copied = extra_rng.choice(done)
            if lang_of[nodes[copied]["tree"]] != lang:
                copied = None
        if n["parent"] < 0 and copied is None:
            p = {s: order_rng.choice(voc[s]) for s in _SLOTS}
            k = order_rng.choice((1, 2, 2, 3))
            p["styles"] = order_rng.sample(slice_of[tr], k)
            own_path: frozenset[str] = frozenset(p["styles"])
        elif copied is not None:
            src = state[copied]
            p = {s: src[s] for s in _SLOTS}
            p["styles"] = list(src["styles"])
            slot = extra_rng.choice(_SLOTS)
            p[slot] = extra_rng.choice([x for x in voc[slot] if x != p[slot]])
            ops.append(f"copied from {rec_id(copied)}")
            own_path = frozenset(p["styles"])
        else:
            par = state[n["parent"]]
            p = {s: par[s] for s in _SLOTS}
            p["styles"] = list(par["styles"])
            on_path = set(path_styles[n["parent"]])
            verbatim = P.repost > 0 and extra_rng.random() < P.repost
            for _ in range(0 if verbatim else _poisson(order_rng, P.mutation_rate)):
                r = order_rng.random()
                if r < 0.2:
                    p["subject"] = order_rng.choice([x for x in voc["subject"] if x != p["subject"]])
                    ops.append("replace subject")
                elif r < 0.35:
                    p["action"] = order_rng.choice([x for x in voc["action"] if x != p["action"]])
                    ops.append("replace action")
                elif r < 0.5:
                    p["setting"] = order_rng.choice([x for x in voc["setting"] if x != p["setting"]])
                    ops.append("replace setting")
                elif r < 0.75 or not p["styles"]:
                    if len(p["styles"]) < 4:
                        p["styles"].append(new_style(on_path | set(p["styles"])))
                        ops.append("add style")
                    else:
                        j = order_rng.randrange(len(p["styles"]))
                        p["styles"][j] = new_style(on_path | set(p["styles"]))
                        ops.append("replace style")
                elif r < 0.9:
                    j = order_rng.randrange(len(p["styles"]))
                    p["styles"][j] = new_style(on_path | set(p["styles"]))
                    ops.append("replace style")
                else:
                    p["styles"].pop(order_rng.randrange(len(p["styles"])))
                    ops.append("remove style")
            own_path = frozenset(on_path | set(p["styles"]))
        state[i] = p
        path_styles[i] = own_path
        for s in p["styles"]:
            recent.append(n["t"], tr, s)
        depth = n["depth"]
        views = int(math.exp(order_rng.gauss(P.view_log_mean - P.engagement_decay * depth, 1.0)))
        created = t0 + timedelta(seconds=n["t"])
        author = f"@{order_rng.choice(_HANDLE_A)}_{order_rng.choice(_HANDLE_B)}{order_rng.randrange(100)}"
        if n["parent"] >= 0 and P.self_remix > 0 and extra_rng.random() < P.self_remix:
            author = author_of[n["parent"]]
        author_of[i] = author
        if P.fingerprints > 0:  # its own stream: the posts are the same with or without pictures
            if n["parent"] >= 0 and media_rng.random() < P.media_reuse:
                d = media_rng.choice(reposts)
                picture[i] = picture[n["parent"]] ^ sum(1 << b for b in media_rng.sample(range(256), d))
            else:
                picture[i] = media_rng.getrandbits(256)
        done.append(i)
        rid = rec_id(i)
        rec: dict[str, Any] = {
            "id": rid,
            "source": "simulate",
            "created_at": format_time(created),
            "author": author,
            "prompt": _render(lang, p),
            "media": [{"url": f"https://media.example.invalid/{seed_tag}/{i:07d}.mp4", "mime": "video/mp4",
                       "duration_s": order_rng.choice((4, 8, 10, 12, 15, 20)), "width": 1280, "height": 720}],
            "metrics": {"views": views, "likes": int(views * order_rng.uniform(0.02, 0.09)),
                        "remixes": children.get(i, 0), "comments": int(views * order_rng.uniform(0.001, 0.01))},
            "fetched_at": format_time(t0 + timedelta(seconds=fetch_s)),
            "license": "platform-remix",
            "consent": {"remix_allowed": True, "revoked": False},
            "provenance": {"ai_generated": True, "generator": "simulated-video-model"},
            "extra": {"simulator": {"tree": tr, "depth": depth, "language": lang, "ops": ops,
                                    "new_styles": new_styles, "styles": list(p["styles"])}},
        }
        if copied is not None:
            rec["extra"]["simulator"]["copied_from"] = rec_id(copied)
        if P.fingerprints > 0 and media_rng.random() < P.fingerprints:
            rec["extra"]["simulator"]["pdq"] = f"{picture[i]:064x}"
        if P.no_prompt > 0 and text_rng.random() < P.no_prompt:
            del rec["prompt"]  # the prompt was written (the chain below it reads it) but the archive lacks it
        if n["parent"] >= 0:
            parent_id = f"simulate:{seed_tag}_{n['parent']:07d}"
            if P.undeclared > 0 and link_rng.random() < P.undeclared:
                rec["extra"]["simulator"]["parent"] = parent_id  # the truth, where no platform states it
            else:
                rec["parents"] = [{"id": parent_id, "relation": "remix", "evidence": "declared", "confidence": 1.0}]
        records.append(rec)

    offs = sorted(nodes[i]["t"] - nodes[tree_roots[nodes[i]["tree"]]]["t"] for i in kept if nodes[i]["parent"] >= 0)
    realised_m = [(g, c[1] / c[0]) for g, c in enumerate(gen_counts) if c[0] > 0 and g + 1 < len(gen_counts)]
    truth = {
        "params": {**asdict(P), "languages": list(P.languages)},
        "posts": len(records),
        "trees": len({nodes[i]["tree"] for i in kept}),
        "fetch_time": format_time(t0 + timedelta(seconds=fetch_s)),
        "realised": {
            "new_style_terms": n_new,
            "bled_style_terms": n_bled,
            "bleed_rate": (n_bled / n_new) if n_new else None,
            "median_remix_offset_days": (offs[len(offs) // 2] / 86400.0) if offs else None,
            "offspring_by_generation": [{"generation": g, "posts": gen_counts[g][0], "mean_offspring": m}
                                        for g, m in realised_m],
            "disjoint_style_slices": disjoint,
            "undeclared_links": sum(1 for r in records if "parent" in r["extra"]["simulator"]),
        },
    }
    return records, truth


def simulator_values(arc: Any, key: str, *, run_id: str | None = None) -> Any:
    """``id, value`` (String, String; sorted by id) of each simulated post's ``extra.simulator.<key>`` in
    its current observation (the one whose content hash the archive's posts show, as every reader sees
    it), posts without the key left out; with ``run_id``, only the posts that ingest run stored. The one
    reader of the simulator's hidden truths (``pdq``: the picture's fingerprint, ``parent``: a link left
    undeclared) from the records table; an archive without records or simulated posts gives no rows.

    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> from archive.store import Archive
    >>> arc = Archive.open(tempfile.mkdtemp() + "/a", create=True)
    >>> _ = ingest_records(arc, simulate(SimParams(seed=1, posts=5, undeclared=1.0))[0], source="simulate")
    >>> simulator_values(arc, "parent").height, simulator_values(arc, "pdq").height
    (4, 0)
    """
    import polars as pl

    from archive.store import scan_delta

    empty = pl.DataFrame(schema={"id": pl.String, "value": pl.String})
    if not arc.has_table("records"):
        return empty
    log = scan_delta(arc.table_path("records")).filter(pl.col("source") == "simulate")
    if run_id is not None:
        log = log.filter(pl.col("run_id") == run_id)
    log = log.select("id", "content_hash", "record").collect()
    if log.height == 0:
        return empty
    return (log.join(arc.posts().select("id", "content_hash"), on=["id", "content_hash"], how="semi")
            .select("id", value=pl.col("record").str.json_path_match(f"$.extra.simulator.{key}"))
            .drop_nulls("value").unique("id").sort("id"))


def write_jsonl(records: list[dict], path: str | Path, truth: dict | None = None) -> Path:
    """Write records as JSON Lines (gzip when the name ends in .gz) and the truth beside them.

    >>> import tempfile
    >>> recs, truth = simulate(SimParams(seed=1, posts=20))
    >>> out = write_jsonl(recs, tempfile.mkdtemp() + "/sim.jsonl.gz", truth)
    >>> sorted(p.name for p in out.parent.iterdir())
    ['sim.jsonl.gz', 'sim.truth.json']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:  # type: ignore[operator]
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
    if truth is not None:
        truth_file(path).write_text(json.dumps(truth, indent=2, ensure_ascii=False), "utf-8")
    return path


def truth_file(path: str | Path) -> Path:
    """Where :func:`write_jsonl` puts the truth of records written to ``path``: beside them, named by the
    records' name less its records suffixes.

    >>> [truth_file(p).as_posix() for p in ("out/sim.jsonl.gz", "my.sim.v2.jsonl", ".hidden.jsonl", "sim")]
    ['out/sim.truth.json', 'my.sim.v2.truth.json', '.hidden.truth.json', 'sim.truth.json']

    Only the records' own suffixes go (``.gz``, ``.jsonl``, ``.ndjson``, ``.json``): named up to the first
    dot, ``my.sim.v2.jsonl`` and ``my.sim.v3.jsonl`` shared one truth file, the second overwriting the first.
    """
    path = Path(path)
    name = path.name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return path.parent / f"{name}.truth.json"


class SimulateSource:
    """The simulator as a source for the ingestor (records in time order)."""

    name = "simulate"

    def __init__(self, params: SimParams) -> None:
        self.params = params
        self.target = f"seed={params.seed} posts={params.posts}"
        self.truth: dict | None = None
        self._records: list[dict] | None = None
        #: ``{"id", "pdq"}`` of every record yielded whose picture was fingerprinted (``fingerprints``)
        self.fingerprints: list[dict[str, str]] = []

    def prepare(self) -> None:
        """Simulate now (the slow part, before any record is yielded), so a caller can show it."""
        if self._records is None:
            self._records, self.truth = simulate(self.params)

    def items(self, cursor: str | None) -> Iterator[tuple[str, Any, str | None]]:
        self.prepare()
        records, self._records = self._records or [], None
        for k, r in enumerate(records):
            if "pdq" in r["extra"]["simulator"]:
                self.fingerprints.append({"id": r["id"], "pdq": r["extra"]["simulator"]["pdq"]})
            yield (f"simulate:{k}", r, None)

    def __len__(self) -> int:
        return self.params.posts

