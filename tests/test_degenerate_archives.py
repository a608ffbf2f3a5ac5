"""Every command on a degenerate archive answers with a result or a one-line reason, never a traceback.

Archives: no posts; only roots (case analyze-roots-only-traceback: a prompt dataset with no lineage yet);
only a post whose parent was never archived, then redacted (nothing but placeholders left with content).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboard.cli import cli  # every command registered (archive, lineage, dashboard)
from archive.ingest import ingest_records
from archive.store import Archive

DATA = Path(__file__).parent / "data" / "analyze-roots-only-traceback"


def _records(kind: str) -> list[dict]:
    if kind == "empty":
        return []
    if kind == "roots":
        return [json.loads(line) for line in (DATA / "roots.jsonl").read_text("utf-8").splitlines()]
    return [{"id": "p:1", "source": "jsonl", "created_at": "2022-08-08T23:28:05Z", "prompt": "a castle",
             "parents": ["x:gone"]}]


@pytest.fixture(scope="module", params=["empty", "roots", "placeholders"])
def degenerate(request, tmp_path_factory) -> tuple[str, Path]:
    path = tmp_path_factory.mktemp(request.param) / "archive"
    a = Archive.open(path, create=True)
    ingest_records(a, _records(request.param), source="jsonl")
    if request.param == "placeholders":
        r = CliRunner().invoke(cli, ["redact", "p:1", "--reason", "test", "--yes", "--archive", str(path)])
        assert r.exit_code == 0, r.output
    return request.param, path


def _run(path: Path, args: list[str], cwd: Path) -> tuple[int, str]:
    r = CliRunner().invoke(cli, [*args, "--archive", str(path)], catch_exceptions=True)
    assert r.exception is None or isinstance(r.exception, SystemExit), f"{args}: {r.exception!r}\n{r.output}"
    return r.exit_code, r.output


def test_every_command_answers(degenerate, tmp_path, monkeypatch):
    kind, path = degenerate
    monkeypatch.chdir(tmp_path)
    post = {"empty": None, "roots": "p:1", "placeholders": "x:gone"}[kind]
    code, out = _run(path, ["analyze", "--json"], tmp_path)
    assert code == 0, out
    summary = json.loads(out)
    assert summary["trees"] == {"empty": 0, "roots": 2, "placeholders": 1}[kind]
    assert summary["generational_half_life"] is None and summary["generational_half_life_reason"]
    commands = [["analyze"], ["stats", "--json"], ["trees", "--json"], ["bleed"], ["bleed", "--json"], ["decay"],
                ["decay", "--json"], ["report", "--format", "md", "-o", "r.md"],
                ["report", "--format", "csv", "-o", "r.csv"]]
    commands += [["export", "--format", f, "-o", f"e.{f}"]
                 for f in ("graphml", "gexf", "newick", "prov-json", "parquet", "csv")]
    if post:
        commands += [["show", post], ["show", post, "--json"], ["drift", "p:1"], ["drift", "p:1", "--json"],
                     ["report", post, "--format", "md", "-o", "t.md"], ["snapshot", post]]
    else:  # nothing to name: a one-line reason, exit code 1
        for args in (["show", "p:1"], ["drift", "p:1"], ["snapshot", "p:1"], ["report", "p:1"]):
            code, out = _run(path, args, tmp_path)
            assert code == 1 and "no post 'p:1'" in out and len(out.strip().splitlines()) == 1, (args, out)
    for args in commands:
        code, out = _run(path, args, tmp_path)
        assert code == 0, (args, out)
    decay = json.loads(_run(path, ["decay", "--json"], tmp_path)[1])
    assert decay  # a result, with nulls where nothing could be measured


def test_every_dashboard_page_lays_out(degenerate):
    """In a fresh process: the Dash page registry belongs to one app per process."""
    kind, path = degenerate
    code = (
        "import importlib, json, plotly, sys\n"
        "from dashboard.app import create_app\n"
        "app = create_app(sys.argv[1])\n"
        "with app.server.app_context():\n"
        "    for name in ('overview', 'explore', 'drift', 'bleed', 'decay', 'archive_page'):\n"
        "        lay = importlib.import_module(f'dashboard.pages.{name}').layout()\n"
        "        assert json.loads(json.dumps(lay, cls=plotly.utils.PlotlyJSONEncoder))['type'] == 'Div'\n"
        "        print(name, 'ok')\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [w for n in ("overview", "explore", "drift", "bleed", "decay", "archive_page")
                                for w in (n, "ok")]
