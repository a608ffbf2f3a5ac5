"""The command line: help everywhere, JSON for scripts, one-line errors with a non-zero exit."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import polars as pl
import pytest
from click.testing import CliRunner

from dashboard.cli import cli

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture()
def columns(monkeypatch: pytest.MonkeyPatch):
    """Set the width the command line's consoles print at (rich reads $COLUMNS once a console has a width
    of its own, so an environment variable given to CliRunner is not enough in every process)."""
    from archive import cli as archive_cli

    def width(n: int) -> None:
        for c in (archive_cli.console, archive_cli.err_console):
            monkeypatch.setattr(c, "_width", n)
    return width


def _all_commands(group: click.Group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


COMMANDS = list(_all_commands(cli))


def test_the_core_commands_exist():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"demo", "dashboard", "ingest", "ingest jsonl", "ingest simulate", "trees", "show", "stats",
            "runs", "quarantine"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help(path):
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output
    cmd = dict(COMMANDS)[path]
    assert (cmd.help or "").strip(), f"`archivist {' '.join(path)}` has no help text"


def test_stats_trees_show_json(sample_store: Path):
    r = CliRunner()
    s = json.loads(r.invoke(cli, ["stats", "--archive", str(sample_store), "--json"]).output)
    assert s["posts"] == 3010 and s["quarantined"] == 5
    trees = json.loads(r.invoke(cli, ["trees", "--archive", str(sample_store), "--json", "--limit", "3"]).output)
    assert len(trees) == 3 and trees[0]["size"] >= trees[1]["size"] >= trees[2]["size"]
    root = trees[0]["root"]
    shown = json.loads(r.invoke(cli, ["show", root, "--archive", str(sample_store), "--json", "--depth", "2"]).output)
    assert shown["root"] == root and shown["path"][0]["id"] == root and shown["ancestors"] == []
    assert shown["descendants"] and max(d["depth"] for d in shown["descendants"]) == 2
    active = json.loads(r.invoke(cli, ["trees", "--archive", str(sample_store), "--json", "--sort", "active"]).output)
    last = [t["last_at"] for t in active]
    assert last == sorted(last, reverse=True)


def test_show_draws_a_tree_and_escapes_markup(sample_store: Path):
    res = CliRunner().invoke(cli, ["show", "messy:orphan", "--archive", str(sample_store)], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "messy:deleted-parent" in res.output and "(not in the archive)" in res.output
    assert "<script>alert(1)</script>" in res.output  # shown as text, not interpreted
    assert "⟨U+200B⟩" in CliRunner().invoke(cli, ["show", "messy:invisible", "--archive", str(sample_store)],
                                           terminal_width=200).output


@pytest.mark.parametrize("args,message", [
    (["stats", "--archive", "{tmp}/none"], "no archive at"),
    (["show", "nope:1", "--archive", "{sample}"], "no post 'nope:1'"),
    (["trees", "--archive", "{sample}", "--as-of", "someday"], "neither a store version nor"),
    (["ingest", "jsonl", "{tmp}/missing.jsonl", "--archive", "{tmp}/a"], "missing.jsonl: no such file"),
    (["ingest", "simulate", "--posts", "0", "--archive", "{tmp}/a"], "must be at least 1"),
])
def test_errors_are_one_line_and_exit_non_zero(args, message, sample_store: Path, tmp_path: Path):
    args = [a.format(tmp=tmp_path, sample=sample_store) for a in args]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    assert message in res.output
    assert "Traceback" not in res.output


def test_ingest_simulate_writes_truth_beside_its_output(tmp_path: Path):
    r = CliRunner().invoke(cli, ["ingest", "simulate", "--seed", "3", "--posts", "200", "--out",
                                 str(tmp_path / "sim.jsonl.gz"), "--json"])
    assert r.exit_code == 0, r.output
    truth = json.loads((tmp_path / "sim.truth.json").read_text())
    assert truth["params"]["seed"] == 3 and truth["posts"] == 200
    r = CliRunner().invoke(cli, ["ingest", "simulate", "--seed", "3", "--posts", "200", "--archive",
                                 str(tmp_path / "arc"), "--json"])
    assert json.loads(r.output)["stored"] == 200
    assert (tmp_path / "arc" / "simulations" / "seed-3-posts-200.truth.json").exists()


def test_paths_longer_than_the_console_are_printed_whole(tmp_path: Path, columns):
    columns(80)
    # piped output is 80 columns: a message naming a longer path printed it folded mid-word
    deep = tmp_path / ("a-folder-whose-name-is-long-" * 3)
    r = CliRunner().invoke(cli, ["ingest", "simulate", "--seed", "3", "--posts", "50", "--archive", str(deep / "arc")])
    truth = deep / "arc" / "simulations" / "seed-3-posts-50.truth.json"
    assert r.exit_code == 0 and len(str(truth)) > 80 and f"ground truth: {truth}\n" in r.output, r.output
    out = deep / "graph.graphml"
    r = CliRunner().invoke(cli, ["export", "--archive", str(deep / "arc"), "--format", "graphml", "-o", str(out)])
    assert r.exit_code == 0 and r.output.rstrip("\n").endswith(f" bytes) to {out}"), r.output


def test_the_console_script_runs_as_a_process(sample_store: Path):
    out = subprocess.run([sys.executable, "-c", "from dashboard.cli import main; main()", "stats", "--json",
                          "--archive", str(sample_store)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["trees"] > 40
    bad = subprocess.run([sys.executable, "-c", "from dashboard.cli import main; main()", "stats",
                          "--archive", "/nonexistent/place"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "no archive at" in bad.stderr


def test_ctrl_c_while_the_console_script_loads_says_so_without_a_traceback():
    # a real SIGINT, sent by the process to itself while dashboard.cli's imports run (a meta-path hook
    # fires as lineage.cli_infer is looked up): Python's traceback of an import was printed before
    code = ("import os, signal, sys\n"
            "class Hook:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'lineage.cli_infer':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "        return None\n"
            "sys.meta_path.insert(0, Hook())\n"
            "sys.argv = ['archivist', '--help']\n"
            "from dashboard.entry import main\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 130, (out.returncode, out.stderr)
    assert out.stderr == "archivist: interrupted while starting; nothing was done.\n" and out.stdout == ""
    # and without the interrupt the same entry point runs the command
    ok = subprocess.run([sys.executable, "-c", "from dashboard.entry import main; main()", "--help"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "Usage: " in ok.stdout and "infer" in ok.stdout


def test_demo_builds_the_sample_archive_and_analyses_it(tmp_path: Path):
    """`archivist demo --no-serve` is the first command's main job without the server."""
    from archive.store import Archive
    from lineage.analyze import load_results

    arc = tmp_path / "demo-archive"
    res = CliRunner().invoke(cli, ["demo", "--no-serve", "--archive", str(arc)])
    assert res.exit_code == 0, res.output
    assert "sample archive ready" in res.output
    a = Archive.open(arc, read_only=True)
    assert a.stats()["posts"] == 3010 and a.quarantine().height == 5
    trees = load_results(a, "trees")
    # every tree is measured but the messy examples' own (kept, shown, out of the measures)
    measured = a.trees().filter(~pl.col("root").str.starts_with("messy:"))
    assert a.excluded_sources() == ["messy"] and trees.height == measured.height < a.trees().height
    again = CliRunner().invoke(cli, ["demo", "--no-serve", "--archive", str(arc)])
    assert again.exit_code == 0 and Archive.open(arc).stats()["observations"] == 3011  # idempotent


