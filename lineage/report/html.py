"""The report as one self-contained HTML file (figures interactive, plotly.js inlined, works offline)."""
from __future__ import annotations

from typing import Any

from archive.store import Archive  # noqa: F401  (doctests)
from lineage.bidi import bdi_html
from lineage.report._text import _METHOD, _decay_rows, code_spans, _diff_runs, _inferred_mark, _num, _pct, _short
from lineage.report.data import ReportData, report_data  # noqa: F401  (report_data: doctests)
from lineage.report.figures import _figures

__all__ = ["to_html"]


def _diff_html(a: str | None, b: str | None) -> str:
    tags = {"added": "ins", "removed": "del"}
    return " ".join(f"<{tags[op]}>{_e(t)}</{tags[op]}>" if op in tags else _e(t) for op, t in _diff_runs(a, b))


_CSS = """body{font:15px/1.5 Georgia,serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.7rem}h2{border-bottom:1px solid #ccc;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
.prompt{font-family:ui-monospace,monospace;font-size:.85rem;white-space:pre-wrap;word-break:break-word}
.brief li{margin:.3rem 0}ins{background:#cfc;text-decoration:none}del{background:#fcc}.missing{color:#a40}
figure{margin:1rem 0;page-break-inside:avoid}img{max-width:100%}section{page-break-inside:auto}
.pictures{display:flex;flex-wrap:wrap;gap:.8rem}.picture{margin:0;max-width:22rem;font-size:.8rem}
.picture img.thumb{max-width:10rem;max-height:10rem;border:1px solid #ccc;margin-right:.2rem}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}}"""


def _e(x: Any) -> str:
    """Text escaped for HTML, in a ``<bdi>`` isolate when it holds bidi controls."""
    return bdi_html("" if x is None else str(x))


def _e_code(x: Any) -> str:
    """:func:`_e`, with each `backticked` command of the report's own sentences as ``<code>`` (it showed its
    backticks); an unpaired backtick leaves the text as it is. Every part is escaped all the same.

    >>> _e_code("run `archivist infer` on <b>")
    'run <code>archivist infer</code> on &lt;b&gt;'
    """
    return "".join(f"<code>{_e(t)}</code>" if code else _e(t) for t, code in code_spans(x))


