"""``archivist infer`` met by a historian with real-shaped archives (session 27's new-user pass): each fault
found through the CLI, with its right value."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from click.testing import CliRunner

import lineage.infer as I
from archive.ingest import ingest_records
from archive.store import Archive

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def _t(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(*args: str):
    from dashboard.cli import cli as main

    return CliRunner().invoke(main, list(args), terminal_width=200)


def project(i: int, hours: float, title: str, author: str, text: str = "") -> dict:
    """A Scratch project as the crawler stores it: the prompt is its instructions and notes (often both
    empty), no published remix count (a listing's 0 is no count)."""
    return {"id": f"scratch:{900 + i}", "source": "scratch", "created_at": _t(hours), "fetched_at": _t(1000),
            "author": author, "title": title, "prompt": text, "metrics": {"views": 10 + i}}


@pytest.mark.parametrize("titles", [
    ["Untitled", "Untitled-2", "Untitled-3", "Untitled-12", "Untitled-2"],
    ["untitled 4", "Untitled_7", "  Untitled-19 ", "Scratch Project", "Untitled-1"],
])
def test_a_default_title_the_platform_gave_is_no_prompt(titles, tmp_path):
    """Scratch shares a project nobody named as "Untitled", "Untitled-2", "Untitled-3"… (the editor
    offline: "Scratch Project"). Such a name says nothing of the project, as "IMG_1000.jpg" says nothing of
    a picture: an author's "Untitled-6" is no remix of their "Untitled" of the day before. Read as words they
    joined unrelated projects into trees, at confidence up to 0.89 (same author, one shared word)."""
    recs = []
    for k in range(60):
        recs.append(project(k, 3 * k, titles[k % len(titles)], f"kid{k % 7}"))
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs, source="scratch")
    out = run("infer", "--archive", str(a.path), "--json")
    assert out.exit_code == 0, out.output
    s = json.loads(out.output)
    assert s["no_part"] == {"no prompt or media fingerprint": 60}
    assert (s["parents_found"], I.inferred_edges(a).height) == (0, 0)
    assert a.lineage(edges="all").height == 60  # nothing lost: each default-titled project starts a tree


def test_a_default_title_beside_a_prompt_leaves_the_prompt_to_speak(tmp_path):
    """Only the title is discounted: a project called "Untitled-3" with instructions is linked by them."""
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [project(1, 0, "Untitled", "ann", "a maze game where a cat chases mice through a castle"),
                       project(2, 5, "Untitled-3", "bob",
                               "a maze game where a cat chases mice through a castle with ghosts")], source="scratch")
    I.infer(a)
    assert I.inferred_edges(a).select("child", "parent").rows() == [("scratch:902", "scratch:901")]


def test_worded_projects_among_a_few_untitled_ones_are_still_linked(tmp_path):
    """The control: a remix with words still finds its parent where some projects around it are untitled."""
    subjects = ["a maze where a cat chases mice", "a platformer with lava and coins", "a quiz about the planets",
                "a drawing tool with rainbow pens", "a racing game on a moon track", "a piano that plays songs",
                "a pong game with two paddles", "a story about a dragon who bakes bread"]
    recs = [project(k, 3 * k + 2, ["Untitled", "Untitled-2"][k], "kid") for k in range(2)]
    recs += [project(200 + j, 0.5 * j, subj.title(), f"w{j}", subj) for j, subj in enumerate(subjects)]
    recs.append(project(100, 1, "Pixel garden", "ann", "arrow keys to move, collect every seed to grow the garden"))
    recs.append(project(101, 30, "Pixel garden remix", "bob",
                        "arrow keys to move, collect every seed to grow the garden, now with lava levels"))
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs, source="scratch")
    s = I.infer(a)
    assert s["no_part"] == {"no prompt or media fingerprint": 2}
    links = {c: (p, conf) for c, p, conf in I.inferred_edges(a).select("child", "parent", "confidence").rows()}
    assert links["scratch:1001"][0] == "scratch:1000" and links["scratch:1001"][1] > 0.5
    assert not {"scratch:900", "scratch:901"} & {x for c, (p, _) in links.items() for x in (c, p)}


