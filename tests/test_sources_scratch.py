"""The Scratch crawler against a replayed Scratch API on 127.0.0.1."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from archive.errors import SourceError
from archive.ingest import ingest
from archive.sources.http import HttpClient
from archive.sources.scratch import ScratchSource
from archive.store import Archive
from dashboard.cli import cli
from tests.replay.scratch_api import (SMALL_TREE_IDS, as_listed, generations, serve_recorded_tree, serve_tree,
                                       synthetic_tree)
from tests.replay.server import Reply, ReplayServer, load


def source(srv: ReplayServer, pid: int, **kw) -> ScratchSource:
    kw.setdefault("rate", None)
    client = HttpClient(rate=kw.pop("rate"), allow_private=True, backoff=0.01, sleep=kw.pop("sleep", time.sleep))
    return ScratchSource(pid, base_url=srv.url, client=client, **kw)


def test_recorded_tree_with_a_deleted_project_and_a_cycle(tmp_path):
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_recorded_tree(srv)
        src = source(srv, 1002)  # start from a remix: the root is found through remix.root
        r = ingest(arc, src)
        asked = [q.path for q in srv.requests]
    assert (r.read, r.stored, r.quarantined) == (5, 5, 0)
    posts = arc.posts().sort("id")
    assert posts["id"].to_list() == [f"scratch:{i}" for i in SMALL_TREE_IDS]
    edges = sorted(arc.edges().select("child", "parent", "relation", "evidence").rows())
    assert edges == [("scratch:1002", "scratch:1001", "remix", "declared"),
                     ("scratch:1003", "scratch:1001", "remix", "declared"),
                     ("scratch:1004", "scratch:1001", "remix", "declared"),
                     ("scratch:1005", "scratch:1002", "remix", "declared")]
    # the cycle (1005 lists the root again) is not followed, the deleted project is reported
    assert src.skipped_repeats == 1
    assert any("1003 was deleted" in w for w in src.warnings)
    assert "/projects/1004/remixes" in asked  # stats say 0 remixes: asked anyway (listings say 0 wrongly)
    root = posts.row(by_predicate=pl.col("id") == "scratch:1001", named=True)
    assert root["title"] == "Pixel Garden (platformer)"
    assert root["prompt"].startswith("Arrow keys to move") and "Remix it and add your own levels!" in root["prompt"]
    assert (root["views"], root["likes"], root["remixes"], root["author"]) == (18422, 1203, 3, "pixelmoss")
    assert str(root["created_at"])[:19] == "2023-04-02 14:10:00"
    rec = json.loads(arc.records().filter(id="scratch:1001")["record"][0])
    assert rec["extra"]["history"]["shared"] == "2023-04-02T14:10:30.000Z"
    assert rec["extra"]["stats"]["favorites"] == 988 and "project_token" not in rec["extra"]
    assert rec["license"] == "CC BY-SA 2.0" and rec["media"][0]["url"].endswith("1001_480x360.png")
    assert arc.lineage().filter(id="scratch:1005")["depth"][0] == 2


def test_pagination_by_limit_and_offset_and_every_project_once(tmp_path):
    projects, children = synthetic_tree(400, seed=3)
    root = min(projects)
    assert len(children[root]) > 80  # the root's remixes span three pages or more
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children)
        r = ingest(arc, source(srv, max(projects)), batch_size=50)
        offsets = sorted(int(q.query["offset"]) for q in srv.requests if q.path == f"/projects/{root}/remixes")
        limits = {q.query.get("limit") for q in srv.requests if q.path.endswith("/remixes")}
    assert offsets == list(range(0, len(children[root]) // 40 * 40 + 1, 40))
    assert limits == {"40"}
    assert r.stored == 400
    assert Counter(arc.records(columns=["id"])["id"].to_list()).most_common(1)[0][1] == 1
    lin = arc.lineage()
    assert lin.filter(placeholder=True).height == 0 and set(lin["root"].to_list()) == {f"scratch:{root}"}


def test_max_depth_limits_generations(tmp_path):
    projects, children = synthetic_tree(200, seed=4)
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children)
        ingest(arc, source(srv, min(projects), max_depth=1))
    root = min(projects)
    assert arc.posts().height == 1 + len(children[root])
    assert arc.lineage()["depth"].max() == 1


def test_throttling_and_server_errors_mid_crawl_are_retried(tmp_path):
    arc = Archive.open(tmp_path / "a", create=True)
    slept: list[float] = []
    with ReplayServer() as srv:
        srv.add("/projects/1002/remixes?limit=40&offset=0", Reply(429, b"", {"Retry-After": "2"}), Reply(500, b"x"),
                Reply(body=b'[{"id": 1005, "title": "cut'), load("scratch/remixes_1002_0.json"))
        serve_recorded_tree(srv)
        r = ingest(arc, source(srv, 1001, sleep=slept.append))
    assert r.stored == 5 and 2.0 in slept and len(slept) == 3


def test_a_missing_start_project_is_a_clear_error(tmp_path):
    with ReplayServer() as srv:
        with pytest.raises(SourceError, match="project 42 not found"):
            list(source(srv, 42).items(None))


def test_the_default_rate_is_ten_requests_a_second_or_less():
    projects, children = synthetic_tree(60, seed=5)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children)
        src = ScratchSource(min(projects), base_url=srv.url, allow_private=True)
        t = time.monotonic()
        items = list(src.items(None))
        spent = time.monotonic() - t
        n = len(srv.requests)
    assert len(items) == 60
    assert src.client.limiter.rate == 10.0
    assert spent >= (n - 1) // 10  # at most 10 requests in any second, enforced by the client


def test_cli_ingest_scratch_json(tmp_path):
    with ReplayServer() as srv:
        serve_recorded_tree(srv)
        res = CliRunner().invoke(cli, ["ingest", "scratch", "1001", "--base-url", srv.url, "--allow-private",
                                       "--rate", "1000", "--archive", str(tmp_path / "a"), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["stored"] == 5 and out["source"] == "scratch"
        res = CliRunner().invoke(cli, ["ingest", "scratch", "1001", "--base-url", srv.url,
                                       "--archive", str(tmp_path / "a")])
        assert res.exit_code == 1 and "--allow-private" in res.output and "Traceback" not in res.output


def test_odd_shapes_go_to_quarantine_not_to_a_traceback(tmp_path):
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        srv.add("/projects/1001/remixes?limit=40&offset=0",
                [{"id": 2001, "title": "no dates", "stats": [], "remix": "weird", "history": None},
                 {"title": "no id at all"}, "not even an object"])
        serve_recorded_tree(srv)
        r = ingest(arc, source(srv, 1001))
    assert (r.stored, r.quarantined) == (1, 3)
    reasons = [x for rs in arc.quarantine()["reasons"].to_list() for x in rs]
    assert "created_at: required field is missing" in reasons
    assert reasons.count("id: a Scratch remix without a numeric id") == 2


CASE = Path(__file__).resolve().parent / "data" / "scratch-listing-remix-count-zero" / "api"


def serve_case(srv: ReplayServer) -> None:
    """The case's replay: /projects/<id> and /projects/<id>/remixes from the saved JSON files."""
    for f in CASE.rglob("*.json"):
        srv.add("/" + str(f.relative_to(CASE).with_suffix("")), json.loads(f.read_text()))


