"""Internode authentication against real node processes (runtime.internode_auth, transport).

A default cluster (``skewless cluster start``'s secret) refuses an outsider that connects to its
internode port and names itself a node: with an old-style handshake, or a new-style one made
without the secret, its mutation, schema (metadata log) message, gossip heartbeat and read
request are refused, nothing is applied, the address it named is never dialled, and
``skewless_internode_refused_total`` counts each refusal. Frames captured from a real
authenticated peer (a ``Transport`` holding the cluster secret, talking to node 1 through a
recording proxy in this test) cannot be replayed, on their connection or another, nor altered.
A peer holding the secret is served throughout (the positive control: the same crafted
mutation is applied when it comes authenticated).
"""

from __future__ import annotations

import asyncio
import os
import random
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import msgpack
import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.query import SimpleStatement
from conftest import INTERNODE_PORT, LocalCluster

from skewless.node import messages
from skewless.node.metadata.entries import DdlEntry, encode_entry
from skewless.runtime import internode_auth as auth
from skewless.runtime.cluster import (
    SECRET_FILE,
    ensure_cluster_secret,
    node_argv,
    suite_port_offset,
)
from skewless.runtime.internode_auth import Hello
from skewless.runtime.realclock import RealClock
from skewless.runtime.transport import Transport, batch_payload
from skewless.storage import codec
from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row

pytestmark = pytest.mark.timeout(300)

METRICS_PORT = 19800 + suite_port_offset()
OUTSIDER_HOST = "127.0.0.7"  # where the outsider says it listens (the test listens there)
PROXY_HOST = "127.0.0.8"
TESTER_HOST = "127.0.0.9"  # a legitimate peer (it holds the cluster secret)
WRONG_SECRET = b"not-the-cluster-secret-0123456789"
NOT_DIALLED_WAIT_S = 4.0
T = TypeVar("T")


# --- helpers ---------------------------------------------------------------------------------


def refused(address: str) -> dict[str, float]:
    url = f"http://{address}:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test node
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("skewless_internode_refused_total{"):
            label, value = line.rsplit(" ", 1)
            out[label.split('reason="')[1].split('"')[0]] = float(value)
    assert set(out) == set(auth.REASONS), text
    return out


