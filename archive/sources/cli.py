"""CLI commands for the network and media sources: `ingest scratch|c2pa|openai-videos|civitai`.

(Filled in by the sources work; importing this module registers the commands.)
"""
from __future__ import annotations
