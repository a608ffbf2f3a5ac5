"""The README stays true: its commands exist, run, and the two-command setup is what CI runs."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dashboard.cli import cli

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text("utf-8")


def _readme_commands() -> list[list[str]]:
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("archivist "):
                cmds.append(shlex.split(line)[1:])
    return cmds


def test_the_readme_names_two_commands_and_ci_runs_the_second():
    first = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert first[0].startswith("./run.sh demo") and first[1].startswith("./run.sh test")
    ci = (REPO / ".ci" / "run").read_text()
    assert "./run.sh test" in ci


def _parse_only(args: list[str]) -> bool:
    """Commands the test parses but does not run: servers that run until stopped, a Spark cluster."""
    return args[0] in ("demo", "dashboard") or "--master" in args or "--engine" in args


def _resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    cmd: click.Command = cli
    rest = list(args)
    while isinstance(cmd, click.Group) and rest and rest[0] in cmd.commands:
        cmd = cmd.commands[rest.pop(0)]
    return cmd, rest


@pytest.mark.parametrize("args", _readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_every_archivist_command_in_the_readme_runs(args, sample_copy: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-records.jsonl.gz").write_bytes((REPO / "data" / "sample" / "remixes.jsonl.gz").read_bytes())
    (tmp_path / "prompts.csv").write_text("image_name,prompt,timestamp,user_name\n"
                                          "a.png,a lighthouse in a storm,2022-08-01T10:00:00Z,u1\n")
    if any(a.startswith("photos") for a in args):  # the media examples: a photograph and a re-post of it
        from PIL import Image

        from archive.sources.simulate_media import sample_photographs

        (tmp_path / "photos").mkdir()
        img = Image.open(sample_photographs()[0]).convert("RGB")
        img.save(tmp_path / "photos" / "original.jpg", quality=92)
        img.crop((20, 20, img.width - 20, img.height - 20)).save(tmp_path / "photos" / "repost.jpg", quality=70)
    args = [a.replace("/tmp/sim", str(tmp_path / "sim")).replace("/mnt/archive", str(sample_copy))
            .replace("./remix-archive", str(sample_copy)) for a in args]
    if _parse_only(args):
        cmd, rest = _resolve(args)
        cmd.make_context(args[0], rest)  # every option the README shows exists and parses
        return
    if "--archive" not in args:
        args += ["--archive", str(sample_copy)]
    if args[:2] == ["ingest", "simulate"]:
        args[args.index("--posts") + 1] = "300"  # the same command, smaller
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert res.output.strip() or any(a == "-o" for a in args)


def test_the_readme_documents_every_record_field():
    from archive.record import KNOWN_FIELDS

    for field in KNOWN_FIELDS:
        assert f"`{field}`" in README, field


def test_readme_example_outputs_are_what_the_commands_print(tmp_path: Path):
    """Every ```console block of the README, run again: the outputs shown are the ones printed
    (regenerate them with `.venv/bin/python tests/readme_examples.py`)."""
    from tests import readme_examples as rx

    sessions = rx.sessions(README)
    assert sessions and any(shown for steps in sessions for _, shown in steps)
    for i, steps in enumerate(sessions):
        archive = tmp_path / f"session-{i}" / "remix-archive"
        for command, shown in steps:
            printed = rx.run(command, archive)
            assert not shown or rx.matches(shown, printed), (
                f"README output of `{command}` is stale; run `.venv/bin/python tests/readme_examples.py`.\n"
                + "\n".join(printed))
