"""An archive in any folder a user may name: spaces, non-ASCII letters, '#', '?' (deltalake lists a local
table's files percent-encoded, and polars opened those names as they were: the archive was written and then
could not be read, `archivist demo` in a folder named "My Projects" ended in a traceback)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.store import Archive
from dashboard.cli import cli


def run(*args: str) -> str:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, (args, r.output, r.exception)
    return r.output


@pytest.mark.parametrize("name", ["my archive", "archivé ü", "remix #1", "what?"])
def test_every_step_works_in_a_folder_so_named(tmp_path: Path, name: str):
    arc = tmp_path / name / "remix-archive"
    run("ingest", "simulate", "--seed", "5", "--posts", "300", "--archive", str(arc))
    Archive.open(arc).posts()  # read once: the next version's views grow from the files it adds
    run("ingest", "simulate", "--seed", "6", "--posts", "100", "--archive", str(arc))
    stats = json.loads(run("stats", "--archive", str(arc), "--json"))
    assert stats["posts"] == 400 and stats["edges"] > 0
    run("analyze", "--archive", str(arc))
    run("infer", "--archive", str(arc))
    a = Archive.open(arc)
    assert a.posts().height == 400 and a.edges(edges="all").height >= stats["edges"]
    root = json.loads(run("trees", "--archive", str(arc), "--json", "--limit", "1"))[0]["root"]
    run("snapshot", root, "--archive", str(arc))
    bag = json.loads(run("snapshots", root, "--archive", str(arc), "--json"))[0]["bag"]
    assert json.loads(run("verify", bag, "--json"))["ok"] is True
    restored = tmp_path / name / "restored here"
    run("restore", bag, "--archive", str(restored))
    assert Archive.open(restored).posts().height > 0
    leaf = a.posts().sort("created_at").get_column("id")[-1]
    run("redact", leaf, "--reason", "test", "--yes", "--keep-snapshots", "--archive", str(arc))
    gone = Archive.open(arc).posts().filter(id=leaf)
    assert gone.get_column("redacted").item() is True and gone.get_column("prompt").item() is None
    out = tmp_path / name / "graph.graphml"
    run("export", "--archive", str(arc), "--format", "graphml", "-o", str(out))
    assert out.stat().st_size > 0


@pytest.mark.parametrize("name,shown", [("a%41", "'%41'"), ("br[", "'['"), ("x]", "']'"), ("back\\slash", "'\\\\'"),
                                        ("new\nline", "'\\n'"), ("tab\there", "'\\t'")])
def test_a_folder_delta_lake_would_misread_is_refused_with_advice(tmp_path: Path, name: str, shown: str):
    # deltalake reads '/x/a%41' as '/x/aA' and a backslash as '/' (another folder), panics on '[' and fails on
    # a newline: each left a half-made archive and a traceback
    r = CliRunner().invoke(cli, ["ingest", "simulate", "--posts", "20", "--archive", str(tmp_path / name / "arc")])
    assert r.exit_code == 1 and shown in r.output and "rename the folder" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1  # one line, even for a newline in the name
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing made, here or in another folder


def test_a_symbolic_link_to_such_a_folder_is_refused_too(tmp_path: Path):
    (tmp_path / "real%42").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real%42")
    r = CliRunner().invoke(cli, ["ingest", "simulate", "--posts", "20", "--archive", str(tmp_path / "link" / "arc")])
    assert r.exit_code == 1 and f"(which is {tmp_path / 'real%42' / 'arc'})" in r.output
    assert not any((tmp_path / "real%42").iterdir()) and not (tmp_path / "realB").exists()
