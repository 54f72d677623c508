"""cqlsh 6.2.2 (the venv's own, run as a subprocess with -e / -f) against a real 3-node cluster.

Each test runs cqlsh non-interactively and checks its printed output: DESCRIBE (server side),
SELECT formatting of many types, paging, SOURCE, COPY FROM / COPY TO, server warnings. cqlsh's
HOME is a fresh directory so no user cqlshrc or history is read.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CQL_PORT, INTERNODE_PORT

CQLSH = str(Path(sys.executable).parent / "cqlsh")
CQLSH_TIMEOUT_S = 120.0

SCHEMA = """
CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3};
CREATE TABLE ks.t (k text PRIMARY KEY, i int, b bigint, u uuid, ts timestamp, s set<int>,
    m map<text, int>, l list<text>, bl blob, bo boolean, d decimal, db double);
CREATE TABLE ks.c (k int, c text, v int, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC);
CREATE TYPE ks.addr (street text, n int);
CREATE TABLE ks.more (k int PRIMARY KEY, dt date, tm time, ip inet, vi varint, f float,
    si smallint, ti tinyint, tu timeuuid, tp tuple<int, text>, a frozen<addr>, a2 addr,
    du duration, fm frozen<map<int, text>>, ls list<frozen<set<int>>>, asc ascii);
INSERT INTO ks.more (k, dt, tm, ip, vi, f, si, ti, tu, tp, a, a2, du, fm, ls, asc) VALUES (1,
    '2024-02-29', '13:14:15.123456789', '10.0.0.1', 123456789012345678901234567890, 1.5, -3, 7,
    50554d6e-29bb-11e5-b345-feff819cdc9f, (1, 'a'), {street: 'main', n: 5},
    {street: 'side', n: 6}, 1h2m3s, {2: 'b', 1: 'a'}, [{3, 1}, {2}], 'asc');
