"""Ingest attacked as a hostile new user would: each test is a fault found, and fails on the code before its fix."""
from __future__ import annotations

import pytest

import archive.ingest as ingest_mod
from archive.ingest import _prepare, _prepare_full, ingest
from archive.sources.jsonl import MAX_DEPTH, JsonlSource
from archive.store import Archive

HEAD = b'"id":"t:%d","source":"t","created_at":"2026-01-01T00:00:00Z"'


def _nested(i: int, depth: int) -> bytes:
    """A record ``depth + 1`` levels deep: its ``extra`` holds objects ``depth`` deep."""
    return b"{" + HEAD % i + b',"extra":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


@pytest.mark.parametrize("engine", [True, False])
def test_a_deeply_nested_line_is_quarantined_and_the_run_goes_on(tmp_path, monkeypatch, engine):
    # was: msgspec raised RecursionError (1000 levels) and the full path a TypeError from orjson.dumps
    # (255 levels and more): one hostile line stopped the whole ingest with a traceback
    if not engine:
        monkeypatch.setattr(ingest_mod, "_native", None)
    lines = [b"{" + HEAD % i + b"}" for i in range(3)] + [_nested(3, MAX_DEPTH - 1), _nested(4, MAX_DEPTH),
                                                            _nested(5, 300), _nested(6, 1100)]
    f = tmp_path / "deep.jsonl"
    f.write_bytes(b"\n".join(lines) + b"\n")
    a = Archive.open(tmp_path / "a", create=True)
    r = ingest(a, JsonlSource([str(f)]))
    assert (r.read, r.stored, r.quarantined, r.status) == (7, 4, 3, "completed")
    q = dict(zip(*a.quarantine().select("location", "reasons")))
    assert f"{f}:4" not in q  # as deep as a record may be: stored
    assert any("nested more than 254 levels" in x for x in q[f"{f}:5"]) and any("nested" in x for x in q[f"{f}:6"])
    assert any("depth limit" in x for x in q[f"{f}:7"])
    assert ingest(a, JsonlSource([str(f)])).stored == 0


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, 300, 1023, 1100])
def test_the_fast_path_and_the_full_path_agree_on_deep_nesting(depth):
    raw = _nested(1, depth)
    assert _prepare(raw) == _prepare_full(raw)


def test_without_the_engine_the_suite_runs_and_one_test_says_what_to_do(tmp_path):
    # was: with the extension not built (no compiler), collecting archive/ingest_native.py's doctests and
    # tests/test_ingest_native.py stopped the whole run on "cannot import name '_ingest_native'"
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    hide = "import sys; sys.modules['archive._ingest_native'] = None; import pytest; "
    opts = "'-p', 'no:cacheprovider', '-p', 'no:randomly', '-o', 'addopts=--doctest-modules'"
    collect = subprocess.run([sys.executable, "-c", hide + f"sys.exit(pytest.main(['--co', '-q', {opts}, "
                              "'archive', 'tests/test_ingest_native.py']))"], cwd=repo, capture_output=True, text=True)
    assert collect.returncode == 0, collect.stdout[-2000:]
    assert "test_the_engine_is_built" in collect.stdout and "archive/ingest.py::" in collect.stdout
    built = subprocess.run([sys.executable, "-c", hide + f"sys.exit(pytest.main(['-q', {opts}, "
                            "'tests/test_ingest_native.py']))"], cwd=repo, capture_output=True, text=True)
    assert built.returncode == 1, built.stdout[-2000:]  # one failure, the rest skipped
    assert "1 failed" in built.stdout and "skipped" in built.stdout
    assert "apt-get install build-essential libsimdjson-dev" in built.stdout and "pip install -e ." in built.stdout


