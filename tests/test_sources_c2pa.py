"""The C2PA source on the real fixture files (read in place) and on files signed here
with c2pa-python's Builder and a throwaway certificate made in the test."""
from __future__ import annotations

import datetime
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.ingest import Bad, ingest
from archive.sources.c2pa import C2paSource
from archive.store import Archive
from dashboard.cli import cli

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "c2pa"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# file -> (manifests, parentOf edges, componentOf edges, validation_state): the fixtures README's table
README_TABLE = {
    "C.jpg": (1, 0, 0, "Valid"),
    "CA.jpg": (1, 1, 0, "Valid"),
    "CACA.jpg": (2, 2, 0, "Valid"),
    "CACAE-uri-CA.jpg": (3, 1, 2, "Valid"),
    "ocsp.jpg": (2, 0, 1, "Valid"),
    "video1.mp4": (2, 1, 0, "Valid"),
    "XCA.jpg": (1, 1, 0, "Invalid"),
}


def records_of(*paths: Path) -> list[dict]:
    return [p for _, p, _ in C2paSource([str(p) for p in paths]).items(None)]


def active(recs: list[dict]) -> dict:
    (a,) = [r for r in recs if r["media"]]  # the file's own manifest is the one with the media entry
    return a


@pytest.mark.parametrize("name", sorted(README_TABLE))
def test_each_fixture_gives_the_nodes_edges_and_state_the_readme_lists(name):
    manifests, parent_of, component_of, state = README_TABLE[name]
    recs = records_of(FIXTURES / name)
    assert len(recs) == manifests
    rel = Counter(p["relation"] for r in recs for p in r["parents"])
    assert (rel["parentOf"], rel["componentOf"]) == (parent_of, component_of)
    assert all(p["evidence"] == "c2pa" for r in recs for p in r["parents"])
    a = active(recs)
    assert a["provenance"]["c2pa"]["validation_state"] == state
    assert a["media"][0]["url"] == (FIXTURES / name).resolve().as_uri() and len(a["media"][0]["sha256"]) == 64
    assert all(r["id"] == "c2pa:" + r["provenance"]["c2pa"]["manifest"] for r in recs)


def test_fixture_notes_actions_and_digital_source_types():
    c = active(records_of(FIXTURES / "C.jpg"))
    assert c["provenance"]["c2pa"]["actions"][0]["action"] == "c2pa.created"
    assert c["provenance"]["c2pa"]["digital_source_types"] == ["algorithmicMedia"]
    assert c["parents"] == [] and c["author"] == "John Doe"
    o = active(records_of(FIXTURES / "ocsp.jpg"))
    acts = o["provenance"]["c2pa"]["actions"]
    assert {"action": "c2pa.edited", "digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia"}.items() \
        <= next(a for a in acts if a["action"] == "c2pa.edited").items()
    assert o["provenance"]["ai_generated"] is True and "Firefly" in json.dumps(o["extra"]["manifest"])
    ca = records_of(FIXTURES / "CA.jpg")[0]
    assert ca["parents"][0]["id"] == "c2pa:xmp.iid:813ee422-9736-4cdc-9be6-4e35ed8e41cb"  # a leaf: its instance id
    chain = {r["id"]: r for r in records_of(FIXTURES / "CACA.jpg")}
    top = active(list(chain.values()))
    assert top["parents"][0]["id"] in chain  # a two-hop chain inside one store


