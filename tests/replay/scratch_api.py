"""A replayed Scratch API: the recorded small tree, and seeded synthetic trees of any size.

Synthetic projects are copies of the recorded project ``scratch/project_1001.json``
with their own id, title, dates, stats and ``remix`` links, so they have exactly the
shape the real API returns.
"""
from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from .server import Reply, ReplayServer, load

SMALL_TREE_IDS = [1001, 1002, 1003, 1004, 1005]


def serve_recorded_tree(srv: ReplayServer) -> None:
    """The recorded tree: 1001 -> (1002 -> 1005, 1003, 1004). 1003 is deleted mid-crawl (its remixes
    give 404), 1004 has no remixes, and 1005's listing names the root 1001 again (a cycle)."""
    srv.add("/projects/1001", load("scratch/project_1001.json"))
    srv.add("/projects/1002", load("scratch/project_1002.json"))
    srv.add("/projects/1001/remixes?limit=40&offset=0", load("scratch/remixes_1001_0.json"))
    srv.add("/projects/1002/remixes?limit=40&offset=0", load("scratch/remixes_1002_0.json"))
    srv.add("/projects/1005/remixes?limit=40&offset=0", load("scratch/remixes_1005_0.json"))
    srv.add("/projects/1004/remixes?limit=40&offset=0", [])  # a leaf: its listed count of 0 is not trusted
    srv.add("/projects/1003/remixes?limit=40&offset=0", Reply(404, {"code": "NotFound", "message": ""}))


def synthetic_tree(n: int, *, seed: int = 0, root_id: int = 700_000_000) -> tuple[dict[int, dict], dict[int, list[int]]]:
    """A seeded remix tree of ``n`` projects: (projects by id, children by id in listing order)."""
    rng = random.Random(seed)
    base = load("scratch/project_1001.json")
    base.pop("project_token", None)
    t0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
    ids = [root_id + i for i in range(n)]
    parent_of: dict[int, int | None] = {ids[0]: None}
    children: dict[int, list[int]] = {pid: [] for pid in ids}
    for i in range(1, n):
        p = ids[int(i * rng.random() ** 4)]  # early projects are remixed most (a heavy-tailed fan-out)
        parent_of[ids[i]] = p
        children[p].append(ids[i])
    projects: dict[int, dict] = {}
    for i, pid in enumerate(ids):
        p = copy.deepcopy(base)
        created = t0 + timedelta(minutes=37 * i + rng.randrange(30))
        stamp = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        p.update({
            "id": pid,
            "title": base["title"] + " remix" * min(i, 1) + (f" #{i}" if i else ""),
            "instructions": base["instructions"] + (f"\nLevel pack {i} by remixer {i % 97}." if i else ""),
            "image": f"https://cdn2.scratch.mit.edu/get_image/project/{pid}_480x360.png",
            "history": {"created": stamp, "modified": stamp, "shared": stamp},
            "stats": {"views": rng.randrange(10, 5000), "loves": rng.randrange(0, 300),
                      "favorites": rng.randrange(0, 200), "remixes": len(children[pid])},
            "remix": {"parent": parent_of[pid], "root": None if i == 0 else ids[0]},
        })
        p["author"] = {**p["author"], "id": 90_000_000 + i % 97, "username": f"remixer_{i % 97}"}
        p["images"] = {k: v.replace("1001_", f"{pid}_") for k, v in p["images"].items()}
        projects[pid] = p
    return projects, children


def as_listed(p: dict) -> dict:
    """A project as Scratch's remixes listing gives it: ``stats.remixes`` 0 whatever the true count
    (scratch-www#2441, #4204; every object of a real saved listing says 0), and an author with no username."""
    q = copy.deepcopy(p)
    q.pop("project_token", None)
    q["stats"] = {**q.get("stats", {}), "remixes": 0}
    if isinstance(q.get("author"), dict):
        q["author"].pop("username", None)
    return q


def generations(depth: int, *, fanout: int = 2, seed: int = 0) -> tuple[dict[int, dict], dict[int, list[int]]]:
    """A seeded tree ``depth`` generations deep below its root, ``fanout`` remixes per project."""
    n = sum(fanout ** g for g in range(depth + 1))
    projects, _ = synthetic_tree(n, seed=seed)
    ids = sorted(projects)
    children: dict[int, list[int]] = {pid: [] for pid in ids}
    for i, pid in enumerate(ids[1:], 1):
        parent = ids[(i - 1) // fanout]
        children[parent].append(pid)
        projects[pid]["remix"] = {"parent": parent, "root": ids[0]}
    for pid in ids:
        projects[pid]["stats"]["remixes"] = len(children[pid])
    return projects, children


def serve_tree(srv: ReplayServer, projects: dict[int, dict], children: dict[int, list[int]], *,
               deleted: set[int] = frozenset(), listing=None) -> None:  # type: ignore[assignment]
    """Answer ``/projects/{id}`` and ``/projects/{id}/remixes?limit=&offset=`` from the tree
    (``listing``: how a project looks inside a remixes page, e.g. :func:`as_listed`)."""
    shape = listing or (lambda p: p)

    def handler(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        parts = path.strip("/").split("/")
        try:
            pid = int(parts[1])
        except (IndexError, ValueError):
            return Reply(404, {"code": "NotFound", "message": ""})
        if pid not in projects or pid in deleted:
            return Reply(404, {"code": "NotFound", "message": ""})
        if len(parts) == 2:
            return {**projects[pid], "project_token": f"{pid}_token"}
        if len(parts) == 3 and parts[2] == "remixes":
            limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
            return [shape(projects[c]) for c in children[pid][offset: offset + min(limit, 40)]]
        return Reply(404, {"code": "NotFound", "message": ""})

    srv.route("/projects/", handler)
