"""Component builders for the explorer's side panels (pure: data in, Dash components out)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from dash import dcc, html

from dashboard.textviews import blame_legend, blame_view, diff_view, prompt_text
from lineage.report._text import code_spans

__all__ = ["explore_href", "node_panel", "compare_panel", "path_list", "search_results", "kv_table", "note"]


def explore_href(root: str | None = None, node: str | None = None, **extra: Any) -> str:
    """The shareable URL of an explorer view.

    >>> explore_href("simulate:a", "simulate:b", depth=3)
    '/explore?root=simulate%3Aa&node=simulate%3Ab&depth=3'
    """
    q = {k: v for k, v in {"root": root, "node": node, **extra}.items() if v not in (None, "", [], ())}
    return "/explore" + ("?" + urlencode(q) if q else "")


def with_code(text: str) -> list[Any]:
    """``text`` with each `backticked` command as an ``html.Code`` (never as Markdown or HTML).

    >>> [type(x).__name__ for x in with_code("run `archivist analyze` first")]
    ['str', 'Code', 'str']
    """
    return [html.Code(t) if code else t for t, code in code_spans(text) if t]


def note(text: str) -> html.Div:
    """A plain-language notice (a measure not computed yet, nothing selected, …); commands in
    backticks are shown as code."""
    return html.Div(with_code(text), className="note")


def kv_table(rows: list[tuple[str, Any]]) -> html.Table:
    """A two-column table of labels and values (values shown as text)."""
    def show(v: Any) -> str:
        return "" if v is None else ("yes" if v else "no") if isinstance(v, bool) else str(v)

    return html.Table([html.Tr([html.Th(k), html.Td(show(v))]) for k, v in rows], className="kv")


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def path_list(path: list[dict], *, root: str, as_of: str | None = None, edges: str = "declared") -> html.Ol:
    """The path from the root to a node, each step a link that selects it (in the same edge set: with
    inferred links shown, a step may be an inferred ancestor, whose declared tree is another)."""
    shown = "all" if edges == "all" else None
    items = []
    for p in path:
        label = p["text"] if not p.get("placeholder") else "(not in the archive)"
        items.append(html.Li([
            dcc.Link(p["id"], href=explore_href(root, p["id"], as_of=as_of, edges=shown), className="mono"),
            html.Span(f" gen {p['depth']}: ", className="muted"),
            html.Bdi(label[:120] + ("…" if len(label) > 120 else "")),
        ]))
    return html.Ol(items, className="path")


def _confidence(v: Any) -> str:
    """A link's confidence: two decimals, or two significant digits below 0.01 (a guess at 0.002 is not "0.00").

    >>> _confidence(0.8312), _confidence(0.002265), _confidence(None)
    ('0.83', '0.0023', '–')
    """
    from lineage.infer import confidence_text

    return confidence_text(v) if isinstance(v, float) else _fmt(v)


def _evidence_rows(edges: list[dict]) -> html.Table | html.Div:
    if not edges:
        return html.Div("no parent: this post starts its tree", className="muted small")
    head = html.Tr([html.Th(c) for c in ("parent", "relation", "evidence", "confidence", "primary")])
    body = [html.Tr([html.Td(e["parent"], className="mono"), html.Td(e.get("relation") or "remix"),
                     html.Td(html.Span(e.get("evidence") or "declared",
                                       className=f"badge ev-{e.get('evidence') or 'declared'}")),
                     html.Td(_confidence(e.get("confidence"))), html.Td("yes" if e.get("primary") else "")])
            for e in edges]
    return html.Table([head, *body], className="grid")


def _styles(labels: list[dict] | None, tags: list[str] | None, edge_set: str = "declared") -> html.Div:
    shown = "all" if edge_set == "all" else None
    if labels is None:
        parts: list[Any] = [html.Span(t, className="chip") for t in (tags or [])]
        if not parts:
            parts = [html.Span("no style tags", className="muted")]
        cmd = "archivist analyze" + (" --edges all" if shown else "")
        return html.Div(parts + [html.Div(with_code("style labels (inherited, bled, novel): not computed yet; run "
                                                    f"`{cmd}`"), className="small muted")])
    if not labels:
        return html.Div("no style term of the lexicon or tags in this prompt", className="muted")
    tips = {"inherited": "its parent has it too", "reused": "new here, but used before on this path or in "
            "this tree", "bled": "new here and taken from another tree", "novel": "never used anywhere before"}
    chips = []
    for l in labels:
        body: list[Any] = [l["style"], html.Small(f" {l['label']}")]
        if l["label"] == "bled" and l.get("source_root"):
            body += [html.Small(" from "), dcc.Link("tree", href=explore_href(l["source_root"], edges=shown),
                                                    title=l["source_root"])]
        chips.append(html.Span(body, className=f"chip st-{l['label']}", title=tips.get(l["label"], "")))
    return html.Div(chips)


def _media(record: dict | None) -> Any:
    media = (record or {}).get("media") or []
    if not media:
        return html.Span("no media link recorded", className="muted")
    items = []
    for m in media:
        url = m.get("url") or ""
        safe = url.startswith(("http://", "https://"))
        desc = ", ".join(str(x) for x in (m.get("mime"), m.get("duration_s") and f"{m['duration_s']} s",
                                          m.get("width") and f"{m['width']}×{m.get('height')}") if x)
        items.append(html.Li([html.A(url, href=url, target="_blank", rel="noopener noreferrer nofollow")
                              if safe else html.Span(url, className="mono"),
                              html.Span(f" ({desc})" if desc else "", className="muted")]))
    return html.Ul(items, className="media")


def _provenance(record: dict | None) -> html.Table:
    rec = record or {}
    prov = rec.get("provenance") or {}
    c2pa = prov.get("c2pa") or {}
    consent = rec.get("consent") or {}
    rows = [("source", rec.get("source")), ("fetched", rec.get("fetched_at")), ("license", rec.get("license")),
            ("AI generated", prov.get("ai_generated")), ("generator", prov.get("generator")),
            ("remix allowed", consent.get("remix_allowed")), ("consent revoked", consent.get("revoked"))]
    if c2pa:
        rows += [("C2PA manifest", c2pa.get("manifest") or c2pa.get("label")),
                 ("C2PA validation", c2pa.get("validation_state")),
                 ("C2PA actions", ", ".join(map(str, c2pa.get("actions") or [])) or None)]
    return kv_table([(k, v) for k, v in rows if v is not None])


def _picture(p: dict) -> html.Div:
    """The post's thumbnail beside its parent's, with the visual drift between them."""
    figs = [html.Figure([html.Img(src=p["src"], className="thumb", alt="this post"),
                         html.Figcaption("this post")])]
    if p.get("parent_src"):
        figs.insert(0, html.Figure([html.Img(src=p["parent_src"], className="thumb", alt="its parent"),
                                    html.Figcaption("its parent")]))
    drift = p.get("visual_drift")
    cap = ("visual drift from its parent: " + _fmt(drift) + " (0 = the same picture, 1 = unrelated)"
           if drift is not None else "no picture of its parent to compare")
    return html.Div([html.Div(figs, className="pictures"), html.Div(cap, className="muted small visual-drift")],
                    className="picture-block")


def node_panel(node: dict, *, root: str, parent: dict | None, diff: list | None, blame: list[dict] | None,
               drift: dict | None, edges: list[dict], record: dict | None, path: list[dict],
               styles: list[dict] | None, as_of: str | None = None, picture: dict | None = None,
               edge_set: str = "declared") -> html.Div:
    """Everything about one post: prompt, diff against its parent, blame, styles, metrics,
    provenance, edge evidence, media and the path to the root. Its links keep the view's
    ``edge_set`` (``"all"``: inferred links shown)."""
    pid = node["id"]
    shown = "all" if edge_set == "all" else None
    ph = bool(node.get("placeholder"))
    sections: list[Any] = [
        html.H3(["Post ", html.Span(pid, className="mono")], className="node-title"),
        # each text from the record in its own bidi isolate: an author ending in a RIGHT-TO-LEFT
        # OVERRIDE must not reverse the date and generation drawn after it
        html.Div([html.Span(["by ", html.Bdi(node.get("author") or "unknown")]),
                  html.Span(f" · {str(node.get('created_at') or '')[:16].replace('T', ' ')}"),
                  html.Span(f" · generation {node['depth']}"),
                  " · ", dcc.Link("link to this view", href=explore_href(root, pid, as_of=as_of, edges=shown))],
                 className="muted small"),
        html.H4("Prompt"), prompt_text(node.get("text"), placeholder=ph),
    ]
    if picture:
        sections += [html.H4("Picture"), _picture(picture)]
    if parent is None:
        sections += [html.H4("Changes from its parent"), note("This is the root: it has no parent.")]
    else:
        sections += [html.H4(["Changes from its parent ", html.Span(parent["id"], className="mono small")]),
                     diff_view(diff)]
    sections += [html.H4("Blame: which generation brought each word"), blame_view(blame or []),
                 blame_legend([w["generation"] for w in blame or []])]
    sections += [html.H4("Styles"), _styles(styles, node.get("style_tags"), edge_set)]
    metrics = [("views", node.get("views")), ("likes", node.get("likes")), ("remixes", node.get("remixes")),
               ("comments", node.get("comments"))]
    if drift:
        metrics += [("drift from parent", _fmt(drift.get("edge_drift"))),
                    ("drift from root", _fmt(drift.get("root_drift"))),
                    ("path drift (sum of steps)", _fmt(drift.get("path_drift"))),
                    ("directness", _fmt(drift.get("directness")))]
    else:
        metrics.append(("drift", "not computed"))
    sections += [html.H4("Metrics"), kv_table([(k, _fmt(v) if not isinstance(v, str) else v) for k, v in metrics])]
    sections += [html.H4("Lineage evidence"), _evidence_rows(edges)]
    sections += [html.H4("Provenance"), _provenance(record), html.H4("Media"), _media(record)]
    sections += [html.H4(f"Path from the root ({len(path) - 1} step(s))"), path_list(path, root=root, as_of=as_of, edges=edge_set)]
    return html.Div(sections, className="node-panel", id="node-panel-body")


def compare_panel(a: dict, b: dict, diff: list | None) -> html.Div:
    """Two posts side by side with the word diff from the first to the second."""
    cols = []
    for label, n in (("selected", a), ("compared", b)):
        cols.append(html.Div([html.H4([f"{label}: ", html.Span(n["id"], className="mono small")]),
                              html.Div(f"generation {n['depth']}", className="muted small"),
                              prompt_text(n.get("text"), placeholder=bool(n.get("placeholder")))],
                             className="compare-col"))
    body: list[Any] = [html.Div(cols, className="compare")]
    if diff is not None:
        body += [html.H4("From selected to compared"), diff_view(diff)]
    return html.Div(body, className="compare-panel")


def search_results(hits: list[dict], *, as_of: str | None = None, edges: str = "declared") -> html.Div:
    """Search hits as links into the explorer (keeping the view's edge set)."""
    if not hits:
        return html.Div("no post matches", className="muted small")
    shown = "all" if edges == "all" else None
    return html.Ul([html.Li([dcc.Link(h["id"], href=explore_href(h["root"], h["id"], as_of=as_of, edges=shown),
                                      className="mono"),
                             html.Span(f" gen {h['depth']} · tree of {h['tree_size']}", className="muted small"),
                             html.Div(h["text"][:140] + ("…" if len(h["text"]) > 140 else ""), className="small")])
                    for h in hits], className="hits")
