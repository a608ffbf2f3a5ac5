"""Style terms of a prompt: the bundled style lexicon plus the record's own style tags.

The lexicon (``data/style_lexicon.json``) lists phrases by facet (medium, genre,
era, lighting, camera, palette, animation, film stock, artist reference). A
phrase is matched on normalised word tokens, whole words only, longest phrase
first and without overlaps (``film noir`` wins over ``noir``; ``stop-motion``
and ``stop motion`` are the same term ``stop motion``). Matching is one
Aho-Corasick pass per column (polars ``str.extract_many``), not a loop over phrases.
A record's ``style_tags`` are added as terms too (facet from the lexicon when the
tag is a lexicon phrase, else ``tag``).

Examples
--------
>>> match_styles("A fox in the snow, Film Noir, stop-motion, 35mm film, film grain")
['film noir', 'stop motion', '35mm film', 'film grain']
>>> load_lexicon().filter(pl.col("phrase") == "film noir")["facet"].item()
'genre'
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import polars as pl

from archive.paths import data_dir
from lineage.errors import LineageError
from lineage.text import tokens_series

__all__ = ["FACETS", "STYLES_SCHEMA", "load_lexicon", "match_styles", "styles_frame", "lexicon_path"]

FACETS = ("medium", "genre", "era", "lighting", "camera", "palette", "animation", "film_stock", "artist_reference")
STYLES_SCHEMA = {"id": pl.String, "term": pl.String, "facet": pl.String, "source": pl.String}


def lexicon_path() -> Path:
    """Where the bundled lexicon lives.

    >>> lexicon_path().name
    'style_lexicon.json'
    """
    return data_dir() / "style_lexicon.json"


@functools.lru_cache(maxsize=8)
def _load(path: str) -> pl.DataFrame:
    try:
        raw = json.loads(Path(path).read_text("utf-8"))
        facets = raw["facets"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LineageError(f"cannot read the style lexicon {path}: {exc}; it must be JSON with a 'facets' "
                           "object of phrase lists") from None
    rows = [(p, f) for f, phrases in facets.items() for p in phrases]
    df = pl.DataFrame(rows, schema={"raw": pl.String, "facet": pl.String}, orient="row")
    df = df.with_columns(tokens_series(df.get_column("raw")).alias("tokens"))
    return (
        df.filter(pl.col("tokens").list.len() > 0)
        .with_columns(phrase=pl.col("tokens").list.join(" "), n_tokens=pl.col("tokens").list.len())
        .unique("phrase", keep="first", maintain_order=True)
        .select("phrase", "facet", "n_tokens")
    )


def load_lexicon(path: str | Path | None = None) -> pl.DataFrame:
    """The style lexicon as ``phrase, facet, n_tokens`` (phrases normalised, duplicates dropped).

    >>> lex = load_lexicon()
    >>> lex.height > 300, sorted(set(lex["facet"])) == sorted(FACETS)
    (True, True)
    """
    return _load(str(path if path is not None else lexicon_path()))


def _padded(tokens: pl.Expr) -> pl.Expr:
    # every token wrapped in its own spaces, so matches cannot share a boundary
    return pl.concat_str(pl.lit(" "), tokens.list.join("  "), pl.lit(" "))


def _patterns(lexicon: pl.DataFrame) -> list[str]:
    lex = lexicon.sort(["n_tokens", "phrase"], descending=[True, False])
    return [" " + "  ".join(p.split(" ")) + " " for p in lex.get_column("phrase").to_list()]


def styles_frame(nodes: pl.DataFrame, *, lexicon: pl.DataFrame | None = None, text: str = "text",
                 tags: str = "style_tags") -> pl.DataFrame:
    """Style terms of every node: ``id, term, facet, source`` (``lexicon`` or ``tag``), one row per term.

    ``nodes`` has ``id`` and ``text`` (or ``style_tokens`` from ``tokens_series(text, boundaries=True)``,
    or, without clause breaks, ``tokens``), optionally ``style_tags``. Sorted by ``id, term``.

    >>> styles_frame(pl.DataFrame({"id": ["x"], "text": ["anamorphic, lens flare"]}))["term"].to_list()
    ['anamorphic', 'lens flare']

    >>> n = pl.DataFrame({"id": ["a", "b"], "text": ["cat, claymation", "dog"], "style_tags": [[], ["Lo-Fi"]]})
    >>> styles_frame(n).rows()
    [('a', 'claymation', 'medium', 'lexicon'), ('b', 'lo fi', 'tag', 'tag')]
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
        found = (
            base.select("id", term=_padded(pl.col("tokens")).str.extract_many(_patterns(lex), leftmost=True))
            .explode("term")
            .drop_nulls("term")
            .with_columns(pl.col("term").str.strip_chars(" ").str.replace_all("  ", " ", literal=True))
            .join(lex.select(term="phrase", facet="facet"), on="term", how="left")
            .with_columns(source=pl.lit("lexicon"))
        )
        parts.append(found)
    if tags in nodes.columns:
        t = (nodes.select(pl.col("id").cast(pl.String), tag=pl.col(tags)).explode("tag").drop_nulls("tag"))
        if t.height:
            t = t.with_columns(term=tokens_series(t.get_column("tag")).list.join(" ")).filter(pl.col("term") != "")
            t = (t.join(lex.select(term="phrase", facet="facet"), on="term", how="left")
                 .with_columns(pl.col("facet").fill_null("tag"), source=pl.lit("tag")).drop("tag"))
            parts.append(t)
    if not parts:
        return pl.DataFrame(schema=STYLES_SCHEMA)
    out = pl.concat([p.select(list(STYLES_SCHEMA)).cast(STYLES_SCHEMA) for p in parts])  # type: ignore[arg-type]
    return out.unique(["id", "term"], keep="first", maintain_order=True).sort(["id", "term"])


def match_styles(text: str | None, *, lexicon: pl.DataFrame | None = None) -> list[str]:
    """Lexicon terms in one text, in the order they appear.

    >>> match_styles("neon lighting over a 1980s city, vhs")
    ['neon lighting', '1980s', 'vhs']
    >>> match_styles("")
    []
    """
    lex = load_lexicon() if lexicon is None else lexicon
    if lex.height == 0:
        return []
    tok = tokens_series(pl.Series([text], dtype=pl.String), boundaries=True)
    got = pl.select(_padded(pl.lit(tok)).str.extract_many(_patterns(lex), leftmost=True)).item()
    return [m.strip(" ").replace("  ", " ") for m in (got.to_list() if got is not None else [])]