def test_commands_are_registered_by_build_cli_not_by_imports():
    """Importing a CLI module registers nothing; build_cli() (the console script) adds every command, once."""
    import subprocess
    import sys

    code = ("import archive.cli, archive.cli_archiving, lineage.cli, lineage.cli_report\n"
            "before = sorted(archive.cli.cli.commands)\n"
            "from dashboard.cli import build_cli\n"
            "after = sorted(build_cli().commands); again = sorted(build_cli().commands)\n"
            "print(before, after == again, 'analyze' in after, 'snapshot' in after, 'report' in after)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['ingest', 'quarantine', 'runs', 'show', 'stats', 'trees'] True True True True"


def test_stats_as_of_a_time_says_what_its_counts_mean(sample_store: Path):
    # the sample was fetched in July: as of April its posts exist (created by then) but no observation
    # was made by then, which the table alone showed as a contradiction ("observations 0, posts 721")
    s = json.loads(CliRunner().invoke(cli, ["stats", "--archive", str(sample_store), "--as-of", "2026-04-01",
                                            "--json"]).output)
    assert s["observations"] == 0 and s["posts"] > 0
    out = CliRunner().invoke(cli, ["stats", "--archive", str(sample_store), "--as-of", "2026-04-01"]).output
    assert "the posts created by then; observations: those made by then" in " ".join(out.split())
    assert "created by then" not in CliRunner().invoke(cli, ["stats", "--archive", str(sample_store)]).output


def test_controls_in_a_prompt_show_as_code_points_in_the_terminal(sample_store: Path, columns):
    columns(200)
    # as the README says and the dashboard's labels and Markdown reports do: ⟨U+202E⟩, never the raw control
    out = CliRunner().invoke(cli, ["show", "messy:invisible", "--archive", str(sample_store)]).output
    assert "corgi⟨U+202E⟩ surfing⟨U+0007⟩" in out and "\u202e" not in out and "\x07" not in out


def test_quarantine_with_long_locations_shows_every_reason(tmp_path: Path, columns):
    columns(80)
    # a location longer than the terminal left the reasons and raw columns no width at all (--wide too)
    deep = tmp_path / ("a-folder-whose-name-is-long-" * 3)
    deep.mkdir()
    src = deep / "messy_records_with_a_long_name.jsonl"
    src.write_bytes((SAMPLE / "messy.jsonl").read_bytes())
    arc = str(tmp_path / "arc")
    assert CliRunner().invoke(cli, ["ingest", "jsonl", str(src), "--archive", arc]).exit_code == 0
    rows = json.loads(CliRunner().invoke(cli, ["quarantine", "--archive", arc, "--json"]).output)
    assert rows and all(len(r["location"]) > 80 for r in rows)
    for extra in ([], ["--wide"]):
        out = CliRunner().invoke(cli, ["quarantine", "--archive", arc, *extra]).output
        flat = " ".join(out.split())
        for r in rows:
            assert r["location"] in out, extra
            assert all(" ".join(reason.split()) in flat for reason in r["reasons"]), (extra, r["reasons"], out)


def test_a_table_says_which_columns_it_left_out(sample_store: Path, columns):
    columns(80)
    out = CliRunner().invoke(cli, ["drift", "simulate:s42_0000900", "--archive", str(sample_store)]).output
    assert "left out at 80 columns: path (--wide or --json shows them)" in " ".join(out.split())
    wide = CliRunner().invoke(cli, ["drift", "simulate:s42_0000900", "--archive", str(sample_store), "--wide"]).output
    assert "left out" not in wide and "┃ path ┃" in wide


def test_block_rows_indent_their_wrapped_values(sample_store: Path, columns):
    columns(40)
    # at 40 columns `runs` prints a block per run; a wrapped target began at column 0 and read as the next run
    out = CliRunner().invoke(cli, ["runs", "--archive", str(sample_store)]).output
    runs = json.loads(CliRunner().invoke(cli, ["runs", "--archive", str(sample_store), "--json"]).output)
    ids = {r["run_id"] for r in runs}
    lines = [ln for ln in out.splitlines()[1:] if ln.strip() and not ln.startswith("left out")]
    assert lines and all(ln.startswith("  ") or ln.strip() in ids for ln in lines), out
    assert {ln.strip() for ln in lines if not ln.startswith(" ")} == ids


def test_drift_rows_have_no_empty_lines(sample_store: Path, columns):
    columns(200)
    out = CliRunner().invoke(cli, ["drift", "simulate:s42_0000263", "--archive", str(sample_store)]).output
    body = [ln for ln in out.splitlines() if ln.startswith("│")]
    assert body and all(ln.split("│")[2].strip() for ln in body), out  # every table line names its post


def test_markdown_report_shows_every_control_as_its_code_point(sample_store: Path):
    out = CliRunner().invoke(cli, ["report", "messy:invisible", "--format", "md", "-o", "-",
                                   "--archive", str(sample_store)]).output
    assert "a⟨U+200B⟩ corgi⟨U+202E⟩ surfing⟨U+0007⟩ at golden hour" in out
    assert not any(ch in out for ch in "\u200b\u202e\x07")
