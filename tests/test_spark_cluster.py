"""`archivist analyze --engine spark` on a real Spark standalone cluster (a master and a worker on 127.0.0.1,
started with pyspark's own ``bin/spark-class``) gives the local engine's tables.

The CLI runs as a separate process, as a user runs it: its driver connects to the
master, the worker starts an executor, and the executor starts this venv's Python
(``PYSPARK_PYTHON``) for ``mapInArrow``, so the package must be importable there.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from tests.spark_cluster import java_missing, standalone_cluster
from tests.test_spark_analyze import _messy, assert_same_analysis

pytestmark = [pytest.mark.spark, pytest.mark.skipif(java_missing() is not None, reason=java_missing() or "")]

ARCHIVIST = Path(sys.executable).with_name("archivist")
# settings for a few hundred posts (read by the driver from SPARK_CONF_DIR/spark-defaults.conf): 4 shuffle
# partitions and no adaptive re-planning (each query one job, not one per stage: about 30 jobs instead of 100,
# which matters on a busy machine; the results are the same either way)
CONF = {"spark.sql.adaptive.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2",
        "spark.executor.memory": "768m", "spark.driver.memory": "768m", "spark.cores.max": "1",
        "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
TIMEOUT = float(os.environ.get("REMIX_SPARK_CLUSTER_TIMEOUT", "300"))  # seconds for the analyze command


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cluster")
    a = Archive.open(base / "local", create=True)
    records, _ = simulate(SimParams(seed=11, posts=200))
    ingest_records(a, records, source="simulate")
    ingest_records(a, _messy()[:1], source="t")  # a placeholder parent (cycles: test_spark_analyze.py)
    shutil.copytree(base / "local", base / "spark")
    return base / "local", base / "spark"


def _run_cli(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and the JVM of its driver
        out, err = proc.communicate()
        raise AssertionError(f"archivist analyze did not finish in {timeout:.0f} s\n{err[-3000:]}") from None
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_analyze_on_a_standalone_cluster_equals_the_local_engine(stores, tmp_path: Path):
    from lineage.analyze import analyze

    local, remote = stores
    res_local = analyze(Archive.open(local), force=True)
    with standalone_cluster(tmp_path / "spark", cores=1, memory="1g", conf=CONF) as cluster:
        r = _run_cli([str(ARCHIVIST), "analyze", "--engine", "spark", "--master", cluster.master_url,
                      "--archive", str(remote), "--json"], cluster.env, timeout=TIMEOUT)
        assert r.returncode == 0, f"{r.stderr[-3000:]}\n{cluster.logs()}"
        state = cluster.state()
        # the application ran on this cluster's worker (it shows as completed once the driver has stopped)
        apps = state.get("completedapps", []) + state.get("activeapps", [])
        assert [a["name"] for a in apps] == ["remix-archivist"], state
        assert [w["cores"] for w in state["workers"]] == [1]
        executors = list((tmp_path / "spark" / "work").glob("app-*/*/stderr"))
        assert executors, "no executor was started by the worker"
    assert all(p.poll() is not None for p in cluster.procs), "the master and the worker are stopped"
    res = json.loads(r.stdout)
    assert res["engine"] == "spark" and res["spark_master"] == cluster.master_url
    for k in ("trees", "nodes", "edges", "generational_half_life", "branching_gamma", "bleed_rate"):
        assert res[k] == pytest.approx(res_local[k], rel=1e-12, abs=1e-12), k
    la, ra = Archive.open(local), Archive.open(remote)
    assert_same_analysis(la, ra, rel=1e-12)
