"""Inference version 8 broken on purpose (session 27): the delay-discounted second cut, the windows that
leave out posts publishing 0 remixes (counts read after the archive's latest post), the count read per
pair, and the plain baseline with every count hidden. Each test failed before its fix."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import lineage.infer as I
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
COLS = ["child", "parent", "confidence", "features", "method"]


def run(*args: str):
    from dashboard.cli import cli as main

    return CliRunner().invoke(main, list(args), terminal_width=200)


def _crawl(seed: int, posts: int, share: float = 0.75) -> tuple[list[dict], list[dict], list[dict]]:
    """A simulated archive crawled in two passes, declared links stripped (a platform that no longer
    declares them): pass 1 reads the first ``share`` of the posts just after the last of them was made,
    each with the remixes it had then; pass 2 reads the rest at the end; ``again``: pass 1's posts read
    again at the end, with the remixes they have by then."""
    recs = sorted(simulate(SimParams(seed=seed, posts=posts))[0], key=lambda r: (r["created_at"], r["id"]))
    truth = {r["id"]: (r.get("parents") or [{}])[0].get("id") for r in recs}
    cut = int(posts * share)
    first = recs[cut - 1]["created_at"][:19] + ".999999Z"  # just after pass 1's latest post
    assert first < recs[cut]["created_at"]

    def seen(r: dict, fetched: str, upto: int) -> dict:
        kids = sum(1 for x in recs[:upto] if truth[x["id"]] == r["id"])
        return {**{k: v for k, v in r.items() if k != "parents"}, "metrics": {**r["metrics"], "remixes": kids},
                "fetched_at": fetched}

    end = "2027-01-01T00:00:00Z"
    return ([seen(r, first, cut) for r in recs[:cut]], [seen(r, end, posts) for r in recs[cut:]],
            [seen(r, end, posts) for r in recs[:cut]])


def _write(path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return str(path)


# ------------------------------------------------------------------------------ a crawl in two passes, by the CLI
@pytest.mark.parametrize("again", [False, True], ids=["pass-1-not-read-again", "pass-1-read-again"])
def test_an_archive_crawled_in_two_passes_infers_incrementally_what_a_full_run_does(again, tmp_path):
    # pass 1's counts were read just after its latest post: they held for every post then, so they were
    # capacities and a post with 0 remixes took no place in the windows. Pass 2 adds later posts and (not
    # read again) leaves those counts read before the archive's latest post: a full run no longer holds
    # them, but the incremental rerun recomputed only from pass 2's first post and kept 32 of 196 links
    # that a full run chooses otherwise
    p1, p2, p1_again = _crawl(3, 200)
    f1 = _write(tmp_path / "p1.jsonl", p1)
    f2 = _write(tmp_path / "p2.jsonl", p2 + (p1_again if again else []))
    inc, full = str(tmp_path / "inc"), str(tmp_path / "full")
    for arc in (inc, full):
        assert run("ingest", "jsonl", f1, "--archive", arc).exit_code == 0
    assert run("infer", "--archive", inc, "--json").exit_code == 0
    for arc in (inc, full):
        assert run("ingest", "jsonl", f2, "--archive", arc).exit_code == 0
    out = run("infer", "--archive", inc, "--json")
    assert out.exit_code == 0, out.output
    assert run("infer", "--full", "--archive", full, "--json").exit_code == 0
    a, b = Archive.open(inc), Archive.open(full)
    for table in (I.inferred_edges, I.inferred_cut):
        assert_frame_equal(table(a).select(COLS).sort("child"), table(b).select(COLS).sort("child"))
    assert I.inferred_edges(a).height > 150


def test_a_declared_remix_without_words_made_after_a_count_was_read_outdates_it(tmp_path):
    # t:a's count (1) was read at 05:00; t:d, a declared remix of t:a with no prompt, came at 10:00. The
    # archive's latest post was taken among posts with words or pictures only (t:b, 01:00), so the count
    # held for every post: a capacity of 1, taken by t:d, and t:b (its true remix, 1 of the count) could
    # not have t:a; t:d's remix is not in the count
    from archive.ingest import ingest_records

    def rec(i, h, prompt=None, **kw):
        return {"id": f"t:{i}", "source": "t", "created_at": f"2026-01-01T{h:02d}:00:00Z", "author": f"@{i}",
                **({"prompt": prompt} if prompt else {}), **kw}

    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [
        rec("a", 0, "a corgi surfing a glassy wave in tokyo at night, claymation", metrics={"remixes": 1},
            fetched_at="2026-01-01T05:00:00Z"),
        rec("b", 1, "a corgi surfing a glassy wave in tokyo at night, claymation, noir", metrics={"remixes": 0},
            fetched_at="2026-01-01T05:00:00Z"),
        rec("d", 10, parents=[{"id": "t:a"}], metrics={"remixes": 0}, fetched_at="2026-01-01T20:00:00Z")])
    s = I.infer(a)
    assert I.inferred_edges(a).select("child", "parent").rows() == [("t:b", "t:a")]
    assert s["no_part"] == {}  # t:d has its declared parent: not a post inference looks at


# ------------------------------------------------------------------------------------- hostile counts and times
def _three(remixes, dtype=None, **cols) -> pl.DataFrame:
    df = pl.DataFrame({"id": ["a", "b", "c"], "created_at": [T0 + timedelta(hours=h) for h in (0, 1, 2)],
                       "text": ["a corgi surfing a glassy wave in tokyo at night, claymation",
                                "a corgi surfing a glassy wave in tokyo at night, claymation, noir",
                                "a corgi surfing a glassy wave in tokyo at night, claymation, noir, vhs"],
                       "author": ["x", "y", "z"], "remixes": remixes, **cols},
                      schema_overrides={"remixes": dtype} if dtype else None)
    return df


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "many"], ids=["negative", "nan", "inf", "text"])
def test_a_remix_count_that_is_no_count_is_an_unknown_count(bad):
    # t:a's count is garbage (a frame built by hand, a CSV): -1 closed t:a to every child (no link at all);
    # infinity made t:c a remix of t:a with confidence 1.0; "many" stopped the run with a polars error.
    # Each reads as an unknown count: the links are those of an archive that publishes none for t:a
    unknown = I.infer_frame(_three([None, None, None], pl.Float64)).edges.select("child", "parent", "confidence")
    dtype = pl.String if isinstance(bad, str) else pl.Float64
    got = I.infer_frame(_three([bad, None, None], dtype)).edges.select("child", "parent", "confidence")
    assert_frame_equal(got, unknown)
    assert got.select("child", "parent").rows() == [("b", "a"), ("c", "b")]


def test_counts_given_as_floats_or_numeric_text_read_as_the_whole_numbers():
    # a float column (a frame with nulls through pandas: 0.0, 2.0) or numbers as text is the same count
    want = I.infer_frame(_three([2, 1, 0], pl.Int64)).edges
    for df in (_three([2.0, 1.0, 0.0], pl.Float64), _three(["2", "1", "0"], pl.String),
               _three([2.2, 0.9, 0.1], pl.Float64)):
        assert_frame_equal(I.infer_frame(df).edges, want)


@pytest.mark.parametrize("col", ["created_at", "fetched_at"])
def test_times_as_text_are_refused_with_a_line_that_says_how_to_parse_them(col):
    df = _three([1, 0, 0]).with_columns(fetched_at=pl.lit(T0 + timedelta(days=3)))
    df = df.with_columns(pl.col(col).dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
    with pytest.raises(I.LineageError, match=f"posts column {col} must be a datetime.*str.to_datetime"):
        I.infer_frame(df)


# ------------------------------------------------------------------------------------- the pictures' windows
def test_twenty_copies_of_a_picture_without_remixes_no_longer_hide_the_post_they_copied():
    # version 8 left posts publishing 0 remixes out of the text's windows, not out of the pictures': a
    # text-less remix (an exported file) of t:p, after twenty sticker posts re-using t:p's picture with
    # no remixes each, saw only the twelve latest stickers (capacity 0: no open candidate) and no parent
    words = ("apple river stone cloud maple violin copper desert lantern harbor falcon meadow velvet ember "
             "quartz tundra orchid canyon glacier saffron").split()
    n = 20
    ids = ["p"] + [f"k{i:02d}" for i in range(n)] + ["c"]
    posts = pl.DataFrame({
        "id": ids, "created_at": [T0 + timedelta(hours=i) for i in range(n + 2)],
        "text": ["a lighthouse keeper feeding seagulls at dawn"]
        + [f"{words[i]} {words[(i + 7) % 20]} {words[(i + 3) % 20]} sticker" for i in range(n)] + [""],
        "author": [f"@{i}" for i in range(n + 2)], "remixes": [25] + [0] * (n + 1),
        "fetched_at": [T0 + timedelta(days=30)] * (n + 2)})
    fp = pl.DataFrame({"id": ids, "pdq": ["0" * 64] * (n + 2)})
    r = I.infer_frame(posts, fingerprints=fp, keep_pairs=True)
    assert r.pairs["p"][r.pairs["c"] == n + 1].tolist() == [0]  # the stickers publish 0: only t:p is open
    link = r.edges.filter(pl.col("child") == "c")
    assert link.get_column("parent").to_list() == ["p"] and link.get_column("confidence")[0] > 0.9


def test_the_pictures_windows_count_only_posts_that_may_be_parents():
    # visual_pairs with ``eligible`` against a plain reading of its rule: each post is paired, per 32-bit
    # block of its hash, with the PER_BUCKET latest eligible posts strictly earlier that share the block
    rng = np.random.default_rng(7)
    pool = ["".join(rng.choice(list("0123456789abcdef"), 64)) for _ in range(3)]
    for _ in range(60):
        n = int(rng.integers(2, 50))
        t = np.sort(rng.integers(0, 12, size=n)).astype(np.int64)
        ids = pl.Series([f"x{i:03d}" for i in range(n)])
        # every hash one of three, some with their last block changed: posts share some blocks, not all
        hashes = [pool[int(rng.integers(0, 3))] for _ in range(n)]
        hashes = [h[:56] + ("ffffffff" if rng.random() < 0.3 else h[56:]) for h in hashes]
        eligible = rng.random(n) < 0.5
        fp = pl.DataFrame({"id": ids, "pdq": hashes})
        c, p, _ = I.visual_pairs(fp, ids, t=t, eligible=eligible, max_distance=256)
        want = set()
        for blk in range(8):
            key = [h[8 * blk:8 * blk + 8] for h in hashes]
            for i in range(n):
                earlier = [j for j in range(n) if key[j] == key[i] and t[j] < t[i] and eligible[j]]
                want |= {(i, j) for j in earlier[-I.PER_BUCKET:]}
        assert set(zip(c.tolist(), p.tolist())) == want
        # every post eligible: the windows as before
        c0, p0, _ = I.visual_pairs(fp, ids, t=t, max_distance=256)
        c1, p1, _ = I.visual_pairs(fp, ids, t=t, eligible=np.ones(n, dtype=bool), max_distance=256)
        assert np.array_equal(c0, c1) and np.array_equal(p0, p1)


@pytest.mark.parametrize("seed", [1, 4])
def test_reruns_after_crawls_whose_counts_age_equal_a_full_run(seed, tmp_path):
    # a crawl in four passes: each reads its posts (a fifth of them just after they were made, the rest
    # when the pass ends) with the remixes they had then, some keep their declared link, and some older
    # posts are read again with their grown counts; after each pass an incremental run. A count read
    # before a later pass's posts stops being a capacity and stops keeping its post out of the windows:
    # before the fix, the rerun kept the old links of the posts in between (seed 1: one link differed)
    import random

    from archive.ingest import ingest_records
    from archive.record import parse_time

    rng = random.Random(seed)
    recs = sorted(simulate(SimParams(seed=seed, posts=250, repost=0.2, attachment=0.5))[0],
                  key=lambda r: r["created_at"])
    truth = {r["id"]: (r.get("parents") or [{}])[0].get("id") for r in recs}
    times = [parse_time(r["created_at"]) for r in recs]

    def seen(i: int, at: datetime) -> dict:
        r = dict(recs[i])
        if rng.random() >= 0.2:
            r.pop("parents", None)
        kids = sum(1 for j, x in enumerate(recs) if truth[x["id"]] == r["id"] and times[j] <= at)
        return {**r, "metrics": {**r["metrics"], "remixes": kids}, "fetched_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    batches, lo = [], 0
    for hi in sorted(rng.sample(range(20, 230), 3)) + [250]:
        end = times[hi - 1]
        b = [seen(i, end + timedelta(seconds=rng.choice([0, 1, 3600])) if rng.random() < 0.8
                  else times[i] + timedelta(seconds=rng.choice([0, 60]))) for i in range(lo, hi)]
        b += [seen(i, end + timedelta(hours=2)) for i in rng.sample(range(hi), min(hi, rng.choice([0, 5, 30])))]
        batches.append(b)
        lo = hi
    inc = Archive.open(tmp_path / "inc", create=True)
    full = Archive.open(tmp_path / "full", create=True)
    for b in batches:
        ingest_records(inc, b, source="simulate")
        I.infer(inc)
        ingest_records(full, b, source="simulate")
    I.infer(full, full=True)
    for table in (I.inferred_edges, I.inferred_cut):
        assert_frame_equal(table(inc).select(COLS).sort("child"), table(full).select(COLS).sort("child"))
    assert I.inferred_edges(inc).height > 150


# ------------------------------------------------------------------------------------- declared children
def test_a_count_below_the_declared_children_is_no_count(tmp_path):
    # Scratch's listing objects publish 0 remixes for remixed projects (DESIGN, Sources). scratch:1 has a
    # declared remix, scratch:2, yet its count of 0, read after every post, made it no parent of anything
    # else: out of the windows and a capacity of 0 - 1. scratch:3, its undeclared remix, started a tree
    from archive.ingest import ingest_records

    def rec(i, h, title, **kw):
        return {"id": f"scratch:{i}", "source": "scratch", "created_at": f"2026-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z",
                "author": f"@{i}", "title": title, "metrics": {"remixes": 0}, "fetched_at": "2026-02-01T00:00:00Z", **kw}

    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [rec(1, 0, "Pong with a bouncing cat, arrow keys to move the paddle"),
                       rec(2, 5, "Pong with a bouncing cat, arrow keys to move the paddle, two players",
                           parents=[{"id": "scratch:1"}]),
                       rec(3, 30, "Pong with a bouncing cat, arrow keys to move the paddle, now with sound")])
    I.infer(a)
    assert I.inferred_edges(a).select("child", "parent").rows() == [("scratch:3", "scratch:1")]
    # a count that holds (1: the declared remix) still closes the post to the first stage once it is taken
    # (scratch:2 publishes 0 remixes, read after scratch:3: no parent); since version 10 the second stage may
    # still put scratch:3 in scratch:1's tree, taking no remix, and its confidence is the floor: the count
    # is claimed in full by the declared child
    ingest_records(a, [{**rec(1, 0, "Pong with a bouncing cat, arrow keys to move the paddle"),
                        "metrics": {"remixes": 1}, "fetched_at": "2026-02-02T00:00:00Z"}])
    I.infer(a)
    rows = I.inferred_edges(a).select("child", "parent", "confidence", m=pl.col("features").struct.field("margin"))
    assert rows.select("child", "parent").rows() == [("scratch:3", "scratch:1")]
    assert rows["m"][0] < 0 and rows["confidence"][0] == I.CLAIMED_FLOOR