def test_the_fixture_folder_as_one_archive(tmp_path):
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, C2paSource([str(FIXTURES)]))
    assert (r.read, r.stored, r.quarantined) == (11, 11, 0)  # README.md and LICENSE-MIT are not media: skipped
    posts = arc.posts()
    assert posts.filter(placeholder=False).height == 11
    leaves = arc.lineage().filter(placeholder=True)["id"].to_list()
    assert leaves == ["c2pa:xmp.iid:813ee422-9736-4cdc-9be6-4e35ed8e41cb"]  # A.jpg, the ingredient without a manifest
    edges = arc.edges()
    assert Counter(edges["relation"].to_list()) == {"parentOf": 5, "componentOf": 3}
    # CA.jpg and the tampered XCA.jpg carry the same manifest: one node, recorded as Invalid, both files listed
    rec = json.loads(arc.records().filter(id="c2pa:contentauth:urn:uuid:c2677d4b-0a93-4444-876f-ed2f2d40b8cf")
                     ["record"][0])
    c2 = rec["provenance"]["c2pa"]
    assert c2["validation_state"] == "Invalid" and "assertion.dataHash.mismatch" in c2["failure_codes"]
    assert sorted((Path(a["path"]).name, a["validation_state"]) for a in c2["assets"]) == [
        ("CA.jpg", "Valid"), ("XCA.jpg", "Invalid")]
    assert rec["parents"][0]["confidence"] == 0.5
    again = ingest(arc, C2paSource([str(FIXTURES)]))
    assert (again.stored, again.unchanged) == (0, 11)  # reading the same files again changes nothing


def test_unreadable_files_are_quarantined_with_the_reason(tmp_path):
    (tmp_path / "plain.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9")
    (tmp_path / "notes.txt").write_text("not media")
    (tmp_path / "cut.jpg").write_bytes((FIXTURES / "C.jpg").read_bytes()[:5000])
    items = list(C2paSource([str(tmp_path / "plain.jpg"), str(tmp_path / "notes.txt"),
                             str(tmp_path / "cut.jpg")]).items(None))
    assert all(isinstance(p, Bad) for _, p, _ in items) and len(items) == 3
    reasons = {Path(loc).name: p.reasons[0] for loc, p, _ in items}
    assert "not a media type C2PA can carry" in reasons["notes.txt"]
    assert reasons["plain.jpg"].startswith(f"file: {tmp_path / 'plain.jpg'}: ")
    arc = Archive.open(tmp_path / "a", create=True)
    res = ingest(arc, C2paSource([str(tmp_path)]))
    assert res.quarantined == 2  # in a folder only media files are tried: notes.txt is skipped
    q = arc.quarantine()
    assert sorted(Path(json.loads(x)["path"]).name for x in q["raw"]) == ["cut.jpg", "plain.jpg"]


# -- files signed here ------------------------------------------------------------------------------------

