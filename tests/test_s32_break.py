"""What a new user's walk through the README found (session 32), each fixed: the archive report's CSV gave
every tree the archive's count of inferred links, `--min-confidence` said its default was 0 (which lists
every link) while the default lists none, empty listings printed empty boxes, a negative mean remix count
or `--limit` was taken, `analyze` on an archive of roots said "no prompt text to measure", and
`ingest simulate` named a truth file that is not the one it writes (and left its path out of --json)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.ingest import ingest_records
from archive.store import Archive
from dashboard.cli import cli as main
from lineage.infer import infer, inferred_edges
from lineage.report import report_data
from lineage.report.table import to_csv

BASE = "a corgi surfing a giant wave on a wooden board near the old pier"


def run(*args: str):
    return CliRunner().invoke(main, list(args), terminal_width=200)


@pytest.fixture(scope="module")
def two_trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A declared tree (``d:a`` -> ``d:b``) and a tree whose one link ``archivist infer`` makes (``j:c`` -> ``j:p``)."""
    path = tmp_path_factory.mktemp("s32") / "archive"
    a = Archive.open(path, create=True)
    ingest_records(a, [
        {"id": "d:a", "source": "d", "created_at": "2026-04-01T10:00:00Z",
         "prompt": "a lighthouse in a storm painted in thick oil, neon, cinematic"},
        {"id": "d:b", "source": "d", "created_at": "2026-04-01T12:00:00Z",
         "prompt": "a lighthouse in a storm painted in thin oil, neon, cinematic", "parents": ["d:a"]},
        {"id": "j:p", "source": "j", "created_at": "2026-04-02T10:00:00Z", "author": "kim", "prompt": BASE},
        {"id": "j:c", "source": "j", "created_at": "2026-04-02T11:00:00Z", "author": "kim",
         "prompt": BASE + " under a stormy sky"},
    ], source="jsonl")
    infer(a)
    assert inferred_edges(a).select("child", "parent").rows() == [("j:c", "j:p")]
    return path


def test_the_archive_reports_csv_says_each_trees_own_inferred_links(two_trees):
    a = Archive.open(two_trees)
    conf = inferred_edges(a).get_column("confidence").item()
    rows = {r["root"]: r for r in csv.DictReader(io.StringIO(to_csv(report_data(a, None, edges="all")).decode()))}
    assert rows["j:p"]["inferred_links"] == "1" and float(rows["j:p"]["min_inferred_confidence"]) == pytest.approx(conf)
    assert rows["j:p"]["lineage"] == "lineage inferred"
    # the declared tree was said to include the archive's inferred link
    assert rows["d:a"]["inferred_links"] == "0" and rows["d:a"]["min_inferred_confidence"] == ""
    assert rows["d:a"]["lineage"] == "declared"
    # the declared graph's report has none of these columns
    plain = next(csv.DictReader(io.StringIO(to_csv(report_data(a, None)).decode())))
    assert "inferred_links" not in plain and "lineage" not in plain


def test_min_confidence_lists_only_when_given_and_says_when_nothing_is_listed(two_trees, tmp_path):
    assert "[default: 0.0]" not in run("infer", "--help").output
    arc = str(two_trees)
    plain = run("infer", "--archive", arc)
    assert plain.exit_code == 0 and "inferred links at confidence" not in plain.output
    every = run("infer", "--min-confidence", "0", "--archive", arc)
    assert "inferred links at confidence >= 0.0" in every.output and "j:c" in every.output
    none = run("infer", "--min-confidence", "1", "--show-cut", "--archive", arc)
    assert none.exit_code == 0 and "no inferred link at confidence >= 1.0" in none.output
    assert "the tree check cut no link" in none.output and "┏" not in none.output and "┌" not in none.output


def test_a_negative_mean_remix_count_a_zero_half_life_and_a_negative_limit_are_refused(tmp_path, two_trees):
    arc = str(tmp_path / "a")
    out = run("ingest", "simulate", "--posts", "50", "--m0", "-1", "--half-life", "0", "--archive", arc)
    assert out.exit_code != 0 and "--m0=-1.0 (0 or more)" in out.output \
        and "--half-life=0.0 (more than 0)" in out.output  # the options typed, not the fields they set
    assert not (tmp_path / "a").exists()  # refused before anything is written
    # rates past what the simulator can hold: a mean of 1e9 remixes took 8.5 GB in 30 s, a mutation rate of 1e6
    # never ended, a Zipf exponent of 1e300 ended in an OverflowError's traceback
    for opt, value in (("--m0", "1e9"), ("--gamma", "1e6"), ("--mutation-rate", "1e6"), ("--style-popularity", "1e300")):
        out = run("ingest", "simulate", "--posts", "50", opt, value, "--archive", arc)
        assert out.exit_code == 1 and f"{opt}=" in out.output and "(at most" in out.output, (opt, out.output)
        assert not (tmp_path / "a").exists()
    bad = run("trees", "--limit", "-1", "--archive", str(two_trees))
    assert bad.exit_code == 2 and "--limit" in bad.output


