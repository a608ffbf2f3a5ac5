"""Snapshots: BagIt bags, fixity, restore (also of hostile bags), versions side by side."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import bagit
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from archive.errors import SnapshotError
from archive.ingest import ingest_records
from archive.snapshot import check_bag_paths, list_snapshots, restore, safe_name, snapshot, verify
from archive.store import Archive
from dashboard.cli import cli

# ../shared/fixtures beside the checkout (a worktree may sit one folder deeper)
FIXTURES = next(p / "shared" / "fixtures" / "c2pa" for p in Path(__file__).resolve().parents
                if (p / "shared" / "fixtures" / "c2pa").is_dir())
PAYLOAD = {"records.jsonl", "posts.csv", "tree.graphml", "tree.nwk", "prov.json", "snapshot.json"}


@pytest.fixture()
def sample_arc(sample_copy: Path) -> Archive:
    return Archive.open(sample_copy)


def _largest_root(arc: Archive) -> str:
    return arc.trees().get_column("root")[0]


def _manifest(bag: Path, alg: str = "sha256") -> dict[str, str]:
    out = {}
    for line in (bag / f"manifest-{alg}.txt").read_text("utf-8").splitlines():
        digest, path = line.split(None, 1)
        out[path] = digest
    return out


def test_snapshot_is_a_valid_bag_with_everything(sample_arc: Archive):
    root = _largest_root(sample_arc)
    bag = snapshot(sample_arc, root)
    assert bag.parent == sample_arc.path / "snapshots" / safe_name(root)
    assert bag.name.endswith(f"-v{sample_arc.version()}")
    b = bagit.Bag(str(bag))
    assert b.validate(processes=1)
    assert set(b.algorithms) == {"sha256", "sha512"}
    assert PAYLOAD <= {p.name for p in (bag / "data").iterdir()}
    info = b.info
    size = sample_arc.trees().get_column("size")[0]
    assert info["Remix-Root"] == root and info["Remix-Posts"] == str(size)
    assert info["Remix-Store-Version"] == str(sample_arc.version())
    assert info["Remix-Sources"] == "simulate" and info["Remix-Snapshot-Time"].endswith("Z")
    lines = (bag / "data" / "records.jsonl").read_text("utf-8").splitlines()
    assert {json.loads(x)["id"] for x in lines} == set(sample_arc.tree(root).nodes.get_column("id").to_list())
    meta = json.loads((bag / "data" / "snapshot.json").read_text("utf-8"))
    assert meta["root"] == root and len(meta["posts"]) == size
    # no media asked for: listed, not fetched
    index = json.loads((bag / "data" / "media" / "index.json").read_text("utf-8"))
    assert len(index) == size and all(r["file"] is None for r in index)


def test_flipping_one_byte_is_caught(sample_arc: Archive):
    bag = snapshot(sample_arc, _largest_root(sample_arc))
    assert verify(bag).ok
    f = bag / "data" / "tree.nwk"
    data = bytearray(f.read_bytes())
    data[10] ^= 0x01
    f.write_bytes(bytes(data))
    res = verify(bag)
    assert not res.ok
    assert {(p["kind"], p["path"]) for p in res.problems} == {("changed", "data/tree.nwk")}
    assert len(res.problems) == 2  # sha256 and sha512 both disagree
    out = CliRunner().invoke(cli, ["verify", str(bag)])
    assert out.exit_code == 1 and "failed verification" in out.output


def test_verify_reports_every_problem_at_once(sample_arc: Archive):
    bag = snapshot(sample_arc, _largest_root(sample_arc))
    (bag / "data" / "posts.csv").unlink()
    (bag / "data" / "stowaway.txt").write_text("not in any manifest")
    (bag / "data" / "prov.json").write_text("{}")
    kinds = {(p["kind"], p["path"]) for p in verify(bag).problems}
    assert {("missing", "data/posts.csv"), ("extra", "data/stowaway.txt"), ("changed", "data/prov.json"),
            ("oxum", "bag-info.txt")} <= kinds
    res = CliRunner().invoke(cli, ["verify", str(bag), "--json"])
    assert res.exit_code == 1
    assert len(json.loads(res.output)["problems"]) >= 4
    tag = bag / "bag-info.txt"
    tag.write_text(tag.read_text("utf-8") + "Remix-Forged: yes\n", "utf-8")
    assert ("changed", "bag-info.txt") in {(p["kind"], p["path"]) for p in verify(bag).problems}


def test_restore_round_trip_and_idempotence(sample_arc: Archive, tmp_path: Path):
    root = _largest_root(sample_arc)
    bag = snapshot(sample_arc, root)
    target = Archive.open(tmp_path / "restored", create=True)
    first = restore(bag, target)
    size = sample_arc.trees().get_column("size")[0]
    assert (first.stored, first.quarantined) == (size, 0)
    again = restore(bag, target)
    assert (again.stored, again.unchanged) == (0, size)
    cols = ["id", "parent", "root", "depth", "prompt", "author", "views", "content_hash"]
    assert_frame_equal(target.tree(root).nodes.select(cols).sort("id"),
                       sample_arc.tree(root).nodes.select(cols).sort("id"))
    bag2 = snapshot(target, root, out=tmp_path / "again")
    assert _manifest(bag2) == _manifest(bag)
    assert _manifest(bag2, "sha512") == _manifest(bag, "sha512")


def test_restore_keeps_several_observations_and_placeholders(sample_arc: Archive, tmp_path: Path):
    # simulate:s42_0000098 was observed twice (sample + messy); messy:orphan hangs under a placeholder
    for k, post in enumerate(("simulate:s42_0000098", "messy:orphan")):
        bag = snapshot(sample_arc, post, out=tmp_path / safe_name(post))
        target = Archive.open(tmp_path / f"restored-{k}", create=True)
        restore(bag, target)
        want = sample_arc.tree(post).nodes.select("id", "placeholder", "n_obs", "views").sort("id")
        assert_frame_equal(target.tree(post).nodes.select("id", "placeholder", "n_obs", "views").sort("id"), want)
    assert target.posts().filter(pl.col("placeholder")).get_column("id").to_list() == ["messy:deleted-parent"]


def _make_bag(tmp_path: Path, arc: Archive) -> Path:
    return snapshot(arc, "simulate:s42_0000098", out=tmp_path / "bags")


@pytest.mark.parametrize("attack", ["symlink", "hardlink", "dotdot", "absolute", "fetch"])
def test_restore_refuses_hostile_bags(sample_arc: Archive, tmp_path: Path, attack: str):
    bag = _make_bag(tmp_path, sample_arc)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me\n")
    if attack == "symlink":
        os.symlink(secret, bag / "data" / "link.txt")
        want = "symbolic link"
    elif attack == "hardlink":
        os.link(secret, bag / "data" / "hard.txt")
        want = "hard link"
    elif attack in ("dotdot", "absolute"):
        name = "data/../../secret.txt" if attack == "dotdot" else str(secret)
        with open(bag / "manifest-sha256.txt", "a", encoding="utf-8") as f:
            f.write(f"{'0' * 64}  {name}\n")
        want = "leaves the bag"
    else:
        (bag / "fetch.txt").write_text(f"http://127.0.0.1:9/evil 10 data/evil.txt\n")
        want = "fetch.txt"
    assert any(want in r for r in check_bag_paths(bag))
    target = Archive.open(tmp_path / "target", create=True)
    before = target.version()
    with pytest.raises(SnapshotError, match=want):
        restore(bag, target)
    assert target.version() == before
    res = CliRunner().invoke(cli, ["restore", str(bag), "--archive", str(tmp_path / "target")])
    assert res.exit_code == 1 and "refusing to restore" in res.output


def test_restore_refuses_tampered_bag(sample_arc: Archive, tmp_path: Path):
    bag = _make_bag(tmp_path, sample_arc)
    rec = bag / "data" / "records.jsonl"
    rec.write_text(rec.read_text("utf-8").replace("simulate", "simulatE", 1), "utf-8")
    target = Archive.open(tmp_path / "target", create=True)
    with pytest.raises(SnapshotError, match="refusing to restore .*changed: data/records.jsonl") as e:
        restore(bag, target)
    assert any("records.jsonl" in d for d in e.value.details)
    assert target.posts().height == 0


def test_snapshots_side_by_side_with_changes(empty_store: Archive):
    recs = [{"id": "t:r", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a corgi"},
            {"id": "t:a", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a corgi, noir",
             "parents": ["t:r"], "fetched_at": "2026-01-05T00:00:00Z"}]
    ingest_records(empty_store, recs)
    snapshot(empty_store, "t:r")
    ingest_records(empty_store, [
        {"id": "t:b", "source": "t", "created_at": "2026-01-03T00:00:00Z", "prompt": "a cat", "parents": ["t:a"]},
        {**recs[1], "fetched_at": "2026-02-01T00:00:00Z", "metrics": {"views": 10}}])
    snapshot(empty_store, "t:a")  # any node names the tree
    df = list_snapshots(empty_store, "t:b")
    assert df.select("posts", "added", "removed", "changed").rows() == [(2, None, None, None), (3, 1, 0, 1)]
    assert df.get_column("store_version").to_list() == [1, 2]
    res = CliRunner().invoke(cli, ["snapshots", "t:r", "--archive", str(empty_store.path), "--json"])
    assert res.exit_code == 0 and [r["added"] for r in json.loads(res.output)] == [None, 1]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_media_and_c2pa_manifests(empty_store: Archive, tmp_path: Path):
    served = tmp_path / "www"
    served.mkdir()
    (served / "clip.bin").write_bytes(b"\x00fake video bytes")
    handler = lambda *a, **k: _Quiet(*a, directory=str(served), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/clip.bin"
    try:
        ingest_records(empty_store, [
            {"id": "c:1", "source": "c", "created_at": "2026-01-01T00:00:00Z", "prompt": "root",
             "media": [{"url": str(FIXTURES / "CA.jpg"), "mime": "image/jpeg"}],
             "provenance": {"c2pa": {"manifest": "urn:x", "validation_state": "Valid"}}},
            {"id": "c:2", "source": "c", "created_at": "2026-01-02T00:00:00Z", "prompt": "remix", "parents": ["c:1"],
             "media": [{"url": url}, {"url": "https://media.example.invalid/gone.mp4"}]}])
        shy = snapshot(empty_store, "c:1", media=True, out=tmp_path / "shy")
        bold = snapshot(empty_store, "c:1", media=True, allow_private=True, media_dirs=[FIXTURES],
                        out=tmp_path / "bold")
    finally:
        httpd.shutdown()
    shy_index = {r["url"]: r for r in json.loads((shy / "data" / "media" / "index.json").read_text())}
    assert shy_index[url]["status"].startswith("refused: ") and "loopback or private address" in shy_index[url]["status"]
    assert shy_index[str(FIXTURES / "CA.jpg")]["status"].startswith("local file outside the allowed media folders")
    index = {r["url"]: r for r in json.loads((bold / "data" / "media" / "index.json").read_text())}
    assert index[url]["status"] == "ok" and (bold / "data" / index[url]["file"]).read_bytes().startswith(b"\x00fake")
    assert index["https://media.example.invalid/gone.mp4"]["file"] is None
    jpg = index[str(FIXTURES / "CA.jpg")]
    assert (bold / "data" / jpg["file"]).read_bytes() == (FIXTURES / "CA.jpg").read_bytes()
    c2pa_files = sorted(p.name for p in (bold / "data" / "c2pa").iterdir())
    assert c2pa_files == [f"{safe_name('c:1')}.media-0.json", f"{safe_name('c:1')}.record.json"]
    store = json.loads((bold / "data" / "c2pa" / f"{safe_name('c:1')}.media-0.json").read_text())
    assert store["validation_state"] == "Valid" and store["active_manifest"] in store["manifests"]
    assert bagit.Bag(str(bold)).info["Remix-Media-Files"] == "2"
    assert verify(bold).ok


def test_media_never_copies_files_outside_the_allowed_folders(empty_store: Archive, tmp_path: Path):
    secret = tmp_path / "secret" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("PRIVATE KEY")
    (tmp_path / "media").mkdir()
    ingest_records(empty_store, [{"id": "m:1", "source": "m", "created_at": "2026-01-01T00:00:00Z",
                                  "media": [{"url": str(secret)}, {"url": f"file://{tmp_path}/media/../secret/id_rsa"}]}])
    bag = snapshot(empty_store, "m:1", media=True, media_dirs=[tmp_path / "media"], out=tmp_path / "bags")
    index = json.loads((bag / "data" / "media" / "index.json").read_text())
    assert [r["file"] for r in index] == [None, None]
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in bag.rglob("*") if p.is_file())


def test_a_failing_report_does_not_lose_the_bag(empty_store: Archive, tmp_path: Path):
    from archive.errors import ArchiveError

    def broken(archive: Archive, root: str, as_of: object) -> dict[str, bytes]:
        raise ArchiveError("the measures could not run")

    ingest_records(empty_store, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z"}])
    bag = snapshot(empty_store, "t:1", out=tmp_path, report=broken)
    assert "the measures could not run" in (bag / "data" / "report" / "REPORT-FAILED.txt").read_text()
    assert "Remix-Drift-Report: failed (see data/report/REPORT-FAILED.txt)" in (bag / "bag-info.txt").read_text()
    assert verify(bag).ok


def test_cli_snapshot_and_errors(sample_copy: Path, tmp_path: Path):
    r = CliRunner()
    res = r.invoke(cli, ["snapshot", "simulate:s42_0000098", "--archive", str(sample_copy), "--json",
                         "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    bag = Path(json.loads(res.output)["bag"])
    assert bag.parent == tmp_path / "out" and verify(bag).ok
    res = r.invoke(cli, ["snapshot", "nope:404", "--archive", str(sample_copy)])
    assert res.exit_code == 1 and "no post 'nope:404'" in res.output
    res = r.invoke(cli, ["verify", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "no bag at" in res.output
    res = r.invoke(cli, ["restore", str(bag), "--archive", str(tmp_path / "new"), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["stored"] == 102  # 101 posts, one seen twice


_ids = st.integers(min_value=0, max_value=10_000)


@st.composite
def _trees(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(min_value=1, max_value=12))
    texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
    recs = []
    for i in range(n):
        r = {"id": f"h:{i}", "source": "h", "created_at": f"2026-01-{1 + i:02d}T00:00:00Z",
             "prompt": draw(texts), "author": draw(st.sampled_from(["@a", "@b", "=cmd", None]))}
        if i:
            r["parents"] = [f"h:{draw(st.integers(min_value=0, max_value=i - 1))}"]
        if draw(st.booleans()):
            r["metrics"] = {"views": draw(_ids)}
        recs.append({k: v for k, v in r.items() if v is not None})
    return recs


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=_trees())
def test_property_snapshot_restore_snapshot_same_payload(recs: list[dict], tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("prop")
    src = Archive.open(base / "src", create=True)
    ingest_records(src, recs)
    bag = snapshot(src, "h:0")
    dst = Archive.open(base / "dst", create=True)
    restore(bag, dst)
    bag2 = snapshot(dst, "h:0", out=base / "again")
    assert _manifest(bag2) == _manifest(bag)


_SNAP = """
import hashlib, sys
from datetime import datetime, timezone
from pathlib import Path
for name in sys.argv[3:]:
    __import__(name)
