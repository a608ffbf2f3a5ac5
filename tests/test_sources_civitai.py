"""The Civitai source against a replayed /api/v1/images on 127.0.0.1."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from archive.ingest import ingest
from archive.sources.civitai import CivitaiSource, image_record
from archive.sources.http import HttpClient
from archive.store import Archive
from dashboard.cli import cli
from tests.replay.civitai_api import serve_images, serve_legacy_path, serve_recorded, synthetic_images
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
    assert all(q["withMeta"] == "true" and q["flatMeta"] == "true" and q["sort"] == "Newest" for q in qs)
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
        srv.script("/api/v1/images?cursor=100&flatMeta=true&limit=50&withMeta=true",
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


CASE = Path(__file__).resolve().parent / "data" / "civitai-meta-shapes" / "images.json"


def _case_checks(arc: Archive) -> None:
    assert sorted(arc.edges().select("child", "parent", "relation", "evidence").rows()) == [
        ("civitai:102", "civitai:101", "remix", "declared"), ("civitai:103", "civitai:101", "remix", "declared")]
    posts = dict(arc.posts().select("id", "prompt").rows())
    assert posts["civitai:103"] == "a lighthouse at night, film noir"
    rec = {json.loads(x)["id"]: json.loads(x) for x in arc.records()["record"]}
    assert rec["civitai:103"]["provenance"]["generator"] == "dreamshaper_8"
    assert rec["civitai:103"]["provenance"]["resources"] == [{"type": "checkpoint", "name": "dreamshaper_8"}]


def test_case_meta_shapes_remix_link_in_meta_extra_and_wrapped_meta(tmp_path):
    # case civitai-meta-shapes: the page exactly as saved (103's meta wrapped whatever is asked)
    page = json.loads(CASE.read_text())
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        srv.route("/api/v1/images", lambda path, query, headers: page)
        r = ingest(arc, source(srv, filters={"modelId": 4384}))
        q = srv.requests[0].query
    assert (r.read, r.stored) == (3, 3)
    assert q["flatMeta"] == "true" and q["withMeta"] == "true" and q["modelId"] == "4384"
    _case_checks(arc)


def test_legacy_query_path_wraps_meta_unless_flat_meta_is_sent(tmp_path):
    images = json.loads(CASE.read_text())["items"]
    with ReplayServer() as srv:
        serve_legacy_path(srv, images)
        arc = Archive.open(tmp_path / "a", create=True)
        ingest(arc, source(srv, filters={"modelId": 4384}))
        _case_checks(arc)
        # and a client that does not send flatMeta gets the wrapper, which image_record unwraps anyway
        import urllib.request
        with urllib.request.urlopen(f"{srv.url}/api/v1/images?modelId=4384&withMeta=true") as resp:
            wrapped = json.loads(resp.read())["items"]
    assert set(wrapped[0]["meta"]) == {"id", "meta"}
    recs = [image_record(im, fetched_at="2026-01-01T00:00:00Z") for im in wrapped]
    assert [r["prompt"] for r in recs] == [im["meta"]["prompt"] if "prompt" in im["meta"] else
                                           im["meta"]["meta"]["prompt"] for im in images]
    assert [p["id"] for r in recs for p in r["parents"]] == ["civitai:101", "civitai:101"]


def test_resources_are_structured_provenance_not_prompt_words():
    img = {"id": 5, "createdAt": "2025-01-01T00:00:00Z", "meta": {
        "prompt": "a fox, <lora:inkwash:0.7>", "Model": "sdxl_base", "Model hash": "31e35c80fc",
        "resources": [{"name": "inkwash", "type": "lora", "weight": 0.7, "hash": "aa11"}],
        "civitaiResources": [{"type": "LoRA", "weight": 0.7, "modelVersionId": 5511, "modelVersionName": "v2"},
                             {"type": "embed", "modelVersionId": 9, "modelVersionName": "neg"}],
        "hashes": {"model": "31e35c80fc", "lora:inkwash": "aa11", "embed:easynegative": "c74b"}}}
    r = image_record(img, fetched_at="2026-01-01T00:00:00Z")
    assert r["provenance"]["resources"] == [
        {"type": "lora", "name": "inkwash", "hash": "aa11", "weight": 0.7},
        {"type": "lora", "version": "v2", "weight": 0.7, "model_version_id": 5511},
        {"type": "embedding", "version": "neg", "model_version_id": 9},
        {"type": "checkpoint", "name": "sdxl_base", "hash": "31e35c80fc"},
        {"type": "embedding", "name": "easynegative", "hash": "c74b"}]
    assert r["prompt"] == "a fox, <lora:inkwash:0.7>"  # the text as given; prompt syntax is lineage's job


def test_meta_null_text_list_and_odd_ids_over_the_wire(tmp_path):
    # pages as a mirror or an older API may give them: meta null, JSON text, a list, other text, wrapped
    # text; images whose id is missing, empty or not a scalar. Nothing raises, every image is stored
    # or quarantined with the reason, and meta is kept verbatim in extra whatever its shape.
    base = synthetic_images(1)[0]
    metas = [None, json.dumps({"prompt": "a fox, ink", "Model": "sdxl_base", "extra": {"remixOfId": 1}}),
             ["a fox", 1], "not json {", {"id": 6, "meta": json.dumps({"prompt": "a fox, wrapped text"})},
             {"prompt": 7, "Model": ["x"], "resources": "no list", "civitaiResources": [None, 3], "extra": "x"}]
    images = [{**base, "id": 1 + i, "meta": m} for i, m in enumerate(metas)]
    images += [{**base, "id": None}, {**base, "id": ""}, {**base, "id": {"a": 1}}, {**base, "id": True}, "junk"]
    arc = Archive.open(tmp_path / "a", create=True)
    with ReplayServer() as srv:
        serve_images(srv, images)
        r = ingest(arc, source(srv))
    assert r.reconciles and (r.read, r.stored, r.quarantined) == (11, 6, 5)
    posts = dict(arc.posts().select("id", "prompt").rows())
    assert posts == {"civitai:1": None, "civitai:2": "a fox, ink", "civitai:3": None, "civitai:4": None,
                     "civitai:5": "a fox, wrapped text", "civitai:6": None}
    assert arc.edges().select("child", "parent").rows() == [("civitai:2", "civitai:1")]
    recs = {i: json.loads(x) for i, x in arc.records().select("id", "record").rows()}
    assert recs["civitai:2"]["provenance"]["generator"] == "sdxl_base"
    assert recs["civitai:6"]["provenance"]["generator"] == base["baseModel"]  # a list is not a model name
    assert [recs[f"civitai:{i + 1}"]["extra"]["meta"] for i in range(6)] == metas
    reasons = sorted(q[0] for q in arc.quarantine().get_column("reasons").to_list())
    assert reasons == ["id: '' is not an image id", "id: True is not an image id", "id: an image without an id",
                       "id: an image without an id", "id: {'a': 1} is not an image id"]