"""

ROW_A = ("INSERT INTO ks.t (k, i, b, u, ts, s, m, l, bl, bo, d, db) VALUES ('a', 1, 9000000000, "
         "550e8400-e29b-41d4-a716-446655440000, '2024-01-02 03:04:05.678+0000', {2, 1}, "
         "{'y': 2, 'x': 1}, ['p', 'q'], 0xcafe, true, 1.25, 2.5);")


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def run_cqlsh(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CQLSH, "127.0.0.1", str(CQL_PORT), *args], capture_output=True, text=True,
        timeout=CQLSH_TIMEOUT_S, env=_env(home), check=False)
    if check:
        assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
        assert proc.stderr == "", proc.stderr
    return proc


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cqlsh_home")


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: Any, home: Path) -> Any:
    c = module_cluster_factory(3)
    schema = home / "schema.cql"
    schema.write_text(SCHEMA + ROW_A + "\n")
    run_cqlsh(home, "-f", str(schema))
    return c


def table_lines(out: str) -> list[str]:
    """The result lines of a printed SELECT (without blank lines), each right-stripped."""
    return [line.rstrip() for line in out.splitlines() if line.strip()]


def test_connect_and_show(cluster: Any, home: Path) -> None:
    out = run_cqlsh(home, "-e", "SHOW VERSION; SHOW HOST").stdout
    assert "[cqlsh 6.2.2 | Cassandra 5.0.0-skewless | CQL spec 3.4.7 | Native protocol v5]" in out
    assert f"Connected to Skewless Cluster at 127.0.0.1:{CQL_PORT}" in out


def test_describe_keyspaces(cluster: Any, home: Path) -> None:
    out = run_cqlsh(home, "-e", "DESCRIBE KEYSPACES").stdout
    names = out.split()
    assert names == sorted(names)
    assert {"ks", "system", "system_schema", "system_traces"} <= set(names)


def test_describe_keyspace_and_table(cluster: Any, home: Path) -> None:
    out = run_cqlsh(home, "-e", "DESCRIBE KEYSPACE ks").stdout
    assert ("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
            "'replication_factor': '3'}  AND durable_writes = true;") in out
    assert "CREATE TABLE ks.t (\n    k text PRIMARY KEY," in out
    assert out.index("CREATE TABLE ks.c (") < out.index("CREATE TABLE ks.t (")
    table = run_cqlsh(home, "-e", "DESCRIBE TABLE ks.c").stdout.strip()
    assert table.startswith(
        "CREATE TABLE ks.c (\n    k int,\n    c text,\n    v int,\n    PRIMARY KEY (k, c)\n"
        ") WITH CLUSTERING ORDER BY (c DESC)\n    AND additional_write_policy = '99p'\n")
    assert table.endswith("    AND speculative_retry = '99p';")
    # The printed CREATE TABLE re-creates the same table (run it under another name).
    recreate = table.replace("CREATE TABLE ks.c ", "CREATE TABLE ks.c_copy ")
    run_cqlsh(home, "-e", recreate)
    again = run_cqlsh(home, "-e", "DESCRIBE TABLE ks.c_copy").stdout.strip()
    assert again == recreate


def test_describe_cluster(cluster: Any, home: Path) -> None:
    out = run_cqlsh(home, "-e", "DESCRIBE CLUSTER").stdout
    assert "Cluster: Skewless Cluster\nPartitioner: Murmur3Partitioner\n" in out
    assert "Range ownership" not in out
    owned = run_cqlsh(home, "-k", "ks", "-e", "DESCRIBE CLUSTER").stdout
    lines = [ln for ln in owned.splitlines() if ln.strip().endswith("]")]
    assert len(lines) == 3 * 16  # 3 nodes x 16 vnodes, each range with its 3 replicas
    for line in lines:
        token, replicas = line.split(None, 1)
        int(token)
        assert sorted(replicas.strip("[]").split(", ")) == [
            f"/127.0.0.{i}:{INTERNODE_PORT}" for i in (1, 2, 3)]


def test_select_formats_types(cluster: Any, home: Path) -> None:
    out = run_cqlsh(home, "-e", "SELECT * FROM ks.t WHERE k = 'a'").stdout
    lines = table_lines(out)
    header = [h.strip() for h in lines[0].split("|")]
    assert header == ["k", "b", "bl", "bo", "d", "db", "i", "l", "m", "s", "ts", "u"]
    values = [v.strip() for v in lines[2].split("|")]
    assert values == ["a", "9000000000", "0xcafe", "True", "1.25", "2.5", "1", "['p', 'q']",
                      "{'x': 1, 'y': 2}", "{1, 2}", "2024-01-02 03:04:05.678000+0000",
                      "550e8400-e29b-41d4-a716-446655440000"]
    assert lines[-1] == "(1 rows)"


def test_select_formats_more_types(cluster: Any, home: Path) -> None:
    """Dates, times, inet, varint, small ints, timeuuid, tuple, user types (frozen or not),
    duration and nested collections; a user type in a result once stopped the node's replies."""
    out = run_cqlsh(home, "-e", "SELECT * FROM ks.more WHERE k = 1").stdout
    lines = table_lines(out)
    header = [h.strip() for h in lines[0].split("|")]
    assert header == ["k", "a", "a2", "asc", "dt", "du", "f", "fm", "ip", "ls", "si", "ti", "tm",
                      "tp", "tu", "vi"]
    values = [v.strip() for v in lines[2].split("|")]
    assert values == ["1", "{street: 'main', n: 5}", "{street: 'side', n: 6}", "asc",
                      "2024-02-29", "1h2m3s", "1.5", "{1: 'a', 2: 'b'}", "10.0.0.1",
                      "[{1, 3}, {2}]", "-3", "7", "13:14:15.123456789", "(1, 'a')",
                      "50554d6e-29bb-11e5-b345-feff819cdc9f", "123456789012345678901234567890"]
    run_cqlsh(home, "-e", "SHOW VERSION")  # the node still answers


