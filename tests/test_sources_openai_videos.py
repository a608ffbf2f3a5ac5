"""The OpenAI Videos source against a replayed API on 127.0.0.1."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.errors import SourceError
from archive.ingest import ingest
from archive.sources.http import HttpClient, HttpError
from archive.sources.openai_videos import OpenAIVideosSource
from archive.store import Archive
from dashboard.cli import cli
from tests.replay.openai_api import content_of, recorded_videos, serve_videos
from tests.replay.server import Reply, ReplayServer, load

KEY = "sk-test-0123456789abcdefREALLYSECRET"


def source(srv: ReplayServer, **kw) -> OpenAIVideosSource:
    client = HttpClient(rate=None, allow_private=True, backoff=0.01, sleep=kw.pop("sleep", time.sleep))
    kw.setdefault("page_size", 3)
    return OpenAIVideosSource(base_url=srv.url + "/v1", api_key=KEY, client=client, **kw)


def test_pages_with_after_and_records_remix_edges(tmp_path):
    videos = recorded_videos()
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_videos(srv, videos, key=KEY)
        r = ingest(arc, source(srv))
        listing = [q.query for q in srv.requests if q.path == "/v1/videos"]
    assert [q.get("after") for q in listing] == [None, videos[2]["id"]]
    assert {q["limit"] for q in listing} == {"3"}
    assert (r.read, r.stored, r.quarantined) == (5, 5, 0)
    a, b, c, d, e = (f"openai-videos:{v['id']}" for v in reversed(videos))
    assert sorted(arc.edges().select("child", "parent").rows()) == sorted([(b, a), (c, a), (e, c)])
    rec = {json.loads(x)["id"]: json.loads(x) for x in arc.records()["record"]}
    top = rec[c]
    assert top["prompt"].startswith("The corgi from before")
    assert top["created_at"] == "2025-09-27T19:30:00Z"
    assert top["media"][0] == {"url": f"{srv.url}/v1/videos/{videos[2]['id']}/content", "mime": "video/mp4",
                               "width": 1792, "height": 1024, "duration_s": 12.0}
    assert top["provenance"] == {"ai_generated": True, "generator": "sora-2-pro"}
    assert top["extra"]["expires_at"] == videos[2]["expires_at"] and top["extra"]["size"] == "1792x1024"
    assert rec[d]["extra"]["status"] == "failed" and rec[d]["extra"]["error"]["code"] == "moderation_blocked"
    assert all(q.headers["authorization"] == f"Bearer {KEY}" for q in srv.requests)


def test_download_saves_content_by_sha256_before_it_expires(tmp_path):
    now = int(time.time())
    videos = recorded_videos()
    for i, v in enumerate(videos):
        if v["status"] == "completed":
            v["expires_at"] = now + 3600 if i != 4 else now - 10  # the oldest one already expired
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_videos(srv, videos, key=KEY)
        src = source(srv, media_dir=arc.path / "media")
        ingest(arc, src)
        fetched = sorted(q.path for q in srv.requests if q.path.endswith("/content"))
    completed = [v for v in videos if v["status"] == "completed" and v["expires_at"] > now]
    assert fetched == sorted(f"/v1/videos/{v['id']}/content" for v in completed)
    assert src.downloaded == 3 and any("expired" in w for w in src.warnings)
    rec = {json.loads(x)["id"]: json.loads(x) for x in arc.records()["record"]}
    for v in completed:
        m = rec[f"openai-videos:{v['id']}"]["media"][0]
        data = content_of(v["id"])
        assert m["sha256"] == hashlib.sha256(data).hexdigest() and m["bytes"] == len(data)
        assert m["mime"] == "video/mp4"
        assert (arc.path / "media" / f"{m['sha256']}.mp4").read_bytes() == data
    assert "sha256" not in rec[f"openai-videos:{videos[4]['id']}"]["media"][0]


def test_429_from_the_api_is_waited_out(tmp_path):
    arc = Archive.open(tmp_path / "a", create=True)
    slept: list[float] = []
    with ReplayServer() as srv:
        srv.add("/v1/videos?limit=3&order=desc", Reply(429, load("openai/error_429.json"), {"Retry-After": "1"}),
                load("openai/videos_page1.json"))
        serve_videos(srv, recorded_videos(), key=KEY)
        r = ingest(arc, source(srv, sleep=slept.append))
    assert r.stored == 5 and slept == [1.0]


def test_a_wrong_key_fails_without_showing_the_key(tmp_path):
    with ReplayServer() as srv:
        serve_videos(srv, recorded_videos(), key="sk-the-right-one")
        with pytest.raises(HttpError, match="HTTP 401") as e:
            list(source(srv).items(None))
    assert KEY not in str(e.value)


def test_the_key_must_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SourceError, match="OPENAI_API_KEY is not set"):
        OpenAIVideosSource()


def test_cli_openai_videos_never_stores_or_prints_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    videos = recorded_videos()
    for v in videos:
        v["expires_at"] = int(time.time()) + 3600 if v["expires_at"] else None
    with ReplayServer() as srv:
        serve_videos(srv, videos, key=KEY)
        res = CliRunner().invoke(cli, ["ingest", "openai-videos", "--base-url", srv.url + "/v1", "--allow-private",
                                       "--download", "--archive", str(tmp_path / "a"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["stored"] == 5 and KEY not in res.output
    hits = [p for p in (tmp_path / "a").rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert hits == []
    assert len(list((tmp_path / "a" / "media").glob("*.mp4"))) == 4  # every completed video


REPLAY = Path(__file__).resolve().parent / "replay" / "openai"


def test_from_file_reads_saved_pages_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pages = [REPLAY / "videos_page1.json", REPLAY / "videos_page2.json"]
    args = [x for p in pages for x in ("--from-file", str(p))]
    res = CliRunner().invoke(cli, ["ingest", "openai-videos", *args, "--archive", str(tmp_path / "a"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["stored"] == 5
    arc = Archive.open(tmp_path / "a")
    videos = recorded_videos()
    a, b, c, d, e = (f"openai-videos:{v['id']}" for v in reversed(videos))
    assert sorted(arc.edges().select("child", "parent").rows()) == sorted([(b, a), (c, a), (e, c)])
    rec = {json.loads(x)["id"]: json.loads(x) for x in arc.records()["record"]}
    assert rec[c]["created_at"] == "2025-09-27T19:30:00Z" and "fetched_at" not in rec[c]
    assert rec[c]["media"][0]["url"] == f"https://api.openai.com/v1/videos/{videos[2]['id']}/content"
    # loading the same saved files again changes nothing
    res = CliRunner().invoke(cli, ["ingest", "openai-videos", *args, "--archive", str(tmp_path / "a"), "--json"])
    assert json.loads(res.stdout)["unchanged"] == 5


def test_from_file_takes_jsonl_video_objects_lists_and_repeats(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    videos = recorded_videos()
    jl = tmp_path / "videos.jsonl"  # one video object per line, one repeated, one broken line
    jl.write_text("\n".join(json.dumps(v) for v in videos[:3]) + "\n" + json.dumps(videos[0]) + "\n{broken\n")
    pages = tmp_path / "pages.jsonl"  # one saved page per line
    pages.write_text(json.dumps(load("openai/videos_page2.json")) + "\n")
    lst = tmp_path / "list.json"  # a JSON array of video objects, with a BOM
    lst.write_bytes(b"\xef\xbb\xbf" + json.dumps(videos[3:], indent=2).encode())
    src = OpenAIVideosSource(from_files=[jl, pages, lst])
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, src)
    assert (r.read, r.stored, r.quarantined) == (6, 5, 1)  # 5 distinct videos once each, the broken line kept
    assert arc.quarantine()["reasons"][0][0].startswith("not JSON")
    assert sorted(arc.posts()["id"].to_list()) == sorted(f"openai-videos:{v['id']}" for v in videos)


def test_download_skips_a_video_whose_content_is_already_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    videos = recorded_videos()
    for v in videos:
        v["expires_at"] = int(time.time()) + 3600 if v["expires_at"] else None
    a = tmp_path / "a"
    with ReplayServer() as srv:
        serve_videos(srv, videos, key=KEY)
        cmd = ["ingest", "openai-videos", "--base-url", srv.url + "/v1", "--allow-private", "--download",
               "--archive", str(a), "--json"]
        assert CliRunner().invoke(cli, cmd).exit_code == 0
        first = srv.count("/v1/videos/") - 0
        (a / "media" / f"{hashlib.sha256(content_of(videos[0]['id'])).hexdigest()}.mp4").unlink()  # one file lost
        before = len(srv.requests)
        res = CliRunner().invoke(cli, cmd)
        again = [q.path for q in srv.requests[before:] if q.path.endswith("/content")]
    assert res.exit_code == 0, res.output
    assert first == 4 and again == [f"/v1/videos/{videos[0]['id']}/content"]  # only the one no longer stored
    rec = [json.loads(x) for x in Archive.open(a).records()["record"]]
    shas = {r["id"]: r["media"][0].get("sha256") for r in rec}
    assert all(shas[f"openai-videos:{v['id']}"] == hashlib.sha256(content_of(v["id"])).hexdigest()
               for v in videos if v["status"] == "completed")


@pytest.mark.parametrize("doc, reason", [
    (load("openai/error_401.json"), "file: a saved API error (invalid_api_key: Incorrect API key provided"),
    ({"object": "list", "data": {"id": "video_x", "object": "video"}, "has_more": False},
     "data: the /videos page holds a dict, not a list of videos"),
    ({"object": "list", "data": [{"object": "video", "prompt": "a corgi", "created_at": 1759003800}]},
     "id: a video object without a string id"),
    ("video_x", "record: a str, not a video object or a /videos page"),
])
def test_a_saved_file_that_is_not_a_page_is_quarantined_saying_what_it_is(tmp_path, monkeypatch, doc, reason):
    # an error body saved instead of a page, a page whose data is not a list, a video without id
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    good = recorded_videos()[0]
    f = tmp_path / "saved.jsonl"
    f.write_text(json.dumps(doc) + "\n" + json.dumps(good) + "\n")
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, OpenAIVideosSource(from_files=[f]))
    assert r.reconciles and (r.read, r.stored, r.quarantined) == (2, 1, 1)
    q = arc.quarantine()
    assert q["reasons"][0][0].startswith(reason) and q["location"][0] == f"{f}:1"


def test_saved_files_as_people_keep_them_utf16_gzip_cut_short_and_a_bad_first_line(tmp_path, monkeypatch):
    # PowerShell 5 `Invoke-RestMethod ... > page.json` writes UTF-16; a page kept gzipped; a page cut
    # short (one quarantined item for the file, not one per line); JSON Lines whose first line is broken
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    page = (Path(__file__).parent / "replay" / "openai" / "videos_page1.json").read_text("utf-8")
    n = len(json.loads(page)["data"])
    import gzip
    files = {"ps.json": page.encode("utf-16"), "page.json.gz": gzip.compress(page.encode()),
             "cut.json": page.encode()[:300]}
    lines = [json.dumps(v) for v in recorded_videos()[:3]]
    files["bad-first.jsonl"] = ("{not json\n" + "\n".join(lines) + "\n").encode()
    got = {}
    for name, body in files.items():
        f = tmp_path / name
        f.write_bytes(body)
        arc = Archive.open(tmp_path / f"a-{name}", create=True)
        r = ingest(arc, OpenAIVideosSource(from_files=[f]))
        assert r.reconciles
        got[name] = (r.stored, r.quarantined)
        if name == "cut.json":
            assert arc.quarantine()["reasons"][0][0].startswith("not JSON: unexpected end of data")
    assert got == {"ps.json": (n, 0), "page.json.gz": (n, 0), "cut.json": (0, 1), "bad-first.jsonl": (3, 1)}
