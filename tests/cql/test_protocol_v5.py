"""Protocol v5 (segments, v5 bodies) and v3 in the codec and ServerConnection, with the Python
driver as the peer: its encoder and segment codec build requests, its segment codec and
decoder read responses."""

from __future__ import annotations

import io
import os
import struct
import uuid
from typing import Any

import pytest
from cassandra import ConsistencyLevel, WriteType
from cassandra import protocol as dp
from cassandra.connection import locally_supported_compressions
from cassandra.query import UNSET_VALUE, BatchType
from cassandra.segment import CrcException, SegmentCodec, compute_crc24
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import errors
from skewless.cql import protocol as p
from skewless.cql import segments
from skewless.cql.connection import ProtocolViolation, RequestReceived, ServerConnection
from skewless.cql.protocol_responses import ROWS_NO_METADATA
from skewless.cql.protocol_versions import result_metadata_id, type_option
from skewless.cql.types import parse_type
from skewless.cql.types_collections import UdtType

QUORUM = ConsistencyLevel.QUORUM
LZ4 = locally_supported_compressions["lz4"]
PLAIN = SegmentCodec()
LZ4_CODEC = SegmentCodec(*LZ4)


class Peer:
    """A driver-side view of one connection: frames through the driver's encoder, segments
    through its SegmentCodec once the handshake is over (as cassandra/connection.py does)."""

    def __init__(self, version: int = 5, compression: str | None = None) -> None:
        self.version = version
        self.conn = ServerConnection()
        self.codec: SegmentCodec | None = None
        options = {"COMPRESSION": compression} if compression else {}
        ev = self.request(dp.StartupMessage("3.0.0", options), stream=0)
        assert isinstance(ev.request, p.Startup)
        ready = self.conn.send_response(0, p.Ready())
        assert ready == bytes([0x80 | version]) + b"\x00\x00\x00\x02\x00\x00\x00\x00"
        if version >= 5:
            self.codec = LZ4_CODEC if compression else PLAIN

    def wire(self, msg: Any, stream: int = 1) -> bytes:
        frame: bytes = dp._ProtocolHandler.encode_message(msg, stream, self.version, None,
                                                            False)
        if self.codec is None:
            return frame
        buf = io.BytesIO()
        self.codec.encode(buf, frame)
        return buf.getvalue()

    def request(self, msg: Any, stream: int = 1) -> RequestReceived:
        events = self.conn.receive_data(self.wire(msg, stream))
        assert len(events) == 1 and isinstance(events[0], RequestReceived), events
        return events[0]

    def unwrap(self, data: bytes) -> bytes:
        if self.codec is None:
            return data
        buf, out = io.BytesIO(data), b""
        while buf.tell() < len(data):
            header = self.codec.decode_header(buf)
            out += self.codec.decode(buf, header).payload
        return out

    def decode(self, data: bytes, result_metadata: Any = None) -> Any:
        frame = self.unwrap(data)
        version, flags, stream, opcode, length = struct.unpack(">BBhBi", frame[:9])
        assert version == 0x80 | self.version and length == len(frame) - 9
        return dp._ProtocolHandler.decode_message(self.version, {}, stream, flags, opcode,
                                                  frame[9:], None, result_metadata)

    def respond(self, response: p.Response, stream: int = 1, **kw: Any) -> Any:
        return self.decode(self.conn.send_response(stream, response, **kw))


# ------------------------------------------------------------------ the segment codec


@pytest.mark.parametrize("size", [0, 1, 1000, segments.PAYLOAD_BYTES_MAX,
                                  segments.PAYLOAD_BYTES_MAX + 1, 400_000])