def test_select_nulls_and_missing_rows(cluster: Any, home: Path) -> None:
    out = run_cqlsh(home, "-e", "INSERT INTO ks.t (k) VALUES ('only_key'); "
                    "SELECT k, i, m, s FROM ks.t WHERE k = 'only_key'; "
                    "SELECT k FROM ks.t WHERE k = 'absent'").stdout
    lines = table_lines(out)
    assert [v.strip() for v in lines[2].split("|")] == ["only_key", "null", "null", "null"]
    assert lines[3] == "(1 rows)"
    assert lines[-1] == "(0 rows)"


def test_paging_through_a_large_partition(cluster: Any, home: Path) -> None:
    n = 250  # more than cqlsh's default page of 100 rows: three pages
    inserts = home / "many.cql"
    inserts.write_text("".join(
        f"INSERT INTO ks.c (k, c, v) VALUES (7, 'c{i:04d}', {i});\n" for i in range(n)))
    run_cqlsh(home, "-f", str(inserts))
    out = run_cqlsh(home, "-e", "PAGING 40; SELECT c, v FROM ks.c WHERE k = 7").stdout
    lines = table_lines(out)
    rows = [ln for ln in lines if ln.strip().startswith("c0")]
    assert [r.split("|")[0].strip() for r in rows] == [f"c{i:04d}" for i in reversed(range(n))]
    assert lines[-1] == f"({n} rows)"
    count = table_lines(run_cqlsh(home, "-e", "SELECT count(*) FROM ks.c WHERE k = 7").stdout)
    assert count[2].strip() == str(n)


def test_source_file(cluster: Any, home: Path) -> None:
    script = home / "source_me.cql"
    script.write_text("USE ks;\nINSERT INTO t (k, i) VALUES ('sourced', 42);\n"
                      "-- a comment line\nUPDATE t SET l = l + ['z'] WHERE k = 'sourced';\n")
    out = run_cqlsh(home, "-e", f"SOURCE '{script}'; SELECT k, i, l FROM ks.t WHERE k = 'sourced'")
    lines = table_lines(out.stdout)
    assert [v.strip() for v in lines[2].split("|")] == ["sourced", "42", "['z']"]


def test_errors_are_printed(cluster: Any, home: Path) -> None:
    proc = run_cqlsh(home, "-e", "SELECT nope FROM ks.t WHERE k = 'a'", check=False)
    assert proc.returncode != 0
    assert "InvalidRequest" in proc.stderr and "Undefined column name nope" in proc.stderr
    proc = run_cqlsh(home, "-e", "SELEKT * FROM ks.t", check=False)
    assert proc.returncode != 0 and "SyntaxException" in proc.stderr


COPY_COLUMNS = "k, i, b, u, ts, s, m, l, bl, bo, d, db"


