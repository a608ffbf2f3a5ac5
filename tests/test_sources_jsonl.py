"""JSON Lines as real tools write it: BOM, arrays, pretty objects, truncated gzip, odd JSON."""
from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.errors import SourceError
from archive.ingest import ingest, ingest_lines
from archive.sources.jsonl import JsonlSource
from archive.store import Archive
from dashboard.cli import cli

DATA = Path(__file__).resolve().parent / "data"


def rec(i: int | str, **kw) -> dict:
    return {"id": f"t:{i}", "source": "t", "created_at": "2024-05-01T10:00:00Z", **kw}


@pytest.fixture
def arc(tmp_path: Path) -> Archive:
    return Archive.open(tmp_path / "arc", create=True)


def test_case_utf8_bom_is_skipped(arc):
    # case jsonl-utf8-bom: BOM + 2 records, CRLF
    r = ingest(arc, JsonlSource([str(DATA / "jsonl-utf8-bom" / "bom.jsonl")]))
    assert (r.read, r.stored, r.quarantined) == (2, 2, 0)
    assert arc.edges().select("child", "parent").rows() == [("t:2", "t:1")]
    assert arc.lineage().filter(placeholder=True).height == 0


def test_case_json_array_file_is_read_as_records(arc):
    # case jsonl-json-array-file: json.dump(records, f, indent=2)
    r = ingest(arc, JsonlSource([str(DATA / "jsonl-json-array-file" / "records.json")]))
    assert (r.read, r.stored, r.quarantined) == (2, 2, 0)
    assert arc.edges().select("child", "parent").rows() == [("t:41", "t:40")]


def test_case_truncated_gzip_keeps_every_complete_record_and_says_how_far(tmp_path):
    # case jsonl-gz-truncated-loses-readable-records: 37 whole lines before the cut
    cut = DATA / "jsonl-gz-truncated-loses-readable-records" / "cut.jsonl.gz"
    for batch in ("1000", "10"):
        a = tmp_path / f"a{batch}"
        res = CliRunner().invoke(cli, ["ingest", "jsonl", str(cut), "--archive", str(a), "--batch-size", batch,
                                       "--json"])
        assert res.exit_code == 1
        assert "ends early after line 37" in res.stderr and "the 37 complete line(s)" in res.stderr
        assert len(res.stderr.strip().splitlines()[-1]) > 0 and "Traceback" not in res.output
        out = json.loads(res.stdout)
        assert (out["read"], out["stored"], out["quarantined"]) == (38, 37, 1)
        store = Archive.open(a)
        assert store.posts().height == 37
        runs = store.runs().sort("at").tail(1)
        assert (runs["read"][0], runs["stored"][0]) == (38, 37)
        # the run says it did not read the whole file (not "completed"), and why
        assert out["status"] == runs["status"][0] == "incomplete"
        assert "ends early after line 37" in runs["error"][0]
        q = store.quarantine()
        assert q["location"][0].endswith(":38") and "ends early" in q["reasons"][0][0]


def test_a_gzip_cut_exactly_at_a_line_end_quarantines_nothing(arc, tmp_path):
    whole = gzip.compress(b"".join(json.dumps(rec(i)).encode() + b"\n" for i in range(50)), mtime=0)
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(whole[:-8])  # the data is all there; the gzip trailer (CRC, size) is not
    src = JsonlSource([str(f)])
    r = ingest(arc, src)
    assert (r.stored, r.quarantined) == (50, 0)
    assert src.incomplete and "after line 50" in src.incomplete[0]


def test_pretty_printed_objects_one_or_many_are_records(arc, tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps(rec(1, prompt="a fox"), indent=2))
    many = tmp_path / "jq.json"  # what `jq . records.jsonl` writes: objects one after another
    many.write_text("\n".join(json.dumps(rec(i, parents=["t:1"]), indent=2) for i in (2, 3)) + "\n")
    src = JsonlSource([str(one), str(many)])
    locs = [loc.rsplit("/", 1)[-1] for loc, _, _ in src.items(None)]
    assert locs == ["one.json:1", "jq.json:1", "jq.json:9"]
    r = ingest(arc, JsonlSource([str(one), str(many)]))
    assert (r.stored, r.quarantined) == (3, 0)


