"""Native protocol versions as a client sees them: v5 negotiated by the stock driver, v5's
per-statement keyspace and result metadata ids, and v4 types as v3 clients see them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement
from conformance_cases import QUORUM, Case, Check, Ok, Rows


def _negotiated_v5(session: Any, ks: str) -> None:
    assert session.cluster.protocol_version == 5, session.cluster.protocol_version


def _statement_keyspace(session: Any, ks: str) -> None:
    assert session.keyspace == ks
    # system.local through the statement's keyspace while the session's is the case's own
    stmt = SimpleStatement("SELECT key FROM local WHERE key = 'local'", keyspace="system",
                           consistency_level=QUORUM)
    assert [tuple(r) for r in session.execute(stmt)] == [("local",)]
    prepared = session.prepare("SELECT key FROM local WHERE key = ?", keyspace="system")
    assert [tuple(r) for r in session.execute(prepared, ("local",))] == [("local",)]
    own = SimpleStatement("SELECT k, v FROM t", keyspace=ks, consistency_level=QUORUM)
    assert [tuple(r) for r in session.execute(own)] == [(1, "a")]


def _metadata_id_after_alter(session: Any, ks: str) -> None:
    select = session.prepare(f"SELECT * FROM {ks}.t WHERE k = 1")
    select.consistency_level = QUORUM
    before = select.result_metadata_id
    assert [tuple(r) for r in session.execute(select)] == [(1, "a")]
    session.execute(SimpleStatement(f"ALTER TABLE {ks}.t ADD w int", consistency_level=QUORUM))
    session.execute(SimpleStatement(f"UPDATE {ks}.t SET w = 9 WHERE k = 1",
                                    consistency_level=QUORUM))
    row = session.execute(select).one()  # the stale id is answered with the new columns
    assert row._fields == ("k", "v", "w") and tuple(row) == (1, "a", 9)
    again = session.prepare(f"SELECT * FROM {ks}.t WHERE k = 1")
    assert again.result_metadata_id != before


def _v3_client(session: Any, ks: str) -> None:
    hosts = [h.endpoint.address for h in session.cluster.metadata.all_hosts()]
    cluster = Cluster(hosts, port=session.cluster.port, protocol_version=3)
    try:
        v3 = cluster.connect(ks)
        assert cluster.protocol_version == 3
        row = v3.execute(SimpleStatement("SELECT d, s, y, ti FROM dates WHERE k = 0",
                                         consistency_level=QUORUM)).one()
        assert (str(row.d), row.s, row.y) == ("2024-02-29", -2, 3)
        assert str(row.ti).startswith("01:02:03")
        insert = v3.prepare("INSERT INTO dates (k, d, s, y, ti) VALUES (?, ?, ?, ?, ?)")
        insert.consistency_level = QUORUM
        assert [c.type.__name__ for c in insert.column_metadata[1:]] == [
            "SimpleDateType", "ShortType", "ByteType", "TimeType"]
        v3.execute(insert, (1, dt.date(1970, 1, 1), 1, 2, dt.time(0, 0, 1)))
    finally:
        cluster.shutdown()


CASES = [
    Case("protocol_v5_default", "the stock driver's defaults end on v5 (Cassandra 4.0+'s "
         "default; transport.ProtocolVersion, 0x42/0x41 answered 'Invalid or unsupported "
         "protocol version')",
         Check(_negotiated_v5, "the driver negotiated v5")),
    Case("protocol_v5_statement_keyspace", "a v5 QUERY/PREPARE keyspace (flag 0x80 / 0x01) "
         "stands in for the connection's (QueryMessage, PrepareMessage: "
         "ClientState.cloneWithKeyspaceIfSet)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v text)"),
         Ok("INSERT INTO t (k, v) VALUES (1, 'a')"),
         Check(_statement_keyspace, "statement keyspace vs session keyspace")),
    Case("protocol_v5_metadata_changed", "an EXECUTE whose result_metadata_id is stale gets "
         "METADATA_CHANGED with the new id and columns (ExecuteMessage, "
         "ResultSet.ResultMetadata.getResultMetadataId)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v text)"),
         Ok("INSERT INTO t (k, v) VALUES (1, 'a')"),
         Check(_metadata_id_after_alter, "prepared SELECT * across ALTER TABLE ADD")),
    Case("protocol_v3_v4_types", "a v3 client gets date/smallint/tinyint/time as custom types "
         "(DataType.fromType: the type's protocol version is newer) and can still use them",
         Ok("CREATE TABLE dates (k int PRIMARY KEY, d date, s smallint, y tinyint, ti time)"),
         Ok("INSERT INTO dates (k, d, s, y, ti) VALUES (0, '2024-02-29', -2, 3, '01:02:03')"),
         Check(_v3_client, "v3 connection reading and writing v4 types"),
         Rows("SELECT k, s FROM dates WHERE k = 1", [(1, 1)])),
]