def _write_csv(path: Path, n: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        rows.append([f"copy{i:03d}", str(i), str(i * 10**10), f"00000000-0000-0000-0000-{i:012x}",
                     "2024-01-02 03:04:05.678+0000", "{1, 2}", f"{{'x': {i}}}", "['p', 'q']",
                     "0xcafe", "True" if i % 2 else "False", "1.25", "2.5"])
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return rows


def test_copy_from_csv(cluster: Any, home: Path) -> None:
    n = 120
    src = home / "in.csv"
    _write_csv(src, n)
    run_cqlsh(home, "-e", "CREATE TABLE ks.copied (k text PRIMARY KEY, i int, b bigint, u uuid, "
              "ts timestamp, s set<int>, m map<text, int>, l list<text>, bl blob, bo boolean, "
              "d decimal, db double)")
    proc = subprocess.run(
        [CQLSH, "127.0.0.1", str(CQL_PORT), "-e",
         f"COPY ks.copied ({COPY_COLUMNS}) FROM '{src}' WITH NUMPROCESSES = 1"],
        capture_output=True, text=True, timeout=CQLSH_TIMEOUT_S,
        env=_env(home), check=False)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert f"{n} rows imported from 1 files" in proc.stdout, proc.stdout
    out = run_cqlsh(home, "-e", f"SELECT {COPY_COLUMNS} FROM ks.copied WHERE k = 'copy007'").stdout
    values = [v.strip() for v in table_lines(out)[2].split("|")]
    assert values == ["copy007", "7", "70000000000", "00000000-0000-0000-0000-000000000007",
                      "2024-01-02 03:04:05.678000+0000", "{1, 2}", "{'x': 7}", "['p', 'q']",
                      "0xcafe", "True", "1.25", "2.5"]


def _copy(home: Path, command: str) -> str:
    proc = subprocess.run([CQLSH, "127.0.0.1", str(CQL_PORT), "-e", command],
                          capture_output=True, text=True, timeout=CQLSH_TIMEOUT_S,
                          env=_env(home), check=False)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Error" not in proc.stderr, proc.stderr
    return proc.stdout


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return sorted(csv.reader(f))


def test_copy_to_csv_round_trip(cluster: Any, home: Path) -> None:
    """COPY TO (token-range scans) gives back exactly the CSV that COPY FROM loaded; loading
    the export into a fresh table and exporting again gives the same file."""
    n = 150
    src = home / "round.csv"
    rows = _write_csv(src, n)
    create = ("CREATE TABLE ks.{} (k text PRIMARY KEY, i int, b bigint, u uuid, ts timestamp, "
              "s set<int>, m map<text, int>, l list<text>, bl blob, bo boolean, d decimal, "
              "db double)")
    run_cqlsh(home, "-e", create.format("round1") + "; " + create.format("round2"))
    _copy(home, f"COPY ks.round1 ({COPY_COLUMNS}) FROM '{src}' WITH NUMPROCESSES = 1")
    out1, out2 = home / "out1.csv", home / "out2.csv"
    text = _copy(home, f"COPY ks.round1 ({COPY_COLUMNS}) TO '{out1}' WITH NUMPROCESSES = 1")
    assert f"{n} rows exported to 1 files" in text, text
    assert _read_csv(out1) == sorted(rows)
    _copy(home, f"COPY ks.round2 ({COPY_COLUMNS}) FROM '{out1}' WITH NUMPROCESSES = 1")
    _copy(home, f"COPY ks.round2 ({COPY_COLUMNS}) TO '{out2}' WITH NUMPROCESSES = 1")
    assert _read_csv(out2) == _read_csv(out1)
    count = table_lines(run_cqlsh(home, "-e", "SELECT count(*) FROM ks.round2").stdout)
    assert count[2].strip() == str(n)


def test_server_warnings_are_printed(cluster: Any, home: Path) -> None:
    x = "x" * 3000
    script = home / "big_batch.cql"
    script.write_text("BEGIN UNLOGGED BATCH\n"
                      f"INSERT INTO ks.t (k, l) VALUES ('w1', ['{x}']);\n"
                      f"INSERT INTO ks.t (k, l) VALUES ('w2', ['{x}']);\nAPPLY BATCH;\n")
    out = run_cqlsh(home, "-f", str(script)).stdout
    assert "Warnings :\nBatch for [ks.t] is of size " in out
    assert "exceeding specified threshold of 5120" in out


def test_driver_prepares_statements_on_user_types(cluster: Any) -> None:
    """Bind and result metadata of user-typed columns (the stock driver, prepared)."""
    s = cluster.session_to(cluster.nodes[0].address)

    class Addr:
        def __init__(self, street: str, n: int) -> None:
            self.street, self.n = street, n

    s.cluster.register_user_type("ks", "addr", Addr)
    ins = s.prepare("INSERT INTO ks.more (k, a, a2) VALUES (?, ?, ?)")
    s.execute(ins, (2, Addr("x", 1), Addr("y", 2)))
    row = s.execute(s.prepare("SELECT a, a2 FROM ks.more WHERE k = ?"), (2,)).one()
    assert (row.a.street, row.a.n, row.a2.street, row.a2.n) == ("x", 1, "y", 2)