def test_case_a_listed_remix_count_of_zero_is_never_trusted(tmp_path):
    # case scratch-listing-remix-count-zero: 1001 -> 2001 -> 3001, listing objects all say remixes: 0
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_case(srv)
        r = ingest(arc, source(srv, 3001))
        asked = [q.path for q in srv.requests]
    assert (r.read, r.stored, r.quarantined) == (3, 3, 0)
    assert sorted(arc.edges().select("child", "parent").rows()) == [("scratch:2001", "scratch:1001"),
                                                                    ("scratch:3001", "scratch:2001")]
    assert "/projects/2001/remixes" in asked and "/projects/3001/remixes" in asked
    assert arc.lineage().filter(id="scratch:3001")["depth"][0] == 2


def test_five_generations_of_real_shaped_listings_are_stored_whole(tmp_path):
    projects, children = generations(5, fanout=2, seed=7)  # 63 projects, 5 generations below the root
    arc = Archive.open(tmp_path / "a", create=True)
    leaf = max(projects)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children, listing=as_listed)
        r = ingest(arc, source(srv, leaf), batch_size=10)
    assert (r.read, r.stored, r.quarantined) == (63, 63, 0)
    lin = arc.lineage()
    assert lin["depth"].max() == 5 and lin.filter(placeholder=True).height == 0
    assert arc.edges().height == 62
    # the listing has no usernames: every author comes from the project's detail object
    posts = arc.posts()
    assert posts["author"].null_count() == 0
    want = {f"scratch:{pid}": p["author"]["username"] for pid, p in projects.items()}
    assert dict(posts.select("id", "author").rows()) == want
    # the stored counts are the true ones (from the detail objects), not the listing's zeros
    got = dict(posts.select("id", "remixes").rows())
    assert got[f"scratch:{min(projects)}"] == 2 and got[f"scratch:{leaf}"] == 0