def test_a_broken_array_quarantines_the_rest_once_not_every_line(arc, tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('[\n  {"id": "t:1", "source": "t", "created_at": "2024-05-01T10:00:00Z"},\n  {"id": "t:2", oops}\n]\n')
    r = ingest(arc, JsonlSource([str(f)]))
    assert (r.read, r.stored, r.quarantined) == (2, 1, 1)
    q = arc.quarantine()
    assert q["location"][0].endswith(":3") and q["reasons"][0][0].startswith("not JSON")


def test_lone_surrogate_is_quarantined_with_the_right_reason(arc):
    good = json.dumps(rec(1, prompt="a cat \U0001F408")).encode()  # json.dumps writes the emoji as a pair
    lone = good.replace(b"\\udc08", b"")  # a writer that cut the emoji in half
    invalid = json.dumps(rec(2, prompt="caf\u00e9"), ensure_ascii=False).encode().replace(b"\xc3\xa9", b"\xe9")
    r = ingest_lines(arc, [good, lone, invalid])
    assert (r.stored, r.quarantined) == (1, 2)
    reasons = {loc: rs[0] for loc, rs in arc.quarantine().select("location", "reasons").rows()}
    assert reasons["<lines>:2"].startswith("not text: a lone surrogate escape \\ud83d")
    assert "UTF-8" not in reasons["<lines>:2"]
    assert reasons["<lines>:3"] == "line is not valid UTF-8 text (save the file as UTF-8)"
    assert arc.posts()["prompt"].to_list() == ["a cat \U0001F408"]


def test_duplicate_keys_are_quarantined_at_any_depth(arc):
    lines = [b'{"id": "t:1", "source": "t", "created_at": "2024-05-01T10:00:00Z", "id": "t:9"}',
             b'{"id": "t:2", "source": "t", "created_at": "2024-05-01T10:00:00Z", "extra": {"k": 1, "k": 2}}',
             b'{"id" : "t:3", "source":"t", "created_at" : "2024-05-01T10:00:00Z", "id" :"t:4"}',
             b'{"id": "t:5", "source": "t", "created_at": "2024-05-01T10:00:00Z", "title": "a: b \\": c"}']
    r = ingest_lines(arc, lines)
    assert (r.stored, r.quarantined) == (1, 3)
    reasons = sorted(rs[0].split(":", 1)[0] for rs in arc.quarantine()["reasons"].to_list())
    assert reasons == ["id", "id", "k"]
    assert arc.posts()["id"].to_list() == ["t:5"]


def test_integers_beyond_64_bits_in_extra_survive_exactly(arc):
    big, neg = 2 ** 70 + 1, -(2 ** 64) - 3
    line = json.dumps(rec(1, extra={"snowflake": big, "neg": neg, "ok": 2 ** 63 - 1, "f": 0.5})).encode()
    r = ingest_lines(arc, [line, json.dumps(rec(2, metrics={"views": big})).encode()])
    assert (r.stored, r.quarantined) == (1, 1)
    stored = json.loads(arc.records()["record"][0])
    assert stored["extra"] == {"snowflake": big, "neg": neg, "ok": 2 ** 63 - 1, "f": 0.5}
    assert "beyond 64 bits" in arc.quarantine()["reasons"][0][0]
    # and again: the same record is unchanged, not stored twice
    assert ingest_lines(arc, [line]).unchanged == 1


@pytest.mark.parametrize("name, body", [
    ("prompts.csv", b"id,prompt,created_at\n1,a cat,2024-01-01\n2,a dog,2024-01-02\n"),
    ("prompts.tsv", b"id\tprompt\n1\ta cat\n"),
    ("prompts.jsonl", b"\xef\xbb\xbfid,prompt,created_at\r\n1,a cat,2024-01-01\r\n"),  # a CSV misnamed
    ("data.parquet", b"PAR1\x15\x04\x15\x10"),
])
def test_a_table_given_to_jsonl_is_refused_naming_the_table_source(tmp_path, name, body):
    f = tmp_path / name
    f.write_bytes(body)
    a = tmp_path / "arc"
    res = CliRunner().invoke(cli, ["ingest", "jsonl", str(f), "--archive", str(a)])
    assert res.exit_code == 1
    line = res.stderr.strip().splitlines()
    assert len(line) == 1 and "archivist ingest table" in line[0] and "--map" in line[0]
    assert not (a / "quarantine").exists() or Archive.open(a).quarantine().height == 0


def test_a_jsonl_file_with_one_bad_first_line_is_not_taken_for_a_table(arc, tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text("garbage, with a comma\n" + json.dumps(rec(1)) + "\n" + json.dumps(rec(2)) + "\n")
    r = ingest(arc, JsonlSource([str(f)]))
    assert (r.stored, r.quarantined) == (2, 1)


def test_a_table_on_stdin_is_refused_too(monkeypatch):
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(b"id,prompt\n1,a cat\n"))))
    with pytest.raises(SourceError, match="ingest table") as e:
        list(JsonlSource(["-"]).items(None))
    # `ingest table` reads files, not streams: the hint says to save it first and does not name "-"
    assert "save it to a file and ingest that with `archivist ingest table FILE --map" in str(e.value)


