"""A new user's first hour: tables that never cut an id at 80 columns, quarantine that can be
retried and cleared, and one-line answers to a bad environment or argument (issue: the first hour)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive.store import Archive

EXE = str(Path(sys.executable).parent / "archivist")


def cli(*args: str, archive: Path | None = None, columns: int = 80, env: dict | None = None,
        timeout: float = 300, stdin: str | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, COLUMNS=str(columns), **(env or {}))
    if archive is not None:
        e["REMIX_ARCHIVE"] = str(archive)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=e, timeout=timeout, input=stdin)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("first-hour") / "remix-archive"
    assert cli("demo", "--no-serve", "--archive", str(path)).returncode == 0
    assert cli("snapshot", "simulate:s42_0002363", archive=path).returncode == 0
    return path


def _ids_of(rows: list[dict], *keys: str) -> set[str]:
    return {r[k] for r in rows for k in keys if r.get(k)}


@pytest.mark.parametrize("args,keys", [
    (("trees", "--sort", "active", "--limit", "5"), ("root",)),
    (("trees", "--limit", "8"), ("root",)),
    (("runs",), ("run_id",)),
    (("bleed", "--limit", "5"), ("root",)),
])
def test_no_id_is_cut_at_80_columns(analysed: Path, args, keys):
    data = json.loads(cli(*args, "--json", archive=analysed).stdout)
    rows = data["trees"] + data["flow"] if isinstance(data, dict) else data
    ids = _ids_of(rows, *keys, "from_root", "to_root")
    out = cli(*args, archive=analysed)
    assert out.returncode == 0, out.stderr
    assert ids, args
    for i in ids:
        assert i in out.stdout, f"{i} cut in `archivist {' '.join(args)}` at 80 columns:\n{out.stdout}"
    assert all(len(line) <= 80 for line in out.stdout.splitlines())


def test_bag_names_and_drift_ids_are_whole_at_80_columns(analysed: Path):
    snaps = json.loads(cli("snapshots", "simulate:s42_0002363", "--json", archive=analysed).stdout)
    out = cli("snapshots", "simulate:s42_0002363", archive=analysed).stdout
    assert snaps and all(Path(s["bag"]).name in out for s in snaps), out
    drift = json.loads(cli("drift", "simulate:s42_0000900", "--json", archive=analysed).stdout)
    out = cli("drift", "simulate:s42_0000900", archive=analysed).stdout
    assert all(r["id"] in out for r in drift["path"]), out


def test_quarantine_paths_are_whole_and_wide_shows_everything(analysed: Path):
    rows = json.loads(cli("quarantine", "--json", archive=analysed).stdout)
    out = cli("quarantine", archive=analysed).stdout
    assert rows and all(r["location"] in out for r in rows), out
    wide = cli("trees", "--wide", archive=analysed, columns=80).stdout
    assert any(len(line) > 80 for line in wide.splitlines())  # --wide is not held to the terminal
    assert "breadth" in wide


def test_quarantine_retry_and_clear_are_recorded(tmp_path: Path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "x:1", "source": "x"}\nnot json\n{"id": "x:2", "source": "x", '
                   '"created_at": "2026-01-01T00:00:00Z"}\n', "utf-8")
    arc = tmp_path / "a"
    first = cli("ingest", "jsonl", str(src), "--json", archive=arc)
    run_id = json.loads(first.stdout)["run_id"]
    retried = json.loads(cli("quarantine", "--retry", "--run", run_id, "--json", archive=arc).stdout)
    assert (retried["read"], retried["stored"], retried["quarantined"]) == (2, 0, 2)
    q = Archive.open(arc).quarantine()
    assert q.height == 2 and set(q["run_id"]) == {retried["run_id"]}  # each raw text once, with its new reasons
    assert sorted(q["location"]) == [f"{src}:1", f"{src}:2"]  # where it came from is kept
    assert cli("quarantine", "--clear", archive=arc, stdin="n\n").returncode == 1  # asks first
    assert Archive.open(arc).quarantine().height == 2
    cleared = json.loads(cli("quarantine", "--clear", "--yes", "--json", archive=arc).stdout)
    assert cleared == {"cleared": 2, "run": None}
    a = Archive.open(arc)
    assert a.quarantine().height == 0
    assert a.runs().filter(source="quarantine")["status"].sort().to_list() == ["cleared", "completed"]
    bad_run = cli("quarantine", "--clear", "--run", "nope", "--yes", archive=arc)
    assert bad_run.returncode == 1 and "archivist runs" in bad_run.stderr and len(bad_run.stderr.splitlines()) == 1


def _one_line(p: subprocess.CompletedProcess) -> str:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_archive_on_a_file_is_one_line(tmp_path: Path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    for args in (("stats",), ("trees",), ("ingest", "jsonl", str(f)), ("analyze",)):
        line = _one_line(cli(*args, "--archive", str(f)))
        assert "is a file, not an archive folder" in line


def test_unknown_post_offers_the_nearest_ids(analysed: Path):
    line = _one_line(cli("show", "simulate:s42_000102", archive=analysed))
    assert "did you mean simulate:s42_0000102" in line and "archivist trees" in line


@pytest.mark.parametrize("browser", ["/nonexistent/chromium", "/bin/false", "/bin/true"])
def test_a_wrong_browser_path_for_the_pdf_is_one_line_within_seconds(analysed: Path, tmp_path: Path, browser):
    t0 = time.monotonic()
    p = cli("report", "simulate:s42_0002363", "--format", "pdf", "-o", str(tmp_path / "r.pdf"), archive=analysed,
            env={"BROWSER_PATH": browser}, timeout=120)
    line = _one_line(p)
    assert time.monotonic() - t0 < 60
    assert f"BROWSER_PATH={browser} is not a working Chromium" in line and "unset it" in line
    assert not (tmp_path / "r.pdf").exists()


def test_demo_keeps_its_messy_examples_out_of_the_measures(analysed: Path):
    """The sample's truth: bleed 0.2 (realised 0.194 on the sample); the messy three-post cycle tree
    used to be a top flow and move the rate to 0.210."""
    a = Archive.open(analysed)
    assert a.excluded_sources() == ["messy"]
    assert a.quarantine().height > 0 and a.lineage().filter(root="messy:cycle-a").height in (0, 3)
    bleed = json.loads(cli("bleed", "--json", archive=analysed).stdout)
    assert not any(r["from_root"].startswith("messy:") or r["to_root"].startswith("messy:") for r in bleed["flow"])
    truth = json.loads((Path(__file__).parents[1] / "data" / "sample" / "remixes.truth.json").read_text())
    assert abs(bleed["bleed_rate"] - truth["params"]["bleed"]) < 0.03


@pytest.mark.parametrize("posts", [777, 5000])
def test_simulate_makes_exactly_the_posts_asked_for(tmp_path: Path, posts: int):
    out = tmp_path / "sim.jsonl"
    p = cli("ingest", "simulate", "--posts", str(posts), "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["posts"] == posts
    assert sum(1 for _ in out.open()) == posts


def test_installing_the_package_prints_no_setuptools_warning(tmp_path: Path):
    """`dashboard/assets` holds CSS, not code: packaging it must not warn (48 warnings on first install)."""
    repo = Path(__file__).parents[1]
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w",
                        str(tmp_path), str(repo)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "would be ignored" not in p.stdout + p.stderr
    import zipfile

    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    assert "dashboard/assets/style.css" in names and "dashboard/pages/explore.py" in names


def test_the_pdf_report_draws_the_tree_on_its_first_page(analysed: Path, tmp_path: Path):
    """The first page used to be the brief and then blank: the tree did not fit below it."""
    out = tmp_path / "r.pdf"
    assert cli("report", "simulate:s42_0002363", "--format", "pdf", "-o", str(out), archive=analysed).returncode == 0
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(out), "-"], capture_output=True, text=True).stdout
    assert "In brief" in first and "The tree" in first and "The remix tree, coloured by drift" in first


def test_bleed_wide_keeps_the_root_prompt_whole(analysed: Path):
    # --wide promises text uncut; bleed cut the root prompt at 50 characters
    bleed = json.loads(cli("bleed", "--json", archive=analysed).stdout)
    longest = max((r["root_text"] for r in bleed["trees"] if r.get("root_text")), key=len)
    assert len(longest) > 50
    assert longest in cli("bleed", "--wide", archive=analysed).stdout