@pytest.mark.parametrize("compress", [False, True])
def test_segments_match_the_driver_codec(size: int, compress: bool) -> None:
    codec = LZ4_CODEC if compress else PLAIN
    for data in (os.urandom(size), (b"segment " * (size // 8 + 1))[:size]):
        ours = segments.encode_segments(data, compress=compress)
        theirs = io.BytesIO()
        codec.encode(theirs, data)
        assert ours == theirs.getvalue()
        decoded = segments.SegmentDecoder(compressed=compress).feed(ours)
        assert b"".join(payload for payload, _ in decoded) == data
        assert all(sc == (size <= segments.PAYLOAD_BYTES_MAX) for _, sc in decoded)


@settings(max_examples=500)
@given(st.integers(min_value=0, max_value=2**40 - 1))
def test_crc24_matches_the_driver(value: int) -> None:
    assert segments.crc24(value & 0xFFFFFF, 3) == compute_crc24(value & 0xFFFFFF, 3)
    assert segments.crc24(value, 5) == compute_crc24(value, 5)


def test_segment_decoder_is_incremental() -> None:
    data = segments.encode_segments(b"a" * 200_000, compress=False)
    decoder = segments.SegmentDecoder(compressed=False)
    out = []
    for i in range(0, len(data), 1001):
        out += decoder.feed(data[i : i + 1001])
    assert b"".join(payload for payload, _ in out) == b"a" * 200_000 and len(out) == 2


@pytest.mark.parametrize("where", [1, 7, -2])  # header, payload, payload CRC
def test_corrupt_segment_is_refused(where: int) -> None:
    data = bytearray(segments.encode_segments(b"hello segments", compress=False))
    data[where] ^= 0x01
    with pytest.raises(errors.RemoteProtocolError, match="Checksum mismatch"):
        segments.SegmentDecoder(compressed=False).feed(bytes(data))
    with pytest.raises(CrcException):  # the driver agrees it is corrupt
        buf = io.BytesIO(bytes(data))
        PLAIN.decode(buf, PLAIN.decode_header(buf))


# ------------------------------------------------------------------ the v5 connection


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_v5_handshake_then_segments(compression: str | None) -> None:
    peer = Peer(5, compression)
    assert peer.conn.version == 5 and peer.conn.segmented
    ev = peer.request(dp.QueryMessage("SELECT 1", QUORUM), stream=3)
    assert ev.request == p.Query("SELECT 1", p.QueryParams(QUORUM))
    t = parse_type("text")
    meta = p.RowsMetadata((p.ColumnSpec("ks", "t", "v", t),))
    msg = peer.respond(p.ResultRows(meta, [[t.serialize("x" * 1000)]] * 300), stream=3)
    assert [r[0] for r in msg.parsed_rows] == ["x" * 1000] * 300
    event = p.SchemaChangeEvent(p.ResultSchemaChange("CREATED", "KEYSPACE", "ks"))
    pushed = peer.decode(peer.conn.send_event(event))
    assert pushed.stream_id == -1 and pushed.event_args["keyspace"] == "ks"


def test_v5_options_and_startup_are_unframed() -> None:
    conn = ServerConnection()
    frame = dp._ProtocolHandler.encode_message(dp.OptionsMessage(), 0, 5, None, False)
    assert isinstance(conn.receive_data(frame)[0].request, p.Options)  # type: ignore[union-attr]
    supported = conn.send_response(0, p.Supported({"PROTOCOL_VERSIONS": ["5/v5"]}))
    assert supported[0] == 0x85 and not conn.segmented


def test_v5_envelope_over_several_segments_and_several_in_one() -> None:
    peer = Peer(5)
    big = "x" * 300_000
    msg = dp.QueryMessage(f"SELECT '{big}'", QUORUM)
    ev = peer.request(msg, stream=2)
    assert isinstance(ev.request, p.Query) and len(ev.request.query) == len(big) + 9
    two = b"".join(dp._ProtocolHandler.encode_message(dp.QueryMessage(q, QUORUM), s, 5, None,
                                                      False)
                   for s, q in ((4, "SELECT 4"), (5, "SELECT 5")))
    events = peer.conn.receive_data(segments.encode_segments(two, compress=False))
    assert [e.stream for e in events] == [4, 5]  # type: ignore[union-attr]
    t = parse_type("text")
    meta = p.RowsMetadata((p.ColumnSpec("ks", "t", "v", t),))
    out = peer.conn.send_response(2, p.ResultRows(meta, [[t.serialize(big)]]))
    assert len(out) > 2 * segments.PAYLOAD_BYTES_MAX
    assert peer.decode(out).parsed_rows[0][0] == big


def test_v5_corrupt_segment_closes() -> None:
    peer = Peer(5)
    data = bytearray(peer.wire(dp.QueryMessage("SELECT 1", QUORUM)))
    data[-1] ^= 0xFF
    events = peer.conn.receive_data(bytes(data))
    assert len(events) == 1 and isinstance(events[0], ProtocolViolation)
    assert events[0].close and "Checksum mismatch" in events[0].message
    assert peer.conn.closed


def test_v5_request_bodies() -> None:
    peer = Peer(5)
    msg = dp.QueryMessage("SELECT * FROM t", QUORUM, fetch_size=10, timestamp=7,
                          keyspace="other")
    msg.query_params = [b"\x00", UNSET_VALUE]
    assert peer.request(msg).request == p.Query("SELECT * FROM t", p.QueryParams(
        QUORUM, (b"\x00", p.UNSET), page_size=10, timestamp=7, keyspace="other"))
    assert peer.request(dp.PrepareMessage("SELECT 1", keyspace="ks")).request == \
        p.Prepare("SELECT 1", "ks")
    assert peer.request(dp.PrepareMessage("SELECT 1")).request == p.Prepare("SELECT 1")
    execute = dp.ExecuteMessage(b"\x01" * 16, [b"\x02"], QUORUM,
                                result_metadata_id=b"\x03" * 16)
    assert peer.request(execute).request == p.Execute(
        b"\x01" * 16, p.QueryParams(QUORUM, (b"\x02",)), b"\x03" * 16)
    batch = dp.BatchMessage(BatchType.LOGGED, [(False, "INSERT", [])], QUORUM, timestamp=9,
                            keyspace="bks")
    assert peer.request(batch).request == p.Batch(0, (p.BatchEntry(0, "INSERT", ()),), QUORUM,
                                                  None, 9, "bks")


def test_v5_now_in_seconds_is_read() -> None:
    body = (struct.pack(">i", 8) + b"SELECT 1" + struct.pack(">Hi", 4, 0x100 | 0x80)
            + struct.pack(">H", 2) + b"ks" + struct.pack(">i", 1_700_000_000))
    request, _ = p.decode_request(p.OP_QUERY, 0, body, 5)
    assert request == p.Query("SELECT 1", p.QueryParams(4, keyspace="ks",
                                                        now_in_seconds=1_700_000_000))


def test_v5_prepared_carries_the_result_metadata_id() -> None:
    peer = Peer(5)
    i, s = parse_type("int"), parse_type("text")
    result = (p.ColumnSpec("ks", "t", "k", i), p.ColumnSpec("ks", "t", "v", s))
    msg = peer.respond(p.ResultPrepared(b"\x01" * 16, (p.ColumnSpec("ks", "t", "k", i),), (0,),
                                        p.RowsMetadata(result)))
    assert msg.query_id == b"\x01" * 16 and msg.pk_indexes == [0]
    assert msg.result_metadata_id == result_metadata_id(result)
    assert len(msg.result_metadata_id) == 16 and [c[2] for c in msg.column_metadata] == ["k", "v"]
    wider = result + (p.ColumnSpec("ks", "t", "w", i),)
    assert result_metadata_id(wider) != result_metadata_id(result)
    retyped = (result[0], p.ColumnSpec("ks", "t", "v", i))
    assert result_metadata_id(retyped) != result_metadata_id(result)


def _execute(peer: Peer, stream: int, metadata_id: bytes, skip: bool) -> None:
    """A v5 EXECUTE by hand: the Python driver never sets the skip-metadata flag (0x02)."""
    body = (struct.pack(">H", 16) + b"\x01" * 16 + struct.pack(">H", len(metadata_id))
            + metadata_id + struct.pack(">Hi", QUORUM, p.QF_SKIP_METADATA if skip else 0))
    frame = struct.pack(">BBhBi", 5, 0, stream, p.OP_EXECUTE, len(body)) + body
    events = peer.conn.receive_data(segments.encode_segments(frame, compress=False))
    assert isinstance(events[0], RequestReceived)
    assert events[0].request == p.Execute(b"\x01" * 16, p.QueryParams(QUORUM, (), None, skip),
                                          metadata_id)


def test_v5_execute_rows_follow_the_metadata_id() -> None:
    peer = Peer(5)
    i = parse_type("int")
    cols = (p.ColumnSpec("ks", "t", "k", i),)
    rows = p.ResultRows(p.RowsMetadata(cols), [[i.serialize(1)]])
    current = result_metadata_id(cols)
    prepared_md = [("ks", "t", "k", dp.ResultMessage.read_type(io.BytesIO(i.option_bytes()),
                                                                  {}))]
    _execute(peer, 5, current, skip=True)  # same id, skip asked: no metadata sent
    data = peer.conn.send_response(5, rows)
    flags = struct.unpack_from(">i", peer.unwrap(data), 9 + 4)[0]  # header, result kind
    assert flags == ROWS_NO_METADATA
    assert peer.decode(data, prepared_md).parsed_rows == [(1,)]
    _execute(peer, 6, b"\x00" * 16, skip=True)  # stale id: METADATA_CHANGED, new id, columns
    msg = peer.respond(rows, stream=6)
    assert msg.result_metadata_id == current and [c[2] for c in msg.column_metadata] == ["k"]
    assert msg.parsed_rows == [(1,)]
    _execute(peer, 7, current, skip=False)  # same id, no skip: plain metadata
    msg = peer.respond(rows, stream=7)
    assert getattr(msg, "result_metadata_id", None) is None and msg.parsed_rows == [(1,)]
    # the remembered EXECUTE is answered once: a later response on the stream is untouched
    msg = peer.respond(rows, stream=6)
    assert getattr(msg, "result_metadata_id", None) is None


def test_v5_failures_carry_the_reason_map() -> None:
    peer = Peer(5)
    reasons = {"127.0.0.2": 0x0001, "::1": 0x0000}
    err = errors.ReadFailure("rf", QUORUM, 1, 3, 2, False, reasons=reasons)
    exc = peer.respond(p.ErrorResponse(err)).to_exception()
    assert exc.failures == 2 and exc.error_code_map == reasons and exc.data_retrieved is False
    err2 = errors.WriteFailure("wf", QUORUM, 0, 2, 1, "CAS", reasons={"127.0.0.3": 3})
    exc = peer.respond(p.ErrorResponse(err2)).to_exception()
    assert exc.error_code_map == {"127.0.0.3": 3} and exc.write_type == WriteType.CAS


# ------------------------------------------------------------------ types by version


V3_CLASSES = {"date": "SimpleDateType", "time": "TimeType", "smallint": "ShortType",
              "tinyint": "ByteType"}


@pytest.mark.parametrize(("version", "text", "expected"), [
    (5, "duration", b"\x00\x15"),
    (4, "duration", b"\x00\x00\x00\x2corg.apache.cassandra.db.marshal.DurationType"),
    (3, "duration", b"\x00\x00\x00\x2corg.apache.cassandra.db.marshal.DurationType"),
    (4, "date", b"\x00\x11"), (5, "tinyint", b"\x00\x14"),
    (3, "date", None), (3, "time", None), (3, "smallint", None), (3, "tinyint", None),
    (3, "int", b"\x00\x09"),
])
def test_type_options_by_version(version: int, text: str, expected: bytes | None) -> None:
    data = type_option(parse_type(text), version)
    if expected is None:  # Cassandra's DataType.fromType: a v4 type is custom to v3
        expected = b"\x00\x00" + struct.pack(
            ">H", len(f"org.apache.cassandra.db.marshal.{V3_CLASSES[text]}")) + \
            f"org.apache.cassandra.db.marshal.{V3_CLASSES[text]}".encode()
    assert data == expected
    decoded = dp.ResultMessage.read_type(io.BytesIO(data), {})  # the driver reads it
    assert decoded.typename in (text, "custom") or decoded.__name__ == V3_CLASSES.get(text)


def test_nested_type_options_rewritten() -> None:
    t = parse_type("map<smallint, frozen<list<tuple<date, duration>>>>")
    v3 = type_option(t, 3)
    assert b"ShortType" in v3 and b"SimpleDateType" in v3 and b"DurationType" in v3
    assert b"\x00\x15" not in v3
    v5 = type_option(t, 5)
    assert b"marshal" not in v5 and v5.endswith(b"\x00\x11\x00\x15")
    for data in (v3, v5):
        decoded = dp.ResultMessage.read_type(io.BytesIO(data), {})
        assert decoded.typename == "map"
    assert type_option(t, 4) == t.option_bytes()


def test_udt_option_rewritten_for_v3() -> None:
    udt = UdtType("ks", "addr", (("when", parse_type("date")), ("n", parse_type("int"))))
    data = type_option(udt, 3)
    decoded = dp.ResultMessage.read_type(io.BytesIO(data), {})
    assert list(decoded.fieldnames) == ["when", "n"]
    assert b"SimpleDateType" in data and type_option(udt, 4) == udt.option_bytes()


# ------------------------------------------------------------------ v3


def test_v3_drops_warnings_and_payload_and_pk_indexes() -> None:
    peer = Peer(3)
    trace = uuid.uuid4()
    frame = peer.conn.send_response(1, p.ResultVoid(), tracing_id=trace, warnings=["w"],
                                    custom_payload={"k": b"v"})
    assert frame[1] == p.FLAG_TRACING
    msg = peer.decode(frame)
    assert msg.trace_id == trace and msg.warnings is None and msg.custom_payload is None
    i = parse_type("int")
    msg = peer.respond(p.ResultPrepared(b"id", (p.ColumnSpec("ks", "t", "k", i),), (0,),
                                        p.RowsMetadata(())))
    assert msg.query_id == b"id" and msg.pk_indexes is None
    assert [c[2] for c in msg.bind_metadata] == ["k"]


def test_v3_failures_are_timeouts_and_unset_is_null() -> None:
    peer = Peer(3)
    exc = peer.respond(p.ErrorResponse(errors.ReadFailure("rf", QUORUM, 1, 3, 2, True)))
    assert isinstance(exc, dp.ReadTimeoutErrorMessage)
    assert exc.info["received_responses"] == 1 and exc.info["data_retrieved"] is True
    exc = peer.respond(p.ErrorResponse(errors.WriteFailure("wf", QUORUM, 1, 2, 1, "SIMPLE")))
    assert isinstance(exc, dp.WriteTimeoutErrorMessage)
    msg = dp.ExecuteMessage(b"id", [b"\x01", UNSET_VALUE], QUORUM)  # length -2
    events = peer.conn.receive_data(dp._ProtocolHandler.encode_message(msg, 1, 3, None, False))
    assert events[0].request.params.values == (b"\x01", None)  # type: ignore[union-attr]


def test_versions_do_not_mix_on_a_connection() -> None:
    peer = Peer(4)
    frame = dp._ProtocolHandler.encode_message(dp.QueryMessage("SELECT 1", QUORUM), 9, 3,
                                               None, False)
    events = peer.conn.receive_data(frame)
    assert len(events) == 1 and isinstance(events[0], ProtocolViolation)
    assert events[0].close and events[0].stream == 9
    assert events[0].message == ("Invalid message version. Got 3/v3 but previous messages on "
                                 "this connection had version 4/v4")
    peer = Peer(5)
    frame = dp._ProtocolHandler.encode_message(dp.OptionsMessage(), 11, 4, None, False)
    frame = b"\x42" + frame[1:]  # an unknown version in the middle of a v5 connection
    events = peer.conn.receive_data(segments.encode_segments(frame, compress=False))
    assert isinstance(events[0], ProtocolViolation) and events[0].stream == 11
    assert events[0].message.startswith("Invalid or unsupported protocol version (66)")
    answer = peer.decode(events[0].error)  # in v5 framing, as the connection speaks
    assert isinstance(answer, dp.ProtocolException) and answer.stream_id == 11


def test_response_frames_of_any_version_are_refused() -> None:
    for version in (3, 5):
        frame = struct.pack(">BBhBi", 0x80 | version, 0, 4, p.OP_QUERY, 0)
        events = ServerConnection().receive_data(frame)
        assert isinstance(events[0], ProtocolViolation) and events[0].close
        assert events[0].message == "Invalid message direction: a response frame was sent"


# ------------------------------------------------------------------ robustness


@settings(max_examples=300)
@given(st.binary(max_size=300), st.booleans())
def test_fuzzed_segments_never_raise(data: bytes, lz4: bool) -> None:
    peer = Peer(5, "lz4" if lz4 else None)
    for event in peer.conn.receive_data(data):
        assert isinstance(event, (RequestReceived, ProtocolViolation))


@settings(max_examples=200)
@given(st.binary(max_size=200), st.sampled_from([3, 5]))
def test_fuzzed_bodies_in_valid_segments_never_raise(body: bytes, version: int) -> None:
    peer = Peer(version)
    frame = struct.pack(">BBhBi", version, 0, 1, p.OP_QUERY, len(body)) + body
    data = segments.encode_segments(frame, compress=False) if version >= 5 else frame
    for event in peer.conn.receive_data(data):
        assert isinstance(event, (RequestReceived, ProtocolViolation))
