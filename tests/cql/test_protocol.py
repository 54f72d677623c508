"""The native protocol codec and ServerConnection, with the Python driver as the peer: requests
are encoded by the driver's encoder, responses decoded by the driver's decoder (v4)."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import struct
import uuid
from typing import Any

import pytest
from cassandra import ConsistencyLevel, WriteType
from cassandra import protocol as dp
from cassandra.connection import locally_supported_compressions
from cassandra.query import UNSET_VALUE, BatchType
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import errors, limits
from skewless.cql import protocol as p
from skewless.cql.connection import ProtocolViolation, RequestReceived, ServerConnection, State
from skewless.cql.types import CqlType, Duration, parse_type

V4 = 4
LZ4_COMPRESS, LZ4_DECOMPRESS = locally_supported_compressions["lz4"]


def driver_frame(msg: Any, stream: int = 1, compressor: Any = None, version: int = V4) -> bytes:
    frame: bytes = dp._ProtocolHandler.encode_message(msg, stream, version, compressor, False)
    return frame


def driver_decode(frame: bytes, decompressor: Any = None, result_metadata: Any = None,
                  version: int = V4) -> Any:
    header_version, flags, stream, opcode, length = struct.unpack(">BBhBi", frame[:9])
    assert header_version == 0x80 | version
    assert length == len(frame) - 9
    return dp._ProtocolHandler.decode_message(
        version, {}, stream, flags, opcode, frame[9:], decompressor, result_metadata
    )


def one_request(conn: ServerConnection, frame: bytes) -> RequestReceived:
    events = conn.receive_data(frame)
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, RequestReceived), event
    return event


def one_violation(conn: ServerConnection, data: bytes) -> ProtocolViolation:
    events = conn.receive_data(data)
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, ProtocolViolation), event
    return event


def started(compression: str | None = None) -> ServerConnection:
    conn = ServerConnection()
    options = {"COMPRESSION": compression} if compression else {}
    ev = one_request(conn, driver_frame(dp.StartupMessage("3.0.0", options), stream=0))
    assert isinstance(ev.request, p.Startup)
    ready = conn.send_response(ev.stream, p.Ready())
    assert ready == b"\x84\x00\x00\x00\x02\x00\x00\x00\x00"  # READY is never compressed
    assert conn.state is State.READY
    return conn


# ------------------------------------------------------------------ requests


def test_startup_options_register() -> None:
    conn = ServerConnection()
    ev = one_request(conn, driver_frame(dp.OptionsMessage(), stream=3))
    assert (ev.stream, ev.request, ev.tracing, ev.custom_payload) == (3, p.Options(), False, None)
    ev = one_request(conn, driver_frame(dp.StartupMessage("3.4.5", {"DRIVER_NAME": "x"})))
    assert ev.request == p.Startup({"CQL_VERSION": "3.4.5", "DRIVER_NAME": "x"})
    conn.send_response(ev.stream, p.Ready())
    events = ["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]
    ev = one_request(conn, driver_frame(dp.RegisterMessage(events), stream=7))
    assert ev.request == p.Register(tuple(events))
    assert conn.registered_events == frozenset(events)


def test_query_with_all_parameters() -> None:
    conn = started()
    msg = dp.QueryMessage("SELECT * FROM t WHERE k = ?", ConsistencyLevel.QUORUM,
                          serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL, fetch_size=100,
                          paging_state=b"\x01\x02", timestamp=1_704_164_645_678_123)
    msg.query_params = [b"\x00\x00\x00\x07", None, UNSET_VALUE, b""]
    ev = one_request(conn, driver_frame(msg, stream=32767))
    assert ev.stream == 32767 and ev.opcode == p.OP_QUERY
    assert ev.request == p.Query("SELECT * FROM t WHERE k = ?", p.QueryParams(
        consistency=ConsistencyLevel.QUORUM, values=(b"\x00\x00\x00\x07", None, p.UNSET, b""),
        names=None, skip_metadata=False, page_size=100, paging_state=b"\x01\x02",
        serial_consistency=ConsistencyLevel.LOCAL_SERIAL, timestamp=1_704_164_645_678_123))


def test_query_minimal() -> None:
    conn = started()
    ev = one_request(conn, driver_frame(dp.QueryMessage("USE ks", ConsistencyLevel.ONE)))
    assert ev.request == p.Query("USE ks", p.QueryParams(ConsistencyLevel.ONE))


def test_prepare_and_execute() -> None:
    conn = started()
    ev = one_request(conn, driver_frame(dp.PrepareMessage("INSERT INTO t (k) VALUES (?)")))
    assert ev.request == p.Prepare("INSERT INTO t (k) VALUES (?)")
    # skip_meta is not sent on v4 by the driver (so skip_metadata is False here)
    msg = dp.ExecuteMessage(b"\xaa" * 16, [b"\x00\x00\x00\x01", None], ConsistencyLevel.ALL,
                            fetch_size=5000, timestamp=5, skip_meta=True)
    ev = one_request(conn, driver_frame(msg, stream=9))
    assert ev.request == p.Execute(b"\xaa" * 16, p.QueryParams(
        ConsistencyLevel.ALL, (b"\x00\x00\x00\x01", None), None, False, 5000, None, None, 5))


def test_batch_mixed_entries() -> None:
    conn = started()
    queries = [(False, "INSERT INTO t (k) VALUES (1)", []),
               (True, b"\x01\x02\x03", [b"\x00\x00\x00\x02", None, UNSET_VALUE])]
    msg = dp.BatchMessage(BatchType.UNLOGGED, queries, ConsistencyLevel.LOCAL_QUORUM,
                          serial_consistency_level=ConsistencyLevel.SERIAL, timestamp=123456789)
    ev = one_request(conn, driver_frame(msg))
    assert ev.request == p.Batch(
        kind=1,
        entries=(p.BatchEntry(0, "INSERT INTO t (k) VALUES (1)", ()),
                 p.BatchEntry(1, b"\x01\x02\x03", (b"\x00\x00\x00\x02", None, p.UNSET))),
        consistency=ConsistencyLevel.LOCAL_QUORUM, serial_consistency=ConsistencyLevel.SERIAL,
        timestamp=123456789)


def test_tracing_and_custom_payload_on_requests() -> None:
    conn = started()
    for msg in (dp.QueryMessage("SELECT 1", ConsistencyLevel.ONE), dp.PrepareMessage("q"),
                dp.ExecuteMessage(b"id", [], ConsistencyLevel.ONE),
                dp.BatchMessage(BatchType.LOGGED, [(False, "q", [])], ConsistencyLevel.ONE)):
        msg.tracing = True
        msg.custom_payload = {"k": b"v", "empty": b""}
        ev = one_request(conn, driver_frame(msg))
        assert ev.tracing
        assert ev.custom_payload == {"k": b"v", "empty": b""}


def test_named_values() -> None:
    conn = started()
    body = (struct.pack(">i", 1) + b"q" + struct.pack(">HB", 1, 0x43) + struct.pack(">H", 2)
            + struct.pack(">H", 1) + b"a" + struct.pack(">i", 1) + b"x"
            + struct.pack(">H", 1) + b"b" + struct.pack(">i", -1))
    frame = struct.pack(">BBhBi", 4, 0, 5, p.OP_QUERY, len(body)) + body
    ev = one_request(conn, frame)
    assert isinstance(ev.request, p.Query)
    assert ev.request.params.names == ("a", "b")
    assert ev.request.params.values == (b"x", None)
    assert ev.request.params.skip_metadata


def test_frames_split_and_coalesced() -> None:
    conn = started()
    frames = b"".join(driver_frame(dp.QueryMessage(f"q{i}", ConsistencyLevel.ONE), stream=i)
                      for i in range(5))
    seen: list[int] = []
    for i in range(len(frames)):  # one byte at a time
        for ev in conn.receive_data(frames[i : i + 1]):
            assert isinstance(ev, RequestReceived)
            seen.append(ev.stream)
    assert seen == [0, 1, 2, 3, 4]
    events = conn.receive_data(frames)
    assert [e.stream for e in events] == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------ responses

ROW_TYPES: list[tuple[str, Any, Any]] = [
    ("int", 7, 7), ("bigint", -(2**40), -(2**40)), ("smallint", -3, -3), ("tinyint", 5, 5),
    ("varint", 10**30, 10**30), ("decimal", decimal.Decimal("3.14"), decimal.Decimal("3.14")),
    ("float", 0.5, 0.5), ("double", 1e100, 1e100), ("boolean", True, True),
    ("ascii", "abc", "abc"), ("text", "ünï", "ünï"), ("blob", b"\x00\x01", b"\x00\x01"),
    ("uuid", uuid.UUID(int=5), uuid.UUID(int=5)),
    ("timeuuid", uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
     uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")),
    ("timestamp", dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5)),
    ("counter", 12, 12), ("inet", "10.0.0.1", "10.0.0.1"),
    ("list<int>", [1, 2], [1, 2]), ("set<text>", {"a"}, {"a"}),
    ("map<text, int>", {"a": 1}, {"a": 1}), ("tuple<int, text>", (1, "x"), (1, "x")),
    ("frozen<list<frozen<map<int, text>>>>", [{1: "a"}], [{1: "a"}]),
]


def _normalise(value: Any) -> Any:
    if hasattr(value, "days_from_epoch"):
        return value.days_from_epoch
    if hasattr(value, "nanosecond_time"):
        return value.nanosecond_time
    if hasattr(value, "months"):
        return (value.months, value.days, value.nanoseconds)
    if isinstance(value, (list, tuple)):
        return type(value)(_normalise(v) for v in value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)) or type(value).__name__ == "SortedSet":
        return {_normalise(v) for v in value}
    return value


def test_rows_with_every_type() -> None:
    conn = started()
    extra = [("date", dt.date(2024, 1, 2), 19724), ("time", 5_000, 5_000),
             ("duration", Duration(1, 2, 3), (1, 2, 3))]
    cases = ROW_TYPES + extra
    types: list[CqlType] = [parse_type(t) for t, _, _ in cases]
    columns = tuple(p.ColumnSpec("ks", "t", f"c{i}", t) for i, t in enumerate(types))
    row = [t.serialize(v) for t, (_, v, _) in zip(types, cases, strict=True)]
    nulls = [None] * len(cases)
    frame = conn.send_response(4, p.ResultRows(p.RowsMetadata(columns), [row, nulls]))
    msg = driver_decode(frame)
    assert isinstance(msg, dp.ResultMessage) and msg.stream_id == 4
    assert msg.column_names == [f"c{i}" for i in range(len(cases))]
    assert [c[0:2] for c in msg.column_metadata] == [("ks", "t")] * len(cases)
    assert msg.paging_state is None
    got, empty = msg.parsed_rows
    for (name, _, expected), value in zip(cases, got, strict=True):
        assert _normalise(value) == _normalise(expected), name
    assert list(empty) == nulls


def test_rows_paging_and_mixed_tables() -> None:
    conn = started()
    t = parse_type("int")
    cols = (p.ColumnSpec("ks", "a", "x", t), p.ColumnSpec("other", "b", "y", t))
    meta = p.RowsMetadata(cols, paging_state=b"\xde\xad")
    msg = driver_decode(conn.send_response(1, p.ResultRows(meta, [[t.serialize(1), None]])))
    assert msg.paging_state == b"\xde\xad"
    assert [c[:3] for c in msg.column_metadata] == [("ks", "a", "x"), ("other", "b", "y")]
    assert [list(r) for r in msg.parsed_rows] == [[1, None]]


def test_rows_without_metadata_use_prepared_metadata() -> None:
    conn = started()
    t = parse_type("text")
    meta = p.RowsMetadata((p.ColumnSpec("ks", "t", "v", t),), no_metadata=True)
    frame = conn.send_response(1, p.ResultRows(meta, [[b"hi"]]))
    prepared_md = [("ks", "t", "v", dp.ResultMessage.read_type(
        io.BytesIO(t.option_bytes()), {}))]
    msg = driver_decode(frame, result_metadata=prepared_md)
    assert [list(r) for r in msg.parsed_rows] == [["hi"]]


def test_prepared_result() -> None:
    conn = started()
    i, s = parse_type("int"), parse_type("text")
    bind = (p.ColumnSpec("ks", "t", "k", i), p.ColumnSpec("ks", "t", "c", s),
            p.ColumnSpec("ks", "t", "v", parse_type("map<text, int>")))
    result = p.RowsMetadata((p.ColumnSpec("ks", "t", "v", s),))
    frame = conn.send_response(2, p.ResultPrepared(b"\x01" * 16, bind, (0,), result))
    msg = driver_decode(frame)
    assert msg.query_id == b"\x01" * 16
    assert msg.pk_indexes == [0]
    assert [(c[0], c[1], c[2]) for c in msg.bind_metadata] == [
        ("ks", "t", "k"), ("ks", "t", "c"), ("ks", "t", "v")]
    assert msg.bind_metadata[2][3].cql_parameterized_type() == "map<varchar, int>"
    assert [c[2] for c in msg.column_metadata] == ["v"]
    empty = p.RowsMetadata((), no_metadata=True)
    msg = driver_decode(conn.send_response(2, p.ResultPrepared(b"id", (), (), empty)))
    assert msg.bind_metadata == [] and msg.pk_indexes == [] and not msg.column_metadata


def test_void_set_keyspace_schema_change() -> None:
    conn = started()
    assert driver_decode(conn.send_response(1, p.ResultVoid())).kind == 1
    assert driver_decode(conn.send_response(1, p.ResultSetKeyspace("ks"))).new_keyspace == "ks"
    changes = [
        (p.ResultSchemaChange("CREATED", "KEYSPACE", "ks"),
         {"change_type": "CREATED", "target_type": "KEYSPACE", "keyspace": "ks"}),
        (p.ResultSchemaChange("UPDATED", "TABLE", "ks", "t"),
         {"change_type": "UPDATED", "target_type": "TABLE", "keyspace": "ks", "table": "t"}),
        (p.ResultSchemaChange("DROPPED", "TYPE", "ks", "addr"),
         {"change_type": "DROPPED", "target_type": "TYPE", "keyspace": "ks", "type": "addr"}),
    ]
    for change, expected in changes:
        assert driver_decode(conn.send_response(1, change)).schema_change_event == expected
    function = p.ResultSchemaChange("CREATED", "FUNCTION", "ks", "f", ("int", "text"))
    event = driver_decode(conn.send_response(1, function)).schema_change_event
    assert (event["target_type"], event["keyspace"]) == ("FUNCTION", "ks")
    assert (event["function"].name, event["function"].argument_types) == ("f", ["int", "text"])


def test_handshake_responses() -> None:
    conn = ServerConnection()
    supported = {"CQL_VERSION": ["3.4.5"], "COMPRESSION": ["lz4"], "PROTOCOL_VERSIONS": ["4/v4"]}
    msg = driver_decode(conn.send_response(0, p.Supported(supported)))
    assert msg.cql_versions == ["3.4.5"] and msg.options["COMPRESSION"] == ["lz4"]
    auth = "org.apache.cassandra.auth.PasswordAuthenticator"
    msg = driver_decode(conn.send_response(0, p.Authenticate(auth)))
    assert msg.authenticator == auth
    assert driver_decode(conn.send_response(0, p.AuthChallenge(b"c"))).challenge == b"c"
    assert driver_decode(conn.send_response(0, p.AuthSuccess(b"t"))).token in (b"t", "t")


def test_events() -> None:
    conn = started()
    frame = conn.send_event(p.TopologyChangeEvent("NEW_NODE", "127.0.0.2", 9042))
    assert frame[2:4] == b"\xff\xff"
    msg = driver_decode(frame)
    assert msg.event_type == "TOPOLOGY_CHANGE"
    assert msg.event_args == {"change_type": "NEW_NODE", "address": ("127.0.0.2", 9042)}
    msg = driver_decode(conn.send_event(p.StatusChangeEvent("DOWN", "::1", 9043)))
    assert msg.event_args == {"change_type": "DOWN", "address": ("::1", 9043)}
    change = p.ResultSchemaChange("UPDATED", "TABLE", "ks", "t")
    msg = driver_decode(conn.send_event(p.SchemaChangeEvent(change)))
    assert msg.event_type == "SCHEMA_CHANGE"
    assert msg.event_args["table"] == "t"


# ------------------------------------------------------------------ errors

QUORUM = ConsistencyLevel.QUORUM


def _error(conn: ServerConnection, e: errors.CqlError) -> Any:
    msg = driver_decode(conn.send_response(11, p.ErrorResponse(e)))
    assert isinstance(msg, dp.ErrorMessage)
    assert msg.code == e.code and msg.message == e.message and msg.stream_id == 11
    return msg


@pytest.mark.parametrize("cls", [
    errors.ServerError, errors.ProtocolError, errors.Overloaded, errors.IsBootstrapping,
    errors.SyntaxException, errors.Unauthorized, errors.InvalidRequest,
    errors.ConfigurationException,
])
def test_simple_errors(cls: type[errors.CqlError]) -> None:
    _error(started(), cls("boom"))


def test_errors_with_bodies() -> None:
    conn = started()
    exc = _error(conn, errors.Unavailable("u", QUORUM, 2, 1)).to_exception()
    assert (exc.consistency, exc.required_replicas, exc.alive_replicas) == (QUORUM, 2, 1)
    exc = _error(conn, errors.WriteTimeout("w", QUORUM, 1, 2, "BATCH_LOG")).to_exception()
    assert (exc.consistency, exc.received_responses, exc.required_responses) == (QUORUM, 1, 2)
    assert exc.write_type == WriteType.BATCH_LOG
    exc = _error(conn, errors.ReadTimeout("r", QUORUM, 1, 2, True)).to_exception()
    assert (exc.received_responses, exc.required_responses, exc.data_retrieved) == (1, 2, True)
    exc = _error(conn, errors.ReadFailure("rf", QUORUM, 1, 3, 2, False)).to_exception()
    assert (exc.received_responses, exc.required_responses, exc.failures) == (1, 3, 2)
    assert exc.data_retrieved is False
    exc = _error(conn, errors.WriteFailure("wf", QUORUM, 0, 2, 1, "CAS")).to_exception()
    assert (exc.failures, exc.write_type) == (1, WriteType.CAS)
    exc = _error(conn, errors.AlreadyExists("a", "ks", "t")).to_exception()
    assert (exc.keyspace, exc.table) == ("ks", "t")
    msg = _error(conn, errors.Unprepared("gone", b"\x09" * 16))
    assert msg.info == b"\x09" * 16


def test_warnings_payload_and_tracing_together() -> None:
    conn = started()
    trace = uuid.UUID("11111111-2222-1333-8444-555555555555")
    frame = conn.send_response(3, p.ResultVoid(), tracing_id=trace,
                               warnings=("Batch too large", "w2"),
                               custom_payload={"a": b"1", "n": None})
    msg = driver_decode(frame)
    assert msg.trace_id == trace
    assert msg.warnings == ["Batch too large", "w2"]
    assert msg.custom_payload == {"a": b"1", "n": None}
    assert msg.kind == 1


# ------------------------------------------------------------------ compression


def test_lz4_round_trip() -> None:
    conn = started("lz4")
    assert conn.compressing
    msg = dp.QueryMessage("SELECT * FROM big " + "x" * 500, ConsistencyLevel.ONE)
    msg.query_params = [b"v" * 1000]
    frame = driver_frame(msg, stream=6, compressor=LZ4_COMPRESS)
    assert frame[1] & 0x01
    ev = one_request(conn, frame)
    assert isinstance(ev.request, p.Query) and ev.request.params.values == (b"v" * 1000,)
    t = parse_type("text")
    rows = [[t.serialize("row" * 100)] for _ in range(50)]
    out = conn.send_response(6, p.ResultRows(p.RowsMetadata((p.ColumnSpec("k", "t", "c", t),)),
                                             rows), warnings=("w",))
    assert out[1] & 0x01
    decoded = driver_decode(out, decompressor=LZ4_DECOMPRESS)
    assert len(decoded.parsed_rows) == 50 and decoded.warnings == ["w"]
    # uncompressed frames stay acceptable after negotiation
    one_request(conn, driver_frame(dp.OptionsMessage()))
    event = conn.send_event(p.StatusChangeEvent("UP", "10.0.0.1", 9042))
    assert driver_decode(event, decompressor=LZ4_DECOMPRESS).event_args["change_type"] == "UP"


def test_lz4_codec_matches_driver() -> None:
    for body in (b"", b"a", bytes(range(256)) * 40):
        assert p.lz4_decompress(LZ4_COMPRESS(body)) == body
        assert LZ4_DECOMPRESS(p.lz4_compress(body)) == body


def test_compressed_frame_before_negotiation() -> None:
    conn = started()
    frame = driver_frame(dp.OptionsMessage(), compressor=None)
    body = p.lz4_compress(b"xx")
    bad = bytes([4, 0x01]) + frame[2:5] + struct.pack(">i", len(body)) + body
    v = one_violation(conn, bad)
    assert not v.close and "compression was not negotiated" in v.message


def test_corrupt_lz4_body() -> None:
    conn = started("lz4")
    body = struct.pack(">i", 100) + b"\xff\xff\xff"
    v = one_violation(conn, struct.pack(">BBhBi", 4, 1, 2, p.OP_OPTIONS, len(body)) + body)
    assert v.stream == 2 and not v.close
    assert isinstance(driver_decode(v.error, decompressor=LZ4_DECOMPRESS), dp.ProtocolException)


def test_unknown_compression_refused() -> None:
    conn = ServerConnection()
    v = one_violation(conn, driver_frame(dp.StartupMessage("3.0.0", {"COMPRESSION": "snappy"})))
    assert v.message == "Unknown compression algorithm: snappy"


# ------------------------------------------------------------------ violations


@pytest.mark.parametrize("version", [0x42, 0x41, 6])
def test_version_negotiation(version: int) -> None:
    conn = ServerConnection()
    frame = driver_frame(dp.OptionsMessage(), stream=17)
    frame = bytes([version]) + frame[1:]
    v = one_violation(conn, frame)
    assert v.close and v.stream == 17
    assert v.error[0] == 0x85  # our highest, as Cassandra's ProtocolVersion.decode
    msg = driver_decode(v.error, version=5)
    assert isinstance(msg, dp.ProtocolException)
    assert msg.stream_id == 17
    assert msg.message == (
        f"Invalid or unsupported protocol version ({version}); "
        "supported versions are (3/v3, 4/v4, 5/v5)"
    )
    assert "unsupported protocol version" in msg.message
    assert conn.closed and conn.receive_data(frame) == []


def test_version_negotiation_waits_for_stream_bytes() -> None:
    conn = ServerConnection()
    assert conn.receive_data(b"\x06\x00") == []
    v = one_violation(conn, b"\x00\x2a")
    assert v.stream == 42 and v.close


def test_v2_header_stream_is_one_byte() -> None:
    v = one_violation(ServerConnection(), b"\x02\x00\x07\x05\x00\x00\x00\x00")
    assert v.stream == 7 and v.close
    # answered in v2's own 8-byte framing, as Cassandra answers an old version
    version, flags, stream, opcode, length = struct.unpack(">BBbBi", v.error[:8])
    assert (version, stream, opcode, length) == (0x82, 7, 0, len(v.error) - 8)
    msg = dp._ProtocolHandler.decode_message(2, {}, stream, flags, opcode, v.error[8:], None, None)
    assert isinstance(msg, dp.ProtocolException) and "unsupported protocol version" in msg.message


def test_oversize_frame() -> None:
    conn = started()
    header = struct.pack(">BBhBi", 4, 0, 8, p.OP_QUERY, limits.cql_frame_body_bytes_max + 1)
    v = one_violation(conn, header)
    assert v.close and v.stream == 8 and "Request is too big" in v.message
    assert isinstance(driver_decode(v.error), dp.ProtocolException)
    assert conn.closed


def test_negative_length_frame() -> None:
    v = one_violation(started(), struct.pack(">BBhBi", 4, 0, 1, p.OP_QUERY, -5))
    assert v.close


def test_max_size_frame_is_buffered_not_refused() -> None:
    conn = started()
    header = struct.pack(">BBhBi", 4, 0, 8, p.OP_QUERY, limits.cql_frame_body_bytes_max)
    assert conn.receive_data(header + b"\x00" * 1000) == []
    assert not conn.closed


def test_unknown_opcode_keeps_connection() -> None:
    conn = started()
    v = one_violation(conn, struct.pack(">BBhBi", 4, 0, 12, 0x42, 3) + b"abc")
    assert v.stream == 12 and not v.close and v.message == "Unknown opcode 66"
    assert isinstance(driver_decode(v.error), dp.ProtocolException)
    v = one_violation(conn, struct.pack(">BBhBi", 4, 0, 13, 0x08, 0))
    assert v.message == "Unexpected message RESULT"
    one_request(conn, driver_frame(dp.OptionsMessage(), stream=14))


def test_malformed_bodies() -> None:
    conn = started()
    good = driver_frame(dp.QueryMessage("SELECT 1", ConsistencyLevel.ONE), stream=2)
    body = good[9:-3]
    v = one_violation(conn, good[:5] + struct.pack(">i", len(body)) + body)
    assert v.stream == 2 and not v.close and "Not enough bytes" in v.message
    bad_cl = struct.pack(">i", 1) + b"q" + struct.pack(">HB", 99, 0)
    v = one_violation(conn, struct.pack(">BBhBi", 4, 0, 3, p.OP_QUERY, len(bad_cl)) + bad_cl)
    assert "consistency" in v.message
    bad_len = struct.pack(">i", 1) + b"q" + struct.pack(">HBH", 1, 1, 1) + struct.pack(">i", -3)
    v = one_violation(conn, struct.pack(">BBhBi", 4, 0, 4, p.OP_QUERY, len(bad_len)) + bad_len)
    assert "Invalid value length -3" in v.message
    utf = struct.pack(">i", 2) + b"\xff\xfe" + struct.pack(">HB", 1, 0)
    v = one_violation(conn, struct.pack(">BBhBi", 4, 0, 4, p.OP_QUERY, len(utf)) + utf)
    assert "UTF-8" in v.message


def test_state_rules() -> None:
    conn = ServerConnection()
    v = one_violation(conn, driver_frame(dp.QueryMessage("q", ConsistencyLevel.ONE), stream=4))
    assert v.message == "Unexpected message QUERY, expecting STARTUP or OPTIONS"
    assert not v.close and conn.state is State.UNINITIALIZED
    ev = one_request(conn, driver_frame(dp.StartupMessage("3.0.0", {})))
    conn.send_response(ev.stream, p.Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"))
    assert conn.state.value == "AUTHENTICATING"
    v = one_violation(conn, driver_frame(dp.QueryMessage("q", ConsistencyLevel.ONE)))
    assert "expecting SASL_RESPONSE" in v.message
    ev = one_request(conn, driver_frame(dp.AuthResponseMessage(b"\x00u\x00p")))
    assert ev.request == p.AuthResponse(b"\x00u\x00p")
    conn.send_response(ev.stream, p.AuthSuccess())
    assert conn.state.value == "READY"
    v = one_violation(conn, driver_frame(dp.StartupMessage("3.0.0", {})))
    assert v.message == "Unexpected message STARTUP, the connection is already initialized"


def test_startup_error_keeps_uninitialized() -> None:
    conn = ServerConnection()
    ev = one_request(conn, driver_frame(dp.StartupMessage("9.9.9", {"COMPRESSION": "lz4"})))
    conn.send_response(ev.stream, p.ErrorResponse(errors.ProtocolError("bad CQL_VERSION")))
    assert conn.state is State.UNINITIALIZED and not conn.compressing


def test_register_unknown_event() -> None:
    v = one_violation(started(), driver_frame(dp.RegisterMessage(["NOPE"])))
    assert "NOPE" in v.message


def test_response_direction_from_client() -> None:
    v = one_violation(ServerConnection(), b"\x84\x00\x00\x05\x05\x00\x00\x00\x00")
    assert v.close and v.stream == 5


def test_garbage_bytes() -> None:
    conn = ServerConnection()
    v = one_violation(conn, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert v.close and conn.closed
    assert b"unsupported protocol version" in v.error


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_fuzzed_bytes_never_raise(data: bytes) -> None:
    conn = started()
    for chunk in (data[:7], data[7:]):
        for ev in conn.receive_data(chunk):
            if isinstance(ev, ProtocolViolation):
                assert ev.error[0] == 0x84


@settings(max_examples=300)
@given(st.sampled_from(sorted(p.OPCODE_NAMES)), st.binary(max_size=120),
       st.sampled_from([0, p.FLAG_CUSTOM_PAYLOAD, p.FLAG_TRACING]))
def test_fuzzed_bodies_never_raise(opcode: int, body: bytes, flags: int) -> None:
    conn = started()
    frame = struct.pack(">BBhBi", 4, flags, 1, opcode, len(body)) + body
    events = conn.receive_data(frame)
    assert len(events) == 1 and events[0].stream == 1