def _html_body(d: ReportData, figs: dict[str, str]) -> str:
    p: list[str] = [f"<h1>{_e(d.title)}</h1>"]
    if d.generated_at is not None:
        p.append(f"<p><em>Generated {_e(d.generated_at.isoformat(timespec='seconds'))} by Remix Archivist.</em></p>")
    p.append("<h2>In brief</h2><ul class='brief'>" + "".join(f"<li>{_e_code(s)}</li>" for s in d.sentences) + "</ul>")
    if d.scope == "tree":
        p.append(f"<p><strong>Root prompt:</strong> <span class='prompt'>{_e(d.facts['root_text'])}</span></p>")
        p.append("<h2>The tree</h2>" + figs.get("tree", "<p>(no figure)</p>"))
        from lineage.visual import pictures_html

        p.append(pictures_html(d.pictures))
    p.append("<h2>The largest mutations</h2>")
    if d.mutations.height:
        p.append("<p>Each remix against its parent, word by word: <del>dropped</del>, <ins>added</ins>.</p>"
                 "<table><tr><th>remix</th><th>gen</th><th>drift</th><th>parent prompt</th>"
                 "<th>diff to the remix</th></tr>")
        for m in d.mutations.iter_rows(named=True):
            p.append(f"<tr><td>{_e(m['child'])}<br><small>from {_e(m['parent'])}"
                     f"{_e(_inferred_mark(m.get('inferred_confidence')))}</small></td><td>{m['depth']}</td>"
                     f"<td>{_pct(m['drift'])}</td><td class='prompt'>{_e(m['parent_text'])}</td>"
                     f"<td class='prompt'>{_diff_html(m['parent_text'], m['child_text'])}</td></tr>")
        p.append("</table>")
    else:
        p.append("<p>No mutation could be measured here.</p>")
    if d.scope == "tree":
        p.append("<h2>Who wrote the leaves</h2><p>For the deepest remixes, the share of their words first written "
                 "by each ancestor (prompt blame).</p>")
        for (leaf,), grp in d.blame.group_by(["id"], maintain_order=True):
            r0 = grp.row(0, named=True)
            p.append(f"<h3>{_e(leaf)} (generation {r0['leaf_depth']}, keeps {_pct(r0['retention'])} of the root's "
                     f"words)</h3><p class='prompt'>{_e(r0['leaf_text'])}</p><table><tr><th>ancestor</th>"
                     "<th>generation</th><th>words</th><th>share</th><th>its prompt</th></tr>")
            for r in grp.iter_rows(named=True):
                p.append(f"<tr><td>{_e(r['ancestor'])}</td><td>{r['generation']}</td><td>{r['tokens']}</td>"
                         f"<td>{_pct(r['share'])}</td><td class='prompt'>{_e(_short(r['ancestor_text'], 100))}</td></tr>")
            p.append("</table>")
        p.append("<h2>Style changes and bleed</h2>")
        if d.styles.height:
            p.append("<table><tr><th>post</th><th>gen</th><th>new style term</th><th>facet</th><th>bleed</th>"
                     "<th>borrowed from</th></tr>")
            for r in d.styles.head(60).iter_rows(named=True):
                p.append(f"<tr><td>{_e(r['id'])}</td><td>{r['depth']}</td><td>{_e(r['term'])}</td>"
                         f"<td>{_e(r['facet'])}</td><td>{_e(r['label'] or 'not labelled')}</td>"
                         f"<td>{_e(r['source_root'])}</td></tr>")
            p.append("</table>" + (f"<p>… and {d.styles.height - 60} more.</p>" if d.styles.height > 60 else ""))
        else:
            p.append("<p>No style term entered the tree after the root.</p>")
    else:
        p.append("<h2>The trees</h2><table><tr><th>root</th><th>posts</th><th>generations</th>"
                 "<th>drift per generation</th><th>bleed rate</th><th>root prompt</th></tr>")
        for r in d.trees.head(25).iter_rows(named=True):
            p.append(f"<tr><td>{_e(r['root'])}</td><td>{r['size']}</td><td>{r['depth']}</td>"
                     f"<td>{_num(r.get('drift_rate'), 3)}</td><td>{_pct(r.get('bleed_rate'))}</td>"
                     f"<td class='prompt'>{_e(_short(r.get('root_text'), 80))}</td></tr>")
        p.append("</table>")
    p.append("<h2>Decay</h2>" + figs.get("fidelity", ""))
    rows = _decay_rows(d)
    if rows:
        p.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>")
    p.append("<h2>What this report could not measure</h2><ul>"
             + ("".join(f"<li class='missing'>{_e_code(m)}</li>" for m in d.missing)
                or "<li>Nothing: every section above is measured.</li>") + "</ul>")
    p.append("<h2>How to read it</h2><ul>" + "".join(f"<li>{_e(x)}</li>" for x in _METHOD) + "</ul>")
    return "\n".join(p)


def _page(d: ReportData, body: str, head: str = "") -> str:
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(d.title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_CSS}</style>{head}"
            f"</head><body>\n{body}\n</body></html>\n")


def to_html(d: ReportData) -> str:
    """One self-contained HTML file: interactive figures with plotly.js inlined, no network needed.

    Examples
    --------
    >>> import tempfile
    >>> from archive.ingest import ingest_records
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> _ = ingest_records(a, [{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "<b>x"}])
    >>> page = to_html(report_data(a, "t:1"))
    >>> "&lt;b&gt;x" in page, "<script src=" in page, "<link" in page
    (True, False, False)
    """
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    figs = {k: "<figure>" + pio.to_html(f, full_html=False, include_plotlyjs=False, div_id=f"fig-{k}",
                                        validate=False, config={"displaylogo": False, "displayModeBar": False})
                    + "</figure>"  # no toolbar over the titles: zoom by dragging, double-click to reset
            for k, f in _figures(d).items()}
    head = f"<script>{get_plotlyjs()}</script>" if figs else ""
    return _page(d, _html_body(d, figs), head)
