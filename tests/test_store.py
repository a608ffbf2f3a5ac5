"""The graph store: reads, time travel, navigation, errors."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from archive.errors import NotFoundError, StoreError
from archive.ingest import ingest_records
from archive.store import Archive


def rec(i, t, parents=(), **kw):
    return {"id": f"t:{i}", "source": "t", "created_at": t, "prompt": f"p{i}", "parents": list(parents), **kw}


@pytest.fixture()
def grown(empty_store: Archive) -> Archive:
    ingest_records(empty_store, [rec("r", "2026-01-01T00:00:00Z"), rec("a", "2026-01-02T00:00:00Z", ["t:r"])])
    ingest_records(empty_store, [rec("b", "2026-02-01T00:00:00Z", ["t:a"]), rec("c", "2026-02-02T00:00:00Z", ["t:r"])])
    return empty_store


def test_as_of_version_and_time(grown: Archive):
    v = grown.version()
    assert grown.posts().height == 4
    assert grown.posts(as_of=v - 1).height == 2          # Delta time travel
    assert grown.posts(as_of="2026-01-15").height == 2   # created by then
    assert grown.posts(as_of=datetime(2026, 3, 1, tzinfo=timezone.utc)).height == 4
    assert grown.tree("t:r", as_of=v - 1).nodes.height == 2
    with pytest.raises(StoreError, match="version 99 does not exist"):
        grown.posts(as_of=99)
    with pytest.raises(StoreError, match="neither a store version nor"):
        grown.posts(as_of="last tuesday")


def test_tree_ancestors_descendants(grown: Archive):
    t = grown.tree("t:b")
    assert t.root == "t:r"
    assert sorted(t.graph.edges()) == [("t:a", "t:b"), ("t:r", "t:a"), ("t:r", "t:c")]
    assert grown.lineage_path("t:b").get_column("id").to_list() == ["t:r", "t:a", "t:b"]
    assert grown.ancestors("t:b").get_column("id").to_list() == ["t:r", "t:a"]  # the post itself excluded
    assert grown.ancestors("t:r").height == 0
    assert grown.descendants("t:r").get_column("id").to_list() == ["t:a", "t:c", "t:b"]
    assert grown.descendants("t:r", depth=1).get_column("id").to_list() == ["t:a", "t:c"]
    assert grown.descendants("t:b").height == 0


@pytest.mark.parametrize("parents", [
    ["t:a", "t:x"],  # several declared parents
    [{"id": "t:a", "relation": "remix"}, {"id": "t:x", "relation": "componentOf", "evidence": "c2pa"}],  # C2PA
])
def test_ancestors_and_descendants_follow_every_parent_as_networkx_does(empty_store: Archive, parents: list):
    import networkx as nx

    t = "2026-01-01T00:00:00Z"
    ingest_records(empty_store, [{"id": "t:r", "source": "t", "created_at": t},
                                 {"id": "t:x", "source": "t", "created_at": t},
                                 {"id": "t:a", "source": "t", "created_at": t, "parents": ["t:r"]},
                                 {"id": "t:b", "source": "t", "created_at": t, "parents": parents},
                                 {"id": "t:c", "source": "t", "created_at": t, "parents": ["t:b"]}])
    g = nx.DiGraph(empty_store.edges().select("parent", "child").rows())
    for post in ("t:r", "t:x", "t:a", "t:b", "t:c"):
        assert set(empty_store.ancestors(post)["id"]) == nx.ancestors(g, post)
        assert set(empty_store.descendants(post)["id"]) == nx.descendants(g, post)
    assert empty_store.ancestors("t:c")["id"].to_list() == ["t:r", "t:x", "t:a", "t:b"]
    assert empty_store.descendants("t:x")["id"].to_list() == ["t:b", "t:c"]  # x is not b's primary parent
    assert empty_store.descendants("t:x", depth=1)["id"].to_list() == ["t:b"]
    assert empty_store.lineage_path("t:c")["id"].to_list() == ["t:r", "t:a", "t:b", "t:c"]  # primary only
    with pytest.raises(NotFoundError):
        empty_store.ancestors("t:nope")


def test_unknown_post_is_not_found(grown: Archive):
    with pytest.raises(NotFoundError, match="no post 't:zzz'"):
        grown.tree("t:zzz")


def test_missing_and_foreign_folders(tmp_path: Path):
    with pytest.raises(StoreError, match="no archive at .*archivist demo"):
        Archive.open(tmp_path / "nothing")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(StoreError, match="not a remix archive"):
        Archive.open(tmp_path / "photos", create=True)


def test_read_only_refuses_writes_and_leaves_no_cache(grown: Archive):
    ro = Archive.open(grown.path, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        ingest_records(ro, [rec("z", "2026-03-01T00:00:00Z")])
    import shutil
    shutil.rmtree(grown.path / "_views", ignore_errors=True)
    assert ro.posts().height == 4
    assert not (grown.path / "_views").exists()


def test_views_are_cached_per_version_on_disk(grown: Archive):
    grown.posts()
    v = grown.version()
    assert (grown.path / "_views" / f"v{v}" / "lineage.parquet").exists()
    fresh = Archive.open(grown.path)
    from polars.testing import assert_frame_equal
    assert_frame_equal(fresh.lineage(), grown.lineage())


def test_stats_count_what_is_there(sample_store: Path):
    s = Archive.open(sample_store, read_only=True).stats()
    truth = json.loads((Path(__file__).parents[1] / "data" / "sample" / "remixes.truth.json").read_text())
    # 3,000 simulated posts + 10 valid messy ones; one messy record is a newer observation of a sample post
    assert s["posts"] == truth["posts"] + 10
    assert s["observations"] == truth["posts"] + 11
    assert s["quarantined"] == 5 and s["cycles"] == 1 and s["self_loops"] == 1 and s["placeholders"] == 1
    assert s["trees"] >= truth["trees"]


def test_a_reader_sees_new_versions_while_a_writer_appends(grown: Archive):
    reader = Archive.open(grown.path, read_only=True)
    before = reader.posts().height
    ingest_records(grown, [rec("new", "2026-03-03T00:00:00Z", ["t:c"])])
    assert reader.posts().height == before + 1


def test_versions_removed_by_a_redaction_say_so(grown: Archive):
    from archive.redact import redact

    before = grown.version()
    redact(grown, "t:a", reason="consent revoked")
    with pytest.raises(StoreError, match=f"store version {before - 1} can no longer be read.*redaction"):
        grown.posts(as_of=before - 1)
    post = grown.posts().filter(pl.col("id") == "t:a").row(0, named=True)
    assert post["redacted"] and post["prompt"] is None
    assert grown.lineage().filter(pl.col("id") == "t:b").get_column("parent")[0] == "t:a"  # lineage survives


def test_version_follows_commits_of_other_writers_and_a_replaced_or_removed_store(tmp_path: Path):
    import shutil

    path = tmp_path / "arc"
    reader = Archive.open(path, create=True)
    writer = Archive.open(path)
    v0 = reader.version()
    ingest_records(writer, [rec(1, "2026-01-01T00:00:00Z")], source="t")  # another Archive (process) commits
    assert reader.version() == writer.version() > v0
    assert reader.table_version("runs") == writer.table_version("runs") > 0
    before = reader.version()
    shutil.rmtree(path)  # replaced by a younger store: fewer versions than the reader saw
    Archive.open(path, create=True)
    assert reader.version() < before
    shutil.rmtree(path)
    with pytest.raises(StoreError, match="is gone"):
        reader.version()


def test_a_tree_is_found_through_the_root_index_as_by_a_scan(empty_store: Archive, monkeypatch):
    """Archive.tree takes a tree's lineage rows by binary search in a cached index of root hashes:
    the same rows, in the same order, as filtering every node; two roots sharing a hash stay apart."""
    from archive.sources.simulate import SimParams, simulate

    recs, _ = simulate(SimParams(seed=5, posts=400))
    ingest_records(empty_store, recs, source="simulate")
    lin = empty_store.lineage()
    roots = lin.get_column("root").unique().sort().to_list()
    for root in roots[:25]:
        got = empty_store.tree(root).nodes.get_column("id").sort()
        assert got.to_list() == lin.filter(pl.col("root") == root).get_column("id").sort().to_list()
    assert any(k[0] == "lineage-roots" for k in empty_store._cache)  # built once, kept with the views
    # every root hashed alike: the index finds every row of every tree, and the root check keeps each apart
    real = pl.Series.hash
    monkeypatch.setattr(pl.Series, "hash", lambda self, seed=0, *a: real(self.cast(pl.String).str.slice(0, 0), seed))
    fresh = Archive.open(empty_store.path, read_only=True)
    for root in roots[:10]:
        want = lin.filter(pl.col("root") == root).get_column("id").to_list()
        assert fresh._tree_rows(lin, root, ("lineage-roots", 0, None)).get_column("id").to_list() == want
