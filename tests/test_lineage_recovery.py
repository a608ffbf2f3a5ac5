"""The measures recover the simulator's known parameters (archive/sources/simulate.py).

Each archive is simulated with a fixed seed, ingested into a real store in a temporary
folder and analysed with the same code `archivist analyze` runs.
"""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import polars as pl
import pytest

from archive.ingest import ingest_records
from archive.sources.simulate import SimParams, simulate
from archive.store import Archive
from lineage.bleed import label_new_styles
from lineage.decay import activity, branching_decay, fit_fidelity
from lineage.drift import node_drift
from lineage.styles import styles_frame

_TMP = Path(tempfile.mkdtemp(prefix="lineage-recovery-"))


@functools.lru_cache(maxsize=None)
def archive_for(**kw) -> tuple[Archive, dict]:
    params = SimParams(**kw)
    records, truth = simulate(params)
    arc = Archive.open(_TMP / "-".join(f"{k}{v}" for k, v in sorted(kw.items())), create=True)
    ingest_records(arc, records, source="simulate")
    return arc, truth


def measured_bleed(arc: Archive) -> float:
    labels = label_new_styles(styles_frame(arc.posts()), arc.lineage())
    new = labels.filter(pl.col("depth") > 0, pl.col("label") != "inherited")
    return float((new.get_column("label") == "bled").mean())


@pytest.mark.parametrize("beta, seed", [(0.2, 11), (0.4, 12)])
def test_bleed_rate_recovers_beta(beta, seed):
    arc, truth = archive_for(seed=seed, posts=3000, bleed=beta)
    assert truth["realised"]["disjoint_style_slices"]  # each tree's own styles are its own
    assert measured_bleed(arc) == pytest.approx(beta, abs=0.05)


@pytest.mark.parametrize("half_life, seed", [(3.0, 21), (1.5, 22)])
def test_activity_half_life_within_15_percent(half_life, seed):
    arc, _ = archive_for(seed=seed, posts=3000, activity_half_life_days=half_life)
    nodes = arc.lineage().join(arc.posts().select("id", "fetched_at"), on="id")
    summary, surv = activity(nodes)
    assert summary["half_life_days"] == pytest.approx(half_life, rel=0.15)
    assert surv.get_column("survival").is_sorted(descending=True)
    # every tree is either an event (ended) or censored (still active at fetch time)
    assert int(surv["events"].sum() + surv["censored"].sum()) == summary["trees"] == arc.trees().height


@pytest.mark.parametrize("gamma, seed", [(0.75, 31), (0.6, 32)])
def test_branching_gamma_within_15_percent(gamma, seed):
    arc, _ = archive_for(seed=seed, posts=3000, gamma=gamma)
    _, fit = branching_decay(arc.lineage())
    assert fit["gamma"] == pytest.approx(gamma, rel=0.15)
    assert fit["m0"] == pytest.approx(3.0, rel=0.25)


def test_generational_half_life_falls_as_mutation_rises():
    fits = []
    for rate in (0.6, 1.2, 2.4):
        arc, _ = archive_for(seed=41, posts=2000, mutation_rate=rate)
        fits.append(fit_fidelity(node_drift(arc.posts(), arc.lineage()), n_boot=50, seed=0))
    half = [f["half_life"] for f in fits]
    assert half[0] > half[1] > half[2] > 0
    for f in fits:  # the bootstrap interval brackets the estimate
        assert f["half_life_low"] <= f["half_life"] <= f["half_life_high"]
