"""Names a snapshot writes: portable, distinct, inside the snapshots folder, and a fresh bag always verifies.

Cases: snapshot-media-url-pct0a-fails-own-verify, snapshot-placeholder-root-dotdot-escapes-snapshots-folder,
snapshot-names-not-portable (inputs copied into tests/data/<case>/), and a property test with arbitrary ids.
"""
from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.bag import verify
from archive.ingest import ingest, ingest_records
from archive.names import is_portable
from archive.snapshot import read_bag_info, restore, safe_name, snapshot, snapshot_roots
from archive.sources.jsonl import JsonlSource
from archive.store import Archive
from dashboard.cli import cli

DATA = Path(__file__).resolve().parent / "data"


def _portable_tree(folder: Path) -> list[str]:
    """Every reason a name under ``folder`` is not portable or collides ignoring case (empty when fine)."""
    bad: list[str] = []
    for d in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        names = [p.name for p in d.iterdir()]
        bad += [f"{d / n}: not portable" for n in names if not is_portable(n)]
        lower = [n.lower() for n in names]
        bad += [f"{d}: {n} collides ignoring case" for n in set(lower) if lower.count(n) > 1]
    return bad


class _Clip(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"fake mp4 bytes\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_media_url_ending_in_pct0a_verifies_and_restores(empty_store: Archive, tmp_path: Path):
    """snapshot-media-url-pct0a-fails-own-verify: a fresh bag verifies (rc 0) and restores."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Clip)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        line = (DATA / "snapshot-media-url-pct0a-fails-own-verify" / "pct.jsonl").read_text("utf-8")
        line = line.replace("127.0.0.1:8765", f"127.0.0.1:{srv.server_address[1]}")
        ingest_records(empty_store, [json.loads(line)])
        bag = snapshot(empty_store, "jsonl:p1", media=True, allow_private=True, out=tmp_path / "bags")
    finally:
        srv.shutdown()
        srv.server_close()
    index = json.loads((bag / "data" / "media" / "index.json").read_text("utf-8"))
    assert index[0]["status"] == "ok" and index[0]["url"].endswith("clip.mp4%0A")
    assert index[0]["file"] == f"media/{safe_name('jsonl:p1')}/0.mp4"
    assert (bag / "data" / index[0]["file"]).read_bytes() == b"fake mp4 bytes\n"
    r = CliRunner()
    out = r.invoke(cli, ["verify", str(bag)])
    assert out.exit_code == 0 and "valid" in out.output
    out = r.invoke(cli, ["restore", str(bag), "--archive", str(tmp_path / "restored"), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["stored"] == 1


def test_id_with_cr_verifies_and_restores(empty_store: Archive, tmp_path: Path):
    """snapshot-media-url-pct0a-fails-own-verify, second half: an id holding a CR."""
    ingest(empty_store, JsonlSource([str(DATA / "snapshot-media-url-pct0a-fails-own-verify" / "crid.jsonl")]))
    bag = snapshot(empty_store, "jsonl:a\rb", out=tmp_path / "bags")
    assert verify(bag).ok
    assert sorted(p.name for p in (bag / "data" / "c2pa").iterdir()) == [f"{safe_name('jsonl:a' + chr(13) + 'b')}.record.json"]
    assert "\r" not in safe_name("jsonl:a\rb") and "%" not in safe_name("jsonl:a\rb")
    meta = json.loads((bag / "data" / "snapshot.json").read_text("utf-8"))
    assert meta["names"][safe_name("jsonl:a\rb")] == "jsonl:a\rb"  # the original id is kept
    info = (bag / "bag-info.txt").read_text("utf-8")
    assert str(empty_store.path) not in info and str(empty_store.path.resolve()) not in info  # no local path
    assert read_bag_info(bag)["Remix-Store-Version"] == str(empty_store.version())
    assert read_bag_info(bag)["Remix-Sources"] == "jsonl"
    assert read_bag_info(bag)["Remix-Root"] == "jsonl:a\u241b000Db"  # one line in bag-info, reversibly escaped
    target = Archive.open(tmp_path / "restored", create=True)
    assert restore(bag, target).stored == 1 and target.posts().get_column("id").to_list() == ["jsonl:a\rb"]


def test_dotdot_parents_are_quarantined_and_no_bag_leaves_the_snapshots_folder(empty_store: Archive):
    """snapshot-placeholder-root-dotdot-escapes-snapshots-folder: `..`/`.` are not ids, so never tree roots."""
    res = ingest(empty_store, JsonlSource([str(DATA / "snapshot-placeholder-root-dotdot-escapes-snapshots-folder"
                                               / "dotdot.jsonl")]))
    assert (res.read, res.stored, res.quarantined) == (2, 0, 2)
    reasons = empty_store.read_table("quarantine").get_column("reasons").to_list()
    assert all(any("parents[0].id: must look like" in r for r in rs) for rs in reasons), reasons
    # ids made of dots (allowed after the source) still get a folder inside snapshots/
    ingest_records(empty_store, [{"id": "x:..", "source": "x", "created_at": "2026-01-01T00:00:00Z", "prompt": "s"},
                                 {"id": "x:.", "source": "x", "created_at": "2026-01-01T00:00:00Z",
                                  "parents": ["x:.."]}])
    bag = snapshot(empty_store, "x:.")
    assert bag.parent.parent == empty_store.path / "snapshots" and bag in snapshot_roots(empty_store)
    from archive.redact import redact

    assert bag in [Path(b) for b in redact(empty_store, "x:..", reason="test", snapshots="keep").affected_snapshots]
    for name in ("..", ".", "", "x:..", "CON", "aux.txt", "trail.", "trail "):
        assert is_portable(safe_name(name)) and safe_name(name) not in (".", "..", "")


@pytest.mark.parametrize("parent", ["..", ".", "CON", "trail.", "no-colon", ":x", "x" * 2000 + ":y"])
def test_parent_ids_follow_the_id_rule_on_every_ingest_path(empty_store: Archive, parent: str):
    """Bare ids, objects with defaults, and objects already in normal form (the fast path) alike."""
    recs = [{"id": f"p:{i}", "source": "p", "created_at": "2026-01-01T00:00:00Z", "parents": [p]} for i, p in enumerate(
        [parent, {"id": parent}, {"id": parent, "relation": "remix", "evidence": "declared", "confidence": 1.0}])]
    res = ingest_records(empty_store, recs)
    assert (res.stored, res.quarantined) == (0, 3)
    assert all("parents[0].id: must look like" in " ".join(r)
               for r in empty_store.read_table("quarantine").get_column("reasons").to_list())


def test_names_are_portable(empty_store: Archive, tmp_path: Path):
    """snapshot-names-not-portable: reserved names, trailing dots, case-only differences, hostile media suffixes."""
    media = tmp_path / "media"
    media.mkdir()
    for n in ("clip.mp4:ads", "clip.a|b", "clip.mp4 "):
        (media / n).write_bytes(n.encode())
    lines = (DATA / "snapshot-names-not-portable" / "names.jsonl").read_text("utf-8").replace(
        "/tmp/case-names-media", str(media))
    src = tmp_path / "names.jsonl"
    src.write_text(lines, "utf-8")
    res = ingest(empty_store, JsonlSource([str(src)]))
    assert (res.stored, res.quarantined) == (2, 2)  # parents "CON" and "trail." are not ids
    bag = snapshot(empty_store, "w:a", media=True, media_dirs=[media])
    assert bag.parent.parent == empty_store.path / "snapshots"
    assert _portable_tree(empty_store.path / "snapshots") == []
    c2pa = sorted(p.name for p in (bag / "data" / "c2pa").iterdir())
    assert len(c2pa) == 2 and len({n.lower() for n in c2pa}) == 2  # w:A and w:a stay two files anywhere
    index = json.loads((bag / "data" / "media" / "index.json").read_text("utf-8"))
    assert [Path(r["file"]).name for r in index] == ["0.mp4", "1.a", "2.mp4"]
    assert [(bag / "data" / r["file"]).read_bytes() for r in index] == [b"clip.mp4:ads", b"clip.a|b", b"clip.mp4 "]
    assert verify(bag).ok


# ---------------------------------------------------------------------- property
_sources = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,4}", fullmatch=True)
_native = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
_suffix = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"), max_size=12)


@st.composite
def _hostile_trees(draw: st.DrawFn) -> tuple[list[dict], list[str]]:
    ids = draw(st.lists(st.builds(lambda s, n: f"{s}:{n}", _sources, _native), min_size=1, max_size=6,
                        unique=True))
    placeholder = draw(st.one_of(st.none(), st.builds(lambda s, n: f"{s}:{n}", _sources, _native)))
    suffixes = draw(st.lists(_suffix, min_size=len(ids), max_size=len(ids)))
    recs = []
    for i, rid in enumerate(ids):
        r: dict = {"id": rid, "source": rid.split(":", 1)[0], "created_at": f"2026-01-{1 + i:02d}T00:00:00Z",
                   "prompt": draw(_native), "title": draw(_native), "author": draw(_native), "suffix": suffixes[i]}
        if i:
            r["parents"] = [ids[draw(st.integers(0, i - 1))]]
        elif placeholder is not None and placeholder not in ids:
            r["parents"] = [placeholder]
        if draw(st.booleans()):
            r["provenance"] = {"c2pa": {"manifest": "urn:x", "validation_state": "Valid"}}
        recs.append(r)
    return recs, ids


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(tree=_hostile_trees())
def test_property_any_ids_snapshot_verify_restore_inside_the_folder(tree: tuple[list[dict], list[str]],
                                                                    tmp_path_factory: pytest.TempPathFactory):
    recs, ids = tree
    base = tmp_path_factory.mktemp("hostile")
    media = base / "media"
    media.mkdir()
    for r in recs:
        name = "clip." + r.pop("suffix")
        if len(name.encode()) < 200 and name not in (".", ".."):
            f = media / f"{len(r['created_at'])}{hash(r['id']) & 0xffff}-{name}"
            f.write_bytes(r["id"].encode("utf-8"))
            r["media"] = [{"url": str(f)}]
    arc = Archive.open(base / "arc", create=True)
    res = ingest_records(arc, recs)
    assert res.quarantined == 0, arc.read_table("quarantine").get_column("reasons").to_list()
    before = sorted(p.name for p in arc.path.iterdir())
    bag = snapshot(arc, ids[-1], media=True, media_dirs=[media])
    # nothing written outside <archive>/snapshots/<one folder>/, every name portable and distinct
    kept = ("snapshots", "_views")  # the bag, and the store's own cache of derived views
    assert sorted(p.name for p in arc.path.iterdir() if p.name not in kept) == [n for n in before if n not in kept]
    assert bag.parent.parent == arc.path / "snapshots" and len(list((arc.path / "snapshots").iterdir())) == 1
    assert _portable_tree(arc.path / "snapshots") == []
    assert all(len(p.name.encode()) <= 255 for p in bag.rglob("*"))
    index = json.loads((bag / "data" / "media" / "index.json").read_text("utf-8"))
    for r in index:
        if r["file"]:
            assert (bag / "data" / r["file"]).read_bytes() == r["id"].encode("utf-8")
    v = verify(bag)
    assert v.ok, [str(p) for p in v.problems]
    dst = Archive.open(base / "dst", create=True)
    out = restore(bag, dst)
    assert out.quarantined == 0 and set(dst.posts().filter(~dst.posts()["placeholder"]).get_column("id")) == set(ids)
