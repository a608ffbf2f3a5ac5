"""Pictures as evidence (inference method 7) broken on purpose by a new user (session 26): the simulator's
media fingerprints through the CLI, malformed fingerprint rows, and a picture that unrelated posts share.
Each test failed before its fix."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import lineage.infer as I
from archive.errors import SourceError
from archive.media.store import FINGERPRINT_SCHEMA, FINGERPRINTS_TABLE, fingerprints
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
SIM = ["ingest", "simulate", "--seed", "5", "--posts", "300"]


def run(*args: str) -> dict:
    from dashboard.cli import cli

    r = CliRunner().invoke(cli, list(args), terminal_width=200)
    assert r.exit_code == 0, r.output
    return json.loads(r.output) if "--json" in args and "jsonl" not in args[:2] else {}


def pictures(path: Path) -> pl.DataFrame:
    """The archive's fingerprints of simulated posts: ``id, pdq``, sorted."""
    return fingerprints(Archive.open(path)).filter(pl.col("sha256").is_null()).select("id", "pdq").sort("id")


def pictures_in_records(path: Path) -> pl.DataFrame:
    """``id, pdq`` as the archive's latest records carry them (``extra.simulator.pdq``)."""
    a = Archive.open(path)
    latest = a.posts().select("id", "content_hash")
    return (a.records(columns=["id", "content_hash", "record"]).join(latest, on=["id", "content_hash"], how="semi")
            .select("id", pl.col("record").str.json_path_match("$.extra.simulator.pdq").alias("pdq"))
            .drop_nulls().unique().sort("id"))


# ------------------------------------------------------------------------------------------------ the simulator
@pytest.mark.parametrize("args, named", [
    (["--fingerprints", "nan"], "--fingerprints=nan"),  # click's FloatRange lets NaN through: no picture, silently
    (["--media-reuse", "nan"], "--media-reuse=nan"),  # named as typed (session 32)
    (["--repost", "1.5"], "--repost=1.5"),
])
def test_a_simulator_setting_out_of_range_is_a_one_line_error_that_writes_nothing(tmp_path, args, named):
    from dashboard.cli import cli

    r = CliRunner().invoke(cli, [*SIM, *args, "--archive", str(tmp_path / "a")])
    assert r.exit_code == 1 and named in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()
    r = CliRunner().invoke(cli, [*SIM, *args, "--out", str(tmp_path / "s.jsonl")])
    assert r.exit_code == 1 and not (tmp_path / "s.jsonl").exists()
    with pytest.raises(SourceError, match=r"fingerprints=-0.1 \(a probability, 0 to 1\); media_reuse=2.0"):
        simulate(SimParams(posts=10, media_reuse=2.0, fingerprints=-0.1))


def test_pictures_written_with_out_are_kept_by_ingest_jsonl(tmp_path):
    # `ingest simulate --out` put each picture in extra.simulator.pdq, and `ingest jsonl` of that file left
    # the archive without a media_fingerprints table: inference and visual drift saw no picture
    run(*SIM, "--fingerprints", "0.3", "--out", str(tmp_path / "s.jsonl"))
    run("ingest", "jsonl", str(tmp_path / "s.jsonl"), "--archive", str(tmp_path / "via-file"), "--json")
    run(*SIM, "--fingerprints", "0.3", "--archive", str(tmp_path / "direct"), "--json")
    got = pictures(tmp_path / "via-file")
    assert 60 < got.height < 120  # 0.3 of 300 posts
    assert_frame_equal(got, pictures(tmp_path / "direct"))
    assert_frame_equal(got, pictures_in_records(tmp_path / "via-file"))
    run("ingest", "jsonl", str(tmp_path / "s.jsonl"), "--archive", str(tmp_path / "via-file"), "--json")
    assert Archive.open(tmp_path / "via-file").table_version(FINGERPRINTS_TABLE) == 0  # nothing new: no commit
    # a file of the same posts with other pictures replaces them, through jsonl too
    run(*SIM, "--fingerprints", "1", "--media-reuse", "0.9", "--out", str(tmp_path / "s2.jsonl"))
    run("ingest", "jsonl", str(tmp_path / "s2.jsonl"), "--archive", str(tmp_path / "via-file"), "--json")
    got = pictures(tmp_path / "via-file")
    assert got.height == got["id"].n_unique() == 300
    assert_frame_equal(got, pictures_in_records(tmp_path / "via-file"))


