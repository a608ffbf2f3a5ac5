"""A real Spark standalone cluster on 127.0.0.1 for the tests: one master and one worker, started with
pyspark's own ``bin/spark-class`` and stopped afterwards (even when the test fails).

>>> with standalone_cluster(tmp_dir, cores=1, memory="1g") as c:  # doctest: +SKIP
...     c.master_url
'spark://127.0.0.1:40123'

Everything binds to 127.0.0.1 on free ports. The daemons' logs go to ``<tmp_dir>/logs``
(:meth:`Cluster.logs` gives their tails for an assertion message). ``env`` holds what a
driver needs on this machine: ``SPARK_HOME``, ``SPARK_LOCAL_IP`` and ``SPARK_CONF_DIR`` (a
``spark-defaults.conf`` with the given settings). ``PYSPARK_PYTHON`` is left unset: the
driver (``archivist analyze``, run by the venv's Python) sets it to its own interpreter,
pyspark ships that path with every Python function, and the executors start it, so the
package, installed in the venv, is importable there.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["spark_home", "java_missing", "free_port", "Cluster", "standalone_cluster"]


def spark_home() -> Path | None:
    """The Spark distribution inside the installed pyspark package (``None`` without pyspark)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        return None
    home = Path(spec.origin).parent
    return home if (home / "bin" / "spark-class").exists() and (home / "jars").is_dir() else None


def java_missing() -> str | None:
    """Why a standalone cluster cannot run here, or ``None`` when it can."""
    if spark_home() is None:
        return "pyspark (with its bin/spark-class and jars) is not installed (extra: spark)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "a Spark standalone cluster needs Java 17 or newer (java not on PATH, JAVA_HOME unset)"
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    master_url: str
    master_ui: str
    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def state(self) -> dict:
        """The master's status page as JSON (workers, their state, cores, memory, applications)."""
        with urllib.request.urlopen(self.master_ui + "/json/", timeout=5) as r:
            return json.load(r)

    def logs(self, chars: int = 3000) -> str:
        """The tail of every daemon log (for an assertion message)."""
        out = []
        for f in sorted(self.log_dir.glob("*.log")):
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a daemon and everything it started (its executors and their Python workers): its process group."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait(what: str, ok, cluster: Cluster, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in cluster.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: a Spark daemon exited with {p.returncode}\n{cluster.logs()}")
        with contextlib.suppress(OSError, ValueError):
            if ok():
                return
        time.sleep(0.5)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s\n{cluster.logs()}")


@contextlib.contextmanager
def standalone_cluster(base: Path, *, cores: int = 1, memory: str = "1g", conf: dict[str, str] | None = None,
                       timeout: float = 90) -> Iterator[Cluster]:
    """A master and one worker (``cores``, ``memory``) on 127.0.0.1, ready to take an application.

    ``conf`` goes into the ``spark-defaults.conf`` of ``SPARK_CONF_DIR`` (read by the
    daemons and by every driver launched with ``cluster.env``).
    """
    home = spark_home()
    if home is None:
        raise RuntimeError("pyspark is not installed")
    base = Path(base)
    logs, conf_dir, work = base / "logs", base / "conf", base / "work"
    for d in (logs, conf_dir, work):
        d.mkdir(parents=True, exist_ok=True)
    (conf_dir / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in (conf or {}).items()))
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(conf_dir),
           "SPARK_LOG_DIR": str(logs), "SPARK_WORKER_DIR": str(work), "SPARK_DAEMON_MEMORY": "512m"}
    # not set here on purpose: the driver (lineage.spark.spark_session) defaults PYSPARK_PYTHON to its own
    # interpreter, and that path is what the executors start; the tests check that default works
    for k in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYSPARK_GATEWAY_PORT", "MASTER"):
        env.pop(k, None)
    m_port, m_ui, w_port, w_ui = (free_port() for _ in range(4))
    cls = str(home / "bin" / "spark-class")
    cluster = Cluster(f"spark://127.0.0.1:{m_port}", f"http://127.0.0.1:{m_ui}", env, logs)
    try:
        with open(logs / "master.log", "wb") as out:
            cluster.procs.append(subprocess.Popen(
                ["bash", cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(m_port),
                 "--webui-port", str(m_ui)], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
        _wait("the Spark master", lambda: cluster.state().get("status") == "ALIVE", cluster, timeout)
        with open(logs / "worker.log", "wb") as out:
            cluster.procs.append(subprocess.Popen(
                ["bash", cls, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", str(w_port),
                 "--webui-port", str(w_ui), "--cores", str(cores), "--memory", memory, "--work-dir", str(work),
                 cluster.master_url], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
        _wait("the Spark worker", lambda: any(w.get("state") == "ALIVE" for w in cluster.state().get("workers", [])),
              cluster, timeout)
        yield cluster
    finally:
        for p in reversed(cluster.procs):  # the worker (and its executors) first, then the master
            _stop(p)
