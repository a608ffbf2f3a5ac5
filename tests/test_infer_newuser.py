"""``archivist infer`` as a new user meets it: the commands of issue 10 and its bad input, each with its right value."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lineage.infer as I
from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEYS = {"parent_accuracy", "ancestor_accuracy", "tree_accuracy", "root_accuracy", "vertex_overlap", "edge_overlap",
        "ece", "precision_at_0_9", "coverage_at_0_9", "baseline_parent_accuracy", "n", "reliability"}


def _t(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rec(i, hours, prompt, parents=(), author="@a", **kw):
    return {"id": f"t:{i}", "source": "t", "created_at": _t(hours), "prompt": prompt, "author": author,
            "parents": [p if isinstance(p, dict) else {"id": p} for p in parents], **kw}


def run(*args: str):
    from dashboard.cli import cli as main

    return CliRunner().invoke(main, list(args), terminal_width=200)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def stripped(tmp_path_factory) -> Path:
    """A simulated archive whose platform stopped declaring links (none is declared)."""
    recs = simulate(SimParams(seed=7, posts=500))[0]
    path = tmp_path_factory.mktemp("newuser") / "a"
    a = Archive.open(path, create=True)
    ingest_records(a, [{k: v for k, v in r.items() if k != "parents"} for r in recs], source="simulate")
    return path


# ------------------------------------------------------------------------------------------------ the commands
def test_help_names_every_option():
    out = run("infer", "--help")
    assert out.exit_code == 0
    for opt in ("--source", "--since", "--min-confidence", "--json", "--evaluate", "--full", "--archive"):
        assert opt in out.output
    assert "readers filter" not in out.output  # no reader filters by confidence: the help does not say so


def test_infer_summary_json_and_min_confidence_list(stripped):
    arc = str(stripped)
    out = run("infer", "--archive", arc)
    assert out.exit_code == 0, out.output
    table = I.inferred_edges(Archive.open(stripped))
    n, hi = table.height, int((table["confidence"] >= 0.9).sum())
    assert flat(out.output) == (f"considered 500 posts, parents found for {n} ({hi / n:.0%} at confidence >= 0.9), "
                                f"none for {500 - n} (each starts a tree)")
    # nothing new: the rerun says so rather than "considered 0 posts, parents found for N"
    out = run("infer", "--archive", arc)
    assert flat(out.output) == (f"nothing new to consider since the last run: the archive keeps its {n} inferred "
                                f"links ({hi / n:.0%} at confidence >= 0.9); --full recomputes every post")
    got = json.loads(run("infer", "--json", "--min-confidence", "0.9", "--archive", arc).output)
    assert got["inferred_links"] == n and got["inferred_share_at_0_9"] == pytest.approx(hi / n)
    assert (got["considered"], got["parents_found"]) == (0, 0)  # nothing new: this run looked at no post
    sure = table.filter(pl.col("confidence") >= 0.9).sort("child")
    assert [e["child"] for e in got["edges"]] == sure["child"].to_list()
    assert [e["parent"] for e in got["edges"]] == sure["parent"].to_list()
    out = run("infer", "--min-confidence", "0.9", "--archive", arc)
    assert f"inferred links at confidence >= 0.9" in out.output
    out = run("infer", "--min-confidence", "1.5", "--archive", arc)
    assert out.exit_code == 2 and "1.5 is not in the range 0<=x<=1" in out.output


def test_since_and_source_in_the_cli(stripped, tmp_path):
    arc = str(stripped)
    out = run("infer", "--since", "notadate", "--archive", arc)
    assert out.exit_code == 2 and "'notadate' is not a date: give YYYY-MM-DD or an RFC 3339 time" in out.output
    assert "Traceback" not in out.output
    out = run("infer", "--since", "2026-13-01", "--archive", arc)
    assert out.exit_code == 2 and "is not a date" in out.output
    posts = Archive.open(stripped).posts()
    cut = posts["created_at"].sort()[400]
    later = posts.filter(pl.col("created_at") >= cut).height
    for since in (cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), cut.strftime("%Y-%m-%d %H:%M:%S.%f")):  # T or a space
        got = json.loads(run("infer", "--since", since, "--full", "--json", "--archive", arc).output)
        assert got["recomputed"] == later
    out = run("infer", "--source", "simulat", "--archive", arc)  # a typo: not silently nothing
    assert out.exit_code == 2 and "no post of source 'simulat' in the archive; its sources are: simulate" in out.output
    got = json.loads(run("infer", "--source", "simulate", "--full", "--json", "--archive", arc).output)
    assert got["recomputed"] == 500


def test_evaluate_json_keys_and_values(tmp_path):
    arc = str(tmp_path / "a")
    assert run("ingest", "simulate", "--seed", "5", "--posts", "400", "--archive", arc).exit_code == 0
    out = run("infer", "--evaluate", "--json", "--archive", arc)
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    # the issue's keys, and three more: the accuracies' 95% intervals, the candidate recall and the posts
    # that could take no part (by reason)
    assert set(rep) == KEYS | {"intervals", "link_tree_accuracy", "candidate_recall", "no_part", "undeclared_truth",
                       "warnings"} \
        and rep["n"] == 400 \
        and rep["no_part"] == {} and rep["undeclared_truth"] == 0 and rep["warnings"] == []
    for k in KEYS - {"n", "reliability"} | {"candidate_recall", "link_tree_accuracy"}:
        assert 0 <= rep[k] <= 1, k
    assert set(rep["intervals"]) == {"parent_accuracy", "tree_accuracy", "baseline_parent_accuracy"}
    for k, (lo, hi) in rep["intervals"].items():
        assert 0 <= lo <= rep[k] <= hi <= 1, k
    # a ladder: a true parent is a true ancestor, a true ancestor is in the post's true tree
    assert rep["link_tree_accuracy"] >= rep["ancestor_accuracy"] >= rep["parent_accuracy"]
    # the reliability table is of the inferred links: its bins hold them all, each mean confidence in its bin
    for b in rep["reliability"]:
        lo, hi = (float(x) for x in b["bin"].split("-"))
        assert lo <= b["confidence"] <= hi and 0 <= b["accuracy"] <= 1
    assert not Archive.open(arc).has_table("inferred_edges")  # evaluation writes nothing
    out = run("infer", "--evaluate", "--archive", arc)
    assert out.exit_code == 0 and "baseline_parent_accuracy" in out.output and "reliability" in out.output
    assert "95% interval" in out.output and "candidate_recall" in out.output


# ------------------------------------------------------------------------------------------------ bad input
def test_posts_without_text_are_counted_and_kept(tmp_path):
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [rec(1, 0, "a paper boat on a frozen lake, claymation", author="@1"),
                       rec(2, 1, "a paper boat on a frozen lake, claymation, noir", author="@2"),
                       rec(3, 2, "   ", author="@3"), rec(4, 3, "!!! ...", author="@4"),
                       rec(5, 4, "\u200b", author="@5"), {**rec(6, 5, "", author="@6"), "prompt": None}])
    out = run("infer", "--archive", str(a.path))
    assert out.exit_code == 0, out.output
    assert flat(out.output).endswith("; no part: 4 no prompt or media fingerprint")
    assert I.inferred_edges(a).select("child", "parent").rows() == [("t:2", "t:1")]
    # nothing lost: every post is still there, the four without text each start a tree of their own
    lin = a.lineage(edges="all")
    assert lin.height == 6
    assert lin.filter(pl.col("id").is_in(["t:3", "t:4", "t:5", "t:6"]))["parent"].null_count() == 4


def test_a_post_from_the_future_neither_gets_nor_gives_a_parent(tmp_path):
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [rec(1, 0, "neon koi swimming through a flooded subway, vhs", author="@1"),
                       # created at hour 10, fetched at hour 5: a date from the future
                       rec(2, 10, "neon koi swimming through a flooded subway, vhs, noir", author="@2",
                           fetched_at=_t(5)),
                       rec(3, 20, "neon koi swimming through a flooded subway, vhs, noir, 35mm", author="@3")])
    s = I.infer(a)
    assert s["no_part"] == {"created after it was observed (a date from the future)": 1}
    # t:3 is most like t:2, but t:2's date cannot be trusted: t:3 hangs from t:1
    assert I.inferred_edges(a).select("child", "parent").rows() == [("t:3", "t:1")]


def test_equal_timestamps_follow_the_stated_rule_whatever_the_row_order():
    # a and b share a time: neither is the other's parent; c (later) takes the smaller id of the two
    for names in (("a", "b"), ("y", "x")):
        posts = pl.DataFrame({"id": [*names, "c"], "created_at": [T0, T0, T0 + timedelta(hours=1)],
                              "text": ["neon rain over tokyo"] * 3})
        results = {I.infer_frame(posts.sample(fraction=1.0, shuffle=True, seed=k)).edges
                   .select("child", "parent").rows().__repr__() for k in range(4)}
        assert results == {repr([("c", min(names))])}


def test_one_word_prompts_of_different_authors_are_no_sure_link():
    posts = pl.DataFrame({"id": ["a", "b"], "created_at": [T0, T0 + timedelta(hours=1)], "text": ["cat", "cat"],
                          "author": ["@1", "@2"]})
    e = I.infer_frame(posts).edges
    assert e.height == 0 or e["confidence"].max() < 0.9


def test_an_inferred_link_never_cuts_a_declared_one(tmp_path):
    """A declared parent created after its child (clock skew) plus a guess the other way would close a loop;
    the loop used to be cut at the declared link. Now the guess goes, and problems() says so."""
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [rec("x", 1, "a corgi surfing a glassy wave in tokyo at night, claymation", parents=["t:y"]),
                       rec("y", 5, "a corgi surfing a glassy wave in tokyo at night, claymation, noir")])
    I.infer(a)
    assert I.inferred_edges(a).select("child", "parent").rows() == [("t:y", "t:x")]  # what infer guessed
    e = a.edges(edges="all")
    assert e.select("child", "parent", "evidence").rows() == [("t:x", "t:y", "declared")]
    assert a.lineage(edges="all").select("id", "parent").rows() == [("t:x", "t:y"), ("t:y", None)]
    p = a.problems(edges="all")
    assert p.select("kind", "id", "parent").rows() == [("inferred_dropped", "t:y", "t:x")]
    assert "declared links win" in p["detail"][0]
    assert a.problems(edges="all").filter(pl.col("kind") == "cycle").height == 0


def test_empty_and_roots_only_archives_through_the_cli(tmp_path):
    empty = tmp_path / "empty"
    Archive.open(empty, create=True)
    got = json.loads(run("infer", "--json", "--archive", str(empty)).output)
    assert (got["considered"], got["parents_found"], got["share_at_0_9"], got["no_part"]) == (0, 0, None, {})
    out = run("infer", "--evaluate", "--archive", str(empty))
    assert out.exit_code == 1 and "no declared links to evaluate against" in out.output
    out = run("analyze", "--edges", "all", "--json", "--archive", str(empty))
    assert out.exit_code == 0 and json.loads(out.output)["inferred_links"] == 0
    roots = tmp_path / "roots"
    a = Archive.open(roots, create=True)
    ingest_records(a, [rec(1, 0, "a red panda barista in lagos", author="@1"),
                       rec(2, 5, "two robots in love on mars", author="@2"),
                       rec(3, 9, "an origami crane over a desert highway", author="@3")])
    out = run("infer", "--archive", str(roots))
    assert flat(out.output) == ("considered 3 posts, parents found for 0 (– at confidence >= 0.9), "
                                "none for 3 (each starts a tree)")
    got = json.loads(run("analyze", "--edges", "all", "--json", "--archive", str(roots)).output)
    assert (got["inferred_links"], got["inferred_version"], got["trees"]) == (0, 0, 3)
    out = run("analyze", "--edges", "all", "--force", "--archive", str(roots))
    assert "`archivist infer` found" in out.output  # not "run `archivist infer` first": it ran, and found none
    assert Archive.open(roots).trees(edges="all").height == 3


def test_overview_counts_links_by_evidence(tmp_path):
    import importlib

    from dashboard.app import create_app

    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [rec(1, 0, "a glass whale over a night market, ukiyo-e", author="@1"),
                       rec(2, 1, "a glass whale over a night market, ukiyo-e, noir", parents=["t:1"], author="@2"),
                       rec(3, 2, "a glass whale over a night market, ukiyo-e, vhs", parents=["t:1"], author="@3"),
                       rec(4, 3, "a glass whale over a night market, ukiyo-e, vhs, 35mm",
                           parents=[{"id": "t:3", "evidence": "c2pa"}], author="@4"),
                       rec(5, 4, "a glass whale over a night market, ukiyo-e, vhs, 35mm, fisheye", author="@5"),
                       rec(6, 5, "a glass whale over a night market, ukiyo-e, noir, claymation", author="@6")])
    create_app(a.path)  # Dash pages are registered once an app exists
    link_counts = importlib.import_module("dashboard.pages.overview").link_counts
    assert link_counts(a) == {"declared": 2, "c2pa": 1, "inferred": 0}
    I.infer(a)
    assert I.inferred_edges(a)["child"].to_list() == ["t:5", "t:6"]
    assert link_counts(a) == {"declared": 2, "c2pa": 1, "inferred": 2}


def test_show_marks_every_inferred_link_it_draws(tmp_path):
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [rec(1, 0, "a paper boat on a frozen lake, claymation", author="@1"),
                       rec(2, 1, "a paper boat on a frozen lake, claymation, noir", author="@2"),
                       rec(3, 2, "a paper boat on a frozen lake, claymation, noir, vhs", parents=["t:2"], author="@3")])
    I.infer(a)
    table = I.inferred_edges(a)
    assert table.select("child", "parent").rows() == [("t:2", "t:1")]
    out = run("show", "t:3", "--edges", "all", "--archive", str(a.path))
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if "t:2" in x)
    assert f"t:2  ┄ inferred {I.confidence_text(table['confidence'][0])}" in line
    assert not any("┄" in x for x in out.output.splitlines() if "t:3" in x or "t:1 " in x)  # t:3's link is declared
    assert "1 of the links drawn was inferred by `archivist infer`" in flat(out.output)
    got = json.loads(run("show", "t:3", "--edges", "all", "--json", "--archive", str(a.path)).output)
    assert [(e["child"], e["parent"]) for e in got["inferred_links"]] == [("t:2", "t:1")]
    assert got["inferred_links"][0]["confidence"] == pytest.approx(table["confidence"][0])
    out = run("show", "t:3", "--archive", str(a.path))
    assert "inferred" not in out.output and "t:1" not in out.output


def test_a_post_from_the_future_without_fetched_at_is_known_by_when_the_store_took_it(tmp_path):
    """Most dumps carry no fetched_at: the time the store took the record is when it was observed."""
    a = Archive.open(tmp_path / "a", create=True)
    r1 = rec(1, 0, "a corgi surfing a glassy wave in tokyo at night, claymation", author="@1")
    r2 = {**rec(2, 0, "a corgi surfing a glassy wave in tokyo at night, claymation, noir", author="@2"),
          "created_at": "2099-01-01T05:00:00Z"}
    ingest_records(a, [r1, r2])
    assert a.posts()["fetched_at"].null_count() == 2
    s = I.infer(a)
    assert s["no_part"] == {"created after it was observed (a date from the future)": 1}
    assert I.inferred_edges(a).height == 0


_WORDS = ["cat", "neon", "rain", "tokyo", "claymation", "noir", "surf", "koi"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 20), st.lists(st.sampled_from(_WORDS), min_size=2, max_size=5),
                          st.one_of(st.none(), st.integers(0, 11))), min_size=2, max_size=12))
def test_inferred_links_never_cut_or_change_declared_ones(tmp_path_factory, rows):
    """Declared parents pointing anywhere in time (skewed clocks included), guesses added: every declared
    link is read as before, no new cycle is cut, every inferred parent is strictly earlier."""
    a = Archive.open(tmp_path_factory.mktemp("prop") / "a", create=True)
    recs = [rec(k, h, " ".join(w), parents=[f"t:{p}"] if p is not None and p < len(rows) and p != k else [],
                author=f"@{k % 3}") for k, (h, w, p) in enumerate(rows)]
    ingest_records(a, recs)
    I.infer(a)
    declared = a.edges()
    every = a.edges(edges="all")
    assert every.filter(pl.col("evidence") != "inferred").equals(declared)
    cuts = lambda edges: set(a.problems(edges=edges).filter(pl.col("kind") == "cycle")  # noqa: E731
                             .select("id", "parent").iter_rows())
    assert cuts("all") == cuts("declared")
    t = dict(zip(a.posts()["id"], a.posts()["created_at"]))
    assert all(t[p] < t[c] for c, p in every.filter(pl.col("evidence") == "inferred")
               .select("child", "parent").iter_rows())
    lin = a.lineage(edges="all")
    kept = every.filter(pl.col("evidence") == "inferred").select(id="child", parent="parent")
    assert kept.join(lin.select("id", "parent"), on=["id", "parent"], how="anti").height == 0  # each is primary
