"""What the report renderers share: numbers and percentages as text, word diffs as runs, the method notes."""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from archive.shorten import cut, one_line

if TYPE_CHECKING:
    from lineage.report.data import ReportData

__all__ = ["code_spans"]


def code_spans(text: object) -> list[tuple[str, bool]]:
    """A sentence of the product's own (a notice, a report's "in brief") as ``(part, is_code)`` runs, split at
    its backticks: a `backticked` command is code. An unpaired backtick makes the whole text one plain run
    (the sentence is not ours to guess at). Each renderer escapes the runs its own way (the dashboard's
    ``dashboard.panels.with_code``, the HTML and Markdown reports).

    >>> code_spans("run `archivist infer` first"), code_spans("a ` alone"), code_spans(None)
    ([('run ', False), ('archivist infer', True), (' first', False)], [('a ` alone', False)], [('', False)])
    """
    s = "" if text is None else str(text)
    parts = s.split("`")
    if len(parts) % 2 == 0:
        return [(s, False)]
    return [(t, bool(i % 2)) for i, t in enumerate(parts)]


def _pct(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.0f}%"


def _num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _conf(v: float | None) -> str:
    """A link's confidence: two decimals, or two significant digits below 0.01 (never a bare "0.00").

    >>> _conf(0.8312), _conf(0.002265), _conf(None)
    ('0.83', '0.0023', '–')
    """
    from lineage.infer import confidence_text

    return "–" if v is None else confidence_text(v)


def _inferred_mark(conf: float | None) -> str:
    """What a mutation along a link of ``archivist infer`` says after its parent ("" for a stated link)."""
    return "" if conf is None else f" (inferred link, confidence {_conf(conf)})"


def _short(text: str | None, n: int = 90) -> str:
    return cut(one_line(text), n)



_CJK_GAP = r"(?<=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]) (?=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af])"


def _joined(phrase: str) -> str:
    """A token phrase as a reader writes it: no spaces between CJK characters (tokens are single characters)."""
    return re.sub(_CJK_GAP, "", phrase)


def _diff_runs(a: str | None, b: str | None) -> list[tuple[str, str]]:
    """Word-level diff of two prompts as runs ``(op, text)``, CJK characters joined back together."""
    from lineage.drift import token_diff

    runs: list[tuple[str, list[str]]] = []
    for op, tok in token_diff(a or "", b or ""):
        if runs and runs[-1][0] == op:
            runs[-1][1].append(tok)
        else:
            runs.append((op, [tok]))
    return [(op, _joined(" ".join(toks))) for op, toks in runs]


def _phrases(m: dict) -> list[str]:
    out = []
    for r in m["replaced"] or []:
        out.append(f"replaced {_joined(r)}")
    if m["added"]:
        out.append("added " + ", ".join(f"“{_joined(a)}”" for a in m["added"]))
    if m["removed"]:
        out.append("dropped " + ", ".join(f"“{_joined(a)}”" for a in m["removed"]))
    return out


_METHOD = [
    "Drift between two prompts is the share of distinct words not in both (1 − Jaccard similarity of their "
    "word sets, after Unicode normalisation and case folding): 0 means the same words, 1 none in common.",
    "Root drift compares a post with the root of its tree; edge drift compares it with its parent.",
    "Prompt blame walks from the root down to a post, aligning each parent's words with its child's, so every "
    "word is credited to the post that first wrote it.",
    "Fidelity at a generation is the mean of 1 − root drift; its half-life comes from fitting "
    "F(d) = F∞ + (1 − F∞)·e^(−λd).",
    "A style term is bled when, before the post, it was used in another tree but never on the post's own path; "
    "novel when never used before anywhere.",
    "A figure with no meaning on the data (drift without prompt text, the virality of a one-post tree, a fit with "
    "too few points) is left blank with the reason, never given as 0. A fit is quoted only when it fits: the "
    "fidelity curve needs R² ≥ 0.5 over the generations, the branching fit m₀·γ^g a dispersion (Pearson X² per "
    "degree of freedom) of at most 3.",
    "Tree shape: structural virality is the mean distance between two posts of a tree (Goel et al. 2016); Sackin "
    "the sum of leaf depths (given per leaf to compare sizes); balance is the Colless-like index for trees with "
    "any number of children per post (Mir, Rosselló and Rotger 2018, f-size ln(k + e), mean deviation from the "
    "median), not the binary-tree Colless index.",
]


#: What the reports call each measure of the ``decay`` table (they showed its keys: "fidelity F inf",
#: "branching lr flat", "dilemma pearson"); a measure not named here shows its key with spaces.
DECAY_LABELS = {
    "fidelity_F_inf": "long-run fidelity F∞",
    "fidelity_lambda": "fidelity decay rate λ per generation",
    "fidelity_r2": "fidelity curve fit R²",
    "generational_half_life": "generational half-life (generations)",
    "branching_m0": "remixes per first-generation post m₀",
    "branching_gamma": "branching decay γ per generation",
    "branching_dispersion": "branching dispersion (about 1 when the model fits)",
    "branching_lr_flat": "branching: likelihood ratio against a flat rate",
    "activity_half_life_days": "activity half-life (days)",
    "median_tree_lifetime_days": "median tree lifetime (days, Kaplan-Meier)",
    "engagement_slope": "engagement: change of log(1 + views) per generation",
    "engagement_intercept": "engagement: log(1 + views) at the root",
    "dilemma_pearson": "remixing dilemma: correlation of children and originality (Pearson)",
    "dilemma_spearman": "remixing dilemma: correlation of children and originality (Spearman)",
    "drift_rate": "drift rate (root drift per generation)",
    "bleed_rate": "bleed rate",
}


def _decay_rows(d: ReportData) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    fit = d.decay.get("fidelity")
    if fit:
        rows.append(("generational half-life", f"{_num(fit.get('half_life'), 2)} generations"
                     + (f" (95% interval {_num(fit.get('half_life_low'), 2)}–{_num(fit.get('half_life_high'), 2)})"
                        if fit.get("half_life_low") is not None else "")))
        rows.append(("long-run fidelity F∞", _num(fit.get("F_inf"))))
    br = d.decay.get("branching")
    if br:
        rows.append(("remixes per first-generation post m₀", _num(br.get("m0"))))
        rows.append(("branching decay γ per generation", _num(br.get("gamma"))))
    act = d.decay.get("activity")
    if act:
        rows.append(("activity half-life", f"{_num(act.get('half_life_days'), 1)} days"))
    for name, r in (d.decay.get("figures") or {}).items():
        rows.append((DECAY_LABELS.get(name, name.replace("_", " ")), _num(r.get("value"), 3)
                     + (f" ({_num(r.get('low'), 3)}–{_num(r.get('high'), 3)})" if r.get("low") is not None else "")
                     + (f" — {r['reason']}" if r.get("reason") else "")))
    return rows
