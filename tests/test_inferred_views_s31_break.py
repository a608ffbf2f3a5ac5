"""Inferred links where a break session found them misread (session 31): the explorer's style labels
on the graph with inferred links, the archive report before `analyze --edges all`, a tree whose every
link is inferred, and an archive `archivist infer` never ran on.

One small archive (:func:`records`): a declared tree (``d:a`` and its child ``d:b``, which bring the
styles ``neon`` and ``cinematic`` into the archive) and two posts with no stated parent, ``j:p`` and
``j:c``, where ``j:c`` rewrites three words of ``j:p`` an hour later: ``archivist infer`` links them.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from archive.ingest import ingest_records
from archive.store import Archive
from lineage.infer import infer, inferred_edges
from lineage.report import report_data

BASE = "a corgi surfing a giant wave on a wooden board near the old pier"


def records() -> list[dict]:
    return [
        {"id": "d:a", "source": "d", "created_at": "2026-04-01T10:00:00Z",
         "prompt": "a lighthouse in a storm painted in thick oil, neon, cinematic"},
        {"id": "d:b", "source": "d", "created_at": "2026-04-01T12:00:00Z",
         "prompt": "a lighthouse in a storm painted in thin oil, neon, cinematic", "parents": ["d:a"]},
        {"id": "j:p", "source": "j", "created_at": "2026-04-02T10:00:00Z", "author": "kim",
         "prompt": BASE + ", neon, cinematic"},
        {"id": "j:c", "source": "j", "created_at": "2026-04-02T11:00:00Z", "author": "kim",
         "prompt": BASE + " under a stormy sky, neon, cinematic"},
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("s31") / "archive"
    a = Archive.open(path, create=True)
    ingest_records(a, records(), source="jsonl")
    infer(a)
    assert inferred_edges(a).select("child", "parent").rows() == [("j:c", "j:p")]
    return path


@pytest.fixture(scope="module")
def never(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("s31n") / "archive"
    ingest_records(Archive.open(path, create=True), records(), source="jsonl")
    return path


def test_the_explorer_labels_styles_on_the_graph_it_shows(store):
    """With inferred links shown, a style the inferred parent has is inherited, not bled from another tree."""
    from dashboard.measures import post_style_labels

    a = Archive.open(store)
    declared = {l["style"]: l["label"] for l in post_style_labels(a, "j:c")}
    shown = {l["style"]: l["label"] for l in post_style_labels(a, "j:c", edges="all")}
    assert declared == {"neon": "bled", "cinematic": "bled"}  # j:c starts a tree of its own there
    assert shown == {"neon": "inherited", "cinematic": "inherited"}
    # j:p itself is a root in both graphs: its styles came from the declared tree of d:a
    assert {l["label"] for l in post_style_labels(a, "j:p", edges="all")} == {"bled"}


def test_a_bled_style_links_to_its_tree_with_inferred_links_kept(store):
    from dashboard.measures import post_style_labels
    from dashboard.panels import _styles

    a = Archive.open(store)
    hrefs = [c.href for c in _iter(_styles(post_style_labels(a, "j:p", edges="all"), None, "all"))
             if hasattr(c, "href")]
    assert hrefs and all("edges=all" in h for h in hrefs), hrefs
    hrefs = [c.href for c in _iter(_styles(post_style_labels(a, "j:p"), None)) if hasattr(c, "href")]
    assert hrefs and not any("edges=all" in h for h in hrefs), hrefs


def _iter(component):
    yield component
    kids = getattr(component, "children", None)
    for k in kids if isinstance(kids, (list, tuple)) else [kids]:
        if k is not None and not isinstance(k, str):
            yield from _iter(k)


def test_the_archive_report_says_it_holds_inferred_links_before_any_analysis(store):
    """`report --edges all` draws the graph with inferred links before `analyze --edges all` ran: it must say so."""
    d = report_data(Archive.open(store), edges="all")
    assert d.title.endswith("(lineage partly inferred)"), d.title
    assert d.sentences[0].startswith("Lineage partly inferred: this report includes 1 inferred link,"), d.sentences
    assert "2 remix trees" in d.sentences[1]  # d:a's and j:p's: the graph with the inferred link
    declared = report_data(Archive.open(store))
    assert "3 remix trees" in declared.sentences[0] and "inferred" not in declared.title


def test_a_tree_whose_every_link_is_inferred_is_not_called_partly_inferred(store):
    a = Archive.open(store)
    d = report_data(a, "j:c", edges="all")
    assert d.title.endswith("(lineage inferred)") and d.sentences[0].startswith("Lineage inferred: "), d.title
    mixed = report_data(a, "d:b", edges="all")  # declared links only: no label at all
    assert "inferred" not in mixed.title


def test_a_report_with_inferred_links_where_infer_never_ran_says_so(never):
    d = report_data(Archive.open(never), edges="all")
    assert d.missing[0].startswith("inferred links: `archivist infer` never ran on this archive"), d.missing
    assert "never ran" not in " ".join(report_data(Archive.open(never)).missing)


def test_the_dashboard_says_when_infer_never_ran(never, store):
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    from dashboard.app import create_app

    for path, said in ((never, True), (store, False)):
        app = create_app(path)
        with app.server.app_context():
            overview = importlib.import_module("dashboard.pages.overview")
            explore = importlib.import_module("dashboard.pages.explore")
            a = Archive.open(path)
            cards = " ".join(str(c) for c in overview.link_cards(a))
            assert ("archivist infer has not run" in cards) is said, cards
            context_value.set(AttributeDict(triggered_inputs=[]))
            _, caption, _ = explore.draw_tree({"root": "d:a", "edges": "all"})
            text = " ".join(str(c) for c in caption)
            assert ("has not run on this archive" in text) is said, text
            assert ("No inferred links in this tree" in text) is (not said), text  # d:a's tree has none
            _, caption, _ = explore.draw_tree({"root": "j:p", "edges": "all"})
            assert ("No inferred links" in " ".join(str(c) for c in caption)) is said


def test_a_stale_archive_report_says_so_before_its_figures(store, tmp_path):
    """The archive report's first lines told the new figures of the archive and then the old analysis's
    measures, its staleness said only in the list of what was not measured, a page further down."""
    import shutil

    from archive.ingest import ingest_records
    from lineage.analyze import analyze

    a = Archive.open(shutil.copytree(store, tmp_path / "copy"))  # the module's archive stays as it is
    analyze(a, edges="all", n_boot=5)
    ingest_records(a, [{"id": "j:late", "source": "j", "created_at": "2026-04-03T10:00:00Z",
                        "prompt": "a brand new idea about kites"}], source="jsonl")
    d = report_data(a, edges="all")
    stale = [i for i, x in enumerate(d.sentences) if "from the analysis of store version" in x]
    assert stale == [2], d.sentences  # after the banner and the archive's counts, before any measure
    assert "5 posts" in d.sentences[1]


def test_inferred_links_older_than_the_posts_say_so(store, tmp_path):
    """After an ingest without a new `archivist infer`, a new tree's caption said "archivist infer found
    none for its posts" (it never looked at them) and the report named no gap."""
    import shutil

    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    from archive.ingest import ingest_records
    from dashboard.app import create_app

    path = shutil.copytree(store, tmp_path / "copy")
    ingest_records(Archive.open(path), [{"id": "j:new", "source": "j", "created_at": "2026-04-05T10:00:00Z",
                                         "prompt": BASE + " at night, neon, cinematic"}], source="jsonl")
    d = report_data(Archive.open(path), edges="all")
    assert d.missing[0].startswith("inferred links of every post: `archivist infer` last ran on store version 1: 1 "
                                   "post ingested or changed since has not been looked at"), d.missing
    app = create_app(path)
    with app.server.app_context():
        explore = importlib.import_module("dashboard.pages.explore")
        context_value.set(AttributeDict(triggered_inputs=[]))
        _, caption, _ = explore.draw_tree({"root": "j:new", "edges": "all"})
        text = " ".join(str(c) for c in caption)
        assert "last ran on store version" in text and "found none" not in text, text
    infer(Archive.open(path))
    assert not any("ingested or changed since" in m for m in report_data(Archive.open(path), edges="all").missing)


