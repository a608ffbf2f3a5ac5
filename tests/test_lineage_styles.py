"""The style lexicon and matching, and the simulator's prompts against the lexicon."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import polars as pl
import pytest

from archive.sources.simulate import _SLOTS, _VOCAB, SimParams, lexicon_terms, simulate
from lineage.styles import FACETS, load_lexicon, match_styles, styles_frame
from lineage.text import tokenize

LEXICON = Path(__file__).resolve().parents[1] / "data" / "style_lexicon.json"


def test_lexicon_has_several_hundred_phrases_over_every_facet():
    raw = json.loads(LEXICON.read_text("utf-8"))
    assert set(raw["facets"]) | set(raw["image_facets"]) == set(FACETS)
    lex = load_lexicon()
    assert lex.height >= 900
    counts = dict(lex.group_by("facet").len().rows())
    assert all(counts[f] >= 20 for f in FACETS)
    # phrases are stored normalised and unique (stop-motion and stop motion are one term)
    assert lex.get_column("phrase").n_unique() == lex.height
    assert "stop motion" in lex["phrase"].to_list() and "stop-motion" not in lex["phrase"].to_list()


@pytest.mark.parametrize("text, expected", [
    ("a fox, Film Noir", ["film noir"]),
    ("kodak portra 400 and kodak portra", ["kodak portra 400", "kodak portra"]),  # longest first
    ("in the style of Wes Anderson", ["in the style of wes anderson"]),
    ("found footage horror", ["found footage horror"]),
    ("claymation style, claymation", ["claymation style", "claymation"]),
    ("a noirish alley", []),                  # whole words only
    ("filmnoir", ["film noir"]),              # glued, as people type it
    ("ＦＩＬＭ　ＮＯＩＲ", ["film noir"]),      # full-width letters and space
    ("film\u200b noir", ["film noir"]),        # a zero-width space does not hide a style
    ("柴犬が踊っている, anime", ["anime"]),
    ("", []),
])
def test_match_styles(text, expected):
    assert match_styles(text) == expected


def test_styles_frame_adds_style_tags_with_facets():
    nodes = pl.DataFrame({"id": ["a", "b"], "text": ["a cat, vhs", None],
                          "style_tags": [["VHS", "Cozy Vibes"], ["film-noir"]]})
    got = styles_frame(nodes).rows()
    assert got == [("a", "cozy vibes", "tag", "tag"), ("a", "vhs", "film_stock", "lexicon"),
                   ("b", "film noir", "genre", "tag")]


def test_simulator_vocabulary_holds_no_style_phrase():
    # no slot text, and no slot texts run together (subject action setting), contains a lexicon phrase,
    # so every style the measures find in a simulated prompt is one the simulator put there
    for lang, voc in _VOCAB.items():
        for slot in _SLOTS:
            for text in voc[slot]:
                assert match_styles(text) == [], (lang, slot, text)
        sep = "" if lang in ("ja", "zh") else " "
        heads = [sep.join(x) for x in itertools.product(*(voc[s] for s in _SLOTS))]
        found = styles_frame(pl.DataFrame({"id": [str(i) for i in range(len(heads))], "text": heads}))
        assert found.height == 0, (lang, found.head(3).rows())


def test_simulated_prompts_show_exactly_their_styles():
    records, _ = simulate(SimParams(seed=5, posts=400))
    nodes = pl.DataFrame({"id": [r["id"] for r in records], "text": [r["prompt"] for r in records]})
    found = styles_frame(nodes).group_by("id").agg(pl.col("term").sort())
    got = dict(found.rows())
    for r in records:
        want = sorted(" ".join(tokenize(s)) for s in r["extra"]["simulator"]["styles"])
        assert got.get(r["id"], []) == want, r["prompt"]
    assert set(lexicon_terms())  # the simulator reads the same lexicon file


def test_a_phrase_never_spans_two_comma_separated_parts():
    # "anamorphic lens" is a phrase, but here "anamorphic" and "lens flare" are two styles
    assert match_styles("a fox, anamorphic, lens flare") == ["anamorphic", "lens flare"]
    assert match_styles("a fox, anamorphic lens, flare") == ["anamorphic lens"]
    assert match_styles("狐、anamorphic、lens flare") == ["anamorphic", "lens flare"]
