"""Text normalization and tokenization: the words that every measure counts.

A prompt is normalized (Unicode NFKC, case folded, zero-width, bidi and other
format or control characters removed, other whitespace controls made spaces) and
split into word tokens in reading order. Scripts written without spaces
(Chinese, Japanese kana and kanji) give one token per character, so drift on a
Japanese prompt still means "how many characters changed", not "the whole
prompt is one word". Words keep inner apostrophes (``don't``); hyphens and other
punctuation separate words (``stop-motion`` -> ``stop``, ``motion``). An emoji is a
token of its own (a ZWJ sequence, flag, keycap or skin-tone form is one emoji), so
``🐱 -> 🐶`` is a change. Prompt syntax is not words (:mod:`lineage.syntax`): emphasis
weights (``(oil painting:1.2)``), resource tags (``<lora:name:0.8>``), a negative prompt,
Midjourney parameters are left out before splitting; :func:`weighted_tokens` gives each
token its emphasis weight.

Everything runs as polars expressions; :func:`tokenize` and :func:`normalize`
run the same expressions on one string, so Python callers and the vectorised
measures always agree. Plain ASCII rows take a faster path with the same result.

Examples
--------
>>> tokenize("A corgi, surfing — at NIGHT!")
['a', 'corgi', 'surfing', 'at', 'night']
>>> tokenize("柴犬が海で")
['柴', '犬', 'が', '海', 'で']
>>> normalize("Ｆｉｌｍ\u200b Noir")
'film noir'
>>> tokenize("🐱 astronaut, (oil painting:1.2) <lora:add_detail:0.8>")
['🐱', 'astronaut', 'oil', 'painting']
"""
from __future__ import annotations

import numpy as np
import polars as pl

from lineage.syntax import strip_syntax_expr, weighted_segments

__all__ = [
    "MAX_ALIGN_TOKENS",
    "BOUNDARY",
    "normalize",
    "tokenize",
    "normalize_expr",
    "tokens_expr",
    "tokens_series",
    "with_tokens",
    "token_codes",
    "code_strings",
    "text_index",
    "set_strings",
    "weighted_tokens",
    "weights_series",
]

#: Tokens of a prompt used for edit distance and blame alignment (the first ones).
#: Jaccard and style matching use every token; a 1 MB prompt stays fast this way.
MAX_ALIGN_TOKENS = 2000

# Characters of scripts written without spaces: one token each.
_CJK = (r"\x{3005}-\x{3007}\x{3040}-\x{30FF}\x{31F0}-\x{31FF}\x{3400}-\x{4DBF}"
        r"\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{2FFFF}")
_WORDCH = r"[[^\W_]--[" + _CJK + r"]]"
# an emoji: a flag (two regional indicators), a keycap, or a pictograph with its variation selector,
# skin tone and zero-width-joined followers (©, ® and ™ are not emoji here)
_PICTO = r"[\p{Extended_Pictographic}--[\x{A9}\x{AE}\x{2122}]][\x{FE0E}\x{FE0F}]?[\x{1F3FB}-\x{1F3FF}]?"
_EMOJI = r"[\x{1F1E6}-\x{1F1FF}]{2}|[#*0-9]\x{FE0F}?\x{20E3}|" + _PICTO + r"(?:\x{200D}" + _PICTO + r")*"
_ZWJ_KEEP = "\ue01f"  # a private-use stand-in for a zero-width joiner inside an emoji sequence
_ZWJ_PAIR = "(" + _PICTO + ")\u200d([\\p{Extended_Pictographic}--[\\x{A9}\\x{AE}\\x{2122}]])"
_TOKEN = _EMOJI + r"|[" + _CJK + r"]|" + _WORDCH + r"+(?:['’]" + _WORDCH + r"+)*"
_ASCII_TOKEN = r"[a-z0-9]+(?:'[a-z0-9]+)*"
_NOT_PRINTABLE_ASCII = r"[^\x20-\x7E]"
_BREAKS = r"[,;|!?、。]+"
# characters that NFKC, case folding and control removal leave as they are (apart from lower case and ß)
_NOT_NFKC_STABLE = (r"[^\x20-\x7E\xC0-\xFF\x{3001}\x{3002}\x{3041}-\x{3096}\x{309D}\x{309E}\x{30A0}-\x{30FE}"
                    r"\x{4E00}-\x{9FFF}]")
