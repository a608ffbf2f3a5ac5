"""Prompts as Dash components: plain text, word diff, blame. Never HTML.

Every word is the ``children`` string of an ``html.Span``: React renders it as
text, so a prompt holding ``<script>`` shows those characters and runs nothing.
"""
from __future__ import annotations

from dash import html

from lineage.syntax import format_weight

__all__ = ["GEN_COLOURS", "prompt_text", "diff_view", "blame_view", "generation_colour", "blame_legend"]

# one color per generation that introduced a word (cycled past the end); light enough to read text on
GEN_COLOURS = ["#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#ccebc5", "#fee391", "#a1d99b",
               "#bcbddc", "#fdae6b", "#9ecae1", "#f4cae4"]


def generation_colour(generation: int) -> str:
    """Background color for words introduced at ``generation`` (0 = the root)."""
    return GEN_COLOURS[generation % len(GEN_COLOURS)]


def prompt_text(text: str | None, *, placeholder: bool = False) -> html.Div:
    """A prompt as a text block (whitespace kept, no markup)."""
    if placeholder:
        return html.Div("(this post is not in the archive: only its id is known)", className="prompt muted")
    return html.Div(text or "(no prompt or title)", className="prompt")


def _weight_tag(text: str, tip: str) -> html.Sup:
    return html.Sup(text, className="w-weight", title=tip)


def diff_view(ops: list[tuple]) -> html.Div:
    """A word diff: ``ops`` is ``[(op, word)]`` with op ``equal``, ``added`` or ``removed``, or
    ``[(op, word, old_weight, new_weight)]`` (``lineage.drift.token_diff(..., weights=True)``) where
    op may also be ``reweighted``.

    Added words are green and underlined, removed words red and struck through; a word whose
    emphasis weight changed carries ``old→new``, any other weight other than 1 is shown after its word.
    """
    if not ops:
        return html.Div("(both prompts are empty)", className="diff muted")
    spans: list = []
    for item in ops:
        op, word = item[0], item[1]
        old_w, new_w = (item[2], item[3]) if len(item) >= 4 else (None, None)
        cls = {"added": "w-add", "removed": "w-del", "reweighted": "w-rew"}.get(op, "w-eq")
        title = {"added": "added in this remix", "removed": "removed in this remix",
                 "reweighted": f"emphasis weight {format_weight(old_w)} → {format_weight(new_w)} in this remix"}.get(op)
        spans.append(html.Span(word, className=cls, title=title) if title else html.Span(word, className=cls))
        if op == "reweighted":
            spans.append(_weight_tag(f"{format_weight(old_w)}→{format_weight(new_w)}", title or ""))
        else:
            w = old_w if op == "removed" else new_w
            if w is not None and w != 1.0:
                spans.append(_weight_tag(format_weight(w), f"emphasis weight {format_weight(w)}"))
        spans.append(" ")
    n_add = sum(1 for it in ops if it[0] == "added")
    n_del = sum(1 for it in ops if it[0] == "removed")
    n_rew = sum(1 for it in ops if it[0] == "reweighted")
    summary = f"{n_add} word(s) added, {n_del} removed" + (f", {n_rew} reweighted" if n_rew else "")
    return html.Div([html.Div(spans, className="diff"), html.Div(summary, className="small muted")])


def blame_view(words: list[dict]) -> html.Div:
    """Each word colored by the generation that introduced it.

    ``words`` items have ``word``, ``generation`` (depth of the introducing node),
    ``node`` (its id) and optionally ``reintroduced`` (bool) and ``weight`` (emphasis weight,
    shown after the word when it is not 1).
    """
    if not words:
        return html.Div("(no words)", className="blame muted")
    spans: list = []
    for w in words:
        gen = int(w.get("generation") or 0)
        weight = w.get("weight")
        tip = f"introduced at generation {gen} by {w.get('node')}" + (
            " (reintroduced: it had been removed higher up)" if w.get("reintroduced") else "") + (
            f"; emphasis weight {format_weight(weight)}" if weight is not None and weight != 1.0 else "")
        spans.append(html.Span(w["word"], className="w-blame" + (" w-reintro" if w.get("reintroduced") else ""),
                               title=tip, style={"backgroundColor": generation_colour(gen)}))
        if weight is not None and weight != 1.0:
            spans.append(_weight_tag(format_weight(weight), tip))
        spans.append(" ")
    return html.Div(spans, className="blame")


def blame_legend(generations: list[int]) -> html.Div:
    """Legend chips: which color is which generation."""
    return html.Div([html.Span(f"gen {g}" if g else "root", className="chip",
                               style={"backgroundColor": generation_colour(g)}) for g in sorted(set(generations))],
                    className="legend")
