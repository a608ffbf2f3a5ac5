"""``archivist infer --calibrate``: the confidence refitted on an archive's own declared links.

The shipped calibration is fitted on the simulator's default timing (a tree's remix times handed out
breadth-first); where each remix's delay runs from its parent's time (cascade timing), the shipped
confidence says more than it should. These tests check the recalibration against the simulator's truth
on an archive it never saw, that the links themselves do not change, and the refusals.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import lineage.infer as I
from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive

#: a platform with cascade timing and the habits of real remixing (re-posts, self-remixes, popularity)
CASCADE = ["--edge-delays", "--attachment", "1.0", "--repost", "0.1", "--self-remix", "0.2"]


def run(*args: str):
    from dashboard.cli import cli as main

    return CliRunner().invoke(main, list(args), terminal_width=200)


def simulated(path: Path, seed: int, posts: int = 2500) -> Path:
    out = run("ingest", "simulate", "--seed", str(seed), "--posts", str(posts), *CASCADE, "--archive", str(path))
    assert out.exit_code == 0, out.output
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, dict]:
    a = simulated(tmp_path_factory.mktemp("cal") / "a", seed=77)
    out = run("infer", "--calibrate", "--json", "--archive", str(a))
    assert out.exit_code == 0, out.output
    return a, json.loads(out.output)


def test_help_says_what_calibrate_does():
    out = run("infer", "--help")
    assert out.exit_code == 0 and "--calibrate" in out.output and "cross-validated" in out.output


def test_the_report_and_the_file(calibrated):
    a, rep = calibrated
    assert rep["weights"] == str((a / "inference_weights.json").resolve())
    assert rep["links"] >= 2000 and rep["trees"] > 10 and 0 < rep["share_right"] < 1
    # the shipped calibration is off under cascade timing; the archive's own, scored out of fold, is not
    assert rep["ece_after"] < 0.05 and rep["ece_after"] < rep["ece_before"] - 0.02
    doc = json.loads((a / "inference_weights.json").read_text())
    shipped = json.loads((I.data_dir() / I.WEIGHTS_FILE).read_text())
    assert doc["coef"] == shipped["coef"] and doc["attach"] == shipped["attach"]  # only the calibration moves
    assert doc["tree_check"] == shipped["tree_check"]
    assert doc["calibration"] == rep["calibration"] != shipped["calibration"]
    assert doc["recalibration"]["archive"] == str(a.resolve()) and doc["recalibration"]["links"] == rep["links"]
    assert I.load_weights(a / "inference_weights.json").calibration == tuple(rep["calibration"])


def test_it_calibrates_another_archive_of_the_same_platform(calibrated, tmp_path):
    """Measured against the truth of an archive the calibration never saw (another seed, same habits)."""
    a, _ = calibrated
    b = simulated(tmp_path / "b", seed=78)
    shipped = json.loads(run("infer", "--evaluate", "--json", "--archive", str(b)).output)
    own = json.loads(run("infer", "--evaluate", "--json", "--archive", str(b),
                         "--weights", str(a / "inference_weights.json")).output)
    assert own["ece"] <= 0.05 and own["ece"] < shipped["ece"] - 0.02, (own["ece"], shipped["ece"])
    # the links are the same: only how sure they say they are
    assert own["parent_accuracy"] == shipped["parent_accuracy"] and own["tree_accuracy"] == shipped["tree_accuracy"]
    assert own["precision_at_0_9"] >= 0.92


def test_later_runs_on_the_archive_read_its_calibration_and_keep_the_links(calibrated, tmp_path):
    """An archive whose platform stopped declaring links, holding the calibration of one that declared them."""
    a, rep = calibrated
    recs = simulate(SimParams(seed=79, posts=1500, edge_delays=True, attachment=1.0, repost=0.1, self_remix=0.2))[0]
    plain = tmp_path / "plain"
    ingest_records(Archive.open(plain, create=True), [{k: v for k, v in r.items() if k != "parents"} for r in recs],
                   source="simulate")
    mine = tmp_path / "mine"
    shutil.copytree(plain, mine)
    shutil.copy(a / "inference_weights.json", mine / "inference_weights.json")
    got = json.loads(run("infer", "--json", "--archive", str(mine)).output)
    theirs = json.loads(run("infer", "--json", "--archive", str(plain)).output)
    assert got["weights"] == str(mine / "inference_weights.json") and theirs["weights"] == "shipped"
    e1 = I.inferred_edges(Archive.open(mine, read_only=True)).sort("child")
    e2 = I.inferred_edges(Archive.open(plain, read_only=True)).sort("child")
    assert e1.height > 1000 and e1.select("child", "parent").equals(e2.select("child", "parent"))
    c1, c2 = e1.get_column("confidence").to_numpy(), e2.get_column("confidence").to_numpy()
    assert (c1 != c2).mean() > 0.5 and c1.mean() < c2.mean()  # the shipped calibration said more than it should
    text = run("infer", "--full", "--archive", str(mine)).output
    assert "calibrated on this archive's own links" in " ".join(text.split())


def test_an_unusable_archive_file_says_how_to_mend_it(tmp_path):
    a = simulated(tmp_path / "a", seed=5, posts=300)
    (a / "inference_weights.json").write_text(json.dumps({"method": "another/1"}))
    out = run("infer", "--archive", str(a))
    assert out.exit_code != 0
    said = " ".join(out.output.split())
    assert "this archive's own calibration (`archivist infer --calibrate`): run that again, or delete" in said
    assert "inference_weights.json" in said and "--fit" not in said


def test_refusals(tmp_path):
    small = simulated(tmp_path / "small", seed=3, posts=60)
    out = run("infer", "--calibrate", "--archive", str(small))
    assert out.exit_code != 0 and "a calibration needs at least 200" in " ".join(out.output.split())
    assert not (small / "inference_weights.json").exists()
    bare = tmp_path / "bare"
    ingest_records(Archive.open(bare, create=True),
                   [{k: v for k, v in r.items() if k != "parents"} for r in simulate(SimParams(seed=4, posts=300))[0]],
                   source="simulate")
    out = run("infer", "--calibrate", "--archive", str(bare))
    assert out.exit_code != 0 and "no declared links" in out.output
    for extra, said in ((["--fit"], "two runs"), (["--evaluate"], "leave out --evaluate"),
                        (["--full"], "does not apply to --calibrate"),
                        (["--weights", str(I.data_dir() / I.WEIGHTS_FILE)], "overwrite the shipped weights")):
        out = run("infer", "--calibrate", *extra, "--archive", str(small))
        assert out.exit_code == 2 and said in " ".join(out.output.split()), (extra, out.output)


def test_refit_keeps_a_term_these_links_cannot_tell():
    """A term constant over the archive's links (no pictures, every parent publishing a count) keeps the
    shipped slope, the constant absorbing its value, so the archive's links get the same confidence."""
    import numpy as np

    from lineage.infer_eval import _refit

    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    ok = (rng.random(500) < 1 / (1 + np.exp(-(1.5 * x - 0.3)))).astype(float)
    D = np.column_stack([x, np.ones(500), np.ones(500), np.zeros(500)])
    given = (1.0, 0.1, 0.7, -2.0)
    got = _refit(D, ok, given)
    assert got[2] == 0.7 and got[3] == -2.0
    alone = _refit(D[:, :2], ok, given[:2])
    assert got[0] == pytest.approx(alone[0]) and got[1] + got[2] == pytest.approx(alone[1])
    assert 1.0 < got[0] < 2.1  # the slope of the truth, 1.5, within its noise
    assert pl.Series(got).is_finite().all()


