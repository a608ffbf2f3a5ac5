"""The ``c2pa`` source: Content Credentials read from media files and folders.

Each file's C2PA manifest store is read with ``c2pa.Reader`` (c2pa-python;
remote manifests and OCSP are never fetched). Every manifest in a store is a
node, ``c2pa:<manifest label>``; every ingredient is an edge from the manifest
that lists it (the child) to the ingredient (the parent) with the ingredient's
``relationship`` (``parentOf``, ``componentOf``; ``inputTo`` is kept as
``inspired``) and evidence ``c2pa``. An ingredient with its own manifest
(``active_manifest``) points at that manifest's node; one without is a leaf,
``c2pa:<instance_id>`` (else its title), which the store shows as a placeholder.

What the record keeps, in ``provenance.c2pa``: the manifest label, instance id,
``validation_state`` (``Invalid`` / ``Valid`` / ``Trusted`` / ``not validated``),
the failure codes, every action with its ``digitalSourceType`` and software agent,
the signature info, the ingredients, and every file (``assets``) the manifest was
found in with that file's own state. The state of the file's own (active) manifest is
the reader's; a manifest read as an ingredient is judged on the status codes that name
it: those the reader found (``validation_results.ingredientDeltas``, the store's
``validation_status``) and those recorded in the ingredient when it was added. Failure
codes are read as the C2PA 2.x specification and c2pa-rs define them today: trust and
revocation-check findings (``signingCredential.untrusted``, ``timeStamp.untrusted``,
``signingCredential.ocsp.skipped`` / ``.inaccessible`` / ``.unknown``) and the
informational ones (``timeStamp.mismatch``, ``.malformed``, ``.outsideValidity``,
``algorithm.deprecated``, ``*.unknownProvenance``) leave a manifest ``Valid``; every
other failure, ``signingCredential.ocsp.revoked`` and the 1.x ``signingCredential.revoked``
included, makes it ``Invalid``. A manifest no status code names was never validated:
its state is ``not validated``, never ``Valid``, and its edges carry confidence 0.75.
``provenance.ai_generated`` is true when an action's digitalSourceType is one of
the IPTC algorithmic-media types. The manifest itself is kept verbatim in
``extra.manifest``. A manifest found in several files is one node; its state is
the worst seen (a tampered copy makes it ``Invalid``: never recorded as trusted),
and the edges it declares carry confidence 0.5 when that state is ``Invalid``.

``created_at`` is the claim's signing time, else an action's ``when``
(``provenance.c2pa.created_at_from`` says which). A file's own manifest without
either is dated by the file's modification time (``file mtime``). A manifest found
only as an ingredient, with no time of its own, is never dated by some other file:
its time is unknown, and since it existed before every manifest that lists it,
``created_at`` is the earliest time of those (an upper bound), ``created_at_known``
is false and ``created_at_from`` reads ``unknown; at most the time of c2pa:<label>,
which lists it as an ingredient``.
Records carry no ``fetched_at``: reading the same files again changes nothing.
Files that cannot be read (no manifest, unsupported or damaged) go to quarantine
with the reason. In folders only media types the reader supports are tried.

Examples
--------
>>> import pathlib
>>> fixtures = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "c2pa"
>>> recs = [p for _, p, _ in C2paSource([str(fixtures / "CA.jpg")]).items(None)]
>>> [(r["parents"][0]["relation"], r["provenance"]["c2pa"]["validation_state"]) for r in recs]
[('parentOf', 'Valid')]
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from archive.digest import file_sha256
from archive.errors import SourceError
from archive.ingest import Bad, Item
from archive.record import format_time, parse_time

__all__ = ["C2paSource", "read_store", "manifest_nodes", "AI_SOURCE_TYPES", "NOT_INVALID", "NOT_VALIDATED"]

AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia",
                   "compositeSynthetic", "algorithmicallyEnhanced")
_RELATION = {"parentOf": "parentOf", "componentOf": "componentOf", "inputTo": "inspired"}
# Status codes that do not make a manifest Invalid (C2PA 2.x, c2pa-rs validation_status.rs): trust and
# revocation-check findings, and the informational codes some readers still list as failures.
NOT_INVALID = frozenset({
    "signingCredential.untrusted", "timeStamp.untrusted", "signingCredential.ocsp.skipped",
    "signingCredential.ocsp.inaccessible", "signingCredential.ocsp.unknown", "timeStamp.mismatch",
    "timeStamp.malformed", "timeStamp.outsideValidity", "algorithm.deprecated", "manifest.unknownProvenance",
    "ingredient.unknownProvenance"})
NOT_VALIDATED = "not validated"
_RANK = {"Invalid": 0, "Valid": 1, "Trusted": 2}
_TIME_RANK = {"signature": 3, "action": 2, "file mtime": 1}
_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
_LABEL = re.compile(r"/c2pa/([^/]+)")


def _context() -> Any:
    import c2pa  # the c2pa-python package (absolute import: not this module)

    return c2pa.Context(c2pa.Settings.from_dict(_SETTINGS))


def read_store(path: Path, context: Any = None) -> dict[str, Any]:
    """The manifest store of ``path`` as parsed JSON; raises :class:`SourceError` naming the file and reason.

    >>> read_store(Path("/nonexistent.jpg"))
    Traceback (most recent call last):
    ...
    archive.errors.SourceError: /nonexistent.jpg: cannot be opened (No such file or directory)
    """
    import c2pa

    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise SourceError(f"{path}: cannot be opened ({e.strerror})") from None
    try:
        reader = c2pa.Reader(str(path), context=context or _context())
    except c2pa.C2paError as e:
        msg = str(e)
        if "NotSupported" in msg:
            why = "not a media type C2PA can carry"
        elif "ManifestNotFound" in msg or "JumbfNotFound" in msg:
            why = "no C2PA manifest in it"
        else:
            why = "no readable C2PA manifest"
        raise SourceError(f"{path}: {why} ({msg})") from None
    try:
        return json.loads(reader.json())
    finally:
        reader.close()


def _codes(statuses: Any) -> list[tuple[str, str | None]]:
    """``(code, manifest label the url names or None)`` of a list of status entries."""
    out = []
    for st in statuses or []:
        if isinstance(st, dict) and st.get("code"):
            m = _LABEL.search(str(st.get("url") or ""))
            out.append((str(st["code"]), m.group(1) if m else None))
    return out


def _results(vr: Any) -> tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]:
    """(failures, every code) of one validation_results-like object ``{success, informational, failure}``."""
    if not isinstance(vr, dict):
        return [], []
    fails = _codes(vr.get("failure"))
    return fails, fails + _codes(vr.get("success")) + _codes(vr.get("informational"))


def _judgements(store: dict[str, Any]) -> dict[str, tuple[bool, list[str]]]:
    """Per manifest label: (was it validated at all, its failure codes), from every status the store holds."""
    seen: dict[str, tuple[bool, list[str]]] = {}

    def note(label: str | None, code: str, failed: bool) -> None:
        if not label:
            return
        _, codes = seen.get(label, (True, []))
        if failed and code not in codes:
            codes = [*codes, code]
        seen[label] = (True, codes)

    active = store.get("active_manifest")
    vr = store.get("validation_results")
    if isinstance(vr, dict):
        fails, every = _results(vr.get("activeManifest"))
        for code, label in every:
            note(label or active, code, (code, label) in fails)
        for delta in vr.get("ingredientDeltas") or []:
            fails, every = _results((delta or {}).get("validationDeltas"))
            for code, label in every:
                note(label, code, (code, label) in fails)
    for code, label in _codes(store.get("validation_status")):  # v1: failures only, for every manifest
        note(label or active, code, True)
    manifests = store.get("manifests") or {}
    for m in manifests.values():  # what was recorded in each ingredient when it was added
        for ing in m.get("ingredients") or []:
            ref = ing.get("active_manifest")
            if ref not in manifests:
                continue
            recorded = ing.get("validation_results")
            if isinstance(recorded, dict):
                fails, every = _results(recorded.get("activeManifest"))
                for code, label in every:
                    note(label or ref, code, (code, label) in fails)
            for code, label in _codes(ing.get("validation_status")):
                note(label or ref, code, True)
    return seen


def _state(validated: bool, codes: list[str]) -> str:
    if not validated:
        return NOT_VALIDATED
    return "Invalid" if any(c not in NOT_INVALID for c in codes) else "Valid"


def _actions(m: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in m.get("assertions") or []:
        if str(a.get("label", "")).startswith("c2pa.actions"):
            for act in (a.get("data") or {}).get("actions") or []:
                agent = act.get("softwareAgent")
                if isinstance(agent, dict):
                    agent = agent.get("name")
                out.append({k: v for k, v in (("action", act.get("action")),
                                               ("digitalSourceType", act.get("digitalSourceType")),
                                               ("softwareAgent", agent), ("when", act.get("when"))) if v is not None})
    return out


def _author(m: dict[str, Any]) -> str | None:
    for a in m.get("assertions") or []:
        if a.get("label") == "stds.schema-org.CreativeWork":
            authors = (a.get("data") or {}).get("author") or []
            if authors and isinstance(authors[0], dict) and authors[0].get("name"):
                return str(authors[0]["name"])
    return None


def _ingredient_id(ing: dict[str, Any]) -> str:
    ref = ing.get("active_manifest") or ing.get("instance_id") or ing.get("document_id") or ing.get("title")
    return f"c2pa:{ref}"


def _own_time(m: dict[str, Any], actions: list[dict[str, Any]]) -> tuple[str, str] | None:
    for when, origin in [((m.get("signature_info") or {}).get("time"), "signature"),
                         *((a.get("when"), "action") for a in actions)]:
        if isinstance(when, str):
            try:
                return format_time(parse_time(when)), origin
            except ValueError:
                continue
    return None


def _times(manifests: dict[str, dict[str, Any]], active: Any, path: Path) -> dict[str, tuple[str, str, bool]]:
    """Per label ``(created_at, created_at_from, known)``: own time; for the active manifest the file's
    mtime; for an ingredient without a time, the earliest time of the manifests listing it (a bound)."""
    out: dict[str, tuple[str, str, bool]] = {}
    for label, m in manifests.items():
        own = _own_time(m, _actions(m))
        if own:
            out[label] = (own[0], own[1], True)
        elif label == active:
            out[label] = (format_time(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)), "file mtime", True)
    listed_by: dict[str, list[str]] = {}
    for label, m in manifests.items():
        for ing in m.get("ingredients") or []:
            if ing.get("active_manifest") in manifests:
                listed_by.setdefault(ing["active_manifest"], []).append(label)
    for _ in range(len(manifests)):  # a bound may rest on another bound: settle down the chain
        changed = False
        for label in manifests:
            if label in out and out[label][2]:
                continue
            kids = [(out[k][0], k) for k in listed_by.get(label, []) if k in out]
            if not kids:
                continue
            t, kid = min(kids, key=lambda x: (parse_time(x[0]), x[1]))
            new = (t, f"unknown; at most the time of c2pa:{kid}, which lists it as an ingredient", False)
            if out.get(label) != new:
                out[label], changed = new, True
        if not changed:
            break
    for label in manifests:  # in no ingredient list and no time: the file's mtime is all there is
        if label not in out:
            out[label] = (format_time(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)),
                          "file mtime (a manifest no ingredient lists)", True)
    return out


def manifest_nodes(store: dict[str, Any], path: Path, *, sha256: str, size: int) -> list[dict[str, Any]]:
    """One record per manifest of ``store`` (read from ``path``), in label order.

    >>> store = {"active_manifest": "m:2", "validation_state": "Valid", "manifests": {
    ...     "m:2": {"title": "remix.jpg", "signature_info": {"time": "2026-01-02T00:00:00+00:00"},
    ...             "ingredients": [{"title": "a.jpg", "relationship": "parentOf", "active_manifest": "m:1"}]},
    ...     "m:1": {"title": "a.jpg", "signature_info": {"time": "2026-01-01T00:00:00+00:00"}}}}
    >>> [(r["id"], [p["id"] for p in r["parents"]]) for r in manifest_nodes(store, Path("x.jpg"), sha256="0", size=1)]
    [('c2pa:m:1', []), ('c2pa:m:2', ['c2pa:m:1'])]

    An ingredient without a time of its own is bounded by the manifest listing it, and no
    status code names it, so it was never validated:

    >>> del store["manifests"]["m:1"]["signature_info"]
    >>> r = manifest_nodes(store, Path("x.jpg"), sha256="0", size=1)[0]["provenance"]["c2pa"]
    >>> r["validation_state"], r["created_at_known"], r["created_at_from"]
    ('not validated', False, 'unknown; at most the time of c2pa:m:2, which lists it as an ingredient')
    """
    manifests: dict[str, dict[str, Any]] = store.get("manifests") or {}
    active = store.get("active_manifest")
    judged = _judgements(store)
    states: dict[str, tuple[str, list[str]]] = {}
    for label in manifests:
        validated, codes = judged.get(label, (False, []))
        states[label] = (_state(validated, codes), codes)
    if active in manifests and store.get("validation_state"):
        states[active] = (store["validation_state"], states[active][1])
    times = _times(manifests, active, path)
    uri = path.resolve().as_uri()
    out = []
    for label in sorted(manifests):
        m = manifests[label]
        state, codes = states[label]
        actions = _actions(m)
        created, origin, known = times[label]
        kinds = [a["digitalSourceType"].rsplit("/", 1)[-1] for a in actions if a.get("digitalSourceType")]
        conf = _confidence(state)
        parents = [{"id": _ingredient_id(i), "relation": _RELATION.get(i.get("relationship", "parentOf"), "componentOf"),
                    "evidence": "c2pa", "confidence": conf} for i in m.get("ingredients") or []]
        gen = m.get("claim_generator") or next((g.get("name") for g in m.get("claim_generator_info") or []
                                                if isinstance(g, dict) and g.get("name")), None)
        is_active = label == active
        rec: dict[str, Any] = {
            "id": f"c2pa:{label}",
            "source": "c2pa",
            "created_at": created,
            "author": _author(m),
            "title": m.get("title"),
            "parents": parents,
            "media": [{"url": uri, "sha256": sha256, "bytes": size, **({"mime": m["format"]} if m.get("format")
                                                                      else {})}] if is_active else [],
            "provenance": {
                "ai_generated": any(k in AI_SOURCE_TYPES for k in kinds),
                "generator": gen,
                "c2pa": {
                    "manifest": label,
                    "instance_id": m.get("instance_id"),
                    "validation_state": state,
                    "failure_codes": codes,
                    "actions": actions,
                    "digital_source_types": kinds,
                    "signature": m.get("signature_info"),
                    "ingredients": [{k: i.get(k) for k in ("title", "relationship", "active_manifest", "instance_id")
                                     if i.get(k) is not None} for i in m.get("ingredients") or []],
                    "created_at_from": origin,
                    "created_at_known": known,
                    "assets": [{"path": str(path.resolve()), "sha256": sha256, "role": "active" if is_active
                                else "ingredient", "validation_state": state}],
                },
            },
            "extra": {"manifest": m},
        }
        out.append(rec)
    return out


def _confidence(state: str) -> float:
    return 0.5 if state == "Invalid" else 0.75 if state == NOT_VALIDATED else 1.0


def _time_rank(c: dict[str, Any]) -> int:
    return _TIME_RANK.get(c["created_at_from"], 0) if c.get("created_at_known", True) else -1


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    a, b = into["provenance"]["c2pa"], new["provenance"]["c2pa"]
    known = {(x["path"], x["role"]) for x in a["assets"]}
    a["assets"].extend(x for x in b["assets"] if (x["path"], x["role"]) not in known)
    sa, sb = a["validation_state"], b["validation_state"]
    # a state seen anywhere beats "not validated"; between two judgements the worst wins
    if sb != NOT_VALIDATED and (sa == NOT_VALIDATED or _RANK.get(sb, 1) < _RANK.get(sa, 1)):
        a["validation_state"], a["failure_codes"] = sb, b["failure_codes"]
        for p in into["parents"]:
            p["confidence"] = _confidence(sb)
    ra, rb = _time_rank(a), _time_rank(b)
    ta, tb = parse_time(into["created_at"]), parse_time(new["created_at"])
    bound_a = ta if ra < 0 else None
    if ra < 0 and rb < 0:
        take = tb < ta  # two upper bounds: the earlier holds
    elif rb == _TIME_RANK["file mtime"] and bound_a is not None:
        take = tb <= bound_a  # a copy's mtime never dates it after a child that lists it
    else:
        take = rb > ra
    if take:
        into["created_at"] = new["created_at"]
        a["created_at_from"], a["created_at_known"] = b["created_at_from"], b["created_at_known"]
    if not into["media"] and new["media"]:
        into["media"] = new["media"]


def _digest(path: Path) -> tuple[str | None, int | None]:
    try:
        with open(path, "rb") as fh:
            return file_sha256(fh), os.fstat(fh.fileno()).st_size
    except OSError:
        return None, None


def _supported() -> set[str]:
    import c2pa

    return {t.lower() for t in c2pa.Reader.get_supported_mime_types() if "/" not in t}


class C2paSource:
    """Read every manifest of the media files in ``paths`` (files and folders, recursively)."""

    name = "c2pa"

    def __init__(self, paths: list[str] | list[Path]) -> None:
        if not paths:
            raise SourceError("c2pa: give at least one media file or folder")
        self.paths = [Path(p) for p in paths]
        for p in self.paths:
            if not p.exists():
                raise SourceError(f"{p}: no such file or folder")
        self.target = " ".join(str(p) for p in paths)
        self.files_read = 0

    def files(self) -> list[Path]:
        """The files to read: those named, and the supported media files in the folders (name order)."""
        exts = _supported()
        out: list[Path] = []
        for p in self.paths:
            if p.is_dir():
                found = [f for f in p.rglob("*") if f.is_file() and f.suffix.lower().lstrip(".") in exts]
                out.extend(sorted(found))
            else:
                out.append(p)
        return out

    def items(self, cursor: str | None) -> Iterator[Item]:
        """Yield one record per manifest (merged across files), after a ``Bad`` for each unreadable file."""
        ctx = _context()
        nodes: dict[str, dict[str, Any]] = {}
        where: dict[str, str] = {}
        for f in self.files():
            digest, size = _digest(f)
            try:
                store = read_store(f, ctx)
            except SourceError as e:
                raw = json.dumps({"path": str(f.resolve()), "sha256": digest, "bytes": size})
                yield (str(f), Bad(raw, [f"file: {e}"]), None)
                continue
            self.files_read += 1
            for rec in manifest_nodes(store, f, sha256=digest, size=size):
                if rec["id"] in nodes:
                    _merge(nodes[rec["id"]], rec)
                else:
                    nodes[rec["id"]] = rec
                    where[rec["id"]] = f"{f}#{rec['provenance']['c2pa']['manifest']}"
        for rid in sorted(nodes):
            yield (where[rid], nodes[rid], None)
