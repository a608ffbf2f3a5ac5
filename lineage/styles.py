"""Style terms of a prompt: the bundled style lexicon, artist references, resources and the record's tags.

The lexicon (``data/style_lexicon.json``) lists phrases by facet (medium, genre, era,
lighting, camera, palette, animation, film stock, artist reference, and from real
text-to-image prompts: quality boosters, render engines, platforms). A phrase is matched
on normalized word tokens, whole words only, longest phrase first and without overlaps
(``film noir`` wins over ``noir``), never across a clause break (a comma). Matching is
tolerant of how people really type: every phrase also matches its spacing, hyphen and
gluing variants (``8k`` / ``8 k``, ``hyper-realistic`` / ``hyperrealistic``,
``unreal engine 5`` / ``unrealengine5``), British/American spellings, the split form of a
word with a known prefix (``hyperdetailed`` / ``hyper detailed``) and the lexicon's explicit
aliases (``ue5`` -> ``unreal engine 5``); each variant counts as its canonical term.
Matching is one Aho-Corasick pass per column (polars ``str.extract_many``), not a loop.

Besides lexicon phrases, a node's terms are: an *artist reference* named after a marker at
the start of a clause (``by Jane Doe``, ``art by A and B``, ``in the style of X``) even when
the name is not listed (facet ``artist_reference``, source ``artist``); each resource tag of
the prompt (``<lora:name:0.8>`` -> ``lora:name``, facet ``resource``, source ``resource``,
see :mod:`lineage.syntax`); and the record's ``style_tags`` (facet from the lexicon when the
tag is a lexicon phrase, else ``tag``).

Examples
--------
>>> match_styles("A fox in the snow, Film Noir, stop-motion, 35mm film, film grain")
['film noir', 'stop motion', '35mm film', 'film grain']
>>> match_styles("castle, hyper-realistic, 8 K, Unreal-Engine 5, trending on ArtStation")
['hyperrealistic', '8k', 'unreal engine 5', 'trending on artstation']
>>> load_lexicon().filter(pl.col("phrase") == "film noir")["facet"].item()
'genre'
"""
from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from archive.paths import data_dir
from lineage.errors import LineageError
from lineage.syntax import RESOURCE_KINDS, prompt_resources
from lineage.text import BOUNDARY, normalize, tokens_series

__all__ = ["FACETS", "STYLES_SCHEMA", "load_lexicon", "match_styles", "styles_frame", "lexicon_path",
           "phrase_variants"]

FACETS = ("medium", "genre", "era", "lighting", "camera", "palette", "animation", "film_stock", "artist_reference",
          "quality", "render_engine", "platform")
STYLES_SCHEMA = {"id": pl.String, "term": pl.String, "facet": pl.String, "source": pl.String}
_MAX_GLUE = 5  # phrases up to this many words get every gluing variant; longer ones only the fully glued one


def lexicon_path() -> Path:
    """Where the bundled lexicon lives.

    >>> lexicon_path().name
    'style_lexicon.json'
    """
    return data_dir() / "style_lexicon.json"


@functools.lru_cache(maxsize=8)
def _raw(path: str) -> dict[str, Any]:
    try:
        raw = json.loads(Path(path).read_text("utf-8"))
        if not isinstance(raw["facets"], dict):
            raise TypeError("'facets' is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LineageError(f"cannot read the style lexicon {path}: {exc}; it must be JSON with a 'facets' "
                           "object of phrase lists") from None
    return raw


def _tok(texts: list[str]) -> list[list[str]]:
    return tokens_series(pl.Series(texts, dtype=pl.String)).to_list() if texts else []


