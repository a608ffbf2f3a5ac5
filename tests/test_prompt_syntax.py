"""Real prompt syntax: emoji are words, emphasis weights and resource tags are not, negative prompts stay apart.

The case drift-sd-weights-and-emoji (tests/data/drift-sd-weights-and-emoji/sd.jsonl) is checked end to end
through `archivist drift --json`, before and after `archivist analyze`.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from archive.ingest import ingest_records
from archive.store import Archive
from dashboard import textviews
from dashboard.cli import cli
from lineage.blame import blame_path
from lineage.drift import edge_drift, token_diff
from lineage.styles import styles_frame
from lineage.syntax import negative_prompt, prompt_resources, split_prompt, strip_syntax
from lineage.text import tokenize, tokens_series, weighted_tokens

CASE = Path(__file__).resolve().parent / "data" / "drift-sd-weights-and-emoji" / "sd.jsonl"


def _drift_json(store: Path, post: str) -> dict:
    res = CliRunner().invoke(cli, ["drift", post, "--archive", str(store), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize("analysed", [False, True], ids=["computed now", "stored analysis"])
def test_case_emoji_change_is_drift_and_a_weight_change_is_a_weight_edit(tmp_path, analysed):
    store = tmp_path / "arc"
    res = CliRunner().invoke(cli, ["ingest", "jsonl", str(CASE), "--archive", str(store)])
    assert res.exit_code == 0, res.output
    if analysed:
        res = CliRunner().invoke(cli, ["analyze", "--archive", str(store)])
        assert res.exit_code == 0, res.output
    out = _drift_json(store, "sd:3")
    step = {r["id"]: r for r in out["path"]}
    # 🐱 -> 🐶: the subject changed; 1 of 7 distinct tokens each side differs: 1 - 5/7
    assert step["sd:2"]["edge_drift"] == pytest.approx(2 / 7)
    assert step["sd:2"]["replaced"] == ["🐱 → 🐶"]
    # (oil painting:1.2) -> (oil painting:1.5): no word changed, the weight did
    assert step["sd:3"]["edge_drift"] == 0.0
    assert step["sd:3"]["added"] == step["sd:3"]["removed"] == step["sd:3"]["replaced"] == []
    assert step["sd:3"]["reweighted"] == ["oil painting: 1.2 → 1.5"]
    blame = {b["token"]: b for b in out["blame"]}
    assert list(blame) == ["🐶", "astronaut", "in", "space", "oil", "painting"]  # no "1", "2", "5"
    assert blame["painting"]["introduced_by"] == "sd:1" and blame["painting"]["weight"] == 1.5
    assert blame["🐶"]["introduced_by"] == "sd:2"


@pytest.mark.parametrize("text, expected", [
    ("🐱 astronaut", ["🐱", "astronaut"]),
    ("🐱🐶", ["🐱", "🐶"]),                                        # an emoji-only prompt has words
    ("family 👨\u200d👩\u200d👧 and 👍🏽 ❤️", ["family", "👨\u200d👩\u200d👧", "and", "👍🏽", "❤️"]),
    ("🇯🇵 flag, 1️⃣ keycap", ["🇯🇵", "flag", "1️⃣", "keycap"]),
    ("brand © ®", ["brand"]),                                     # © and ® are not emoji
    ("(oil painting:1.2)", ["oil", "painting"]),
    ("((masterpiece)), [blurry], {cute}", ["masterpiece", "blurry", "cute"]),
    ("(red:1.3) (blue: 0.8 )", ["red", "blue"]),
    ("[cat|dog]", ["cat", "dog"]),
    ("[day:night:0.5], [snow:10], [rain::0.25]", ["day", "night", "snow", "rain"]),
    ("a knight <lora:add_detail:0.8> <LyCORIS:film:0.6> <hypernet:anime:1>", ["a", "knight"]),
    ("(embedding:EasyNegative:1.2) portrait", ["portrait"]),
    ("a fox\nNegative prompt: blurry, lowres\nSteps: 20, Sampler: Euler a, CFG scale: 7", ["a", "fox"]),
    ("a fox, forest BREAK night sky", ["a", "fox", "forest", "night", "sky"]),
    ("https://s.mj.run/x1 a fox --ar 16:9 --no text --v 6", ["a", "fox"]),
    ("red fox::2 snow::1", ["red", "fox", "snow"]),
    (r"smile \(happy\)", ["smile", "happy"]),
    ("16:9 ratio at 10:30", ["16", "9", "ratio", "at", "10", "30"]),  # colons outside brackets are text
])
def test_tokenize_reads_prompt_syntax(text, expected):
    assert tokenize(text) == expected
    # the vectorised paths (ASCII fast path, full path, clause breaks) agree with tokenize
    assert tokens_series(pl.Series([text, "x"] * 600)).to_list()[0] == expected
    with_breaks = tokens_series(pl.Series([text]), boundaries=True).to_list()[0]
    assert [t for t in with_breaks if t != "\x1f"] == expected


@pytest.mark.parametrize("text, expected", [
    ("a ((cat)), (oil painting:1.2), [fog]", [("a", 1.0), ("cat", 1.21), ("oil", 1.2), ("painting", 1.2),
                                             ("fog", 0.9091)]),
    ("((a (b:1.5)))", [("a", 1.21), ("b", 1.815)]),
    ("[cat|dog] [day:night:0.5]", [("cat", 1.0), ("dog", 1.0), ("day", 1.0), ("night", 1.0)]),
    ("{glow}", [("glow", 1.05)]),
    ("(unclosed paren, cat", [("unclosed", 1.0), ("paren", 1.0), ("cat", 1.0)]),
    ("🐶 (oil painting:1.5) <lora:x:0.7>", [("🐶", 1.0), ("oil", 1.5), ("painting", 1.5)]),
    ("", []),
])
def test_weighted_tokens_follow_a1111_emphasis(text, expected):
    got = weighted_tokens(text)
    assert got == expected
    assert [t for t, _ in got] == tokenize(text)


def test_weight_only_edits_are_not_drift_but_are_reported():
    nodes = pl.DataFrame({"id": ["r", "a", "b", "c"], "text": [
        "portrait of a knight, (highly detailed:1.2), sharp focus",
        "portrait of a knight, (highly detailed:1.4), ((sharp focus))",      # two weights changed
        "portrait of a knight, highly detailed, sharp focus <lora:add_detail:0.8>",  # emphasis dropped, a LoRA
        "portrait of a dragon, (highly detailed:1.2), sharp focus",          # a word changed
    ]})
    edges = pl.DataFrame({"child": ["a", "b", "c"], "parent": ["r", "r", "r"]})
    e = edge_drift(nodes, edges)
    assert e["drift"].to_list()[:2] == [0.0, 0.0] and e["edit"].to_list()[:2] == [0.0, 0.0]
    assert e["reweighted"].to_list() == [["highly detailed: 1.2 → 1.4", "sharp focus: 1 → 1.21"],
                                         ["highly detailed: 1.2 → 1"], []]
    assert e["drift"][2] > 0 and e["replaced"][2].to_list() == ["knight → dragon"]
    # the token-list path (what analyze uses) reports the same
    from lineage.drift import node_tokens
    e2 = edge_drift(node_tokens(nodes), edges)
    assert e2["reweighted"].to_list() == e["reweighted"].to_list()
    assert edge_drift(nodes, edges, ops=False)["reweighted"].to_list() == [[], [], []]


def test_token_diff_and_blame_carry_weights():
    ops = token_diff("a (fox:1.2) in snow", "a (fox:1.5) in (snow:0.8), 🌙", weights=True)
    assert ops == [("equal", "a", 1.0, 1.0), ("reweighted", "fox", 1.2, 1.5), ("equal", "in", 1.0, 1.0),
                   ("reweighted", "snow", 1.0, 0.8), ("added", "🌙", None, 1.0)]
    assert token_diff("a (fox:1.2)", "a (fox:1.5)") == [("equal", "a"), ("equal", "fox")]
    b = blame_path([("r", "a (fox:1.2) in snow"), ("c", "a ((fox)) in snow, 🌙")])
    assert b.select("token", "introduced_by", "weight").rows() == [
        ("a", "r", 1.0), ("fox", "r", 1.21), ("in", "r", 1.0), ("snow", "r", 1.0), ("🌙", "c", 1.0)]


def test_dashboard_diff_and_blame_show_weights_as_text():
    d = textviews.diff_view(token_diff("a (fox:1.2)", "a (fox:1.5) <b>", weights=True))
    flat = [c for c in d.children[0].children if not isinstance(c, str)]
    assert [(c.children, c.className) for c in flat] == [
        ("a", "w-eq"), ("fox", "w-rew"), ("1.2→1.5", "w-weight"), ("b", "w-add")]
    assert d.children[1].children == "1 word(s) added, 0 removed, 1 reweighted"
    v = textviews.blame_view([{"word": "fox", "generation": 0, "node": "r", "weight": 1.5},
                              {"word": "den", "generation": 1, "node": "c", "weight": 1.0}])
    assert [(c.children, c.className) for c in v.children if not isinstance(c, str)] == [
        ("fox", "w-blame"), ("1.5", "w-weight"), ("den", "w-blame")]


def test_resources_are_not_words_but_style_signals():
    text = "a castle <lora:ghibli_background:0.7>, <lyco:watercolor_v2:0.5>, embedding:BadDream, 8k"
    assert prompt_resources(text) == [{"kind": "lora", "name": "ghibli_background", "weight": 0.7},
                                      {"kind": "lyco", "name": "watercolor_v2", "weight": 0.5},
                                      {"kind": "embedding", "name": "baddream", "weight": None}]
    assert tokenize(text) == ["a", "castle", "8k"]
    st = styles_frame(pl.DataFrame({"id": ["x"], "text": [text]}))
    assert st.select("term", "facet", "source").rows() == [
        ("8k", "film_stock", "lexicon"), ("embedding:baddream", "resource", "resource"),
        ("lora:ghibli_background", "resource", "resource"), ("lyco:watercolor_v2", "resource", "resource")]


def test_resources_given_by_the_source_are_style_signals_too():
    # Civitai gives resources beside the prompt (meta.resources): {type, name, weight}
    n = pl.DataFrame({"id": ["c"], "text": ["a lighthouse"],
                      "resources": [[{"type": "lora", "name": "Ukiyo-e Style", "weight": 0.8},
                                     {"type": "LoCon", "name": "grain", "weight": 0.4}]]})
    assert styles_frame(n).select("term", "source").rows() == [("lora:ukiyo-e style", "resource"),
                                                                ("lyco:grain", "resource")]


def test_negative_prompts_are_kept_apart(tmp_path):
    assert split_prompt("a fox\r\nNegative prompt: (worst quality:1.4), cat\r\nSteps: 30, Seed: 1") == (
        "a fox", "(worst quality:1.4), cat", "Steps: 30, Seed: 1")
    assert split_prompt("a fox --no cat, dog --ar 3:2") == ("a fox", "cat, dog", "--ar 3:2")
    assert negative_prompt({"prompt": "a fox", "extra": {"negative_prompt": "cat"}}) == "cat"
    assert negative_prompt({"prompt": "a fox", "extra": {"meta": {"id": 1, "meta": {"negativePrompt": "dog"}}}}) \
        == "dog"
    assert negative_prompt({"prompt": "a fox\nNegative prompt: owl"}) == "owl"
    assert strip_syntax("a fox\nNegative prompt: owl") == "a fox"
    # through the store: a negative prompt in extra or in the prompt's own line never reaches drift
    a = Archive.open(tmp_path / "arc", create=True)
    recs = [{"id": "n:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a red fox",
             "extra": {"negative_prompt": "blurry, cat"}},
            {"id": "n:2", "source": "t", "created_at": "2026-01-02T00:00:00Z",
             "prompt": "a red fox\nNegative prompt: dog, lowres", "parents": [{"id": "n:1"}]}]
    ingest_records(a, recs, source="t")
    posts = a.posts().sort("id")
    e = edge_drift(posts.select("id", "text", "placeholder"), pl.DataFrame({"child": ["n:2"], "parent": ["n:1"]}))
    assert e["drift"].item() == 0.0
    assert negative_prompt(recs[1]) == "dog, lowres"
