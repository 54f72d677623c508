"""Connection admission against real nodes (issue 15, runtime.admission): a flood of idle
connections, the per-address limit, the handshake deadline, the idle timeout, and clients that
pipeline requests without reading their answers. Abusive clients are raw sockets bound to
their own loopback addresses (127.0.0.101...), so the canary (the stock driver, from 127.0.0.1)
is a different client address; every socket is closed and every node stopped by the test."""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cassandra.cluster import Cluster, DefaultConnection, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy
from conftest import CQL_PORT, LocalCluster

from skewless import limits
from skewless.runtime.cluster import suite_port_offset

METRICS_PORT = 19900 + suite_port_offset()
FLOOD_CONNECTIONS = 10_000
FLOOD_ADDRESSES = [f"127.0.0.{101 + i}" for i in range(10)]  # 1,000 each: under the per-IP limit


# ------------------------------------------------------------------ raw native protocol v4


def _frame(stream: int, opcode: int, body: bytes) -> bytes:
    return struct.pack(">BBhBI", 4, 0, stream, opcode, len(body)) + body


def _string(v: str) -> bytes:
    return struct.pack(">H", len(v)) + v.encode()


STARTUP = _frame(0, 0x01, struct.pack(">H", 1) + _string("CQL_VERSION") + _string("3.0.0"))
OPTIONS = _frame(0, 0x05, b"")


def _query(stream: int, cql: str) -> bytes:
    q = cql.encode()
    return _frame(stream, 0x07, struct.pack(">I", len(q)) + q + struct.pack(">HB", 0x0001, 0))


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """(opcode, body) of the next frame; raises ConnectionError when the node closed."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the node")
            data += chunk
        return data
    head = exactly(9)
    return head[4], exactly(struct.unpack(">I", head[5:9])[0])


def _error(body: bytes) -> tuple[int, str]:
    code, n = struct.unpack(">iH", body[:6])
    return code, body[6:6 + n].decode()


def _connect(source: str, node: str, timeout_s: float = 10.0) -> socket.socket:
    s = socket.socket()
    s.settimeout(timeout_s)
    s.bind((source, 0))
    s.connect((node, CQL_PORT))
    return s


def _closed_within(sock: socket.socket, timeout_s: float) -> float | None:
    """Seconds until the node closes ``sock`` (reading and dropping what it sends), or None."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < timeout_s:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def _is_open(sock: socket.socket) -> bool:
    """No EOF and no reset waiting on ``sock`` (what the node sent is dropped)."""
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(65536):
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard RLIMIT_NOFILE ({hard}) is below the {needed} descriptors this "
                    f"test needs (ulimit -Hn)")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * needed), hard))


@contextlib.contextmanager
def _sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    try:
        yield made
    finally:
        for s in made:
            s.close()


def _node_log(c: LocalCluster) -> str:
    return c.nodes[0].log_path.read_text(errors="replace")


def _metrics(address: str) -> dict[str, float]:
    url = f"http://{address}:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test node
        text = resp.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith("skewless_cql_connections")}


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _BoundConnection(DefaultConnection):  # type: ignore[misc, valid-type]
    """The stock driver's connection, from a chosen source address (``source``)."""

    source = "127.0.0.1"

    def _initiate_connection(self, sockaddr: Any) -> None:
        self._socket.bind((self.source, 0))
        super()._initiate_connection(sockaddr)


def _driver_from(source: str, node: str) -> Cluster:
    bound = type("Bound", (_BoundConnection,), {"source": source})
    return Cluster([node], port=CQL_PORT, connection_class=bound, connect_timeout=10,
                   load_balancing_policy=WhiteListRoundRobinPolicy([node]))


# ------------------------------------------------------------------ tests


