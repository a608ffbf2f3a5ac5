"""Lineage explorer: find a tree, draw it, click a post to see how it changed.

URL state: ``/explore?root=…&node=…&compare=…&depth=…&size=…&as_of=YYYY-MM-DD&collapsed=a,b&expanded=c``.
The page writes its state back to the address bar (history.replaceState), so the
URL can be copied and shared at any time.
"""
from __future__ import annotations

from typing import Any

import dash
import polars as pl
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from archive.store import nearest_ids
from dashboard import measures
from archive.store import Tree
from dashboard.data import (NotFoundError, archive, first_value, inferred_why, memo, node_record, parse_as_of,
                            search_posts, tree_of, views)
from dashboard.figures import empty_figure, tree_figure
from dashboard.panels import compare_panel, explore_href, node_panel, note, search_results, with_code
from dashboard.thumbs import hover_picture, picture_facts, thumb_url, thumbnails

dash.register_page(__name__, path="/explore", name="Explorer", order=1, title="Explorer · Remix Archivist")

AUTO_DRAW = 1500  # default depth keeps at most this many posts drawn
SIZE_CHOICES = [{"label": "views", "value": "views"}, {"label": "likes", "value": "likes"},
                {"label": "remixes", "value": "remixes"}]


def _list(v: Any) -> list[str]:
    v = first_value(v)
    return [x for x in (v or "").split(",") if x] if isinstance(v, str) else []


