"""The ``scratch`` source: the whole remix tree of a public Scratch project.

The Scratch REST API (public, no key) gives each project as JSON with its
``remix.parent`` and ``remix.root``, ``stats`` and ``history``, and lists a
project's remixes page by page (``/projects/{id}/remixes?limit=40&offset=``),
each remix a full project object. The crawl:

1. fetches the project asked for and climbs ``remix.parent`` to the root of its tree
   (``remix.root`` when a parent is gone); the start project and every ancestor found
   are stored first, whatever ``max_depth`` says;
2. walks the tree from the root depth first, one page of remixes at a time, down to
   ``max_depth`` generations. Every project is asked for its remixes page: a listed
   ``stats.remixes`` of 0 is never trusted (Scratch's listing objects report 0 even for
   remixed projects, scratch-www#2441 and #4204), so a leaf costs one request;
3. a listed project without ``author.username`` (the listing lacks it) is fetched
   whole from ``/projects/{id}`` and its record made from that detail object;
4. never visits a project twice, so a cycle in the data ends the walk instead of
   looping; a project deleted mid-crawl (404) is reported and skipped.

Each project becomes one record: ``scratch:<id>``, parent ``scratch:<remix.parent>``
(relation ``remix``, evidence ``declared``), title, the instructions and notes as
the text, stats as metrics (views, loves as likes, remixes: from a detail object only, a listing's
says 0 for remixed projects), ``history.created`` as
``created_at``, and every other field the API gave kept verbatim in ``extra``
(except ``project_token``, a short-lived access token).

Resume: every item carries a cursor: the crawl's observation time and the stack
of ``[project, depth, offset, index]`` frames, a few bytes per generation. A crawl
killed and run again continues after the last committed record, and the records
it fetches again carry the same ``fetched_at``, so they are stored exactly once.

Examples
--------
>>> p = {"id": 2, "title": "Cat game remix", "instructions": "Press space", "description": "",
...      "author": {"username": "ada"}, "history": {"created": "2024-01-02T03:04:05.000Z"},
...      "stats": {"views": 10, "loves": 2, "favorites": 1, "remixes": 0},
...      "remix": {"parent": 1, "root": 1}, "project_token": "t0k"}
>>> r = project_record(p, fetched_at="2026-01-01T00:00:00Z")
>>> r["id"], r["parents"][0]["id"], r["prompt"], r["metrics"]
('scratch:2', 'scratch:1', 'Press space', {'views': 10, 'likes': 2, 'remixes': 0})
>>> "project_token" in r["extra"], r["extra"]["stats"]["favorites"]
(False, 1)
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import orjson

from archive.errors import SourceError
from archive.ingest import Bad, Item
from archive.record import format_time
from archive.sources.prefetch import run_ahead
from archive.sources.http import HttpClient

__all__ = ["ScratchSource", "project_record", "SCRATCH_API", "SCRATCH_RATE", "PAGE_SIZE"]

SCRATCH_API = "https://api.scratch.mit.edu"
SCRATCH_RATE = 10.0  # requests per second: the Scratch team's published politeness limit
PAGE_SIZE = 40  # the API's largest page
_NOT_EXTRA = ("id", "title", "project_token")


def _now() -> str:
    return format_time(datetime.now(timezone.utc))


def project_record(p: dict[str, Any], *, fetched_at: str, listed: bool = False) -> dict[str, Any]:
    """Turn one Scratch project object into a remix record (see the module docstring).

    ``listed``: ``p`` is an object of a remixes listing, whose ``stats.remixes`` is no count (Scratch's
    listings report 0 for remixed projects, scratch-www#2441, #4204): the record then publishes no remix
    count, where it published a false 0 that made the project "no parent" to ``archivist infer``."""
    def obj(key: str) -> dict[str, Any]:
        v = p.get(key)
        return v if isinstance(v, dict) else {}

    remix, hist, stats = obj("remix"), obj("history"), obj("stats")
    parent = remix.get("parent")
    author = p.get("author")
    text = "\n\n".join(x.strip() for x in (p.get("instructions"), p.get("description"))
                       if isinstance(x, str) and x.strip())
    metrics = {k: stats.get(src) for k, src in (("views", "views"), ("likes", "loves"), ("remixes", "remixes"),
                                                 ("comments", "comments"))
               if stats.get(src) is not None and not (listed and k == "remixes")}
    rec: dict[str, Any] = {
        "id": f"scratch:{p.get('id')}",
        "source": "scratch",
        "created_at": hist.get("created") or hist.get("shared"),
        "fetched_at": fetched_at,
        "author": author.get("username") if isinstance(author, dict) else author,
        "title": p.get("title"),
        "prompt": text or None,
        "parents": [{"id": f"scratch:{parent}", "relation": "remix", "evidence": "declared", "confidence": 1.0}]
        if parent is not None else [],
        "metrics": metrics,
        "license": "CC BY-SA 2.0",
        "extra": {k: v for k, v in p.items() if k not in _NOT_EXTRA},
    }
    if isinstance(p.get("image"), str):
        rec["media"] = [{"url": p["image"], "mime": "image/png"}]
    return rec


class ScratchSource:
    """Crawl the remix tree of Scratch project ``project_id`` (see the module docstring).

    ``client`` defaults to the shared polite client at ``rate`` requests/s (10, the
    Scratch limit); ``base_url`` is the API root (tests point it at a local server).
    """

    name = "scratch"

    def __init__(self, project_id: int, *, max_depth: int | None = None, base_url: str = SCRATCH_API,
                 client: HttpClient | None = None, allow_private: bool = False, rate: float = SCRATCH_RATE,
                 page_size: int = PAGE_SIZE, timeout: float = 30.0) -> None:
        if project_id < 1:
            raise SourceError(f"scratch: project id must be a positive number, got {project_id}")
        if max_depth is not None and max_depth < 0:
            raise SourceError(f"scratch: --max-depth must be 0 or more, got {max_depth}")
        self.project_id = project_id
        self.max_depth = max_depth
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.client = client or HttpClient(rate=rate, allow_private=allow_private, timeout=timeout)
        self.target = f"{self.base_url}/projects/{project_id}" + (f" max-depth={max_depth}" if max_depth is not None
                                                                   else "")
        self.warnings: list[str] = []
        self.skipped_repeats = 0

    # -- requests -------------------------------------------------------------------------------------
    def _project(self, pid: int) -> dict[str, Any] | None:
        p = self.client.get_json(f"{self.base_url}/projects/{pid}", missing_ok=True)
        if p is not None and not isinstance(p, dict):
            raise SourceError(f"scratch: {self.base_url}/projects/{pid} did not return a project object")
        return p

    def _remixes(self, pid: int, offset: int) -> list[Any] | None:
        page = self.client.get_json(f"{self.base_url}/projects/{pid}/remixes",
                                    params={"limit": self.page_size, "offset": offset}, missing_ok=True)
        if page is not None and not isinstance(page, list):
            raise SourceError(f"scratch: {self.base_url}/projects/{pid}/remixes?offset={offset} "
                              "did not return a list of projects")
        return page

    def _expand(self, depth: int) -> bool:
        # stats.remixes is never consulted: listing objects say 0 for remixed projects
        return self.max_depth is None or depth < self.max_depth

    def _detailed(self, child: dict[str, Any]) -> dict[str, Any]:
        """The listing object, or the project's detail object when the listing lacks the author."""
        author = child.get("author")
        if isinstance(author, dict) and author.get("username"):
            return child
        detail = self._project(int(child["id"]))
        return detail if detail is not None else child

    def _ancestry(self) -> list[dict[str, Any]]:
        """The start project and its ancestors, start first, root (or the highest one still there) last."""
        start = self._project(self.project_id)
        if start is None:
            raise SourceError(f"scratch: project {self.project_id} not found at {self.base_url} "
                              "(deleted, unshared or never existed)")
        chain, seen = [start], {start.get("id")}
        while True:
            parent = (chain[-1].get("remix") or {}).get("parent")
            if not isinstance(parent, int) or isinstance(parent, bool) or parent in seen:
                break
            seen.add(parent)
            up = self._project(parent)
            if up is None:
                self.warnings.append(f"project {parent}, the parent of project {chain[-1].get('id')}, was not found "
                                     "(404: deleted or unshared); it stays a placeholder")
                break
            chain.append(up)
        root_id = (start.get("remix") or {}).get("root")
        top = chain[-1]
        if (isinstance(root_id, int) and root_id not in seen and (top.get("remix") or {}).get("parent") is not None):
            root = self._project(root_id)  # a parent is gone: the root may still be there
            if root is not None:
                chain.append(root)
                return chain
        top_parent = (top.get("remix") or {}).get("parent")
        if top_parent is not None and top_parent == top.get("id"):
            self.warnings.append(f"project {top_parent} names itself as its parent (remix.parent); the link is kept "
                                 "as declared and the archive reports it as a self-loop")
        elif top_parent is not None:
            self.warnings.append(f"the parent of project {top.get('id')} is gone (and so is root project {root_id}); "
                                 f"crawled from project {top.get('id')}")
        return chain

    # -- the crawl ------------------------------------------------------------------------------------
    def items(self, cursor: str | None) -> Iterator[Item]:
        """Yield ``(location, record, cursor)`` for every project of the tree, resuming after ``cursor``. (fetched in a background thread,
        so the requests keep to the rate limit while the ingestor commits)."""
        return run_ahead(self._crawl(cursor))

    def _crawl(self, cursor: str | None) -> Iterator[Item]:
        frames: list[list[int]]
        if cursor:
            try:
                state = orjson.loads(cursor)
                t, frames = state["t"], [list(map(int, f)) for f in state["stack"]]
                self._ancestors = sorted(int(a) for a in state.get("a", []))
                seen = {f[0] for f in frames} | set(self._ancestors)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise SourceError(f"scratch: cannot resume from the stored cursor ({e}); "
                                  "run with a different --archive or start over") from None
        else:
            t = _now()
            chain = self._ancestry()
            seen = {int(p["id"]) for p in chain}
            tid = int(chain[-1]["id"])
            frames = [[tid, 0, 0, 0]] if self._expand(0) else []
            for p in chain:  # start project and ancestors first: stored whatever the walk finds
                yield (f"{self.base_url}/projects/{p['id']}", project_record(p, fetched_at=t),
                       self._cursor(t, frames, seen))
        expanded = {f[0] for f in frames}
        pages: dict[tuple[int, int], list[Any]] = {}
        while frames:
            fid, depth, off, idx = frames[-1]
            page = pages.get((fid, off))
            if page is None:
                page = self._remixes(fid, off)
                if page is None:
                    self.warnings.append(f"project {fid} was deleted or unshared mid-crawl (404); "
                                         f"its remixes from offset {off} on were skipped")
                    frames.pop()
                    continue
                pages = {(fid, off): page, **{k: v for k, v in pages.items() if k[0] != fid}}
            if idx >= len(page):
                pages.pop((fid, off), None)
                if len(page) < self.page_size:
                    frames.pop()
                else:
                    frames[-1] = [fid, depth, off + self.page_size, 0]
                continue
            child = page[idx]
            frames[-1][3] = idx + 1
            loc = f"{self.base_url}/projects/{fid}/remixes?offset={off}#{idx}"
            cid = child.get("id") if isinstance(child, dict) else None
            if not isinstance(cid, int) or isinstance(cid, bool):
                yield (loc, Bad(orjson.dumps(child).decode(), ["id: a Scratch remix without a numeric id"]),
                       self._cursor(t, frames))
                continue
            if cid in expanded:  # a cycle or a repeat: each project once
                self.skipped_repeats += 1
                continue
            expanded.add(cid)
            if self._expand(depth + 1):
                frames.append([cid, depth + 1, 0, 0])
            if cid in seen:  # an ancestor of the start project: stored already, walked now
                continue
            seen.add(cid)
            obj = self._detailed(child)
            yield (loc, project_record(obj, fetched_at=t, listed=obj is child), self._cursor(t, frames))

    def _cursor(self, t: str, frames: list[list[int]], ancestors: set[int] | None = None) -> str:
        if ancestors is not None:
            self._ancestors = sorted(ancestors)
        return orjson.dumps({"t": t, "stack": frames, "a": getattr(self, "_ancestors", [])}).decode()