def test_a_crawl_whose_platform_stopped_declaring_calibrates_on_the_posts_before_the_stop(tmp_path):
    """The platform declared links for its first 70% of posts: without --until the refusal names the time of
    the last declared link; with it, the calibration helps another archive of the same platform."""
    recs = simulate(SimParams(seed=77, posts=2500, edge_delays=True, attachment=1.0, repost=0.1, self_remix=0.2))[0]
    recs.sort(key=lambda r: r["created_at"])
    stop = recs[int(len(recs) * 0.7)]["created_at"]
    for r in recs:
        if r["created_at"] >= stop:
            r.pop("parents", None)
    a = tmp_path / "crawl"
    ingest_records(Archive.open(a, create=True), recs, source="simulate")
    out = run("infer", "--calibrate", "--archive", str(a))
    said = " ".join(out.output.split())
    assert out.exit_code != 0 and "the declared links stop at" in said and "--until" in said
    until = said.split("(--until ")[1].split(")")[0]
    assert until < stop
    out = run("infer", "--calibrate", "--json", "--until", until, "--archive", str(a))
    assert out.exit_code == 0, out.output
    rep = json.loads(out.output)
    assert rep["written"] and rep["links"] < 0.72 * len(recs)
    b = simulated(tmp_path / "b", seed=78)
    shipped = json.loads(run("infer", "--evaluate", "--json", "--archive", str(b)).output)
    own = json.loads(run("infer", "--evaluate", "--json", "--archive", str(b),
                         "--weights", rep["weights"]).output)
    assert own["ece"] < shipped["ece"] - 0.02 and own["ece"] <= 0.05, (own["ece"], shipped["ece"])
    # --evaluate reads the same posts when asked
    part = json.loads(run("infer", "--evaluate", "--json", "--until", until, "--archive", str(a)).output)
    assert part["n"] == sum(1 for r in recs if r["created_at"] <= until) < len(recs) and part["warnings"] == []
    # and says, without --until, that the posts after the stop are scored as roots (it scored them silently:
    # exact parent 0.54 and calibration error 0.25, where the posts before the stop give 0.8 and 0.03)
    out = run("infer", "--evaluate", "--archive", str(a))
    said = " ".join(out.stderr.split())
    assert out.exit_code == 0 and f"warning: the declared links stop at {until}" in said \
        and f"--until {until}" in said and "scored as roots" in said, out.stderr
    whole = run("infer", "--evaluate", "--json", "--archive", str(a))
    rep = json.loads(whole.stdout)
    assert len(rep["warnings"]) == 1 and f"--until {until}" in rep["warnings"][0] and rep["n"] == len(recs)
    # an --until past the stop reads the same posts, and says so the same way
    past = json.loads(run("infer", "--evaluate", "--json", "--until", "2099-01-01", "--archive", str(a)).stdout)
    assert past["n"] == len(recs) and len(past["warnings"]) == 1 and f"--until {until}" in past["warnings"][0]