def _gz_lines(n: int, *, final_newline: bool = True) -> tuple[list[bytes], bytes]:
    lines = [json.dumps(rec(i, prompt=f"a corgi number {i}")).encode() for i in range(n)]
    return lines, gzip.compress(b"\n".join(lines) + (b"\n" if final_newline else b""), mtime=0)


@pytest.mark.parametrize("final_newline", [True, False])
def test_a_gzip_cut_at_every_byte_of_its_end_keeps_a_prefix_and_says_so(tmp_path, final_newline):
    # property: whatever byte the file is cut at (all of the deflate end and the 8-byte trailer),
    # nothing raises, every item is a whole record of the file in order or one quarantined cut line,
    # read = stored + quarantined, and a cut file is always said to be incomplete
    lines, whole = _gz_lines(30, final_newline=final_newline)
    for cut in range(len(whole) - 20, len(whole) + 1):
        readable = zlib.decompressobj(31).decompress(whole[:cut])  # what any reader can get back
        f = tmp_path / f"c{cut}.jsonl.gz"
        f.write_bytes(whole[:cut])
        arc = Archive.open(tmp_path / f"a{cut}", create=True)
        src = JsonlSource([str(f)])
        r = ingest(arc, src)
        assert r.reconciles and r.read == r.stored + r.quarantined
        stored = sorted(arc.posts().get_column("id").to_list(), key=lambda x: int(x[2:]))
        assert stored == [f"t:{i}" for i in range(len(stored))]  # a prefix, nothing skipped
        assert r.stored + r.quarantined <= 30
        if cut == len(whole):
            assert (r.stored, r.quarantined, r.status, src.incomplete) == (30, 0, "completed", [])
        else:
            assert r.status == "incomplete" and src.incomplete, cut
            whole_lines = readable.count(b"\n")
            assert r.stored == whole_lines  # every line that came out whole is stored
            assert r.quarantined == (1 if readable.rsplit(b"\n", 1)[-1] else 0)  # the cut line, if any
            if r.quarantined:
                q = arc.quarantine()
                assert "ends early" in q["reasons"][0][0] and q["location"][0].endswith(f":{r.stored + 1}")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_bom_are_read_as_text(arc, tmp_path, encoding):
    # PowerShell 5 `>` / Out-File write UTF-16 LE with a BOM
    text = "\r\n".join(json.dumps(rec(i, prompt="café 🙂"), ensure_ascii=False) for i in (1, 2)) + "\r\n"
    f = tmp_path / "ps.jsonl"
    f.write_bytes(("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding))
    r = ingest(arc, JsonlSource([str(f)]))
    assert (r.stored, r.quarantined) == (2, 0)
    assert arc.posts().sort("id").get_column("prompt").to_list() == ["café 🙂", "café 🙂"]


def test_a_gz_name_on_plain_text_is_read_as_text_and_a_broken_gzip_header_is_one_line(tmp_path):
    plain = tmp_path / "already-decompressed.jsonl.gz"  # curl --compressed -o x.jsonl.gz
    plain.write_text(json.dumps(rec(1)) + "\n")
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not a gzip header")
    res = CliRunner().invoke(cli, ["ingest", "jsonl", str(broken), str(plain), "--archive", str(tmp_path / "a"),
                                   "--json"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.strip().splitlines()[-1].startswith(f"Error: {broken}: nothing could be read from it")
    out = json.loads(res.stdout)
    assert (out["read"], out["stored"], out["status"]) == (1, 1, "incomplete")
    assert Archive.open(tmp_path / "a").posts().get_column("id").to_list() == ["t:1"]


@pytest.mark.parametrize("stray", ["[1, 2]", "{", "[", '[{"id": "t:9", "source": "t", "created_at": "2024-05-01T10:00:00Z"}]'])
def test_a_stray_array_or_brace_line_inside_json_lines_is_one_bad_line(arc, tmp_path, stray):
    # only the first line makes a file a JSON document: a bad line further down must not swallow the
    # valid records after it into one quarantined blob
    f = tmp_path / "mid.jsonl"
    f.write_text("\n".join([json.dumps(rec(1)), stray, json.dumps(rec(3)), "{bad", json.dumps(rec(5))]) + "\n")
    r = ingest(arc, JsonlSource([str(f)]))
    assert r.reconciles and (r.read, r.stored, r.quarantined) == (5, 3, 2)
    assert sorted(arc.posts().get_column("id").to_list()) == ["t:1", "t:3", "t:5"]
    assert sorted(arc.quarantine().get_column("location").to_list()) == [f"{f}:2", f"{f}:4"]


@pytest.mark.parametrize("name", ["C.jpg", "video1.mp4"])
def test_media_or_binary_given_to_jsonl_is_refused_not_shredded_into_junk(tmp_path, monkeypatch, name):
    # a JPEG gave 5,591 junk quarantine rows, an MP4 was taken for a table: one line, nothing read
    media = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "c2pa" / name
    kind = "a JPEG image" if name.endswith(".jpg") else "an MP4/MOV video"
    with pytest.raises(SourceError, match=f"is {kind}, not JSON Lines text: nothing was read; media with Content"):
        JsonlSource([str(media)])
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(media.read_bytes()))))
    with pytest.raises(SourceError, match=f"- is {kind}"):
        list(JsonlSource(["-"]).items(None))
    nul = tmp_path / "x.jsonl"
    nul.write_bytes(json.dumps(rec(1)).encode("utf-16-le"))  # UTF-16 without a BOM
    with pytest.raises(SourceError, match="NUL bytes"):
        JsonlSource([str(nul)])


@pytest.mark.parametrize("packed", [False, True])
def test_a_named_pipe_is_read_once_and_whole(arc, tmp_path, packed):
    """``archivist ingest jsonl <(zcat dump.gz)`` hands over a pipe: looking at its head first used to
    eat the first records (46 of 50 read, one quarantined as "not JSON")."""
    import os
    import threading

    lines = b"".join(json.dumps({"id": f"p:{i}", "source": "p", "created_at": "2026-01-01T00:00:00Z",
                                 "prompt": f"a red fox number {i}"}).encode() + b"\n" for i in range(50))
    body = gzip.compress(lines) if packed else lines
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(body)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        r = ingest(arc, JsonlSource([str(fifo)]))
    finally:
        if writer.is_alive():  # the pipe was never opened for reading: open it so the writer can end
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            writer.join(timeout=10)
            os.close(fd)
    assert (r.read, r.stored, r.quarantined) == (50, 50, 0)
    assert arc.posts().height == 50
