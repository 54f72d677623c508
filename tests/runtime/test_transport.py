"""Internode transport between real sockets on 127.0.0.1-3 (and the real clock it runs on)."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest
import uvloop

from skewless.errors import RemoteProtocolError
from skewless.runtime import realclock
from skewless.runtime.realclock import RealClock
from skewless.runtime.transport import (
    HANDSHAKE_MAGIC,
    PROTOCOL_VERSION,
    Transport,
    batch_payload,
    split_payload,
)

pytestmark = pytest.mark.timeout(60)


def run(coro: Awaitable[None], timeout_s: float = 30.0) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro, timeout_s)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(bounded())


def free_port() -> int:
    """A port free on 127.0.0.1, 127.0.0.2 and 127.0.0.3 at the time of asking."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        try:
            for host in ("127.0.0.2", "127.0.0.3"):
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise AssertionError("no free port")


class Node:
    """A transport plus what it received and which peer states it reported."""

    def __init__(self, host: str, port: int, **kwargs: Any) -> None:
        self.received: list[tuple[str, Any]] = []
        self.states: list[tuple[str, bool]] = []
        self.arrived = asyncio.Event()
        self.t: Transport[Any] = Transport(
            f"id-{host}", host, port, self._on_message, self._on_state, RealClock(),
            rng=random.Random(7), **kwargs,
        )

    def _on_message(self, sender: str, message: Any) -> None:
        self.received.append((sender, message))
        self.arrived.set()

    def _on_state(self, peer: str, up: bool) -> None:
        self.states.append((peer, up))

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.arrived.clear()
                with_timeout = asyncio.wait_for(self.arrived.wait(), 0.05)
                try:
                    await with_timeout
                except TimeoutError:
                    pass

        await asyncio.wait_for(loop(), timeout_s)

    def messages_from(self, sender: str) -> list[Any]:
        return [m for s, m in self.received if s == sender]


async def started(host: str, port: int, **kwargs: Any) -> Node:
    n = Node(host, port, **kwargs)
    await n.t.start()
    return n


def test_messages_arrive_in_order_from_each_sender() -> None:
    async def body() -> None:
        a = await started("127.0.0.1", 0)
        b = await started("127.0.0.2", 0)
        c = await started("127.0.0.3", 0)
        try:
            a_name, b_name = f"127.0.0.1:{a.t.port}", f"127.0.0.2:{b.t.port}"
            c_name = f"127.0.0.3:{c.t.port}"
            for i in range(2000):
                assert a.t.send(b_name, {"seq": i, "from": "a"})
                assert c.t.send(b_name, ["c", i, b"\x00bytes"])
            for i in range(100):
                assert b.t.send(a_name, i)
                assert b.t.send(c_name, -i)
            await b.wait_for(lambda: len(b.received) == 4000)
            await a.wait_for(lambda: len(a.received) == 100)
            await c.wait_for(lambda: len(c.received) == 100)
            assert b.messages_from(a_name) == [{"seq": i, "from": "a"} for i in range(2000)]
            assert b.messages_from(c_name) == [["c", i, b"\x00bytes"] for i in range(2000)]
            assert a.messages_from(b_name) == list(range(100))
            assert c.messages_from(b_name) == [-i for i in range(100)]
            assert (b_name, True) in a.states and (b_name, True) in c.states
            assert a.t.stats.sent == 2000 and b.t.stats.received == 4000
            assert a.t.stats.frames < 2000  # queued together, sent together
        finally:
            for n in (a, b, c):
                await n.t.close()

    run(body())


def test_peers_on_the_same_port_are_named_by_host() -> None:
    port = free_port()

    async def body() -> None:
        nodes = [await started(f"127.0.0.{i}", port) for i in (1, 2, 3)]
        try:
            for i, n in enumerate(nodes, 1):
                for j in (1, 2, 3):
                    if j != i:
                        assert n.t.send(f"127.0.0.{j}", f"{i}->{j}")
            for j, n in enumerate(nodes, 1):
                await n.wait_for(lambda n=n: len(n.received) == 2)
                assert sorted(n.received) == sorted(
                    (f"127.0.0.{i}", f"{i}->{j}") for i in (1, 2, 3) if i != j
                )
        finally:
            for n in nodes:
                await n.t.close()

    run(body())


