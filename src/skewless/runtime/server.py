"""The node process: one uvloop event loop around one synchronous ``Node``.

Theory of operation
-------------------
This is the only place where the node meets real I/O. It owns:

* the CQL listener: each client connection is a sans-I/O ``cql.connection.ServerConnection``
  fed with the bytes read from the socket; OPTIONS, STARTUP and REGISTER are answered here,
  QUERY/PREPARE/EXECUTE/BATCH go to the ``Executor``. Under PasswordAuthenticator STARTUP is
  answered AUTHENTICATE, AUTH_RESPONSE goes to the executor (``node.auth``), whose bcrypt work
  runs in ``_ThreadHasher``'s threads, and a connection not READY after
  ``limits.auth_handshake_ms`` is closed;
* the internode ``Transport``, whose messages go to ``Node.peer_message``; with the default
  ``internode_authenticator`` it is given the cluster secret read here from
  ``internode_secret_file`` (``load_internode_secret``), and a node without one does not start;
* a ticker that calls ``Node.tick`` every ``limits.tick_interval_ms``;
* the flusher, which carries out the node's Ready batches in the stated order: when a batch
  must be durable (batch commit-log mode), one fsync in a worker thread covers every write
  made since the previous flush (group commit: requests arriving during an fsync share the
  next one), then the messages are sent, then clients are answered and events pushed;
* in periodic commit-log mode, a task that fsyncs every ``commitlog_periodic_ms`` instead;
* the disk watch (``runtime.disk_watch``, polled by the ticker): free space, and a store that
  failed on a full disk reopened once there is room; a Ready whose sync failed is carried out
  without its acknowledgements (``not_durable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from skewless import limits
from skewless.config import NodeConfig
from skewless.cql import protocol as proto
from skewless.cql import protocol_responses as rr
from skewless.cql.connection import ProtocolViolation, RequestReceived, ServerConnection
from skewless.cql.connection import State as ConnState
from skewless.cql.results import SetKeyspace
from skewless.errors import Overloaded, ServerError
from skewless.node import messages
from skewless.node.auth.model import (
    PASSWORD_AUTHENTICATOR_CLASS,
    checkpw,
    hashpw,
    parse_superuser_file,
)
from skewless.node.effects import ClusterEvent, Ready, Reply
from skewless.node.executor import Executor
from skewless.node.node import Node
from skewless.runtime import internode_auth
from skewless.runtime.admin import AdminServer
from skewless.runtime.disk_watch import DiskCollector, DiskWatch, not_durable
from skewless.runtime.metrics import MetricsServer
from skewless.runtime.realclock import RealClock
from skewless.runtime.responses import event_frame, request_to_call, response_for
from skewless.runtime.tls import (
    InternodeTls,
    PeekingServer,
    TlsConfigError,
    client_encryption_context,
    start_client_server,
)
from skewless.runtime.transport import Transport
from skewless.storage.diskspace import DiskState, GuardedKV
from skewless.storage.engine import Storage
from skewless.storage.kv import RocksKV

log = logging.getLogger("skewless.server")
_T = TypeVar("_T")


@dataclass
class ClientConn:
    conn_id: int
    protocol: ServerConnection
    writer: asyncio.StreamWriter
    keyspace: str | None = None
    registered: set[str] = field(default_factory=set)
    inflight: int = 0
    peer: str = ""  # the client's address


class NodeServer:
    def __init__(self, config: NodeConfig, internode_secret: bytes | None) -> None:
        """``internode_secret``: from ``load_internode_secret`` (None: no authentication)."""
        self.config = config
        self.clock = RealClock(config.clock_offset_ms, config.clock_drift_ppm)
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.kv = RocksKV(str(Path(config.data_dir) / "db"))
        self.disk_state = DiskState(config.address,
                                    config.min_free_space_per_drive_in_mb * 1024 * 1024)
        self.storage = Storage(GuardedKV(self.kv, self.disk_state))
        self.disk = DiskWatch(self.kv, self.storage, self.disk_state,
                              str(Path(config.data_dir) / "db"))
        seed = int.from_bytes(os.urandom(8), "big")
        self.node = Node(config, self.clock, random.Random(seed), self.storage)
        first_superuser = None
        if config.auth_superuser_file:
            first_superuser = parse_superuser_file(
                Path(config.auth_superuser_file).read_text(encoding="utf-8"))
        self.executor = Executor(self.node, random.Random(seed + 1), _ThreadHasher(self),
                                 first_superuser)
        try:
            self.client_tls = client_encryption_context(config)
            internode_tls = (InternodeTls(config, self._locate_peer)
                             if config.internode_encryption != "none" else None)
        except TlsConfigError as e:
            raise SystemExit(f"cannot start: {e}") from None
        self.transport: Transport[messages.Envelope] = Transport(
            config.address, config.address, config.internode_port, self._on_peer_message, None,
            self.clock, encode=messages.encode, decode=messages.decode,
            rng=random.Random(seed + 2), tls=internode_tls, secret=internode_secret)
        self.clients: dict[int, ClientConn] = {}
        self._next_conn = 0
        self.inflight_total = 0  # client requests handed to the executor, not yet answered
        self.answered_total = 0  # client requests answered since start (nodetool tpstats)
        self.mode = "STARTING"  # Cassandra's operation mode: NORMAL once serving, DRAINED...
        self._kick = asyncio.Event()
        self._stopping = asyncio.Event()
        self._cql_server: asyncio.Server | PeekingServer | None = None
        self.metrics = (MetricsServer(self.node, config.address, config.metrics_port,
                                      self.transport.stats)
                        if config.metrics_port else None)
        self.admin = AdminServer(self, config.address, config.admin_port) \
            if config.admin_port else None
        if self.metrics is not None:
            self.metrics.registry.register(DiskCollector(self.disk_state))

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.transport.start()
        if self.metrics is not None:
            await self.metrics.start()
        if self.admin is not None:
            await self.admin.start()
        tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._flusher()),
                 asyncio.create_task(self._serve_cql_once_joined())]
        if self.config.commitlog_sync == "periodic":
            tasks.append(asyncio.create_task(self._periodic_sync()))
        self.node.tick()
        self._kick.set()
        await self._stopping.wait()
        log.info("node %s stopping", self.config.address)
        self.node.fd.announce_shutdown()  # peers mark us down now, not when phi convicts us
        self._carry_out(self.node.take_ready())
        await self.transport.drain(limits.shutdown_announce_wait_ms / 1000)
        if self._cql_server is not None:
            self._cql_server.close()
        if self.metrics is not None:
            self.metrics.close()
        if self.admin is not None:
            self.admin.close()
        for c in list(self.clients.values()):
            c.writer.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.mode != "DRAINED":
            await self.transport.close()
        self.disk.close()  # sync and close the store (a failed one: logged)

    def stop(self) -> None:
        self._stopping.set()

    async def _serve_cql_once_joined(self) -> None:
        """Open the CQL port once the node is in the ring (node.topology), as Cassandra starts
        its native transport only after joining: a new node does not answer clients while it
        chooses its tokens and streams its ranges."""
        while self.node.topology.status in ("STARTING", "JOINING"):
            await asyncio.sleep(limits.tick_interval_ms / 1000)
        if self.client_tls is None:
            self._cql_server = await asyncio.start_server(
                self._serve_client, self.config.address, self.config.cql_port,
                reuse_address=True)
        else:
            self._cql_server = await start_client_server(
                self._serve_client, self.config.address, self.config.cql_port, self.client_tls,
                self.config.client_encryption_optional)
        tls = ("" if self.client_tls is None else
               ", TLS optional" if self.config.client_encryption_optional else ", TLS")
        log.info("node %s serving CQL on %s:%d (host id %s, policy %s%s)", self.config.address,
                 self.config.address, self.config.cql_port, self.node.host_id,
                 self.config.timestamp_policy, tls)
        if self.mode == "STARTING":
            self.mode = "NORMAL"

    async def drain(self) -> None:
        """nodetool drain: stop serving clients and peers, then flush; the process stays up
        (admin endpoint included) until it is stopped, as Cassandra's does."""
        if self.mode in ("DRAINING", "DRAINED"):
            return
        self.mode = "DRAINING"
        log.info("draining: closing client connections and internode messaging")
        if self._cql_server is not None:
            self._cql_server.close()
        for c in list(self.clients.values()):
            c.writer.close()
        await self.transport.close()
        await self.disk.run_blocking(self.kv.flush)
        self.storage.sync()
        self.mode = "DRAINED"
        log.info("drained")

    # ------------------------------------------------------------------ loops

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(limits.tick_interval_ms / 1000)
            self.node.tick()
            self.executor.auth.tick()
            self.disk.poll()
            self._kick.set()

    async def _periodic_sync(self) -> None:
        while True:
            await asyncio.sleep(self.config.commitlog_periodic_ms / 1000)
            await self.disk.sync()  # a failure is logged; periodic mode acked already

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._kick.wait()
            self._kick.clear()
            ready = self.node.take_ready()
            crash = self.node.crash_point_reached  # reached by the calls this Ready holds
            if ready.empty() and not crash:
                continue
            if ready.wake_after_ns:
                loop.call_later(ready.wake_after_ns / 1e9, self._wake)
            if (ready.must_sync and self.config.commitlog_sync == "batch") \
                    or ready.must_sync_metadata:
                failed = await self.disk.sync()
                if failed:  # nothing this Ready acknowledges may leave (runtime.disk_watch)
                    ready = not_durable(ready, failed)
            elif self.disk_state.failure:  # nor what rests on writes the failed sync left
                ready = not_durable(ready, self.disk_state.failure)
            self._carry_out(ready)
            if crash:
                await self._crash(ready, crash)

    def _wake(self) -> None:
        """A timer the node asked for (``Ready.wake_after_ns``)."""
        self.node.tick()
        self._kick.set()

    async def _crash(self, ready: Ready, point: str) -> None:
        """A test-only crash point (``--crash-point``) was reached: let this Ready's messages
        reach the kernel (bounded wait), then die as kill -9 would."""
        loop = asyncio.get_running_loop()
        peers = {address for address, _ in ready.sends}
        deadline = loop.time() + 1.0
        while any(self.transport.queued(a) for a in peers) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)  # the peer writer tasks' last write
        log.warning("crash point %s reached: SIGKILL (test option --crash-point)", point)
        os.kill(os.getpid(), signal.SIGKILL)

    def _carry_out(self, ready: Ready) -> None:
        for address, env in ([] if self.mode in ("DRAINING", "DRAINED") else ready.sends):
            if not self.transport.send(address, env):
                log.debug("internode queue to %s full; message dropped", address)
        for r in ready.replies:
            self._reply(r)
        for e in ready.events:
            self._push_event(e)

    # ------------------------------------------------------------------ internode

    def _locate_peer(self, address: str) -> tuple[str, str] | None:
        """A peer's (dc, rack) as gossip knows it (internode_encryption dc/rack)."""
        peer = self.node.membership.peers.get(address)
        return None if peer is None else (peer.state.dc, peer.state.rack)

    def _on_peer_message(self, sender: str, env: messages.Envelope) -> None:
        self.node.peer_message(sender, env)
        self._kick.set()

    # ------------------------------------------------------------------ CQL clients

    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        if len(self.clients) >= limits.cql_connections_max:
            writer.close()
            return
        self._next_conn += 1
        conn = ClientConn(self._next_conn, ServerConnection(), writer,
                          peer=_peer_address(writer))
        self.clients[conn.conn_id] = conn
        peer = writer.get_extra_info("peername")
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.executor.client_clocks.connected(conn.conn_id, address)
        deadline = None
        if self.executor.auth.required:  # a client that never authenticates frees its slot
            deadline = asyncio.get_running_loop().call_later(
                limits.auth_handshake_ms / 1000, self._handshake_deadline, conn)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if not self._on_client_data(conn, data):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if deadline is not None:
                deadline.cancel()
            self.clients.pop(conn.conn_id, None)
            self.executor.client_clocks.closed(conn.conn_id)
            self.executor.auth.closed(conn.conn_id)
            with contextlib.suppress(Exception):
                writer.close()

    def _on_client_data(self, conn: ClientConn, data: bytes) -> bool:
        """Handle bytes from a client; False when the connection must close."""
        for ev in conn.protocol.receive_data(data):
            if isinstance(ev, ProtocolViolation):
                conn.writer.write(ev.error)
                if ev.close:
                    return False
                continue
            assert isinstance(ev, RequestReceived)
            self._on_request(conn, ev)
        self._kick.set()
        return True

    def _on_request(self, conn: ClientConn, ev: RequestReceived) -> None:
        req = ev.request
        if isinstance(req, proto.Options):
            conn.writer.write(conn.protocol.send_response(ev.stream, rr.Supported(SUPPORTED)))
        elif isinstance(req, proto.Startup):
            answer = rr.Authenticate(PASSWORD_AUTHENTICATOR_CLASS) \
                if self.executor.auth.required else rr.Ready()
            conn.writer.write(conn.protocol.send_response(ev.stream, answer))
        elif isinstance(req, proto.AuthResponse) and conn.inflight > 0:
            # one SASL step at a time per connection: a client cannot queue bcrypt work
            body = response_for(Overloaded("An authentication is already in progress on this "
                                           "connection"))
            conn.writer.write(conn.protocol.send_response(ev.stream, body))
        elif isinstance(req, proto.Register):
            conn.registered.update(req.events)
            conn.writer.write(conn.protocol.send_response(ev.stream, rr.Ready()))
        elif conn.inflight >= limits.cql_streams_inflight_max:
            body = response_for(Overloaded("Too many in-flight requests on this connection"))
            conn.writer.write(conn.protocol.send_response(ev.stream, body))
        elif self.inflight_total >= limits.cql_requests_inflight_max:
            # Bounded backpressure: answer at once rather than queue (Cassandra's wording).
            body = response_for(Overloaded(OVERLOADED_MESSAGE))
            conn.writer.write(conn.protocol.send_response(ev.stream, body))
        else:
            conn.inflight += 1
            self.inflight_total += 1
            client = conn.peer if ev.tracing else ""
            request_to_call(self.executor, conn.conn_id, ev.stream, req, conn.keyspace,
                            ev.custom_payload, ev.tracing, client)

    def _handshake_deadline(self, conn: ClientConn) -> None:
        if conn.protocol.state is not ConnState.READY and conn.conn_id in self.clients:
            log.info("closing client connection from %s: not authenticated within %d ms",
                     conn.peer, limits.auth_handshake_ms)
            conn.writer.close()

    def _reply(self, r: Reply) -> None:
        if r.conn > 0:  # a client's request (ids start at 1) gets exactly one reply, even
            self.inflight_total -= 1  # when its connection has gone meanwhile
            self.answered_total += 1
            assert self.inflight_total >= 0
        conn = self.clients.get(r.conn)
        if conn is None:
            return
        conn.inflight -= 1
        if isinstance(r.body, SetKeyspace):
            conn.keyspace = r.body.keyspace
        try:
            data = conn.protocol.send_response(
                r.stream, response_for(r.body, self.node.schema), tracing_id=r.tracing_id,
                warnings=r.warnings, custom_payload=dict(r.custom_payload) or None)
        except Exception as e:  # one unencodable answer must not stop the flusher (the node)
            log.exception("cannot encode the answer to stream %d", r.stream)
            data = conn.protocol.send_response(r.stream, response_for(
                ServerError(f"Internal error encoding the response: {type(e).__name__}: {e}")))
        conn.writer.write(data)

    def _push_event(self, e: ClusterEvent) -> None:
        for conn in self.clients.values():
            if e.kind in conn.registered:
                conn.writer.write(conn.protocol.send_event(event_frame(e)))


