"""Internode messaging over TCP: framed, ordered per connection, bounded, self-healing.

Theory of operation
-------------------
Every node listens on ``listen_host:port`` for *inbound* connections and opens at most one
*outbound* connection to each peer, lazily, when it first has something to send there. Messages
to a peer travel only over our outbound connection to it, so a pair of nodes uses two TCP
connections, one per direction (as Cassandra does). Messages on one connection arrive in the order
they were sent; nothing is promised across a reconnection (delivery is at most once: the protocol
layers above time out and retry, or hint).

Wire format: every frame is a 4-byte big-endian length followed by that many payload bytes. The
first frames on a connection are the handshake of ``runtime.internode_auth`` (msgpack; protocol
version 2)::

    connecting side -> accepting side  [MAGIC, 2, id, host, port, scheme, nonce_c]
    accepting side -> connecting side  [MAGIC, 2, id, host, port, scheme, nonce_s, proof_s]
    connecting side -> accepting side  [MAGIC, "proof", proof_c]

With a cluster secret (``secret``; scheme ``hmac-sha256``: ``SharedSecretInternodeAuthenticator``,
the default) both sides prove they hold it (HMAC-SHA256 over both nonces, both names and the
direction); the connecting side reports the peer up only once the accepting side's proof checks
out, the accepting side decodes nothing and names nobody until the connecting side's proof
does. Every later frame carries a batch of messages: each one a 4-byte big-endian length and
that many bytes of the pluggable codec (``encode``/``decode``; default: msgpack of plain data),
followed by a frame sequence number (8 bytes) and a 16-byte MAC under that connection's session
key: ``(length | message)+ | seq | tag``. Without a secret (``secret=None``, scheme ``none``:
``AllowAllInternodeAuthenticator``) the nonces are empty, there are no proofs (the third frame is
not sent) and frames are bare batches. The byte stream may be TLS: the handshake is a layer above
it.

Batching: the writer task of a peer wakes once per turn of the event loop in which something was
queued for that peer (the node queues a whole Ready batch's sends at once), and puts everything
queued into frames of up to ``limits.internode_batch_bytes_max`` (one, unless the batch is
large; a larger message goes alone), written with one ``write``: one MAC and one syscall per
peer per turn, not one per message.
The receiver checks the frame's MAC, decodes every message of the frame in order, and only then
delivers them: a frame with one bad message delivers none of it (its connection is closed).

A peer that breaks the protocol (a garbage or oversized first frame, an old or malformed
handshake, a wrong proof, a frame whose MAC or sequence number does not check out, a frame over
``limits.internode_frame_bytes_max``, a frame whose message lengths do not add up to it, a message
the codec rejects) has that one connection
closed, nothing of it applied, and is counted in ``stats.refused`` by reason (the node's
``skewless_internode_refused_total`` metric); each (address, reason) is logged once. A peer that
does not finish its handshake within ``limits.internode_handshake_timeout_ms`` is dropped. The
transport keeps serving everyone else. Nothing a peer sends can raise out of this module.

Outbound messages wait in a bounded per-peer queue (``limits.internode_queue_messages_max``):
``send`` never blocks and returns False when the queue is full (backpressure the caller acts on)
or the message is too large. A writer task per peer connects (with a timeout), drains the queue
into frames (above), with ``StreamWriter.drain`` for TCP backpressure, and after a failure
reconnects with capped exponential backoff and full jitter, drawn from the injected
``random.Random``. Messages that waited longer than ``limits.internode_message_expiry_ms`` are
dropped unsent: whoever sent them has timed out.

Addresses: a peer is named by its host alone when it listens on our own port (ccm's layout: every
node on port 7000 of its own 127.0.0.i), else by ``host:port``. ``on_message`` and
``on_peer_state`` receive peers named the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import msgpack

from skewless import limits
from skewless.errors import RemoteProtocolError
from skewless.runtime import internode_auth as auth
from skewless.runtime.internode_auth import AuthRefused, FrameOpener, FrameSealer, Hello
from skewless.runtime.tls import InternodeTls, PeekingServer

log = logging.getLogger(__name__)

PROTOCOL_VERSION = auth.VERSION
HANDSHAKE_MAGIC = auth.MAGIC
_HEADER_BYTES = 4
_RECORD_HEADER_BYTES = 4  # each message's length inside a frame
_BATCH_MESSAGES_MAX = 4096  # messages written before one drain (frames of up to the size limit)

M = TypeVar("M")


class MonotonicClock(Protocol):
    def monotonic_ns(self) -> int: ...


def msgpack_encode(message: Any) -> bytes:
    """The default codec: plain data (dicts, lists, str, bytes, numbers) as msgpack."""
    data: bytes = msgpack.packb(message, use_bin_type=True)
    return data


def msgpack_decode(payload: bytes) -> Any:
    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


@dataclass
class TransportStats:
    sent: int = 0  # messages written to a socket
    frames: int = 0  # frames written to a socket (each carries one or more messages)
    received: int = 0  # messages delivered to on_message
    dropped_queue_full: int = 0  # send() returned False: the peer's queue was full
    dropped_oversize: int = 0  # send() returned False: the encoded message exceeds the frame limit
    dropped_expired: int = 0  # queued past internode_message_expiry_ms, never sent
    connections_opened: int = 0
    connect_failures: int = 0
    protocol_errors: int = 0  # inbound connections closed for a protocol violation
    refused: dict[str, int] = field(default_factory=dict)  # connections refused, by reason


@dataclass
class _Peer:
    name: str
    host: str
    port: int
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)  # (enqueued at ns, payload)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    up: bool | None = None  # None: never tried
    attempt: int = 0  # consecutive failed connects


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(_HEADER_BYTES, "big") + payload


def batch_payload(messages: list[bytes]) -> bytes:
    """A frame's payload carrying ``messages`` (each already encoded), in order."""
    return b"".join(len(m).to_bytes(_RECORD_HEADER_BYTES, "big") + m for m in messages)