@pytest.mark.parametrize("order", [["t:b", "t:a", "t:c"], ["t:c", "t:a", "t:b"]])
@pytest.mark.parametrize("counts", [False, True])
def test_two_candidates_posted_at_one_instant_are_a_tie_the_stated_rule_breaks(order, counts, tmp_path):
    """Two identical prompts posted at the same instant (a batch upload, a dump dated to the second) by two
    authors, remixed later by a third: nothing tells them apart. The recency rank counted them as one before
    the other (by id), so the larger id took the link at 0.53-0.55 and the smaller 0.43. Both are equally
    likely (at most one half each), and the stated rule picks: the later parent, then the smaller id."""
    text = "a heron made of origami standing in a koi pond"
    rows = {"t:b": (0, text, "x"), "t:a": (0, text, "y"), "t:c": (5, text + " at night", "z")}
    recs = [{"id": i, "source": "t", "created_at": _t(rows[i][0]), "fetched_at": _t(100), "prompt": rows[i][1],
             "author": rows[i][2], **({"metrics": {"remixes": 1 if i != "t:c" else 0}} if counts else {})}
            for i in order]
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs, source="t")
    out = run("infer", "--archive", str(a.path), "--min-confidence", "0", "--json")
    assert out.exit_code == 0, out.output
    (child, parent, conf), = I.inferred_edges(a).select("child", "parent", "confidence").rows()
    assert (child, parent) == ("t:c", "t:a")
    assert conf <= 0.5


def test_equal_time_candidates_share_their_recency_rank():
    """In the library: the two candidates' probabilities are equal, whatever their ids."""
    from datetime import datetime

    t = lambda h: datetime(2025, 1, 1, h, tzinfo=timezone.utc)  # noqa: E731
    text = "a heron made of origami standing in a koi pond"
    posts = pl.DataFrame({"id": ["t:b", "t:a", "t:0", "t:c"], "created_at": [t(0), t(0), t(1), t(5)],
                          "author": ["x", "y", "w", "z"], "text": [text, text, "a heron made of origami", text + " at night"]})
    r = I.infer_frame(posts, keep_pairs=True)
    ids = r.pairs["ids"]
    prob = {ids[int(p)]: q for c, p, q in zip(r.pairs["c"], r.pairs["p"], r.pairs["prob"]) if ids[int(c)] == "t:c"}
    assert set(prob) == {"t:a", "t:b", "t:0"}
    assert prob["t:a"] == pytest.approx(prob["t:b"], rel=1e-12)


def test_stats_counts_only_the_links_of_archivist_infer_as_inferred(tmp_path):
    """A record may state a parent with evidence "inferred" itself (a source's own guess): it is what the
    source stated, counted with the declared links. `stats --edges all` counted it among the links of
    `archivist infer` (2 where infer made 1), unlike show, export, snapshot, report and the overview."""
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [
        {"id": "t:1", "source": "t", "created_at": _t(0), "prompt": "a glass whale floating above a desert town at sunset"},
        {"id": "t:2", "source": "t", "created_at": _t(24),
         "prompt": "a glass whale floating above a desert town at sunset, watercolor"},
        {"id": "t:3", "source": "t", "created_at": _t(48),
         "prompt": "a glass whale floating above a snowy town at sunset, watercolor",
         "parents": [{"id": "t:2", "evidence": "inferred", "confidence": 0.7}]}], source="t")
    assert run("infer", "--archive", str(a.path)).exit_code == 0
    assert I.inferred_edges(a).select("child", "parent").rows() == [("t:2", "t:1")]
    out = run("stats", "--edges", "all", "--json", "--archive", str(a.path))
    assert out.exit_code == 0, out.output
    s = json.loads(out.output)
    assert (s["edges"], s["inferred_edges"]) == (2, 1)
    assert a.stats(edges="declared")["edges"] == 1  # the source's own guess is a stated link


def test_evaluate_on_one_tree_says_why_it_has_no_intervals(tmp_path):
    """A crawl of one Scratch project is one tree: the bootstrap over trees has nothing to resample, and
    the table's interval column was left blank with no word of why."""
    texts = ["a maze where a cat chases mice", "a maze where a cat chases mice, with ghosts",
             "a maze where a cat chases mice, with ghosts and keys", "a maze where a dog chases mice, with ghosts"]
    recs = [{"id": f"t:{k}", "source": "t", "created_at": _t(5 * k), "prompt": x, "author": f"u{k}",
             "parents": [{"id": f"t:{k - 1}"}] if k else []} for k, x in enumerate(texts)]
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs, source="t")
    out = run("infer", "--evaluate", "--archive", str(a.path))
    assert out.exit_code == 0, out.output
    assert "None here: the declared links make a single tree" in " ".join(out.output.split())
    out = run("infer", "--evaluate", "--json", "--archive", str(a.path))
    assert json.loads(out.output)["intervals"] == {}


def test_evaluate_help_says_the_declared_links_are_taken_as_the_whole_truth():
    out = run("infer", "--help")
    assert "a post without one counts as a root" in " ".join(out.output.split())
