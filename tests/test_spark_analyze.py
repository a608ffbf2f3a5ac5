"""`analyze --engine spark` (Spark local mode) gives the local engine's results on the same archive."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed (extra: spark)"),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java 17"),
]

# every table analyze writes, with the columns that identify a row
KEYS = {
    "nodes": ["id"], "edges": ["child", "parent", "relation"], "blame": ["id", "ancestor"],
    "styles": ["id", "term", "source"], "style_labels": ["id", "term"], "trees": ["root"],
    "flow": ["from_root", "to_root"], "homogenisation": ["window"], "fidelity": ["depth"],
    "branching": ["generation"], "survival": [], "dilemma": [], "decay": ["measure"],
}


def _messy() -> list[dict]:
    t = "2026-03-05T00:00:00Z"
    return [  # a parent never fetched (placeholder) and two posts that are each other's parent (a cycle)
        {"id": "t:orphan", "source": "t", "created_at": t, "prompt": "a fox in the snow, claymation",
         "parents": [{"id": "t:gone"}]},
        {"id": "t:a", "source": "t", "created_at": t, "prompt": "a cat, film noir", "parents": [{"id": "t:b"}]},
        {"id": "t:b", "source": "t", "created_at": t, "prompt": "a dog, film noir, anime", "parents": [{"id": "t:a"}]},
        # a source that names its own later reshare (cut against time), and one line per edge (merged)
        {"id": "t:s", "source": "t", "created_at": t, "prompt": "a heron", "parents": [{"id": "t:s2"}]},
        {"id": "t:s2", "source": "t", "created_at": "2026-03-06T00:00:00Z", "prompt": "a heron, vhs",
         "parents": [{"id": "t:s"}]},
        {"id": "t:x", "source": "t", "created_at": "2026-03-07T00:00:00Z", "prompt": "a heron, oil painting",
         "parents": [{"id": "t:s2"}]},
        {"id": "t:x", "source": "t", "created_at": "2026-03-07T00:00:00Z", "prompt": "a heron, oil painting",
         "parents": [{"id": "t:orphan"}]},
    ]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("spark")
    a = Archive.open(base / "local", create=True)
    records, _ = simulate(SimParams(seed=11, posts=400))
    ingest_records(a, records, source="simulate")
    ingest_records(a, _messy(), source="t")
    shutil.copytree(base / "local", base / "spark")
    return base / "local", base / "spark"


@pytest.fixture(scope="module")
def spark():
    from lineage.spark import spark_session

    s = spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2"})
    yield s
    s.stop()


def _sorted(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    plain = [c for c, t in frame.schema.items() if not isinstance(t, (pl.List, pl.Struct))]
    return frame.sort(keys + [c for c in plain if c not in keys], nulls_last=True)


def assert_same_analysis(local: Archive, remote: Archive, rel: float) -> None:
    """Every analysis table of ``remote`` (the Spark engine's) equals ``local``'s to ``rel`` (abs 1e-12),
    and the messy archive's bled label and placeholder are there."""
    from lineage.analyze import load_results

    for table, keys in KEYS.items():
        want, got = load_results(local, table), load_results(remote, table)
        assert got.columns == want.columns, table
        assert got.height == want.height, table
        assert_frame_equal(_sorted(got, keys), _sorted(want, keys), check_exact=False, rel_tol=rel,
                           abs_tol=1e-12, check_dtypes=True), table
    assert load_results(remote, "style_labels").filter(pl.col("label") == "bled").height > 0
    assert load_results(remote, "nodes").filter(pl.col("placeholder")).height == 1


def test_spark_engine_equals_local_engine(stores, spark):
    from lineage.analyze import analyze, load_results
    from lineage.spark import analyze_spark

    local, remote = Archive.open(stores[0]), Archive.open(stores[1])
    cycles = local.problems().filter(pl.col("kind") == "cycle")
    assert cycles.select("id", "parent").sort("id").rows() == [("t:a", "t:b"), ("t:s", "t:s2")]  # driver fallback
    assert local.edges().filter(pl.col("child") == "t:x")["parent"].to_list() == ["t:s2", "t:orphan"]
    res_local = analyze(local, force=True)
    res_spark = analyze_spark(remote, spark=spark, buckets=3)
    assert res_spark["engine"] == "spark"
    for k in ("trees", "nodes", "edges", "generational_half_life", "branching_gamma", "bleed_rate"):
        assert res_spark[k] == pytest.approx(res_local[k], rel=1e-9), k
    assert_same_analysis(local, remote, rel=1e-9)
    trees = load_results(remote, "trees")
    assert trees.filter(pl.col("root") == "t:s").select("size", "cycle_cut").row(0) == (3, True)


def test_records_are_read_from_the_current_delta_version(stores, spark):
    from lineage.spark import read_records, record_files

    arc = Archive.open(stores[1])
    files = record_files(arc.path)
    assert files and all(Path(f.removeprefix("file://")).exists() for f in files)
    assert read_records(spark, arc.path).count() == arc.records().height


def test_an_empty_archive_is_a_clear_error(tmp_path: Path, spark):
    from lineage.errors import LineageError
    from lineage.spark import read_records

    arc = Archive.open(tmp_path / "empty", create=True)
    with pytest.raises(LineageError, match="no records yet"):
        read_records(spark, arc.path)


def test_cli_engine_spark_on_an_empty_archive_is_one_line(tmp_path: Path, spark):
    from click.testing import CliRunner

    from dashboard.cli import cli

    Archive.open(tmp_path / "empty", create=True)
    r = CliRunner().invoke(cli, ["analyze", "--engine", "spark", "--archive", str(tmp_path / "empty")])
    assert r.exit_code == 1
    assert "no records yet" in r.output and "Traceback" not in r.output
