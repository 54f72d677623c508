"""A full disk (issue 15): one node's store on a small tmpfs, filled by writes.

Two ways in: with the reserve (``--min-free-space-per-drive-in-mb 8``: writes are refused
before RocksDB ever meets ENOSPC) and without it (0: RocksDB fails its WAL append, the store
turns read-only and is reopened by the node once space is freed). Either way: writes fail with
WriteFailure naming the node and the cause (never ServerError), reads of every acknowledged row
keep working, a new driver connects throughout, and once a filler file on the tmpfs is removed
writes succeed again, with no restart. Needs root (mount); skipped with a reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel, WriteFailure
from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy

from skewless import limits
from skewless.runtime.cluster import admin_port_for, suite_port_offset
from tests.integration.conftest import CQL_PORT, INTERNODE_PORT

METRICS_PORT = 19960 + suite_port_offset()
TMPFS_MB = 48
# removed to free space; without the reserve it must give room to replay the WAL that filled
# the disk into an SST (both on disk at once while the store reopens)
FILLER_MB = {8: 16, 0: 28}
ROW_BYTES = 2048  # incompressible
WINDOW = 32  # writes in flight at once
FULL_FOR_S = 3.0  # the disk counts as full once every write has failed for this long
FILL_BOUND_S = 180.0  # the whole fill, on a loaded machine
RECOVER_BOUND_S = 60.0  # writes accepted again after the filler is removed


def _mount(path: Path) -> str:
    """'' when a tmpfs is mounted at ``path``, else why not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    path.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(path)],
                       capture_output=True, text=True, timeout=30)
    return "" if r.returncode == 0 else f"mount -t tmpfs failed: {r.stderr.strip()}"


def _unmount(path: Path) -> None:
    r = subprocess.run(["umount", str(path)], capture_output=True, timeout=30)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def _metric(address: str, name: str) -> float:
    url = f"http://{address}:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test node
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    raise AssertionError(f"no metric {name}")