def test_reconnects_after_the_peer_restarts() -> None:
    port = free_port()
    fast = {"reconnect_delay_ms_min": 10, "reconnect_delay_ms_max": 100}

    async def body() -> None:
        a = await started("127.0.0.1", port, **fast)
        b = await started("127.0.0.2", port)
        b2: Node | None = None
        try:
            for i in range(10):
                assert a.t.send("127.0.0.2", i)
            await b.wait_for(lambda: len(b.received) == 10)
            await b.t.close()
            # A notices the loss (its outbound connection closes) and reports the peer down.
            await a.wait_for(lambda: ("127.0.0.2", False) in a.states)
            assert a.t.is_up("127.0.0.2") is False
            for i in range(10, 20):  # queued while the peer is down
                assert a.t.send("127.0.0.2", i)
            await asyncio.sleep(0.3)  # several failed reconnects, with backoff
            assert a.t.stats.connect_failures >= 1
            b2 = await started("127.0.0.2", port)
            for i in range(20, 30):
                assert a.t.send("127.0.0.2", i)
            b2n = b2
            await b2n.wait_for(lambda: len(b2n.received) == 20)
            assert b2n.messages_from("127.0.0.1") == list(range(10, 30))
            assert a.states == [("127.0.0.2", True), ("127.0.0.2", False), ("127.0.0.2", True)]
        finally:
            await a.t.close()
            if b2 is not None:
                await b2.t.close()

    run(body())


def test_send_returns_false_when_the_peer_queue_is_full_or_the_message_too_big() -> None:
    port = free_port()

    async def body() -> None:
        # Nobody listens on 127.0.0.3:port: messages stay queued.
        a = await started("127.0.0.1", port, queue_messages_max=5, frame_bytes_max=1000)
        try:
            assert all(a.t.send("127.0.0.3", i) for i in range(5))
            assert a.t.send("127.0.0.3", 5) is False
            assert a.t.stats.dropped_queue_full == 1
            assert a.t.queued("127.0.0.3") == 5
            assert a.t.send("127.0.0.2", b"x" * 2000) is False  # another peer, over the limit
            assert a.t.stats.dropped_oversize == 1
            assert a.t.send("127.0.0.2", b"x" * 10) is True
        finally:
            await a.t.close()

    run(body())


def test_expired_messages_are_not_sent() -> None:
    port = free_port()

    async def body() -> None:
        a = await started("127.0.0.1", port, message_expiry_ms=100,
                          reconnect_delay_ms_min=10, reconnect_delay_ms_max=20)
        b: Node | None = None
        try:
            assert a.t.send("127.0.0.2", "old")
            await asyncio.sleep(0.3)
            b = await started("127.0.0.2", port)
            assert a.t.send("127.0.0.2", "new")
            bn = b
            await bn.wait_for(lambda: len(bn.received) == 1)
            await asyncio.sleep(0.1)
            assert bn.received == [("127.0.0.1", "new")]
            assert a.t.stats.dropped_expired == 1
        finally:
            await a.t.close()
            if b is not None:
                await b.t.close()

    run(body())


async def raw_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.2", port, local_addr=("127.0.0.3", 0))


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def handshake(version: int = PROTOCOL_VERSION) -> bytes:
    return frame(msgpack.packb([HANDSHAKE_MAGIC, version, "raw", "127.0.0.3", 9, "none", b""]))


