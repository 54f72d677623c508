"""Internode authentication: the handshake and per-frame MACs, as pure functions (no I/O).

Theory of operation
-------------------
Every node of a cluster holds the same secret (``internode_secret_file``; ``skewless cluster
start`` makes one). A connection is accepted only from a peer that proves it holds the secret,
and every frame after the handshake carries a MAC under a key of that connection alone, so that
nobody without the secret can inject, replay or alter a message. Nothing here encrypts: on an
untrusted network the bytes are readable unless TLS wraps the stream (the handshake is carried
unchanged inside TLS; it is a layer over any ordered byte stream).

The handshake (each item one transport frame, msgpack)::

    client -> server  hello   [MAGIC, VERSION, id, host, port, SCHEME, nonce_c]
    server -> client  hello   [MAGIC, VERSION, id, host, port, SCHEME, nonce_s, proof_s]
    client -> server  proof   [MAGIC, "proof", proof_c]

``nonce_*`` are 32 random bytes from each side. A proof is HMAC-SHA256 under the secret over a
transcript naming the direction (``server``/``client``), both nonces and both sides' names
(id, host, port): a proof cannot be replayed (the other side's nonce is fresh), reflected (the
direction is in it) or moved to other names. The server proves first, the client checks that
proof before it proves itself: the client sends nothing to a server that has not proved
itself first (the server's proof only answers the client's fresh nonce, and is labelled as the
server's, so it is of no use to an impostor), and the server decodes nothing but the two
handshake frames until the client's proof checks out: only then is the peer's name used, to
deliver its messages or to answer it.

The session key is HMAC-SHA256(secret, "session" + nonce_c + nonce_s): fresh for every
connection. Every later frame is ``payload + seq (8 bytes, big-endian) + tag (16 bytes)`` where
tag = HMAC-SHA256(session key, direction + seq + payload) truncated to 128 bits and seq counts
the frames of that direction from 0. A frame from another connection fails its tag (another
key); a frame replayed or reordered within its connection has a good tag but the wrong seq; a
flipped byte fails the tag. Each is a ``AuthRefused`` with its own reason; the transport closes
the connection and applies nothing of it.

With ``AllowAllInternodeAuthenticator`` the scheme is ``none``: no nonces, no proofs, no tags.
A node of one scheme refuses a peer of the other (the reason says which).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import msgpack

from skewless.errors import RemoteProtocolError

MAGIC = "skewless-internode"
VERSION = 2  # 1: the unauthenticated handshake [MAGIC, 1, id, host, port]
SCHEME_SECRET = "hmac-sha256"
SCHEME_NONE = "none"
NONCE_BYTES = 32
SECRET_BYTES_MIN = 16  # a shorter secret is refused: it could be guessed
TAG_BYTES = 16  # HMAC-SHA256 truncated to 128 bits (RFC 2104 allows truncation to >= 80)
SEQ_BYTES = 8
TRAILER_BYTES = SEQ_BYTES + TAG_BYTES
_PROOF = "proof"
_DIGEST = "sha256"
_C2S = b"\x01"  # frames the connecting side sends (the only data direction today)
_S2C = b"\x02"

# Reasons a peer is refused: the label values of skewless_internode_refused_total.
GARBAGE = "garbage"  # not frames at all, oversized or truncated frames, not msgpack
BAD_HANDSHAKE = "bad_handshake"  # a malformed handshake or an unknown protocol version
UNAUTHENTICATED = "unauthenticated"  # no proof offered (an old-style or scheme-none hello)
WRONG_SECRET = "wrong_secret"  # a proof that does not check out: another secret, or forged
BAD_MAC = "bad_mac"  # a frame whose tag does not check out: forged, tampered, other connection
REPLAY = "replay"  # a frame with a good tag out of sequence: replayed within its connection
TIMEOUT = "timeout"  # the handshake did not finish within internode_handshake_timeout_ms
REASONS = (GARBAGE, BAD_HANDSHAKE, UNAUTHENTICATED, WRONG_SECRET, BAD_MAC, REPLAY, TIMEOUT)


class AuthRefused(RemoteProtocolError):
    """The peer is refused; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Hello:
    """One side's handshake: who it says it is, its scheme and nonce (and, from the server,
    its proof)."""

    node_id: str
    host: str
    port: int
    scheme: str
    nonce: bytes
    proof: bytes = b""


def encode_hello(h: Hello) -> bytes:
    items: list[object] = [MAGIC, VERSION, h.node_id, h.host, h.port, h.scheme, h.nonce]
    if h.proof:
        items.append(h.proof)
    data: bytes = msgpack.packb(items, use_bin_type=True)
    return data


def parse_hello(payload: bytes) -> Hello:
    """A peer's hello; ``AuthRefused`` (garbage, bad_handshake, unauthenticated) otherwise."""
    try:
        hs = msgpack.unpackb(payload, raw=False)
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise AuthRefused(GARBAGE, f"handshake is not msgpack: {e}") from None
    if not isinstance(hs, list) or len(hs) < 2 or hs[0] != MAGIC:
        raise AuthRefused(GARBAGE, "first frame is not a Skewless internode handshake")
    version = hs[1]
    if type(version) is int and version == 1:
        raise AuthRefused(UNAUTHENTICATED, "an unauthenticated (version 1) handshake")
    if type(version) is not int or version != VERSION:
        raise AuthRefused(BAD_HANDSHAKE, f"protocol version {version!r}, we speak {VERSION}")
    if len(hs) not in (7, 8):
        raise AuthRefused(BAD_HANDSHAKE, f"handshake of {len(hs)} items")
    _, _, node_id, host, port, scheme, nonce, *rest = hs
    if not (isinstance(node_id, str) and isinstance(host, str) and type(port) is int
            and 0 < port < 65536 and isinstance(scheme, str) and isinstance(nonce, bytes)):
        raise AuthRefused(BAD_HANDSHAKE, "malformed handshake fields")
    proof = rest[0] if rest else b""
    if not isinstance(proof, bytes):
        raise AuthRefused(BAD_HANDSHAKE, "malformed handshake proof")
    return Hello(node_id, host, port, scheme, nonce, proof)