def test_the_start_project_and_its_ancestors_are_stored_whatever_max_depth(tmp_path):
    projects, children = generations(5, fanout=2, seed=8)
    leaf = max(projects)
    chain, p = [], leaf
    while p is not None:
        chain.append(f"scratch:{p}")
        p = projects[p]["remix"]["parent"]
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children, listing=as_listed)
        ingest(arc, source(srv, leaf, max_depth=1))
    ids = set(arc.posts()["id"].to_list())
    assert set(chain) <= ids  # the leaf at depth 5 and its four ancestors and root
    root = min(projects)
    assert ids == set(chain) | {f"scratch:{c}" for c in children[root]}
    assert arc.lineage().filter(id=f"scratch:{leaf}")["depth"][0] == 5


@pytest.mark.parametrize("case", ["parent-404", "parent-is-itself", "listing-names-itself"])
def test_a_parent_that_is_gone_or_is_the_project_itself(tmp_path, case):
    # remix.parent pointing at a 404 (and not listed anywhere), at the project itself, and a remixes
    # listing naming the project itself: no traceback, the start project stored, a warning that says which
    projects, children = generations(2, fanout=2, seed=3)
    ids = sorted(projects)
    start, deleted = ids[-1], set()
    gone = projects[start]["remix"]["parent"]
    if case == "parent-404":
        deleted = {gone}
        children[ids[0]].remove(gone)  # not in any listing either
    elif case == "parent-is-itself":
        projects[start]["remix"] = {"parent": start, "root": start}
    else:
        children[start].append(start)
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children, deleted=deleted, listing=as_listed)
        src = source(srv, start)
        r = ingest(arc, src)
    assert r.reconciles and r.quarantined == 0
    stored = set(arc.posts().filter(~pl.col("placeholder")).get_column("id").to_list())
    assert f"scratch:{start}" in stored
    lin = arc.lineage()
    if case == "parent-404":
        assert f"scratch:{gone}" in lin.filter(placeholder=True).get_column("id").to_list()
        assert src.warnings[0] == (f"project {gone}, the parent of project {start}, was not found (404: deleted or "
                                   "unshared); it stays a placeholder")
        assert r.stored == len(ids) - 2  # all but the gone parent and its other child (not reachable)
    elif case == "parent-is-itself":
        assert r.stored == 1 and arc.stats()["self_loops"] == 1
        assert src.warnings == [f"project {start} names itself as its parent (remix.parent); the link is kept as "
                                "declared and the archive reports it as a self-loop"]
    else:
        assert r.stored == len(ids) and src.skipped_repeats == 1 and arc.stats()["self_loops"] == 0


def test_a_listed_project_publishes_no_remix_count(tmp_path):
    """A listing object with its author is stored as listed (no detail request), and its stats.remixes is 0
    whatever the project's remixes (scratch-www#2441, #4204). Stored, that 0 told `archivist infer` the
    project had no remixes: it was left out of the candidates' windows and had no capacity for its own
    undeclared remixes. A listed project now publishes no count; a detail object's count is kept."""
    projects, children = generations(3, fanout=2, seed=9)

    def listed_with_author(p: dict) -> dict:
        q = as_listed(p)
        q["author"] = dict(p["author"])  # with its username: the crawl asks for no detail object
        return q

    arc = Archive.open(tmp_path / "a", create=True)
    root = min(projects)
    with ReplayServer() as srv:
        serve_tree(srv, projects, children, listing=listed_with_author)
        ingest(arc, source(srv, root))
        details = {q.path for q in srv.requests if q.path.count("/") == 2}
    assert details == {f"/projects/{root}"}  # every other project came from a listing
    got = dict(arc.posts().select("id", "remixes").rows())
    assert got.pop(f"scratch:{root}") == 2  # the detail object's count
    assert len(got) == 14 and set(got.values()) == {None}  # no listing's false 0
