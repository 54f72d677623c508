"""runtime.quarantine: a commit log (RocksDB WAL) that lost fsynced writes is found at open and
the mark survives a restart; a clean database opens unmarked; a corrupt data-family file that
stops RocksDB's open is quarantined with the node's own state kept, while a corrupt own-state
file stops the start with a message."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from skewless.runtime.quarantine import (
    MARK_FILE,
    OPEN_REASON,
    POSITION_FILE,
    QUARANTINE_DIR,
    DiskGuard,
    read_position,
)
from skewless.storage.kv import RocksKV


def _write_and_crash(data_dir: Path) -> None:
    """200 synced writes (the position file follows), then exit without closing (kill -9)."""
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from skewless.runtime.quarantine import PositionedRocksKV
        d = Path({str(data_dir)!r})
        d.mkdir(parents=True, exist_ok=True)
        kv = PositionedRocksKV(str(d / "db"), d / {POSITION_FILE!r})
        for i in range(200):
            kv.write([(b"d%05d" % i, b"x" * 100)])
            kv.sync()
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_truncated_commit_log_marks_the_node_and_the_mark_survives(tmp_path: Path) -> None:
    _write_and_crash(tmp_path)
    assert read_position(tmp_path / POSITION_FILE) == 200
    (wal,) = (tmp_path / "db").glob("*.log")
    size = wal.stat().st_size
    with wal.open("r+b") as f:
        f.truncate(size // 2)
    guard = DiskGuard(str(tmp_path), "stop")
    try:
        assert guard.integrity.needs_rebuild
        assert "commit log truncated" in guard.integrity.reasons[0]
        assert json.loads((tmp_path / MARK_FILE).read_text())["reasons"]
    finally:
        guard.rocks.close()
    again = DiskGuard(str(tmp_path), "stop")  # restarted: still marked, by the file
    try:
        assert again.integrity.needs_rebuild and again.status()["state"] == "CORRUPT"
    finally:
        again.rocks.close()


def test_intact_commit_log_is_not_marked(tmp_path: Path) -> None:
    _write_and_crash(tmp_path)
    guard = DiskGuard(str(tmp_path), "stop")
    try:
        assert not guard.integrity.needs_rebuild
        assert guard.rocks.get(b"d00199") == b"x" * 100
    finally:
        guard.rocks.close()
    assert not (tmp_path / MARK_FILE).exists()


def _flushed(data_dir: Path) -> tuple[Path, Path]:
    """A flushed database: 2,000 data entries and some own state (meta, a hint); its data-family
    SST file and its default-family one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    kv = RocksKV(str(data_dir / "db"))
    kv.write([(b"d%05d" % i, b"row" * 30) for i in range(2000)])
    kv.write([(b"mhost_id", b"me"), (b"mtokens", b"1,2"), (b"h\x01hint", b"h")])
    kv.sync()
    kv.flush()
    (data_file,) = kv.data_sst_files()
    (own_file,) = [p.name for p in (data_dir / "db").glob("*.sst") if p.name != data_file]
    kv.close()
    return data_dir / "db" / data_file, data_dir / "db" / own_file


def _break_footer(sst: Path) -> None:
    """Flip bytes of the SST's footer (read when the database opens: it will not open)."""
    raw = bytearray(sst.read_bytes())
    for i in range(1, 9):
        raw[-i] ^= 0xFF
    sst.write_bytes(bytes(raw))


def test_a_data_file_that_stops_the_open_is_quarantined_and_own_state_kept(
        tmp_path: Path) -> None:
    data_file, _ = _flushed(tmp_path)
    _break_footer(data_file)
    with pytest.raises(Exception, match="Corruption"):
        RocksKV(str(tmp_path / "db"))  # RocksDB alone refuses it
    guard = DiskGuard(str(tmp_path), "stop")
    try:
        reasons = guard.integrity.reasons
        assert len(reasons) == 1 and reasons[0].startswith(OPEN_REASON), reasons
        assert (tmp_path / QUARANTINE_DIR / "db-1" / data_file.name).exists()
        assert guard.rocks.get(b"mhost_id") == b"me" and guard.rocks.get(b"h\x01hint") == b"h"
        assert guard.rocks.get(b"d00001") is None  # the peers give the data back (rebuild)
        assert json.loads((tmp_path / MARK_FILE).read_text())["reasons"] == reasons
    finally:
        guard.rocks.close()
    again = DiskGuard(str(tmp_path), "stop")  # restarted: still marked, nothing new lost
    try:
        assert again.integrity.reasons == reasons and again.rocks.get(b"mtokens") == b"1,2"
    finally:
        again.rocks.close()


def test_a_corrupt_own_state_file_stops_the_start_with_a_message(tmp_path: Path) -> None:
    _, own_file = _flushed(tmp_path)
    _break_footer(own_file)
    with pytest.raises(SystemExit, match="replace-address-first-boot"):
        DiskGuard(str(tmp_path), "stop")
    assert not (tmp_path / QUARANTINE_DIR).exists()  # left in place for the operator


def test_policy_die_exits_on_a_data_file_that_stops_the_open(tmp_path: Path) -> None:
    data_file, _ = _flushed(tmp_path)
    _break_footer(data_file)
    with pytest.raises(SystemExit, match="disk_failure_policy die"):
        DiskGuard(str(tmp_path), "die")
    assert data_file.exists()


def test_a_one_family_data_directory_is_split_at_open_and_not_marked(tmp_path: Path) -> None:
    """A data directory from before the split (everything in the default family), cleanly
    closed after its last fsync: its data moves to the data family, nothing is marked (the
    moves' own WAL writes do not hide a commit-log check)."""
    import rocksdict

    (tmp_path / "db").mkdir(parents=True)
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    old = rocksdict.Rdict(str(tmp_path / "db"), options)
    for i in range(500):
        old[b"d%05d" % i] = b"row"
    old[b"mhost_id"] = b"me"
    old.flush_wal(True)
    sequence = int(old.latest_sequence_number())
    old.close()
    del old
    (tmp_path / POSITION_FILE).write_text(f"{sequence:020d}\n")
    guard = DiskGuard(str(tmp_path), "stop")
    try:
        assert guard.rocks.migrated == 500 and not guard.integrity.needs_rebuild
        assert guard.rocks.get(b"d00042") == b"row" and guard.rocks.get(b"mhost_id") == b"me"
        assert list(RocksKV.iter_family(guard.rocks._db, b"d", b"e")) == []  # moved out
        guard.rocks.flush()
        assert len(guard.rocks.data_sst_files()) == 1
    finally:
        guard.rocks.close()
