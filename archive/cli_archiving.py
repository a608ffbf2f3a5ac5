"""CLI commands for archiving and export: snapshot, snapshots, verify, restore, export, redact.

(Filled in by the snapshots/exports work; importing this module registers the commands.)
"""
from __future__ import annotations
