"""storage.diskspace: the reserve refuses data writes only, I/O errors become DiskFull and put
the store in its failure state until it is reopened, and a Ready whose sync failed carries no
acknowledgement (runtime.disk_watch.not_durable). A real full disk: test_full_disk.py."""

from __future__ import annotations

import pytest

from skewless.cql.results import RowsResult, SchemaChange, Void
from skewless.errors import ServerError, WriteFailure
from skewless.node.effects import Ready, Reply
from skewless.node.messages import Envelope, MutationResponse, Shutdown
from skewless.runtime.disk_watch import not_durable
from skewless.storage.diskspace import DiskFull, DiskState, GuardedKV
from skewless.storage.engine import Storage
from skewless.storage.kv import Batch, MemoryKV
from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row

MB = 1024 * 1024


class _FailingKV(MemoryKV):
    """A MemoryKV whose writes and syncs fail as rocksdict's do on a full disk, when told."""

    full = False

    def write(self, batch: Batch) -> None:
        if self.full:
            raise Exception("IO error: No space left on device: While appending to file: 4.log")
        super().write(batch)

    def sync(self) -> None:
        if self.full:
            raise Exception("IO error: Writer has previous error.")
        super().sync()


def _update(key: bytes) -> PartitionUpdate:
    cell = Cell(1, b"v")
    return PartitionUpdate("t1", key, rows=(Row(b"", cell, None, (CellWrite("v", b"", cell),)),))


def test_reserve_refuses_data_writes_only_and_counts_the_memtables() -> None:
    state = DiskState("127.0.0.9", 8 * MB)
    storage = Storage(GuardedKV(MemoryKV(), state))
    state.observe(20 * MB, 4 * MB)
    storage.apply(_update(b"a"), 0)
    assert state.state() == "ok"
    state.observe(11 * MB, 4 * MB)  # above the reserve, but not with the memtables' flush
    with pytest.raises(DiskFull) as e:
        storage.apply(_update(b"b"), 0)
    assert "127.0.0.9" in str(e.value) and "min_free_space_per_drive_in_mb (8)" in str(e.value)
    assert state.writes_refused == 1 and state.state() == "low"
    storage.put_meta("x", b"1")  # internal writes go on into the reserve
    storage.truncate("t1")  # and deletes, which give space back
    state.observe(9 * MB, 0)  # above the threshold, not yet by the margin: still refusing
    assert state.state() == "low"
    state.observe(13 * MB, 0)
    storage.apply(_update(b"b"), 0)
    assert state.state() == "ok"


def test_no_reserve_never_refuses_for_space() -> None:
    state = DiskState("127.0.0.9", 0)
    state.observe(0, 10 * MB)
    assert state.refusal() is None and not state.flush_advised()


def test_flush_advised_before_the_reserve_refuses_when_there_is_room() -> None:
    state = DiskState("127.0.0.9", 8 * MB)
    state.observe(40 * MB, 10 * MB)
    assert not state.flush_advised()  # a whole memtable more still fits above the reserve
    state.observe(27 * MB, 10 * MB)
    assert state.flush_advised() and not state.low()
    state.observe(12 * MB, 10 * MB)  # no room left to write the SST: refusing, no flush
    assert state.low() and not state.flush_advised()


def test_io_error_fails_the_store_until_reopened() -> None:
    kv = _FailingKV()
    state = DiskState("127.0.0.9", 0)
    storage = Storage(GuardedKV(kv, state))
    state.observe(30 * MB, 5 * MB)
    storage.apply(_update(b"a"), 0)
    kv.full = True
    with pytest.raises(DiskFull, match="No space left on device"):
        storage.apply(_update(b"b"), 0)
    with pytest.raises(DiskFull, match="previous error"):
        storage.sync()
    assert state.state() == "failed" and state.storage_failures == 2
    kv.full = False
    with pytest.raises(DiskFull, match="refused until it has been reopened"):
        storage.apply(_update(b"c"), 0)  # refused up front while failed
    state.observe(5 * MB, 0)
    assert not state.can_reopen()  # no room to replay the 5 MB the memtables held
    state.observe(30 * MB, 0)
    assert state.can_reopen()
    state.recovered()
    storage.apply(_update(b"c"), 0)
    assert state.state() == "ok" and state.recoveries == 1
    assert storage.read("t1", b"c", 0).rows  # written after the reopen
    assert not storage.read("t1", b"b", 0).rows  # the write that failed was not applied


def test_other_errors_are_not_disk_errors() -> None:
    class _Broken(MemoryKV):
        def write(self, batch: Batch) -> None:
            raise ValueError("a bug")

    state = DiskState("127.0.0.9", 0)
    with pytest.raises(ValueError):
        GuardedKV(_Broken(), state).write([(b"m1", b"x")])
    assert state.state() == "ok"


def test_not_durable_keeps_no_acknowledgement() -> None:
    error = ServerError("already an error")
    rows = RowsResult((), ())
    ack = Envelope(1, MutationResponse(7, "", ((b"", "v", b"", 1, 2),)))
    refused = Envelope(1, MutationResponse(8, "No space left on device on 127.0.0.9", ()))
    ready = Ready(must_sync=True, sends=[("127.0.0.2", Envelope(1, Shutdown(1))),
                                         ("127.0.0.3", ack), ("127.0.0.3", refused)],
                  replies=[Reply(1, 1, Void()), Reply(1, 2, error), Reply(1, 3, rows),
                           Reply(1, 4, SchemaChange("CREATED", "TABLE", "ks", "t"))])
    out = not_durable(ready, "storage write failed on 127.0.0.9: IO error")
    assert out.sends == [("127.0.0.3", Envelope(1, MutationResponse(
        7, "storage write failed on 127.0.0.9: IO error", ()))), ("127.0.0.3", refused)]
    first = out.replies[0].body
    assert isinstance(first, WriteFailure) and "127.0.0.9" in first.message
    assert out.replies[1].body is error
    assert out.replies[2].body is rows  # a read acknowledges nothing: answered
    assert isinstance(out.replies[3].body, WriteFailure)