_OUT_OF_MEMORY = """
import resource, sys
from archive.ingest_native import check_lines
threads = int(sys.argv[1])
big = b'{"id":"t:1","source":"t","created_at":"2026-01-01T00:00:00Z","prompt":"' + b"x" * (150 << 20) + b'"}'
lines = [b'{"id":"t:2","source":"t","created_at":"2026-01-01T00:00:00Z"}'] * (4095 if threads == 2 else 0) + [big]
size = next(int(x.split()[1]) * 1024 for x in open("/proc/self/status") if x.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (size + (200 << 20), size + (200 << 20)))  # less than the engine needs
try:
    check_lines(lines, threads)
except MemoryError as e:
    print("MemoryError:", e)
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_the_engine_running_out_of_memory_is_a_memory_error_not_a_crash(threads):
    # was: a C++ exception caught after the GIL had been released (segmentation fault), or thrown on the
    # helper thread (abort)
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", _OUT_OF_MEMORY, str(threads)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr[-1000:])
    assert "MemoryError: the native ingest engine ran out of memory" in p.stdout


@pytest.mark.parametrize("engine", [True, False])
def test_blank_lines_do_not_count_towards_a_batch(tmp_path, monkeypatch, engine):
    # was: with the engine, the blank lines of a run waited with the lines and counted towards --batch-size,
    # so a file with blank lines between records was committed in smaller batches (more commits) than without it
    if not engine:
        monkeypatch.setattr(ingest_mod, "_native", None)
    f = tmp_path / "spaced.jsonl"
    pad = b',"prompt":"' + b"x" * 100_000 + b'"'  # 3 MB: runs of lines begin with the second chunk read (1 MiB)
    f.write_bytes(b"\n".join(b"{" + HEAD % i + pad + b"}\n\n  \r" for i in range(30)) + b"\n")
    a = Archive.open(tmp_path / "a", create=True)
    r = ingest(a, JsonlSource([str(f)]), batch_size=7)
    assert (r.read, r.stored, r.commits) == (30, 30, 5)  # 7 + 7 + 7 + 7 + 2
    assert sorted(a.records().group_by("ingested_at").len()["len"].to_list()) == [2, 7, 7, 7, 7]


def _hostile() -> list[bytes]:
    """Hostile lines: every escape form, odd numbers, keys given twice at every depth, keys whose byte and
    UTF-16 orders differ, deep nesting, odd ids and times, blanks and trailing garbage."""
    import itertools
    import json

    def rec(extra: bytes = b"") -> bytes:
        return b"{" + HEAD % 1 + (b"," + extra if extra else b"") + b"}"

    out: list[bytes] = []
    strs = [rb"\u0000", rb"\u001f", rb"\/", rb"\u2028", rb"\ud83d\ude00", "😀".encode(), rb"\ud83d", rb"\ude00",
            rb"\ud83d\u0041", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00", b"\x1f", b"\t", b"\x7f", rb"\u007f",
            rb"\b\f\n\r\t\"\\", "é".encode(), b"\xf4\x90\x80\x80", b"\xff", rb"\uFEFF", rb"\uDBFF\uDFFF", rb"\x41",
            rb"\u00", b"\r", rb"\u003a", b"\xe2\x80\xa8", b"\xf0\x9f\x98"]
    for s in strs:
        out += [rec(b'"prompt":"a' + s + b'b"'), rec(b'"extra":{"k' + s + b'":1}'), rec(b'"style_tags":["' + s + b'"]'),
                rec(b'"media":[{"url":"' + s + b'"}]'), rec(b'"metrics":{"v' + s + b'":1}'),
                b'{"id":"t:1' + s + b'","source":"t","created_at":"2026-01-01T00:00:00Z"}',
                rec(b'"parents":[{"id":"t:0' + s + b'","relation":"remix","evidence":"declared","confidence":1.0}]')]
    nums = [b"0", b"-0", b"0.0", b"-0.0", b"1E2", b"1e-5", b"1.0e+2", b"1e309", b"1e-400", b"-1e-400", b"123456789012345678",
            b"1234567890123456789", b"12345678901234567890", b"-999999999999999999", b"9223372036854775808", b"true",
            b"null", b"0.1", b"1.00000000000000000001", b"1e16", b"9999999999999999.0", b"1e-4", b"0.00009999", b"01",
            b"1.", b"+1", b"NaN", b"-1", b"0.5", b"1", b"5e-324", b"1.7976931348623157e308"]
    for n in nums:
        out += [rec(b'"metrics":{"views":' + n + b"}"), rec(b'"media":[{"bytes":' + n + b',"duration_s":' + n + b"}]"),
                rec(b'"parents":[{"id":"t:0","relation":"remix","evidence":"declared","confidence":' + n + b"}]"),
                rec(b'"extra":{"n":[' + n + b"]}")]
    for d in [b'"id":"t:1"', b'"prompt":"a","prompt":"b"', b'"extra":{"a":1,"\\u0061":2}', b'"extra":{"a":[{"b":1,"b":2}]}',
              b'"media":[{"url":"a","\\u0075rl":"b"}]', b'"metrics":{"views":1,"vi\\u0065ws":2}',
              b'"parents":[{"id":"t:0","relation":"remix","evidence":"declared","confidence":1.0,"confidence":0.5}]',
              b'"provenance":{"c2pa":{"x":1,"x":2}}', b'"extra":{"a":"\\u003a","a":1}', b'"extra":{},"extra":{}']:
        out.append(rec(d))
    for depth in (60, 62, 63, 64, 65, 70, 253, 254, 300, 1023, 1100):
        out += [rec(b'"extra":' + b'{"a":' * depth + b"1" + b"}" * depth),
                rec(b'"provenance":' + b'{"a":[' * depth + b"1" + b"]}" * depth)]
    for perm in itertools.permutations(["😀", "\uffff", "\ue000", "z", "é"], 5):
        out.append(rec(b'"extra":' + json.dumps(dict.fromkeys(perm, 1), ensure_ascii=False).encode()))
    for i in ["t:", ":1", "t::", "_t:1", "t:\n", "a" * 1023 + ":b", "a:" + "é" * 1022, "ｔ:1"]:
        out.append(b'{"id":' + json.dumps(i, ensure_ascii=False).encode() + b',"source":"t","created_at":"2026-01-01T00:00:00Z"}')
    for t in ["2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
              "2026-01-01T00:00:00.000001Z", "2026-01-01T00:00:00.000000Z", "2026-01-01T23:59:60Z", "2026-01-01 00:00:00Z",
              "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00+00:00"]:
        out.append(b'{"id":"t:1","source":"t","created_at":"' + t.encode() + b'"}')
    base = rec()
    out += [b" " + base + b"\r", base + b"\x00", base + b"x", base + base, base[:-1], b"\xef\xbb\xbf" + base,
            b"[" + base + b"]", base + b"\f", b'{ "id" : "t:1" , "source" :\r"t", "created_at"\t:\n"2026-01-01T00:00:00Z" }']
    return out


def test_a_hostile_line_the_engine_takes_is_the_full_checkers_row():
    # the engine takes a line only when its row is byte for byte the full path's (a different content hash
    # would store the record again on the next ingest); was: the full path itself raised on deep lines
    from archive.ingest_native import check_lines
    from tests.test_ingest_native import _row, _same_row

    lines = _hostile()
    ok, table = check_lines(lines, 2)
    j = 0
    for raw, o in zip(lines, ok):
        full = _prepare_full(raw)  # never raises: a reason or a row
        assert type(full[1]) in (list, tuple), raw[:80]
        if o == 1:
            assert type(full[1]) is tuple, (raw[:200], full[1])
            _same_row(_row(table, j), full)
            j += 1
    assert j == table.num_rows and 150 < j < len(lines) - 150  # both kinds well represented
