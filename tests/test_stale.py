"""One rule for stale analysis (lineage.stale.analysis_state), used by the CLI, the reports and the dashboard."""
from __future__ import annotations

import tempfile

import pytest

from archive.ingest import ingest_records
from archive.store import Archive
from lineage.analyze import analyze
from lineage.stale import analysis_state

T = "2026-01-0{}T00:00:00Z"


@pytest.fixture()
def arc() -> Archive:
    a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    ingest_records(a, [{"id": "t:1", "source": "t", "created_at": T.format(1), "prompt": "a cat in the rain"},
                       {"id": "t:2", "source": "t", "created_at": T.format(2), "prompt": "a dog in the rain",
                        "parents": ["t:1"]},
                       {"id": "u:1", "source": "u", "created_at": T.format(1), "prompt": "a red boat"}])
    analyze(a, n_boot=5)
    return a


def test_state_follows_the_store_version_and_each_trees_content(arc: Archive):
    v = arc.version()
    assert analysis_state(arc).recompute == "nothing"
    ingest_records(arc, [{"id": "t:3", "source": "t", "created_at": T.format(3), "prompt": "a dog in snow",
                          "parents": ["t:2"]}])
    whole, changed, untouched = analysis_state(arc), analysis_state(arc, root="t:3"), analysis_state(arc, root="u:1")
    assert (whole.current, whole.analysed_version, whole.store_version) == (False, v, arc.version())
    assert changed.tree_current is False and changed.root == "t:1"
    assert untouched.tree_current is True and untouched.recompute == "archive"
    assert analysis_state(arc, version=v, root="t:1").tree_current is True  # the tree as it was at version v


def test_every_reader_says_the_same_about_stale_analysis(arc: Archive):
    from click.testing import CliRunner

    from dashboard.cli import cli
    from dashboard.measures import stale_notes
    from lineage.report import report_data

    ingest_records(arc, [{"id": "v:1", "source": "v", "created_at": T.format(4), "prompt": "a green kite"}])
    note = analysis_state(arc).note()
    assert note and "store version 1" in note
    assert note in stale_notes(arc)  # the dashboard
    assert any(note in m for m in report_data(arc).missing)  # the archive report (not checked before)
    res = CliRunner().invoke(cli, ["decay", "--archive", str(arc.path)])
    assert res.exit_code == 0 and "store version 1" in res.output
    # the drift command keeps the stored drift of a tree that did not change (a content hash, not row counts)
    res = CliRunner().invoke(cli, ["drift", "t:2", "--archive", str(arc.path), "--json"])
    assert res.exit_code == 0 and '"t:2"' in res.output


def test_the_dashboard_takes_a_trees_stored_drift_by_the_same_content_hash(arc: Archive):
    import polars as pl

    from dashboard import measures
    from lineage.stale import tree_content_hash

    stored = measures.analysed_drift(arc)
    tree = arc.tree("t:2")
    assert stored.filter(pl.col("root") == "t:1")["content_hash"][0] == tree_content_hash(tree.nodes)
    ingest_records(arc, [{"id": "t:3", "source": "t", "created_at": T.format(3), "prompt": "a dog in snow",
                          "parents": ["t:2"]}])
    grown = arc.tree("t:3")  # the stored rows are of the tree before t:3: measured now instead
    assert tree_content_hash(grown.nodes) != stored.filter(pl.col("root") == "t:1")["content_hash"][0]
    assert measures.tree_drift(grown, stored).height == grown.nodes.height == 3