class _Connector(threading.Thread):
    """Opens a new driver connection (handshake, system.local) every second or so until
    stopped, counting successes and failures."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.stop = threading.Event()
        self.ok = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            c = Cluster([self.address], port=CQL_PORT, connect_timeout=10, compression=False,
                        load_balancing_policy=WhiteListRoundRobinPolicy([self.address]))
            try:
                s = c.connect()
                s.execute("SELECT release_version FROM system.local", timeout=10)
                self.ok += 1
            except Exception as e:  # any failure to connect is what this thread counts
                self.errors.append(f"{type(e).__name__}: {e}")
            finally:
                c.shutdown()
            self.stop.wait(1.0)


def _fill(session: object, insert: object, values: dict[int, bytes], start: int
          ) -> tuple[set[int], list[Exception]]:
    """Write rows from ``start`` until whole windows have failed for ``FULL_FOR_S`` (RocksDB's
    background work may give some space back at first); (acknowledged keys, errors)."""
    acked: set[int] = set()
    errors: list[Exception] = []
    k = start
    deadline = time.monotonic() + FILL_BOUND_S
    full_since: float | None = None
    while time.monotonic() < deadline:
        futures = []
        for _ in range(WINDOW):
            values[k] = os.urandom(ROW_BYTES)
            futures.append((k, session.execute_async(insert, (k, values[k]))))  # type: ignore[attr-defined]
            k += 1
        failed = 0
        for key, f in futures:
            try:
                f.result()
                acked.add(key)
            except Exception as e:  # every error is checked by the caller
                errors.append(e)
                failed += 1
        if failed < WINDOW:
            full_since = None
            continue
        full_since = full_since or time.monotonic()
        if time.monotonic() - full_since >= FULL_FOR_S:
            return acked, errors
        time.sleep(0.2)
    raise AssertionError(f"the disk did not fill within {FILL_BOUND_S} s ({len(acked)} rows)")


def _read_back(session: object, select: object, values: dict[int, bytes], keys: set[int]
               ) -> list[int]:
    """Keys whose row does not read back as written (missing or different)."""
    bad: list[int] = []
    ordered = sorted(keys)
    for i in range(0, len(ordered), 256):
        chunk = ordered[i:i + 256]
        futures = [(k, session.execute_async(select, (k,))) for k in chunk]  # type: ignore[attr-defined]
        for k, f in futures:
            row = f.result().one()
            if row is None or row.v != values[k]:
                bad.append(k)
    return bad


@pytest.mark.parametrize(("reserve_mb", "nodes"), [(8, 1), (0, 1), (8, 2)],
                         ids=["reserve", "no-reserve", "reserve-remote-replica"])
def test_full_disk_refuses_writes_keeps_reads_and_recovers(
        cluster_factory: object, tmp_path: Path, reserve_mb: int, nodes: int) -> None:
    """``nodes`` 2: the full node is node 2, a replica of every row (RF 2, ALL) that node 1
    coordinates: its refusals reach the client through node 1."""
    store = tmp_path / f"node{nodes}" / "db"  # the full node's RocksDB (runtime.server)
    why = _mount(store)
    if why:
        print(f"SKIP: {why}")
        pytest.skip(why)
    connector: _Connector | None = None
    c = None
    try:
        filler = store / "filler.bin"  # RocksDB ignores a file whose name it does not know
        filler.write_bytes(b"\0" * (FILLER_MB[reserve_mb] * 1024 * 1024))
        c = cluster_factory(nodes, extra=[[  # type: ignore[operator]
            "--min-free-space-per-drive-in-mb", str(reserve_mb),
            "--metrics-port", str(METRICS_PORT)]] * nodes)
        node = c.nodes[nodes - 1]  # the node whose disk fills
        pid = node.pid
        connector = _Connector(node.address)
        connector.start()
        # no lz4: the stock driver (3.29) misreads a v5 segment that a compressed connection
        # sends stored (incompressible, like these rows) when a read ends in its last 2 bytes:
        # SegmentHeader.segment_length counts a 3-byte header for it instead of 5 ("CRC
        # mismatch on header"). Cassandra sends such segments too.
        session = c.session_to(c.nodes[0].address, compression=False)
        session.execute("CREATE KEYSPACE fd WITH replication = "
                        f"{{'class': 'SimpleStrategy', 'replication_factor': {nodes}}}")
        session.execute("CREATE TABLE fd.t (k int PRIMARY KEY, v blob)")
        insert = session.prepare("INSERT INTO fd.t (k, v) VALUES (?, ?)")
        select = session.prepare("SELECT v FROM fd.t WHERE k = ?")
        insert.consistency_level = select.consistency_level = ConsistencyLevel.ALL
        values: dict[int, bytes] = {}

        started = time.monotonic()
        acked, errors = _fill(session, insert, values, 0)
        fill_s = time.monotonic() - started
        kinds = {type(e).__name__ for e in errors}
        assert kinds == {"WriteFailure"}, [f"{type(e).__name__}: {e}" for e in errors[:5]]
        assert all(isinstance(e, WriteFailure) for e in errors)
        message = str(errors[-1])
        assert node.address in message, message
        assert "No space left on device" in message or "failed" in message, message
        assert len(acked) > 1000, len(acked)  # the disk held rows before it filled
        # (the state itself may be back to ok already: RocksDB's background work frees space)
        assert _metric(node.address, "skewless_disk_writes_refused_total") > 0
        if not reserve_mb:
            assert _metric(node.address, "skewless_storage_write_failures_total") > 0
        log = node.log_path.read_text(errors="replace")
        assert ("refusing writes" if reserve_mb else "storage failed (IO error") in log
        info = subprocess.run(
            [sys.executable, "-m", "skewless.nodetool.cli", "-h", node.address, "-p",
             str(admin_port_for(INTERNODE_PORT)), "info"],
            capture_output=True, text=True, timeout=60)
        disk_line = next(line for line in info.stdout.splitlines() if line.startswith("Disk "))
        assert "refused since start" in disk_line, info.stdout + info.stderr

        # reads keep working while the disk is full: every acknowledged row, as written
        bad = _read_back(session, select, values, acked)
        assert not bad, f"{len(bad)} of {len(acked)} acknowledged rows lost, e.g. {bad[:5]}"

        k = max(values) + 1
        values[k] = os.urandom(ROW_BYTES)
        with pytest.raises(WriteFailure):  # still full: the space below comes from the filler
            session.execute(insert, (k, values[k]))
        filler.unlink()
        started = time.monotonic()
        k = max(values) + 1
        while True:
            values[k] = os.urandom(ROW_BYTES)
            try:
                session.execute(insert, (k, values[k]))
                acked.add(k)
                break
            except WriteFailure:
                assert time.monotonic() - started < RECOVER_BOUND_S, \
                    f"writes still refused {RECOVER_BOUND_S} s after space was freed"
                time.sleep(0.2)
                k += 1
        recover_s = time.monotonic() - started
        # A compaction that starts once space is back may hold much of it until it is done
        # (RocksDB writes the new files before deleting the old): refusals meanwhile are
        # counted, and every row must get in within the bound.
        deadline = time.monotonic() + RECOVER_BOUND_S
        refused_again = 0
        for k in range(max(values) + 1, max(values) + 201):
            values[k] = os.urandom(ROW_BYTES)
            while True:
                try:
                    session.execute(insert, (k, values[k]))
                    break
                except WriteFailure:
                    refused_again += 1
                    assert time.monotonic() < deadline, "writes refused again for too long"
                    time.sleep(0.2)
            acked.add(k)
        bad = _read_back(session, select, values, acked)
        assert not bad, f"{len(bad)} of {len(acked)} acknowledged rows lost, e.g. {bad[:5]}"
        assert node.running() and node.pid == pid  # no restart
        # The state follows the space: ok once there is room again. Compactions after the
        # recovery may hold the small disk near the reserve for a while (then "low", as
        # measured); it must never stay "failed", and "low" only while space is short.
        deadline = time.monotonic() + RECOVER_BOUND_S
        while _metric(node.address, 'skewless_disk_state{state="ok"}') != 1.0:
            assert _metric(node.address, 'skewless_disk_state{state="failed"}') != 1.0 \
                or time.monotonic() < deadline, "the store stayed failed after space was freed"
            if time.monotonic() >= deadline:
                free = _metric(node.address, "skewless_disk_free_bytes")
                needed = _metric(node.address, "skewless_disk_needed_bytes")
                assert free < needed + limits.disk_resume_margin_bytes, \
                    f"disk state not ok with {free:.0f} bytes free, {needed:.0f} needed"
                break
            time.sleep(0.5)
        if not reserve_mb:
            assert _metric(node.address, "skewless_storage_reopens_total") >= 1

        connector.stop.set()
        connector.join(30)
        assert not connector.errors, connector.errors[:3]
        assert connector.ok >= 2, connector.ok
        log = node.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:4000]
        print(disk_line)
        print(f"{nodes} node(s), reserve {reserve_mb} MB: {len(acked)} rows acknowledged, "
              f"{len(errors)} WriteFailures, fill {fill_s:.1f} s, writes again "
              f"{recover_s:.1f} s after the filler went ({refused_again} refused again while "
              f"a compaction held space), {connector.ok} new connections, "
              f"0 lost; e.g. {message}")
    finally:
        if connector is not None:
            connector.stop.set()
            connector.join(30)
        if c is not None:
            c.close()  # type: ignore[attr-defined]
        _unmount(store)
