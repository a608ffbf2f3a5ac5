"""Text from records, shown beside other text without being able to reorder it.

Records keep bidi control characters verbatim (an author may really write right to left).
Where that text is drawn inline next to other text, an unterminated embedding, override or
isolate (Unicode Bidirectional Algorithm, UAX #9, rules X1-X8: U+202A-U+202E, U+2066-U+2069)
would reorder everything after it up to the end of the paragraph: an author ``mallory\\u202e``
makes a byline read ``by mallory weiv siht ot knil``. Where the output has an isolate
(HTML ``<bdi>``, CSS ``unicode-bidi: isolate``) use it; where it has none (SVG text in
plotly labels, Markdown, a terminal), show the controls visibly with :func:`show_bidi`.
"""
from __future__ import annotations

import html

__all__ = ["BIDI_CONTROLS", "has_bidi", "show_bidi", "bdi_html"]

#: code point -> its visible form, for every explicit embedding, override and isolate control
BIDI_CONTROLS: dict[int, str] = {c: f"⟨U+{c:04X}⟩" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def has_bidi(s: str) -> bool:
    """Whether ``s`` holds an explicit bidi control.

    >>> has_bidi("mallory\\u202e"), has_bidi("שלום")
    (True, False)
    """
    return any(ord(ch) in BIDI_CONTROLS for ch in s)


def show_bidi(s: str) -> str:
    """``s`` with each explicit bidi control replaced by its visible name (right-to-left letters untouched).

    >>> show_bidi("\\u202enimda\\u202c")
    '⟨U+202E⟩nimda⟨U+202C⟩'
    """
    return s.translate(BIDI_CONTROLS)


def bdi_html(s: str) -> str:
    """``s`` escaped for HTML and, when it holds a bidi control, wrapped in a ``<bdi>`` isolate.

    >>> bdi_html("<b>x</b>"), bdi_html("mallory\\u202e")
    ('&lt;b&gt;x&lt;/b&gt;', '<bdi>mallory\\u202e</bdi>')
    """
    e = html.escape(s)
    return f"<bdi>{e}</bdi>" if has_bidi(s) else e
