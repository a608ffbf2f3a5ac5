"""Measuring how ideas mutate down remix trees: drift, blame, styles, bleed, decay.

Every measure is a function of polars frames (see DESIGN.md "Measures"):

- :mod:`lineage.text` normalization and tokens (emoji included, emphasis weights per token);
- :mod:`lineage.syntax` prompt syntax: emphasis weights, resource tags, negative prompts, parameters;
- :mod:`lineage.drift` edge, root and path drift, edit operations, token diff;
- :mod:`lineage.blame` which node introduced each token, blame shares, root retention;
- :mod:`lineage.styles` the style lexicon and matching;
- :mod:`lineage.bleed` inherited / reused / bled / novel style terms, bleed rates, flow matrix, homogenization;
- :mod:`lineage.decay` fidelity by depth, branching decay, activity, engagement, tree shape;
- :mod:`lineage.analyze` all of it over an archive, stored as versioned tables (:func:`~lineage.analyze.load_results`
  reads them);
- :mod:`lineage.stale` whether stored analysis describes a store version and a tree (:func:`analysis_state`);
- :mod:`lineage.layout` the tree layout the dashboard and the report draw with;
- :mod:`lineage.report` the critic's drift report (one module per output format).

>>> from lineage import tokenize, token_diff
>>> token_diff("a cat", "a dog")
[('equal', 'a'), ('removed', 'cat'), ('added', 'dog')]
"""
from __future__ import annotations

from lineage.blame import blame_path, blame_shares, blame_summary, blame_tree, root_retention
from lineage.bleed import bleed_rates, flow_matrix, homogenisation, label_new_styles
from lineage.decay import (activity, branching_decay, engagement_decay, fidelity_by_depth, fidelity_curve,
                           fit_fidelity, kaplan_meier, remixing_dilemma, tree_shape)
from lineage.drift import drift_rate, drift_rate_expr, edge_drift, edit_ops, node_drift, semantic_drift, token_diff
from lineage.errors import LineageError
from lineage.stale import AnalysisState, analysis_state
from lineage.styles import load_lexicon, match_styles, styles_frame
from lineage.syntax import negative_prompt, prompt_resources, split_prompt
from lineage.text import MAX_ALIGN_TOKENS, normalize, tokenize, tokens_expr, tokens_series, weighted_tokens

__all__ = [
    "LineageError", "MAX_ALIGN_TOKENS", "normalize", "tokenize", "tokens_expr", "tokens_series", "weighted_tokens",
    "split_prompt", "negative_prompt", "prompt_resources",
    "edge_drift", "node_drift", "drift_rate", "drift_rate_expr", "edit_ops", "token_diff", "semantic_drift",
    "blame_path", "blame_tree", "blame_shares", "blame_summary", "root_retention",
    "load_lexicon", "match_styles", "styles_frame",
    "label_new_styles", "bleed_rates", "flow_matrix", "homogenisation",
    "AnalysisState", "analysis_state",
    "fidelity_by_depth", "fidelity_curve", "fit_fidelity", "branching_decay", "activity", "kaplan_meier", "engagement_decay",
    "tree_shape", "remixing_dilemma",
]
