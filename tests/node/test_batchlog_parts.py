"""The batchlog's parts: endpoint choice, storage entries, wire messages, options, batch checks."""

from __future__ import annotations

import random
import uuid

import pytest
from click.testing import CliRunner

from skewless import cli, limits
from skewless.config import NodeConfig
from skewless.errors import InvalidRequest, RemoteProtocolError
from skewless.node.batchlog import (
    batch_warnings,
    choose_endpoints,
    decode_mutations,
    encode_mutations,
    parse_crash_point,
)
from skewless.node.messages import (
    BatchlogAck,
    BatchlogRemove,
    BatchlogStore,
    Envelope,
    decode,
    encode,
)
from skewless.schema import ColumnDef, KeyspaceDef, Schema, TableDef
from skewless.storage import codec
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV
from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row

L = "10.0.0.1"


def _nodes(spec: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    return [(L, "r1", True), *spec]


def test_endpoints_single_node_dc_is_the_local_node() -> None:
    assert choose_endpoints(L, "r1", [(L, "r1", True)], random.Random(1), False) == [L]


def test_endpoints_up_to_two_live_others() -> None:
    rng = random.Random(1)
    nodes = _nodes([("10.0.0.2", "r1", True), ("10.0.0.3", "r1", False)])
    assert choose_endpoints(L, "r1", nodes, rng, False) == ["10.0.0.2"]
    nodes = _nodes([("10.0.0.2", "r1", False), ("10.0.0.3", "r1", False)])
    assert choose_endpoints(L, "r1", nodes, rng, False) == []  # -> Unavailable
    assert choose_endpoints(L, "r1", nodes, rng, True) == [L]  # CL ANY: this node
    many = _nodes([(f"10.0.0.{i}", "r1", True) for i in range(2, 9)])
    for _ in range(20):
        chosen = choose_endpoints(L, "r1", many, rng, False)
        assert len(chosen) == 2 and L not in chosen and len(set(chosen)) == 2


def test_endpoints_prefer_other_racks_and_two_different_racks() -> None:
    rng = random.Random(2)
    nodes = _nodes([("10.0.0.2", "r1", True), ("10.0.0.3", "r2", True), ("10.0.0.4", "r2", True),
                    ("10.0.0.5", "r3", True)])
    for _ in range(20):
        chosen = choose_endpoints(L, "r1", nodes, rng, False)
        racks = {dict((a, r) for a, r, _ in nodes)[a] for a in chosen}
        assert len(chosen) == 2 and "r1" not in racks and len(racks) == 2
    # only one other rack with two members or more: two of it
    nodes = _nodes([("10.0.0.2", "r1", True), ("10.0.0.3", "r2", True), ("10.0.0.4", "r2", True)])
    assert sorted(choose_endpoints(L, "r1", nodes, rng, False)) == ["10.0.0.3", "10.0.0.4"]


def test_crash_point_parsing() -> None:
    assert parse_crash_point("") == ("", 0)
    assert parse_crash_point("batch-after-batchlog") == ("batch-after-batchlog", 1)
    assert parse_crash_point("batch-mid-mutations:7") == ("batch-mid-mutations", 7)
    for bad in ("nowhere", "batch-mid-mutations:0", "batch-mid-mutations:x"):
        with pytest.raises(ValueError, match="crash_point"):
            parse_crash_point(bad)
    with pytest.raises(ValueError, match="batchlog_replay_delay_ms"):
        NodeConfig(batchlog_replay_delay_ms=-1)


def test_cli_options_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    configs: list[NodeConfig] = []
    fake = types.ModuleType("skewless.runtime.server")
    fake.run_node = configs.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "skewless.runtime.server", fake)
    r = CliRunner().invoke(cli.main, ["node", "--batchlog-replay-delay-ms", "1500",
                                      "--crash-point", "batch-mid-mutations:3"])
    assert r.exit_code == 0, r.output
    assert configs[0].batchlog_replay_delay_ms == 1500
    assert configs[0].crash_point == "batch-mid-mutations:3"
    r = CliRunner().invoke(cli.main, ["node", "--crash-point", "somewhere"])
    assert r.exit_code == 2 and "crash_point" in r.output
    assert NodeConfig().crash_point == ""  # off by default
    assert NodeConfig().batchlog_replay_delay_ms == 2 * limits.write_timeout_ms


