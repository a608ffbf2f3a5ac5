"""Session 29b: ``archivist infer --calibrate`` and version 10's bound on a second-stage link broken on purpose.

Failures found (each test below that remains failed on the code it was written against; mended the same session):

* a crawl made before the platform stopped declaring links (README, "Calibrating on your own archive": "a
  crawl made before the platform stopped ... can fix that for itself") calibrates every post, those after the
  stop included, as if they were roots: --calibrate reports the shipped error as 0.28 and its own as 0.05, and
  the calibration it writes takes another archive of the same platform from 0.06 to 0.23 (no link at 0.9);
* a calibration term that varies on a handful of the archive's links (7 of 1,964 have a picture on both sides,
  all right) is fitted without any bound (Platt scaling, no penalty): its slope goes from 0.22 to 7.5, and
  another archive with more pictures reads every pictured link as nearly certain;
* the archive's own unusable weights file: `archivist infer` says "leave out --weights" (none was given) and
  suggests `--fit --weights ARCHIVE/inference_weights.json` (a whole refit written where the calibration goes);
* an archive whose declared links make one tree: the "cross-validated" error of its own calibration is the
  shipped one copied (no second half to score it), and the calibration is written all the same;
* README's sample figure for second-stage links under a counted parent (45% right at 0.23) is that of the 160
  links the bound lowered; all 285 such links are right 53% of the time at 0.33 (the README now says both; the
  test that held the figures was dropped: a test does not hard-code a README figure).

The rest pass (hardest tried): the bound's value in each case (same week, next week, a declared holder, a
declared child ingested weeks later, a later second-stage child) and reruns equal to --full to the last bit,
around --calibrate, an ingest and the file's removal.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import lineage.infer as I
from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive



def run(*args: str, ok: bool = True):
    from dashboard.cli import cli as main

    r = CliRunner().invoke(main, list(args), terminal_width=200)
    if ok:
        assert r.exit_code == 0, r.output
    return r


def evaluate(arc: Path, *weights: str) -> dict:
    return json.loads(run("infer", "--evaluate", "--json", "--archive", str(arc), *weights).output)


# ----------------------------------------------------------------------------------------- --calibrate
# the crawl made before the platform stopped declaring links: tests/test_infer_calibrate.py
# (test_a_crawl_whose_platform_stopped_declaring_calibrates_on_the_posts_before_the_stop) refuses it without
# --until and measures the calibration made with it on another archive


def test_a_term_seen_on_a_handful_of_links_keeps_a_sane_slope(tmp_path):
    # README: "a term that does not vary on the archive, say pictures where it has none, keeps its shipped
    # slope" (these links cannot tell it). A term that varies on 7 links of 1,964 (3% of the posts
    # fingerprinted: pictures on both sides of 7 links, all right) cannot tell it either, but _refit fits it
    # with plain unpenalised Platt scaling: the links are separable on it and its slope runs to 7.5 (shipped
    # 0.22). On an archive of the same platform with half its posts fingerprinted, the archive's calibration
    # then makes the error worse than the shipped one (0.055 vs 0.037) and precision at 0.9 drops to 0.91.
    a, b = tmp_path / "few", tmp_path / "half"
    run("ingest", "simulate", "--seed", "7", "--posts", "2000", "--fingerprints", "0.06", "--archive", str(a))
    run("ingest", "simulate", "--seed", "9", "--posts", "2000", "--fingerprints", "0.5", "--archive", str(b))
    w = tmp_path / "w.json"
    rep = json.loads(run("infer", "--calibrate", "--json", "--weights", str(w), "--archive", str(a)).output)
    slope = rep["calibration"][I.CALIBRATION_TERMS.index("has_pictures")]
    shipped, own = evaluate(b), evaluate(b, "--weights", str(w))
    assert own["ece"] <= shipped["ece"] + 0.01, (own["ece"], shipped["ece"], slope)
    assert own["precision_at_0_9"] >= 0.92, (own["precision_at_0_9"], slope)


def test_refit_of_a_nearly_constant_term_stays_near_the_shipped_slope():
    # the mechanism, without an archive: 3 links of 1,000 have pictures on both sides and are right
    from lineage.infer_eval import _refit

    w = I.load_weights().calibration
    rng = np.random.default_rng(0)
    n = 1000
    D = I.calibration_design(rng.uniform(0.05, 0.99, n), rng.random(n) < 0.5, rng.uniform(0, 1, n),
                             rng.uniform(0, 300, n))
    ok = (rng.random(n) < I._calibrate(D, w)).astype(float)
    k = I.CALIBRATION_TERMS.index("has_pictures")
    D[:3, k] = 1.0
    ok[:3] = 1.0
    got = _refit(D, ok, w)
    assert abs(got[k] - w[k]) < 3.0, (got[k], w[k])  # 14.2 vs 0.22: a link with pictures reads 1.0


def test_an_archive_s_unusable_own_file_gives_advice_about_that_file_only(tmp_path):
    # the user gave no --weights: the archive's own file is read by default. The error says "leave out --weights
    # to use the shipped weights" (there is none to leave out) and "run `archivist infer --fit` with --weights
    # ARCHIVE/inference_weights.json" (a whole refit of every weight, written where the archive's calibration
    # goes, which the README never asks for), before the right advice (calibrate again, or delete the file).
    a = tmp_path / "a"
    run("ingest", "simulate", "--seed", "5", "--posts", "300", "--archive", str(a))
    (a / I.WEIGHTS_FILE).write_text(json.dumps({"method": "text-style-time-author-visual/9"}))
    for args in (["infer"], ["infer", "--evaluate"]):
        out = run(*args, "--archive", str(a), ok=False)
        said = " ".join(out.output.split())
        assert out.exit_code != 0 and "--calibrate" in said and "delete" in said
        assert "leave out --weights" not in said and "--fit" not in said, said


def test_a_single_tree_archive_does_not_report_the_shipped_error_as_its_own_cross_validated_one(tmp_path):
    # README: --calibrate "reports the calibration error with the shipped calibration and with the archive's
    # own, cross-validated (the trees split in two halves, each half's links scored by the fit on the other)".
    # An archive whose declared links make one tree (a platform's single remix chain, a meme's whole family under
    # its origin) has no second half: recalibrate then copies the shipped confidences into the "after" column,
    # and the command says "0.046 with the shipped calibration, 0.046 with this archive's (cross-validated...)"
    # and writes the calibration: the figure it gives for the archive's own calibration was never measured.
    recs = simulate(SimParams(seed=8, posts=1500, edge_delays=True))[0]
    origin = {"id": "simulate:origin", "source": "simulate", "created_at": "2020-01-01T00:00:00Z",
              "prompt": "the origin of every meme", "fetched_at": recs[0].get("fetched_at")}
    for r in recs:
        if not r.get("parents"):
            r["parents"] = [{"id": origin["id"], "relation": "remix", "evidence": "declared"}]
    a = tmp_path / "one"
    ingest_records(Archive.open(a, create=True), [origin] + recs, source="simulate")
    out = run("infer", "--calibrate", "--json", "--archive", str(a), ok=False)
    if out.exit_code != 0:  # refusing (one tree cannot be cross-validated) is a fair answer
        return
    rep = json.loads(out.output)
    assert rep["trees"] == 1 and rep["links"] >= 200
    # the "after" figures must be the archive's own calibration's, or absent: not the shipped ones again
    assert rep["ece_after"] is None or rep["reliability_after"] != _shipped_reliability(a), rep["ece_after"]


def _shipped_reliability(a: Path) -> list:
    from lineage.infer_eval import reliability

    return reliability(*_before_ok(a))[0]


def _before_ok(a: Path):
    from lineage.infer_eval import _truth

    arc = Archive.open(a, read_only=True)
    truth, _ = _truth(arc)
    res = I.infer_frame(I._archive_posts(arc), weights=I.load_weights(), fingerprints=I.load_fingerprints(arc.path))
    e = res.edges
    ok = np.array([truth.get(c) == p for c, p in e.select("child", "parent").iter_rows()], dtype=np.float64)
    return e.get_column("confidence").to_numpy(), ok


# ------------------------------------------------------------- version 10's bound and reruns (pass: hardest tried)
# the posts and the record builder of the first break session (tests/test_infer_s29_break.py)
from tests.test_infer_s29_break import A, B, P, links, rec  # noqa: E402

D = "an astronaut grandmother surfing a giant wave at sunset in hawaii tonight"


def ingest(arc: Path, rows: list[dict], name: str) -> None:
    f = arc.parent / f"{arc.name}-{name}.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    run("ingest", "jsonl", str(f), "--archive", str(arc))


def tables(arc: Path):
    a = Archive.open(str(arc))
    cols = ["child", "parent", "confidence", "features", "method"]
    return [t.select(cols).sort("child").unnest("features") for t in (I.inferred_edges(a), I.inferred_cut(a))]


def assert_rerun_is_full_bit_for_bit(inc: Path) -> None:
    full = inc.parent / f"{inc.name}-full"
    shutil.rmtree(full, ignore_errors=True)
    shutil.copytree(inc, full)
    run("infer", "--full", "--archive", str(full))
    for x, y in zip(tables(inc), tables(full)):
        assert_frame_equal(x, y, check_exact=True)


HOLDER = [rec(1, "2025-12-30T00:00:00Z", P, remixes=1, author="u1", views=1000),
          rec(2, "2025-12-31T22:00:00Z", A, author="u2"),
          rec(3, "2025-12-31T23:00:00Z", B, author="u3")]


@pytest.mark.parametrize("case", ["same-week", "next-week", "declared-holder", "declared-later", "two-seconds"])
def test_a_second_stage_link_is_bounded_by_what_the_count_leaves_and_a_rerun_gives_it_to_the_last_bit(case, tmp_path):
    # P publishes 1 remix. A (first stage) holds it; B reads most like P but the assignment left it without
    # parent, and the second stage hangs it under P: "at most as sure as the remixes the count leaves unclaimed"
    rows = {"same-week": HOLDER,
            "next-week": HOLDER[:2] + [rec(3, "2026-01-01T01:00:00Z", B, author="u3")],  # past Thursday 00:00
            "declared-holder": [HOLDER[0], rec(2, "2025-12-31T22:00:00Z", A, author="u2", parent="x:1"), HOLDER[2]],
            "declared-later": HOLDER,
            "two-seconds": HOLDER}[case]
    inc = tmp_path / "inc"
    ingest(inc, rows, "a")
    run("infer", "--archive", str(inc))
    if case == "declared-later":  # the platform declares a child three weeks later: it holds P's remix
        ingest(inc, [rec(6, "2026-01-20T00:00:00Z", D, author="u6", parent="x:1")], "b")
        run("infer", "--archive", str(inc))
    if case == "two-seconds":
        ingest(inc, [rec(7, "2026-01-20T00:00:00Z", B + " again", author="u7")], "b")
        run("infer", "--archive", str(inc))
    got = links(inc)
    assert got["x:3"][0] == "x:1" and got["x:3"][2] < 0  # second stage
    to_p = [(c, conf) for c, (p, conf, _) in got.items() if p == "x:1"]
    if case in ("declared-holder", "declared-later"):
        assert all(conf == I.CLAIMED_FLOOR for _, conf in to_p), to_p  # nothing left: the floor
    else:
        holder = got["x:2"][1]
        assert got["x:2"][2] > 0 and got["x:3"][1] == max(1.0 - holder, I.CLAIMED_FLOOR) < 0.5
    assert_rerun_is_full_bit_for_bit(inc)


def test_calibrate_then_ingest_then_infer_ends_equal_to_a_full_run_bit_for_bit(tmp_path):
    # an archive that lost a third of its declared links (every third post), calibrated on what it has, then
    # its own weights and the shipped ones in turn, with an ingest between: a change of weights recomputes
    # every post, an ingest only the later ones, and each run ends equal to --full, confidences to the last bit
    recs = simulate(SimParams(seed=11, posts=1600, edge_delays=True))[0]
    recs.sort(key=lambda r: r["created_at"])
    for r in recs[::3]:
        r.pop("parents", None)
    inc = tmp_path / "inc"
    ingest(inc, recs[:1200], "a")
    first = json.loads(run("infer", "--json", "--archive", str(inc)).output)
    run("infer", "--calibrate", "--archive", str(inc))
    again = json.loads(run("infer", "--json", "--archive", str(inc)).output)
    assert again["weights"].endswith(I.WEIGHTS_FILE) and again["recomputed"] == first["eligible"]  # other weights
    assert_rerun_is_full_bit_for_bit(inc)
    ingest(inc, recs[1200:], "b")
    last = json.loads(run("infer", "--json", "--archive", str(inc)).output)
    assert 0 < last["recomputed"] < last["eligible"]  # incremental
    assert_rerun_is_full_bit_for_bit(inc)
    (inc / I.WEIGHTS_FILE).unlink()  # back to the shipped calibration: every post again
    back = json.loads(run("infer", "--json", "--archive", str(inc)).output)
    assert back["weights"] == "shipped" and back["recomputed"] == back["eligible"]
    assert_rerun_is_full_bit_for_bit(inc)
