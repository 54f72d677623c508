"""Corrupt storage (storage.integrity) over a real RocksDB: a flipped byte in an SSTable block is
a typed StorageCorruption on a point read and on a scan (never a silently short scan), recorded
in the node's Integrity; verify finds it; salvage keeps the node's own entries; the policies;
and the coordinator's failover away from a corrupt replica (node.coordinator.ReadOp)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from skewless import errors
from skewless.node.coordinator import ReadOp
from skewless.node.messages import ReadRequest
from skewless.storage.integrity import (
    CheckedKV,
    Integrity,
    StorageCorruption,
    replica_refusal,
    salvage,
    storage_verdict,
    verify,
)
from skewless.storage.kv import RocksKV
from skewless.storage.model import PartitionUpdate


def _corrupt_db(path: Path) -> dict[bytes, bytes]:
    """A flushed database of 400 data entries and a few meta ones; one value's byte flipped in
    the middle of the data."""
    kv = RocksKV(str(path))
    values = {b"d%05d" % i: secrets.token_hex(32).encode() for i in range(400)}
    kv.write(list(values.items()))
    kv.write([(b"mhost_id", b"me"), (b"mtokens", b"1,2,3")])
    kv.flush()
    kv.close()
    (sst,) = [f for f in path.glob("*.sst") if values[b"d00200"] in f.read_bytes()]
    data = bytearray(sst.read_bytes())
    at = data.find(values[b"d00200"])
    data[at + 3] ^= 0xFF
    sst.write_bytes(bytes(data))
    return values


def test_corrupt_block_is_typed_recorded_and_never_a_short_scan(tmp_path: Path) -> None:
    values = _corrupt_db(tmp_path / "db")
    integ = Integrity()
    kv = CheckedKV(RocksKV(str(tmp_path / "db")), integ)
    try:
        assert kv.get(b"d00001") == values[b"d00001"]  # another block reads fine
        assert not integ.needs_rebuild
        with pytest.raises(StorageCorruption):
            kv.get(b"d00200")
        with pytest.raises(StorageCorruption):
            list(kv.iter_from(b"d", b"e"))
        with pytest.raises(StorageCorruption):
            list(kv.iter_from(b"d", b"e", reverse=True))
        assert integ.corruption_errors == 3 and len(integ.reasons) == 1
        assert integ.state() == "CORRUPT" and integ.refuses_reads
        assert replica_refusal(kv, "127.0.0.3") is not None
        assert (storage_verdict(kv) or "").startswith("CORRUPT: corrupt SSTable block")
        n, error = verify(kv.inner)
        assert error is not None and "Corruption" in error and n < len(values)
        kept, lost = salvage(kv.inner)
        assert (b"mhost_id", b"me") in kept and lost == []
    finally:
        kv.close()


def test_raw_rocks_scan_raises_instead_of_ending_early(tmp_path: Path) -> None:
    _corrupt_db(tmp_path / "db")
    kv = RocksKV(str(tmp_path / "db"))
    try:
        with pytest.raises(Exception, match="Corruption"):
            list(kv.iter_from(b"d", b"e"))
        assert len(list(kv.iter_from(b"m", b"n"))) == 2  # a scan that ends at its bound is fine
    finally:
        kv.close()


def test_policies() -> None:
    ignore = Integrity(policy="ignore")
    ignore.corruption("Corruption: x")
    assert ignore.corruption_errors == 1 and not ignore.needs_rebuild
    best = Integrity(policy="best_effort")
    best.mark("commit log truncated")
    assert best.needs_rebuild and not best.refuses_reads
    marks: list[list[str]] = []
    stop = Integrity(on_mark=lambda i: marks.append(list(i.reasons)))
    stop.mark("a")
    stop.mark("a")  # once
    assert stop.refuses_reads and marks == [["a"]]
    stop.rebuild_commands["ks"] = 1
    assert stop.state() == "REBUILDING"
    stop.cleared()
    assert stop.state() == "OK" and stop.rebuilds == 1 and marks[-1] == []


def _op(targets: tuple[str, ...], spares: tuple[str, ...], out: list[object]) -> ReadOp:
    req = ReadRequest(1, "t", b"k", (), False, 0, False)
    dc_of = {"a": "dc1", "b": "dc1", "c": "dc1", "d": "dc2"}
    return ReadOp(1, req, targets, len(targets), 10**9, 4, lambda: 2,
                  lambda e, d: out.append(e if e is not None else d), spares=spares,
                  dc_of=dc_of)


def test_a_corrupt_replica_is_replaced_by_a_spare_of_its_dc() -> None:
    out: list[object] = []
    op = _op(("a", "b"), ("d", "c"), out)
    op.first_sends()
    sends = op.on_failure("a", failover=True)  # the data replica: the spare gets the data read
    assert sends == [("c", op.request)] and op.targets == ("c", "b")
    part = PartitionUpdate("t", b"k")
    op.on_response("c", part, b"")
    from skewless.storage import merge
    op.on_response("b", None, merge.digest(part))
    assert out == [part]


def test_without_a_spare_or_failover_the_read_fails() -> None:
    out: list[object] = []
    op = _op(("a", "b"), ("d",), out)  # d is in another DC
    op.first_sends()
    assert op.on_failure("b", failover=True) == []
    assert len(out) == 1 and isinstance(out[0], errors.ReadFailure)
    out2: list[object] = []
    op2 = _op(("a", "b"), ("c",), out2)
    op2.first_sends()
    assert op2.on_failure("b") == []  # not corruption (e.g. too many tombstones): no failover
    assert isinstance(out2[0], errors.ReadFailure)


def test_salvage_reports_a_family_it_could_not_read_whole(tmp_path: Path) -> None:
    kv = RocksKV(str(tmp_path / "db"))
    metas = {b"m%05d" % i: secrets.token_hex(32).encode() for i in range(300)}
    kv.write(list(metas.items()))
    kv.write([(b"h\x01x", b"hint")])
    kv.flush()
    kv.close()
    (sst,) = (tmp_path / "db").glob("*.sst")
    data = bytearray(sst.read_bytes())
    at = data.find(metas[b"m00150"])
    data[at + 3] ^= 0xFF
    sst.write_bytes(bytes(data))
    kv = RocksKV(str(tmp_path / "db"))
    try:
        kept, lost = salvage(kv)
        assert lost == ["m"]  # rebuild refuses such a node (runtime.quarantine)
        assert (b"h\x01x", b"hint") in kept
        assert 0 < sum(1 for k, _ in kept if k[:1] == b"m") < len(metas)
    finally:
        kv.close()


def test_the_verdict_is_found_under_the_full_disk_guard(tmp_path: Path) -> None:
    """In a process the node's store is GuardedKV(CheckedKV(RocksKV)): the corruption verdict
    (status, gossip, replica refusals) must be found through the outer wrapper."""
    from skewless.storage.diskspace import DiskState, GuardedKV
    from skewless.storage.integrity import integrity_of, storage_verdict
    integ = Integrity()
    checked = CheckedKV(RocksKV(str(tmp_path / "db")), integ)
    kv = GuardedKV(checked, DiskState("127.0.0.9", 0))
    try:
        assert integrity_of(kv) is integ
        integ.mark("commit log truncated: test")
        assert (storage_verdict(kv) or "").startswith("CORRUPT")
    finally:
        kv.close()
