"""Prompt syntax of real generators: emphasis weights, resource tags, negative prompts, parameters.

Real text-to-image prompts carry more than words. This module reads the syntax so the
measures count only the words, and keeps the rest apart:

- **emphasis** (Stable Diffusion / AUTOMATIC1111): ``(word)`` x1.1, ``((word))`` x1.21,
  ``(word:1.3)`` x1.3, ``[word]`` /1.1, ``{word}`` x1.05 (NovelAI); ``[a|b]`` (alternation) and
  ``[a:b:0.5]``, ``[a:0.5]``, ``[a::0.5]`` (prompt editing) keep their words at weight 1.
  The numbers are not words, so a weight-only change is a *weight edit*, not drift.
- **resources**: ``<lora:name:0.8>``, ``<lyco:name:0.6>``, ``<hypernet:name:1>``,
  ``<embedding:name>`` and ComfyUI's ``embedding:name`` become resources (kind, name, weight),
  not words; :func:`lineage.styles.styles_frame` counts them as style signals.
- **negative prompt**: an A1111 ``Negative prompt:`` line, Midjourney's ``--no a, b``, or a
  record's ``negative_prompt`` field or ``extra`` key (Civitai: ``extra.meta.negativePrompt``)
  is kept apart: never drift text.
- **parameters**: A1111's ``Steps: 30, Sampler: …`` line, Midjourney's ``--ar 16:9 --v 6``
  tail, image URLs at the start of a Midjourney prompt, and ``BREAK`` (a clause break).

:func:`strip_syntax_expr` is the polars expression the tokeniser (:mod:`lineage.text`) runs
before splitting words; :func:`weighted_segments` is the parser behind per-token weights.
Sources: the AUTOMATIC1111 wiki "Features" page (attention/emphasis, prompt editing,
alternating words, BREAK), Midjourney's parameter list and multi-prompt ``::`` weights.

Examples
--------
>>> split_prompt("a castle, (oil painting:1.2) <lora:add_detail:0.8>\\nNegative prompt: blurry\\nSteps: 30").negative
'blurry'
>>> prompt_resources("<lora:add_detail:0.8>, embedding:EasyNegative")
[{'kind': 'lora', 'name': 'add_detail', 'weight': 0.8}, {'kind': 'embedding', 'name': 'easynegative', 'weight': None}]
>>> weighted_segments("a ((cat)), [dog], (fox:1.3)")
[('a ', 1.0), ('cat', 1.21), (', ', 1.0), ('dog', 0.9091), (', ', 1.0), ('fox', 1.3)]
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, NamedTuple

import polars as pl

__all__ = ["SYNTAX_HINT", "PromptParts", "split_prompt", "strip_syntax_expr", "strip_syntax", "prompt_resources",
           "weighted_segments", "negative_prompt", "RESOURCE_KINDS", "format_weight"]

#: Rows matching this may hold prompt syntax (others skip the stripping: plain prose is the common case).
SYNTAX_HINT = r"[<:\[\]{}()]|--|BREAK|https?://|(?i:negative prompt)|(?i:steps:)"

#: Resource tag kinds as written -> the kind recorded.
RESOURCE_KINDS = {"lora": "lora", "lyco": "lyco", "lycoris": "lyco", "locon": "lyco", "loha": "lyco",
                  "hypernet": "hypernet", "hypernetwork": "hypernet", "embedding": "embedding", "ti": "embedding",
                  "textual_inversion": "embedding", "lcm": "lora"}

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
# (?s) with a leading line break: the A1111 infotext layout (prompt, "Negative prompt:" line, settings line)
_NEG_LINE = r"(?is)(?:^|[\r\n])[ \t]*negative[ _]prompt[ \t]*:.*$"
_STEPS_LINE = r"(?s)(?:^|[\r\n])[ \t]*Steps:[ \t]*\d+(?:,|[ \t]*$|[ \t]*[\r\n]).*$"
_MJ_PARAMS = r"(?is)(?:^|\s)--[a-z].*$"  # Midjourney parameters always come last
_TAG_BODY = r"<[ \t]*[a-z_]+[ \t]*:[^<>\n]*>"
_TAG = r"(?i)" + _TAG_BODY
_COMFY_EMB = r"(?i)\bembedding:[\w.\-]+"
_URL_BODY = r"\bhttps?://\S+"
_URL = r"(?i)" + _URL_BODY
_MJ_WEIGHT = r"::[ \t]*(?:" + _NUM + r")?"
_WEIGHT = r":[ \t]*" + _NUM + r"[ \t]*([)\]])"

_TAG_RE = re.compile(r"<\s*([A-Za-z_]+)\s*:\s*([^:<>\n]+?)\s*(?::\s*(" + _NUM + r"))?(?::[^<>\n]*)?>")
_COMFY_RE = re.compile(r"\bembedding:([\w.\-]+)", re.IGNORECASE)
_BRACKET = re.compile(r"\\.|[()\[\]{}]", re.DOTALL)
_NUM_END = re.compile(r":\s*(" + _NUM + r")\s*$")


class PromptParts(NamedTuple):
    """A prompt split into what is drift text and what is not."""

    positive: str
    negative: str | None
    parameters: str | None


def _col(col: str | pl.Expr) -> pl.Expr:
    return pl.col(col) if isinstance(col, str) else col


def strip_syntax_expr(col: str | pl.Expr) -> pl.Expr:
    """The words-only text of a prompt column: syntax removed, words kept (null stays null).

    Removes the negative prompt and settings lines, Midjourney parameters and ``::`` weights,
    resource tags, ComfyUI ``embedding:`` names, URLs and emphasis weights; ``BREAK`` becomes
    a clause break (``,``). Brackets stay (they are punctuation to the tokeniser).

    >>> pl.select(strip_syntax_expr(pl.lit("🐶 in space, (oil painting:1.5) <lora:x:0.8> --ar 16:9"))).item()
    '🐶 in space, (oil painting )  '
    """
    c = _col(col)
    stripped = (
        c.str.replace(_NEG_LINE, "")
        .str.replace(_STEPS_LINE, "")
        .str.replace(_MJ_PARAMS, "")
        .str.replace_all(_TAG, " ")
        .str.replace_all(_COMFY_EMB, " ")
        .str.replace_all(_URL, " ")
        .str.replace_all(_MJ_WEIGHT, ", ")
        .str.replace_all(_WEIGHT, " $1")
        .str.replace_all(r"\bBREAK\b", ",")
    )
    return pl.when(c.str.contains(SYNTAX_HINT)).then(stripped).otherwise(c)


def strip_syntax(text: str | None) -> str:
    """:func:`strip_syntax_expr` on one string.

    >>> strip_syntax("[cat|dog], [day:night:0.5]")
    '[cat|dog], [day:night ]'
    """
    return pl.select(strip_syntax_expr(pl.lit(text or "", dtype=pl.String))).item()


def _split_mj(tail: str) -> tuple[str | None, str | None]:
    """``(negative, other parameters)`` of a Midjourney ``--param`` tail."""
    neg: list[str] = []
    rest: list[str] = []
    for part in re.split(r"(?:^|\s)(?=--[A-Za-z])", tail):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"--no\s+(.*)$", part, re.IGNORECASE | re.DOTALL)
        if m:
            neg.append(m.group(1).strip())
        else:
            rest.append(part)
    return (", ".join(neg) or None), (" ".join(rest) or None)


def split_prompt(text: str | None) -> PromptParts:
    """``(positive, negative, parameters)`` of a prompt as generators write it.

    A1111 infotext (``Negative prompt:`` line, then ``Steps: …``), and Midjourney's trailing
    ``--no …`` and ``--ar …`` parameters. ``positive`` still holds emphasis and tags
    (see :func:`strip_syntax`); ``negative`` and ``parameters`` are ``None`` when absent.

    >>> split_prompt("a cat --ar 16:9 --no dogs, text --v 6")
    PromptParts(positive='a cat', negative='dogs, text', parameters='--ar 16:9 --v 6')
    >>> split_prompt("a fox\\nNegative prompt: lowres, (worst quality:1.4)\\nSteps: 20, Sampler: Euler a")
    PromptParts(positive='a fox', negative='lowres, (worst quality:1.4)', parameters='Steps: 20, Sampler: Euler a')
    >>> split_prompt(None)
    PromptParts(positive='', negative=None, parameters=None)
    """
    s = text or ""
    negative: str | None = None
    params: list[str] = []
    m = None if "Steps:" not in s else re.search(r"(?:^|[\r\n])[ \t]*Steps:[ \t]*\d+(?:,|[ \t]*$|[ \t]*[\r\n])", s)
    if m:
        params.append(s[m.start():].strip())
        s = s[:m.start()]
    m = None if "prompt" not in s.lower() else re.search(r"(?:^|[\r\n])[ \t]*negative[ _]prompt[ \t]*:", s,
                                                         re.IGNORECASE)
    if m:
        negative = s[m.end():].strip() or None
        s = s[:m.start()]
    m = None if "--" not in s else re.search(r"(?:^|\s)--[A-Za-z]", s)
    if m:
        neg, rest = _split_mj(s[m.start():])
        negative = ", ".join(x for x in (negative, neg) if x) or None
        if rest:
            params.insert(0, rest)
        s = s[:m.start()]
    return PromptParts(s.strip(), negative, "\n".join(params) or None)


def _number(s: str | None) -> float | None:
    try:
        return float(s) if s is not None else None
    except ValueError:
        return None


def prompt_resources(text: str | None) -> list[dict[str, Any]]:
    """Resource tags of a prompt, in order: ``{kind, name, weight}`` (name NFKC + case folded).

    >>> prompt_resources("<LyCORIS:film_grain:0.5> <hypernet:anime:1> <lora:a:0.6:0.3> <b>")
    [{'kind': 'lyco', 'name': 'film_grain', 'weight': 0.5}, {'kind': 'hypernet', 'name': 'anime', 'weight': 1.0}, \
{'kind': 'lora', 'name': 'a', 'weight': 0.6}]
    """
    s = text or ""
    if "<" not in s and ":" not in s:
        return []
    out: list[dict[str, Any]] = []
    for m in _TAG_RE.finditer(s):
        kind = m.group(1).lower()
        out.append({"kind": RESOURCE_KINDS.get(kind, kind),
                    "name": unicodedata.normalize("NFKC", m.group(2)).casefold().strip(),
                    "weight": _number(m.group(3))})
    for m in _COMFY_RE.finditer(_TAG_RE.sub(" ", s)):
        out.append({"kind": "embedding", "name": unicodedata.normalize("NFKC", m.group(1)).casefold(),
                    "weight": None})
    return out


def _pairs(s: str) -> list[tuple[int, int, str]]:
    """Matching bracket pairs ``(open, close, char)``; escaped (``\\(``) and unmatched brackets are text."""
    close_of = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[int, str]] = []
    out: list[tuple[int, int, str]] = []
    for m in _BRACKET.finditer(s):
        ch, i = m.group(), m.start()
        if len(ch) == 2:  # an escaped character
            continue
        if ch in "([{":
            stack.append((i, ch))
            continue
        # an unmatched closer is text; a mismatched one closes nothing
        for k in range(len(stack) - 1, -1, -1):
            if stack[k][1] == close_of[ch]:
                out.append((stack[k][0], i, stack[k][1]))
                del stack[k:]
                break
    return out


def weighted_segments(text: str | None) -> list[tuple[str, float]]:
    """The words-only text of a prompt as ``(segment, weight)`` runs, in order (weights to 4 decimals).

    The weight of a run is the product of the emphasis around it (A1111 rules: ``(x)`` 1.1,
    ``(x:w)`` w, ``[x]`` 1/1.1, ``{x}`` 1.05; ``[a|b]`` and ``[a:b:s]`` 1). Negative prompt,
    parameters, resource tags and URLs are left out; tokenising the runs gives the same
    tokens as :func:`lineage.text.tokenize` of the whole prompt.

    >>> weighted_segments("[cat|dog] (a [b]:1.5)")
    [('cat|dog ', 1.0), ('a ', 1.5), ('b', 1.3636)]
    >>> weighted_segments("smile \\\\(happy\\\\)")
    [('smile \\\\(happy\\\\)', 1.0)]
    """
    s = split_prompt(text).positive
    if "<" in s:
        s = re.sub(_TAG_BODY, " ", s, flags=re.IGNORECASE)
    if ":" in s:
        s = _COMFY_RE.sub(" ", s)
        s = re.sub(_URL_BODY, " ", s, flags=re.IGNORECASE)
        s = re.sub(_MJ_WEIGHT, ", ", s)
    if "BREAK" in s:
        s = re.sub(r"\bBREAK\b", ",", s)
    pairs = _pairs(s)
    cuts: list[tuple[int, int]] = []  # spans left out: the brackets and the weight numbers
    events: list[tuple[int, int, float]] = []
    for o, c, ch in pairs:
        inner = s[o + 1:c]
        m = _NUM_END.search(inner)
        numbered = m is not None and _at_depth0(inner, m.start())
        if ch == "(":
            w = float(m.group(1)) if numbered and m is not None else 1.1
        elif ch == "[":
            depth0 = _depth0(inner)
            w = 1.0 if (":" in depth0 or "|" in depth0) else 1 / 1.1
            numbered = numbered and w == 1.0
        else:
            w, numbered = 1.05, False
        cuts += [(o, o + 1), (c, c + 1)]
        if numbered and m is not None:
            cuts.append((o + 1 + m.start(), c))
        events.append((o, c, w))
    cuts.sort()
    out: list[tuple[str, float]] = []
    pos = 0
    for a, b in cuts + [(len(s), len(s))]:
        if a > pos:  # a run of text between two cuts: one weight all along
            w = 1.0
            for o, c, pw in events:
                if o < pos and c >= a:
                    w *= pw
            out.append((s[pos:a], round(w, 4)))
        pos = max(pos, b)
    # brackets are gone: runs of the same weight are one run
    merged: list[tuple[str, float]] = []
    for seg, w in out:
        if merged and merged[-1][1] == w:
            merged[-1] = (merged[-1][0] + " " + seg if _joins(merged[-1][0], seg) else merged[-1][0] + seg, w)
        else:
            merged.append((seg, w))
    return [(seg, w) for seg, w in merged if seg]


def _joins(a: str, b: str) -> bool:
    """Two runs separated by a dropped bracket: keep a space so their words stay apart."""
    return bool(a) and bool(b) and not a[-1].isspace() and not b[0].isspace()


def _depth0(inner: str) -> str:
    """The characters of ``inner`` outside any nested bracket."""
    out = []
    d = 0
    esc = False
    for ch in inner:
        if esc:
            esc = False
            if d == 0:
                out.append(ch)
            continue
        if ch == "\\":
            esc = True
            continue
        if ch in "([{":
            d += 1
        elif ch in ")]}" and d > 0:
            d -= 1
        elif d == 0:
            out.append(ch)
    return "".join(out)


def _at_depth0(inner: str, pos: int) -> bool:
    d = 0
    for ch in inner[:pos]:
        if ch in "([{":
            d += 1
        elif ch in ")]}" and d > 0:
            d -= 1
    return d == 0


def format_weight(w: float | None) -> str:
    """A weight as people write it: ``1.2``, ``1``, ``0.91``.

    >>> format_weight(1.21), format_weight(1.0), format_weight(1 / 1.1)
    ('1.21', '1', '0.91')
    """
    if w is None:
        return "-"
    return f"{w:.2f}".rstrip("0").rstrip(".")


_NEG_KEYS = ("negative_prompt", "negativePrompt", "negative")


def negative_prompt(record: Mapping[str, Any]) -> str | None:
    """The negative prompt a record carries, wherever the source put it (else ``None``).

    Looks at the record's ``negative_prompt``, then ``extra.negative_prompt`` /
    ``extra.negativePrompt``, ``extra.meta.negativePrompt`` (Civitai), then the prompt's own
    ``Negative prompt:`` line or Midjourney ``--no``. Never part of the drift text.

    >>> negative_prompt({"prompt": "a cat", "extra": {"meta": {"negativePrompt": "blurry"}}})
    'blurry'
    >>> negative_prompt({"prompt": "a cat --no dogs"})
    'dogs'
    >>> negative_prompt({"prompt": "a cat"}) is None
    True
    """
    holders: list[Any] = [record]
    extra = record.get("extra")
    if isinstance(extra, Mapping):
        holders.append(extra)
        if isinstance(extra.get("meta"), Mapping):
            holders.append(extra["meta"])
            if isinstance(extra["meta"].get("meta"), Mapping):  # Civitai's {id, meta} wrapper
                holders.append(extra["meta"]["meta"])
    for h in holders:
        for k in _NEG_KEYS:
            v = h.get(k)
            if isinstance(v, str) and v.strip():
                return v.strip()
    prompt = record.get("prompt")
    return split_prompt(prompt).negative if isinstance(prompt, str) else None
