"""The server side of one CQL native-protocol connection (v3, v4, v5), h11 style: no I/O.

Theory of operation
-------------------
The runtime feeds received bytes to ``receive_data`` and gets back events: ``RequestReceived``
for each complete, valid request frame, and ``ProtocolViolation`` for anything the peer got
wrong, carrying the ERROR frame to send back and whether the connection must then be closed.
The runtime answers each request by calling ``send_response`` (or pushes ``send_event`` on
stream -1) and writes the returned bytes. A peer's bytes never make ``receive_data`` raise.

State lives in one table, as in h11's ``_state.py``:

* ``UNINITIALIZED``: only OPTIONS and STARTUP are accepted (Cassandra's rule). STARTUP's
  COMPRESSION option is checked here; ``lz4`` is remembered, anything else is refused.
* Answering STARTUP with READY moves to ``READY``; answering it with AUTHENTICATE moves to
  ``AUTHENTICATING``, where only AUTH_RESPONSE (and OPTIONS) are accepted until AUTH_SUCCESS
  moves to ``READY``. Transitions are driven by *what we send*, so the runtime decides.
* Compression starts with the first frame after READY / AUTH_SUCCESS, in both directions, as
  the drivers do; before that a compressed frame is a violation.
* The first frame's version (3, 4 or 5) is the connection's; a later frame with another
  version breaks framing. Any other version is answered as Cassandra does (the drivers step
  down on it, see ``protocol.version_error_frame``).
* v5: the handshake (OPTIONS, STARTUP, READY / AUTHENTICATE) is unframed; right after sending
  READY or AUTHENTICATE, both directions switch to segments (``segments``): received bytes go
  through a ``SegmentDecoder`` and the payloads, concatenated, are parsed as envelopes as
  before; every frame sent is wrapped in segments (LZ4-compressed segments when STARTUP asked
  for lz4; v5 never compresses envelopes). A corrupt segment breaks framing.
* v5 result metadata ids: an EXECUTE names the result metadata id its client holds; its Rows
  answer (sent later on the same stream) says METADATA_CHANGED with the new id and full
  metadata when the columns' id differs, and leaves the metadata out when the client asked
  to skip it and the ids agree (Cassandra's ExecuteMessage).
* ``CLOSED`` after a violation that broke framing (bad version, oversize or negative length):
  the rest of the input is discarded, since frame boundaries are lost. Violations inside an
  intact frame (unknown opcode, malformed body, wrong state) keep the connection open; the
  drivers close on a protocol error anyway.

Bounds: the buffer holds at most one incomplete frame (header + ``cql_frame_body_bytes_max``);
a declared length above the maximum is refused before its body is read.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from skewless import errors, limits
from skewless.cql import protocol as p
from skewless.cql.protocol_versions import result_metadata_id
from skewless.cql.segments import SegmentDecoder, encode_segments

REQUEST_OPCODES = frozenset({
    p.OP_STARTUP, p.OP_OPTIONS, p.OP_QUERY, p.OP_PREPARE, p.OP_EXECUTE, p.OP_REGISTER,
    p.OP_BATCH, p.OP_AUTH_RESPONSE,
})
COMPRESSIONS = ("lz4",)  # advertise exactly these in SUPPORTED


class State(enum.Enum):
    UNINITIALIZED = "UNINITIALIZED"
    AUTHENTICATING = "AUTHENTICATING"
    READY = "READY"
    CLOSED = "CLOSED"


# Requests accepted in each state; anything else is answered by the message given.
ACCEPTED: dict[State, tuple[frozenset[int], str]] = {
    State.UNINITIALIZED: (
        frozenset({p.OP_STARTUP, p.OP_OPTIONS}),
        "Unexpected message {name}, expecting STARTUP or OPTIONS",
    ),
    State.AUTHENTICATING: (
        frozenset({p.OP_AUTH_RESPONSE, p.OP_OPTIONS}),
        "Unexpected message {name}, expecting SASL_RESPONSE",
    ),
    State.READY: (
        REQUEST_OPCODES - {p.OP_STARTUP, p.OP_AUTH_RESPONSE},
        "Unexpected message {name}, the connection is already initialized",
    ),
}

# What sending a response does to the state: (state, response type) -> new state.
SEND_TRANSITIONS: dict[tuple[State, type], State] = {
    (State.UNINITIALIZED, p.Ready): State.READY,
    (State.UNINITIALIZED, p.Authenticate): State.AUTHENTICATING,
    (State.AUTHENTICATING, p.AuthSuccess): State.READY,
}


@dataclass(frozen=True, slots=True)
class RequestReceived:
    stream: int
    flags: int
    opcode: int
    request: p.Request
    tracing: bool
    custom_payload: dict[str, bytes | None] | None


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """Send ``error`` (a complete ERROR frame on ``stream``), then close if ``close``."""

    stream: int
    error: bytes
    close: bool
    message: str


ConnectionEvent = RequestReceived | ProtocolViolation


class _Violation(Exception):
    def __init__(self, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.close = close


class ServerConnection:
    """One client connection's protocol state. Not thread-safe; one owner feeds and sends."""

    def __init__(self) -> None:
        self._buffer = bytearray()  # frame (envelope) bytes not yet parsed
        self._state = State.UNINITIALIZED
        self._version: int | None = None  # set by the first frame
        self._compression_requested: str | None = None
        self._compressing = False
        self._registered: frozenset[str] = frozenset()
        self._segments: SegmentDecoder | None = None  # v5, after the handshake
        self._unsegmented = b""  # bytes received before segments began, to decode as segments
        self._executes: dict[int, tuple[bytes | None, bool]] = {}  # v5: see send_response

    @property
    def version(self) -> int | None:
        """The protocol version of the connection, once its first valid frame arrived."""
        return self._version

    @property
    def segmented(self) -> bool:
        return self._segments is not None

    @property
    def state(self) -> State:
        return self._state

    @property
    def compressing(self) -> bool:
        return self._compressing

    @property
    def registered_events(self) -> frozenset[str]:
        """Event types the client asked for with REGISTER (pushed with ``send_event``)."""
        return self._registered

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED

    # ---------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> list[ConnectionEvent]:
        """Take received bytes; return the events of every frame they complete."""
        if self._state is State.CLOSED:
            return []
        events: list[ConnectionEvent] = []
        if self._segments is None:
            self._buffer += data
            self._parse_frames(events)
            return events
        data, self._unsegmented = self._unsegmented + data, b""
        failure: str | None = None
        try:
            payloads = self._segments.feed(data)
        except errors.RemoteProtocolError as e:
            payloads, failure = [], str(e)
        for payload, _ in payloads:
            self._buffer += payload
            self._parse_frames(events)
            if self.closed:
                return events
        if failure is not None:
            events.append(self._fatal(0, failure))
        return events

    def _parse_frames(self, events: list[ConnectionEvent]) -> None:
        while not self.closed:
            event = self._next_event()
            if event is None:
                break
            events.append(event)
        assert len(self._buffer) <= p.HEADER_SIZE + limits.cql_frame_body_bytes_max

    def _next_event(self) -> ConnectionEvent | None:
        buf = self._buffer
        if not buf:
            return None
        if buf[0] != self._version and (self._version is not None or buf[0] not in p.VERSIONS):
            return self._bad_version(bytes(buf[:4]))
        if len(buf) < p.HEADER_SIZE:
            return None
        header = p.decode_header(bytes(buf[: p.HEADER_SIZE]))
        self._version = header.version
        if not 0 <= header.length <= limits.cql_frame_body_bytes_max:
            return self._fatal(header.stream, (
                f"Request is too big: length {header.length} exceeds maximum allowed length "
                f"{limits.cql_frame_body_bytes_max}"
            ))
        end = p.HEADER_SIZE + header.length
        if len(buf) < end:
            return None
        body = bytes(buf[p.HEADER_SIZE : end])
        del buf[:end]
        try:
            return self._request(header, body)
        except _Violation as v:
            return self._violation(header.stream, v.message, close=v.close)

    def _bad_version(self, head: bytes) -> ProtocolViolation | None:
        if head[0] & p.RESPONSE_BIT and (head[0] & 0x7F) in p.VERSIONS:
            if len(head) < 4:
                return None
            stream = int.from_bytes(head[2:4], "big", signed=True)
            return self._fatal(stream, "Invalid message direction: a response frame was sent")
        if self._version is not None:  # framing is known: answer in it, on the frame's stream
            if len(head) < 4:
                return None
            stream = int.from_bytes(head[2:4], "big", signed=True)
            got, had = head[0], self._version
            return self._fatal(stream, (
                f"Invalid message version. Got {got}/v{got} but previous messages on this "
                f"connection had version {had}/v{had}") if got in p.VERSIONS
                else p.unsupported_version_message(got))
        answer = p.version_error_frame(head)
        if answer is None:
            return None
        stream, frame = answer
        self._close()
        return ProtocolViolation(stream, frame, True, "unsupported protocol version")

    def _request(self, header: p.FrameHeader, body: bytes) -> RequestReceived:
        opcode = header.opcode
        if opcode not in REQUEST_OPCODES:
            name = p.OPCODE_NAMES.get(opcode)
            raise _Violation(f"Unexpected message {name}" if name else f"Unknown opcode {opcode}")
        accepted, message = ACCEPTED[self._state]
        if opcode not in accepted:
            raise _Violation(message.format(name=p.OPCODE_NAMES[opcode]))
        body = self._decompress(header.flags, body)
        try:
            request, payload = p.decode_request(opcode, header.flags, body, header.version)
        except errors.RemoteProtocolError as e:
            raise _Violation(str(e)) from None
        self._note(request)
        if isinstance(request, p.Execute) and header.version >= 5:
            self._executes[header.stream] = (request.result_metadata_id,
                                             request.params.skip_metadata)
        tracing = bool(header.flags & p.FLAG_TRACING)
        return RequestReceived(header.stream, header.flags, opcode, request, tracing, payload)

    def _decompress(self, flags: int, body: bytes) -> bytes:
        if not flags & p.FLAG_COMPRESSED or self._version == 5:  # v5 ignores the flag
            return body
        if not self._compressing:
            raise _Violation("Received a compressed frame but compression was not negotiated")
        try:
            return p.lz4_decompress(body)
        except errors.RemoteProtocolError as e:
            raise _Violation(str(e)) from None

    def _note(self, request: p.Request) -> None:
        """Remember what later sends need: the requested compression, registered events."""
        if isinstance(request, p.Startup):
            compression = request.options.get("COMPRESSION")
            if compression is not None and compression.lower() not in COMPRESSIONS:
                raise _Violation(f"Unknown compression algorithm: {compression}")
            self._compression_requested = compression.lower() if compression else None
        elif isinstance(request, p.Register):
            known = {"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"}
            unknown = [e for e in request.events if e not in known]
            if unknown:
                raise _Violation(f"Invalid value '{unknown[0]}' for Type")
            self._registered |= frozenset(request.events)

    def _violation(self, stream: int, message: str, *, close: bool) -> ProtocolViolation:
        frame = self._wrap(p.error_frame(stream, errors.ProtocolError(message),
                                         compress=self._compress_envelopes,
                                         version=self._version or p.VERSION_REQUEST))
        if close:
            self._close()
        return ProtocolViolation(stream, frame, close, message)

    def _fatal(self, stream: int, message: str) -> ProtocolViolation:
        return self._violation(stream, message, close=True)

    def _close(self) -> None:
        self._state = State.CLOSED
        self._buffer.clear()
        self._segments = None
        self._executes.clear()

    @property
    def _compress_envelopes(self) -> bool:
        return self._compressing and self._version != 5

    def _wrap(self, frame: bytes) -> bytes:
        """``frame`` as sent on the wire: in segments once v5 framing began."""
        if self._segments is None:
            return frame
        return encode_segments(frame, compress=self._compressing)

    # ---------------------------------------------------------------- output

    def send_response(
        self,
        stream: int,
        response: p.Response,
        *,
        tracing_id: uuid.UUID | None = None,
        warnings: Sequence[str] = (),
        custom_payload: Mapping[str, bytes | None] | None = None,
    ) -> bytes:
        """The bytes answering the request on ``stream``; READY, AUTHENTICATE and AUTH_SUCCESS
        also move the handshake on (and READY / AUTH_SUCCESS switch compression on after; v5:
        READY / AUTHENTICATE switch segments on after, compressed if lz4 was asked for)."""
        response = self._result_metadata(stream, response)
        frame = self._wrap(p.encode_envelope(
            stream, response, tracing_id=tracing_id, warnings=warnings,
            custom_payload=custom_payload, compress=self._compress_envelopes,
            version=self._version or p.VERSION_REQUEST,
        ))
        new_state = SEND_TRANSITIONS.get((self._state, type(response)))
        if new_state is not None:
            self._state = new_state
            if new_state is State.READY and self._compression_requested is not None:
                self._compressing = True
            if self._version == 5 and self._segments is None:
                self._start_segments()
        return frame

    def _start_segments(self) -> None:
        self._compressing = self._compression_requested is not None
        self._segments = SegmentDecoder(compressed=self._compressing)
        self._unsegmented, self._buffer = bytes(self._buffer), bytearray()

    def _result_metadata(self, stream: int, response: p.Response) -> p.Response:
        """A v5 EXECUTE's Rows answer, with its metadata as the client's id calls for."""
        execute = self._executes.pop(stream, None)
        if execute is None or not isinstance(response, p.ResultRows):
            return response
        requested, skip = execute
        meta = response.metadata
        current = result_metadata_id(meta.columns)
        if current != requested:
            meta = replace(meta, new_metadata_id=current, no_metadata=False)
        elif skip:
            meta = replace(meta, no_metadata=True)
        return replace(response, metadata=meta)

    def send_event(self, event: p.Event) -> bytes:
        """A server-pushed EVENT frame (stream -1)."""
        assert self._state is State.READY, self._state
        return self._wrap(p.encode_event_frame(event, compress=self._compress_envelopes,
                                               version=self._version or p.VERSION_REQUEST))
