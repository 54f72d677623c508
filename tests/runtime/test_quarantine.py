"""runtime.quarantine: a commit log (RocksDB WAL) that lost fsynced writes is found at open and
the mark survives a restart; a clean database opens unmarked."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from skewless.runtime.quarantine import MARK_FILE, POSITION_FILE, DiskGuard, read_position


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
