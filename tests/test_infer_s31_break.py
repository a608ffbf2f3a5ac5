"""`archivist infer` broken by a session-31 helper: prolific authors, chains of small edits, records whose
parents are plain ids.

Each input is a chain of 50 posts a block, each post one word away from the post an hour before it,
12 made-up words a prompt (so nothing but the edits links them).
"""
from __future__ import annotations

import random

import numpy as np

from lineage.infer_eval import evaluate_frame, posts_from_records


def chain_records(authors: str, *, n: int = 500, words: int = 12, seed: int = 9) -> list[dict]:
    """Blocks of 50 posts, each a one-word edit of the one an hour before; ``authors`` "rr7" (seven
    authors taking turns) or "unique"; the declared parent given as a plain id."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        if i % 50 == 0:
            vocab = [f"c{i}w{j}" for j in range(50000)]
            cur = [rng.choice(vocab) for _ in range(words)]
        else:
            cur = list(cur)
            cur[rng.randrange(words)] = rng.choice(vocab)
        r = {"id": f"L:{i}", "source": "L", "created_at": f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
             "author": f"@u{i}" if authors == "unique" else f"@a{i % 7}", "prompt": " ".join(cur),
             "fetched_at": "2026-07-01T00:00:00Z"}
        if i % 50:
            r["parents"] = [f"L:{i - 1}"]  # an id alone: the record format takes it as well as an object
        out.append(r)
    return out


def test_records_whose_parents_are_plain_ids_give_their_truth():
    posts, truth = posts_from_records(chain_records("unique", n=3))
    assert truth == {"L:0": None, "L:1": "L:0", "L:2": "L:1"}


def test_an_author_who_posts_a_seventh_of_the_archive_is_no_sure_sign_of_a_parent():
    """Seven authors taking turns: the same author's post seven edits back beat the post an hour before,
    one word away, in 430 of 500 links, some at 0.92 (version 10: exact parent 0.124, the plain baseline
    1.0). A shared author is evidence as far as it is rare (version 11: `lineage.infer._author_evidence`)."""
    posts, truth = posts_from_records(chain_records("rr7"))
    r = evaluate_frame(posts, truth)
    assert r["parent_accuracy"] > 0.85, r["parent_accuracy"]
    table = r["reliability"]
    sure = [b for b in table if b["bin"] == "0.9-1.0" and b["n"]]
    assert all(b["accuracy"] >= 0.9 for b in sure), sure


def test_calibrate_fits_an_archive_whose_links_are_all_right(tmp_path):
    """A chain of small edits with unique authors: every link right, each at a shipped confidence of
    about 0.2 (calibration error 0.83). `--calibrate` refused ("nothing to calibrate on"); the prior keeps
    the fit finite, and the cross-validated error falls."""
    from archive.ingest import ingest_records
    from archive.store import Archive
    from lineage.infer_eval import recalibrate

    recs = chain_records("unique", words=60)
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, recs)
    w, rep = recalibrate(a)
    assert rep["share_right"] > 0.95 and rep["ece_before"] > 0.5, rep
    assert rep["ece_after"] < 0.1 and rep["coverage_at_0_9_after"] > 0.5, rep
    assert np.isfinite(w.calibration).all()


def test_a_run_reports_each_stage_of_its_progress_bar_in_order(tmp_path):
    """The progress bar of `archivist infer` is a bar over INFER_STAGES: a full run passes every one, in order."""
    from archive.ingest import ingest_records
    from archive.store import Archive
    from lineage.infer import INFER_STAGES, infer

    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [{k: v for k, v in r.items() if k != "parents"} for r in chain_records("unique", n=60)])
    seen: list[str] = []
    infer(a, progress=seen.append)
    assert seen == list(INFER_STAGES)


def test_the_summary_is_one_line_with_separators_and_names_links_readers_leave_out(tmp_path):
    """The summary wrapped at 80 columns into four lines and printed 147214 where `stats` prints 147,214;
    a link readers leave out (it would close a loop with a declared parent dated after its child) was
    counted as found and never mentioned."""
    import json

    from click.testing import CliRunner

    from archive.ingest import ingest_records
    from archive.store import Archive
    from dashboard.cli import cli

    base = "a giant baker playing the accordion in an enchanted forest, watercolor"
    t = "2026-01-0{}T00:00:00Z"
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [
        {"id": "l:A", "source": "l", "created_at": t.format(1), "prompt": "robots surfing at dawn"},
        {"id": "l:B", "source": "l", "created_at": t.format(2), "prompt": base, "parents": ["l:C"]},
        {"id": "l:C", "source": "l", "created_at": t.format(3), "prompt": base + ", oil paint"},
        {"id": "l:D", "source": "l", "created_at": t.format(4), "prompt": base + ", oil paint, dusk"}])
    r = CliRunner().invoke(cli, ["infer", "--archive", str(tmp_path / "a")], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    assert "1 left out by readers (l:C -> l:B), as it would close a loop with declared links" in r.output
    r = CliRunner().invoke(cli, ["infer", "--archive", str(tmp_path / "a"), "--full", "--json"])
    got = json.loads(r.output)
    assert got["left_out_by_readers"] == 1 and got["left_out"] == [{"child": "l:C", "parent": "l:B"}]


def test_evaluate_and_calibrate_name_the_sources_an_unknown_one_is_not(tmp_path):
    from click.testing import CliRunner

    from archive.ingest import ingest_records
    from archive.store import Archive
    from dashboard.cli import cli

    ingest_records(Archive.open(tmp_path / "a", create=True), chain_records("unique", n=60))
    for mode in ("--evaluate", "--calibrate", None):
        args = ["infer", "--source", "nosuch", "--archive", str(tmp_path / "a")] + ([mode] if mode else [])
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2 and "no post of source 'nosuch' in the archive; its sources are: L" in r.output, \
            (mode, r.output)
    r = CliRunner().invoke(cli, ["infer", "--since", "2026-01-02t00:00:00z", "--archive", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output


def test_a_confidence_just_below_one_is_not_shown_as_one():
    from lineage.infer import confidence_text

    assert confidence_text(0.9962) == "0.996" and confidence_text(0.0003) == "0.0003"


def test_ctrl_c_says_what_each_mode_of_infer_leaves(capsys):
    """--evaluate interrupted printed an ingest's "committed batches are kept", though it writes nothing."""
    import pytest

    from lineage.cli_infer import _interrupted

    def stop(**kwargs):
        raise KeyboardInterrupt

    for mode, said in (("evaluate", "--evaluate writes nothing"), ("calibrate", "--calibrate writes its weights only"),
                       ("refit", "--fit writes its weights only"), (None, "the last run that finished writing")):
        with pytest.raises(SystemExit) as e:
            _interrupted(stop)(**({mode: True} if mode else {}))
        err = capsys.readouterr().err
        assert e.value.code == 130 and said in err and "committed batches" not in err, err


def test_until_a_date_takes_the_whole_day():
    """--until 2026-03-04 left out a post of 03:28 that day ("created at or before DATE")."""
    from datetime import datetime, timezone

    import click

    from lineage.cli_infer import _until

    ctx = click.Context(click.Command("x"))
    assert _until(ctx, None, "2026-03-04") == datetime(2026, 3, 4, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert _until(ctx, None, "2026-03-04T03:00:00Z") == datetime(2026, 3, 4, 3, tzinfo=timezone.utc)