def split_payload(payload: bytes) -> list[bytes]:
    """The encoded messages of a frame's payload, in order; ``RemoteProtocolError`` when its
    lengths do not add up (a peer's bytes: never anything else)."""
    out: list[bytes] = []
    view = memoryview(payload)
    end = len(payload)
    at = 0
    if not end:
        raise RemoteProtocolError("an empty internode frame")
    while at < end:
        body = at + _RECORD_HEADER_BYTES
        if body > end:
            raise RemoteProtocolError("a message length cut short at the end of a frame")
        stop = body + int.from_bytes(view[at:body], "big")
        if stop > end:
            raise RemoteProtocolError(f"a message of {stop - body} bytes runs past the end of "
                                      f"its frame ({end - body} left)")
        out.append(bytes(view[body:stop]))
        at = stop
    return out


async def _read_frame(reader: asyncio.StreamReader, max_bytes: int) -> bytes | None:
    """One frame's payload; None at a clean EOF between frames. Raises RemoteProtocolError."""
    try:
        header = await reader.readexactly(_HEADER_BYTES)
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise RemoteProtocolError("connection closed inside a frame header") from None
    length = int.from_bytes(header, "big")
    if length > max_bytes:
        raise RemoteProtocolError(f"frame of {length} bytes exceeds the limit of {max_bytes}")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise RemoteProtocolError("connection closed inside a frame") from None


