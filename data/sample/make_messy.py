"""Write data/sample/messy.jsonl: one example of each kind of bad input the ingestor must handle.

Run from the repository root after regenerating remixes.jsonl.gz (one line is a newer
observation of the sample's first record): `.venv/bin/python data/sample/make_messy.py`.
"""
import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent


def rec(**kw):
    base = {"source": "messy", "created_at": "2026-04-02T10:00:00Z"}
    base.update(kw)
    return json.dumps(base, ensure_ascii=False).encode()


with gzip.open(HERE / "remixes.jsonl.gz", "rt", encoding="utf-8") as f:
    first = json.loads(f.readline())
first["metrics"] = dict(first["metrics"], views=first["metrics"]["views"] * 3 + 17)
first["fetched_at"] = "2026-08-01T00:00:00Z"

lines = [
    b'{"id": "messy:truncated", "source": "messy", "created_at": "2026-04-0',  # cut short
    b"this line is not JSON at all",
    rec(id=None, created_at=None, prompt="a record with no id and no time"),
    json.dumps({"id": 12345, "source": "messy", "created_at": "2026-13-45T99:00:00Z", "parents": "messy:x",
                "metrics": {"views": "many"}, "style_tags": "noir"}).encode(),  # wrong types, all reported
    json.dumps(first, ensure_ascii=False).encode(),  # the same id again: a newer observation
    rec(id="messy:orphan", prompt="a remix whose parent was deleted before we got there, 35mm film",
        parents=[{"id": "messy:deleted-parent", "relation": "remix"}]),
    rec(id="messy:narcissus", prompt="a video that says it remixes itself", parents=["messy:narcissus"]),
    rec(id="messy:cycle-a", prompt="cycle a, claymation", parents=["messy:cycle-c"]),
    rec(id="messy:cycle-b", prompt="cycle b, claymation, neon lighting", parents=["messy:cycle-a"]),
    rec(id="messy:cycle-c", prompt="cycle c, neon lighting", parents=["messy:cycle-b"]),
    rec(id="messy:xss", author="<b>mallory</b>",
        prompt="<script>alert(1)</script> a cat <img src=x onerror=alert(1)> dancing, film noir",
        parents=["messy:orphan"]),
    rec(id="messy:invisible", prompt="a\u200b corgi\u202e surfing\u0007 at\u00a0golden hour, ３５ｍｍ film",
        parents=["messy:orphan"]),
    rec(id="messy:naive-time", created_at="2026-04-03 12:30:00", prompt="a time without a zone"),
    rec(id="messy:offset-time", created_at="2026-04-03T14:30:00+02:00", prompt="a time with a zone"),
    b'{"id": "messy:latin1", "source": "messy", "created_at": "2026-04-02T10:00:00Z", "prompt": "caf\xe9 au lait"}',
    rec(id="messy:unknown-fields", prompt="unknown top-level fields are kept in extra",
        platform_rank=3, hashtags=["#remix"]),
]
(HERE / "messy.jsonl").write_bytes(b"\n".join(lines) + b"\n")