#: The token that marks a clause break in ``tokens_series(..., boundaries=True)``.
BOUNDARY = "\x1f"


def _col(col: str | pl.Expr) -> pl.Expr:
    return pl.col(col) if isinstance(col, str) else col


def normalize_expr(col: str | pl.Expr) -> pl.Expr:
    """The normalized text of a string column (null becomes ``""``).

    NFKC, case folding (Unicode lower case plus ``ß`` -> ``ss`` and final sigma),
    whitespace controls -> space, format/control characters (zero-width, bidi) removed,
    runs of spaces collapsed, ends stripped.

    >>> pl.select(normalize_expr(pl.lit("Straße\\t\u202eNOIR"))).item()
    'strasse noir'
    """
    return (
        _col(col).fill_null("")
        .str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all("ß", "ss", literal=True)
        .str.replace_all("ς", "σ", literal=True)
        .str.replace_all(r"[\t\n\r\x0B\x0C\x{85}\x{2028}\x{2029}]", " ")
        # a joiner between two emoji is part of one emoji (👨‍👩‍👧): kept; two passes reach every link
        .str.replace_all(_ZWJ_PAIR, "${1}" + _ZWJ_KEEP + "${2}")
        .str.replace_all(_ZWJ_PAIR, "${1}" + _ZWJ_KEEP + "${2}")
        .str.replace_all(r"[\p{Cc}\p{Cf}]", "")
        .str.replace_all(_ZWJ_KEEP, "\u200d", literal=True)
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def tokens_expr(col: str | pl.Expr) -> pl.Expr:
    """Word tokens (``list[str]``) of a string column: normalize, then split.

    >>> pl.select(tokens_expr(pl.lit("Don't STOP-motion 35mm"))).item().to_list()
    ["don't", 'stop', 'motion', '35mm']
    """
    return normalize_expr(strip_syntax_expr(_col(col))).str.extract_all(_TOKEN)


def tokens_series(texts: pl.Series, *, boundaries: bool = False, distinct: bool = False) -> pl.Series:
    """Tokens of every string in a series, with a fast path for plain ASCII rows.

    Same result as :func:`tokens_expr`, about twice as fast on English prompts.
    With ``boundaries=True`` a :data:`BOUNDARY` token marks each clause break
    (``, ; | ! ? 、 。``), so a phrase never spans two comma-separated parts.
    Each distinct text is tokenised once (``distinct=True``: the caller knows the texts are
    distinct, e.g. from :func:`text_index`, and the check is skipped).

    >>> tokens_series(pl.Series(["a Cat", "猫", None])).to_list()
    [['a', 'cat'], ['猫'], []]
    >>> [t if t != BOUNDARY else "|" for t in tokens_series(pl.Series(["anamorphic, lens flare"]), boundaries=True)[0]]
    ['anamorphic', '|', 'lens', 'flare']
    """
    texts = texts.cast(pl.String).fill_null("")
    if texts.len() > 1024 and not distinct:  # remixes share prompts: tokenise each distinct text once
        uniq, inverse = text_index(texts)
        if uniq.len() < 0.9 * texts.len():
            return _tokens(uniq, boundaries).gather(inverse).rename(texts.name)
    return _tokens(texts, boundaries).rename(texts.name)


def _tokens(texts: pl.Series, boundaries: bool) -> pl.Series:
    df = pl.DataFrame({"t": texts}).with_row_index("_r").with_columns(strip_syntax_expr("t"))
    kind = (pl.when(~pl.col("t").str.contains(_NOT_PRINTABLE_ASCII)).then(0)
            .when(~pl.col("t").str.contains(_NOT_NFKC_STABLE)).then(1).otherwise(2))
    df = df.with_columns(_k=kind)
    # 0: plain ASCII; 1: letters NFKC leaves alone (Latin-1, kana, CJK ideographs); 2: everything else
    texts_by_kind = [pl.col("t").str.to_lowercase(),
                     pl.col("t").str.to_lowercase().str.replace_all("ß", "ss", literal=True),
                     normalize_expr("t")]
    pats = [_ASCII_TOKEN, _TOKEN, _TOKEN]
    parts = []
    for k in range(3):
        t = texts_by_kind[k]
        pat = pats[k]
        if boundaries:
            t = t.str.replace_all(_BREAKS, " \x1f ")
            pat = pat + r"|\x1F"
        parts.append(df.lazy().filter(pl.col("_k") == k).select("_r", tok=t.str.extract_all(pat)))
    out = pl.concat(pl.collect_all(parts)).sort("_r").get_column("tok")  # the kinds run side by side
    return out.fill_null([]).cast(pl.List(pl.String))


def text_index(texts: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """``(distinct texts, row of each text among them)``: ``distinct.gather(rows)`` equals ``texts``.

    Null counts as ``""``. Measures that depend only on the text run once per distinct text.

    >>> u, i = text_index(pl.Series(["b", "a", "b", None]))
    >>> u.gather(i).to_list(), len(u)
    (['b', 'a', 'b', ''], 3)
    """
    t = pl.DataFrame({"t": texts.cast(pl.String).fill_null("")})
    uniq = t.unique(maintain_order=True).with_row_index("_u")
    idx = t.join(uniq, on="t", how="left", maintain_order="left").get_column("_u")
    return uniq.get_column("t").rename(texts.name), idx.cast(pl.Int64).to_numpy()


def with_tokens(frame: pl.DataFrame, text: str = "text", out: str = "tokens") -> pl.DataFrame:
    """``frame`` with a ``tokens`` column made from its ``text`` column.

    >>> with_tokens(pl.DataFrame({"text": ["Film Noir"]}))["tokens"].to_list()
    [['film', 'noir']]
    """
    return frame.with_columns(tokens_series(frame.get_column(text)).alias(out))


def normalize(text: str | None) -> str:
    """The normalized form of one string (see :func:`normalize_expr`).

    >>> normalize("  ＳＯＲＡ\\n remix ")
    'sora remix'
    """
    return pl.select(normalize_expr(pl.lit(text if text is not None else "", dtype=pl.String))).item()


def tokenize(text: str | None) -> list[str]:
    """The word tokens of one string, in order (CJK characters one token each).

    >>> tokenize("")
    []
    >>> tokenize("Un chat qui danse à Paris")
    ['un', 'chat', 'qui', 'danse', 'à', 'paris']
    """
    return tokens_series(pl.Series([text], dtype=pl.String)).item().to_list()


def token_codes(tokens: pl.Series) -> pl.Series:
    """Each token as a small integer code (``list[u32]``): equal tokens, equal codes (within a process).

    >>> c = token_codes(pl.Series([["a", "b"], ["b", "a", "a"], []])).to_list()
    >>> c[0] == [c[1][1], c[1][0]] and c[1][1] == c[1][2] and c[2] == []
    True
    """
    return tokens.cast(pl.List(pl.Categorical)).list.eval(pl.element().to_physical()).cast(pl.List(pl.UInt32))


def code_strings(codes: pl.Series, *, max_tokens: int | None = None) -> np.ndarray:
    """Each row of codes as a Python string with one character per token (object array).

    Edit distances and alignments then run on plain strings in C (rapidfuzz),
    with no per-token Python objects. Rows are cut to their first ``max_tokens``.

    >>> s = code_strings(token_codes(pl.Series([["a", "b", "a"], []])))
    >>> len(s[0]), s[0][0] == s[0][2], s[1]
    (3, True, '')
    """
    n = codes.len()
    lens = codes.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = codes.explode().drop_nulls().to_numpy().astype(np.int64)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lens)])
    if max_tokens is not None and (lens > max_tokens).any():
        pos = np.arange(flat.shape[0], dtype=np.int64) - np.repeat(starts[:-1], lens)
        flat = flat[pos < max_tokens]
        lens = np.minimum(lens, max_tokens)
        starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lens)])
    return _join_codes(flat, starts, n)