def check_scheme(ours: str, hello: Hello) -> None:
    """Refuse a peer whose scheme differs from ours, or whose nonce is not one."""
    if hello.scheme != ours:
        if ours == SCHEME_SECRET:
            raise AuthRefused(UNAUTHENTICATED,
                              f"peer offers scheme {hello.scheme!r}, this node requires "
                              f"{SCHEME_SECRET!r} (internode_authenticator)")
        raise AuthRefused(BAD_HANDSHAKE,
                          f"peer requires scheme {hello.scheme!r}, this node has internode "
                          f"authentication off (AllowAllInternodeAuthenticator)")
    want = NONCE_BYTES if ours == SCHEME_SECRET else 0
    if len(hello.nonce) != want:
        raise AuthRefused(BAD_HANDSHAKE, f"nonce of {len(hello.nonce)} bytes")


def _transcript(direction: str, client: Hello, server: Hello) -> bytes:
    data: bytes = msgpack.packb(
        [MAGIC, VERSION, direction, client.nonce, server.nonce, client.node_id, client.host,
         client.port, server.node_id, server.host, server.port], use_bin_type=True)
    return data


def proof(secret: bytes, direction: str, client: Hello, server: Hello) -> bytes:
    """What side ``direction`` ('client' or 'server') sends to prove it holds ``secret``."""
    assert direction in ("client", "server")
    return hmac.digest(secret, _transcript(direction, client, server), _DIGEST)


def check_proof(secret: bytes, direction: str, client: Hello, server: Hello,
                offered: bytes) -> None:
    if not hmac.compare_digest(proof(secret, direction, client, server), offered):
        raise AuthRefused(WRONG_SECRET, f"the {direction}'s proof does not check out "
                                        f"(another internode secret?)")


def encode_proof(p: bytes) -> bytes:
    data: bytes = msgpack.packb([MAGIC, _PROOF, p], use_bin_type=True)
    return data


def parse_proof(payload: bytes) -> bytes:
    try:
        items = msgpack.unpackb(payload, raw=False)
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise AuthRefused(GARBAGE, f"proof is not msgpack: {e}") from None
    if not (isinstance(items, list) and len(items) == 3 and items[0] == MAGIC
            and items[1] == _PROOF and isinstance(items[2], bytes)):
        raise AuthRefused(BAD_HANDSHAKE, "malformed proof frame")
    p: bytes = items[2]
    return p


def session_key(secret: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    return hmac.digest(secret, b"skewless-internode-session" + client_nonce + server_nonce,
                       _DIGEST)


class FrameSealer:
    """MACs the frames one side sends on one connection (``seal``), in order."""

    __slots__ = ("_key", "_direction", "_seq")

    def __init__(self, key: bytes, *, client: bool) -> None:
        self._key = key
        self._direction = _C2S if client else _S2C
        self._seq = 0

    def seal(self, payload: bytes) -> bytes:
        """``payload + seq + tag``: the frame's payload on the wire."""
        trailer = self._seq.to_bytes(SEQ_BYTES, "big")
        self._seq += 1
        tag = hmac.digest(self._key, self._direction + trailer + payload, _DIGEST)[:TAG_BYTES]
        return payload + trailer + tag


class FrameOpener:
    """Checks the frames one side receives on one connection (``open``), in order."""

    __slots__ = ("_key", "_direction", "_seq")

    def __init__(self, key: bytes, *, from_client: bool) -> None:
        self._key = key
        self._direction = _C2S if from_client else _S2C
        self._seq = 0

    def open(self, sealed: bytes) -> bytes:
        """The payload of a sealed frame; ``AuthRefused`` (bad_mac, replay) otherwise."""
        if len(sealed) < TRAILER_BYTES:
            raise AuthRefused(BAD_MAC, f"frame of {len(sealed)} bytes has no MAC")
        end = len(sealed) - TRAILER_BYTES
        payload = sealed[:end]
        seq_bytes = sealed[end:end + SEQ_BYTES]
        tag = hmac.digest(self._key, self._direction + seq_bytes + payload, _DIGEST)[:TAG_BYTES]
        if not hmac.compare_digest(tag, sealed[end + SEQ_BYTES:]):
            raise AuthRefused(BAD_MAC, "frame MAC does not check out (forged, altered or "
                                       "from another connection)")
        seq = int.from_bytes(seq_bytes, "big")
        if seq != self._seq:
            raise AuthRefused(REPLAY, f"frame {seq} where frame {self._seq} was due")
        self._seq += 1
        return payload


def parse_secret(data: bytes, source: str) -> bytes:
    """The secret held in a secret file's bytes (surrounding whitespace stripped); ValueError
    when it is too short to be one."""
    secret = data.strip()
    if len(secret) < SECRET_BYTES_MIN:
        raise ValueError(f"internode_secret_file: {source} holds {len(secret)} bytes; a secret "
                         f"of at least {SECRET_BYTES_MIN} is needed (e.g. 64 hex digits)")
    return secret
