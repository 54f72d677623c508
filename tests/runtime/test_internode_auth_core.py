"""The internode handshake and frame MACs (runtime.internode_auth), as pure functions."""

from __future__ import annotations

import msgpack
import pytest

from skewless.runtime import internode_auth as auth
from skewless.runtime.internode_auth import AuthRefused, FrameOpener, FrameSealer, Hello

SECRET = b"0123456789abcdef0123456789abcdef"
OTHER = b"fedcba9876543210fedcba9876543210"


def hellos() -> tuple[Hello, Hello]:
    client = Hello("n1", "127.0.0.1", 7000, auth.SCHEME_SECRET, b"c" * 32)
    server = Hello("n2", "127.0.0.2", 7000, auth.SCHEME_SECRET, b"s" * 32)
    return client, server


def reason(e: pytest.ExceptionInfo[AuthRefused]) -> str:
    return e.value.reason


def test_proofs_check_out_with_the_secret_only() -> None:
    c, s = hellos()
    for direction in ("client", "server"):
        auth.check_proof(SECRET, direction, c, s, auth.proof(SECRET, direction, c, s))
        with pytest.raises(AuthRefused) as e:
            auth.check_proof(SECRET, direction, c, s, auth.proof(OTHER, direction, c, s))
        assert reason(e) == auth.WRONG_SECRET


def test_a_proof_is_bound_to_direction_nonces_and_names() -> None:
    c, s = hellos()
    server_proof = auth.proof(SECRET, "server", c, s)
    with pytest.raises(AuthRefused):  # reflected: the server's proof offered as the client's
        auth.check_proof(SECRET, "client", c, s, server_proof)
    for other_c, other_s in [
        (Hello("n1", "127.0.0.1", 7000, c.scheme, b"C" * 32), s),  # another client nonce
        (c, Hello("n2", "127.0.0.2", 7000, s.scheme, b"S" * 32)),  # another server nonce
        (Hello("n9", "127.0.0.1", 7000, c.scheme, c.nonce), s),  # another client id
        (Hello("n1", "10.0.0.9", 7000, c.scheme, c.nonce), s),  # another client address
        (Hello("n1", "127.0.0.1", 7001, c.scheme, c.nonce), s),  # another client port
        (c, Hello("n2", "127.0.0.3", 7000, s.scheme, s.nonce)),  # another server address
    ]:
        with pytest.raises(AuthRefused) as e:
            auth.check_proof(SECRET, "server", other_c, other_s, server_proof)
        assert reason(e) == auth.WRONG_SECRET


def test_hello_round_trip_and_refusals() -> None:
    c, s = hellos()
    assert auth.parse_hello(auth.encode_hello(c)) == c
    with_proof = Hello(s.node_id, s.host, s.port, s.scheme, s.nonce, b"p" * 32)
    assert auth.parse_hello(auth.encode_hello(with_proof)) == with_proof
    cases = [
        (b"\xc1", auth.GARBAGE),
        (b"GET / HTTP/1.1", auth.GARBAGE),
        (msgpack.packb({"a": 1}), auth.GARBAGE),
        (msgpack.packb([auth.MAGIC, 1, "x", "127.0.0.9", 7000]), auth.UNAUTHENTICATED),
        (msgpack.packb([auth.MAGIC, 3, "x"]), auth.BAD_HANDSHAKE),
        (msgpack.packb([auth.MAGIC, True, "x"]), auth.BAD_HANDSHAKE),
        (msgpack.packb([auth.MAGIC, 2, "x", "h", 0, "none", b""]), auth.BAD_HANDSHAKE),
        (msgpack.packb([auth.MAGIC, 2, "x", "h", 7000, "none"]), auth.BAD_HANDSHAKE),
        (msgpack.packb([auth.MAGIC, 2, "x", "h", 7000, "none", "text"]), auth.BAD_HANDSHAKE),
        (msgpack.packb([auth.MAGIC, 2, "x", "h", 7000, "none", b"", 5]), auth.BAD_HANDSHAKE),
    ]
    for payload, want in cases:
        with pytest.raises(AuthRefused) as e:
            auth.parse_hello(payload)
        assert reason(e) == want, payload