def wait_refused(address: str, want: dict[str, float], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    got = refused(address)
    while time.monotonic() < deadline:
        got = refused(address)
        if all(got[r] >= n for r, n in want.items()):
            break
        time.sleep(0.1)
    assert {r: got[r] for r in want} == want, got


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def now_us() -> int:
    return time.time_ns() // 1000


def table_id(s: Session) -> str:
    row = s.execute("SELECT id FROM system_schema.tables "
                    "WHERE keyspace_name = 'ks' AND table_name = 't'").one()
    return str(row.id.hex)


def mutation(table: str, k: int, value: str) -> messages.Envelope:
    ts = now_us()
    row = Row(b"", marker=Cell(ts, b""),
              cells=(CellWrite("v", b"", Cell(ts, value.encode())),))
    update = PartitionUpdate(table, k.to_bytes(4, "big", signed=True), rows=(row,))
    return messages.Envelope(ts, messages.MutationRequest(random.randrange(1 << 30),
                                                          codec.encode_update(update), False))


def forged_messages(table: str, named: str, k: int) -> list[bytes]:
    """A mutation, a schema change (metadata log commit), a heartbeat naming ``named`` and a
    read request, encoded as a node would."""
    ddl = DdlEntry(uuid.uuid4().bytes, "CREATE KEYSPACE forged WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}", None, bytes(16), 0,
                   ("datacenter1",))
    beat = messages.Heartbeat(named, str(uuid.uuid4()), now_us(), 1, "datacenter1", "rack1",
                              (12345,), 9042, "", 0, (named,), 0, "NORMAL", "Skewless Cluster")
    read = messages.ReadRequest(7, table, k.to_bytes(4, "big", signed=True), (), False, 0, False)
    return [batch_payload([messages.encode(e)]) for e in (
        mutation(table, k, "forged"),
        messages.Envelope(now_us(), messages.MetaCommit(1, encode_entry(ddl))),
        messages.Envelope(now_us(), messages.MetaCommit(1000, encode_entry(ddl))),
        messages.Envelope(now_us(), beat),
        messages.Envelope(now_us(), read),
    )]


def read_all(s: Session, k: int) -> str | None:
    stmt = SimpleStatement("SELECT v FROM ks.t WHERE k = %s",
                           consistency_level=ConsistencyLevel.ALL)
    row = s.execute(stmt, (k,)).one()
    return None if row is None else str(row.v)


def closed_by_peer(sock: socket.socket, timeout_s: float = 5.0) -> bool:
    sock.settimeout(timeout_s)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def read_frame(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4 - len(buf))
        assert chunk, "closed inside a frame header"
        buf += chunk
    n = int.from_bytes(buf, "big")
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        assert chunk, "closed inside a frame"
        body += chunk
    return body


class Loop:
    """An event loop in a thread, for the transports and the proxy while the driver blocks."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrap() -> T:
            return fn()
        return self.run(wrap())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def listener(host: str) -> socket.socket:
    s = socket.socket()
    s.bind((host, 0))
    s.listen(16)
    return s


def assert_never_dialled(lsock: socket.socket, wait_s: float = NOT_DIALLED_WAIT_S) -> None:
    ready, _, _ = select.select([lsock], [], [], wait_s)
    assert not ready, f"a node connected to {lsock.getsockname()}, which only an outsider named"


def three_nodes(cluster_factory: Callable[..., LocalCluster], *extra: str
                ) -> tuple[LocalCluster, Session, str]:
    c = cluster_factory(3, extra=[["--metrics-port", str(METRICS_PORT), *extra]] * 3)
    s = c.session()
    s.execute("CREATE KEYSPACE ks WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
    return c, s, table_id(s)


# --- the forged-peer attack -------------------------------------------------------------------


def test_an_outsider_is_refused_and_nothing_is_applied_or_dialled(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path) -> None:
    c, s, table = three_nodes(cluster_factory)
    lsock = listener(OUTSIDER_HOST)
    named_port = lsock.getsockname()[1]
    named = f"{OUTSIDER_HOST}:{named_port}"
    keyspaces_before = {r.keyspace_name for r in s.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces")}
    try:
        for i, node in enumerate(c.nodes):
            assert refused(node.address) == dict.fromkeys(auth.REASONS, 0.0)
            k = 100 + i
            forged = forged_messages(table, named, k)
            # 1. An old-style (version 1, unauthenticated) handshake, then the messages.
            with socket.create_connection((node.address, INTERNODE_PORT), timeout=5,
                                          source_address=(OUTSIDER_HOST, 0)) as sock:
                sock.sendall(frame(msgpack.packb(
                    ["skewless-internode", 1, "evil", OUTSIDER_HOST, named_port]))
                    + b"".join(frame(m) for m in forged))
                assert closed_by_peer(sock)
            # 2. A new-style handshake made without the cluster secret: a proof under another
            # secret, then the messages MACed under the session key that secret would give.
            with socket.create_connection((node.address, INTERNODE_PORT), timeout=5,
                                          source_address=(OUTSIDER_HOST, 0)) as sock:
                ours = Hello("evil", OUTSIDER_HOST, named_port, auth.SCHEME_SECRET,
                             os.urandom(auth.NONCE_BYTES))
                sock.sendall(frame(auth.encode_hello(ours)))
                theirs = auth.parse_hello(read_frame(sock))
                assert theirs.scheme == auth.SCHEME_SECRET and theirs.proof
                sealer = auth.FrameSealer(auth.session_key(WRONG_SECRET, ours.nonce,
                                                           theirs.nonce), client=True)
                sock.sendall(frame(auth.encode_proof(auth.proof(WRONG_SECRET, "client", ours,
                                                                theirs)))
                             + b"".join(frame(sealer.seal(m)) for m in forged))
                assert closed_by_peer(sock)
            # 3. No proof at all: the messages right after the new-style hello.
            with socket.create_connection((node.address, INTERNODE_PORT), timeout=5,
                                          source_address=(OUTSIDER_HOST, 0)) as sock:
                sock.sendall(frame(auth.encode_hello(ours))
                             + b"".join(frame(m) for m in forged))
                assert closed_by_peer(sock)
            # 4. Garbage.
            with socket.create_connection((node.address, INTERNODE_PORT), timeout=5,
                                          source_address=(OUTSIDER_HOST, 0)) as sock:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                assert closed_by_peer(sock)
            # 3. and 4. are garbage: a frame of messages where the proof is due is not msgpack
            wait_refused(node.address, {auth.UNAUTHENTICATED: 1, auth.WRONG_SECRET: 1,
                                        auth.BAD_HANDSHAKE: 0, auth.GARBAGE: 2, auth.BAD_MAC: 0,
                                        auth.REPLAY: 0})
            log = node.log_path.read_text(errors="replace")
            assert "refused 127.0.0.7 (wrong_secret)" in log, node.log_tail()
        assert_never_dialled(lsock)
        for i in range(len(c.nodes)):
            assert read_all(s, 100 + i) is None
        keyspaces_after = {r.keyspace_name for r in s.execute(
            "SELECT keyspace_name FROM system_schema.keyspaces")}
        assert keyspaces_after == keyspaces_before and "forged" not in keyspaces_after
        status = {r.address for r in s.execute("SELECT * FROM system.skewless_status")}
        assert status == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}, status
        # The cluster serves on: a write and a read at ALL.
        s.execute(SimpleStatement("INSERT INTO ks.t (k, v) VALUES (1, 'fine')",
                                  consistency_level=ConsistencyLevel.ALL))
        assert read_all(s, 1) == "fine"

        # The positive control: the same crafted mutation from a peer holding the secret is
        # applied (and that peer, unlike the outsider, is answered: dialled back).
        secret = auth.parse_secret((tmp_path / SECRET_FILE).read_bytes(), SECRET_FILE)
        loop = Loop()
        got: list[tuple[str, messages.Envelope]] = []
        tester: Transport[messages.Envelope] = Transport(
            "tester", TESTER_HOST, 0, lambda sender, m: got.append((sender, m)), None,
            RealClock(), encode=messages.encode, decode=messages.decode, secret=secret)
        try:
            loop.run(tester.start())
            env = mutation(table, 100, "authenticated")
            assert loop.call(lambda: tester.send(f"127.0.0.1:{INTERNODE_PORT}", env))
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [type(m.message) for _, m in got] == [messages.MutationResponse]
            assert read_all(s, 100) == "authenticated"
        finally:
            loop.run(tester.close())
            loop.close()
    finally:
        lsock.close()


def test_with_authentication_off_the_same_outsider_gets_in(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """What the default prevents (and so that the test above can fail): with
    AllowAllInternodeAuthenticator the outsider's mutation is applied and the address it named
    is dialled back."""
    c, s, table = three_nodes(cluster_factory, "--internode-authenticator",
                              "AllowAllInternodeAuthenticator")
    lsock = listener(OUTSIDER_HOST)
    named_port = lsock.getsockname()[1]
    try:
        with socket.create_connection((c.nodes[0].address, INTERNODE_PORT), timeout=5,
                                      source_address=(OUTSIDER_HOST, 0)) as sock:
            ours = Hello("evil", OUTSIDER_HOST, named_port, auth.SCHEME_NONE, b"")
            sock.sendall(frame(auth.encode_hello(ours)))
            assert auth.parse_hello(read_frame(sock)).scheme == auth.SCHEME_NONE
            sock.sendall(frame(batch_payload([messages.encode(mutation(table, 100, "forged"))])))
            ready, _, _ = select.select([lsock], [], [], 10)
            assert ready, "the node did not answer the outsider"
            lsock.accept()[0].close()
        assert read_all(s, 100) == "forged"
        assert "internode authentication is off" in c.nodes[0].log_path.read_text()
    finally:
        lsock.close()


# --- replayed and tampered frames captured from a real peer -----------------------------------


class RecordingProxy:
    """Forwards connections to ``target``; the connecting side's frames are recorded and, by
    ``mode``, forwarded, dropped, altered or forwarded twice."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"  # forward | replay | tamper | drop
        self.tamper_marker = b""
        self.captured: list[list[bytes]] = []  # per connection: every frame the client sent
        self.dropped: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, PROXY_HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        frames: list[bytes] = []
        self.captured.append(frames)

        async def downstream() -> None:
            with_data = True
            while with_data:
                data = await up_reader.read(65536)
                with_data = bool(data)
                writer.write(data)
            writer.close()

        down = asyncio.get_running_loop().create_task(downstream())
        try:
            while True:
                header = await reader.readexactly(4)
                body = await reader.readexactly(int.from_bytes(header, "big"))
                frames.append(body)
                data_frame = len(frames) > 2  # after the hello and the proof
                out = [body]
                if data_frame and self.mode == "replay":
                    out = [body, body]
                    self.mode = "forward"
                elif data_frame and self.mode == "tamper":
                    at = body.index(self.tamper_marker)
                    altered = bytearray(body)
                    altered[at] ^= 0x01
                    out = [bytes(altered)]
                    self.mode = "forward"
                elif data_frame and self.mode == "drop":
                    self.dropped.append(body)
                    self.mode = "forward"
                    break  # end this connection: the sender reconnects
                up_writer.write(b"".join(frame(b) for b in out))
                await up_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()
            writer.close()
            down.cancel()


def test_captured_frames_cannot_be_replayed_or_altered(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path) -> None:
    c, s, table = three_nodes(cluster_factory)
    node1 = c.nodes[0].address
    secret = auth.parse_secret((tmp_path / SECRET_FILE).read_bytes(), SECRET_FILE)
    loop = Loop()
    got: list[messages.Envelope] = []
    tester: Transport[messages.Envelope] = Transport(
        "tester", TESTER_HOST, 0, lambda sender, m: got.append(m), None, RealClock(),
        encode=messages.encode, decode=messages.decode, secret=secret,
        reconnect_delay_ms_min=10, reconnect_delay_ms_max=50)
    proxy = RecordingProxy((node1, INTERNODE_PORT))

    def send_and_wait(k: int, value: str, answered: bool) -> None:
        before = len(got)
        assert loop.call(lambda: tester.send(f"{PROXY_HOST}:{proxy.port}",
                                             mutation(table, k, value)))
        deadline = time.monotonic() + (10 if answered else 2)
        while len(got) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (len(got) > before) == answered, (k, value)

    try:
        loop.run(tester.start())
        loop.run(proxy.start())
        send_and_wait(1, "one", answered=True)  # forwarded: applied and answered
        assert read_all(s, 1) == "one"
        # Replayed on its own connection: applied once, the copy refused.
        proxy.mode = "replay"
        send_and_wait(3, "three", answered=True)
        wait_refused(node1, {auth.REPLAY: 1})
        # Altered in flight (one bit of the value): refused, not applied.
        proxy.mode, proxy.tamper_marker = "tamper", b"four"
        send_and_wait(4, "four", answered=False)
        wait_refused(node1, {auth.BAD_MAC: 1})
        # Captured, never delivered, then replayed on a new authenticated connection.
        proxy.mode = "drop"
        send_and_wait(2, "two", answered=False)
        (captured,) = proxy.dropped
        assert b"two" in captured
        with socket.create_connection((node1, INTERNODE_PORT), timeout=5,
                                      source_address=(TESTER_HOST, 0)) as sock:
            ours = Hello("tester", TESTER_HOST, 9, auth.SCHEME_SECRET,
                         os.urandom(auth.NONCE_BYTES))
            sock.sendall(frame(auth.encode_hello(ours)))
            theirs = auth.parse_hello(read_frame(sock))
            auth.check_proof(secret, "server", ours, theirs, theirs.proof)
            sock.sendall(frame(auth.encode_proof(auth.proof(secret, "client", ours, theirs)))
                         + frame(captured))
            assert closed_by_peer(sock)
        wait_refused(node1, {auth.BAD_MAC: 2})
        # The whole captured connection (hello, proof, frame) replayed from its first byte:
        # the node's fresh nonce makes the old proof worthless.
        hello, proof = next(conn for conn in proxy.captured if captured in conn)[:2]
        with socket.create_connection((node1, INTERNODE_PORT), timeout=5,
                                      source_address=(TESTER_HOST, 0)) as sock:
            sock.sendall(frame(hello) + frame(proof) + frame(captured))
            assert closed_by_peer(sock)
        wait_refused(node1, {auth.WRONG_SECRET: 1})
        # The node served on, and the peer with the secret still gets through.
        send_and_wait(5, "five", answered=True)
        assert [read_all(s, k) for k in (1, 2, 3, 4, 5)] == ["one", None, "three", None, "five"]
        assert refused(node1) == {**dict.fromkeys(auth.REASONS, 0.0), auth.REPLAY: 1.0,
                                  auth.BAD_MAC: 2.0, auth.WRONG_SECRET: 1.0}
        for other in c.nodes[1:]:
            assert refused(other.address) == dict.fromkeys(auth.REASONS, 0.0)
    finally:
        loop.run(proxy.close())
        loop.run(tester.close())
        loop.close()


# --- the secret file ---------------------------------------------------------------------------


def node_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skewless.cli", "node", "--address", "127.0.0.1",
         "--data-dir", str(tmp_path / "node"), "--cql-port", "1", "--internode-port", "2",
         "--admin-port", "0", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_the_cluster_secret_is_private_and_a_node_without_one_does_not_start(
        tmp_path: Path) -> None:
    path = ensure_cluster_secret(tmp_path)
    text = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(text.strip()) == 64 and int(text, 16) > 0
    assert ensure_cluster_secret(tmp_path).read_text() == text  # made once
    argv = node_argv(4, tmp_path / "node4", seeds=["127.0.0.1"], cql_port=1, internode_port=2)
    assert argv[argv.index("--internode-secret-file") + 1] == str(path.resolve())

    r = node_cli(tmp_path)  # the default authenticator, no secret file
    assert r.returncode != 0 and "no internode_secret_file is set" in r.stderr, r.stderr
    short = tmp_path / "short"
    short.write_text("tooshort\n")
    r = node_cli(tmp_path, "--internode-secret-file", str(short))
    assert r.returncode != 0 and "at least 16" in r.stderr, r.stderr
    r = node_cli(tmp_path, "--internode-secret-file", str(tmp_path / "missing"))
    assert r.returncode != 0 and "cannot read" in r.stderr, r.stderr
    r = node_cli(tmp_path, "--internode-authenticator", "PasswordAuthenticator")
    assert r.returncode == 2 and "internode_authenticator: must be one of" in r.stderr, r.stderr
    assert not (tmp_path / "node").exists() or not any((tmp_path / "node").iterdir())