def test_the_markdown_report_shows_its_commands_as_code_and_a_record_s_text_as_text(never):
    """Its own commands printed as literal backticks (\\`archivist infer\\`); a record's markup stays escaped."""
    from lineage.report import render
    from lineage.report.markdown import _md_code

    md = render(report_data(Archive.open(never), edges="all"), "md").decode()
    assert "- inferred links: `archivist infer` never ran on this archive" in md
    assert "\\`" not in md.split("## How to read it")[0]
    assert "No decay figure" in md  # never analysed: the heading is not left empty
    assert _md_code("a `<img src=x>` and `ok`") == "a \\`&lt;img src=x>\\` and `ok`"
    assert _md_code("odd ` one") == "odd \\` one"


def test_the_gap_is_still_told_after_a_redaction_and_after_a_limited_run(store, tmp_path):
    """A redaction rewrites the store's history, so the posts of the version infer ran on could not be read
    and the notice went silent (the explorer then said infer "found none" for posts it never looked at);
    a run limited by --source left the other sources' posts unexamined without a word."""
    import shutil

    from archive.ingest import ingest_records
    from archive.redact import redact
    from lineage.infer import inferred_gap

    path = shutil.copytree(store, tmp_path / "copy")
    a = Archive.open(path)
    ingest_records(a, [{"id": "j:new", "source": "j", "created_at": "2026-04-05T10:00:00Z",
                        "prompt": BASE + " at night, neon, cinematic"}], source="jsonl")
    redact(a, "d:b", reason="asked by its author")
    gap = inferred_gap(Archive.open(path))
    assert gap is not None and "1 post ingested or changed since" in gap, gap
    infer(a)
    assert inferred_gap(Archive.open(path)) is None  # every post looked at: nothing to say
    infer(a, source="d")
    gap = inferred_gap(Archive.open(path))
    assert gap is not None and "limited to one source or to recent posts" in gap, gap