def set_strings(codes: pl.Series) -> np.ndarray:
    """Each row's *distinct* codes, sorted, as a string with one character per code (object array).

    For two such strings the longest common subsequence is the intersection of the sets,
    so set sizes and intersections come from rapidfuzz's Indel distance in C:
    ``|A ∩ B| = (|A| + |B| - indel(A, B)) / 2``.

    >>> s = set_strings(token_codes(pl.Series([["b", "a", "b"], [], ["a"]])))
    >>> len(s[0]), s[1], s[0][0] == s[2] or s[0][1] == s[2]
    (2, '', True)
    """
    n = codes.len()
    lens = codes.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = codes.explode().drop_nulls().to_numpy().astype(np.int64)
    if flat.size == 0:
        return _join_codes(flat, np.zeros(n + 1, dtype=np.int64), n)
    width = np.int64(flat.max()) + 1
    key = np.repeat(np.arange(n, dtype=np.int64), lens) * width + flat
    key.sort()
    keep = np.ones(key.shape[0], dtype=bool)
    keep[1:] = key[1:] != key[:-1]
    key = key[keep]
    lens = np.bincount(key // width, minlength=n)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lens)])
    return _join_codes(key % width, starts, n)


def _join_codes(flat: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Rows ``flat[starts[i]:starts[i+1]]`` of codes as strings, one character per code."""
    top = int(flat.max()) + 0x21 if flat.size else 0
    if top + 0x800 > 0x10FFFF:
        raise ValueError("more distinct tokens than Unicode code points")
    cp = flat.astype("<u4")
    cp += 0x21  # printable start; skip the surrogate block
    if top >= 0xD800:
        cp[cp >= 0xD800] += 0x800
    text = cp.tobytes().decode("utf-32-le")  # one C call for every row
    st = starts.tolist()
    out = np.empty(n, dtype=object)
    out[:] = [text[i:j] for i, j in zip(st[:-1], st[1:])]
    return out


def weighted_tokens(text: str | None) -> list[tuple[str, float]]:
    """The tokens of a prompt with their emphasis weight (A1111 rules, see :mod:`lineage.syntax`).

    The tokens are exactly :func:`tokenize`'s; a prompt with no emphasis gives weight 1 everywhere.

    >>> weighted_tokens("a ((cat)), (oil painting:1.2), [fog]")
    [('a', 1.0), ('cat', 1.21), ('oil', 1.2), ('painting', 1.2), ('fog', 0.9091)]
    """
    toks, weights = _weighted_batch([text or ""])[0]
    return list(zip(toks, weights))


def _weighted_batch(texts: list[str]) -> list[tuple[list[str], list[float]]]:
    """``(tokens, weights)`` of many texts with two tokeniser calls in all (segments, whole texts)."""
    segs = [weighted_segments(t) if any(c in t for c in "([{") else [(t, 1.0)] for t in texts]
    flat = [seg for ss in segs for seg, _ in ss]
    seg_tok = tokens_series(pl.Series(flat, dtype=pl.String)).to_list() if flat else []
    whole = tokens_series(pl.Series(texts, dtype=pl.String)).to_list() if texts else []
    out: list[tuple[list[str], list[float]]] = []
    k = 0
    for ss, plain in zip(segs, whole):
        toks: list[str] = []
        weights: list[float] = []
        for _, w in ss:
            toks += seg_tok[k]
            weights += [w] * len(seg_tok[k])
            k += 1
        # a bracket inside a word or an odd layout: weights unknown (1), words exactly tokenize's
        out.append((toks, weights) if toks == plain else (plain, [1.0] * len(plain)))
    return out


def weights_series(texts: pl.Series) -> pl.Series:
    """Emphasis weight of every token of every text (``list[f64]``), null where all weights are 1.

    Aligned with :func:`tokens_series` of the same texts. Only distinct texts holding brackets are parsed.

    >>> weights_series(pl.Series(["(cat:1.3) dog", "plain", None])).to_list()
    [[1.3, 1.0], None, None]
    """
    texts = texts.cast(pl.String)
    todo = texts.filter(texts.str.contains(r"[(\[{]").fill_null(False)).unique(maintain_order=True)
    row: list[int] = []
    flat: list[float] = []
    for i, (_, w) in enumerate(_weighted_batch(todo.to_list())):
        if any(x != 1.0 for x in w):
            row += [i] * len(w)
            flat += w
    per_text = (pl.DataFrame({"_i": row, "w": flat}, schema={"_i": pl.Int64, "w": pl.Float64})
                .group_by("_i", maintain_order=True).agg("w")
                .join(pl.DataFrame({"t": todo}).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64)),
                      on="_i").select("t", "w"))
    out = pl.DataFrame({"t": texts}).join(per_text, on="t", how="left", maintain_order="left", nulls_equal=False)
    return out.get_column("w").rename(texts.name)
