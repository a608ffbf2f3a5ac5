"""Views of a new store version grown from the previous version's (issue 18: the dashboard's memory).

A version that only appended rows gets its views from the older version's views held in
memory plus the added rows; they must equal a full build from the log, row for row.
A redaction rewrites files: then a full build.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from archive.ingest import ingest_records
from archive.redact import redact
from archive.store import _VIEW_NAMES, Archive

T0 = "2026-01-0{}T00:00:00Z"


def _rec(i: str, day: int = 1, parents: tuple[str, ...] = (), views: int = 10, **kw) -> dict:
    return {"id": f"t:{i}", "source": "t", "created_at": T0.format(day), "fetched_at": T0.format(day),
            "prompt": f"prompt of {i}", "metrics": {"views": views},
            "parents": [{"id": f"t:{p}", "relation": "remix"} for p in parents], **kw}


def _full(path: Path, version: int) -> dict[str, pl.DataFrame]:
    return Archive.open(path)._build_views(version, None)  # a fresh reader: nothing cached, so the full build


def _same(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    assert set(a) == set(b) == set(_VIEW_NAMES)
    for name in _VIEW_NAMES:
        assert_frame_equal(a[name], b[name], check_row_order=True), name


def _warm(a: Archive) -> int:
    v = a.version()
    a.posts(v)  # builds and caches the six views of v
    return v


@pytest.fixture
def arc(tmp_path: Path) -> Archive:
    a = Archive.open(tmp_path / "arc", create=True)
    # a tree a <- b <- c, a post naming a parent not in the archive (x: a placeholder), a loner
    ingest_records(a, [_rec("a"), _rec("b", parents=("a",)), _rec("c", parents=("b",)),
                       _rec("d", parents=("x",)), _rec("e")])
    return a


def test_new_posts_grow_the_views(arc: Archive):
    _warm(arc)
    # new posts: a child of an old post, the placeholder's post arriving, a new tree
    ingest_records(arc, [_rec("f", 2, parents=("c",)), _rec("x", 2), _rec("g", 2), _rec("h", 2, parents=("g", "a"))])
    v = arc.version()
    grown = arc._grown_views(v)
    assert grown is not None, "an append must grow the views, not rebuild them"
    _same(grown, _full(arc.path, v))
    assert not grown["posts"].filter(pl.col("id") == "t:x").get_column("placeholder").item()
    assert grown["lineage"].filter(pl.col("id") == "t:f").get_column("root").item() == "t:a"


def test_posts_observed_again_grow_the_views(arc: Archive):
    _warm(arc)
    # b seen again later with more views; d seen again at the same time naming another parent (union of
    # parents); c seen again earlier than its stored observation (the later one stays latest); e twice in one batch
    ingest_records(arc, [_rec("b", 3, parents=("a",), views=99), _rec("d", parents=("e",)),
                         {**_rec("c", parents=("b",), views=5), "fetched_at": "2025-12-31T00:00:00Z"},
                         _rec("e", 4, views=1), _rec("e", 5, views=2)])
    v = arc.version()
    grown = arc._grown_views(v)
    assert grown is not None
    full = _full(arc.path, v)
    _same(grown, full)
    posts = grown["posts"]
    assert posts.filter(pl.col("id") == "t:b").select("views", "n_obs").row(0) == (99, 2)
    assert posts.filter(pl.col("id") == "t:c").get_column("views").item() == 10
    assert posts.filter(pl.col("id") == "t:e").select("views", "n_obs").row(0) == (2, 3)
    assert grown["edges"].filter(pl.col("child") == "t:d").get_column("parent").to_list() == ["t:x", "t:e"]


def test_views_grow_over_many_versions(arc: Archive):
    for day in range(2, 7):
        _warm(arc)
        ingest_records(arc, [_rec(f"n{day}", day, parents=(f"n{day - 1}",) if day > 2 else ("a",)),
                             _rec("a", day, views=day)])
        v = arc.version()
        _same(arc._grown_views(v), _full(arc.path, v))
    arc.posts()  # the reader's own path (grown) agrees too
    _same({n: arc._view(n, None) for n in _VIEW_NAMES}, _full(arc.path, arc.version()))


def test_redaction_rewrites_so_views_are_built_in_full(arc: Archive):
    _warm(arc)
    redact(arc, "t:c", reason="test")
    v = arc.version()
    assert arc._grown_views(v) is None  # files were rewritten: nothing to grow from
    _same({n: arc._view(n, None) for n in _VIEW_NAMES}, _full(arc.path, v))


def test_nothing_cached_means_a_full_build(arc: Archive):
    assert arc._grown_views(arc.version()) is None


def test_background_follow_grows_without_reading_the_whole_log(arc: Archive, monkeypatch):
    arc.follow = "background"
    first = _warm(arc)
    assert arc.view_version() == first
    read: list[int] = []
    full_read = Archive._read_log
    monkeypatch.setattr(Archive, "_read_log", lambda self, v, cols: read.append(v) or full_read(self, v, cols))
    shown: list[int] = []
    arc.on_shown.append(shown.append)  # the dashboard drops its memo of older versions here
    ingest_records(arc, [_rec("f", 2, parents=("c",))])
    v = arc.version()
    arc.view_version()  # a reader notices the new version: one thread builds its views
    assert arc.settle(60) == v
    assert v not in read  # grown from the views in memory, not rebuilt from the log (ingest reads its own)
    assert shown == [v]
    _same({n: arc._view(n, None) for n in _VIEW_NAMES}, _full(arc.path, v))