def _int(v: Any) -> int | None:
    v = first_value(v)
    try:
        return int(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def auto_depth(depth_counts: list[tuple[int, int]], *, budget: int = AUTO_DRAW) -> int:
    """The deepest generation limit that keeps at most ``budget`` posts drawn (at least 1).

    ``depth_counts`` is ``[(generation below the root, posts)]``.

    >>> auto_depth([(0, 1), (1, 10), (2, 100), (3, 5000)], budget=200)
    2
    """
    total, best = 0, 1
    for d, c in sorted(depth_counts):
        total += c
        if total > budget:
            break
        best = max(d, 1)
    return best


def depth_range(arc, root: str | None, as_of: str | None, edges: str = "declared") -> tuple[int, int]:
    """``(automatic depth, deepest generation)`` of a tree."""
    lin = views(arc, as_of, edges).lineage
    hit = lin.filter(pl.col("id") == root)
    root = hit.get_column("root")[0] if hit.height else root
    counts = (lin.filter(pl.col("root") == root).group_by("depth").len().sort("depth")
              .rows())
    return auto_depth(counts), max(1, max([d for d, _ in counts] or [1]))


def node_depth(arc, node: str | None, as_of: str | None, edges: str = "declared") -> int:
    """The generation of ``node`` in its tree with that edge set (0 when it is not in the archive)."""
    hit = views(arc, as_of, edges).lineage.filter(pl.col("id") == node) if node else None
    return int(hit.get_column("depth")[0] or 0) if hit is not None and hit.height else 0


def _depth(arc, root: str | None, as_of: str | None, asked: int | None, edges: str = "declared") -> int:
    if not root:
        return 1
    auto, deepest = depth_range(arc, root, as_of, edges)
    return auto if asked is None else min(max(1, asked), deepest)


def initial_state(arc, query: dict) -> dict:
    """The explorer state a URL asks for, completed with defaults (largest tree, its root)."""
    as_of = parse_as_of(query.get("as_of"))
    root = first_value(query.get("root"))
    node = first_value(query.get("node"))
    edges = "all" if first_value(query.get("edges")) == "all" else "declared"
    vw = views(arc, as_of, edges)  # with inferred links, trees (and so roots) are those of that graph
    lin = vw.lineage
    if node and not root:
        hit = lin.filter(pl.col("id") == node)
        root = hit.get_column("root")[0] if hit.height else None
    if root:
        hit = lin.filter(pl.col("id") == root)
        root = hit.get_column("root")[0] if hit.height else root
    if not root:
        root = _largest_tree(arc, vw, edges)
    size = first_value(query.get("size"))
    depth = _int(query.get("depth"))
    return {
        "root": root, "node": node or root, "compare": first_value(query.get("compare")),
        "depth": _depth(arc, root, as_of, depth, edges),
        "size": size if size in ("views", "likes", "remixes") else "views",
        "as_of": as_of, "collapsed": _list(query.get("collapsed")), "expanded": _list(query.get("expanded")),
        "edges": edges,
    }


def _largest_tree(arc, vw, edges: str) -> str | None:
    """The tree a bare explorer URL opens: the largest one; with inferred links shown, the largest one
    that holds an inferred link (the overview's "inferred links" card opens it), else the largest."""
    if not vw.trees.height:
        return None
    if edges == "all":
        from archive.export import made_by_infer

        kids = made_by_infer(arc, vw.edges).select(id="child")
        roots = vw.lineage.join(kids, on="id", how="semi").get_column("root").unique()
        held = vw.trees.filter(pl.col("root").is_in(roots.implode()))
        if held.height:
            return held.get_column("root")[0]
    return vw.trees.get_column("root")[0]


def root_in(arc, post: str | None, as_of: str | None, edges: str) -> str | None:
    """The root of the tree ``post`` is in with that edge set (``None`` when it is not in the archive)."""
    hit = views(arc, as_of, edges).lineage.filter(pl.col("id") == post) if post else None
    return hit.get_column("root")[0] if hit is not None and hit.height else None


def state_href(state: dict) -> str:
    """The URL of an explorer state."""
    return explore_href(state.get("root"), state.get("node"), compare=state.get("compare"),
                        depth=state.get("depth"), size=None if state.get("size") == "views" else state.get("size"),
                        as_of=state.get("as_of"), collapsed=",".join(state.get("collapsed") or []),
                        expanded=",".join(state.get("expanded") or []),
                        edges="all" if state.get("edges") == "all" else None)


def tree_options(arc, as_of: str | None, keep: str | None = None, limit: int = 300,
                 edges: str = "declared") -> list[dict]:
    """Dropdown entries for the biggest trees (plus ``keep``, when it is smaller), of that edge set."""
    trees = views(arc, as_of, edges).trees
    t = trees.head(limit)
    if keep and keep not in set(t.get_column("root").to_list()):
        t = pl.concat([t, trees.filter(pl.col("root") == keep)])
    return [{"label": f"{r['size']:,} posts · " + (r["root_text"][:70] if not r["root_placeholder"] and r["root_text"]
                                                   else f"root not in the archive ({r['root']})"),
             "value": r["root"]} for r in t.iter_rows(named=True)]


def layout(**query: Any) -> html.Div:
    arc = archive()
    state = initial_state(arc, query)
    root = state["root"]
    if root is None:
        return html.Div([html.H1("Explorer"), note("The archive is empty: ingest something first.")])
    history = views(arc).posts.get_column("created_at").drop_nulls()
    return html.Div([
        html.H1("Lineage explorer"),
        html.P("Pick a tree (or search for words of a prompt), then click a post to see its prompt, what it "
               "changed from its parent and which generation brought each word. Colour = how far the prompt "
               "has drifted from the root's; size = engagement. Drag to pan, scroll to zoom.",
               className="lead"),
        dcc.Store(id="explore-state", data=state),
        dcc.Store(id="explore-folded", data=[]),  # ids of drawn posts with hidden remixes
        dcc.Store(id="explore-url-sink"),
        html.Div([
            html.Div([
                html.Label("Find a post or tree (id or words of a prompt)", htmlFor="explore-search"),
                dcc.Input(id="explore-search", type="search", debounce=True, placeholder="e.g. corgi surfing",
                          className="input"),
                html.Div(id="explore-hits"),
                html.Label("Tree", htmlFor="explore-tree"),
                dcc.Dropdown(id="explore-tree", options=tree_options(arc, state["as_of"], keep=root,
                                                                     edges=state["edges"]),
                             value=root, clearable=False),
                html.Label("Generations drawn below the root"),
                dcc.Slider(id="explore-depth", min=1, max=depth_range(arc, root, state["as_of"], state["edges"])[1],
                           step=1,
                           value=state["depth"], marks=None, tooltip={"placement": "bottom", "always_visible": True}),
                html.Label("Marker size"),
                dcc.RadioItems(id="explore-size", options=SIZE_CHOICES, value=state["size"], inline=True),
                dcc.Checklist(id="explore-edges", options=[{"label": " show inferred links (dashed)",
                                                             "value": "all"}],
                              value=["all"] if state["edges"] == "all" else [], inline=True),
                html.Label("As of (leave empty for now)"),
                dcc.DatePickerSingle(id="explore-asof", date=state["as_of"], display_format="YYYY-MM-DD",
                                     min_date_allowed=str(history.min())[:10] if history.len() else None,
                                     max_date_allowed=str(history.max())[:10] if history.len() else None,
                                     clearable=True, placeholder="now"),
                html.Label("A click on a post…"),
                dcc.RadioItems(id="explore-pick", options=[{"label": "selects it", "value": "node"},
                                                           {"label": "compares it", "value": "compare"}],
                               value="node", inline=True),
                html.Div([html.Button("Collapse / expand the selected post", id="explore-toggle",
                                      className="button"),
                          html.Button("Reset view", id="explore-reset", className="button secondary")],
                         className="buttons"),
                html.Div([html.Span("Share this view: "), html.A(id="explore-share", href=state_href(state),
                                                                   children="link", className="mono small")],
                         className="small"),
            ], className="controls"),
            html.Div([
                html.Div(id="explore-caption", className="caption"),
                dcc.Tooltip(id="explore-tooltip", direction="right"),
                dcc.Loading(dcc.Graph(id="explore-graph", figure=empty_figure("drawing the tree…"),
                                      config={"displaylogo": False, "scrollZoom": True,
                                              "modeBarButtonsToRemove": ["select2d", "lasso2d"]},
                                      className="tree-graph"), delay_show=300),
                html.Div(id="explore-compare"),
            ], className="main-col"),
            html.Div(id="explore-node", className="side-col"),
        ], className="explore-grid"),
    ])


def next_state(state: dict, trigger: str | None, *, tree: str | None = None, depth: int | None = None,
               size: str | None = None, as_of: str | None = None, click: dict | None = None,
               pick: str = "node", folded: frozenset[str] | set[str] = frozenset(),
               edges: list | None = None) -> dict:
    """The explorer state after one user action (pure, so it is tested without a browser).

    ``folded`` are the drawn posts with hidden remixes (``explore-folded``, written with the
    figure): a click on one opens one more level. State is read from data, never from the
    hover text a person reads (a prompt saying "hidden" is just a prompt).
    """
    s = dict(state)
    if trigger == "explore-tree" and tree and tree != s.get("root"):
        s.update(root=tree, node=tree, compare=None, collapsed=[], expanded=[], depth=None)
    elif trigger == "explore-depth" and depth is not None:
        s.update(depth=int(depth), expanded=[])
    elif trigger == "explore-size" and size:
        s["size"] = size
    elif trigger == "explore-asof":
        s["as_of"] = parse_as_of(as_of)
    elif trigger == "explore-edges":
        # another edge set is another tree: its depth is chosen again (the old one could fold the post read)
        s.update(edges="all" if "all" in (edges or []) else "declared", depth=None)
    elif trigger == "explore-graph" and click:
        points = click.get("points") or []
        pid = points[0].get("customdata") if points else None
        if isinstance(pid, list):
            pid = pid[0] if pid else None
        if pid:
            if pick == "compare" and pid != s.get("node"):
                s["compare"] = pid
            else:
                s["node"] = pid
                if pid in folded:  # a folded post: open one more level
                    s["expanded"] = sorted(set(s.get("expanded") or []) | {pid})
                    s["collapsed"] = [c for c in s.get("collapsed") or [] if c != pid]
    elif trigger == "explore-toggle" and s.get("node"):
        pid = s["node"]
        col, exp = set(s.get("collapsed") or []), set(s.get("expanded") or [])
        if pid in col:
            col.discard(pid)
            exp.add(pid)
        elif pid in exp:
            exp.discard(pid)
            col.add(pid)
        else:
            col.add(pid)
        s.update(collapsed=sorted(col), expanded=sorted(exp))
    elif trigger == "explore-reset":
        s.update(node=s.get("root"), compare=None, collapsed=[], expanded=[], depth=None)
    return s


@callback(
    Output("explore-state", "data"),
    Output("explore-depth", "value"),
    Output("explore-depth", "max"),
    Output("explore-tree", "options"),
    Output("explore-tree", "value"),
    Input("explore-tree", "value"),
    Input("explore-depth", "value"),
    Input("explore-size", "value"),
    Input("explore-asof", "date"),
    Input("explore-graph", "clickData"),
    Input("explore-toggle", "n_clicks"),
    Input("explore-reset", "n_clicks"),
    Input("explore-edges", "value"),
    State("explore-state", "data"),
    State("explore-pick", "value"),
    State("explore-folded", "data"),
    prevent_initial_call=True,  # the page's layout already holds the state its URL asked for
)
def on_action(tree, depth, size, as_of, click, _toggle, _reset, edges, state, pick, folded):
    """Apply a user action to the state; fill in the automatic depth when a tree is (re)opened."""
    state = state or {}
    s = next_state(state, ctx.triggered_id, tree=tree, depth=depth, size=size, as_of=as_of, click=click,
                   pick=pick or "node", folded=frozenset(folded or ()), edges=edges)
    if s == state:
        return no_update, no_update, no_update, no_update, no_update
    mode = s.get("edges") or "declared"
    relinked = s.get("edges") != state.get("edges")
    if relinked:  # the post read stays: its tree is the one it is in with the other links
        s["root"] = root_in(archive(), s.get("node"), s.get("as_of"), mode) or s.get("root")
    auto, deepest = depth_range(archive(), s.get("root"), s.get("as_of"), mode)
    if s.get("depth") is None:  # deep enough to draw the selected post (the slider can fold it again)
        s["depth"] = min(deepest, max(auto, node_depth(archive(), s.get("node"), s.get("as_of"), mode)))
    retreed = relinked or s.get("as_of") != state.get("as_of")  # the list of trees (and their sizes) changed
    return (s, s["depth"] if s["depth"] != depth else no_update,
            deepest if s.get("root") != state.get("root") or s.get("as_of") != state.get("as_of")
            or relinked else no_update,
            tree_options(archive(), s.get("as_of"), keep=s.get("root"), edges=mode) if retreed else no_update,
            s.get("root") if s.get("root") != tree else no_update)


def _dropped_why(arc, as_of: str | None, post: str, reasons: pl.DataFrame) -> pl.DataFrame:
    """``id, why`` for ``post`` when readers left its inferred link out (``inferred_dropped``: with a
    declared parent created after its child, the guess would close a loop), else no row."""
    from archive.shorten import cut, one_line
    from lineage.bidi import show_bidi

    drop = arc.problems(as_of, edges="all").filter(pl.col("kind") == "inferred_dropped", pl.col("id") == post)
    link = reasons.filter(~pl.col("cut"), pl.col("id") == post).get_column("why")
    if not drop.height:
        return pl.DataFrame(schema={"id": pl.String, "why": pl.String})
    parent = show_bidi(cut(one_line(drop.get_column("parent")[0]), 80))
    how = f" ({link[0].removeprefix('inferred, ')})" if link.len() else ""
    return pl.DataFrame({"id": [post], "why": [f"no inferred parent: the inferred link to {parent}{how} is left out, "
                                               "as it would close a loop with declared links (declared links win)"]})


def tree_and_drift(arc, root: str, as_of: str | None, edges: str = "declared"):
    """The tree and its node drift, memoised per store version (a click redraws without re-measuring).

    With ``edges="all"`` inferred links join the tree; their posts carry a ``why`` sentence.
    """
    vw = views(arc, as_of, edges)

    def load():
        tree = tree_of(vw, root)
        if edges == "all":
            inferred = tree.edges.filter(pl.col("evidence") == "inferred").select(pl.col("child").alias("id"))
            reasons = inferred_why(arc, tree.nodes.get_column("id"))  # the sentences of this tree's posts only
            why = pl.concat([inferred.join(reasons.filter(~pl.col("cut")).select("id", "why"), on="id", how="left"),
                             # the root: a post whose inferred link the tree check cut says so
                             reasons.filter(pl.col("cut"), pl.col("id") == tree.root).select("id", "why"),
                             # ... and one whose inferred link readers left out (it closed a loop)
                             _dropped_why(arc, as_of, tree.root, reasons)])
            tree = Tree(root=tree.root, nodes=tree.nodes.join(why, on="id", how="left", maintain_order="left"),
                        edges=tree.edges)
        analysed = None if as_of else memo(("analysed_drift", vw.version), lambda: measures.analysed_drift(arc))
        return tree, measures.tree_drift(tree, analysed)

    key = ("tree", vw.version, root, as_of) if edges != "all" else (
        "tree", vw.version, root, as_of, edges, arc.table_version("inferred_edges"), arc.table_version("inferred_cut"))
    return memo(key, load)


@callback(
    Output("explore-graph", "figure"),
    Output("explore-caption", "children"),
    Output("explore-folded", "data"),
    Input("explore-state", "data"),
)
def draw_tree(state):
    """Draw the tree the state names (the timed path: one tree read, its drift, one figure);
    also the ids of the drawn posts with hidden remixes, which a click opens."""
    if not state or not state.get("root"):
        return empty_figure("no tree selected"), "", []
    try:
        tree, drift = tree_and_drift(archive(), state["root"], state.get("as_of"), state.get("edges") or "declared")
    except NotFoundError:
        when = f" as of {state['as_of']}" if state.get("as_of") else ""
        near = nearest_ids(views(archive(), state.get("as_of")).lineage.get_column("id"), state["root"])
        return (empty_figure(f"{state['root']} did not exist yet on {state['as_of']}" if when
                             else f"No post with the id {state['root']} in this archive"),
                note("Search for it by words of its prompt or its author in the box on the left, or pick a tree "
                     "from the list" + (" or a later date" if when else "")
                     + (f". Close ids: {', '.join(near)}" if near else "") + "."), [])
    fig = tree_figure(tree.nodes, root=tree.root, drift=drift, size_by=state.get("size") or "views",
                      max_depth=state.get("depth"), collapsed=set(state.get("collapsed") or []),
                      expanded=set(state.get("expanded") or []), selected=state.get("node"),
                      compare=state.get("compare"),
                      pictures=_picture_urls(archive(), tree.nodes.get_column("id").to_list()))
    meta = fig.layout.meta or {}
    caption = [html.Strong(f"{tree.nodes.height:,} posts"),
               f" in this tree; {meta.get('drawn', 0):,} drawn"
               + (f", {meta.get('hidden'):,} folded under ◇ posts (click one to open it, or raise the "
                  "generations slider)" if meta.get("hidden") else "")
               + (f"; as of {state['as_of']}" if state.get("as_of") else "") + "."]
    caption += [html.Div(n, className="note") for n in lineage_notes(archive(), tree, state.get("as_of"))]
    if state.get("edges") == "all":
        caption += [html.Div(n, className="note") for n in _inferred_notes(archive(), tree)]
    return fig, caption, meta.get("folded") or []


def _inferred_notes(arc, tree) -> list[Any]:
    """With inferred links shown: why none are drawn, when ``archivist infer`` never ran or left this tree none."""
    if arc.table_version("inferred_edges") < 0:
        return [with_code("No inferred links to show: `archivist infer` has not run on this archive.")]
    from archive.export import made_by_infer
    from lineage.infer import inferred_gap

    gap = memo(("inferred_gap", arc.view_version(), arc.table_version("inferred_edges")), lambda: inferred_gap(arc))
    if gap is not None:
        return [with_code(gap[0].upper() + gap[1:] + ".")]
    if not made_by_infer(arc, tree.edges).height:
        return ["No inferred links in this tree: archivist infer found none for its posts."]
    return []


def lineage_notes(arc, tree, as_of: str | None = None) -> list[str]:
    """What a reader of this tree's measures must know: a placeholder root, cycles cut in its declared links,
    a post that names itself as its parent."""
    out = []
    root = tree.nodes.filter(pl.col("id") == tree.root)
    if root.height and bool(root.get_column("placeholder").fill_null(False).any()):
        out.append(f"This tree hangs from {tree.root}, a post that is not in the archive (never archived or "
                   "deleted): its children are kept together under it, and its measures are flagged.")
    broken = (arc.problems(as_of).filter(pl.col("kind").is_in(["cycle", "self_loop"]))
              .join(tree.nodes.select("id"), on="id", how="semi"))
    if "in_cycle" in tree.nodes.columns and bool(tree.nodes.get_column("in_cycle").any()):
        out += [f"Cycle cut: {d}" for d in broken.filter(kind="cycle").get_column("detail").to_list()]
    out += [f"Self-remix: {i} lists itself as its parent; that link is ignored."
            for i in broken.filter(kind="self_loop").get_column("id").to_list()]
    return out


def path_to_root(nodes: pl.DataFrame, post_id: str) -> pl.DataFrame:
    """The rows of ``nodes`` from the root down to ``post_id`` (primary parents)."""
    parent_of = dict(zip(nodes.get_column("id").to_list(), nodes.get_column("parent").to_list()))
    path = [post_id]
    while (p := parent_of.get(path[-1])) is not None and p in parent_of and len(path) <= len(parent_of):
        path.append(p)
    order = pl.DataFrame({"id": path[::-1], "_k": list(range(len(path)))})
    return order.join(nodes, on="id", how="left").sort("_k").drop("_k")


def _thumbs(arc) -> dict[str, str]:
    return memo(("thumbnails", arc.version(), arc.table_version("media_nodes")), lambda: thumbnails(arc))


def _picture_urls(arc, ids: list[str]) -> dict[str, str]:
    """Post id -> thumbnail URL for the posts of ``ids`` that have a picture (the tree's picture markers)."""
    th = _thumbs(arc)
    return {i: thumb_url(th[i]) for i in ids if i in th} if th else {}


@callback(Output("explore-tooltip", "show"), Output("explore-tooltip", "bbox"), Output("explore-tooltip", "children"),
          Input("explore-graph", "hoverData"))
def hover_thumbnail(hover):
    """On hover over a post with a picture: its thumbnail beside the pointer."""
    points = (hover or {}).get("points") or []
    pid = points[0].get("customdata") if points else None
    if isinstance(pid, list):
        pid = pid[0] if pid else None
    shown = hover_picture(pid, _thumbs(archive())) if isinstance(pid, str) else None
    if shown is None:
        return False, no_update, no_update
    return True, points[0].get("bbox"), shown


def _node_dict(nodes: pl.DataFrame, pid: str | None) -> dict | None:
    if not pid:
        return None
    row = nodes.filter(pl.col("id") == pid)
    return row.row(0, named=True) if row.height else None


@callback(
    Output("explore-node", "children"),
    Output("explore-compare", "children"),
    Input("explore-state", "data"),
)
def show_node(state):
    """The side panel of the selected post and, when one is set, the comparison."""
    if not state or not state.get("root"):
        return note("Pick a tree."), None
    arc = archive()
    as_of = state.get("as_of")
    try:
        tree, drift_frame = tree_and_drift(arc, state["root"], as_of, state.get("edges") or "declared")
    except NotFoundError:
        return note("This tree did not exist yet at that date."), None
    nodes = tree.nodes
    node = _node_dict(nodes, state.get("node")) or _node_dict(nodes, tree.root)
    parent = _node_dict(nodes, node.get("parent"))
    anc = path_to_root(nodes, node["id"])
    path = anc.select("id", "depth", "text", "placeholder").to_dicts()
    row = drift_frame.filter(pl.col("id") == node["id"])
    panel = node_panel(
        node, root=tree.root, parent=parent,
        diff=measures.diff_words(parent["text"], node["text"]) if parent else None,
        blame=measures.blame_words(anc.select("id", "depth", "text")),
        drift=row.row(0, named=True) if row.height else None,
        edges=(tree.edges.filter(pl.col("child") == node["id"]).sort("rank")
               .with_columns(primary=pl.col("parent").eq_missing(pl.lit(node.get("parent"), dtype=pl.String)))
               .to_dicts()),
        record=None if node.get("placeholder") else node_record(arc, node["id"], as_of),
        path=path, styles=measures.post_style_labels(arc, node["id"], as_of=as_of, edges=state.get("edges") or "declared"),
        as_of=as_of,
        picture=picture_facts(arc, node["id"], node.get("parent"), _thumbs(arc)),
        edge_set=state.get("edges") or "declared")
    if node.get("why"):  # an inferred link: say why, above the panel
        panel = html.Div([html.P(node["why"], id="explore-why", className="why"), panel])
    other = _node_dict(nodes, state.get("compare"))
    comp = None
    if other is not None:
        comp = html.Div([html.H3("Side by side"),
                         compare_panel(node, other, measures.diff_words(node["text"], other["text"]))],
                        className="card-block")
    return panel, comp


@callback(Output("explore-hits", "children"), Input("explore-search", "value"), State("explore-state", "data"))
def search(query, state):
    """Posts matching the search box, as links into the explorer."""
    if not query or not query.strip():
        return None
    as_of = (state or {}).get("as_of")
    edges = (state or {}).get("edges") or "declared"
    hits = search_posts(archive(), query, as_of=as_of, limit=12, edges=edges)
    return search_results(hits.to_dicts(), as_of=as_of, edges=edges)


@callback(Output("explore-share", "href"), Input("explore-state", "data"))
def share_link(state):
    """The shareable URL of the current view."""
    return state_href(state or {})


clientside_callback(
    """
    function(href) {
        if (href && window.location.pathname + window.location.search !== href) {
            window.history.replaceState(window.history.state, "", href);
        }
        return href;
    }
    """,
    Output("explore-url-sink", "data"),
    Input("explore-share", "href"),
)