class Transport(Generic[M]):
    """Internode messaging of one node. Call ``start`` and ``close`` on its event loop."""

    def __init__(
        self,
        local_id: str,
        listen_host: str,
        port: int,
        on_message: Callable[[str, M], None],
        on_peer_state: Callable[[str, bool], None] | None,
        clock: MonotonicClock,
        *,
        encode: Callable[[M], bytes] = msgpack_encode,
        decode: Callable[[bytes], M] = msgpack_decode,
        rng: random.Random | None = None,
        queue_messages_max: int = limits.internode_queue_messages_max,
        frame_bytes_max: int = limits.internode_frame_bytes_max,
        connect_timeout_ms: int = limits.internode_connect_timeout_ms,
        reconnect_delay_ms_min: int = limits.internode_reconnect_delay_ms_min,
        reconnect_delay_ms_max: int = limits.internode_reconnect_delay_ms_max,
        message_expiry_ms: int = limits.internode_message_expiry_ms,
        tls: InternodeTls | None = None,
        secret: bytes | None = None,
        nonce: Callable[[int], bytes] = os.urandom,
        handshake_timeout_ms: int = limits.internode_handshake_timeout_ms,
    ) -> None:
        assert queue_messages_max > 0 and frame_bytes_max > 0
        assert 0 < reconnect_delay_ms_min <= reconnect_delay_ms_max
        self.local_id = local_id
        self.listen_host = listen_host
        self.port = port
        self.on_message = on_message
        self.on_peer_state = on_peer_state
        self.clock = clock
        self.encode = encode
        self.decode = decode
        self.rng = rng if rng is not None else random.Random()
        self.queue_messages_max = queue_messages_max
        self.frame_bytes_max = frame_bytes_max
        self.batch_bytes_max = min(frame_bytes_max, limits.internode_batch_bytes_max)
        self.connect_timeout_s = connect_timeout_ms / 1000
        self.reconnect_delay_ms_min = reconnect_delay_ms_min
        self.reconnect_delay_ms_max = reconnect_delay_ms_max
        self.message_expiry_ns = message_expiry_ms * 1_000_000
        assert secret is None or len(secret) >= auth.SECRET_BYTES_MIN
        self.secret = secret
        self.scheme = auth.SCHEME_NONE if secret is None else auth.SCHEME_SECRET
        self.nonce = nonce
        self.handshake_timeout_s = handshake_timeout_ms / 1000
        self._refusals_logged: set[tuple[str, str]] = set()
        self.stats = TransportStats()
        self._peers: dict[str, _Peer] = {}
        self.tls = tls  # server_encryption_options (runtime.tls); None: plaintext
        self._server: asyncio.Server | PeekingServer | None = None
        self._inbound: set[asyncio.Task[None]] = set()
        self._inbound_writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    @property
    def address(self) -> str:
        """How peers name this node (host alone: every node listens on the same port)."""
        return self.listen_host

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        assert self._server is None, "already started"
        if self.tls is not None:
            self._server = await self.tls.start_server(self._accept, self.listen_host, self.port)
        else:
            self._server = await asyncio.start_server(
                self._accept, self.listen_host, self.port, reuse_address=True
            )
        if self.port == 0:  # tests: an ephemeral port
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("internode: %s listening on %s:%d", self.local_id, self.listen_host, self.port)

    async def close(self) -> None:
        """Stop listening, drop every connection and queued message; bounded in time."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        tasks = [p.task for p in self._peers.values() if p.task is not None]
        tasks += list(self._inbound)
        for w in list(self._inbound_writers):
            w.close()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.connect_timeout_s + 1)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), self.connect_timeout_s)
        for p in self._peers.values():
            p.queue.clear()

    async def drain(self, timeout_s: float) -> None:
        """Wait, at most ``timeout_s``, until the queues to connected peers are empty (what a
        stopping node says last should leave before ``close`` drops the queues)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline and any(p.queue and p.up for p in self._peers.values()):
            await asyncio.sleep(0.01)

    # --- sending ------------------------------------------------------------------------------

    def peer_name(self, host: str, port: int) -> str:
        return host if port == self.port else f"{host}:{port}"

    def _peer(self, peer_address: str) -> _Peer:
        peer = self._peers.get(peer_address)
        if peer is not None:
            return peer
        host, sep, port_text = peer_address.rpartition(":")
        if sep and port_text.isdigit():
            port = int(port_text)
        else:
            host, port = peer_address, self.port
        name = self.peer_name(host, port)
        peer = self._peers.get(name)
        if peer is None:
            peer = self._peers[name] = _Peer(name, host, port)
        self._peers[peer_address] = peer  # an alias for the spelling the caller used
        return peer

    def send(self, peer_address: str, message: M) -> bool:
        """Queue ``message`` for ``peer_address`` without blocking; False when it was dropped.

        It is dropped when that peer's queue is full (backpressure: the peer or the network is
        slower than we produce) or when its encoding exceeds the frame limit. An unencodable
        message is the caller's bug and raises from the codec.
        """
        assert self._server is not None and not self._closing, "transport not running"
        peer = self._peer(peer_address)
        if len(peer.queue) >= self.queue_messages_max:
            self.stats.dropped_queue_full += 1
            return False
        payload = self.encode(message)
        if len(payload) + _RECORD_HEADER_BYTES > self.frame_bytes_max:
            self.stats.dropped_oversize += 1
            log.error(
                "internode: message of %d bytes to %s exceeds the frame limit; dropped",
                len(payload), peer.name,
            )
            return False
        peer.queue.append((self.clock.monotonic_ns(), payload))
        peer.wakeup.set()
        if peer.task is None or peer.task.done():
            peer.task = asyncio.get_running_loop().create_task(self._run_peer(peer))
        return True

    def queued(self, peer_address: str) -> int:
        peer = self._peers.get(peer_address)
        return 0 if peer is None else len(peer.queue)

    def is_up(self, peer_address: str) -> bool | None:
        """True/False as last seen by our outbound connection; None if never tried."""
        peer = self._peers.get(peer_address)
        return None if peer is None else peer.up

    def _set_up(self, peer: _Peer, up: bool) -> None:
        if peer.up is up:
            return
        peer.up = up
        log.info("internode: peer %s is %s", peer.name, "up" if up else "down")
        if self.on_peer_state is not None:
            try:
                self.on_peer_state(peer.name, up)
            except Exception:
                log.exception("internode: on_peer_state(%s, %s) raised", peer.name, up)

    def _backoff_s(self, attempt: int) -> float:
        """Full jitter: uniform over [0, min(max, min * 2**attempt)]."""
        exponential = self.reconnect_delay_ms_min * 2 ** min(attempt, 30)
        ceiling = min(self.reconnect_delay_ms_max, exponential)
        return self.rng.uniform(0, ceiling) / 1000

    async def _run_peer(self, peer: _Peer) -> None:
        """The writer task of one peer: connect, pump its queue, reconnect; ends on close."""
        while not self._closing:
            if not peer.queue:
                peer.wakeup.clear()
                await peer.wakeup.wait()
                continue
            try:
                reader, writer, sealer = await self._connect(peer)
            except (OSError, TimeoutError, RemoteProtocolError) as e:
                self.stats.connect_failures += 1
                log.debug("internode: connecting to %s failed: %s", peer.name, e)
                self._set_up(peer, False)
                await asyncio.sleep(self._backoff_s(peer.attempt))
                peer.attempt += 1
                continue
            peer.attempt = 0
            self.stats.connections_opened += 1
            self._set_up(peer, True)
            try:
                await self._pump(peer, reader, writer, sealer)
            except (OSError, RemoteProtocolError) as e:
                log.info("internode: connection to %s lost: %s", peer.name, e)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), self.connect_timeout_s)
            if not self._closing:
                self._set_up(peer, False)
                await asyncio.sleep(self._backoff_s(0))

    async def _connect(
        self, peer: _Peer
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameSealer | None]:
        async def handshake(
        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameSealer | None]:
            context = None if self.tls is None else self.tls.client_context(peer.host)
            reader, writer = await asyncio.open_connection(
                peer.host, peer.port, local_addr=(self.listen_host, 0), ssl=context,
                server_hostname=peer.host if context is not None else None,
            )
            try:
                sealer = await self._handshake_outbound(reader, writer)
            except BaseException:
                writer.close()
                raise
            return reader, writer, sealer

        try:
            return await asyncio.wait_for(handshake(), self.connect_timeout_s)
        except AuthRefused as e:
            self._refused(peer.name, e.reason, f"we dialled it: {e.detail}")
            raise
        except RemoteProtocolError as e:  # a garbage or truncated answer
            self._refused(peer.name, auth.GARBAGE, f"we dialled it: {e}")
            raise

    async def _handshake_outbound(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> FrameSealer | None:
        nonce = self.nonce(auth.NONCE_BYTES) if self.secret is not None else b""
        ours = Hello(self.local_id, self.listen_host, self.port, self.scheme, nonce)
        writer.write(_frame(auth.encode_hello(ours)))
        await writer.drain()
        payload = await _read_frame(reader, limits.internode_handshake_bytes_max)
        if payload is None:
            raise RemoteProtocolError("peer closed the connection during the handshake")
        theirs = auth.parse_hello(payload)
        auth.check_scheme(self.scheme, theirs)
        if self.secret is None:
            return None
        auth.check_proof(self.secret, "server", ours, theirs, theirs.proof)
        writer.write(_frame(auth.encode_proof(auth.proof(self.secret, "client", ours, theirs))))
        await writer.drain()
        return FrameSealer(auth.session_key(self.secret, ours.nonce, theirs.nonce), client=True)

    async def _pump(
        self, peer: _Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        sealer: FrameSealer | None,
    ) -> None:
        lost = asyncio.get_running_loop().create_future()

        async def watch() -> None:
            # The peer never writes after its handshake: any byte or EOF ends the connection.
            try:
                data = await reader.read(1)
                reason = "unexpected data" if data else "closed by peer"
            except OSError as e:
                reason = str(e)
            if not lost.done():
                lost.set_result(reason)
            peer.wakeup.set()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            while not self._closing:
                if lost.done():
                    raise RemoteProtocolError(lost.result())
                if not peer.queue:
                    peer.wakeup.clear()
                    await peer.wakeup.wait()
                    continue
                now_ns = self.clock.monotonic_ns()
                frames: list[bytes] = []
                records: list[bytes] = []
                size = batch = 0
                while peer.queue and batch < _BATCH_MESSAGES_MAX:
                    queued_ns, payload = peer.queue.popleft()
                    if now_ns - queued_ns > self.message_expiry_ns:
                        self.stats.dropped_expired += 1
                        continue
                    record = _RECORD_HEADER_BYTES + len(payload)
                    if records and size + record > self.batch_bytes_max:
                        frames.append(self._sealed(records, sealer))
                        records, size = [], 0
                    records.append(payload)
                    size += record
                    batch += 1
                if records:
                    frames.append(self._sealed(records, sealer))
                if batch:
                    writer.write(b"".join(frames))
                    self.stats.sent += batch
                    self.stats.frames += len(frames)
                    await writer.drain()
        finally:
            watcher.cancel()

    @staticmethod
    def _sealed(records: list[bytes], sealer: FrameSealer | None) -> bytes:
        payload = batch_payload(records)
        return _frame(payload if sealer is None else sealer.seal(payload))

    # --- receiving ----------------------------------------------------------------------------

    def _refused(self, address: str, reason: str, detail: str) -> None:
        """Count a refused peer; log it once per (address, reason)."""
        self.stats.refused[reason] = self.stats.refused.get(reason, 0) + 1
        key = (address, reason)
        if key in self._refusals_logged:
            log.debug("internode: refused %s again (%s): %s", address, reason, detail)
            return
        if len(self._refusals_logged) < limits.internode_refusals_logged_max:
            self._refusals_logged.add(key)
        log.warning("internode: refused %s (%s): %s (logged once per address and reason)",
                    address, reason, detail)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inbound.add(task)
        self._inbound_writers.add(writer)
        peername = writer.get_extra_info("peername")
        address = str(peername[0]) if isinstance(peername, tuple) and peername else str(peername)
        try:
            await self._serve_inbound(reader, writer)
        except asyncio.CancelledError:
            pass
        except RemoteProtocolError as e:
            self.stats.protocol_errors += 1
            reason = e.reason if isinstance(e, AuthRefused) else auth.GARBAGE
            self._refused(address, reason, f"connection from {peername} closed: {e}")
        except (OSError, TimeoutError) as e:
            log.info("internode: connection from %s ended: %s", peername, e)
        except Exception:  # never let one connection take the node down
            log.exception("internode: connection from %s failed", peername)
        finally:
            self._inbound.discard(task)
            self._inbound_writers.discard(writer)
            writer.close()

    async def _handshake_inbound(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, FrameOpener | None] | None:
        """The authenticated sender's name and frame checker; None at EOF before any frame."""
        payload = await _read_frame(reader, limits.internode_handshake_bytes_max)
        if payload is None:
            return None
        theirs = auth.parse_hello(payload)
        auth.check_scheme(self.scheme, theirs)
        if theirs.proof:
            raise AuthRefused(auth.BAD_HANDSHAKE, "a connecting side's hello carries a proof")
        nonce = self.nonce(auth.NONCE_BYTES) if self.secret is not None else b""
        ours = Hello(self.local_id, self.listen_host, self.port, self.scheme, nonce)
        if self.secret is not None:
            ours = Hello(ours.node_id, ours.host, ours.port, ours.scheme, ours.nonce,
                         auth.proof(self.secret, "server", theirs, ours))
        writer.write(_frame(auth.encode_hello(ours)))
        await writer.drain()
        opener = None
        if self.secret is not None:
            payload = await _read_frame(reader, limits.internode_handshake_bytes_max)
            if payload is None:
                raise AuthRefused(auth.UNAUTHENTICATED,
                                  "closed the connection without proving itself")
            auth.check_proof(self.secret, "client", theirs, ours, auth.parse_proof(payload))
            opener = FrameOpener(auth.session_key(self.secret, theirs.nonce, ours.nonce),
                                 from_client=True)
        return self.peer_name(theirs.host, theirs.port), opener

    async def _serve_inbound(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            done = await asyncio.wait_for(self._handshake_inbound(reader, writer),
                                          self.handshake_timeout_s)
        except TimeoutError:
            raise AuthRefused(auth.TIMEOUT, f"no handshake within "
                                            f"{self.handshake_timeout_s * 1000:g} ms") from None
        if done is None:
            return
        sender, opener = done
        log.debug("internode: inbound connection from %s", sender)
        frame_bytes_max = self.frame_bytes_max + (0 if opener is None else auth.TRAILER_BYTES)
        while not self._closing:
            payload = await _read_frame(reader, frame_bytes_max)
            if payload is None:
                return
            if opener is not None:
                payload = opener.open(payload)
            try:
                batch = [self.decode(m) for m in split_payload(payload)]
            except RemoteProtocolError as e:
                raise RemoteProtocolError(f"malformed frame from {sender}: {e}") from None
            except Exception as e:  # the codec rejected the peer's bytes
                raise RemoteProtocolError(f"undecodable message from {sender}: {e!r}") from None
            self.stats.received += len(batch)
            for message in batch:
                try:
                    self.on_message(sender, message)
                except Exception:
                    log.exception("internode: on_message from %s raised", sender)
