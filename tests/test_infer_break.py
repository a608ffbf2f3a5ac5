"""Inference broken on purpose (session 22): each hostile input with the value a historian would call right."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

import lineage.infer as I

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _frame(rows: list[tuple[str, float, str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"id": [r[0] for r in rows],
                         "created_at": [T0 + timedelta(minutes=r[1]) for r in rows],
                         "text": [r[2] for r in rows], "author": [r[3] for r in rows]})


def test_an_authors_unrelated_posts_in_other_scripts_are_not_linked():
    # one author posts five prompts that share no word (English, Arabic, Japanese, emoji, English):
    # nothing earlier is similar, so each starts its own tree (the same author is no evidence alone)
    posts = _frame([("t:3", 3, "cat", "@a"),
                    ("t:7", 7, "猫が海でサーフィン", "@a"),
                    ("t:9", 9, "قطة تركب الأمواج في البحر", "@a"),
                    ("t:11", 11, "🐱🌊🏄", "@a"),
                    ("t:13", 13, "a red fox jumps over the lazy dog at dawn", "@a"),
                    # others' copies, so the archive is not only one author's
                    ("t:4", 4, "cat", "@b"), ("t:8", 8, "猫が海でサーフィン, 4k", "@d"),
                    ("t:12", 12, "🐱🌊🏄", "@f")])
    e = I.infer_frame(posts).edges
    lone = {"t:7", "t:9", "t:11", "t:13"}
    assert e.filter(pl.col("child").is_in(list(lone))).height == 0, e
    # a real shared word still links: the copies find their originals
    assert dict(zip(e["child"], e["parent"])) == {"t:4": "t:3", "t:8": "t:7", "t:12": "t:11"}


def test_a_late_ingest_rerun_equals_a_full_run_when_earlier_links_were_second_stage(tmp_path):
    # the new posts all come after the first batch, so most earlier links are kept; some of those are
    # second-stage links (which take none of a parent's published remixes): counted as taken, they closed
    # parents to the new posts that a full run leaves open, and the incremental run ended different
    from polars.testing import assert_frame_equal

    from archive.ingest import ingest_records
    from archive.sources.simulate import SimParams, simulate
    from archive.store import Archive

    recs = simulate(SimParams(seed=9, posts=900, self_remix=0.2, repost=0.1))[0]
    for r in recs:
        r.pop("parents", None)
    recs.sort(key=lambda r: (r["created_at"], r["id"]))
    inc = Archive.open(tmp_path / "inc", create=True)
    ingest_records(inc, recs[:600], source="simulate")
    I.infer(inc)
    ingest_records(inc, recs[600:], source="simulate")
    s = I.infer(inc)
    assert s["recomputed"] <= 300
    full = Archive.open(tmp_path / "full", create=True)
    ingest_records(full, recs, source="simulate")
    I.infer(full)
    cols = ["child", "parent", "confidence", "features"]
    assert_frame_equal(I.inferred_edges(inc).select(cols), I.inferred_edges(full).select(cols))


def test_a_plain_run_after_a_since_or_source_run_gives_every_post_its_parent(tmp_path):
    # `infer --since D` then `infer` used to say "nothing new" and leave every post before D without a
    # parent for good; a second, wider --since was ignored the same way. The right value: a full run.
    from polars.testing import assert_frame_equal

    from archive.ingest import ingest_records
    from archive.sources.simulate import SimParams, simulate
    from archive.store import Archive

    recs = simulate(SimParams(seed=11, posts=500))[0]
    for r in recs:
        r.pop("parents", None)
    times = sorted(r["created_at"] for r in recs)
    late, mid = times[400], times[200]
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs, source="simulate")
    full = Archive.open(tmp_path / "full", create=True)
    ingest_records(full, recs, source="simulate")
    I.infer(full)
    cols = ["child", "parent", "confidence"]
    want = I.inferred_edges(full).select(cols)
    I.infer(a, since=late)
    n_late = I.inferred_edges(a).height
    I.infer(a, since=mid)  # a wider scope is computed, not skipped as "nothing new"
    assert I.inferred_edges(a).height > n_late + 100
    I.infer(a, source="simulate")
    s = I.infer(a)
    assert s["recomputed"] == 500
    assert_frame_equal(I.inferred_edges(a).select(cols), want)
    assert I.infer(a)["recomputed"] == 0  # and then a rerun is incremental again


def test_node_table_exports_with_inferred_links_say_which_parents_are_guesses(tmp_path):
    # CSV, Parquet and Newick write one parent per node; with --edges all an inferred parent was written
    # exactly like a declared one (a guess passed off as a fact)
    import io

    from archive.export import export
    from archive.export.newick import parse_newick
    from archive.ingest import ingest_records
    from archive.store import Archive

    def rec(i, minutes, prompt, parents=()):
        return {"id": f"t:{i}", "source": "t", "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
                "author": f"@{i}", "prompt": prompt, "parents": list(parents)}

    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [rec(1, 0, "a corgi surfing in tokyo at night"),
                       rec(2, 60, "a corgi surfing in tokyo at night, noir", parents=["t:1"]),
                       rec(3, 120, "a corgi surfing in tokyo at night, noir, film grain")])
    I.infer(a)
    assert I.inferred_edges(a).select("child", "parent").rows() == [("t:3", "t:2")]
    want = {"t:1": (None, None), "t:2": ("declared", 1.0), "t:3": ("inferred", True)}
    for fmt in ("csv", "parquet"):
        data = export(a, fmt, edges="all")
        n = pl.read_csv(io.BytesIO(data)) if fmt == "csv" else pl.read_parquet(io.BytesIO(data))
        got = {r["id"]: (r["parent_evidence"], r["parent_confidence"]) for r in n.iter_rows(named=True)}
        assert got["t:1"] == want["t:1"] and got["t:2"] == want["t:2"], (fmt, got)
        assert got["t:3"][0] == "inferred" and 0 < got["t:3"][1] <= 1, (fmt, got)
    nhx = {r["name"]: r["nhx"] for r in parse_newick(export(a, "newick", edges="all").decode())}
    assert nhx["t:3"].get("evidence") == "inferred" and 0 < float(nhx["t:3"]["confidence"]) <= 1
    assert "evidence" not in nhx["t:2"]
    # the snapshot's posts.csv and tree.nwk too
    from archive.snapshot import snapshot

    bag = Path(snapshot(a, "t:3", out=tmp_path / "bags", edges="all"))
    n = pl.read_csv(bag / "data" / "posts.csv")
    assert dict(zip(n["id"], n["parent_evidence"])) == {"t:1": None, "t:2": "declared", "t:3": "inferred"}
    nhx = {r["name"]: r["nhx"] for r in parse_newick((bag / "data" / "tree.nwk").read_text("utf-8"))}
    assert nhx["t:3"].get("evidence") == "inferred"
    # declared-only exports keep their columns
    assert "parent_evidence" not in pl.read_csv(io.BytesIO(export(a, "csv"))).columns


def test_an_authors_usual_style_suffix_on_unrelated_subjects_is_no_link():
    # one author ends every prompt with the same style terms; the subjects share no word (but "a", "of", "on"):
    # none is a remix of another. Before: linked with confidence up to 0.98.
    subjects = ["a lighthouse on a cliff", "portrait of an old fisherman", "a bowl of ramen",
                "a cyberpunk city street", "a horse in a meadow", "a spaceship landing on mars",
                "the cup of coffee", "dragon over mountains", "child flying kite", "abandoned factory interior",
                "red fox", "sailboat at sunset", "wedding cake", "violin player", "desert caravan",
                "frozen waterfall", "neon arcade", "tulip field"]
    suffix = ", cinematic lighting, highly detailed, 8k, trending on artstation"
    rows = [(f"p:{k}", 60.0 * k, s + suffix, f"@a{k % 6}") for k, s in enumerate(subjects)]
    e = I.infer_frame(_frame(rows)).edges
    assert e.height == 0, e


def test_style_terms_only_prompts_are_no_link():
    # "cinematic, 4k" says nothing of a subject: two such posts, even by one author, are no remix
    e = I.infer_frame(_frame([("s:1", 0, "cinematic, 4k", "@a"), ("s:2", 30, "cinematic, 4k", "@a"),
                              ("s:3", 60, "cinematic, 4k, bokeh", "@b"),
                              ("s:4", 90, "a red fox in snow, cinematic, 4k", "@a"),
                              ("s:5", 120, "a red fox in snow at dusk, cinematic, 4k", "@c")])).edges
    assert dict(zip(e["child"], e["parent"])) == {"s:5": "s:4"}
