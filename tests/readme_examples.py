"""The README's example outputs are generated, not typed (as sqlite-utils' cog blocks are).

Every ```` ```console ```` block of the README is a session: ``$ archivist …`` lines are run in
order, from the repository root, against one fresh archive (``$REMIX_ARCHIVE`` points at it) at
100 columns, and what they print is the block's text. A line ``…`` in the README stands for
lines left out; figures that change from run to run (seconds) are masked when compared.

    .venv/bin/python tests/readme_examples.py          # rewrite the README's console blocks
    .venv/bin/python -m pytest tests/test_docs.py -k examples   # check them (part of ./run.sh test)
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
WIDTH = 100


def sessions(text: str) -> list[list[tuple[str, list[str]]]]:
    """Each console block as ``[(command line, output lines), …]``."""
    out = []
    for block in BLOCK.findall(text):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
        for _, shown in steps:  # the blank line that separates one command's output from the next
            while shown and not shown[-1].strip():
                shown.pop()
        out.append(steps)
    return out


def run(command: str, archive: Path) -> list[str]:
    """What ``command`` (a README line, a comment after ``#`` allowed) prints, as a user sees it."""
    args = shlex.split(command.split("  #")[0])
    assert args[0] == "archivist", command
    exe = Path(sys.executable).parent / "archivist"
    env = dict(os.environ, REMIX_ARCHIVE=str(archive), COLUMNS=str(WIDTH), NO_COLOR="1", TERM="dumb")
    p = subprocess.run([str(exe), *args[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"`{command}` failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return [line.rstrip() for line in p.stdout.rstrip("\n").splitlines()]


def masked(lines: list[str]) -> list[str]:
    """Lines with the figures that differ between runs (timings) replaced by ``#``."""
    return [re.sub(r"(seconds\s*│\s*)[0-9.]+", r"\1#", line) for line in lines]


def matches(shown: list[str], printed: list[str]) -> bool:
    """Whether the README's lines are the printed ones, a ``…`` line standing for any lines."""
    pattern = "\n".join(re.escape(line) if line.strip() != "…" else r"(?:.*\n)*?.*" for line in masked(shown))
    return re.fullmatch(pattern, "\n".join(masked(printed))) is not None


def _elide(shown: list[str], printed: list[str]) -> list[str]:
    """Keep the README's ``…`` where it was: the printed lines up to it and the same tail after it."""
    if "…" not in [line.strip() for line in shown]:
        return printed
    i = [line.strip() for line in shown].index("…")
    tail = len(shown) - i - 1
    return printed[:i] + ["…"] + (printed[-tail:] if tail else [])


def regenerate(text: str) -> str:
    """The README with every console block's outputs printed afresh."""
    blocks = BLOCK.findall(text)
    new_blocks = []
    for steps in sessions(text):
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "remix-archive"
            lines = []
            for command, shown in steps:
                if lines and lines[-1] and not lines[-1].startswith("$ "):
                    lines.append("")  # a blank line after a command's output, before the next one
                lines.append(f"$ {command}")
                printed = run(command, archive)  # a command shown without output still has to run
                lines += _elide(shown, printed) if shown else []
            new_blocks.append("\n".join(lines) + "\n")
    for old, new in zip(blocks, new_blocks):
        text = text.replace(f"```console\n{old}```", f"```console\n{new}```", 1)
    return text


if __name__ == "__main__":
    README.write_text(regenerate(README.read_text("utf-8")), "utf-8")
    print("README.md console blocks regenerated")
