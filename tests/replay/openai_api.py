"""A replayed OpenAI Videos API: the recorded two-page listing, and seeded synthetic listings.

``GET /v1/videos?limit=&after=&order=desc`` pages a list newest first and answers
``{object: "list", data, first_id, last_id, has_more}``; ``GET /v1/videos/{id}/content``
returns the MP4 bytes. Requests without the right Bearer key get the recorded 401.
"""
from __future__ import annotations

import copy
import hashlib
import random
from typing import Any

from .server import Reply, ReplayServer, load


def recorded_videos() -> list[dict]:
    return load("openai/videos_page1.json")["data"] + load("openai/videos_page2.json")["data"]


def synthetic_videos(n: int, *, seed: int = 0) -> list[dict]:
    """``n`` video objects shaped like the recorded ones, newest first; about half are remixes."""
    rng = random.Random(seed)
    base = recorded_videos()[-1]
    out: list[dict] = []
    for i in range(n):
        v = copy.deepcopy(base)
        vid = "video_" + hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()[:48]
        created = 1_759_000_000 + 600 * i
        parent = out[rng.randrange(i)]["id"] if i and rng.random() < 0.5 else None
        v.update(id=vid, created_at=created, completed_at=created + 120, expires_at=created + 86_400,
                 prompt=f"{base['prompt']}, take {i}", remixed_from_video_id=parent)
        out.append(v)
    return out[::-1]


def content_of(video_id: str) -> bytes:
    """Deterministic fake MP4 bytes for a video (an ftyp box, then filler)."""
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + hashlib.sha256(video_id.encode()).digest() * 64


def serve_videos(srv: ReplayServer, videos: list[dict], *, key: str | None = None, prefix: str = "/v1") -> None:
    ids = [v["id"] for v in videos]

    def handler(path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        if key is not None and headers.get("authorization") != f"Bearer {key}":
            return Reply(401, load("openai/error_401.json"))
        rest = path[len(prefix) + len("/videos"):]
        if rest.endswith("/content"):
            vid = rest.split("/")[1]
            if vid not in ids:
                return Reply(404, {"error": {"message": f"Video {vid} not found", "type": "invalid_request_error"}})
            return Reply(body=content_of(vid), headers={"Content-Type": "video/mp4"})
        if rest not in ("", "/"):
            return Reply(404, {"error": {"message": "not found"}})
        limit = int(query.get("limit", 20))
        start = ids.index(query["after"]) + 1 if query.get("after") else 0
        data = videos[start: start + limit]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": start + limit < len(videos)}

    srv.route(prefix + "/videos", handler)
