"""The report as Markdown: prompts escaped, the tree as an indented outline."""
from __future__ import annotations

from typing import Any

from archive.store import Archive  # noqa: F401  (doctests)
from archive.shorten import visible
from lineage.report._text import (_METHOD, _conf, _decay_rows, _diff_runs, _inferred_mark, _num, _pct, _phrases,
                                  _short, code_spans)
from lineage.report.data import ReportData, report_data  # noqa: F401  (report_data: doctests)

__all__ = ["to_markdown"]


def _md(text: Any) -> str:
    """Text safe inside Markdown (and the HTML a Markdown viewer makes of it): ``&`` and ``<`` as entities
    (no tag, entity or autolink can open; a lone ``>`` opens nothing mid-line, and every line here starts
    with the report's own marks, so it stays ``>``, not ``&gt;`` in the raw file), Markdown's marks
    backslash-escaped."""
    # bidi controls and every other invisible or control character (a bell, a zero-width space) as code points
    s = visible(" ".join(str(text if text is not None else "").split())).replace("&", "&amp;").replace("<", "&lt;")
    for ch in "\\`*_[]|#~":
        s = s.replace(ch, "\\" + ch)
    return s


def _md_code(text: Any) -> str:
    r"""
    :func:`_md`, but a `backticked` command of the report's own sentences stays a code span (it printed as
    literal backticks). Only a span without ``<``, ``&`` or a backslash is kept as code; anything else, and
    an unpaired backtick, is escaped as :func:`_md` escapes it.

    >>> print(_md_code("run `archivist analyze --edges all` first, *not* <b>"))
    run `archivist analyze --edges all` first, \*not\* &lt;b>
    """
    runs = code_spans(text)
    if len(runs) == 1:
        return _md(text)
    out = []
    for part, is_code in runs:
        code = " ".join(part.split())
        if is_code and code and not any(c in code for c in "<&\\"):
            out.append(f"`{visible(code)}`")
        elif is_code:  # not kept as code: its backticks shown, escaped, around the escaped text
            out.append("\\`" + _md(part) + "\\`")
        else:
            # _md joins a text's words with single spaces: keep the space on each side of a code span
            out.append((" " if part[:1].isspace() else "") + _md(part) + (" " if part[-1:].isspace() else "")
                       if part.strip() else (" " if part else ""))
    return "".join(out)


def _diff_md(a: str | None, b: str | None) -> str:
    marks = {"added": ("**+", "+**"), "removed": ("~~", "~~")}
    return " ".join(f"{marks[op][0]}{_md(t)}{marks[op][1]}" if op in marks else _md(t) for op, t in _diff_runs(a, b))