async def closed_by_peer(reader: asyncio.StreamReader, skip_handshake: bool) -> bool:
    """True if the peer closes the connection (after its handshake answer, if any)."""
    if skip_handshake:
        header = await asyncio.wait_for(reader.readexactly(4), 5)
        await asyncio.wait_for(reader.readexactly(int.from_bytes(header, "big")), 5)
    try:
        data = await asyncio.wait_for(reader.read(100), 5)
    except ConnectionResetError:
        return True
    return data == b""


def test_garbage_and_oversize_frames_close_only_that_connection() -> None:
    port = free_port()

    async def body() -> None:
        a = await started("127.0.0.1", port)
        b = await started("127.0.0.2", port, frame_bytes_max=1 << 16)
        try:
            assert a.t.send("127.0.0.2", "before")
            await b.wait_for(lambda: len(b.received) == 1)
            bad_inputs = [
                (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),  # length 0x47455420: too big
                (frame(b"\xc1\xc1"), False),  # not a handshake (not even msgpack)
                (handshake(version=PROTOCOL_VERSION + 1), False),  # a future version
                (handshake() + (1 << 20).to_bytes(4, "big") + b"x" * 100, True),  # oversize
                (handshake() + frame(batch_payload([b"\xc1"])), True),  # the codec rejects it
                (handshake() + frame(b"\xc1"), True),  # a message length cut short
                (handshake() + frame(b"\x00\x00\x00\x09\xa1x"), True),  # a length past the end
                (handshake() + frame(b""), True),  # an empty frame
                # a good message, then one the codec rejects: neither is delivered
                (handshake() + frame(batch_payload([msgpack.packb("no"), b"\xc1"])), True),
                (handshake() + b"\x00\x00", True),  # EOF inside a frame header
            ]
            for i, (data, answered) in enumerate(bad_inputs):
                reader, writer = await raw_connection(port)
                writer.write(data)
                if i == len(bad_inputs) - 1:
                    writer.write_eof()
                await writer.drain()
                assert await closed_by_peer(reader, answered), data
                writer.close()
                # The transport still serves its other connection.
                assert a.t.send("127.0.0.2", f"after {i}")
                await b.wait_for(lambda i=i: len(b.received) == i + 2)
            assert b.messages_from("127.0.0.1") == ["before"] + [
                f"after {i}" for i in range(len(bad_inputs))
            ]
            assert b.t.stats.protocol_errors == len(bad_inputs)
            assert [s for s, _ in b.received] == ["127.0.0.1"] * (len(bad_inputs) + 1)
        finally:
            await a.t.close()
            await b.t.close()

    run(body())


def test_messages_queued_in_one_turn_travel_in_one_frame() -> None:
    port = free_port()

    async def body() -> None:
        a = await started("127.0.0.1", port)
        b = await started("127.0.0.2", port)
        try:
            assert a.t.send("127.0.0.2", "hello")  # connect first
            await b.wait_for(lambda: len(b.received) == 1)
            frames = a.t.stats.frames
            for i in range(300):  # one turn of the loop: no await between the sends
                assert a.t.send("127.0.0.2", i)
            await b.wait_for(lambda: len(b.received) == 301)
            assert b.messages_from("127.0.0.1") == ["hello", *range(300)]
            assert a.t.stats.frames == frames + 1
            assert a.t.stats.sent == 301
        finally:
            await a.t.close()
            await b.t.close()

    run(body())


def test_batch_payload_round_trip_and_malformed_batches() -> None:
    messages = [b"", b"a", b"x" * 70000, msgpack.packb([1, "two"])]
    assert split_payload(batch_payload(messages)) == messages
    good = batch_payload([b"abc"])
    for bad in (b"", good[:2], good[:-1], good + b"\x00", good + b"\x00\x00\x00\x05ab"):
        with pytest.raises(RemoteProtocolError):
            split_payload(bad)


