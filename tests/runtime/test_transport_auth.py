"""Authenticated internode transport between real sockets: peers with the secret talk, others
(no secret, another secret, old handshakes, forged proofs, slow handshakes) are refused and
counted, and the transport goes on serving its peers."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from test_transport import frame, free_port, run, started

from skewless.runtime import internode_auth as auth
from skewless.runtime.internode_auth import Hello
from skewless.runtime.transport import batch_payload

pytestmark = pytest.mark.timeout(60)

SECRET = b"a-cluster-secret-of-32-bytes-abc"
OTHER = b"another-secret-of-32-bytes-abcde"


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await asyncio.wait_for(reader.readexactly(4), 5)
    return await asyncio.wait_for(reader.readexactly(int.from_bytes(header, "big")), 5)


async def closed(reader: asyncio.StreamReader) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(100), 5)
    except ConnectionResetError:
        return True
    return data == b""


def test_peers_with_the_secret_talk() -> None:
    port = free_port()

    async def body() -> None:
        nodes = [await started(f"127.0.0.{i}", port, secret=SECRET) for i in (1, 2, 3)]
        try:
            for i, n in enumerate(nodes, 1):
                for j in (1, 2, 3):
                    if j != i:
                        for k in range(200):
                            assert n.t.send(f"127.0.0.{j}", [i, k])
            for j, n in enumerate(nodes, 1):
                await n.wait_for(lambda n=n: len(n.received) == 400)
                for i in (1, 2, 3):
                    if i != j:
                        assert n.messages_from(f"127.0.0.{i}") == [[i, k] for k in range(200)]
                assert n.t.stats.refused == {}
                assert {s for s, up in n.states if up} == {f"127.0.0.{i}" for i in (1, 2, 3)
                                                           if i != j}
        finally:
            for n in nodes:
                await n.t.close()

    run(body())


def test_another_secret_or_none_is_refused_both_ways() -> None:
    port = free_port()

    async def body() -> None:
        a = await started("127.0.0.1", port, secret=SECRET)
        b = await started("127.0.0.2", port, secret=OTHER)
        c = await started("127.0.0.3", port)  # AllowAll
        try:
            for n, to in ((a, "127.0.0.2"), (b, "127.0.0.1"), (c, "127.0.0.1"), (a, "127.0.0.3")):
                assert n.t.send(to, "hello")
            await asyncio.sleep(1.0)  # several connection attempts each
            assert a.received == b.received == c.received == []
            assert not any(up for _, up in a.states + b.states + c.states)
            # Dialling a peer of another secret: its proof does not check out, we never prove.
            assert a.t.stats.refused.get(auth.WRONG_SECRET, 0) >= 1
            assert b.t.stats.refused.get(auth.WRONG_SECRET, 0) >= 1
            # ...so as the accepting side each saw a dialler leave without proving itself, and
            # the AllowAll node's unauthenticated hello was refused.
            assert a.t.stats.refused.get(auth.UNAUTHENTICATED, 0) >= 2
            # The AllowAll node refuses the authenticating one (and is refused by it).
            assert c.t.stats.refused.get(auth.BAD_HANDSHAKE, 0) >= 1
        finally:
            for n in (a, b, c):
                await n.t.close()

    run(body())


async def raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.2", port, local_addr=("127.0.0.3", 0))


def test_forged_handshakes_are_refused_and_the_transport_keeps_serving() -> None:
    port = free_port()
    nonce = b"n" * auth.NONCE_BYTES

    async def body() -> None:
        a = await started("127.0.0.1", port, secret=SECRET)
        b = await started("127.0.0.2", port, secret=SECRET, handshake_timeout_ms=300)
        try:
            assert a.t.send("127.0.0.2", "before")
            await b.wait_for(lambda: len(b.received) == 1)
            ours = Hello("outsider", "127.0.0.1", port, auth.SCHEME_SECRET, nonce)
            attacks: list[tuple[str, list[bytes], bool]] = [
                # an old-style (version 1) handshake, then a message
                (auth.UNAUTHENTICATED, [frame(msgpack.packb(
                    [auth.MAGIC, 1, "outsider", "127.0.0.1", port])),
                    frame(msgpack.packb("forged"))], False),
                # a new-style one without the secret: a made-up proof
                (auth.WRONG_SECRET, [frame(auth.encode_hello(ours)),
                                     frame(auth.encode_proof(b"x" * 32))], True),
                # a proof made with another secret (for the server nonce it was sent: below)
                (auth.WRONG_SECRET, [frame(auth.encode_hello(ours))], True),
                # skipping the proof: a message right after the hello
                (auth.BAD_HANDSHAKE, [frame(auth.encode_hello(ours)),
                                      frame(msgpack.packb("forged"))], True),
                (auth.GARBAGE, [b"GET / HTTP/1.1\r\n\r\n"], False),
                (auth.GARBAGE, [frame(b"\xc1\xc1")], False),
                (auth.TIMEOUT, [b"\x00\x00"], False),  # half a header, then silence
            ]
            for i, (reason, chunks, answered) in enumerate(attacks):
                before = b.t.stats.refused.get(reason, 0)
                reader, writer = await raw(port)
                for chunk in chunks:
                    writer.write(chunk)
                await writer.drain()
                if answered:
                    theirs = auth.parse_hello(await read_frame(reader))
                    if i == 2:
                        forged = auth.proof(OTHER, "client", ours, theirs)
                        writer.write(frame(auth.encode_proof(forged)))
                assert await closed(reader), reason
                writer.close()
                await b.wait_for(lambda r=reason, n=before: b.t.stats.refused.get(r, 0) == n + 1)
                assert a.t.send("127.0.0.2", f"after {i}")
                await b.wait_for(lambda i=i: len(b.received) == i + 2)
            assert b.messages_from("127.0.0.1") == ["before"] + [
                f"after {i}" for i in range(len(attacks))]
            assert [s for s, _ in b.received] == ["127.0.0.1"] * (len(attacks) + 1)
            assert "forged" not in [m for _, m in b.received]
        finally:
            await a.t.close()
            await b.t.close()

    run(body())


def test_a_legitimate_handshake_by_hand_then_forged_frames() -> None:
    """Knowing the secret is not enough to inject: every frame needs its MAC and sequence."""
    port = free_port()

    async def body() -> None:
        b = await started("127.0.0.2", port, secret=SECRET)
        try:
            async def authenticated() -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                               auth.FrameSealer]:
                reader, writer = await raw(port)
                ours = Hello("x", "127.0.0.3", port, auth.SCHEME_SECRET, b"m" * 32)
                writer.write(frame(auth.encode_hello(ours)))
                theirs = auth.parse_hello(await read_frame(reader))
                auth.check_proof(SECRET, "server", ours, theirs, theirs.proof)
                writer.write(frame(auth.encode_proof(auth.proof(SECRET, "client", ours, theirs))))
                key = auth.session_key(SECRET, ours.nonce, theirs.nonce)
                return reader, writer, auth.FrameSealer(key, client=True)

            reader, writer, sealer = await authenticated()
            first = sealer.seal(batch_payload([msgpack.packb("one")]))
            writer.write(frame(first))
            await b.wait_for(lambda: len(b.received) == 1)
            assert b.received == [("127.0.0.3", "one")]
            cases: list[tuple[str, bytes]] = [
                (auth.REPLAY, first),  # the same frame again, same connection
                (auth.BAD_MAC, msgpack.packb("bare")),  # no MAC at all
            ]
            tampered = bytearray(sealer.seal(batch_payload([msgpack.packb("two")])))
            tampered[2] ^= 0x01
            cases.append((auth.BAD_MAC, bytes(tampered)))
            for reason, data in cases:
                writer.write(frame(data))
                assert await closed(reader), reason
                writer.close()
                assert b.t.stats.refused.get(reason, 0) >= 1
                reader, writer, sealer = await authenticated()
            # A frame of another connection (a good MAC under another session key).
            writer.write(frame(first))
            assert await closed(reader)
            writer.close()
            assert b.t.stats.refused == {auth.REPLAY: 1, auth.BAD_MAC: 3}
            assert b.received == [("127.0.0.3", "one")]
        finally:
            await b.t.close()

    run(body())
