"""``analyze`` on a Spark standalone cluster (a master and one worker on 127.0.0.1) beside the local engine.

Both run as the CLI runs (``archivist analyze --json``, a child process) on the
benchmark store (1,000,000 simulated posts unless ``REMIX_BENCH_POSTS`` says otherwise).
The worker gets every core of the machine and ``REMIX_BENCH_SPARK_MEMORY`` (default 6g)
for its executor; the driver gets ``REMIX_BENCH_SPARK_DRIVER_MEMORY`` (default 4g).
Shuffles use ``REMIX_BENCH_SPARK_PARTITIONS`` partitions (default four per core).
The figure is the analysis time the CLI reports (``seconds``: from the session to the
tables written), with the local engine as the baseline of the same run; the wall time of
the whole command (JVM and executor start included) is in the note. On one machine the
cluster shares the local engine's cores, so this measures the distributed path's
overhead, not a speed-up.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.spark_cluster import java_missing, standalone_cluster

pytestmark = pytest.mark.benchmark

ARCHIVIST = Path(sys.executable).with_name("archivist")


def _analyze(args: list[str], env: dict[str, str] | None = None) -> tuple[dict, float]:
    t = time.perf_counter()
    r = subprocess.run([str(ARCHIVIST), "analyze", *args, "--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout), wall


def test_analyze_on_a_standalone_cluster_beside_the_local_engine(bench_store: Path, bench_posts: int, record_figure,
                                                                  tmp_path: Path):
    if why := java_missing():
        pytest.skip(why)
    local, local_wall = _analyze(["--force", "--archive", str(bench_store)])
    cores = os.cpu_count() or 1
    memory = os.environ.get("REMIX_BENCH_SPARK_MEMORY", "6g")
    conf = {"spark.executor.memory": memory, "spark.driver.memory": os.environ.get("REMIX_BENCH_SPARK_DRIVER_MEMORY",
                                                                                  "4g"),
            "spark.driver.maxResultSize": "0", "spark.ui.showConsoleProgress": "false",
            # Spark's default of 200 shuffle partitions is made for clusters: on 2 cores it doubles the time
            # (407 s against 194 s at 20,000 posts with 8)
            "spark.sql.shuffle.partitions": os.environ.get("REMIX_BENCH_SPARK_PARTITIONS", str(4 * cores))}
    with standalone_cluster(tmp_path / "spark", cores=cores, memory=memory, conf=conf) as cluster:
        spark, wall = _analyze(["--engine", "spark", "--master", cluster.master_url, "--archive", str(bench_store)],
                               cluster.env)
        assert [a["name"] for a in cluster.state().get("completedapps", [])] == ["remix-archivist"]
    assert spark["engine"] == "spark" and spark["spark_master"] == cluster.master_url
    assert (spark["trees"], spark["nodes"], spark["edges"]) == (local["trees"], local["nodes"], local["edges"])
    record_figure("analyze_spark_cluster", spark["seconds"], baseline=local["seconds"], unit="s",
                  figure="analyze on a Spark standalone cluster (1 worker)",
                  note=f"{bench_posts:,} posts; worker {cores} cores / {memory}, {conf['spark.sql.shuffle.partitions']} "
                       f"shuffle partitions; command {wall:.0f} s wall with "
                       f"JVM and executor start; local engine {local['seconds']:.1f} s ({local_wall:.0f} s wall); "
                       f"ratio below 1: slower than the local engine")