def test_ten_thousand_idle_connections_leave_room_for_a_driver(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """10,000 connections that did their STARTUP and then sit idle (10 client addresses, 1,000
    each, under the per-address default): the node holds them all, and a new stock driver
    connects and queries at once."""
    _raise_fd_limit(FLOOD_CONNECTIONS + 1000)
    c = cluster_factory(1)
    node = c.nodes[0].address
    rss_before = _rss_kib(c.nodes[0].pid)
    with _sockets() as flood:
        started = time.monotonic()
        for i in range(FLOOD_CONNECTIONS):
            s = _connect(FLOOD_ADDRESSES[i % len(FLOOD_ADDRESSES)], node)
            s.sendall(STARTUP)
            flood.append(s)
        opened_s = time.monotonic() - started
        ready = _read_all_ready(flood, timeout_s=60)
        ready_s = time.monotonic() - started
        assert ready == FLOOD_CONNECTIONS
        rss_after = _rss_kib(c.nodes[0].pid)
        started = time.monotonic()
        cluster = Cluster([node], port=CQL_PORT, connect_timeout=10,
                          load_balancing_policy=WhiteListRoundRobinPolicy([node]))
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            connect_s = time.monotonic() - started
        finally:
            cluster.shutdown()
        still_open = sum(1 for s in flood if _is_open(s))
    print(f"\n{FLOOD_CONNECTIONS} connections opened in {opened_s:.2f} s, all READY after "
          f"{ready_s:.2f} s; node RSS {rss_before // 1024} -> {rss_after // 1024} MiB "
          f"({(rss_after - rss_before) * 1024 // FLOOD_CONNECTIONS} bytes a connection); a new "
          f"driver connected and queried in {connect_s * 1000:.0f} ms; {still_open} still open")
    assert row.release_version
    assert connect_s < 10.0, connect_s  # must-show 1 s, on an idle machine (printed above)
    assert still_open == FLOOD_CONNECTIONS


def test_ten_thousand_connections_from_one_address_are_held_to_its_share(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """10,000 connections from one address (each sending its STARTUP) with the default limits:
    1,024 (native_transport_max_concurrent_connections_per_ip) are admitted, the others are
    answered Overloaded or, beyond the refused connections that may wait for an answer, closed
    at once; the stock driver from another address connects and queries meanwhile."""
    _raise_fd_limit(FLOOD_CONNECTIONS + 1000)
    c = cluster_factory(1)
    node = c.nodes[0].address
    abuser = "127.0.0.119"
    with _sockets() as flood:
        started = time.monotonic()
        for _ in range(FLOOD_CONNECTIONS):
            s = _connect(abuser, node)
            with contextlib.suppress(OSError):  # closed by the node already
                s.sendall(STARTUP)
            flood.append(s)
        opened_s = time.monotonic() - started
        started = time.monotonic()
        cluster = Cluster([node], port=CQL_PORT, connect_timeout=10,
                          load_balancing_policy=WhiteListRoundRobinPolicy([node]))
        try:
            row = cluster.connect().execute("SELECT release_version FROM system.local").one()
            connect_s = time.monotonic() - started
        finally:
            cluster.shutdown()
        deadline = time.monotonic() + 20
        while True:  # the refused ones are answered, then closed (2 s at most for each)
            still_open = sum(1 for s in flood if _is_open(s))
            if still_open <= limits.cql_connections_per_ip_default \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    print(f"\n{FLOOD_CONNECTIONS} connections from {abuser} opened in {opened_s:.2f} s, "
          f"{still_open} kept by the node; a driver from 127.0.0.1 connected and queried in "
          f"{connect_s * 1000:.0f} ms")
    assert row.release_version
    assert still_open == limits.cql_connections_per_ip_default
    assert connect_s < 10.0, connect_s
    log = _node_log(c)
    assert "Exceeded maximum native connection limit per ip of 1024 by using 1025" in log
    assert "Traceback" not in log


def _read_all_ready(socks: list[socket.socket], timeout_s: float) -> int:
    """Read each socket's answer to STARTUP (READY, 9 bytes); how many got it."""
    sel = selectors.DefaultSelector()
    got: dict[int, bytes] = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    ready = 0
    deadline = time.monotonic() + timeout_s
    try:
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                i = key.data
                s = socks[i]
                data = got.get(i, b"") + s.recv(9 - len(got.get(i, b"")))
                got[i] = data
                if len(data) == 9 or not data:
                    sel.unregister(s)
                    if len(data) == 9 and data[4] == 0x02:  # READY
                        ready += 1
    finally:
        sel.close()
    return ready


def test_per_address_limit_refuses_the_abuser_with_a_clear_error(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """native_transport_max_concurrent_connections_per_ip = 8: the abuser's (127.0.0.120)
    ninth connection is answered Overloaded naming the limit and closed, the stock driver from
    that address shows that error, and the canary (127.0.0.1) still connects."""
    per_ip = 8
    c = cluster_factory(1, [["--native-transport-max-concurrent-connections-per-ip",
                             str(per_ip), "--metrics-port", str(METRICS_PORT)]])
    node = c.nodes[0].address
    abuser = "127.0.0.120"
    with _sockets() as held:
        for _ in range(per_ip):
            s = _connect(abuser, node)
            s.sendall(OPTIONS)
            assert _read_frame(s)[0] == 0x06  # SUPPORTED: admitted
            held.append(s)
        extra = _connect(abuser, node)
        held.append(extra)
        extra.sendall(OPTIONS)
        opcode, body = _read_frame(extra)
        assert opcode == 0x00  # ERROR
        code, message = _error(body)
        assert code == 0x1001, (hex(code), message)  # Overloaded
        assert message == (f"Too many connections from {abuser}: this node accepts at most "
                           f"{per_ip} client connections per address "
                           f"(native_transport_max_concurrent_connections_per_ip)")
        assert _closed_within(extra, 5.0) is not None
        silent = _connect(abuser, node)  # refused and silent: closed after the answer wait
        held.append(silent)
        waited = _closed_within(silent, 10.0)
        assert waited is not None and waited < 2 * limits.cql_refusal_answer_wait_ms / 1000
        driver = _driver_from(abuser, node)
        try:
            with pytest.raises(NoHostAvailable) as refused:
                driver.connect()
        finally:
            driver.shutdown()
        shown = str(refused.value)
        print(f"\nthe stock driver from {abuser} is told: {shown}")
        assert f"Too many connections from {abuser}" in shown
        assert "native_transport_max_concurrent_connections_per_ip" in shown
        canary = c.session_to(node)
        assert canary.execute("SELECT release_version FROM system.local").one()
        assert all(_is_open(s) for s in held[:per_ip])  # the admitted ones were kept
        metrics = _metrics(node)
    print(f"metrics: {metrics}")
    assert metrics["skewless_cql_connections_refused_total"] >= 3  # extra, silent, the driver
    assert metrics["skewless_cql_connections"] >= per_ip + 1  # the abuser's and the canary's
    assert 0 < metrics["skewless_cql_connections_max"] <= limits.cql_connections_default
    log = _node_log(c)
    assert f"Exceeded maximum native connection limit per ip of {per_ip}" in log
    assert "Traceback" not in log


def test_slow_handshake_dropped_at_deadline_and_idle_connection_at_idle_timeout(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """A client sending its STARTUP one byte a second is closed at the handshake deadline
    (limits.cql_handshake_ms); a READY connection that sends nothing is closed at
    native_transport_idle_timeout_in_ms (2 s here), one that keeps sending OPTIONS is not.
    Then the node-wide limit (native_transport_max_concurrent_connections = 12 here): the
    connection over it is answered Overloaded naming it."""
    idle_ms = 2000
    node_max = 12
    c = cluster_factory(1, [["--native-transport-idle-timeout-in-ms", str(idle_ms),
                             "--native-transport-max-concurrent-connections", str(node_max)]])
    node = c.nodes[0].address
    deadline_s = limits.cql_handshake_ms / 1000
    with _sockets() as held:
        slow = _connect("127.0.0.121", node)
        idle = _connect("127.0.0.122", node)
        busy = _connect("127.0.0.123", node)
        held += [slow, idle, busy]
        for s in (idle, busy):
            s.sendall(STARTUP)
            assert _read_frame(s)[0] == 0x02  # READY
        idle_started = time.monotonic()
        idle_closed: float | None = None
        busy_answers = 0
        started = time.monotonic()
        slow_closed: float | None = None
        sent = 0
        slow.settimeout(0.05)
        while time.monotonic() - started < deadline_s + 10 and slow_closed is None:
            try:
                slow.send(STARTUP[sent % len(STARTUP):sent % len(STARTUP) + 1])
                sent += 1
            except OSError:
                slow_closed = time.monotonic() - started
                break
            try:
                if not slow.recv(1):
                    slow_closed = time.monotonic() - started
            except TimeoutError:
                pass
            except OSError:
                slow_closed = time.monotonic() - started
            if idle_closed is None and not _is_open(idle):
                idle_closed = time.monotonic() - idle_started
            busy.setblocking(True)
            busy.settimeout(5)
            busy.sendall(OPTIONS)
            assert _read_frame(busy)[0] == 0x06
            busy_answers += 1
            time.sleep(0.95)
        busy_open = _is_open(busy)
    print(f"\nslow client ({sent} bytes sent, one a second) closed after "
          f"{slow_closed} s (deadline {deadline_s:g} s); idle connection closed after "
          f"{idle_closed} s (timeout {idle_ms} ms); a connection sending OPTIONS every second "
          f"still open after {busy_answers} answers: {busy_open}")
    assert slow_closed is not None and deadline_s - 0.5 <= slow_closed <= deadline_s + 5
    assert sent < len(STARTUP)  # it never finished its STARTUP
    assert idle_closed is not None and idle_ms / 1000 - 0.5 <= idle_closed <= idle_ms / 1000 + 4
    assert busy_open
    with _sockets() as held:  # the fixture's driver holds a few: fill up to the limit
        refusal = None
        for i in range(node_max + 1):
            s = _connect(f"127.0.0.{140 + i}", node)  # each its own address: not per-IP
            held.append(s)
            s.sendall(OPTIONS)
            opcode, body = _read_frame(s)
            if opcode == 0x00:
                refusal = _error(body)
                break
        assert refusal == (0x1001, f"Too many connections: this node accepts at most {node_max} "
                                   f"client connections "
                                   f"(native_transport_max_concurrent_connections)"), refusal
    log = _node_log(c)
    assert "not READY (STARTUP) within" in log
    assert "native_transport_idle_timeout_in_ms" in log
    assert f"Exceeded maximum native connection limit of {node_max} by using" in log


def test_clients_that_never_read_throttle_only_themselves(
        cluster_factory: Callable[..., LocalCluster]) -> None:
    """Eight clients pipeline SELECTs of a 200 KB row and never read an answer; beside them a
    canary (the stock driver) reads and writes: it gets no Overloaded (nor any error), and the
    node's memory stays bounded (each non-reader holds about the connection's write-buffer
    bound of answers, limits.cql_connection_write_buffer_bytes_max)."""
    c = cluster_factory(1)
    node = c.nodes[0].address
    canary = c.session_to(node)
    canary.execute("CREATE KEYSPACE ks WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    canary.execute("CREATE TABLE ks.big (k int PRIMARY KEY, v blob)")
    canary.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v int)")
    canary.execute("INSERT INTO ks.big (k, v) VALUES (0, %s)", [b"x" * 200_000])
    pid = c.nodes[0].pid
    rss_before = _rss_kib(pid)
    stop = threading.Event()
    sent = [0] * 8
    select = _query(0, "SELECT v FROM ks.big WHERE k = 0")

    def pipeline(i: int, s: socket.socket) -> None:
        s.sendall(STARTUP)
        s.settimeout(0.2)
        batch = b"".join(select[:2] + struct.pack(">h", (n % 32000)) + select[4:]
                         for n in range(100))
        while not stop.is_set():
            try:
                s.sendall(batch)
                sent[i] += 100
            except TimeoutError:
                continue  # the node stopped reading us: good
            except OSError:
                return

    errors: list[str] = []
    latencies: list[float] = []
    rss_peak = rss_before
    with _sockets() as abusers:
        for i in range(8):
            abusers.append(_connect(f"127.0.0.{130 + i}", node))
        threads = [threading.Thread(target=pipeline, args=(i, s), daemon=True)
                   for i, s in enumerate(abusers)]
        for t in threads:
            t.start()
        write = canary.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        read = canary.prepare("SELECT v FROM ks.kv WHERE k = ?")
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < 8.0:
            t0 = time.monotonic()
            try:
                canary.execute(write, (n % 100, n))
                canary.execute(read, (n % 100,))
            except Exception as e:  # any error is a failure of the canary; all are shown
                errors.append(f"{type(e).__name__}: {e}")
            latencies.append(time.monotonic() - t0)
            n += 1
            if n % 20 == 0:
                rss_peak = max(rss_peak, _rss_kib(pid))
        rss_peak = max(rss_peak, _rss_kib(pid))
        stop.set()
        for t in threads:
            t.join(5)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"\nnon-readers sent {sum(sent)} SELECTs ({[s for s in sent]}); canary: {n} "
          f"write+read pairs, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max "
          f"{latencies[-1] * 1000:.0f} ms, {len(errors)} errors; node RSS "
          f"{rss_before // 1024} -> peak {rss_peak // 1024} MiB")
    assert not errors, errors[:5]
    assert n > 0
    # 8 x (2 MiB bound + one first burst of answers) plus the node's own work; before this
    # bound each non-reader got up to 1,024 answers of 200 KB queued (~200 MB).
    assert rss_peak - rss_before < 200 * 1024, (rss_before, rss_peak)
    assert "Traceback" not in _node_log(c)