def test_a_failing_message_handler_does_not_break_the_connection() -> None:
    port = free_port()

    async def body() -> None:
        a = await started("127.0.0.1", port)
        b = await started("127.0.0.2", port)
        seen: list[int] = []

        def handler(sender: str, message: Any) -> None:
            seen.append(message)
            b.arrived.set()
            if message == 1:
                raise RuntimeError("a bug in the node layer")

        b.t.on_message = handler
        try:
            for i in range(3):
                assert a.t.send("127.0.0.2", i)
            await b.wait_for(lambda: len(seen) == 3)
            assert seen == [0, 1, 2]
            assert a.t.stats.connections_opened == 1
        finally:
            await a.t.close()
            await b.t.close()

    run(body())


def test_custom_codec() -> None:
    port = free_port()

    def enc(m: tuple[int, str]) -> bytes:
        return msgpack.packb([m[0], m[1]])

    def dec(b: bytes) -> tuple[int, str]:
        x, y = msgpack.unpackb(b)
        return (int(x), str(y))

    async def body() -> None:
        got: list[tuple[str, tuple[int, str]]] = []
        arrived = asyncio.Event()

        def on_message(sender: str, m: tuple[int, str]) -> None:
            got.append((sender, m))
            arrived.set()

        clock = RealClock()
        a: Transport[tuple[int, str]] = Transport(
            "a", "127.0.0.1", port, lambda s, m: None, None, clock, encode=enc, decode=dec)
        b: Transport[tuple[int, str]] = Transport(
            "b", "127.0.0.2", port, on_message, None, clock, encode=enc, decode=dec)
        await a.start()
        await b.start()
        try:
            assert a.send("127.0.0.2", (1, "x"))
            await asyncio.wait_for(arrived.wait(), 5)
            assert got == [("127.0.0.1", (1, "x"))]
        finally:
            await a.close()
            await b.close()

    run(body())


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    t: Transport[Any] = Transport(
        "x", "127.0.0.1", 1, lambda s, m: None, None, RealClock(), rng=random.Random(1),
        reconnect_delay_ms_min=50, reconnect_delay_ms_max=5000,
    )
    for attempt in range(12):
        ceiling_s = min(5000, 50 * 2**attempt) / 1000
        draws = [t._backoff_s(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling_s for d in draws)
        assert min(draws) < ceiling_s * 0.1 and max(draws) > ceiling_s * 0.9  # full jitter
    same = Transport(
        "x", "127.0.0.1", 1, lambda s, m: None, None, RealClock(), rng=random.Random(1),
    )
    other = Transport(
        "x", "127.0.0.1", 1, lambda s, m: None, None, RealClock(), rng=random.Random(1),
    )
    assert [same._backoff_s(3) for _ in range(5)] == [other._backoff_s(3) for _ in range(5)]


# --- the real clock ---------------------------------------------------------------------------


def test_real_clock_offset_and_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    wall_ns = 1_700_000_000_000_000_000
    mono_ns = 5_000_000_000
    monkeypatch.setattr(realclock.time, "time_ns", lambda: wall_ns)
    monkeypatch.setattr(realclock.time, "monotonic_ns", lambda: mono_ns)
    plain = RealClock()
    skewed = RealClock(offset_ms=-250.0, drift_ppm=100.0)
    assert plain.real_time_us() == wall_ns // 1000
    assert skewed.real_time_us() == wall_ns // 1000 - 250_000
    wall_ns += 1000 * 10**9
    mono_ns += 1000 * 10**9  # 1000 s later: 100 ppm is 100 ms gained
    assert plain.real_time_us() == wall_ns // 1000
    assert skewed.real_time_us() == wall_ns // 1000 - 250_000 + 100_000
    assert skewed.monotonic_ns() == mono_ns
    assert skewed.monotonic_ms() == mono_ns / 1e6


def test_real_clock_reads_the_machine_clocks() -> None:
    c = RealClock(offset_ms=1000.0)
    before_us = time.time_ns() // 1000
    reading = c.real_time_us()
    after_us = time.time_ns() // 1000
    assert before_us + 1_000_000 <= reading <= after_us + 1_000_000
    m1 = c.monotonic_ns()
    m2 = c.monotonic_ns()
    assert m2 >= m1