class _ThreadHasher:
    """bcrypt in worker threads of its own (bcrypt releases the GIL): a 50-100 ms check does
    not stop the node, and a burst of logins queues here, not in the default executor where
    the commit-log fsyncs run. ``done`` runs on the event loop."""

    def __init__(self, server: NodeServer) -> None:
        self.server = server
        self.pool = ThreadPoolExecutor(limits.auth_bcrypt_threads, "bcrypt")

    def hash(self, password: str, done: Callable[[str], None]) -> None:
        self._run(lambda: hashpw(password, os.urandom), done)

    def check(self, password: str, salted_hash: str, done: Callable[[bool], None]) -> None:
        self._run(lambda: checkpw(password, salted_hash), done)

    def _run(self, fn: Callable[[], _T], done: Callable[[_T], None]) -> None:
        future = asyncio.get_running_loop().run_in_executor(self.pool, fn)

        def finished(f: asyncio.Future[_T]) -> None:
            try:
                done(f.result())
            except Exception:  # a bug in a continuation must not take the node down
                log.exception("internal error after a password hash")
            self.server._kick.set()
        future.add_done_callback(finished)


def _peer_address(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


OVERLOADED_MESSAGE = "Server is in overloaded state. Cannot accept more requests at this point"
SUPPORTED = {"CQL_VERSION": ["3.4.7"], "COMPRESSION": ["lz4"],
             "PROTOCOL_VERSIONS": [f"{v}/v{v}" for v in proto.VERSIONS]}


class InternodeSecretError(Exception):
    """The node cannot authenticate its peers: no secret file, or an unusable one."""


def load_internode_secret(config: NodeConfig) -> bytes | None:
    """The cluster secret from ``internode_secret_file`` (None with AllowAll); raises
    ``InternodeSecretError`` with what to do when the node cannot have one."""
    if not config.internode_authentication:
        log.warning("internode authentication is off (AllowAllInternodeAuthenticator): any "
                    "process that reaches the internode port can act as a node")
        return None
    path = config.internode_secret_file
    if not path:
        raise InternodeSecretError(
            "internode_authenticator is SharedSecretInternodeAuthenticator but no "
            "internode_secret_file is set: give every node the same secret file "
            "(--internode-secret-file PATH; `skewless cluster start` makes one), or set "
            "internode_authenticator to AllowAllInternodeAuthenticator to run without "
            "internode authentication")
    try:
        data = Path(path).read_bytes()
        mode = Path(path).stat().st_mode
    except OSError as e:
        raise InternodeSecretError(f"internode_secret_file: cannot read {path!r}: "
                                   f"{e.strerror or e}") from None
    try:
        secret = internode_auth.parse_secret(data, repr(path))
    except ValueError as e:
        raise InternodeSecretError(str(e)) from None
    if mode & 0o077:
        log.warning("internode_secret_file %s is readable by other users (mode %o); "
                    "chmod 600 it", path, mode & 0o777)
    return secret


def run_node(config: NodeConfig) -> None:
    """Run one node in the foreground until SIGINT or SIGTERM."""
    import uvloop

    logging.basicConfig(level=config.log_level_number,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        secret = load_internode_secret(config)  # refuse to start before opening anything
    except InternodeSecretError as e:
        log.error("%s", e)
        raise SystemExit(f"skewless node: {e}") from None

    async def main() -> None:
        server = NodeServer(config, secret)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.run()

    uvloop.run(main())
