"""Corrupt storage on real node processes (storage.integrity, runtime.quarantine): 3 nodes,
RF 3. Node 3's data-family SSTables (replicated data, its own column family: storage.kv; named
by ``nodetool diskstatus``) get 20 random bytes flipped each, anywhere in the file (blocks,
index, footer), and its commit log (RocksDB's WAL, holding the rows written after the flushes)
is cut in half while it is down (kill -9). Restarted, node 3 keeps answering system.local,
status and nodetool, reports the corruption (status, nodetool diskstatus) whether RocksDB still
opens the files (verification and reads find it) or refuses them at open (the data is
quarantined at start), serves no corrupt or missing row (reads at ONE through it are served by
the other replicas, or fail), QUORUM reads of every key succeed; ``nodetool rebuild`` repairs
every range from the peers, after which node 3 alone (the others stopped) serves every row.
``SKEWLESS_CORRUPTION_SEED`` replays one run's flips. A second run flips bytes inside stored
values only: RocksDB opens every file, and the rebuild quarantines the database (keeping the
node's own state, read from the default family)."""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement
from conftest import CQL_PORT, INTERNODE_PORT

from skewless.runtime.cluster import admin_port_for, port_accepts

FLUSHED, TAIL, FLIPS = 300, 100, 20
N1, N3 = "127.0.0.1", "127.0.0.3"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                          timeout=300)


