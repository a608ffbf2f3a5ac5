"""The table source: CSV, TSV and Parquet prompt datasets through a column map."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from archive.errors import SourceError
from archive.ingest import ingest
from archive.sources.table import TableSource, parse_map
from archive.store import Archive
from dashboard.cli import cli

# DiffusionDB-like metadata: image_name, prompt, seed, cfg, sampler, user_name, timestamp (UTC)
ROWS = [
    {"image_name": "0a1.png", "prompt": "a lighthouse in a storm, oil painting", "seed": 1, "cfg": 7.0,
     "user_name": "u_ada", "timestamp": datetime(2022, 8, 1, 10, 0, tzinfo=timezone.utc), "remix_of": None},
    {"image_name": "0a2.png", "prompt": "a lighthouse in a storm, ukiyo-e", "seed": 2, "cfg": 7.5,
     "user_name": "u_bo", "timestamp": datetime(2022, 8, 1, 11, 30, tzinfo=timezone.utc), "remix_of": "0a1.png"},
    {"image_name": "0a3.png", "prompt": "a lighthouse at night, film noir 🌙", "seed": 3, "cfg": 9.0,
     "user_name": "u_cy", "timestamp": datetime(2022, 8, 2, 9, 15, 30, tzinfo=timezone.utc), "remix_of": "0a2.png"},
]
MAP = "id=image_name,prompt=prompt,created_at=timestamp,author=user_name,parent=remix_of"


def write(tmp_path: Path, kind: str) -> Path:
    df = pl.DataFrame(ROWS)
    if kind == "parquet":
        f = tmp_path / "diffusiondb.parquet"
        df.write_parquet(f)
    else:
        f = tmp_path / f"diffusiondb.{kind}"
        df.with_columns(pl.col("timestamp").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).write_csv(
            f, separator="\t" if kind == "tsv" else ",")
    return f


@pytest.mark.parametrize("kind", ["csv", "tsv", "parquet"])
def test_csv_tsv_and_parquet_give_the_same_records_and_edges(tmp_path, kind):
    f = write(tmp_path, kind)
    arc = Archive.open(tmp_path / "arc", create=True)
    r = ingest(arc, TableSource(f, parse_map(MAP)))
    assert (r.read, r.stored, r.quarantined) == (3, 3, 0)
    assert sorted(arc.edges().select("child", "parent", "relation", "evidence").rows()) == [
        ("diffusiondb:0a2.png", "diffusiondb:0a1.png", "remix", "declared"),
        ("diffusiondb:0a3.png", "diffusiondb:0a2.png", "remix", "declared")]
    posts = arc.posts().sort("id")
    assert posts["prompt"].to_list() == [x["prompt"] for x in ROWS]
    assert posts["author"].to_list() == ["u_ada", "u_bo", "u_cy"]
    assert [str(t)[:19] for t in posts["created_at"].to_list()] == [
        "2022-08-01 10:00:00", "2022-08-01 11:30:00", "2022-08-02 09:15:30"]
    rec = json.loads(arc.records().filter(id="diffusiondb:0a3.png")["record"][0])
    seed = rec["extra"]["seed"]
    assert (seed if kind == "parquet" else int(seed)) == 3 and "prompt" not in rec["extra"]
    assert arc.lineage().filter(id="diffusiondb:0a3.png")["depth"][0] == 2
    # reading the same file again changes nothing
    assert ingest(arc, TableSource(f, parse_map(MAP))).unchanged == 3


def test_dry_run_shows_the_first_mapped_records_and_writes_nothing(tmp_path):
    f = write(tmp_path, "parquet")
    a = tmp_path / "arc"
    res = CliRunner().invoke(cli, ["ingest", "table", str(f), "--map", MAP, "--dry-run", "--rows", "2",
                                   "--archive", str(a), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["columns"] == list(ROWS[0])
    assert [r["id"] for r in out["records"]] == ["diffusiondb:0a1.png", "diffusiondb:0a2.png"]
    assert out["records"][1]["parents"][0]["id"] == "diffusiondb:0a1.png"
    assert out["records"][0]["created_at"] in ("2022-08-01T10:00:00Z", "2022-08-01T10:00:00.000000Z")
    assert not a.exists()
    res = CliRunner().invoke(cli, ["ingest", "table", str(f), "--map", MAP, "--dry-run", "--rows", "1"])
    assert res.exit_code == 0 and "diffusiondb:0a1.png" in res.stdout and "0a2.png" not in res.stdout


def test_dry_run_says_which_rows_the_ingest_would_quarantine(tmp_path):
    # the dry run showed '"created_at": "yesterday"' as if it would be stored; the real run quarantined it
    f = tmp_path / "krea.csv"
    f.write_text("id,prompt,t\n1,a cat\u202e,2024-01-01T00:00:00Z\n3,bad time,yesterday\n1,other,2024-01-02T00:00:00Z\n",
                 "utf-8")
    args = ["ingest", "table", str(f), "--map", "id=id,prompt=prompt,created_at=t", "--dry-run",
            "--archive", str(tmp_path / "arc")]
    out = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    assert out["quarantine_reasons"][:2] == [[], ["created_at: not an RFC 3339 time: 'yesterday'"]]
    assert out["quarantine_reasons"][2][0].startswith("id: '1' is also the id of row 1, with other values")
    assert out["records"][0]["prompt"] == "a cat\u202e"  # JSON for scripts: verbatim
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and "would be quarantined: created_at: not an RFC 3339 time: 'yesterday'" in res.stderr
    assert "2 of these 3 record(s) would be quarantined" in res.stderr
    assert '"a cat⟨U+202E⟩"' in res.stdout and "\u202e" not in res.stdout  # for a person: shown, not obeyed
    assert not (tmp_path / "arc").exists()  # and it wrote nothing


def test_bad_rows_are_quarantined_with_their_reasons(tmp_path):
    f = tmp_path / "krea.csv"
    f.write_text("id,prompt,t\n1,a cat,2024-01-01T00:00:00Z\n,no id,2024-01-01T00:00:00Z\n3,bad time,yesterday\n"
                 "4,\"multi\nline, quoted\",1714557600\n")
    arc = Archive.open(tmp_path / "arc", create=True)
    r = ingest(arc, TableSource(f, parse_map("id=id,prompt=prompt,created_at=t"), source="krea"))
    assert (r.read, r.stored, r.quarantined) == (4, 2, 2)
    reasons = sorted(x.split(":")[0] for rs in arc.quarantine()["reasons"].to_list() for x in rs)
    assert reasons == ["created_at", "id"]
    assert dict(arc.posts().select("id", "prompt").rows()) == {"krea:1": "a cat", "krea:4": "multi\nline, quoted"}


def test_integer_unix_times_in_seconds_and_milliseconds(tmp_path):
    f = tmp_path / "t.parquet"
    pl.DataFrame({"id": [1, 2], "t": [1714557600, 1714557600123]}).write_parquet(f)
    recs = TableSource(f, parse_map("id=id,created_at=t")).preview()
    assert [r["created_at"] for r in recs] == ["2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00.123Z"]


@pytest.mark.parametrize("mapping, message", [
    ("id=image_name,prompt=prompt", "must name a column for created_at"),
    ("id=image_name,created_at=timestamp,prompt=text", "no column 'text'"),
    ("id=image_name,created_at=timestamp,mood=x", "unknown field 'mood'"),
    ("id=image_name,created_at", "not FIELD=COLUMN"),
])
def test_a_wrong_map_is_a_one_line_error(tmp_path, mapping, message):
    f = write(tmp_path, "csv")
    with pytest.raises(SourceError, match=message):
        TableSource(f, parse_map(mapping))
    res = CliRunner().invoke(cli, ["ingest", "table", str(f), "--map", mapping, "--archive", str(tmp_path / "a")])
    assert res.exit_code != 0 and message in res.output and "Traceback" not in res.output


def _cli(*args: str) -> object:
    res = CliRunner().invoke(cli, ["ingest", "table", *map(str, args)])
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    return res


@pytest.mark.parametrize("body, sep, message", [
    (b"", None, "the file is empty (a table needs a header row"),
    ("id,ts\n".encode("utf-16"), None, "the text is UTF-16 or UTF-32"),
    (b"id,prompt,ts\n1,caf\xe9 au lait,2022-01-01T00:00:00Z\n", None,
     "line 2 is not UTF-8 text (byte 0xe9); save the file as UTF-8"),
    (b"id,prompt,ts\n1,ok,2022-01-01T00:00:00Z\n2,a cat, red,2022-01-01T00:00:00Z\n", None,
     "row 2 has 4 fields, the header 3: quote a field that holds ','"),
    (b"id,prompt,ts\n1,ok,2022-01-01T00:00:00Z\n", ";;", "--separator: ';;' must be one character"),
])
def test_a_file_polars_would_misread_is_a_one_line_error_that_says_where(tmp_path, body, sep, message):
    # what used to be a traceback (empty file, a bad --separator) or silently changed data (bytes
    # replaced by U+FFFD, the fields after the header's count dropped): one line naming the place
    f = tmp_path / "t.csv"
    f.write_bytes(body)
    res = _cli(f, "--map", "id=id,prompt=prompt,created_at=ts", "--archive", tmp_path / "a",
               *(["--separator", sep] if sep else []))
    assert res.exit_code == 1
    last = res.stderr.strip().splitlines()
    assert len(last) == 1 and message in last[0], res.stderr
    assert not (tmp_path / "a").exists() or Archive.open(tmp_path / "a").posts().height == 0


@pytest.mark.parametrize("body, sep", [
    ("id\tprompt\tts\n1\ta cat, red\t2022-01-01T00:00:00Z\n", None),  # a TSV named .csv: the header says so
    ("id;prompt;ts\n1;a cat, red;2022-01-01T00:00:00Z\n", None),  # a European Excel CSV
    ("id\tprompt\tts\n1\ta cat, red\t2022-01-01T00:00:00Z\n", "\\t"),  # --separator '\t' as typed in a shell
    ("\ufeffid,prompt,ts\r\n1,\"a cat, red\",2022-01-01T00:00:00Z\r\n", None),  # Excel "CSV UTF-8": BOM + CRLF
])
def test_separators_bom_and_crlf_as_real_tools_write_them(tmp_path, body, sep):
    f = tmp_path / "t.csv"
    f.write_bytes(body.encode("utf-8"))
    src = TableSource(f, parse_map("id=id,prompt=prompt,created_at=ts"), separator=sep)
    assert src.columns == ["id", "prompt", "ts"]
    assert src.preview(5) == [{"id": "t:1", "source": "t", "created_at": "2022-01-01T00:00:00Z",
                               "prompt": "a cat, red"}]


def test_quoted_newlines_and_quotes_are_kept_exactly(tmp_path):
    f = tmp_path / "t.csv"
    f.write_bytes(b'id,prompt,ts\r\n1,"line one\r\nline ""two""",2022-01-01T00:00:00Z\r\n2,b,2022-01-02T00:00:00Z\r\n')
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, TableSource(f, parse_map("id=id,prompt=prompt,created_at=ts")))
    assert (r.stored, r.quarantined) == (2, 0)
    assert arc.posts().sort("id").get_column("prompt").to_list() == ['line one\r\nline "two"', "b"]