def test_a_rerun_with_other_picture_settings_replaces_each_posts_picture(tmp_path):
    # the second run's records carry new pictures, but the fingerprints table kept the first run's for the
    # posts it had (and added the new ones): a post's picture in the table was not the one its record gave
    path = tmp_path / "a"
    run(*SIM, "--fingerprints", "0.3", "--archive", str(path), "--json")
    real = pl.DataFrame([{"id": "media:ab", "sha256": "ab", "kind": "image", "frame_s": None, "pdq": "0" * 64,
                          "quality": 90, "phash": "0" * 16}], schema=FINGERPRINT_SCHEMA)
    Archive.open(path).append(FINGERPRINTS_TABLE, real)
    run(*SIM, "--fingerprints", "1", "--media-reuse", "0.9", "--archive", str(path), "--json")
    got = pictures(path)
    assert got.height == got["id"].n_unique() == 300
    assert_frame_equal(got, pictures_in_records(path))
    run(*SIM[:2], "--seed", "6", "--posts", "100", "--fingerprints", "1", "--archive", str(path), "--json")
    assert pictures(path).height == 400
    assert fingerprints(Archive.open(path)).filter(pl.col("sha256") == "ab").height == 1  # real media untouched


# ------------------------------------------------------------------------------------------------ bad rows
def test_a_malformed_fingerprint_row_is_no_fingerprint_for_analyze(tmp_path):
    # `archivist analyze` stopped with a traceback (bytes.fromhex) on one row whose pdq was not 64 hex characters
    path = tmp_path / "a"
    run(*SIM, "--fingerprints", "1", "--archive", str(path), "--json")
    before = run("analyze", "--archive", str(path), "--json")["visual_edges"]
    a = Archive.open(path)
    good = pictures(path).row(3)
    bad = [(good[0], None), (good[0], "abc"), (good[0], "zz" * 32), (good[0], good[1] + "00"),
           (good[0], good[1].upper()), ("simulate:not-here", good[1])]
    a.append(FINGERPRINTS_TABLE, pl.DataFrame([{"id": i, "sha256": "x", "kind": "image", "frame_s": None, "pdq": h,
                                                "quality": 90, "phash": None} for i, h in bad],
                                              schema=FINGERPRINT_SCHEMA))
    assert run("analyze", "--archive", str(path), "--force", "--json")["visual_edges"] == before
    fp = fingerprints(a)
    assert fp["pdq"].str.contains(r"^[0-9a-f]{64}$").all()


def test_infer_frame_reads_a_malformed_or_uppercase_fingerprint_as_load_fingerprints_does():
    # given a frame directly, a null hash stopped inference with a TypeError and a short one with a ValueError
    posts = pl.DataFrame({"id": ["a", "b", "c"], "created_at": [T0 + timedelta(hours=h) for h in range(3)],
                          "text": ["a red fox asleep in the snow"] * 3})
    fp = pl.DataFrame({"id": ["a", "b"], "pdq": ["ab" * 32] * 2})
    want = I.infer_frame(posts, fingerprints=fp).edges
    for bad in (None, "abc", "zz" * 32):
        extra = pl.DataFrame({"id": ["c"], "pdq": [bad]}, schema={"id": pl.String, "pdq": pl.String})
        assert_frame_equal(I.infer_frame(posts, fingerprints=pl.concat([fp, extra])).edges, want)
    upper = I.infer_frame(posts, fingerprints=fp.with_columns(pl.col("pdq").str.to_uppercase())).edges
    assert_frame_equal(upper, want)
    twice = I.infer_frame(posts, fingerprints=pl.concat([fp, fp])).edges
    assert_frame_equal(twice, want)