def _update(table: str, key: int, value: bytes) -> PartitionUpdate:
    row = Row(b"", Cell(1, b""), None, (CellWrite("v", b"", Cell(1, value)),), ())
    return PartitionUpdate(table, key.to_bytes(4, "big"), None, (), None, (row,))


def test_storage_batchlog_add_list_remove_bounded_and_durable() -> None:
    kv = MemoryKV()
    s = Storage(kv)
    ids = [bytes([i]) * 16 for i in range(5)]
    for i, bid in enumerate(ids):
        assert s.add_batch(bid, 1000 + i, f"p{i}".encode())
    assert s.add_batch(ids[0], 9999, b"dup")  # a duplicated store keeps the first
    assert s.batch_count() == 5
    assert [b for b, _, _ in s.batches_before(1003, 10)] == ids[:3]  # oldest first, < cutoff
    assert s.batches_before(10_000, 2)[1] == (ids[1], 1001, b"p1")
    s.remove_batch(ids[1])
    s.remove_batch(ids[1])  # twice: nothing
    assert s.batch_count() == 4
    kv.sync()
    s.remove_batch(ids[0])  # not synced: a crash brings it back
    s2 = Storage(kv.crash())
    assert s2.batch_count() == 4
    assert [b for b, _, _ in s2.batches_before(10_000, 10)] == [ids[0], *ids[2:]]


def test_storage_batchlog_refuses_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "batchlog_entries_max", 2)
    s = Storage(MemoryKV())
    assert s.add_batch(b"a" * 16, 1, b"")
    assert s.add_batch(b"b" * 16, 2, b"")
    assert not s.add_batch(b"c" * 16, 3, b"")
    s.remove_batch(b"a" * 16)
    assert s.add_batch(b"c" * 16, 3, b"")


def test_messages_round_trip_and_mutations_codec() -> None:
    u = codec.encode_update(_update("t", 1, b"x"))
    payload = encode_mutations([("ks", u), ("ks2", u)])
    assert decode_mutations(payload) == [("ks", u), ("ks2", u)]
    for m in (BatchlogStore(7, b"i" * 16, payload), BatchlogAck(7, ""), BatchlogRemove(b"i" * 16)):
        assert decode(encode(Envelope(5, m))).message == m
    for garbage in (b"\xc1", encode_mutations([("ks", b"not an update")]), b"\x93\x01\x02\x03"):
        with pytest.raises(RemoteProtocolError):
            decode_mutations(garbage)


def _schema() -> tuple[Schema, TableDef]:
    t = TableDef("ks", "t", uuid.UUID(int=7),
                 (ColumnDef("k", "int", "partition_key", 0), ColumnDef("v", "text", "regular", -1)))
    ks = KeyspaceDef("ks", (("class", "SimpleStrategy"), ("replication_factor", "1")))
    return Schema(keyspaces=(ks,), tables=(t,)), t


def test_batch_warnings() -> None:
    schema, t = _schema()
    small = [("ks", _update(t.table_key, k, b"v")) for k in range(11)]
    assert batch_warnings(schema, small, logged=True) == ()
    assert batch_warnings(schema, small[:10], logged=False) == ()
    (w,) = batch_warnings(schema, small, logged=False)
    assert w.startswith("Unlogged batch covering 11 partitions detected against table [ks.t]. ")
    big = [("ks", _update(t.table_key, k, b"x" * 3000)) for k in range(2)]
    (w,) = batch_warnings(schema, big, logged=True)
    assert w.startswith("Batch for [ks.t] is of size ") and "threshold of 5120 by " in w
    one_partition = [("ks", _update(t.table_key, 1, b"x" * 60_000))]
    assert batch_warnings(schema, one_partition, logged=True) == ()  # as Cassandra: > 1 only
    with pytest.raises(InvalidRequest, match="Batch too large"):
        batch_warnings(schema, [("ks", _update(t.table_key, k, b"x" * 30_000)) for k in (1, 2)],
                       logged=True)
