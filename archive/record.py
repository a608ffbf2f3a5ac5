"""The remix record: the open interchange format, its validation and its row form.

A remix record is one JSON object (one line of JSON Lines). Its JSON Schema is
published in ``data/remix-record.schema.json``; :func:`check` applies the same
rules in plain Python (fast enough for hundreds of thousands of records a
second) and reports *every* problem of a record, not the first.

Examples
--------
>>> rec = {"id": "sora:v1", "source": "sora", "created_at": "2026-01-02T03:04:05Z",
...        "prompt": "a corgi surfing at golden hour"}
>>> norm, reasons = check(rec)
>>> reasons
[]
>>> norm["created_at"]
'2026-01-02T03:04:05Z'
>>> for reason in check({"id": 5, "created_at": "yesterday"})[1]:
...     print(reason)
id: must be a string like "<source>:<native id>", got int
source: required field is missing
created_at: not an RFC 3339 time: 'yesterday'
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any

import orjson

__all__ = [
    "RELATIONS",
    "EVIDENCE",
    "METRICS",
    "KNOWN_FIELDS",
    "MAX_COUNT",
    "check",
    "content_hash",
    "canonical_json",
    "parse_time",
    "format_time",
    "schema",
    "text_of",
    "REDACTION_KEEPS",
    "reduced",
]

RELATIONS = ("remix", "parentOf", "componentOf", "inspired")
EVIDENCE = ("declared", "c2pa", "inferred")
METRICS = ("views", "likes", "remixes", "comments")
KNOWN_FIELDS = (
    "id", "source", "parents", "created_at", "author", "title", "prompt", "style_tags",
    "media", "metrics", "fetched_at", "license", "consent", "provenance", "extra",
)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*:.+$", re.S)
# the same pattern as the published schema; parse_time then checks that the date exists
_TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?$")
_MAX_ID = 1024
_MEDIA_KEYS = {"url": str, "sha256": str, "mime": str}
_MEDIA_NUM = ("bytes", "duration_s", "width", "height")


def _tname(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 time; a time without a zone is taken as UTC.

    >>> parse_time("2026-05-01T10:00:00+02:00").isoformat()
    '2026-05-01T08:00:00+00:00'
    >>> parse_time("2026-05-01 10:00:00").isoformat()
    '2026-05-01T10:00:00+00:00'
    """
    s = value.strip()
    if len(s) > 40 or not _TIME_RE.match(s):
        raise ValueError(value)
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def format_time(dt: datetime) -> str:
    """Format a UTC time the way records carry it.

    >>> format_time(parse_time("2026-05-01T10:00:00.5+02:00"))
    '2026-05-01T08:00:00.500000Z'
    """
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: the form hashed and stored.

    >>> canonical_json({"b": 1, "a": [1, "é"]})
    '{"a":[1,"é"],"b":1}'
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers beyond 64 bits and the like
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(canonical: str) -> str:
    """The content hash of a record's canonical JSON (sha256, 32 hex digits).

    >>> content_hash('{"id":"x:1"}')
    '62123ce71d13d3b7b98a046258117465'
    """
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def text_of(prompt: str | None, title: str | None) -> str:
    """The text drift is measured on: the prompt, else the title.

    >>> text_of(None, "a title"), text_of("a prompt", "a title"), text_of("", "")
    ('a title', 'a prompt', '')
    """
    return prompt if prompt else (title or "")


def _check_time(rec: dict, key: str, required: bool, out: dict, reasons: list[str]) -> None:
    v = rec.get(key)
    if v is None:
        if required:
            reasons.append(f"{key}: required field is missing")
        return
    if not isinstance(v, str):
        reasons.append(f"{key}: must be an RFC 3339 time string, got {_tname(v)}")
        return
    try:
        out[key] = format_time(parse_time(v))
    except (ValueError, OverflowError):
        reasons.append(f"{key}: not an RFC 3339 time: {v[:60]!r}")


def _check_parents(v: Any, own_id: Any, reasons: list[str]) -> list[dict] | None:
    if not isinstance(v, list):
        reasons.append(f"parents: must be a list, got {_tname(v)}")
        return None
    out = []
    for i, p in enumerate(v):
        if isinstance(p, str):  # shorthand: a bare id is a declared remix
            p = {"id": p}
        if not isinstance(p, dict):
            reasons.append(f"parents[{i}]: must be an object or an id string, got {_tname(p)}")
            continue
        pid = p.get("id")
        ok = True
        if not isinstance(pid, str) or not pid:
            reasons.append(f"parents[{i}].id: must be a non-empty string, got {_tname(pid)}")
            ok = False
        elif len(pid) > _MAX_ID or not _ID_RE.match(pid):
            # the same rule as a post's own id: a parent becomes a node (a placeholder when missing)
            reasons.append(f'parents[{i}].id: must look like "<source>:<native id>" (at most {_MAX_ID} characters), '
                           f"got {pid[:60]!r}")
            ok = False
        rel = p.get("relation", "remix")
        if rel not in RELATIONS:
            reasons.append(f"parents[{i}].relation: must be one of {', '.join(RELATIONS)}, got {rel!r}")
            ok = False
        ev = p.get("evidence", "declared")
        if ev not in EVIDENCE:
            reasons.append(f"parents[{i}].evidence: must be one of {', '.join(EVIDENCE)}, got {ev!r}")
            ok = False
        conf = p.get("confidence", 1.0)
        if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0.0 <= conf <= 1.0:
            reasons.append(f"parents[{i}].confidence: must be a number from 0 to 1, got {conf!r}")
            ok = False
        if ok:
            q = dict(p)
            q["id"], q["relation"], q["evidence"], q["confidence"] = pid, rel, ev, float(conf)
            out.append(q)
    return out