def test_analyze_on_an_archive_of_roots_says_there_are_no_remixes(tmp_path):
    arc = tmp_path / "roots"
    ingest_records(Archive.open(arc, create=True), [
        {"id": f"t:r{i}", "source": "t", "created_at": f"2026-03-0{i + 1}T00:00:00Z", "prompt": f"a cat number {i}"}
        for i in range(5)], source="jsonl")
    out = run("analyze", "--archive", str(arc))
    assert out.exit_code == 0 and "no remixes: every post is a root" in out.output
    assert "no prompt text to measure" not in out.output


def test_analyze_says_which_trees_it_leaves_out(tmp_path):
    """The demo's archive keeps the messy examples' trees out of the measures (a setting): `stats` counted 50
    trees and `analyze` 44 without a word of why."""
    arc = tmp_path / "a"
    a = Archive.open(arc, create=True)
    ingest_records(a, [{"id": f"{s}:r{i}", "source": s, "created_at": f"2026-03-0{i + 1}T00:00:00Z",
                        "prompt": f"a cat number {i}"} for i in range(3) for s in ("t", "messy")], source="jsonl")
    a.set_setting("excluded_from_measures", ["messy"])
    out = run("analyze", "--archive", str(arc))
    assert out.exit_code == 0 and "3 trees of source messy (setting" in out.output and "excluded_from_measures)" in out.output
    again = run("analyze", "--archive", str(arc))  # up to date: the one line says it too
    assert "up to date" in again.output and "left out: 3 trees of source messy" in " ".join(again.output.split())
    got = json.loads(run("analyze", "--json", "--archive", str(arc)).output)
    assert got["left_out"] == {"sources": ["messy"], "trees": 3}


def test_ingest_simulate_names_the_truth_file_it_writes(tmp_path):
    arc = tmp_path / "a"
    assert "seed-SEED-posts-POSTS.truth.json" in " ".join(run("ingest", "simulate", "--help").output.split())
    got = json.loads(run("ingest", "simulate", "--seed", "7", "--posts", "60", "--json", "--archive", str(arc)).output)
    assert got["truth"] == str(arc / "simulations" / "seed-7-posts-60.truth.json") and Path(got["truth"]).is_file()
    out = tmp_path / "sim.jsonl.gz"
    got = json.loads(run("ingest", "simulate", "--posts", "60", "--out", str(out), "--json").output)
    assert got["truth"] == str(tmp_path / "sim.truth.json") and Path(got["truth"]).is_file()
    said = run("ingest", "simulate", "--posts", "60", "--out", str(out)).output
    assert f"ground truth: {tmp_path / 'sim.truth.json'}" in " ".join(said.split())
    # names with dots keep their own truth (my.sim.v2 and my.sim.v3 shared my.truth.json, the second overwriting)
    for v in ("v2", "v3"):
        got = json.loads(run("ingest", "simulate", "--posts", "60", "--seed", v[1], "--json",
                             "--out", str(tmp_path / f"my.sim.{v}.jsonl")).output)
        assert got["truth"] == str(tmp_path / f"my.sim.{v}.truth.json")
    assert json.loads((tmp_path / "my.sim.v2.truth.json").read_text())["params"]["seed"] == 2
    # --out naming a truth file would have the records overwritten by their truth
    bad = run("ingest", "simulate", "--posts", "60", "--out", str(tmp_path / "sim2.truth.json"))
    assert bad.exit_code == 2 and "truth file" in bad.output and not (tmp_path / "sim2.truth.json").exists()