def _throwaway_signer():
    c2pa = pytest.importorskip("c2pa")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Remix Archivist tests")])

    now = datetime.datetime.now(datetime.timezone.utc)
    life = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=7))
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(name("Throwaway Root")).issuer_name(name("Throwaway Root"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(life[0]).not_valid_after(life[1])
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name("Throwaway Signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(life[0]).not_valid_after(life[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return c2pa, c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=pem,
                                                           ta_url=None))


def _sign(c2pa, signer, base: bytes, title: str, ingredients: list[tuple[dict, bytes]], source_type: str) -> bytes:
    manifest = {"claim_generator_info": [{"name": "remix-archivist-tests", "version": "1"}], "title": title,
                "format": "image/jpeg",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": IPTC + source_type}]}}]}
    b = c2pa.Builder(manifest)
    for ing, data in ingredients:
        b.add_ingredient(ing, "image/jpeg", io.BytesIO(data))
    out = io.BytesIO()
    b.sign(signer, "image/jpeg", io.BytesIO(base), out)
    return out.getvalue()


def test_a_remix_chain_signed_here(tmp_path):
    c2pa, signer = _throwaway_signer()
    base = (FIXTURES / "C.jpg").read_bytes()  # read in place; the new files are written to tmp_path
    remix1 = _sign(c2pa, signer, base, "remix1.jpg", [({"title": "C.jpg", "relationship": "parentOf"}, base)],
                   "trainedAlgorithmicMedia")
    remix2 = _sign(c2pa, signer, base, "remix2.jpg",
                   [({"title": "remix1.jpg", "relationship": "parentOf"}, remix1),
                    ({"title": "C.jpg", "relationship": "componentOf"}, base)], "compositeWithTrainedAlgorithmicMedia")
    (tmp_path / "remix2.jpg").write_bytes(remix2)
    tampered = bytearray(remix1)
    tampered[-200] ^= 0xFF  # one byte of image data flipped after signing
    (tmp_path / "tampered.jpg").write_bytes(bytes(tampered))
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, C2paSource([str(tmp_path / "remix2.jpg"), str(tmp_path / "tampered.jpg")]))
    assert r.quarantined == 0
    posts = arc.posts().filter(placeholder=False)
    by_title = dict(zip(posts["title"], posts["id"]))
    assert set(by_title) == {"C.jpg", "remix1.jpg", "remix2.jpg"}
    edges = set(arc.edges().select("child", "parent", "relation").rows())
    assert (by_title["remix2.jpg"], by_title["remix1.jpg"], "parentOf") in edges
    assert (by_title["remix2.jpg"], by_title["C.jpg"], "componentOf") in edges
    assert (by_title["remix1.jpg"], by_title["C.jpg"], "parentOf") in edges
    lin = arc.lineage().filter(id=by_title["remix2.jpg"])
    assert lin["depth"][0] == 2 and lin["root"][0] == by_title["C.jpg"]
    recs = {json.loads(x)["title"]: json.loads(x) for x in arc.records()["record"]}
    assert recs["remix2.jpg"]["provenance"]["ai_generated"] is True
    assert recs["remix2.jpg"]["provenance"]["c2pa"]["validation_state"] == "Valid"
    # remix1's manifest sits in the tampered file (as its own) and in remix2 (as an ingredient): never trusted
    assets = {Path(a["path"]).name: a["validation_state"] for a in recs["remix1.jpg"]["provenance"]["c2pa"]["assets"]}
    assert assets == {"remix2.jpg": "Valid", "tampered.jpg": "Invalid"}
    assert recs["remix1.jpg"]["provenance"]["c2pa"]["validation_state"] == "Invalid"


def test_cli_ingest_c2pa(tmp_path):
    res = CliRunner().invoke(cli, ["ingest", "c2pa", str(FIXTURES / "CA.jpg"), str(FIXTURES / "XCA.jpg"),
                                   "--archive", str(tmp_path / "a"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["stored"] == 1
    res = CliRunner().invoke(cli, ["ingest", "c2pa", str(tmp_path / "missing.jpg"), "--archive", str(tmp_path / "a")])
    assert res.exit_code != 0 and "does not exist" in res.output


CASE_CHILD = Path(__file__).resolve().parent / "data" / "c2pa-ingredient-created-at-is-file-mtime" / "child.png"


def test_case_an_ingredient_without_a_time_is_never_dated_after_its_child(tmp_path):
    # case c2pa-ingredient-created-at-is-file-mtime: parent.png's manifest (no signing time, no action time)
    # is found only inside child.png, whose edit is dated 2024-05-01
    f = tmp_path / "child.png"
    f.write_bytes(CASE_CHILD.read_bytes())  # a fresh copy: its mtime is now
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, C2paSource([str(f)]))
    assert (r.stored, r.quarantined) == (2, 0)
    recs = {json.loads(x)["title"]: json.loads(x) for x in arc.records()["record"]}
    child, parent = recs["child.png"], recs["parent.png"]
    assert child["created_at"] == "2024-05-01T00:00:00Z" and child["provenance"]["c2pa"]["created_at_from"] == "action"
    assert parent["created_at"] == "2024-05-01T00:00:00Z"  # at most its child's time, not today's mtime
    c = parent["provenance"]["c2pa"]
    assert c["created_at_known"] is False and c["created_at_from"].startswith("unknown; at most the time of ")
    assert child["id"] in c["created_at_from"]
    # as of 2025 the parent is in the archive, not a placeholder
    old = arc.lineage(as_of="2025-01-01")
    assert old.filter(id=parent["id"])["placeholder"][0] is False
    # touching the file and reading it again changes nothing
    import os
    os.utime(f, (1_900_000_000, 1_900_000_000))
    again = ingest(arc, C2paSource([str(f)]))
    assert (again.stored, again.unchanged) == (0, 2)


def test_an_ingredient_no_status_names_is_not_validated_and_weaker():
    from archive.sources.c2pa import manifest_nodes, read_store

    store = read_store(CASE_CHILD)
    (child_label,) = [k for k in store["manifests"] if k == store["active_manifest"]]
    for ing in store["manifests"][child_label]["ingredients"]:
        ing.pop("validation_results", None)  # as a reader that skips ingredients leaves it
    store["validation_results"].pop("ingredientDeltas", None)
    store["validation_results"]["activeManifest"] = {
        k: [s for s in v if child_label in s.get("url", "")] for k, v in store["validation_results"]["activeManifest"].items()}
    recs = {r["title"]: r for r in manifest_nodes(store, CASE_CHILD, sha256="0" * 64, size=1)}
    assert recs["parent.png"]["provenance"]["c2pa"]["validation_state"] == "not validated"
    assert recs["child.png"]["provenance"]["c2pa"]["validation_state"] == "Valid"
    assert recs["child.png"]["parents"][0]["confidence"] == 1.0  # a validated manifest declared the edge


@pytest.mark.parametrize("code, state", [
    ("signingCredential.untrusted", "Valid"), ("signingCredential.ocsp.skipped", "Valid"),
    ("signingCredential.ocsp.inaccessible", "Valid"), ("timeStamp.untrusted", "Valid"),
    ("timeStamp.mismatch", "Valid"), ("timeStamp.outsideValidity", "Valid"),
    ("signingCredential.ocsp.revoked", "Invalid"), ("signingCredential.revoked", "Invalid"),
    ("signingCredential.expired", "Invalid"), ("claimSignature.mismatch", "Invalid"),
    ("assertion.dataHash.mismatch", "Invalid"), ("ingredient.hashedURI.mismatch", "Invalid"),
])
def test_failure_codes_are_read_as_the_current_specification_defines_them(code, state):
    from archive.sources.c2pa import manifest_nodes

    def st(c, label):
        return {"code": c, "url": f"self#jumbf=/c2pa/{label}/c2pa.signature", "explanation": ""}

    store = {"active_manifest": "urn:c2pa:b", "validation_state": "Valid",
             "validation_results": {"activeManifest": {"success": [st("claimSignature.validated", "urn:c2pa:b")],
                                                       "failure": [], "informational": []},
                                    "ingredientDeltas": [{"ingredientAssertionURI": "self#jumbf=/c2pa/urn:c2pa:b/x",
                                                          "validationDeltas": {"success": [], "informational": [],
                                                                               "failure": [st(code, "urn:c2pa:a")]}}]},
             "manifests": {"urn:c2pa:b": {"title": "b.jpg", "signature_info": {"time": "2026-01-02T00:00:00Z"},
                                          "ingredients": [{"title": "a.jpg", "relationship": "parentOf",
                                                           "active_manifest": "urn:c2pa:a"}]},
                           "urn:c2pa:a": {"title": "a.jpg", "signature_info": {"time": "2026-01-01T00:00:00Z"}}}}
    recs = {r["title"]: r for r in manifest_nodes(store, CASE_CHILD, sha256="0" * 64, size=1)}
    a = recs["a.jpg"]["provenance"]["c2pa"]
    assert (a["validation_state"], a["failure_codes"]) == (state, [code])
    assert recs["b.jpg"]["parents"][0]["confidence"] == 1.0  # the edge is b's claim, and b is valid
