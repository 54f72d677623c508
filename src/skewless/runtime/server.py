"""The node process: one uvloop event loop around one synchronous ``Node``.

Theory of operation
-------------------
This is the only place where the node meets real I/O. It owns:

* the CQL listener: each client connection is a sans-I/O ``cql.connection.ServerConnection``
  fed with the bytes read from the socket; OPTIONS, STARTUP and REGISTER are answered here,
  QUERY/PREPARE/EXECUTE/BATCH go to the ``Executor``. Under PasswordAuthenticator STARTUP is
  answered AUTHENTICATE, AUTH_RESPONSE goes to the executor (``node.auth``), whose bcrypt work
  runs in ``runtime.startup.ThreadHasher``'s threads. Which connections are admitted, their
  handshake and idle deadlines and the pacing of a client that does not read its answers are
  ``runtime.admission``'s (``ConnFlow``);
* the internode ``Transport``, whose messages go to ``Node.peer_message``; with the default
  ``internode_authenticator`` it is given the cluster secret read from
  ``internode_secret_file`` (``runtime.startup.load_internode_secret``), and a node without
  one does not start;
* a ticker that calls ``Node.tick`` every ``limits.tick_interval_ms``;
* the flusher, which carries out the node's Ready batches in the order ``node.effects``
  states: when a batch must be durable (batch commit-log mode), it requests one fsync from the
  sync thread (``runtime.sync_thread``) covering every write made since the previous flush
  (group commit: requests arriving during an fsync share the next one); while it runs, the
  coordinator's requests to replicas leave (``effects.during_sync``: only when the stamp
  ceiling is durable, ``_durable_ceiling_us``); once it has ended, the other messages are
  sent, then clients are answered (one write per connection for the batch's answers) and
  events pushed;
* in periodic commit-log mode, a task that fsyncs every ``commitlog_periodic_ms`` instead;
* the disk watch (``runtime.disk_watch``, ``self.space``, polled by the ticker): free space,
  and a store that failed on a full disk reopened once there is room; a Ready whose sync
  failed is carried out without its acknowledgements (``not_durable``);
* the disk guard (``runtime.quarantine``, ``self.disk``): corrupt storage found at open, by
  the background verification or in a read, under ``disk_failure_policy``.

Every background task runs under ``runtime.supervise``: one that fails stops the node with a
non-zero exit. Every client request handed to the executor is opened in ``node.requests``
(its deadline, its one reply, an error id for an internal error). SIGTERM drains: the CQL port
closes, in-flight requests get ``limits.shutdown_requests_wait_ms`` to finish (the rest are
answered), replies are flushed, then the node stops as before (exit code 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from skewless import limits
from skewless.config import NodeConfig
from skewless.cql import parser as cql_parser
from skewless.cql import protocol as proto
from skewless.cql import protocol_responses as rr
from skewless.cql.connection import ProtocolViolation, RequestReceived, ServerConnection
from skewless.cql.connection import State as ConnState
from skewless.cql.results import SetKeyspace
from skewless.errors import Overloaded, ServerError
from skewless.node import messages
from skewless.node.auth.model import (
    PASSWORD_AUTHENTICATOR_CLASS,
    parse_superuser_file,
)
from skewless.node.batch_preflight import BatchPreflight
from skewless.node.effects import ClusterEvent, Ready, Reply, during_sync
from skewless.node.executor import Executor
from skewless.node.messages import Envelope
from skewless.node.node import Node
from skewless.runtime import admission, parse_slices
from skewless.runtime.admin import AdminServer
from skewless.runtime.disk_watch import DiskCollector, DiskWatch, not_durable
from skewless.runtime.metrics import MetricsServer
from skewless.runtime.quarantine import DiskGuard
from skewless.runtime.realclock import RealClock
from skewless.runtime.responses import event_frame, request_to_call, response_for
from skewless.runtime.startup import (
    InternodeSecretError,
    ThreadHasher,
    connection_budget,
    load_internode_secret,
)
from skewless.runtime.supervise import EXIT_TASK_FAILED, Supervisor, exit_watchdog
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
from skewless.storage.integrity import StorageCorruption
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
    flow: admission.ConnFlow | None = None  # deadlines and pacing (runtime.admission)


class NodeServer:
    def __init__(self, config: NodeConfig, internode_secret: bytes | None) -> None:
        """``internode_secret``: from ``load_internode_secret`` (None: no authentication)."""
        self.config = config
        self.clock = RealClock(config.clock_offset_ms, config.clock_drift_ppm)
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.disk = DiskGuard(config.data_dir, config.disk_failure_policy, self._disk_policy)
        self.disk_state = DiskState(config.address,
                                    config.min_free_space_per_drive_in_mb * 1024 * 1024)
        self.storage = Storage(GuardedKV(self.disk.kv, self.disk_state))
        self.space = DiskWatch(lambda: self.disk.rocks, self.storage, self.disk_state,
                               str(Path(config.data_dir) / "db"))
        seed = int.from_bytes(os.urandom(8), "big")
        try:
            self.node = Node(config, self.clock, random.Random(seed), self.storage)
        except StorageCorruption as e:
            raise SystemExit(f"cannot start: this node's own state (identity, tokens, metadata) "
                             f"is corrupt ({e}); move {config.data_dir} aside and replace the "
                             "node from another address (--replace-address-first-boot)") from None
        first_superuser = None
        if config.auth_superuser_file:
            first_superuser = parse_superuser_file(
                Path(config.auth_superuser_file).read_text(encoding="utf-8"))
        hasher = ThreadHasher(self.node.requests, lambda: self._kick.set())
        self.executor = Executor(self.node, random.Random(seed + 1), hasher,
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
        self.admission = admission.Admission(connection_budget(config))
        self._next_conn = 0
        self.inflight_total = 0  # client requests handed to the executor, not yet answered
        self.answered_total = 0  # client requests answered since start (nodetool tpstats)
        self.mode = "STARTING"  # Cassandra's operation mode: NORMAL once serving, DRAINED...
        self._kick = asyncio.Event()
        # The highest stamp ceiling (node.clock.stamping) a finished sync covered: read from
        # storage at start, so durable. Below it, requests may leave during a sync.
        self._durable_ceiling_us = self.node.stamping.ceiling_us
        self._stopping = asyncio.Event()
        self.supervisor = Supervisor(self._fatal)
        self.exit_code = 0  # the process's: EXIT_TASK_FAILED once a background task failed
        self._refusing = False  # SIGTERM: new requests are answered Overloaded
        self._cql_server: asyncio.Server | PeekingServer | None = None
        self.metrics = (MetricsServer(self.node, config.address, config.metrics_port,
                                      self.transport.stats)
                        if config.metrics_port else None)
        if self.metrics is not None:
            self.metrics.registry.register(admission.AdmissionCollector(self.admission))
        self.admin = AdminServer(self, config.address, config.admin_port) \
            if config.admin_port else None
        if self.metrics is not None:
            self.metrics.registry.register(DiskCollector(self.disk_state))

    @property
    def kv(self) -> RocksKV:
        """The database (a new one after ``nodetool rebuild``: ``runtime.quarantine``)."""
        return self.disk.rocks

    def _disk_policy(self, policy: str) -> None:
        """disk_failure_policy stop_paranoid / die on newly found corruption."""
        if policy == "die":
            log.critical("disk_failure_policy die: exiting on corrupt storage")
            logging.shutdown()
            os._exit(3)
        log.error("disk_failure_policy stop_paranoid: closing the CQL port")
        if self._cql_server is not None:
            self._cql_server.close()
        for c in list(self.clients.values()):
            c.writer.close()

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.transport.start()
        if self.metrics is not None:
            await self.metrics.start()
        if self.admin is not None:
            await self.admin.start()
        sup = self.supervisor
        sup.start("ticker", self._ticker())
        sup.start("flusher", self._flusher())
        sup.start("serve-cql", self._serve_cql_once_joined(), forever=False)
        sup.start("verify", self.disk.verify(), forever=False)
        if self.config.commitlog_sync == "periodic":
            sup.start("periodic-sync", self._periodic_sync())
        self.node.tick()
        self._kick.set()
        await self._stopping.wait()
        log.info("node %s stopping", self.config.address)
        if not sup.failed:
            await self._finish_requests()
        self.node.fd.announce_shutdown()  # peers mark us down now, not when phi convicts us
        try:
            self._carry_out(self.node.take_ready())
        except Exception:  # a failed node still stops
            log.exception("carrying out the last batch failed")
        await self.transport.drain(limits.shutdown_announce_wait_ms / 1000)
        if self._cql_server is not None:
            self._cql_server.close()
        if self.metrics is not None:
            self.metrics.close()
        if self.admin is not None:
            self.admin.close()
        for c in list(self.clients.values()):
            c.writer.close()
        await sup.cancel_all()
        await self.disk.stop_verifying()
        if self.mode != "DRAINED":
            await self.transport.close()
        self.space.close()  # sync and close the store (a failed one: logged)

    def stop(self) -> None:
        self._stopping.set()

    def _fatal(self, task: str, exc: BaseException | None) -> None:
        """A background task failed (``runtime.supervise``): stop, exit non-zero."""
        if self.exit_code == 0:
            self.exit_code = EXIT_TASK_FAILED
            exit_watchdog(EXIT_TASK_FAILED)
        self._stopping.set()

    async def _finish_requests(self) -> None:
        """SIGTERM: stop accepting clients, give the requests in flight
        ``limits.shutdown_requests_wait_ms`` to be answered, answer the rest, and let the
        answers reach their sockets (bounded)."""
        self._refusing = True
        if self._cql_server is not None:
            self._cql_server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.shutdown_requests_wait_ms / 1000
        while self.inflight_total > 0 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self.inflight_total > 0:
            log.warning("%d client request(s) still in flight after %d ms: answered",
                        self.inflight_total, limits.shutdown_requests_wait_ms)
            self.node.requests.abandon("The node is shutting down: the request's outcome is "
                                       "unknown")
            self._kick.set()
            deadline = loop.time() + 1.0
            while self.inflight_total > 0 and loop.time() < deadline:
                await asyncio.sleep(0.01)
        for c in list(self.clients.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.writer.drain(), 1.0)
        log.info("client requests drained (%d answered since start)", self.answered_total)

    async def _serve_cql_once_joined(self) -> None:
        """Open the CQL port once the node is in the ring (node.topology), as Cassandra starts
        its native transport only after joining: a new node does not answer clients while it
        chooses its tokens and streams its ranges."""
        while self.node.topology.status in ("STARTING", "JOINING"):
            await asyncio.sleep(limits.tick_interval_ms / 1000)
        if self.disk.integrity.needs_rebuild and self.config.disk_failure_policy == "stop_paranoid":
            log.error("disk_failure_policy stop_paranoid: not serving CQL until rebuilt")
            return
        if self.client_tls is None:
            self._cql_server = await asyncio.start_server(
                self._serve_client, self.config.address, self.config.cql_port,
                reuse_address=True, backlog=limits.cql_listen_backlog)
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
        await self.space.run_blocking(self.kv.flush)
        self.storage.sync()
        self.mode = "DRAINED"
        log.info("drained")

    # ------------------------------------------------------------------ loops

    def _planted(self, point: str) -> None:
        """A test-only planted exception (``--raise-at``), counted once the node serves."""
        if self.mode == "NORMAL":
            self.node.requests.planted.reach(point)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(limits.tick_interval_ms / 1000)
            self._planted("ticker")
            try:
                self.node.tick()
            except StorageCorruption:  # recorded by the store; the node goes on (integrity)
                self.disk.caught("the node's tick")
            self.disk.tick(self.node)
            self.executor.auth.tick()
            self.space.poll()
            self._kick.set()

    async def _periodic_sync(self) -> None:
        while True:
            await asyncio.sleep(self.config.commitlog_periodic_ms / 1000)
            self._planted("periodic-sync")
            ceiling = self.node.stamping.ceiling_us
            if not await self.space.sync():  # a failure is logged; periodic mode acked already
                self._durable_ceiling_us = max(self._durable_ceiling_us, ceiling)

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._kick.wait()
            self._kick.clear()
            self._planted("flusher")
            ready = self.node.take_ready()
            crash = self.node.crash_point_reached  # reached by the calls this Ready holds
            if ready.empty() and not crash:
                continue
            if ready.wake_after_ns:
                loop.call_later(ready.wake_after_ns / 1e9,
                                self.supervisor.guard("timer", self._wake))
            sends = ready.sends
            if (ready.must_sync and self.config.commitlog_sync == "batch") \
                    or ready.must_sync_metadata:
                ceiling = self.node.stamping.ceiling_us  # above every stamp in this batch
                syncing = self.space.begin_sync()
                early, ready.sends = during_sync(sends, ceiling <= self._durable_ceiling_us,
                                                 ready.hold_prepares)
                self._send(early)  # the replicas write and sync while we do (node.effects)
                failed = await self.space.end_sync(syncing)
                if failed:  # nothing this Ready acknowledges may leave (runtime.disk_watch)
                    ready = not_durable(ready, failed)
                else:
                    self._durable_ceiling_us = max(self._durable_ceiling_us, ceiling)
            elif self.disk_state.failure:  # nor what rests on writes the failed sync left
                ready = not_durable(ready, self.disk_state.failure)
            self._carry_out(ready)
            if crash:
                await self._crash(sends, crash)

    def _wake(self) -> None:
        """A timer the node asked for (``Ready.wake_after_ns``)."""
        self.node.tick()
        self._kick.set()

    async def _crash(self, sends: list[tuple[str, Envelope]], point: str) -> None:
        """A test-only crash point (``--crash-point``) was reached: let this Ready's messages
        reach the kernel (bounded wait), then die as kill -9 would."""
        loop = asyncio.get_running_loop()
        peers = {address for address, _ in sends}
        deadline = loop.time() + 1.0
        while any(self.transport.queued(a) for a in peers) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)  # the peer writer tasks' last write
        log.warning("crash point %s reached: SIGKILL (test option --crash-point)", point)
        os.kill(os.getpid(), signal.SIGKILL)

    def _send(self, sends: list[tuple[str, Envelope]]) -> None:
        if self.mode in ("DRAINING", "DRAINED"):
            return
        send = self.transport.send
        for address, env in sends:
            if not send(address, env):
                log.debug("internode queue to %s full; message dropped", address)

    def _carry_out(self, ready: Ready) -> None:
        self._send(ready.sends)
        if ready.replies:
            # one write per connection for all of this batch's answers (not one per answer)
            out: dict[int, tuple[ClientConn, list[bytes]]] = {}
            for r in ready.replies:
                self._reply(r, out)
            for conn, frames in out.values():
                conn.writer.write(frames[0] if len(frames) == 1 else b"".join(frames))
                if conn.flow is not None:
                    conn.flow.replied(frames)
        for e in ready.events:
            self._push_event(e)

    # ------------------------------------------------------------------ internode

    def _locate_peer(self, address: str) -> tuple[str, str] | None:
        """A peer's (dc, rack) as gossip knows it (internode_encryption dc/rack)."""
        peer = self.node.membership.peers.get(address)
        return None if peer is None else (peer.state.dc, peer.state.rack)

    def _on_peer_message(self, sender: str, env: messages.Envelope) -> None:
        try:
            self.node.peer_message(sender, env)
        except StorageCorruption:  # recorded by the store; the node goes on (integrity)
            self.disk.caught(f"a {type(env.message).__name__} message")
        self._kick.set()

    # ------------------------------------------------------------------ CQL clients

    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        decision = self.admission.decide(_peer_address(writer), asyncio.get_running_loop().time())
        if isinstance(decision, admission.Dropped):
            writer.close()
            return
        self._next_conn += 1
        conn = ClientConn(self._next_conn, ServerConnection(), writer,
                          peer=_peer_address(writer))
        auth = self.executor.auth.required  # a client that never authenticates frees its slot
        flow = conn.flow = admission.ConnFlow(
            self.admission, conn.peer, decision, writer, kick=self._kick.set,
            is_ready=lambda: conn.protocol.state is ConnState.READY,
            inflight=lambda: conn.inflight, auth_required=auth,
            handshake_ms=limits.auth_handshake_ms if auth else limits.cql_handshake_ms,
            idle_timeout_ms=self.config.native_transport_idle_timeout_in_ms)
        self.clients[conn.conn_id] = conn
        peer = writer.get_extra_info("peername")
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.executor.client_clocks.connected(conn.conn_id, address)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                flow.touch()
                if not self._on_client_data(conn, data):
                    break
                if not await flow.until_readable(lambda ev: self._on_request(conn, ev)):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            flow.release()
            self.clients.pop(conn.conn_id, None)
            self.executor.client_clocks.closed(conn.conn_id)
            self.executor.auth.closed(conn.conn_id)
            with contextlib.suppress(Exception):
                writer.close()

    def _on_client_data(self, conn: ClientConn, data: bytes) -> bool:
        """Handle bytes from a client: its requests wait in ``conn.flow.pending`` until
        ``until_readable`` dispatches them; False when the connection must close."""
        assert conn.flow is not None
        for ev in conn.protocol.receive_data(data):
            if isinstance(ev, ProtocolViolation):
                conn.writer.write(ev.error)
                if ev.close:
                    return False
                continue
            assert isinstance(ev, RequestReceived)
            if conn.flow.refusal is not None:  # over a connection limit: say so, then close
                conn.writer.write(conn.protocol.send_response(
                    ev.stream, response_for(Overloaded(conn.flow.refusal))))
                return False
            conn.flow.pending.append(ev)
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
        elif self.inflight_total >= limits.cql_requests_inflight_max or self._refusing:
            # Bounded backpressure: answer at once rather than queue (Cassandra's wording).
            body = response_for(Overloaded(
                SHUTTING_DOWN_MESSAGE if self._refusing else OVERLOADED_MESSAGE))
            conn.writer.write(conn.protocol.send_response(ev.stream, body))
        else:
            conn.inflight += 1
            self.inflight_total += 1
            client = conn.peer if ev.tracing else ""
            # its deadline and its one reply (node.requests); an exception is its ServerError
            entry = self.node.requests.open_request(
                conn.conn_id, ev.stream, "auth" if isinstance(req, proto.AuthResponse)
                else "request")

            def call() -> None:
                request_to_call(self.executor, conn.conn_id, ev.stream, req, conn.keyspace,
                                ev.custom_payload, ev.tracing, client)
                self._kick.set()
            long_texts = parse_slices.texts_to_slice(req)
            if long_texts is None:
                self.node.requests.run(entry, call)
                return
            # parsed a slice per turn of the loop, then handed over; each continuation runs
            # in the request's context (node.requests.bind): an exception is its reply
            self.node.requests.run(entry, lambda: parse_slices.run(
                long_texts, self.node.requests.bind(lambda outcomes: self._preflight(
                    conn, ev.stream, req, outcomes, call))))

    def _preflight(self, conn: ClientConn, stream: int, req: proto.Request,
                   outcomes: parse_slices.Outcomes, call: Callable[[], None]) -> None:
        """A long BATCH's size measured in slices first (node.batch_preflight); then ``call``
        (under the parse outcomes handed over), or its "Batch too large" answered at once.
        Runs in the request's context (``node.requests.bind``)."""
        if not isinstance(req, proto.Batch):
            with cql_parser.handed_over(outcomes):
                call()
            return
        entries = [(e.statement, e.values) for e in req.entries]
        check = BatchPreflight(self.executor, entries, req.keyspace or conn.keyspace, outcomes)
        failed: list[Exception] = []

        def step() -> bool:
            try:
                return check.step()
            except Exception as e:  # answered by ``measured``, in the request's context
                failed.append(e)
                return True

        def measured() -> None:
            if failed:
                raise failed[0]
            if check.error is not None:
                self.node.reply_error(conn.conn_id, stream, check.error)
                self._kick.set()
                return
            with cql_parser.handed_over(outcomes):
                call()
        parse_slices.drive(step, self.node.requests.bind(measured))

    def _reply(self, r: Reply, out: dict[int, tuple[ClientConn, list[bytes]]]) -> None:
        """Encode the answer ``r`` into ``out`` (per connection: its answers' frames, in order),
        which ``_carry_out`` writes."""
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
            error_id = self.node.requests.new_error_id()
            log.exception("internal error (error id %s) encoding the answer to stream %d",
                          error_id, r.stream)
            data = conn.protocol.send_response(r.stream, response_for(ServerError(
                f"Internal error (error id {error_id}) encoding the response: "
                f"{type(e).__name__}: {e}")))
        pending = out.get(r.conn)
        if pending is None:
            out[r.conn] = (conn, [data])
        else:
            pending[1].append(data)

    def _push_event(self, e: ClusterEvent) -> None:
        for conn in self.clients.values():
            if e.kind in conn.registered:
                conn.writer.write(conn.protocol.send_event(event_frame(e)))


def _peer_address(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


OVERLOADED_MESSAGE = "Server is in overloaded state. Cannot accept more requests at this point"
SHUTTING_DOWN_MESSAGE = "The node is shutting down. Cannot accept more requests at this point"
SUPPORTED = {"CQL_VERSION": ["3.4.7"], "COMPRESSION": ["lz4"],
             "PROTOCOL_VERSIONS": [f"{v}/v{v}" for v in proto.VERSIONS]}


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

    async def main() -> int:
        server = NodeServer(config, secret)
        # What exists now (modules, grammar tables, the opened store) lives as long as the
        # process: out of the collector's full passes, which otherwise walk it all each time
        # (hundreds of milliseconds of the loop on a busy machine; issue 15).
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.run()
        return server.exit_code

    code = uvloop.run(main())
    if code:
        log.critical("node %s stopped after an internal error (exit code %d)", config.address,
                     code)
        raise SystemExit(code)