# ------------------------------------------------------------------------------------------------ a shared picture
UNRELATED = ["a red fox jumping over a frozen river at dawn", "vintage car parked in front of a neon diner",
             "astronaut cat floating inside a space station", "bowl of ramen steaming on a rainy window sill",
             "lighthouse in a storm with crashing waves", "children flying kites above a wheat field"]


@pytest.mark.parametrize("same_author", [False, True])
def test_a_stock_picture_on_unrelated_prompts_is_no_sure_link(same_author):
    # six prompts that share no subject word, one picture (a stock photo, a template, a watermark-only frame):
    # each was linked to an earlier one by the picture alone, at 0.51 to 0.77, and at 0.998 when one author
    # posted them all
    n = len(UNRELATED)
    posts = pl.DataFrame({"id": [f"p{i}" for i in range(n)], "created_at": [T0 + timedelta(hours=i) for i in range(n)],
                          "author": ["@one" if same_author else f"@a{i}" for i in range(n)], "text": UNRELATED})
    fp = pl.DataFrame({"id": posts["id"], "pdq": ["ab" * 32] * n})
    e = I.infer_frame(posts, fingerprints=fp).edges
    assert e.height > 0 and e["confidence"].max() <= I.PICTURE_ONLY_CONFIDENCE
    # the more earlier unrelated posts show the picture, the less it says which one is the parent
    assert e.filter(pl.col("child") == "p5")["confidence"][0] <= I.PICTURE_ONLY_CONFIDENCE / 5


def test_a_picture_beside_shared_words_is_still_evidence():
    # the cap is for a picture alone: a remix whose prompt keeps the subject and whose picture is a re-post
    # keeps the confidence the fitted weights give it
    posts = pl.DataFrame({"id": ["p", "q", "c"], "created_at": [T0 + timedelta(hours=h) for h in (0, 2, 3)],
                          "author": ["@one", "@two", "@three"],
                          "text": ["a paper boat sailing across a flooded library, film grain"] * 2
                                  + ["a paper boat sailing across a flooded library, film grain, noir"]})
    fp = pl.DataFrame({"id": ["p", "q", "c"], "pdq": ["00" * 32, "ff" * 32, "ff" * 31 + "fe"]})
    e = I.infer_frame(posts, fingerprints=fp).edges.filter(pl.col("child") == "c").row(0, named=True)
    assert e["parent"] == "q" and e["confidence"] > I.PICTURE_ONLY_CONFIDENCE


# ------------------------------------------------------------------------------------------------ many frames
def test_a_videos_many_frames_do_not_hide_the_picture_it_was_cut_from():
    # a picture, then a 40-frame video panning over it, then a re-post of the picture: each multi-index bucket
    # paired a frame with the 12 *rows* before it, all frames of the video, so the re-post never met the
    # picture (2 bits from it) and could only be linked to the video
    import numpy as np

    rng = np.random.default_rng(0)
    pic = int.from_bytes(rng.bytes(32), "big")

    def moved(k: int) -> str:
        return f"{pic ^ sum(1 << int(b) for b in rng.choice(256, k, replace=False)):064x}"

    fp = pl.DataFrame({"id": ["a"] + ["v"] * 40 + ["c"], "pdq": [f"{pic:064x}"] + [moved(3) for _ in range(40)]
                       + [moved(2)]})
    ids = pl.Series(["a", "v", "c"])
    c, p, s = I.visual_pairs(fp, ids, t=np.array([0, 1, 2]))
    found = {(ids[int(x)], ids[int(y)]): float(z) for x, y, z in zip(c, p, s)}
    assert set(found) == {("v", "a"), ("c", "v"), ("c", "a")}
    # each pair is scored by its best frame pair (the video's frames are 3 bits from the picture, give or take)
    want = I.visual_pairs(fp, ids, child=np.array([2, 2, 1]), parent=np.array([0, 1, 0]))[2]
    assert [found[("c", "a")], found[("c", "v")], found[("v", "a")]] == pytest.approx(list(want))
    assert found[("c", "a")] >= 1 - 4 / 256
