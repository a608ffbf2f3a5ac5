"""A conformance set of hand-made bags, one per RFC 8493 rule, run through `verify` and `restore`.

Every bag is built here byte by byte (not with bagit), so each invalid one breaks exactly
one rule; the valid ones use what the RFC allows and naive tools trip on (md5 only,
percent-encoded names, NFD names, CRLF line ends, fetch.txt). The two cases
bag-verify-accepts-rfc-invalid-structure and bag-verify-manifest-completeness-and-algorithms
are among them, with their right values.
"""
from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner

from archive import bag as bagmod
from archive.errors import SnapshotError
from archive.store import Archive
from dashboard.cli import cli

RECORD = b'{"id": "t:1", "source": "t", "created_at": "2026-01-01T00:00:00Z", "prompt": "hello remix"}\n'
BAGIT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def _enc(rel: str) -> str:
    return rel.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def make_bag(d: Path, files: dict[str, bytes] | None = None, *, algs: tuple[str, ...] = ("sha256",),
             bagit_txt: bytes = BAGIT, skip: dict[str, set[str]] | None = None, extra_lines: dict[str, str] | None = None,
             oxum: str | None = None, fetch: str | None = None, tagmanifest: bool = True, eol: str = "\n",
             names_on_disk: Callable[[str], str] = lambda r: r) -> Path:
    """A bag written by hand: payload ``files`` (paths under data/), a manifest per alg, bag-info, tag manifest."""
    files = {"data/records.jsonl": RECORD} if files is None else files
    d.mkdir(parents=True)
    (d / "data").mkdir()
    for rel, body in files.items():
        p = d / names_on_disk(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
    (d / "bagit.txt").write_bytes(bagit_txt)
    for alg in algs:
        lines = [f"{hashlib.new(alg, body).hexdigest()}  {_enc(rel)}" for rel, body in files.items()
                 if rel not in (skip or {}).get(alg, set())]
        text = eol.join(lines) + (eol if lines else "") + (extra_lines or {}).get(alg, "")
        (d / f"manifest-{alg}.txt").write_bytes(text.encode("utf-8"))
    size = sum(len(b) for b in files.values())
    (d / "bag-info.txt").write_bytes(f"Source-Organization: Test{eol}Payload-Oxum: "
                                     f"{oxum or f'{size}.{len(files)}'}{eol}".encode())
    if fetch is not None:
        (d / "fetch.txt").write_text(fetch, "utf-8")
    if tagmanifest:
        tags = [t for t in ("bagit.txt", "bag-info.txt", "fetch.txt") if (d / t).exists()]
        tags += [f"manifest-{a}.txt" for a in algs]
        (d / "tagmanifest-sha256.txt").write_text(
            "".join(f"{hashlib.sha256((d / t).read_bytes()).hexdigest()}  {t}\n" for t in tags))
    return d


# ---------------------------------------------------------------------- valid bags
def _valid_md5_only(d: Path) -> Path:  # BagIt 0.97 bags are often md5 only
    return make_bag(d, {"data/records.jsonl": RECORD, "data/b.txt": b"b\n"}, algs=("md5",),
                    bagit_txt=b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n", tagmanifest=False)


def _valid_percent_names(d: Path) -> Path:  # RFC 8493 2.1.3: %, LF and CR in names are percent-encoded
    return make_bag(d, {"data/records.jsonl": RECORD, "data/100%25 sure.txt": b"x", "data/two\nlines.txt": b"y",
                        "data/cr\rname.txt": b"z"}, algs=("sha256", "sha512"))


def _valid_nfd_on_disk(d: Path) -> Path:  # a bag moved through macOS: NFD names on disk, NFC in the manifest
    return make_bag(d, {"data/records.jsonl": RECORD, "data/caf\u00e9.txt": b"coffee"},
                    names_on_disk=lambda r: unicodedata.normalize("NFD", r))


def _valid_crlf(d: Path) -> Path:  # RFC 8493 allows CR, LF or CRLF line ends in tag files
    return make_bag(d, {"data/records.jsonl": RECORD, "data/b.txt": b"b"}, eol="\r\n",
                    bagit_txt=BAGIT.replace(b"\n", b"\r\n"))


def _valid_fetch(d: Path) -> Path:  # fetch.txt whose file is already present: a complete, valid bag
    return make_bag(d, {"data/records.jsonl": RECORD, "data/big.bin": b"big"},
                    fetch="https://example.org/big.bin 3 data/big.bin\n")


VALID = {"md5-only": _valid_md5_only, "percent-encoded-names": _valid_percent_names,
         "nfd-names-on-disk": _valid_nfd_on_disk, "crlf-line-ends": _valid_crlf, "fetch-complete": _valid_fetch}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_bags_verify(tmp_path: Path, name: str):
    b = VALID[name](tmp_path / name)
    res = bagmod.verify(b)
    assert res.ok, [str(p) for p in res.problems]
    assert res.files == len([p for p in b.joinpath("data").rglob("*") if p.is_file()])
    # a valid bag restores, unless it fetches (restore never downloads)
    target = tmp_path / "restored"
    out = CliRunner().invoke(cli, ["restore", str(b), "--archive", str(target)])
    if name == "fetch-complete":
        assert out.exit_code == 1 and "fetch.txt" in out.output and not target.exists()
    else:
        assert out.exit_code == 0, out.output
        assert Archive.open(target).posts().get_column("id").to_list() == ["t:1"]


def test_a_path_longer_than_the_console_is_printed_whole(tmp_path: Path):
    # piped output is 80 columns wide: a bag path longer than that was folded mid-word ("md5-only :"),
    # and a script reading the line got a path that does not exist
    b = _valid_md5_only(tmp_path / ("a-folder-whose-name-is-long-" * 3) / "md5-only")
    assert len(str(b)) > 100
    out = CliRunner().invoke(cli, ["verify", str(b)])
    assert out.exit_code == 0 and out.output.splitlines()[0] == f"{b}: valid (2 files checked against md5)"


def test_md5_only_message_names_md5(tmp_path: Path):
    # case bag-verify-manifest-completeness-and-algorithms: the message names what was actually checked
    b = _valid_md5_only(tmp_path / "md5-only")
    out = CliRunner().invoke(cli, ["verify", str(b)])
    assert out.exit_code == 0 and " ".join(out.output.split()) == f"{b}: valid (2 files checked against md5)"
    js = json.loads(CliRunner().invoke(cli, ["verify", str(b), "--json"]).output)
    assert js["ok"] is True and js["algorithms"] == ["md5"] and js["files"] == 2
    b2 = make_bag(tmp_path / "two", algs=("sha256", "sha512"))
    out = CliRunner().invoke(cli, ["verify", str(b2)])
    assert " ".join(out.output.split()).endswith("valid (1 files checked against sha256 and sha512)")


# ---------------------------------------------------------------------- invalid bags: one rule each
def _bom(d: Path) -> Path:
    return make_bag(d, bagit_txt=b"\xef\xbb\xbf" + BAGIT)


def _nodata(d: Path) -> Path:
    b = make_bag(d, {}, oxum="0.0")
    (b / "data").rmdir()
    (b / "records-elsewhere").mkdir()
    return b


def _fetch_dotdot(d: Path) -> Path:
    return make_bag(d, fetch="https://example.invalid/x - ../../outside.txt\n")


def _incomplete_sha512(d: Path) -> Path:
    return make_bag(d, {"data/records.jsonl": RECORD, "data/b.txt": b"b\n"}, algs=("sha256", "sha512"),
                    skip={"sha512": {"data/b.txt"}})


def _no_bagit_txt(d: Path) -> Path:
    b = make_bag(d, tagmanifest=False)
    (b / "bagit.txt").unlink()
    return b


def _bagit_txt_order(d: Path) -> Path:
    return make_bag(d, bagit_txt=b"Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n")


def _no_manifest(d: Path) -> Path:
    b = make_bag(d, tagmanifest=False)
    (b / "manifest-sha256.txt").unlink()
    return b


def _malformed_line(d: Path) -> Path:
    return make_bag(d, extra_lines={"sha256": "not-a-checksum-line\n"})


def _duplicate_entry(d: Path) -> Path:
    return make_bag(d, extra_lines={"sha256": f"{hashlib.sha256(RECORD).hexdigest()}  data/records.jsonl\n"})


def _outside_data(d: Path) -> Path:
    return make_bag(d, extra_lines={"sha256": f"{hashlib.sha256(BAGIT).hexdigest()}  bagit.txt\n"})


def _dotdot_manifest(d: Path) -> Path:
    return make_bag(d, extra_lines={"sha256": f"{'0' * 64}  data/../../secret.txt\n"})


def _missing_file(d: Path) -> Path:
    b = make_bag(d, {"data/records.jsonl": RECORD, "data/gone.txt": b"g"}, oxum="3.1")
    (b / "data" / "gone.txt").unlink()
    return b


def _extra_file(d: Path) -> Path:
    b = make_bag(d)
    (b / "data" / "stowaway.txt").write_bytes(b"")
    return b


def _changed_payload(d: Path) -> Path:
    b = make_bag(d, {"data/records.jsonl": RECORD, "data/b.txt": b"b"})
    (b / "data" / "b.txt").write_bytes(b"c")
    return b


def _changed_tag(d: Path) -> Path:
    b = make_bag(d)
    with open(b / "bag-info.txt", "ab") as f:
        f.write(b"Forged: yes\n")
    return b


def _wrong_oxum(d: Path) -> Path:
    return make_bag(d, oxum="1.1")


def _fetch_bad_url(d: Path) -> Path:
    return make_bag(d, {"data/records.jsonl": RECORD, "data/b.txt": b"b"}, fetch="not-a-url 1 data/b.txt\n")


def _fetch_unlisted(d: Path) -> Path:
    return make_bag(d, fetch="https://example.org/c 1 data/c.txt\n")


def _unknown_alg(d: Path) -> Path:
    b = make_bag(d, algs=("sha256",))
    (b / "manifest-nosuchhash.txt").write_text(f"00  data/records.jsonl\n")
    return b


def _nfc_conflict(d: Path) -> Path:
    b = make_bag(d, {"data/records.jsonl": RECORD, "data/caf\u00e9.txt": b"1"})
    (b / "data" / "cafe\u0301.txt").write_bytes(b"2")  # the same name after NFC
    return b


def _symlink(d: Path) -> Path:
    b = make_bag(d)
    os.symlink("/etc/hostname", b / "data" / "link.txt")
    return b


# (builder, problem type, path, words the detail must contain)
INVALID: dict[str, tuple[Callable[[Path], Path], type, str, str]] = {
    "bom-in-bagit.txt": (_bom, bagmod.BagitTxtProblem, "bagit.txt", "byte-order mark"),
    "no-data-folder": (_nodata, bagmod.StructureProblem, "data", "no data/ directory"),
    "fetch-path-leaves-bag": (_fetch_dotdot, bagmod.FetchProblem, "../../outside.txt", "which leaves the bag"),
    "file-missing-from-one-manifest": (_incomplete_sha512, bagmod.NotInManifest, "data/b.txt",
                                       "data/b.txt is not listed in manifest-sha512.txt"),
    "no-bagit.txt": (_no_bagit_txt, bagmod.StructureProblem, "bagit.txt", "no bagit.txt"),
    "bagit.txt-lines-out-of-order": (_bagit_txt_order, bagmod.BagitTxtProblem, "bagit.txt", "exactly two lines"),
    "no-payload-manifest": (_no_manifest, bagmod.StructureProblem, ".", "no payload manifest"),
    "malformed-manifest-line": (_malformed_line, bagmod.ManifestProblem, "manifest-sha256.txt", "not 'CHECKSUM  PATH'"),
    "duplicate-manifest-entry": (_duplicate_entry, bagmod.ManifestProblem, "data/records.jsonl", "more than once"),
    "payload-manifest-names-tag-file": (_outside_data, bagmod.ManifestProblem, "bagit.txt", "outside data/"),
    "manifest-path-leaves-bag": (_dotdot_manifest, bagmod.UnsafePath, "data/../../secret.txt", "leaves the bag"),
    "listed-file-missing": (_missing_file, bagmod.FileMissing, "data/gone.txt", "not in the bag"),
    "file-in-no-manifest": (_extra_file, bagmod.UnexpectedFile, "data/stowaway.txt", "not in any manifest"),
    "payload-checksum-wrong": (_changed_payload, bagmod.ChecksumMismatch, "data/b.txt", "sha256 expected"),
    "tag-checksum-wrong": (_changed_tag, bagmod.ChecksumMismatch, "bag-info.txt", "sha256 expected"),
    "payload-oxum-wrong": (_wrong_oxum, bagmod.OxumMismatch, "bag-info.txt", "Payload-Oxum says 1 files / 1 bytes"),
    "fetch-url-not-absolute": (_fetch_bad_url, bagmod.FetchProblem, "fetch.txt", "not an absolute URL"),
    "fetch-file-not-in-manifest": (_fetch_unlisted, bagmod.FetchProblem, "data/c.txt", "not listed in manifest-sha256"),
    "unknown-algorithm": (_unknown_alg, bagmod.ManifestProblem, "manifest-nosuchhash.txt", "unknown checksum algorithm"),
    "names-equal-after-nfc": (_nfc_conflict, bagmod.NormalizationConflict, "data/", "NFC"),
    "payload-symlink": (_symlink, bagmod.UnsafePath, "data/link.txt", "symbolic link"),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_bags_are_refused_by_verify_and_restore(tmp_path: Path, name: str):
    build, typ, path, words = INVALID[name]
    b = build(tmp_path / name)
    res = bagmod.verify(b)
    assert not res.ok
    hits = [p for p in res.problems if isinstance(p, typ) and p.path.startswith(path) and words in p.detail]
    assert hits, [str(p) for p in res.problems]
    r = CliRunner()
    out = r.invoke(cli, ["verify", str(b)])
    assert out.exit_code == 1 and "failed verification" in out.output
    js = json.loads(r.invoke(cli, ["verify", str(b), "--json"]).output)
    assert js["ok"] is False and {"kind": typ.kind, "path": hits[0].path, "detail": hits[0].detail} in js["problems"]
    # restore refuses with one line, and leaves no archive behind
    target = tmp_path / "restored"
    out = r.invoke(cli, ["restore", str(b), "--archive", str(target)])
    assert out.exit_code == 1, out.output
    assert out.output.startswith(f"Error: refusing to restore {b}")
    assert out.output.count("Error:") == 1 and "\n  " not in out.output  # one message, no detail lines
    assert not target.exists()
    with pytest.raises(SnapshotError, match="refusing to restore") as e:
        bagmod.restore(b, Archive.open(tmp_path / "lib-target", create=True))
    assert any(words in d for d in e.value.details) or any(typ.kind in d for d in e.value.details)


@pytest.mark.parametrize("name", ["bom-in-bagit.txt", "no-data-folder", "fetch-path-leaves-bag"])
def test_bagit_itself_refuses_what_verify_refuses(tmp_path: Path, name: str):
    """The structural cases (bag-verify-accepts-rfc-invalid-structure) are refused by bagit too: verify agrees."""
    b = INVALID[name][0](tmp_path / name)
    try:
        ok = bagit.Bag(str(b)).is_valid()
    except bagit.BagError:
        ok = False
    assert ok is False and not bagmod.verify(b).ok


def test_every_problem_at_once(tmp_path: Path):
    b = make_bag(tmp_path / "b", {"data/records.jsonl": RECORD, "data/b.txt": b"b", "data/c.txt": b"c"},
                 algs=("sha256", "sha512"), skip={"sha512": {"data/c.txt"}}, bagit_txt=b"\xef\xbb\xbf" + BAGIT)
    (b / "data" / "b.txt").write_bytes(b"B")
    (b / "data" / "new.txt").write_bytes(b"n")
    kinds = {(p.kind, p.path) for p in bagmod.verify(b).problems}
    assert {("bagit.txt", "bagit.txt"), ("changed", "data/b.txt"), ("incomplete", "data/c.txt"),
            ("extra", "data/new.txt"), ("oxum", "bag-info.txt")} <= kinds