def test_schemes_must_match() -> None:
    c, _ = hellos()
    plain = Hello("x", "127.0.0.9", 7000, auth.SCHEME_NONE, b"")
    auth.check_scheme(auth.SCHEME_SECRET, c)
    auth.check_scheme(auth.SCHEME_NONE, plain)
    with pytest.raises(AuthRefused) as e:
        auth.check_scheme(auth.SCHEME_SECRET, plain)
    assert reason(e) == auth.UNAUTHENTICATED
    with pytest.raises(AuthRefused) as e:
        auth.check_scheme(auth.SCHEME_NONE, c)
    assert reason(e) == auth.BAD_HANDSHAKE
    with pytest.raises(AuthRefused) as e:  # a short nonce
        auth.check_scheme(auth.SCHEME_SECRET, Hello("x", "h", 1, auth.SCHEME_SECRET, b"n"))
    assert reason(e) == auth.BAD_HANDSHAKE


def test_proof_frame() -> None:
    assert auth.parse_proof(auth.encode_proof(b"p" * 32)) == b"p" * 32
    with pytest.raises(AuthRefused) as e:
        auth.parse_proof(b"\xc1")
    assert reason(e) == auth.GARBAGE
    with pytest.raises(AuthRefused) as e:
        auth.parse_proof(msgpack.packb([auth.MAGIC, "proof", "text"]))
    assert reason(e) == auth.BAD_HANDSHAKE


def pair(key: bytes = b"k" * 32) -> tuple[FrameSealer, FrameOpener]:
    return FrameSealer(key, client=True), FrameOpener(key, from_client=True)


def test_sealed_frames_open_in_order() -> None:
    sealer, opener = pair()
    payloads = [b"", b"x", b"hello" * 1000, bytes(range(256))]
    for p in payloads:
        sealed = sealer.seal(p)
        assert len(sealed) == len(p) + auth.TRAILER_BYTES
        assert opener.open(sealed) == p


def test_a_replayed_or_reordered_frame_is_refused() -> None:
    sealer, opener = pair()
    first, second, third = (sealer.seal(b"m%d" % i) for i in range(3))
    assert opener.open(first) == b"m0"
    with pytest.raises(AuthRefused) as e:
        opener.open(first)  # the same frame again
    assert reason(e) == auth.REPLAY
    _, fresh = pair()
    with pytest.raises(AuthRefused) as e:
        fresh.open(third)  # skips frames 0 and 1
    assert reason(e) == auth.REPLAY
    assert opener.open(second) == b"m1"  # a refused frame does not move the sequence


def test_every_flipped_bit_is_refused() -> None:
    sealer, _ = pair()
    sealed = sealer.seal(b"payload")
    for i in range(len(sealed)):
        for bit in (0x01, 0x80):
            _, opener = pair()
            tampered = bytearray(sealed)
            tampered[i] ^= bit
            with pytest.raises(AuthRefused) as e:
                opener.open(bytes(tampered))
            assert reason(e) == auth.BAD_MAC, (i, bit)


def test_frames_of_another_connection_direction_or_key_are_refused() -> None:
    key_a = auth.session_key(SECRET, b"c" * 32, b"s" * 32)
    key_b = auth.session_key(SECRET, b"c" * 32, b"S" * 32)  # another server nonce
    assert key_a != key_b and key_a != auth.session_key(OTHER, b"c" * 32, b"s" * 32)
    sealed = FrameSealer(key_a, client=True).seal(b"m")
    for opener in (FrameOpener(key_b, from_client=True), FrameOpener(key_a, from_client=False)):
        with pytest.raises(AuthRefused) as e:
            opener.open(sealed)
        assert reason(e) == auth.BAD_MAC
    for short in (b"", b"x" * (auth.TRAILER_BYTES - 1)):
        with pytest.raises(AuthRefused) as e:
            FrameOpener(key_a, from_client=True).open(short)
        assert reason(e) == auth.BAD_MAC


def test_secret_file_contents() -> None:
    assert auth.parse_secret(b"  " + SECRET + b"\n", "f") == SECRET
    with pytest.raises(ValueError, match="at least 16"):
        auth.parse_secret(b"short\n", "f")
    with pytest.raises(ValueError, match="internode_secret_file"):
        auth.parse_secret(b"", "f")
