"""The Civitai source against a replayed /api/v1/images on 127.0.0.1."""
from __future__ import annotations

import json
from collections import Counter

from click.testing import CliRunner

from archive.ingest import ingest
from archive.sources.civitai import CivitaiSource
from archive.sources.http import HttpClient
from archive.store import Archive
from dashboard.cli import cli
from tests.replay.civitai_api import serve_images, serve_recorded, synthetic_images
from tests.replay.server import Reply, ReplayServer


def source(srv: ReplayServer, **kw) -> CivitaiSource:
    return CivitaiSource(base_url=srv.url, client=HttpClient(rate=None, allow_private=True, backoff=0.01), **kw)


def test_recorded_pages_prompts_resources_stats_and_remix_links(tmp_path, monkeypatch):
    monkeypatch.delenv("CIVITAI_API_KEY", raising=False)
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_recorded(srv)
        r = ingest(arc, source(srv, filters={"sort": "Newest"}))
        qs = [q.query for q in srv.requests]
    assert [q.get("cursor") for q in qs] == [None, "1744925337225|9174410"]
    assert all(q["withMeta"] == "true" and q["sort"] == "Newest" for q in qs)
    assert all("authorization" not in q.headers for q in srv.requests)  # no key: anonymous
    assert (r.read, r.stored) == (5, 5)
    assert sorted(arc.edges().select("child", "parent").rows()) == [
        ("civitai:9174410", "civitai:9173928"), ("civitai:9175002", "civitai:9174410"),
        ("civitai:9181200", "civitai:9180033")]
    rec = {json.loads(x)["id"]: json.loads(x) for x in arc.records()["record"]}
    x = rec["civitai:9174410"]
    assert x["prompt"] == "a lighthouse on a cliff in a storm, ukiyo-e woodblock print, dramatic lighting"
    assert x["metrics"] == {"likes": 33 + 9 + 1, "comments": 2} and x["author"] == "kaisen"
    assert [r["name"] for r in x["provenance"]["resources"]] == ["juggernautXL_v9", "ukiyo-e style"]
    assert x["provenance"]["generator"] == "juggernautXL_v9"
    assert x["media"][0]["width"] == 832 and x["media"][0]["mime"] == "image/jpeg"
    assert x["extra"]["meta"]["sampler"] == "DPM++ 2M Karras" and x["extra"]["stats"]["heartCount"] == 9
    assert arc.lineage().filter(id="civitai:9175002")["depth"][0] == 2


def test_key_from_the_environment_is_sent_as_a_header(tmp_path, monkeypatch):
    monkeypatch.setenv("CIVITAI_API_KEY", "civ-key-123456")
    with ReplayServer() as srv:
        serve_recorded(srv)
        items = list(source(srv).items(None))
        assert len(items) == 5
        assert {q.headers.get("authorization") for q in srv.requests} == {"Bearer civ-key-123456"}
        assert all("token" not in q.query for q in srv.requests)


def test_cursor_paging_with_trouble_and_resume_in_the_middle_of_a_page(tmp_path):
    images = synthetic_images(250, seed=1)
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        srv.script("/api/v1/images?cursor=100&limit=50&withMeta=true",
                Reply(503, b"busy", {"Retry-After": "0"}), Reply(body=b'{"items": [{"id": 2'))
        serve_images(srv, images)
        src = source(srv, page_size=50)
        it = src.items(None)
        first = [next(it) for _ in range(120)]  # stop mid-page, as a crash would
        resumed = list(source(srv, page_size=50).items(first[-1][2]))
        # the same resume, through the ingestor: stores the rest once
        r1 = ingest(arc, source(srv, page_size=50))
    assert len(resumed) == 130 and resumed[0][1]["id"] == f"civitai:{images[120]['id']}"
    assert r1.stored == 250
    assert max(Counter(arc.records(columns=["id"])["id"].to_list()).values()) == 1


def test_max_items_and_cli(tmp_path):
    images = synthetic_images(90, seed=2)
    with ReplayServer() as srv:
        serve_images(srv, images)
        res = CliRunner().invoke(cli, ["ingest", "civitai", "--base-url", srv.url, "--allow-private", "--rate", "1000",
                                       "--page-size", "20", "--limit", "45", "--archive", str(tmp_path / "a"),
                                       "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["stored"] == 45
        assert srv.count("/api/v1/images") == 3
