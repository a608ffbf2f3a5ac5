"""Overview: counts, ingest runs, largest and most active trees, quarantine, archive growth."""
from __future__ import annotations

from datetime import timedelta

import dash
import polars as pl
from dash import Input, Output, callback, dcc, html, no_update

from dashboard.data import archive
from dashboard.figures import growth_figure, tree_sizes_figure
from dashboard.measures import stale_notes
from dashboard.pagecache import cached_page
from dashboard.panels import explore_href, note
from dashboard.tables import frame_table, tree_link

dash.register_page(__name__, path="/", name="Overview", order=0, title="Overview · Remix Archivist")


def most_active(trees: pl.DataFrame, lineage: pl.DataFrame, *, days: int = 14, limit: int = 10) -> pl.DataFrame:
    """Trees with the most new posts in the last ``days`` before the archive's newest post."""
    created = lineage.drop_nulls("created_at")
    if created.height == 0:
        return trees.head(0).with_columns(recent=pl.lit(0, dtype=pl.UInt32))
    end = created.get_column("created_at").max()
    recent = (created.filter(pl.col("created_at") > end - timedelta(days=days))
              .group_by("root").agg(recent=pl.len()))
    return (trees.join(recent, on="root", how="inner")
            .sort(["recent", "size", "root"], descending=[True, True, False]).head(limit))


def lineage_notes(trees: pl.DataFrame, lineage: pl.DataFrame, problems: pl.DataFrame, *, limit: int = 10
                  ) -> pl.DataFrame:
    """``root, size, note``: trees that hang from a placeholder (a root never archived), cycles cut and posts
    naming themselves as their parent (the link ignored), largest first."""
    ph = (trees.filter(pl.col("root_placeholder").fill_null(False))
          .select("root", "size", note=pl.lit("hangs from a post that is not in the archive (never archived or "
                                              "deleted): its children are kept as one tree")))
    cuts = (problems.filter(pl.col("kind").is_in(["cycle", "self_loop"]))
            .join(lineage.select("id", "root"), on="id", how="left")
            .join(trees.select("root", "size"), on="root", how="left")
            .select("root", "size", note=pl.when(pl.col("kind") == "cycle").then(pl.format("cycle cut: {}", "detail"))
                    .otherwise(pl.format("self-remix: {}", "detail"))))
    return (pl.concat([ph, cuts], how="vertical_relaxed").sort(["size", "root"], descending=[True, False])
            .head(limit))


def card(value: str, label: str, href: str | None = None) -> html.Div:
    body = [html.Div(value, className="figure"), html.Div(label, className="label")]
    return html.Div(dcc.Link(body, href=href) if href else body, className="card")


def link_counts(arc) -> dict[str, int]:
    """Remix links by evidence: ``declared`` (and any other stated kind: a record's own ``inferred`` parent
    too), ``c2pa``, ``inferred`` (the links of ``archivist infer`` in force)."""
    from archive.export import made_by_infer

    stated = arc.edges()
    got = dict(stated.group_by("evidence").len().rows()) if stated.height else {}
    c2pa = int(got.pop("c2pa", 0))
    # without inferred links the declared edges are all of them (no second lineage built and kept)
    inferred = made_by_infer(arc, arc.edges(edges="all")).height if arc.table_version("inferred_edges") >= 0 else 0
    return {"declared": int(sum(got.values())), "c2pa": c2pa, "inferred": inferred}


def link_cards(arc, n: dict[str, int] | None = None) -> list[html.Div]:
    """Three cards: declared, C2PA and inferred links (inferred ones open the explorer with them shown)."""
    n = n or link_counts(arc)
    ran = arc.table_version("inferred_edges") >= 0  # 0 links found, or never looked: not the same news
    return [card(f"{n['declared']:,}", "declared remix links"), card(f"{n['c2pa']:,}", "C2PA links"),
            card(f"{n['inferred']:,}", "inferred links (archivist infer)", "/explore?edges=all") if ran
            else card("–", "inferred links: archivist infer has not run on this archive")]


@cached_page("overview", ("runs", "quarantine", "inferred_edges"), title="Overview")
def layout(**_: str) -> html.Div:
    arc = archive()
    s = arc.stats()
    trees = arc.trees()
    lin = arc.lineage()
    cols = ["root", "size", "depth", "breadth", "last_at", "views", "root_text"]
    heads = {"root": "tree (root post)", "last_at": "last remix", "root_text": "root prompt", "recent": "new posts"}
    link = {"root": lambda r: tree_link(r["root"])}
    active = most_active(trees, lin)
    notes = lineage_notes(trees, lin, arc.problems())
    n = link_counts(arc)
    cards = link_cards(arc, n)
    # the tree figures are of the stated links: beside a count of inferred ones, say so
    of = " (declared links)" if n["inferred"] else ""
    runs = arc.runs().head(5).select("started_at", "source", "target", "status", "read", "stored", "unchanged",
                                     "quarantined")
    return html.Div([
        html.H1("Overview"),
        html.P(f"What the archive holds right now (store version {s['version']}; reload the page to see new "
               "ingests). Click a tree to explore it.", className="lead"),
        *[note(t) for t in stale_notes(arc, analysis=False, newer=False)],
        html.Div([
            card(f"{s['posts']:,}", "posts"),
            card(f"{s['trees']:,}", "remix trees" + of, "/explore"),
            *cards,
            card(f"{s['max_depth']:,}", "longest chain (generations)" + of),
            card(f"{s['largest_tree']:,}", "posts in the largest tree" + of),
            card(f"{s['placeholders']:,}", "parents not in the archive"),
            card(f"{s['runs']:,}", "ingest runs", "/archive"),
            card(f"{s['quarantined']:,}", "records in quarantine", "/archive"),
        ], className="cards"),
        html.Div([dcc.Graph(figure=growth_figure(arc.posts()), config={"displaylogo": False}),
                  dcc.Graph(id="overview-trees", figure=tree_sizes_figure(trees), config={"displaylogo": False})],
                 className="two"),
        dcc.Location(id="overview-go", refresh=True),
        html.Div([
            html.Div([html.H2("Largest trees"),
                      frame_table(trees.head(10).select(cols), headers=heads, cells=link, width=70)],
                     className="card-block"),
            html.Div([html.H2("Most active trees (new posts in the last 14 days of the archive)"),
                      frame_table(active.select(["root", "recent", "size", "last_at", "root_text"]), headers=heads,
                                  cells=link, width=70)], className="card-block"),
        ], className="two"),
        *([html.Div([html.H2("Lineage notes (measures on these trees are flagged)"),
                     frame_table(notes, headers={"root": "tree (root post)"}, cells=link, width=140)],
                    className="card-block")] if notes.height else []),
        html.Div([html.H2("Latest ingest runs"), frame_table(runs, headers={"started_at": "started"}, width=60),
                  dcc.Link("all runs and the quarantine →", href="/archive")], className="card-block"),
    ])


@callback(Output("overview-go", "href"), Input("overview-trees", "clickData"), prevent_initial_call=True)
def open_tree(click):
    """A click on a tree's point opens it in the explorer."""
    pts = (click or {}).get("points") or []
    return explore_href(pts[0]["customdata"]) if pts else no_update
