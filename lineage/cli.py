"""CLI commands for the measures: analyze, drift, bleed, decay (and report).

(Filled in by the lineage work; importing this module registers the commands.)
"""
from __future__ import annotations