def phrase_variants(tokens: list[str] | tuple[str, ...], *, spellings: dict[str, str] | None = None,
                    prefixes: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every token sequence that spells the phrase ``tokens`` (the phrase itself first).

    Gluing neighbours (``unreal engine 5`` -> ``unrealengine 5``, ``unrealengine5``…), splitting
    digits from letters (``8k`` -> ``8 k``), spelling pairs (``colour``/``color``) and splitting a
    word after a known prefix (``hyperrealistic`` -> ``hyper realistic``).

    >>> phrase_variants(["8k"])
    [('8k',), ('8', 'k')]
    >>> ("hyper", "realistic") in phrase_variants(["hyperrealistic"], prefixes=("hyper",))
    True
    >>> ("octanerender",) in phrase_variants(["octane", "render"])
    True
    """
    sp = dict(spellings or {})
    sp.update({v: k for k, v in list(sp.items())})
    bases: list[tuple[str, ...]] = [tuple(tokens)]
    swapped = tuple(sp.get(t, t) for t in tokens)
    bases.append(swapped)
    for base in list(bases):
        split: list[str] = []
        for t in base:
            m = re.fullmatch(r"(\d+)([^\W\d_]+)|([^\W\d_]+)(\d+)", t)
            if m:
                split.extend(x for x in m.groups() if x)
                continue
            for pre in prefixes:
                if t.startswith(pre) and len(t) >= len(pre) + 2 and t != pre:
                    split.extend([pre, t[len(pre):]])
                    break
            else:
                split.append(t)
        bases.append(tuple(split))
    out: dict[tuple[str, ...], None] = {}
    for base in bases:
        n = len(base)
        if n <= _MAX_GLUE:
            for glue in itertools.product((False, True), repeat=max(0, n - 1)):
                seq = [base[0]] if n else []
                for tok, g in zip(base[1:], glue):
                    if g:
                        seq[-1] += tok
                    else:
                        seq.append(tok)
                out.setdefault(tuple(seq), None)
        else:
            out.setdefault(base, None)
            out.setdefault(("".join(base),), None)
    return [v for v in out if v]


def _pattern(seq: tuple[str, ...] | list[str]) -> str:
    return " " + "  ".join(seq) + " "


@functools.lru_cache(maxsize=8)
def _load(path: str) -> pl.DataFrame:
    raw = _raw(path)
    rows = [(p, f) for section in ("facets", "image_facets") for f, phrases in (raw.get(section) or {}).items()
            for p in phrases]
    df = pl.DataFrame(rows, schema={"raw": pl.String, "facet": pl.String}, orient="row")
    df = df.with_columns(tokens_series(df.get_column("raw")).alias("tokens"))
    lex = (df.filter(pl.col("tokens").list.len() > 0)
           .with_columns(phrase=pl.col("tokens").list.join(" "), n_tokens=pl.col("tokens").list.len())
           .unique("phrase", keep="first", maintain_order=True))
    spellings = {str(k): str(v) for k, v in (raw.get("spellings") or {}).items()}
    prefixes = tuple(str(p) for p in raw.get("split_prefixes") or ())
    phrases = lex.get_column("phrase").to_list()
    known = set(phrases)
    pats: dict[str, list[str]] = {p: [] for p in phrases}
    claimed = {_pattern(p.split(" ")): p for p in phrases}  # a listed phrase always means itself
    aliases = raw.get("variants") or {}
    alias_canon = [str(k) for k, v in aliases.items() for _ in v]
    alias_text = [str(a) for v in aliases.values() for a in v]
    canon_tok = dict(zip(alias_canon, _tok(alias_canon)))
    todo: list[tuple[str, list[str]]] = [(p, p.split(" ")) for p in phrases]
    for canon, toks in zip(alias_canon, _tok(alias_text)):
        c = " ".join(canon_tok[canon])
        if c not in known:
            raise LineageError(f"the style lexicon {path} lists variants of {canon!r}, which is not one of its "
                               "phrases: add it to a facet or fix the spelling")
        if toks:
            todo.append((c, toks))
    for phrase, toks in todo:
        for seq in phrase_variants(toks, spellings=spellings, prefixes=prefixes):
            pat = _pattern(seq)
            if pat not in claimed:
                claimed[pat] = phrase
    for pat, phrase in claimed.items():
        pats[phrase].append(pat)
    return (lex.with_columns(variants=pl.Series([pats[p] for p in phrases], dtype=pl.List(pl.String)))
            .select("phrase", "facet", "n_tokens", "variants"))


def load_lexicon(path: str | Path | None = None) -> pl.DataFrame:
    """The style lexicon as ``phrase, facet, n_tokens, variants`` (phrases normalized, duplicates dropped).

    ``variants`` are the padded token patterns that count as the phrase (its own first).

    >>> lex = load_lexicon()
    >>> lex.height > 900, sorted(set(lex["facet"])) == sorted(FACETS)
    (True, True)
    >>> lex.filter(pl.col("phrase") == "unreal engine 5")["variants"].item().to_list()[:3]
    [' unreal  engine  5 ', ' unreal  engine5 ', ' unrealengine  5 ']
    """
    return _load(str(path if path is not None else lexicon_path()))


@functools.lru_cache(maxsize=1)
def _artist_rule() -> tuple[str | None, frozenset[str], tuple[str, ...]]:
    """The regex (polars/Rust syntax) that takes the names after an artist marker, the words that are no names,
    and the last words of the markers."""
    raw = _raw(str(lexicon_path()))
    markers = sorted({" ".join(t) for t in _tok([str(m) for m in raw.get("artist_markers") or ()]) if t},
                     key=lambda m: (-len(m), m))
    if not markers:
        return None, frozenset(), ()
    not_names = frozenset(" ".join(t) for t in _tok([str(x) for x in raw.get("not_names") or ()]) if t)
    last_words = tuple(sorted({m.split(" ")[-1] for m in markers}))
    return r"^(?:" + "|".join(re.escape(m) for m in markers) + r") (.+)$", not_names, last_words


def _padded(tokens: pl.Expr) -> pl.Expr:
    # every token wrapped in its own spaces, so matches cannot share a boundary
    return pl.concat_str(pl.lit(" "), tokens.list.join("  "), pl.lit(" "))


def _pattern_table(lexicon: pl.DataFrame) -> pl.DataFrame:
    """``pattern, term, facet``: every padded pattern of the lexicon, longest first (so the longest match wins)."""
    if "variants" in lexicon.columns:
        pats = lexicon.select(pattern="variants", term="phrase", facet="facet").explode("pattern")
    else:  # a lexicon frame made by hand: the phrase and its gluing variants
        rows = [(_pattern(v), ph, f) for ph, f in lexicon.select("phrase", "facet").iter_rows()
                for v in phrase_variants(ph.split(" "))]
        pats = pl.DataFrame(rows, schema={"pattern": pl.String, "term": pl.String, "facet": pl.String}, orient="row")
    return (pats.drop_nulls("pattern").unique("pattern", keep="first", maintain_order=True)
            .with_columns(_len=pl.col("pattern").str.len_chars())
            .sort(["_len", "pattern"], descending=[True, False]).drop("_len"))


def _lexicon_terms(base: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """``id, term, facet`` of lexicon matches on a frame with ``id, tokens``."""
    return (
        base.select("id", pattern=_padded(pl.col("tokens")).str.extract_many(table.get_column("pattern").to_list(),
                                                                             leftmost=True))
        .explode("pattern")
        .drop_nulls("pattern")
        .join(table, on="pattern", how="left", maintain_order="left")
        .select("id", "term", "facet")
    )


def _artist_terms(base: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """``id, term, facet`` of names after an artist marker at the start of a clause, not already lexicon terms."""
    rx, not_names, last_words = _artist_rule()
    empty = pl.DataFrame(schema={"id": pl.String, "term": pl.String, "facet": pl.String})
    if rx is None or base.height == 0:
        return empty
    # only prompts holding a marker's last word ("by", "of") are split into clauses
    has = [pl.col("tokens").list.contains(k) for k in last_words]
    cand = base.filter(functools.reduce(lambda a, b: a | b, has))
    clauses = (cand.select("id", clause=pl.col("tokens").list.join(" ").str.split(BOUNDARY)).explode("clause")
               .with_columns(pl.col("clause").str.strip_chars(" ")).filter(pl.col("clause").str.contains(r"^\S")))
    names = (clauses.select("id", names=pl.col("clause").str.extract(rx, 1)).drop_nulls("names")
             .select("id", term=pl.col("names").str.split(" and ")).explode("term")
             .with_columns(pl.col("term").str.strip_chars(" "))
             .filter(pl.col("term").str.count_matches(" ").is_between(0, 3), pl.col("term") != "",
                     ~pl.col("term").str.split(" ").list.first().is_in(list(not_names)),
                     ~pl.col("term").is_in(list(not_names)),
                     ~pl.col("term").str.contains(r"^[\d ]+$")))
    if names.height == 0:
        return empty
    # a name that holds a lexicon term is counted by the lexicon already
    hits = _lexicon_terms(names.select("id", "term", tokens=pl.col("term").str.split(" ")).with_row_index("_n")
                          .select(id=pl.col("_n").cast(pl.String), tokens="tokens"), table)
    listed = hits.get_column("id").cast(pl.Int64).unique()
    return (names.with_row_index("_n").filter(~pl.col("_n").cast(pl.Int64).is_in(listed.implode()))
            .select("id", "term", facet=pl.lit("artist_reference")))


def _resource_terms(nodes: pl.DataFrame, text: str, resources: str) -> pl.DataFrame:
    """``id, term, facet`` of the resource tags in the prompts (``lora:name``…) and of a ``resources`` column
    (a list of ``{type or kind, name}`` structs, as Civitai's ``meta.resources`` give them)."""
    rows: list[tuple[str, str]] = []
    if text in nodes.columns:
        cand = nodes.select(pl.col("id").cast(pl.String), t=pl.col(text).cast(pl.String)).filter(
            pl.col("t").str.contains(r"(?i)<[ \t]*[a-z_]+[ \t]*:|embedding:").fill_null(False))
        rows += [(i, f"{r['kind']}:{r['name']}") for i, t in cand.iter_rows() for r in prompt_resources(t)]
    dtype = nodes.schema.get(resources)
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
        fields = {f.name for f in dtype.inner.fields}
        kind_f = "kind" if "kind" in fields else "type" if "type" in fields else None
        if "name" in fields and kind_f:
            res = (nodes.select(pl.col("id").cast(pl.String), r=pl.col(resources)).explode("r").drop_nulls("r")
                   .select("id", k=pl.col("r").struct.field(kind_f).cast(pl.String).str.to_lowercase(),
                           n=pl.col("r").struct.field("name").cast(pl.String))
                   .drop_nulls())
            kinds = {k: RESOURCE_KINDS.get(k, k) for k in res.get_column("k").unique().to_list()}
            rows += [(i, f"{kinds[k]}:{normalize(n)}") for i, k, n in res.iter_rows() if normalize(n)]
    return pl.DataFrame(rows, schema={"id": pl.String, "term": pl.String}, orient="row").with_columns(
        facet=pl.lit("resource"))


def styles_frame(nodes: pl.DataFrame, *, lexicon: pl.DataFrame | None = None, text: str = "text",
                 tags: str = "style_tags", resources: str = "resources", artists: bool = True) -> pl.DataFrame:
    """Style terms of every node: ``id, term, facet, source`` (``lexicon``, ``artist``, ``resource`` or ``tag``).

    ``nodes`` has ``id`` and ``text`` (or ``style_tokens`` from ``tokens_series(text, boundaries=True)``,
    or, without clause breaks, ``tokens``), optionally ``style_tags``. Resource tags are read from
    ``text`` when it is there, and from a ``resources`` column (list of ``{type, name}`` structs, e.g. a
    record's ``provenance.resources``) when given. ``artists=False`` leaves out the unlisted names after "by".
    One row per ``(id, term)``, sorted by ``id, term``.

    >>> styles_frame(pl.DataFrame({"id": ["x"], "text": ["anamorphic, lens flare"]}))["term"].to_list()
    ['anamorphic', 'lens flare']

    >>> n = pl.DataFrame({"id": ["a", "b"], "text": ["cat, claymation", "dog"], "style_tags": [[], ["Lo-Fi"]]})
    >>> styles_frame(n).rows()
    [('a', 'claymation', 'medium', 'lexicon'), ('b', 'lo fi', 'genre', 'tag')]
    >>> sd = pl.DataFrame({"id": ["s"], "text": ["a knight, art by Jane Doe and greg rutkowski <lora:inkpunk:0.7>"]})
    >>> styles_frame(sd).select("term", "facet", "source").rows()
    [('greg rutkowski', 'artist_reference', 'lexicon'), ('jane doe', 'artist_reference', 'artist'), \
('lora:inkpunk', 'resource', 'resource')]
    """
    lex = load_lexicon() if lexicon is None else lexicon
    if "style_tokens" in nodes.columns:  # tokens_series(text, boundaries=True), made by the caller
        tok = nodes.get_column("style_tokens")
    elif text in nodes.columns:  # clause breaks (commas…) kept: a phrase never spans two parts of a prompt
        tok = tokens_series(nodes.get_column(text), boundaries=True)
    elif "tokens" in nodes.columns:
        tok = nodes.get_column("tokens")
    else:
        tok = pl.Series([[]] * nodes.height, dtype=pl.List(pl.String))
    base = pl.DataFrame({"id": nodes.get_column("id").cast(pl.String), "tokens": tok})
    parts = []
    if lex.height:
        table = _pattern_table(lex)
        parts.append(_lexicon_terms(base, table).with_columns(source=pl.lit("lexicon")))
        if artists:
            parts.append(_artist_terms(base, table).with_columns(source=pl.lit("artist")))
    parts.append(_resource_terms(nodes, text, resources).with_columns(source=pl.lit("resource")))
    if tags in nodes.columns:
        t = (nodes.select(pl.col("id").cast(pl.String), tag=pl.col(tags)).explode("tag").drop_nulls("tag"))
        if t.height:
            t = t.with_columns(term=tokens_series(t.get_column("tag")).list.join(" ")).filter(pl.col("term") != "")
            t = (t.join(lex.select(term="phrase", facet="facet"), on="term", how="left")
                 .with_columns(pl.col("facet").fill_null("tag"), source=pl.lit("tag")).drop("tag"))
            parts.append(t)
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema=STYLES_SCHEMA)
    out = pl.concat([p.select(list(STYLES_SCHEMA)).cast(STYLES_SCHEMA) for p in parts])  # type: ignore[arg-type]
    return out.unique(["id", "term"], keep="first", maintain_order=True).sort(["id", "term"])


def match_styles(text: str | None, *, lexicon: pl.DataFrame | None = None) -> list[str]:
    """Lexicon terms in one text, in the order they appear (each variant spelling as its canonical term).

    >>> match_styles("neon lighting over a 1980s city, vhs")
    ['neon lighting', '1980s', 'vhs']
    >>> match_styles("UE5, octanerender, 8 k, hyperdetailed")
    ['unreal engine 5', 'octane render', '8k', 'hyper detailed']
    >>> match_styles("")
    []
    """
    lex = load_lexicon() if lexicon is None else lexicon
    if lex.height == 0:
        return []
    tok = tokens_series(pl.Series([text], dtype=pl.String), boundaries=True)
    found = _lexicon_terms(pl.DataFrame({"id": ["0"], "tokens": tok}), _pattern_table(lex))
    return found.get_column("term").to_list()
