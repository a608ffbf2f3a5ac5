"""The simulator: seeded, realistic, and true to its parameters."""
from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from pathlib import Path

from archive.record import check
from archive.sources.simulate import SimParams, simulate

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_same_seed_same_archive_other_seed_other_archive():
    a, _ = simulate(SimParams(seed=11, posts=400))
    b, _ = simulate(SimParams(seed=11, posts=400))
    c, _ = simulate(SimParams(seed=12, posts=400))
    assert a == b and a != c


def test_every_record_is_valid_and_parents_come_first():
    recs, truth = simulate(SimParams(seed=2, posts=1500))
    seen: dict[str, str] = {}
    for r in recs:
        norm, reasons = check(r)
        assert reasons == []
        for p in r.get("parents", []):
            assert p["id"] in seen and seen[p["id"]] <= r["created_at"]
        seen[r["id"]] = r["created_at"]
    assert truth["posts"] == len(recs) == 1500


def test_realised_figures_follow_the_parameters():
    P = SimParams(seed=8, posts=20_000, m0=3.0, gamma=0.7, bleed=0.3, activity_half_life_days=2.0)
    recs, truth = simulate(P)
    real = truth["realised"]
    assert abs(real["bleed_rate"] - P.bleed) < 0.03
    assert abs(real["median_remix_offset_days"] - P.activity_half_life_days) / P.activity_half_life_days < 0.1
    gens = {g["generation"]: g for g in real["offspring_by_generation"]}
    for g in (0, 1, 2, 3):
        expected = P.m0 * P.gamma ** g
        assert abs(gens[g]["mean_offspring"] - expected) / expected < 0.12, (g, gens[g])
    # engagement falls with depth by about engagement_decay per generation (log views)
    by_depth: dict[int, list[float]] = {}
    for r in recs:
        by_depth.setdefault(r["extra"]["simulator"]["depth"], []).append(math.log(r["metrics"]["views"] + 1))
    means = {d: sum(v) / len(v) for d, v in by_depth.items() if len(v) > 200}
    slope = (means[4] - means[0]) / 4
    assert abs(slope + P.engagement_decay) < 0.08


def test_bled_terms_come_from_other_trees_and_never_from_the_path():
    recs, _ = simulate(SimParams(seed=4, posts=3000, bleed=0.5))
    by_id = {r["id"]: r for r in recs}
    bled = 0
    for r in recs:
        for ns in r["extra"]["simulator"]["new_styles"]:
            if ns["kind"] != "bled":
                continue
            bled += 1
            assert ns["from_tree"] != r["extra"]["simulator"]["tree"]
            node = r
            while node.get("parents"):
                node = by_id[node["parents"][0]["id"]]
                assert ns["term"] not in node["extra"]["simulator"]["styles"]
    assert bled > 100


