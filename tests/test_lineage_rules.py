"""Lineage rules on hand-made cascade shapes (case cascade-lineage-rules): time is the direction.

Inputs copied from ../shared/cases/cascade-lineage-rules/repro.py; each right value of its README is a test.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.graph import compute_lineage
from archive.ingest import ingest_records
from archive.store import Archive


def T(h: int) -> str:
    return f"2020-01-01T{h:02d}:00:00Z"


def arc(tmp_path, recs):
    a = Archive.open(tmp_path / "a", create=True)
    return a, ingest_records(a, recs, source="t")


def test_primary_parent_is_the_first_declared_remix_parent(tmp_path):
    a, _ = arc(tmp_path, [{"id": "t:p", "source": "t", "created_at": T(0)},
                          {"id": "t:q", "source": "t", "created_at": T(1), "parents": ["t:p"]},
                          {"id": "t:x", "source": "t", "created_at": T(2), "parents": ["t:q", "t:p"]}])
    assert a.lineage().filter(pl.col("id") == "t:x")["parent"][0] == "t:q"


def test_a_cycle_is_cut_against_time_so_the_source_stays_the_root(tmp_path):
    a, _ = arc(tmp_path, [{"id": "t:s", "source": "t", "created_at": T(0), "parents": ["t:a"]},
                          {"id": "t:a", "source": "t", "created_at": T(1), "parents": ["t:s"]},
                          {"id": "t:c", "source": "t", "created_at": T(2), "parents": ["t:s"]}])
    assert a.lineage().select("id", "parent", "root", "depth").rows() == [
        ("t:a", "t:s", "t:s", 1), ("t:c", "t:s", "t:s", 1), ("t:s", None, "t:s", 0)]
    prob = a.problems().filter(pl.col("kind") == "cycle")
    assert prob.select("id", "parent").rows() == [("t:s", "t:a")]
    assert "created 1.0 h after it" in prob["detail"][0]


def test_a_cut_child_takes_its_next_parent_not_created_after_it():
    nodes = pl.DataFrame({"id": ["a", "b", "r"]})
    # a names b first (later than a) then r; b names a: the cycle a<->b is cut at a -> b, a falls back to r
    edges = pl.DataFrame({"child": ["a", "a", "b"], "parent": ["b", "r", "a"], "rank": [0, 1, 0]})
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    created = pl.DataFrame({"id": ["r", "a", "b"], "created_at": [t0, t0 + timedelta(hours=1), t0 + timedelta(hours=2)]})
    lin, problems = compute_lineage(nodes, edges, created=created)
    assert lin.select("id", "parent", "root", "depth").rows() == [
        ("a", "r", "r", 1), ("b", "a", "r", 2), ("r", None, "r", 0)]
    assert "now hangs from r" in problems["detail"][0]


def test_without_times_a_cycle_is_cut_at_the_smallest_id():
    nodes = pl.DataFrame({"id": ["x", "y"]})
    lin, problems = compute_lineage(nodes, pl.DataFrame({"child": ["x", "y"], "parent": ["y", "x"]}))
    assert lin.select("id", "parent").rows() == [("x", None), ("y", "x")]
    assert problems.select("kind", "id", "parent").rows() == [("cycle", "x", "y")]


def test_a_placeholder_parent_keeps_its_children_in_one_tree(tmp_path):
    a, _ = arc(tmp_path, [{"id": "t:a", "source": "t", "created_at": T(1), "parents": ["t:s", "t:b"]},
                          {"id": "t:b", "source": "t", "created_at": T(2), "parents": ["t:a"]},
                          {"id": "t:c", "source": "t", "created_at": T(3), "parents": ["t:s"]}])
    assert a.lineage().select("id", "parent", "root", "depth", "placeholder").rows() == [
        ("t:a", "t:s", "t:s", 1, False), ("t:b", "t:a", "t:s", 2, False), ("t:c", "t:s", "t:s", 1, False),
        ("t:s", None, "t:s", 0, True)]
    assert a.problems().height == 0  # no spurious cycle


def test_equal_time_observations_of_one_id_merge_their_parents(tmp_path):
    a, r = arc(tmp_path, [{"id": "t:p", "source": "t", "created_at": T(0)},
                          {"id": "t:q", "source": "t", "created_at": T(1), "parents": ["t:p"]},
                          {"id": "t:x", "source": "t", "created_at": T(2), "parents": ["t:p"]},
                          {"id": "t:x", "source": "t", "created_at": T(2), "parents": ["t:q"]}])
    assert (r.read, r.stored, r.unchanged) == (4, 4, 0)
    assert a.edges().select("child", "parent", "rank").rows() == [
        ("t:q", "t:p", 0), ("t:x", "t:p", 0), ("t:x", "t:q", 1)]
    assert a.lineage().filter(pl.col("id") == "t:x")["parent"][0] == "t:p"  # the first line names it first


def test_a_later_observation_still_replaces_the_parents(tmp_path):
    a, _ = arc(tmp_path, [{"id": "t:p", "source": "t", "created_at": T(0)},
                          {"id": "t:q", "source": "t", "created_at": T(1)},
                          {"id": "t:x", "source": "t", "created_at": T(2), "parents": ["t:p"],
                           "fetched_at": T(3)},
                          {"id": "t:x", "source": "t", "created_at": T(2), "parents": ["t:q"],
                           "fetched_at": T(4)}])
    assert a.edges().filter(pl.col("child") == "t:x")["parent"].to_list() == ["t:q"]


# ---------------------------------------------------------------- properties

@st.composite
def cascades(draw):
    """A time-ordered forest (each post names an earlier post first, maybe a few more earlier ones after it,
    and maybe a later reshare as a cycle-making extra), and a set of records to remove."""
    n = draw(st.integers(1, 25))
    rng = random.Random(draw(st.integers(0, 10**6)))
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    recs = []
    for i in range(n):
        parents = []
        if i and rng.random() < 0.8:
            parents.append(f"c:{rng.randrange(i):02d}")
            if rng.random() < 0.3:
                parents.append({"id": f"c:{rng.randrange(i):02d}", "relation": "inspired"})
        recs.append({"id": f"c:{i:02d}", "source": "c", "created_at": (t0 + timedelta(hours=i)).isoformat(),
                     "parents": parents})
    # a source that lists a later reshare of its own as its parent (after its true parents)
    for i in range(n):
        kids = [r for r in recs if r["parents"] and r["parents"][0] == f"c:{i:02d}"]
        if kids and rng.random() < 0.2:
            recs[i]["parents"] = recs[i]["parents"] + [{"id": kids[0]["id"], "relation": "inspired"}]
            if not recs[i]["parents"][:-1]:  # a root: the later reshare is its only parent, a cycle
                recs[i]["parents"] = [kids[0]["id"]]
    removed = {r["id"] for r in recs if rng.random() < draw(st.floats(0, 0.5))}
    return recs, removed


def _lineage_of(recs):
    nodes = pl.DataFrame({"id": [r["id"] for r in recs]}, schema={"id": pl.String})
    rows = [(r["id"], p if isinstance(p, str) else p["id"], "remix" if isinstance(p, str) else p["relation"], k)
            for r in recs for k, p in enumerate(r["parents"])]
    edges = pl.DataFrame(rows, schema={"child": pl.String, "parent": pl.String, "relation": pl.String,
                                       "rank": pl.Int64}, orient="row")
    created = pl.DataFrame({"id": [r["id"] for r in recs],
                            "created_at": [datetime.fromisoformat(r["created_at"]) for r in recs]})
    lin, _ = compute_lineage(nodes, edges, created=created)
    return {r["id"]: r for r in lin.iter_rows(named=True)}, {r["id"]: r["created_at"] for r in recs}


@settings(max_examples=200, deadline=None)
@given(cascades())
def test_no_root_is_created_after_a_post_of_its_own_tree(case):
    recs, _ = case
    lin, created = _lineage_of(recs)
    for node in lin.values():
        root = node["root"]
        if root in created and node["id"] in created:
            # the data only says otherwise when the root's sole declared parent was later (a cut cycle)
            assert created[root] <= created[node["id"]] or lin[root]["in_cycle"]


@settings(max_examples=200, deadline=None)
@given(cascades())
def test_removing_records_never_splits_a_tree_whose_members_name_a_common_ancestor(case):
    recs, removed = case
    full, _ = _lineage_of(recs)
    kept = [r for r in recs if r["id"] not in removed]
    if not kept:
        return
    part, _ = _lineage_of(kept)
    by_id = {r["id"]: r for r in kept}

    def chain(i):
        """The first-declared (primary) parents named from i upwards through kept records."""
        out = [i]
        while i in by_id and by_id[i]["parents"] and isinstance(by_id[i]["parents"][0], str) \
                and len(out) <= len(recs):
            i = by_id[i]["parents"][0]
            out.append(i)
        return out

    kept_ids = [r["id"] for r in kept if not full[r["id"]]["in_cycle"]]
    for i in kept_ids:
        for j in kept_ids:
            if full[i]["root"] == full[j]["root"] and set(chain(i)) & set(chain(j)):
                assert part[i]["root"] == part[j]["root"], (i, j)


def test_a_root_that_names_its_later_reshare_stays_the_root():
    recs = [{"id": "c:00", "source": "c", "created_at": "2026-01-01T00:00:00+00:00", "parents": ["c:01"]},
            {"id": "c:01", "source": "c", "created_at": "2026-01-01T01:00:00+00:00", "parents": ["c:00"]}]
    lin, _ = _lineage_of(recs)
    assert lin["c:00"]["root"] == "c:00" and lin["c:01"]["in_cycle"]


# ---------------------------------------------------------------- undefined is not zero; fits that say how well they fit

def _decay(a):
    from lineage.analyze import load_results
    return {r["measure"]: r for r in load_results(a, "decay").iter_rows(named=True)}


def test_no_prompts_gives_no_half_life_and_no_drift_rate_but_the_other_figures(tmp_path):
    from lineage.analyze import analyze, load_results
    a, _ = arc(tmp_path, [{"id": "t:r", "source": "t", "created_at": T(0)},
                          {"id": "t:a", "source": "t", "created_at": T(1), "parents": ["t:r"]},
                          {"id": "t:b", "source": "t", "created_at": T(2), "parents": ["t:a"]}])
    out = analyze(a, n_boot=20)
    d = _decay(a)
    for m in ("generational_half_life", "fidelity_F_inf", "drift_rate"):
        assert d[m]["value"] is None and "no prompt text" in d[m]["reason"], m
    assert out["generational_half_life"] is None and "no prompt text" in out["generational_half_life_reason"]
    assert d["activity_half_life_days"]["value"] == 1.5 / 24 and d["activity_half_life_days"]["reason"] is None
    assert load_results(a, "nodes").get_column("root_drift").null_count() == 3
    tree = load_results(a, "trees").row(0, named=True)
    assert tree["drift_rate"] is None and tree["activity_half_life_days"] == 1.5 / 24


def test_a_one_post_tree_has_no_structural_virality(tmp_path):
    from lineage.analyze import analyze, load_results
    a, _ = arc(tmp_path, [{"id": "t:r", "source": "t", "created_at": T(0), "prompt": "a fox"}])
    analyze(a, n_boot=0)
    assert load_results(a, "trees")["structural_virality"].to_list() == [None]


def test_a_cut_cycle_is_timed_from_the_source(tmp_path):
    from lineage.analyze import analyze
    a, _ = arc(tmp_path, [{"id": "t:s", "source": "t", "created_at": T(0), "parents": ["t:a"]},
                          {"id": "t:a", "source": "t", "created_at": T(1), "parents": ["t:s"]},
                          {"id": "t:c", "source": "t", "created_at": T(2), "parents": ["t:s"]}])
    analyze(a, n_boot=0)
    d = _decay(a)
    assert d["activity_half_life_days"]["value"] == 1.5 / 24
    assert d["activity_half_life_days"]["flagged_trees"] == 1  # the tree had a cycle cut


def test_figures_on_a_placeholder_rooted_tree_are_flagged(tmp_path):
    from lineage.analyze import analyze, load_results
    a, _ = arc(tmp_path, [{"id": "t:a", "source": "t", "created_at": T(1), "parents": ["t:s", "t:b"]},
                          {"id": "t:b", "source": "t", "created_at": T(2), "parents": ["t:a"]},
                          {"id": "t:c", "source": "t", "created_at": T(3), "parents": ["t:s"]}])
    out = analyze(a, n_boot=0)
    d = _decay(a)
    assert out["flagged_trees"] == 1 and d["activity_half_life_days"]["flagged_trees"] == 1
    # one tree, timed from its earliest archived post t:a (1 h): delays 0, 1 h, 2 h
    assert d["activity_half_life_days"]["value"] == 1 / 24 and d["activity_half_life_days"]["n"] == 3
    assert load_results(a, "trees").select("root", "placeholder_root").rows() == [("t:s", True)]


def test_a_branching_fit_that_does_not_fit_is_not_headlined():
    from lineage.decay import branching_decay
    # a reshare cascade: 299 reshares of the source, then a third of a reshare per post
    depth = [0] + [1] * 299 + [2] * 100 + [3] * 33 + [4] * 11
    table, fit = branching_decay(pl.DataFrame({"depth": depth}))
    assert fit["dispersion"] > 3 and "does not fit" in fit["reason"]
    assert fit["lr_flat"] > 0


def test_a_branching_fit_on_its_own_model_fits():
    import numpy as np
    from lineage.decay import branching_decay
    rng = np.random.default_rng(3)
    n, depth = 400, [0] * 400
    for g in range(8):
        n = int(rng.poisson(n * 2.0 * 0.7 ** g))
        depth += [g + 1] * n
    _, fit = branching_decay(pl.DataFrame({"depth": depth}))
    assert fit["reason"] is None and fit["dispersion"] < 3
    assert abs(fit["m0"] - 2.0) < 0.2 and abs(fit["gamma"] - 0.7) < 0.05


def test_trees_json_views_is_null_when_no_source_gave_them(tmp_path):
    a, _ = arc(tmp_path, [{"id": "t:r", "source": "t", "created_at": T(0)}])
    assert a.trees()["views"].to_list() == [None]


def test_drift_json_without_prompts_is_null_before_and_after_analyze(tmp_path):
    import json
    from click.testing import CliRunner
    from dashboard.cli import cli
    from lineage.analyze import analyze

    a, _ = arc(tmp_path, [{"id": "t:r", "source": "t", "created_at": T(0)},
                          {"id": "t:a", "source": "t", "created_at": T(1), "parents": ["t:r"]}])
    for _ in range(2):  # measured on the spot, then read from the analysis
        out = CliRunner().invoke(cli, ["drift", "t:a", "--json", "--archive", str(a.path)])
        assert out.exit_code == 0, out.output
        last = json.loads(out.output)["path"][-1]
        assert (last["edge_drift"], last["root_drift"], last["path_drift"]) == (None, None, None)
        analyze(a, n_boot=0)


def test_show_says_where_a_cycle_was_cut_and_when_a_tree_hangs_from_a_placeholder(tmp_path):
    import json
    from click.testing import CliRunner
    from dashboard.cli import cli

    a, _ = arc(tmp_path, [{"id": "t:s", "source": "t", "created_at": T(0), "parents": ["t:a"]},
                          {"id": "t:a", "source": "t", "created_at": T(1), "parents": ["t:s"]},
                          {"id": "t:o", "source": "t", "created_at": T(2), "parents": ["t:gone"]}])
    run = lambda *args: CliRunner().invoke(cli, [*args, "--archive", str(a.path)])  # noqa: E731
    shown = json.loads(run("show", "t:a", "--json").output)
    assert shown["root"] == "t:s" and not shown["root_placeholder"]
    assert [(c["id"], c["parent"]) for c in shown["cycles_cut"]] == [("t:s", "t:a")]
    text = run("show", "t:a").output
    assert "cycle cut:" in text and "t:a was created 1.0 h after it" in " ".join(text.split())
    shown = json.loads(run("show", "t:o", "--json").output)
    assert shown["root"] == "t:gone" and shown["root_placeholder"] and shown["cycles_cut"] == []
    assert "this tree hangs from t:gone" in " ".join(run("show", "t:o").output.split())