def test_show_cuts_each_line_where_the_terminal_ends(tmp_path):
    """`show` cut every prompt at 90 characters: at 80-120 columns each line wrapped into a stub, and a wide
    terminal lost text it had room for."""
    import os
    import subprocess
    import sys

    arc = tmp_path / "a"
    long = "a corgi surfing a giant wave near the old pier at dawn, " * 4 + "THE END"
    ingest_records(Archive.open(arc, create=True), [
        {"id": "t:a", "source": "t", "created_at": "2026-03-01T00:00:00Z", "prompt": long},
        {"id": "t:b", "source": "t", "created_at": "2026-03-02T00:00:00Z", "prompt": long + " again",
         "parents": ["t:a"]}], source="jsonl")

    def show(columns: int) -> list[str]:
        out = subprocess.run([sys.executable, "-c", "from dashboard.entry import main; main()", "show", "t:a",
                              "--archive", str(arc)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": str(columns)})
        assert out.returncode == 0, out.stderr
        return [line for line in out.stdout.splitlines() if "t:a" in line or "t:b" in line]

    narrow = show(80)
    assert len(narrow) == 2 and all(len(line) <= 80 and line.endswith("…") for line in narrow), narrow
    wide = show(400)
    assert all(line.endswith("THE END") or line.endswith("THE END again") for line in wide), wide


def test_show_draws_every_post_of_a_deep_chain_with_its_id_whole(tmp_path):
    """A chain deeper than the terminal is wide: rich's tree drew nothing below the first levels (the post asked
    for included) once the guides filled the line, and the first fix cut the ids with an ellipsis."""
    import os
    import subprocess
    import sys

    arc = tmp_path / "a"
    ingest_records(Archive.open(arc, create=True), [
        {"id": f"t:{k}", "source": "t", "created_at": f"2026-03-01T00:{k:02d}:00Z",
         "prompt": f"a corgi surfing at dawn, take {k} 👨\u200d👩\u200d👧", **({"parents": [f"t:{k - 1}"]} if k else {})}
        for k in range(60)], source="jsonl")
    out = subprocess.run([sys.executable, "-c", "from dashboard.entry import main; main()", "show", "t:50",
                          "--depth", "20", "--archive", str(arc)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "60"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for k in range(60):  # the path from the root, the post, and its 9 remixes: every id, whole
        assert any(f"t:{k}  " in line for line in lines), k
    from rich.cells import cell_len

    assert all(cell_len(line) <= 60 for line in lines[:-1]), [line for line in lines if cell_len(line) > 60]
    assert "⋯50" in out.stdout and "50 ancestors, 9 remixes within 20 generations" in out.stdout
    # the emoji family's joiners are kept, not shown as ⟨U+200D⟩
    assert "⟨U+200D⟩" not in out.stdout


def test_wording_calibrate_on_an_archive_of_roots_a_folder_that_is_no_archive_and_an_id_without_its_source(tmp_path):
    arc = tmp_path / "roots"
    ingest_records(Archive.open(arc, create=True), [
        {"id": f"t:r{i}", "source": "t", "created_at": f"2026-03-0{i + 1}T00:00:00Z", "prompt": f"a cat number {i}"}
        for i in range(3)], source="jsonl")
    out = run("infer", "--calibrate", "--archive", str(arc))
    assert out.exit_code == 1 and "no declared links to calibrate on" in out.output, out.output
    # a folder that is not an archive, given to a command that reads one: "choose an empty or new folder" was
    # no help there
    other = tmp_path / "other"
    (other / "records").mkdir(parents=True)
    (other / "records" / "notes.txt").write_text("mine")
    out = run("infer", "--archive", str(other))
    assert out.exit_code == 1 and "is not a remix archive" in out.output and "give --archive an archive's folder" \
        in out.output and "empty or new folder" not in out.output
    # an id given without its source is suggested with it
    out = run("show", "r1", "--archive", str(arc))
    assert out.exit_code == 1 and "did you mean t:r1?" in out.output, out.output


def test_stats_and_trees_with_inferred_links_say_when_infer_never_ran(tmp_path):
    arc = tmp_path / "a"
    ingest_records(Archive.open(arc, create=True), [
        {"id": "t:a", "source": "t", "created_at": "2026-03-01T00:00:00Z", "prompt": "a cat on a boat"}], source="jsonl")
    for cmd in ("stats", "trees"):
        out = CliRunner().invoke(main, [cmd, "--edges", "all", "--archive", str(arc)])
        assert out.exit_code == 0 and "`archivist infer` never ran on this archive" in out.stderr, (cmd, out.stderr)
        plain = CliRunner().invoke(main, [cmd, "--archive", str(arc)])
        assert "never ran" not in plain.stderr


def test_the_pdf_report_draws_again_when_kaleidos_page_was_not_ready(tmp_path, monkeypatch):
    """Under load kaleido's Chromium once answered "kaleido_scopes is not defined" (its scripts had not loaded)
    and the whole PDF failed (CI, session 32). The first drawing here fails that way; the real kaleido,
    restarted, draws the second."""
    import plotly.io as pio

    from lineage.report.pdf import to_pdf

    real, calls = pio.to_image, []

    def not_ready_once(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("{'exceptionDetails': 'ReferenceError: kaleido_scopes is not defined'}")
        return real(*args, **kw)

    monkeypatch.setattr(pio, "to_image", not_ready_once)
    a = Archive.open(tmp_path / "a", create=True)
    ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "a cat"},
                       {"id": "t:2", "source": "t", "created_at": "2026-01-02T00:00:00Z", "prompt": "a cat, noir",
                        "parents": ["t:1"]}], source="jsonl")
    pdf = to_pdf(report_data(a, "t:1"))
    assert pdf[:5] == b"%PDF-" and len(calls) >= 2


def test_the_archive_reports_trees_are_the_archives_now_beside_an_older_analysis(tmp_path):
    """After `analyze --edges all` and a redaction (the redacted post's inferred parent goes with its words, so
    it heads a tree of its own), the CSV's rows came from the analysis: the new tree was missing, the old one
    kept its size, and the rows' inferred links did not add up to the archive's."""
    import shutil

    arc = tmp_path / "a"
    a = Archive.open(arc, create=True)
    ingest_records(a, [
        {"id": "j:p", "source": "j", "created_at": "2026-04-02T10:00:00Z", "author": "kim", "prompt": BASE},
        {"id": "j:c", "source": "j", "created_at": "2026-04-02T11:00:00Z", "author": "kim",
         "prompt": BASE + " under a stormy sky"},
        {"id": "j:d", "source": "j", "created_at": "2026-04-02T12:00:00Z", "author": "kim",
         "prompt": BASE + " under a stormy sky", "parents": ["j:c"]}], source="jsonl")
    infer(a)
    assert inferred_edges(a).select("child", "parent").rows() == [("j:c", "j:p")]
    assert run("analyze", "--edges", "all", "--archive", str(arc)).exit_code == 0
    before = {r["root"]: r for r in csv.DictReader(io.StringIO(to_csv(report_data(a, None, edges="all")).decode()))}
    assert set(before) == {"j:p"} and before["j:p"]["size"] == "3" and before["j:p"]["inferred_links"] == "1"
    out = run("redact", "j:c", "--reason", "consent revoked", "--yes", "--archive", str(arc))
    assert out.exit_code == 0, out.output
    a = Archive.open(arc)
    rows = {r["root"]: r for r in csv.DictReader(io.StringIO(to_csv(report_data(a, None, edges="all")).decode()))}
    assert set(rows) == {"j:p", "j:c"}, rows
    assert (rows["j:p"]["size"], rows["j:c"]["size"]) == ("1", "2")
    assert sum(int(r["inferred_links"]) for r in rows.values()) == inferred_edges(a).join(
        a.lineage(edges="all").select(child="id"), on="child", how="semi").height == 0
    # the measures of the analysis stay beside the tree they were measured on, and the report says they are older
    assert rows["j:p"]["drift_rate"] != "" and rows["j:c"]["drift_rate"] == ""
    assert any("older" in m or "version" in m for m in report_data(a, None, edges="all").missing)
    shutil.rmtree(arc)


def test_evaluate_says_which_source_stopped_declaring_links(tmp_path):
    """Two platforms in one archive, one of which stopped declaring links halfway: the archive-wide check saw
    links to the end (the other platform's) and said nothing."""
    from archive.sources.simulate import SimParams, simulate

    a = Archive.open(tmp_path / "a", create=True)
    for name, seed, stops in (("alpha", 3, True), ("beta", 4, False)):
        recs = simulate(SimParams(seed=seed, posts=600))[0]
        recs.sort(key=lambda r: r["created_at"])
        cut = recs[len(recs) // 2]["created_at"]
        for r in recs:
            r["id"] = r["id"].replace("simulate:", f"{name}:")
            r["source"] = name
            if r.get("parents"):
                r["parents"] = [p.replace("simulate:", f"{name}:") if isinstance(p, str)
                                else {**p, "id": p["id"].replace("simulate:", f"{name}:")} for p in r["parents"]]
            if stops and r["created_at"] >= cut:
                r.pop("parents", None)
        ingest_records(a, recs, source=name)
    rep = json.loads(run("infer", "--evaluate", "--json", "--archive", str(tmp_path / "a")).stdout)
    assert len(rep["warnings"]) == 1 and "source alpha stop at" in rep["warnings"][0] \
        and "--source alpha --until" in rep["warnings"][0], rep["warnings"]
