"""Prompts as Dash components: plain text, word diff, blame. Never HTML.

Every word is the ``children`` string of an ``html.Span``: React renders it as
text, so a prompt holding ``<script>`` shows those characters and runs nothing.
"""
from __future__ import annotations

from dash import html

__all__ = ["GEN_COLOURS", "prompt_text", "diff_view", "blame_view", "generation_colour", "blame_legend"]

# one colour per generation that introduced a word (cycled past the end); light enough to read text on
GEN_COLOURS = ["#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#ccebc5", "#fee391", "#a1d99b",
               "#bcbddc", "#fdae6b", "#9ecae1", "#f4cae4"]


def generation_colour(generation: int) -> str:
    """Background colour for words introduced at ``generation`` (0 = the root)."""
    return GEN_COLOURS[generation % len(GEN_COLOURS)]


def prompt_text(text: str | None, *, placeholder: bool = False) -> html.Div:
    """A prompt as a text block (whitespace kept, no markup)."""
    if placeholder:
        return html.Div("(this post is not in the archive: only its id is known)", className="prompt muted")
    return html.Div(text or "(no prompt or title)", className="prompt")


def diff_view(ops: list[tuple[str, str]]) -> html.Div:
    """A word diff: ``ops`` is ``[(op, word)]`` with op ``equal``, ``added`` or ``removed``.

    Added words are green and underlined, removed words red and struck through.
    """
    if not ops:
        return html.Div("(both prompts are empty)", className="diff muted")
    spans = []
    for op, word in ops:
        cls = {"added": "w-add", "removed": "w-del"}.get(op, "w-eq")
        title = {"added": "added in this remix", "removed": "removed in this remix"}.get(op)
        spans.append(html.Span(word, className=cls, title=title) if title else html.Span(word, className=cls))
        spans.append(" ")
    n_add = sum(1 for op, _ in ops if op == "added")
    n_del = sum(1 for op, _ in ops if op == "removed")
    return html.Div([html.Div(spans, className="diff"),
                     html.Div(f"{n_add} word(s) added, {n_del} removed", className="small muted")])


def blame_view(words: list[dict]) -> html.Div:
    """Each word coloured by the generation that introduced it.

    ``words`` items have ``word``, ``generation`` (depth of the introducing node),
    ``node`` (its id) and optionally ``reintroduced`` (bool).
    """
    if not words:
        return html.Div("(no words)", className="blame muted")
    spans = []
    for w in words:
        gen = int(w.get("generation") or 0)
        tip = f"introduced at generation {gen} by {w.get('node')}" + (
            " (reintroduced: it had been removed higher up)" if w.get("reintroduced") else "")
        spans.append(html.Span(w["word"], className="w-blame" + (" w-reintro" if w.get("reintroduced") else ""),
                               title=tip, style={"backgroundColor": generation_colour(gen)}))
        spans.append(" ")
    return html.Div(spans, className="blame")


def blame_legend(generations: list[int]) -> html.Div:
    """Legend chips: which colour is which generation."""
    return html.Div([html.Span(f"gen {g}" if g else "root", className="chip",
                               style={"backgroundColor": generation_colour(g)}) for g in sorted(set(generations))],
                    className="legend")