from archive.snapshot import snapshot
from archive.store import Archive
bag = snapshot(Archive.open(sys.argv[1]), "t:2", out=sys.argv[2], now=datetime(2026, 5, 1, tzinfo=timezone.utc))
for p in sorted(bag.rglob("*")):
    if p.is_file():
        print(p.relative_to(bag), hashlib.sha256(p.read_bytes()).hexdigest())
"""


def test_snapshot_writes_the_same_bag_whatever_was_imported(empty_store: Archive, tmp_path: Path):
    """No import side effect changes a bag: a fresh process with and without lineage imported writes the same."""
    import subprocess
    import sys

    from lineage.analyze import analyze

    ingest_records(empty_store, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a cat"},
                                 {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a dog",
                                  "parents": ["t:1"]}])
    analyze(empty_store, n_boot=5)
    runs = []
    for i, mods in enumerate([(), ("lineage.report", "lineage.cli_report", "dashboard.cli")]):
        out = subprocess.run([sys.executable, "-c", _SNAP, str(empty_store.path), str(tmp_path / f"b{i}"), *mods],
                             capture_output=True, text=True, check=True).stdout
        runs.append(out)
    assert runs[0] == runs[1]
    assert "data/report/README.txt" in runs[0]  # no report unless the caller passes one


def test_snapshot_media_takes_the_archive_s_own_copy(tmp_path: Path):
    # `ingest media` copies each picture into <archive>/media/<sha256>.<ext>; the snapshot looked only at the
    # file the record names (outside the folders allowed, or since deleted) and packed no media at all
    src = tmp_path / "downloads"
    src.mkdir()
    for name in ("ocsp.jpg", "C.jpg"):
        (src / name).write_bytes((FIXTURES / name).read_bytes())
    arc = tmp_path / "arc"
    assert CliRunner().invoke(cli, ["ingest", "media", str(src), "--archive", str(arc)]).exit_code == 0
    for f in src.iterdir():
        f.unlink()  # the originals are gone: only the archive's copies remain
    a = Archive.open(arc)
    root = a.posts().filter(pl.col("id").str.starts_with("media:")).sort("id").get_column("id")[0]
    bag = snapshot(a, root, media=True)
    index = json.loads((bag / "data" / "media" / "index.json").read_text("utf-8"))
    assert index and all(r["status"] == "ok (the archive's copy)" and r["file"] for r in index), index
    for r in index:
        assert hashlib.sha256((bag / "data" / r["file"]).read_bytes()).hexdigest() == r["sha256"]
    assert verify(bag).ok