def to_markdown(d: ReportData, *, max_outline: int = 60) -> str:
    """The report as Markdown (prompts escaped, the tree as an indented outline).

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z",
    ...                         "prompt": "<script>alert(1)</script>"}])
    >>> md = to_markdown(report_data(a, "t:1"))
    >>> "<script>" in md, "&lt;script>" in md
    (False, True)
    """
    out = [f"# {_md(d.title)}", ""]
    if d.generated_at is not None:
        out += [f"_Generated {d.generated_at.isoformat(timespec='seconds').replace('+00:00', 'Z')} by Remix Archivist._", ""]
    out += ["## In brief", ""] + [f"- {_md_code(s)}" for s in d.sentences] + [""]
    if d.scope == "tree":
        out += [f"**Root prompt:** {_md(d.facts['root_text'])}", ""]
        out += ["## The tree", "", "Each line is a post: its id, generation and drift from the root, then its prompt.", ""]
        shown = d.nodes.sort("order")
        ev = shown.get_column("parent_evidence") if "parent_evidence" in shown.columns else None
        conf = shown.get_column("parent_confidence") if ev is not None else None
        for k, (i, dep, rd, t) in enumerate(shown.select("id", "depth", "root_drift", "text").head(max_outline)
                                            .iter_rows()):
            how = f", inferred link, confidence {_conf(conf[k])}" if ev is not None and ev[k] == "inferred" else ""
            out.append(f"{'  ' * dep}- **{_md(i)}** (gen {dep}, drift {_num(rd)}{how}): {_md(_short(t, 80))}")
        if shown.height > max_outline:
            out.append(f"\n… and {shown.height - max_outline} more posts (the HTML report draws them all).")
        out.append("")
    out += ["## The largest mutations", ""]
    if d.mutations.height:
        for m in d.mutations.iter_rows(named=True):
            out += [f"### {_md(m['child'])} (generation {m['depth']}): {_pct(m['drift'])} of the words changed", "",
                    f"- parent {_md(m['parent'])}{_inferred_mark(m.get('inferred_confidence'))}: "
                    f"{_md(m['parent_text'])}",
                    f"- remix: {_md(m['child_text'])}",
                    f"- diff (~~dropped~~, **+added+**): {_diff_md(m['parent_text'], m['child_text'])}",
                    f"- what changed: {_md('; '.join(_phrases(m)) or 'word order only')}", ""]
    else:
        out += ["No mutation could be measured here.", ""]
    if d.scope == "tree":
        out += ["## Who wrote the leaves", "",
                "For the deepest remixes, the share of their words first written by each ancestor (prompt blame).", ""]
        if d.blame.height:
            for (leaf,), grp in d.blame.group_by(["id"], maintain_order=True):
                r0 = grp.row(0, named=True)
                out += [f"**{_md(leaf)}** (generation {r0['leaf_depth']}, keeps {_pct(r0['retention'])} of the "
                        f"root's words): {_md(r0['leaf_text'])}", ""]
                out += ["| ancestor | generation | words | share |", "|---|---|---|---|"]
                for r in grp.iter_rows(named=True):
                    out.append(f"| {_md(r['ancestor'])} | {r['generation']} | {r['tokens']} | {_pct(r['share'])} |")
                out.append("")
        else:
            out += ["No leaf below the root to blame.", ""]
        out += ["## Style changes and bleed", ""]
        if d.styles.height:
            out += ["| post | generation | new style term | facet | bleed | borrowed from |", "|---|---|---|---|---|---|"]
            for r in d.styles.head(40).iter_rows(named=True):
                out.append(f"| {_md(r['id'])} | {r['depth']} | {_md(r['term'])} | {_md(r['facet'])} | "
                           f"{_md(r['label'] or 'not labelled')} | {_md(r['source_root'] or '')} |")
            if d.styles.height > 40:
                out.append(f"\n… and {d.styles.height - 40} more.")
            out.append("")
        else:
            out += ["No style term entered the tree after the root.", ""]
    else:
        out += ["## The trees", "", "| root | posts | generations | drift per generation | bleed rate | root prompt |",
                "|---|---|---|---|---|---|"]
        for r in d.trees.head(25).iter_rows(named=True):
            out.append(f"| {_md(r['root'])} | {r['size']} | {r['depth']} | {_num(r.get('drift_rate'), 3)} | "
                       f"{_pct(r.get('bleed_rate'))} | {_md(_short(r.get('root_text'), 60))} |")
        out.append("")
    out += ["## Decay", ""]
    if d.fidelity.height:
        out += ["| generation | posts | fidelity |", "|---|---|---|"]
        for r in d.fidelity.sort("depth").iter_rows(named=True):
            out.append(f"| {r['depth']} | {r['nodes']} | {_num(r['fidelity'])} |")
        out.append("")
    rows = list(_decay_rows(d))
    for k, v in rows:
        out.append(f"- {k}: {v}")
    if not rows and not d.fidelity.height:
        out.append("No decay figure: see what this report could not measure, below.")
    out += ["", "## What this report could not measure", ""]
    out += [f"- {_md_code(m)}" for m in d.missing] or ["- Nothing: every section above is measured."]
    out += ["", "## How to read it", "", *[f"- {x}" for x in _METHOD], ""]
    return "\n".join(out)