def check(rec: Any) -> tuple[dict | None, list[str]]:
    """Validate one parsed record; return ``(normalized record, reasons)``.

    ``reasons`` lists every problem found; when it is empty the normalized record
    has times in UTC ``Z`` form, parents as objects with their defaults filled in,
    and unknown top-level fields moved into ``extra`` (kept, never dropped).
    """
    if not isinstance(rec, dict):
        return None, [f"record: must be a JSON object, got {_tname(rec)}"]
    reasons: list[str] = []
    out: dict[str, Any] = {}
    rid = rec.get("id")
    if rid is None:
        reasons.append("id: required field is missing")
    elif not isinstance(rid, str):
        reasons.append(f'id: must be a string like "<source>:<native id>", got {_tname(rid)}')
    elif len(rid) > _MAX_ID or not _ID_RE.match(rid):
        reasons.append(f'id: must look like "<source>:<native id>" (at most {_MAX_ID} characters), got {rid[:60]!r}')
    else:
        out["id"] = rid
    src = rec.get("source")
    if src is None:
        reasons.append("source: required field is missing")
    elif not isinstance(src, str) or not src:
        reasons.append(f"source: must be a non-empty string, got {_tname(src)}")
    else:
        out["source"] = src
    _check_time(rec, "created_at", True, out, reasons)
    _check_time(rec, "fetched_at", False, out, reasons)
    for key in ("author", "title", "prompt", "license"):
        v = rec.get(key)
        if v is not None:
            if isinstance(v, str):
                out[key] = v
            else:
                reasons.append(f"{key}: must be a string, got {_tname(v)}")
    if "parents" in rec and rec["parents"] is not None:
        parents = _check_parents(rec["parents"], rid, reasons)
        if parents is not None:
            out["parents"] = parents
    tags = rec.get("style_tags")
    if tags is not None:
        if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
            out["style_tags"] = tags
        else:
            reasons.append("style_tags: must be a list of strings")
    media = rec.get("media")
    if media is not None:
        if not isinstance(media, list):
            reasons.append(f"media: must be a list of objects, got {_tname(media)}")
        else:
            for i, m in enumerate(media):
                if not isinstance(m, dict):
                    reasons.append(f"media[{i}]: must be an object, got {_tname(m)}")
                    continue
                for k, t in _MEDIA_KEYS.items():
                    if k in m and m[k] is not None and not isinstance(m[k], t):
                        reasons.append(f"media[{i}].{k}: must be a string, got {_tname(m[k])}")
                for k in _MEDIA_NUM:
                    x = m.get(k)
                    if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0):
                        reasons.append(f"media[{i}].{k}: must be a non-negative number, got {x!r}")
            out["media"] = media
    metrics = rec.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, dict):
            reasons.append(f"metrics: must be an object, got {_tname(metrics)}")
        else:
            for k, x in metrics.items():
                if x is not None and (isinstance(x, bool) or not isinstance(x, int) or x < 0):
                    reasons.append(f"metrics.{k}: must be a non-negative integer, got {x!r}")
                elif x is not None and x > MAX_COUNT:  # the store's counts are 64-bit
                    reasons.append(f"metrics.{k}: must be at most {MAX_COUNT:,} (a 64-bit count), got {x!r}")
            out["metrics"] = metrics
    for key in ("consent", "provenance", "extra"):
        v = rec.get(key)
        if v is not None:
            if isinstance(v, dict):
                out[key] = v
            else:
                reasons.append(f"{key}: must be an object, got {_tname(v)}")
    if reasons:
        return None, reasons
    unknown = [k for k in rec if k not in KNOWN_FIELDS]
    if unknown:
        extra = dict(out.get("extra") or {})
        for k in unknown:
            extra.setdefault(k, rec[k])
        out["extra"] = extra
    return out, []


#: what a redaction keeps of a record: enough for the lineage and the engagement series to survive
#: The largest count a record's ``metrics`` may hold: the store keeps them as Int64.
MAX_COUNT = (1 << 63) - 1

REDACTION_KEEPS = ("id", "source", "created_at", "fetched_at", "parents", "metrics", "license", "consent")


def reduced(rec: dict) -> dict:
    """A record with its content removed, as a redaction leaves it.

    >>> reduced({"id": "a:1", "source": "a", "created_at": "2026-01-01T00:00:00Z", "prompt": "secret",
    ...          "author": "@me", "metrics": {"views": 3}})
    {'id': 'a:1', 'source': 'a', 'created_at': '2026-01-01T00:00:00Z', 'metrics': {'views': 3}, 'extra': {'redacted': True}}
    """
    out = {k: rec[k] for k in REDACTION_KEEPS if k in rec}
    out["extra"] = {"redacted": True}
    return out


def schema() -> dict:
    """The published JSON Schema of the remix record (``data/remix-record.schema.json``).

    >>> schema()["title"]
    'Remix record'
    """
    from archive.paths import data_dir

    return json.loads((data_dir() / "remix-record.schema.json").read_text("utf-8"))