def nodetool(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _run("skewless.nodetool.cli", "-h", host, "-p", str(admin_port_for(INTERNODE_PORT)),
                *args)


def _flip_values(db: Path, values: list[bytes], names: list[str] | None = None) -> int:
    """Flip one byte inside each of ``FLIPS`` stored values of every SSTable holding them (the
    data family's: RocksDB still opens them, the verification after start finds them); the
    SSTs touched. Values a block (4 KiB) away from the file's first and last are hit."""
    touched = 0
    for sst in sorted(db.glob("*.sst")) if names is None else [db / n for n in names]:
        data = bytearray(sst.read_bytes())
        found = sorted(at for v in values if (at := data.find(v)) >= 0)
        if not found:
            continue
        inside = [at for at in found if found[0] + 4096 < at < found[-1] - 4096]
        chosen = inside[:: max(1, len(inside) // FLIPS)][:FLIPS]
        for at in chosen:
            data[at + 10] ^= 0x5A
        sst.write_bytes(bytes(data))
        touched += 1
        print(f"{sst.name}: {len(chosen)} bytes flipped in {len(found)} values")
        assert len(chosen) == FLIPS
    return touched


def _data_files(host: str) -> list[str]:
    """The data family's SST files, as ``nodetool diskstatus`` names them."""
    disk = nodetool(host, "diskstatus")
    assert disk.returncode == 0, disk.stderr
    line = next(x for x in disk.stdout.splitlines() if x.startswith("Data files: "))
    return [] if "(none)" in line else line.split(": ", 1)[1].split()


def _flip_anywhere(db: Path, names: list[str], rng: random.Random) -> None:
    """Flip ``FLIPS`` random bytes (one random bit each) anywhere in each named SST file."""
    for name in names:
        sst = db / name
        data = bytearray(sst.read_bytes())
        at = sorted(rng.sample(range(len(data)), FLIPS))
        for i in at:
            data[i] ^= 1 << rng.randrange(8)
        sst.write_bytes(bytes(data))
        print(f"{name} ({len(data)} bytes): flipped at {at}")


def _storage_of(session, address: str) -> str:  # type: ignore[no-untyped-def]
    rows = session.execute("SELECT address, storage FROM system.skewless_status")
    return next((r.storage or "" for r in rows if r.address == address), "")


def _wait_storage(session, address: str, prefix: str, timeout_s: float) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        got = _storage_of(session, address)
        if got.startswith(prefix) or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


@pytest.mark.parametrize("flips", ["anywhere", "in_values"])
def test_corrupt_sstables_and_truncated_commit_log_are_rebuilt_from_peers(  # type: ignore[no-untyped-def]
        cluster_factory, flips: str) -> None:
    metrics_port = INTERNODE_PORT + 2  # on node 3's own address
    c = cluster_factory(3, extra=[[], [], ["--metrics-port", str(metrics_port)]])
    node3 = c.nodes[2]
    s = c.session_to(N1)
    s.execute("CREATE KEYSPACE cr WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE cr.t (k int PRIMARY KEY, v text)")
    insert = s.prepare("INSERT INTO cr.t (k, v) VALUES (?, ?)")
    insert.consistency_level = ConsistencyLevel.ALL
    rows = {k: secrets.token_hex(24) for k in range(FLUSHED + TAIL)}
    for half in (range(FLUSHED // 2), range(FLUSHED // 2, FLUSHED)):  # two data SSTables
        for k in half:
            s.execute(insert, (k, rows[k]))
        flushed = nodetool(N3, "flush")
        assert flushed.returncode == 0, flushed.stderr
    data_files = _data_files(N3)
    assert len(data_files) >= 2, data_files
    for k in range(FLUSHED, FLUSHED + TAIL):
        s.execute(insert, (k, rows[k]))

    node3.kill9()  # the WAL keeps the tail (a clean stop would flush it into an SSTable)
    db = node3.data_dir / "db"
    seed = int(os.environ.get("SKEWLESS_CORRUPTION_SEED") or secrets.randbits(32))
    print(f"SKEWLESS_CORRUPTION_SEED={seed}")
    if flips == "anywhere":  # the reproduction: RocksDB often refuses a file at open
        _flip_anywhere(db, data_files, random.Random(seed))
    else:  # RocksDB opens every file; verification and reads find the corrupt blocks
        values = [rows[k].encode() for k in range(FLUSHED)]
        assert _flip_values(db, values, data_files) == len(data_files)
    wal = max(db.glob("*.log"), key=lambda p: p.stat().st_size)
    size = wal.stat().st_size
    assert size > 0, "the rows written after the flush should be in the commit log"
    with wal.open("r+b") as f:
        f.truncate(size // 2)
    started = time.monotonic()
    node3.restart()

    # Responsive, and says what is wrong.
    s3 = c.session_to(N3)
    assert s3.execute("SELECT * FROM system.local").one().broadcast_address is not None
    verdict = _wait_storage(s3, N3, "CORRUPT", 60)
    assert verdict.startswith("CORRUPT"), verdict
    status = _run("skewless", "status", "--host", N3, "--port", str(CQL_PORT))
    assert status.returncode == 0 and f"Storage of {N3}: CORRUPT" in status.stdout, status
    deadline = time.monotonic() + 60  # found at open, or by the verification after start
    disk = nodetool(N3, "diskstatus")
    while "needs rebuild: corrupt SSTable" not in disk.stdout and time.monotonic() < deadline:
        time.sleep(0.3)
        disk = nodetool(N3, "diskstatus")
    print(disk.stdout)
    assert disk.returncode == 0, disk.stderr
    assert "needs rebuild: corrupt SSTable" in disk.stdout, disk.stdout
    assert "commit log truncated" in disk.stdout, disk.stdout
    assert nodetool(N3, "status").returncode == 0
    metrics = urllib.request.urlopen(f"http://{N3}:{metrics_port}/metrics", timeout=10).read()
    assert b"skewless_storage_needs_rebuild 1.0" in metrics, metrics[-2000:]
    c.wait_gossip(3, via=N3)
    s1 = c.session_to(N1)
    gossiped = _wait_storage(s1, N3, "CORRUPT", 30)  # the peers know it too
    assert gossiped.startswith("CORRUPT"), gossiped
    print(f"corruption reported {time.monotonic() - started:.1f} s after the restart")

    # Nothing corrupt or missing is served through node 3, and QUORUM reads all succeed.
    assert s3.execute("SELECT * FROM system.local").one() is not None
    select = "SELECT v FROM cr.t WHERE k = %s"
    for k, v in rows.items():
        row = s3.execute(SimpleStatement(select, consistency_level=ConsistencyLevel.ONE),
                         (k,)).one()
        assert row is not None and row.v == v, (k, row)
    quorum = c.round_robin_session()
    for k, v in rows.items():
        row = quorum.execute(SimpleStatement(select, consistency_level=ConsistencyLevel.QUORUM),
                             (k,)).one()
        assert row is not None and row.v == v, (k, row)
    scan = SimpleStatement("SELECT k, v FROM cr.t", consistency_level=ConsistencyLevel.QUORUM,
                           fetch_size=50)
    for session in (s1, s3):  # range reads avoid node 3 too
        assert {r.k: r.v for r in session.execute(scan)} == rows
    assert "Traceback" not in node3.log_tail(400), node3.log_tail(60)

    # Rebuild from the peers, then node 3 alone holds every row.
    rebuilt = nodetool(N3, "rebuild")
    print(rebuilt.stdout[-2000:])
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "Storage: OK" in rebuilt.stdout, rebuilt.stdout
    assert any((node3.data_dir / "quarantine").iterdir())  # at start or by the rebuild
    assert _storage_of(s3, N3) == "OK"
    c.nodes[0].terminate()
    c.nodes[1].terminate()
    for k, v in rows.items():
        row = s3.execute(SimpleStatement(select, consistency_level=ConsistencyLevel.ONE),
                         (k,)).one()
        assert row is not None and row.v == v, (k, row)
    assert nodetool(N3, "verify").returncode == 0


def _corrupt_single_node(c, extra: list[str]) -> None:  # type: ignore[no-untyped-def]
    """One node's flushed SSTable gets 20 bytes flipped; it is started again with ``extra``."""
    s = c.session_to(N1)
    s.execute("CREATE KEYSPACE one WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE one.t (k int PRIMARY KEY, v text)")
    insert = s.prepare("INSERT INTO one.t (k, v) VALUES (?, ?)")
    rows = {k: secrets.token_hex(24) for k in range(FLUSHED)}
    for k, v in rows.items():
        s.execute(insert, (k, v))
    node = c.nodes[0]
    assert nodetool(N1, "flush").returncode == 0
    node.terminate()
    assert _flip_values(node.data_dir / "db", [v.encode() for v in rows.values()]) >= 1
    node.argv = [*node.argv, *extra]
    node.start()


def test_disk_failure_policy_die_exits_on_corruption_found_at_start(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(1)
    _corrupt_single_node(c, ["--disk-failure-policy", "die"])
    node = c.nodes[0]
    deadline = time.monotonic() + 60
    while node.returncode() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert node.returncode() == 3, node.log_tail()
    assert "disk_failure_policy die" in node.log_tail(), node.log_tail()


def test_disk_failure_policy_stop_paranoid_closes_the_cql_port(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(1)
    _corrupt_single_node(c, ["--disk-failure-policy", "stop_paranoid"])
    node = c.nodes[0]
    deadline = time.monotonic() + 60
    disk = nodetool(N1, "diskstatus")
    while "CORRUPT" not in disk.stdout and time.monotonic() < deadline:
        time.sleep(0.3)
        disk = nodetool(N1, "diskstatus")
    assert "Storage: CORRUPT (disk_failure_policy stop_paranoid)" in disk.stdout, disk
    assert node.running()
    time.sleep(1.0)  # the CQL port was closed when the corruption was found (or never opened)
    assert not port_accepts(N1, CQL_PORT), node.log_tail()


def test_truncated_commit_log_alone_is_reported_and_repaired_from_peers(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    """Only node 3's commit log is cut: it starts, reports it, serves none of what it lost,
    and ``nodetool rebuild`` repairs (no quarantine: its SSTables verify clean)."""
    c = cluster_factory(3)
    node3 = c.nodes[2]
    s = c.session_to(N1)
    s.execute("CREATE KEYSPACE wl WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE wl.t (k int PRIMARY KEY, v text)")
    insert = s.prepare("INSERT INTO wl.t (k, v) VALUES (?, ?)")
    insert.consistency_level = ConsistencyLevel.ALL
    rows = {k: secrets.token_hex(24) for k in range(TAIL * 2)}
    assert nodetool(N3, "flush").returncode == 0
    for k, v in rows.items():
        s.execute(insert, (k, v))
    node3.kill9()
    db = node3.data_dir / "db"
    wal = max(db.glob("*.log"), key=lambda p: p.stat().st_size)
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size // 3)
    node3.restart()
    s3 = c.session_to(N3)
    verdict = _storage_of(s3, N3)
    assert verdict.startswith("CORRUPT: commit log truncated"), verdict
    c.wait_gossip(3, via=N3)
    select = "SELECT v FROM wl.t WHERE k = %s"
    for k, v in rows.items():  # served by the other replicas, never the stale local copy
        row = s3.execute(SimpleStatement(select, consistency_level=ConsistencyLevel.ONE),
                         (k,)).one()
        assert row is not None and row.v == v, (k, row)
    deadline = time.monotonic() + 60  # the verification pass after start must end first
    while "entries verified" not in nodetool(N3, "diskstatus").stdout:
        assert time.monotonic() < deadline, nodetool(N3, "diskstatus").stdout
        time.sleep(0.3)
    rebuilt = nodetool(N3, "rebuild")
    assert rebuilt.returncode == 0 and "Storage: OK" in rebuilt.stdout, rebuilt
    assert "quarantined" not in rebuilt.stdout and not (node3.data_dir / "quarantine").exists()
    c.nodes[0].terminate()
    c.nodes[1].terminate()
    for k, v in rows.items():
        row = s3.execute(SimpleStatement(select, consistency_level=ConsistencyLevel.ONE),
                         (k,)).one()
        assert row is not None and row.v == v, (k, row)