def test_the_sample_reads_like_real_prompts_in_several_languages():
    with gzip.open(SAMPLE / "remixes.jsonl.gz", "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    truth = json.loads((SAMPLE / "remixes.truth.json").read_text())
    assert len(recs) == truth["posts"] >= 2000 and truth["trees"] >= 24
    langs = Counter(r["extra"]["simulator"]["language"] for r in recs)
    assert len(langs) >= 5
    roots = [r for r in recs if not r.get("parents")]
    sizes = Counter()
    for r in recs:
        sizes[r["extra"]["simulator"]["tree"]] += 1
    assert max(sizes.values()) >= 100  # some trees are wide
    assert max(r["extra"]["simulator"]["depth"] for r in recs) >= 8  # some are deep
    assert all(", " in r["prompt"] or not r["extra"]["simulator"]["styles"] for r in roots)


def test_the_bundled_sample_is_what_the_documented_command_makes():
    """README: made with `archivist ingest simulate --seed 42 --posts 3000 --out data/sample/remixes.jsonl.gz`."""
    with gzip.open(SAMPLE / "remixes.jsonl.gz", "rt", encoding="utf-8") as f:
        shipped = [json.loads(line) for line in f]
    made, truth = simulate(SimParams(seed=42, posts=3000))
    assert shipped == json.loads(json.dumps(made))
    assert json.loads((SAMPLE / "remixes.truth.json").read_text()) == json.loads(json.dumps(truth))


def test_style_popularity_shares_popular_terms_across_trees_and_is_off_by_default():
    def root_palettes(params: SimParams) -> dict[int, set[str]]:
        recs, _ = simulate(params)
        out: dict[int, set[str]] = {}
        for r in recs:
            sim = r["extra"]["simulator"]
            out.setdefault(sim["tree"], set()).update(s["term"] for s in sim["new_styles"] if s["kind"] == "own")
            if sim["depth"] == 0:
                out[sim["tree"]].update(sim["styles"])
        return out

    def top_share(palettes: dict[int, set[str]]) -> float:
        counts: dict[str, int] = {}
        for terms in palettes.values():
            for t in terms:
                counts[t] = counts.get(t, 0) + 1
        return max(counts.values()) / len(palettes)

    disjoint = root_palettes(SimParams(seed=11, posts=1500))
    shared = root_palettes(SimParams(seed=11, posts=1500, style_popularity=1.0))
    assert len(disjoint) >= 10 and len(shared) >= 10
    # off: each tree's own terms are its own (a few trees at most meet through the sampled slices)
    assert top_share(disjoint) <= 0.1
    # Zipf(1) over 328 terms, six draws per tree: the most popular term is in about half the palettes
    assert top_share(shared) >= 0.3
    # off by default: the parameter does not change an archive that does not ask for it
    a, _ = simulate(SimParams(seed=11, posts=200))
    b, _ = simulate(SimParams(seed=11, posts=200, style_popularity=0.0))
    assert a == b


def _generations_overlap(recs: list[dict]) -> int:
    """Pairs of consecutive generations of one tree where a deeper post came before a shallower one."""
    first: dict[tuple[int, int], str] = {}
    last: dict[tuple[int, int], str] = {}
    for r in recs:
        k = (r["extra"]["simulator"]["tree"], r["extra"]["simulator"]["depth"])
        first[k] = min(first.get(k, r["created_at"]), r["created_at"])
        last[k] = max(last.get(k, r["created_at"]), r["created_at"])
    return sum(1 for (t, d), f in first.items() if d > 1 and (t, d - 1) in last and f < last[(t, d - 1)])


def test_edge_delays_draw_each_delay_from_the_parent_and_generations_overlap():
    default, _ = simulate(SimParams(seed=5, posts=2000))
    cascade, truth = simulate(SimParams(seed=5, posts=2000, edge_delays=True))
    assert truth["params"]["edge_delays"] is True
    # breadth-first times: every generation after the whole one before it; cascade times overlap
    assert _generations_overlap(default) == 0 and _generations_overlap(cascade) > 10
    when = {r["id"]: r["created_at"] for r in cascade}
    assert all(when[p["id"]] < r["created_at"] for r in cascade for p in r.get("parents", []))
    # the structure and the prompts' edits come from the same draws: only the times moved
    ops = lambda recs: Counter(op for r in recs for op in r["extra"]["simulator"]["ops"])  # noqa: E731
    assert abs(sum(ops(cascade).values()) - sum(ops(default).values())) < 0.1 * sum(ops(default).values())


def test_the_cli_passes_the_inference_habits_to_the_simulator(tmp_path: Path):
    from click.testing import CliRunner

    from dashboard.cli import build_cli

    out = tmp_path / "sim.jsonl"
    r = CliRunner().invoke(build_cli(), ["ingest", "simulate", "--seed", "5", "--posts", "300", "--edge-delays",
                                         "--style-popularity", "1.0", "--repost", "0.1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    params = json.loads(out.with_suffix(".truth.json").read_text())["params"]
    assert params["edge_delays"] is True and params["style_popularity"] == 1.0 and params["repost"] == 0.1
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs == json.loads(json.dumps(simulate(SimParams(seed=5, posts=300, edge_delays=True,
                                                             style_popularity=1.0, repost=0.1))[0]))


def test_undeclared_links_leave_the_same_posts_with_their_truth_and_infer_finds_them(tmp_path: Path):
    """--undeclared: a platform that stopped declaring links. The posts are those of the same seed with
    every link stated; a share of the remixes state none, their true parent kept in extra.simulator.parent;
    `archivist infer` then reconstructs them, checked here against that truth."""
    from click.testing import CliRunner

    from archive.store import Archive
    from dashboard.cli import build_cli
    from lineage.infer import inferred_edges

    full, _ = simulate(SimParams(seed=9, posts=1500))
    part, truth = simulate(SimParams(seed=9, posts=1500, undeclared=0.4))
    strip = lambda r: {k: v for k, v in r.items() if k not in ("parents", "extra")}  # noqa: E731
    assert [strip(r) for r in part] == [strip(r) for r in full]
    hidden = {r["id"]: r["extra"]["simulator"]["parent"] for r in part if "parent" in r["extra"]["simulator"]}
    stated = {r["id"]: r["parents"][0]["id"] for r in full if r.get("parents")}
    assert all("parents" not in r for r in part if r["id"] in hidden)
    assert hidden == {k: v for k, v in stated.items() if k in hidden}  # the truth is the link left out
    assert truth["realised"]["undeclared_links"] == len(hidden)
    assert abs(len(hidden) / len(stated) - 0.4) < 0.05, (len(hidden), len(stated))

    cli, arc = build_cli(), tmp_path / "lost"
    r = CliRunner().invoke(cli, ["ingest", "simulate", "--seed", "9", "--posts", "1500", "--undeclared", "0.4",
                                 "--archive", str(arc)])
    assert r.exit_code == 0 and f"{len(hidden):,} remix links left undeclared" in r.output, r.output
    assert CliRunner().invoke(cli, ["infer", "--archive", str(arc)]).exit_code == 0
    got = dict(inferred_edges(Archive.open(arc)).select("child", "parent").rows())
    right = sum(got.get(k) == v for k, v in hidden.items())
    assert right / len(hidden) > 0.7, right / len(hidden)  # the bundled sample's setting: 0.81 exact parent
    # --evaluate scores the links left undeclared against the simulator's truth, not as roots (it read every
    # link it rebuilt there as wrong: exact parent 0.41 where it was 0.83)
    r = CliRunner().invoke(cli, ["infer", "--evaluate", "--json", "--archive", str(arc)])
    rep = json.loads(r.output)
    assert rep["undeclared_truth"] == len(hidden) and rep["n"] == 1500, rep["undeclared_truth"]
    assert rep["parent_accuracy"] > 0.7 and rep["ece"] < 0.1, rep
    assert CliRunner().invoke(cli, ["ingest", "simulate", "--undeclared", "1.5", "--out",
                                    str(tmp_path / "x.jsonl")]).exit_code == 2
