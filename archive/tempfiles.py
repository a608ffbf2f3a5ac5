"""Temporary files and folders that are either finished or removed: never left behind.

Every temporary name made here carries the writing process's id and start time
(``<prefix><pid>-<start>-<random><suffix>``). A leftover is *stale* when that
process is gone (or the id now belongs to a later process): a writer killed
with ``kill -9`` cannot clean up after itself, so the next write command does
(:func:`sweep`). A name without a process stamp (written by an older version)
is stale when it is older than the running process.

Examples
--------
>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> mine = d / temp_name(".partial-")
>>> mine.mkdir()
>>> dead = d / ".partial-999999999-1-0a1b"      # a process that does not exist
>>> dead.mkdir()
>>> [p.name for p in sweep(d, ".partial-")] == [dead.name], mine.exists(), dead.exists()
(True, True, False)
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

__all__ = ["temp_name", "is_stale", "sweep", "process_start"]


def _start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), ``None`` if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


_ME = os.getpid()
_MY_START = _start_ticks(_ME)
_IMPORTED = time.time()


def process_start() -> float:
    """When the running process started (wall clock seconds; the import time of this module at the latest).

    >>> process_start() <= time.time()
    True
    """
    if _MY_START is not None:
        try:
            boot = float(next(x.split()[1] for x in Path("/proc/stat").read_text().splitlines()
                              if x.startswith("btime")))
            return min(_IMPORTED, boot + _MY_START / os.sysconf("SC_CLK_TCK"))
        except (OSError, StopIteration, ValueError):
            pass
    return _IMPORTED


def temp_name(prefix: str, suffix: str = "") -> str:
    """A fresh temporary name stamped with this process: ``<prefix><pid>-<start>-<random><suffix>``.

    >>> temp_name(".partial-").startswith(f".partial-{os.getpid()}-")
    True
    """
    return f"{prefix}{_ME}-{_MY_START if _MY_START is not None else 0}-{uuid.uuid4().hex[:12]}{suffix}"


def is_stale(path: Path, prefix: str) -> bool:
    """True when the process that made ``path`` (a :func:`temp_name`) is no longer running.

    >>> is_stale(Path(temp_name(".x-")), ".x-"), is_stale(Path(".x-999999999-5-ab"), ".x-")
    (False, True)
    """
    stamp = path.name[len(prefix):].split("-")
    if len(stamp) >= 3 and stamp[0].isdigit() and stamp[1].isdigit():
        pid, start = int(stamp[0]), int(stamp[1])
        if pid == _ME:
            return _MY_START is not None and start != _MY_START
        now = _start_ticks(pid)
        return now is None or now != start
    try:  # an unstamped name (older versions): stale when made before this process started
        return path.lstat().st_mtime < process_start()
    except OSError:
        return False


def sweep(folder: Path, prefix: str, suffix: str = "") -> list[Path]:
    """Remove the stale temporaries named ``<prefix>…<suffix>`` directly inside ``folder``; returns them.

    Folders are removed with everything in them; a missing ``folder`` is nothing to do.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not (p.name.startswith(prefix) and p.name.endswith(suffix)) or not is_stale(p, prefix):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # a read-only folder: nothing can be cleaned here, and nothing is written either
            continue
        removed.append(p)
    return removed
