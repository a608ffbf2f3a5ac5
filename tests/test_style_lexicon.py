"""The style lexicon against real prompt habits: coverage of realistic prompts and tolerance of spelling variants.

tests/data/realistic_prompts.jsonl holds 156 prompts written for this project in the ways people really
write them (Stable Diffusion / A1111 with weights and LoRA tags, Midjourney with parameters, Sora-like video
prompts, and plain requests with no style at all); none come from the simulator or the sample.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lineage.styles import load_lexicon, match_styles, styles_frame
from lineage.text import tokenize

PROMPTS = Path(__file__).resolve().parent / "data" / "realistic_prompts.jsonl"
LEXICON = Path(__file__).resolve().parents[1] / "data" / "style_lexicon.json"


def _prompts() -> pl.DataFrame:
    rows = [json.loads(line) for line in PROMPTS.read_text("utf-8").splitlines() if line.strip()]
    return pl.DataFrame(rows).rename({"prompt": "text"})


def _coverage(frame: pl.DataFrame) -> float:
    found = styles_frame(frame.select("id", "text")).get_column("id").unique()
    return frame.get_column("id").is_in(found.implode()).mean()  # type: ignore[return-value]


def test_the_prompt_set_is_large_and_varied():
    p = _prompts()
    counts = dict(p.group_by("kind").len().rows())
    assert p.height >= 150 and p.get_column("id").n_unique() == p.height
    assert counts["sd"] >= 90 and counts["midjourney"] >= 20 and counts["video"] >= 20 and counts["plain"] >= 10


def test_at_least_80_percent_of_stable_diffusion_prompts_carry_a_style_term():
    p = _prompts()
    sd = p.filter(pl.col("kind") == "sd")
    assert _coverage(sd) >= 0.80
    assert _coverage(p.filter(pl.col("kind") == "midjourney")) >= 0.80


def test_plain_requests_get_no_style_term():
    # the other side of coverage: everyday requests with no style must not be given one
    plain = _prompts().filter(pl.col("kind") == "plain")
    assert styles_frame(plain.select("id", "text")).height == 0


@pytest.mark.parametrize("text, term", [
    ("8k", "8k"), ("8 k", "8k"), ("8K,", "8k"), ("8-k", "8k"), ("4 K", "4k"),
    ("hyper-realistic", "hyperrealistic"), ("hyperrealistic", "hyperrealistic"), ("Hyper Realistic", "hyperrealistic"),
    ("photo-realistic", "photorealistic"), ("photo realistic", "photorealistic"),
    ("unreal engine 5", "unreal engine 5"), ("Unreal-Engine-5", "unreal engine 5"), ("UE5", "unreal engine 5"),
    ("unrealengine5", "unreal engine 5"), ("unreal engine 5.2", "unreal engine 5"), ("unreal engine", "unreal engine"),
    ("octane render", "octane render"), ("Octane_Render", "octane render"), ("octanerender", "octane render"),
    ("trending on artstation", "trending on artstation"), ("Trending on ArtStation HQ", "trending on artstation hq"),
    ("trending on art station", "trending on artstation"), ("art station", "artstation"),
    ("highly detailed", "highly detailed"), ("highly-detailed", "highly detailed"), ("hyperdetailed", "hyper detailed"),
    ("concept-art", "concept art"), ("conceptart", "concept art"), ("sharp-focus", "sharp focus"),
    ("depth-of-field", "depth of field"), ("DOF", "dof"), ("black & white", "black and white"),
    ("close up", "close-up"), ("closeup", "close-up"), ("cell shaded", "cel shaded"), ("timelapse", "time-lapse"),
    ("pastel colours", "pastel colors"), ("greyscale", "grayscale"), ("raytracing", "ray tracing"),
    ("v-ray", "v-ray"), ("vray", "v-ray"), ("cinema4d", "cinema 4d"), ("f/1.8", "f/1.8"), ("f1.8", "f/1.8"),
    ("deviant art", "deviantart"), ("CG Society", "cgsociety"), ("award-winning", "award winning"),
    ("master piece", "masterpiece"), ("sci fi", "sci-fi"), ("scifi", "sci-fi"), ("low-poly", "low poly"),
    ("hr giger", "h.r. giger"), ("J.C. Leyendecker", "j.c. leyendecker"), ("Greg Rutkowski", "greg rutkowski"),
    ("simon stålenhag", "simon stalenhag"),
])
def test_common_variant_spellings_are_one_term(text, term):
    # terms are stored as normalised words ("close-up" is the term "close up")
    assert match_styles(f"a castle, {text}") == [" ".join(tokenize(term))]


def test_every_term_matches_its_spacing_hyphen_gluing_and_case_variants():
    lex = load_lexicon()
    phrases = lex.get_column("phrase").to_list()
    rows = []
    for i, ph in enumerate(phrases):
        forms = {ph, ph.upper(), ph.replace(" ", "-"), ph.replace(" ", "_"), ph.replace(" ", "")}
        rows += [(f"{i}:{k}", f, ph) for k, f in enumerate(sorted(forms))]
    frame = pl.DataFrame(rows, schema={"id": pl.String, "text": pl.String, "want": pl.String}, orient="row")
    got = styles_frame(frame.select("id", "text"), artists=False).group_by("id").agg(pl.col("term"))
    both = frame.join(got, on="id", how="left")
    bad = both.filter(pl.col("term").is_null() | (pl.col("term").list.len() != 1)
                      | (pl.col("term").list.first() != pl.col("want")))
    assert bad.height == 0, bad.head(20).rows()


def test_explicit_variants_name_lexicon_terms_and_no_listed_phrase_hides_another():
    raw = json.loads(LEXICON.read_text("utf-8"))
    lex = load_lexicon()
    owner = {p: ph for ph, pats in lex.select("phrase", "variants").iter_rows() for p in pats}
    # each phrase owns its own pattern: no listed phrase is swallowed by another's variant
    assert all(owner[" " + "  ".join(ph.split(" ")) + " "] == ph for ph in lex.get_column("phrase"))
    for canon, aliases in raw["variants"].items():
        want = match_styles(canon)
        assert len(want) == 1, canon
        for alias in aliases:
            assert match_styles(alias) == want, (alias, canon)


@pytest.mark.parametrize("text, artists", [
    ("a knight, by Jane Doe", ["jane doe"]),
    ("a knight, art by Jane Doe and John Roe", ["jane doe", "john roe"]),
    ("a knight, in the style of Ana Ruiz", ["ana ruiz"]),
    ("a knight, painting by greg rutkowski", []),        # listed: a lexicon term, not a rule guess
    ("a house by the lake", []),                          # "by" inside a clause is not a credit
    ("a city, by night", []),
    ("a village, by the sea", []),
    ("a knight, by a very long sentence that is not a name at all", []),
])
def test_unlisted_artists_after_by_are_artist_references(text, artists):
    st = styles_frame(pl.DataFrame({"id": ["x"], "text": [text]}))
    assert st.filter(pl.col("source") == "artist").get_column("term").to_list() == artists
    assert set(st.filter(pl.col("source") == "artist").get_column("facet")) <= {"artist_reference"}