def test_duplicate_ids_keep_the_first_row_and_quarantine_a_different_one(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("id,prompt,ts\na,first,2022-01-01T00:00:00Z\nb,other,2022-01-01T00:00:00Z\n"
                 "a,second,2022-01-02T00:00:00Z\na,first,2022-01-01T00:00:00Z\n")
    arc = Archive.open(tmp_path / "a", create=True)
    for _ in range(2):  # and again: nothing new, the same one row quarantined
        r = ingest(arc, TableSource(f, parse_map("id=id,prompt=prompt,created_at=ts")))
        assert r.reconciles and r.read == 4 and r.quarantined == 1
    assert dict(arc.posts().select("id", "prompt").rows()) == {"t:a": "first", "t:b": "other"}
    assert arc.records().height == 2  # an identical repeat of row 1 is the same record, not a second observation
    q = arc.quarantine()
    assert q.height == 1 and q["location"][0].endswith(":row 3")
    assert q["reasons"][0][0].startswith("id: 'a' is also the id of row 1, with other values")
    assert json.loads(q["raw"][0])["prompt"] == "second"  # nothing lost


def test_parquet_with_nested_columns_and_huge_ids(tmp_path):
    f = tmp_path / "n.parquet"
    pl.DataFrame({"id": [2**63 - 1, 7], "ts": [1_660_000_000, 1_660_000_001],
                  "meta": [{"seed": 1, "cfg": 7.5}, {"seed": 2, "cfg": None}], "tags": [["a", "b"], []]}
                 ).write_parquet(f)
    arc = Archive.open(tmp_path / "a", create=True)
    r = ingest(arc, TableSource(f, parse_map("id=id,created_at=ts")))
    assert (r.stored, r.quarantined) == (2, 0)
    rec = json.loads(arc.records().filter(pl.col("id") == f"n:{2**63 - 1}")["record"][0])
    assert rec["extra"] == {"meta": {"seed": 1, "cfg": 7.5}, "tags": ["a", "b"]}
    g = tmp_path / "h.csv"  # an id longer than the record format allows: quarantined with the reason
    g.write_text(f"id,ts\n{'9' * 5000},2022-01-01T00:00:00Z\n1,2022-01-01T00:00:00Z\n")
    r = ingest(arc, TableSource(g, parse_map("id=id,created_at=ts")))
    assert (r.stored, r.quarantined) == (1, 1) and "at most 1024 characters" in arc.quarantine()["reasons"][0][0]


def test_a_parent_that_names_no_row_is_a_placeholder_and_said(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("id,prompt,ts,from\n1,a,2022-01-01T00:00:00Z,\n2,b,2022-01-02T00:00:00Z,1\n"
                 "3,c,2022-01-03T00:00:00Z,https://example.org/img/1.png\n")
    res = _cli(f, "--map", "id=id,prompt=prompt,created_at=ts,parent=from", "--archive", tmp_path / "a")
    assert res.exit_code == 0
    assert "note: 1 parent value(s) name no row of t.csv (e.g. 'https://example.org/img/1.png')" in res.stderr
    lin = Archive.open(tmp_path / "a").lineage()
    assert lin.filter(placeholder=True).get_column("id").to_list() == ["t:https://example.org/img/1.png"]


@pytest.mark.parametrize("mapping, message", [
    ("id=image_name;prompt=prompt;created_at=timestamp", "holds more than one '='; separate FIELD=COLUMN pairs"),
    ("id=image_name,prompt", "'prompt' is not FIELD=COLUMN"),
    ("id=image_name,created_at=timestamp,prompt=nope", "no column 'nope'"),
])
def test_map_slips_are_one_line_errors(tmp_path, mapping, message):
    f = write(tmp_path, "csv")
    res = _cli(f, "--map", mapping, "--archive", tmp_path / "a")
    assert res.exit_code == 1 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_pandas_style_float_ids_and_times_and_nested_columns_mapped_by_mistake(tmp_path):
    # pandas writes an integer column with gaps as float64: ids 1.0 are ids 1, times 1660000000.0 are Unix
    # seconds (and 1660000000500.0 milliseconds); a nested column mapped to a text field is refused by name
    f = tmp_path / "p.parquet"
    pl.DataFrame({"id": [1.0, 2.0, None], "from": [None, 1.0, 1.5], "ts": [1_660_000_000.0, 1_660_000_000_500.0, 7.0],
                  "meta": [{"a": 1}, {"a": 2}, None]}).write_parquet(f)
    recs = TableSource(f, parse_map("id=id,created_at=ts,parent=from")).preview(3)
    assert [r["id"] for r in recs] == ["p:1", "p:2", None]
    assert [r["created_at"] for r in recs] == ["2022-08-08T23:06:40.000Z", "2022-08-08T23:06:40.500Z",
                                               "1970-01-01T00:00:07.000Z"]
    assert [[p["id"] for p in r.get("parents", [])] for r in recs] == [[], ["p:1"], ["p:1.5"]]
    g = tmp_path / "t.csv"
    g.write_text("id,ts\n1,1660000000.5\n")
    assert TableSource(g, parse_map("id=id,created_at=ts")).preview(1)[0]["created_at"] == "2022-08-08T23:06:40.500Z"
    with pytest.raises(SourceError, match=r"--map: prompt=meta is a Struct column: map a column of text"):
        TableSource(f, parse_map("id=id,created_at=ts,prompt=meta"))


@pytest.mark.parametrize("name, body, message", [
    ("book.xlsx", b"PK\x03\x04rest of a zip", "a spreadsheet workbook or zip file, not a text table: save it as CSV"),
    ("r.jsonl", b'\xef\xbb\xbf{"id": "t:1"}\n', "JSON, not a table: ingest it with `archivist ingest jsonl"),
    ("r.csv.gz", __import__("gzip").compress(b"id,prompt,ts\n1,a, b,2022-01-01T00:00:00Z\n", mtime=0),
     "row 1 has 4 fields, the header 3"),
])
def test_a_workbook_json_or_gzip_csv_with_a_bad_row_is_named_as_such(tmp_path, name, body, message):
    f = tmp_path / name
    f.write_bytes(body)
    res = _cli(f, "--map", "id=id,created_at=ts", "--archive", tmp_path / "a")
    assert res.exit_code == 1 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_dates_alone_repeated_header_names_and_parent_equal_to_id(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("id,ts\n1,2022-01-01\n2,01/02/2022\n")
    recs = TableSource(f, parse_map("id=id,created_at=ts")).preview()
    assert [r["created_at"] for r in recs] == ["2022-01-01T00:00:00Z", "01/02/2022"]  # the second: quarantined later
    g = tmp_path / "g.csv"
    g.write_text("id,id,ts\n1,2,2022-01-01T00:00:00Z\n")
    with pytest.raises(SourceError, match=r"the header names 'id' more than once, so --map is ambiguous"):
        TableSource(g, parse_map("id=id,created_at=ts"))
    with pytest.raises(SourceError, match=r"--map: parent and id name the same column 'id'"):
        TableSource(f, parse_map("id=id,created_at=ts,parent=id"))


def test_a_bad_row_after_batches_were_given_says_what_was_kept(tmp_path):
    # polars hands out batches before it meets a bad row far down a big file: the message must then
    # not say "nothing was stored" (and a bad row met first must not say rows were kept: tested above)
    f = tmp_path / "t.csv"
    with f.open("w") as fh:
        fh.write("id,prompt,ts\n")
        fh.writelines(f"{i},p{i},2022-01-01T00:00:00Z\n" for i in range(300_000))
        fh.write("x,a, b,2022-01-01T00:00:00Z\n")
    src = TableSource(f, parse_map("id=id,prompt=prompt,created_at=ts"), batch_rows=5000)
    n = 0
    with pytest.raises(SourceError, match=r"row 300001 has 4 fields, the header 3.*the batches committed before it are kept"):
        for df in src._batches():
            n += df.height
    assert 0 < n < 300_000


@pytest.mark.parametrize("stamp", [0x09090909, 0x3B3B3B3B, 0x7C7C7C7C, 0x2C2C2C2C, 0x6B0E1F09])
def test_a_gzip_csv_is_sniffed_on_its_text_not_its_compressed_bytes(tmp_path, stamp):
    """The gzip header's time stamp is four arbitrary bytes: a tab, ; or | there made a .csv.gz
    read as one column (0x6B0E1F09, a real time stamp, failed a CI run: "no column 'id', 'ts'
    (its columns: id,prompt,ts)")."""
    import gzip

    f = tmp_path / "r.csv.gz"
    f.write_bytes(gzip.compress(b"id,prompt,ts\nt1,a cat,2022-01-01T00:00:00Z\n", mtime=stamp))
    assert TableSource(f, parse_map("id=id,created_at=ts")).separator == ","
    tsv = tmp_path / "r.tsv.gz"  # and a tab-separated one whose stamp holds commas
    tsv.write_bytes(gzip.compress(b"id\tprompt\tts\nt1\ta cat\t2022-01-01T00:00:00Z\n", mtime=stamp))
    assert TableSource(tsv, parse_map("id=id,created_at=ts")).separator == "\t"
    res = _cli(f, "--map", "id=id,created_at=ts", "--archive", tmp_path / "a")
    assert res.exit_code == 0, res.stderr


def test_gzip_json_and_a_broken_gzip_are_named(tmp_path):
    import gzip

    j = tmp_path / "r.csv.gz"
    j.write_bytes(gzip.compress(b'{"id": "t:1"}\n', mtime=0))
    with pytest.raises(SourceError, match="JSON, not a table"):
        TableSource(j, parse_map("id=id,created_at=ts"))
    b = tmp_path / "b.csv.gz"
    b.write_bytes(gzip.compress(b"id,prompt,ts\n" * 50, mtime=0)[:30])  # cut short
    with pytest.raises(SourceError, match="cannot be decompressed"):
        TableSource(b, parse_map("id=id,created_at=ts"))
