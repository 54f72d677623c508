"""Native protocol v5 segment framing (checksummed, optionally LZ4): a pure sans-I/O codec.

Theory of operation
-------------------
From protocol v5 on, once the server has answered STARTUP with READY (or AUTHENTICATE), both
directions stop sending bare envelopes (the v4 frame) and wrap them in *segments*
(doc/native_protocol_v5.spec, section 2):

* uncompressed: a 6-byte header -- 3 bytes little-endian holding the payload length (17 bits)
  and the self-contained flag (bit 17), then the CRC24 of those 3 bytes (3 bytes LE) --, the
  payload (at most 131071 bytes), then the CRC32 of the payload (4 bytes LE);
* LZ4 (when STARTUP negotiated lz4): an 8-byte header -- 5 bytes LE holding the compressed
  length (17 bits), the uncompressed length (17 bits; 0 means "stored uncompressed") and the
  self-contained flag (bit 34), then its CRC24 --, the payload (a raw LZ4 block), the CRC32.

CRC24 starts from 0x875060 with polynomial 0x1974F0B and is fed the header integer's bytes
least significant first; CRC32 is zlib's, seeded with the CRC32 of ``FA 2D 55 CA``.

A self-contained segment holds one or more whole envelopes; an envelope larger than a payload
is cut over several segments that are not self-contained. ``encode_segments`` sends one
envelope per segment run (as the drivers do); ``SegmentDecoder`` yields payloads in order and
leaves envelope reassembly to the caller, which simply concatenates them: envelopes carry
their own lengths. A CRC mismatch or an impossible header is the peer's fault
(``RemoteProtocolError``); framing is lost after it, so the connection must close.
"""

from __future__ import annotations

import zlib

import lz4.block

from skewless import errors

PAYLOAD_BYTES_MAX = 128 * 1024 - 1  # the 17-bit length field (spec: 131071)
CRC24_INIT = 0x875060
CRC24_POLY = 0x1974F0B
CRC32_INIT = zlib.crc32(b"\xfa\x2d\x55\xca")
_PLAIN_HEADER = 3  # data bytes of an uncompressed segment header (then 3 bytes of CRC24)
_LZ4_HEADER = 5  # data bytes of a compressed segment header
_CRC24 = 3
_CRC32 = 4


def _crc24_byte(index: int) -> int:
    """CRC24 of one byte from a zero register, bit by bit (most significant first)."""
    crc = index << 16
    for _ in range(8):
        crc <<= 1
        if crc & 0x1000000:
            crc ^= CRC24_POLY
    return crc & 0xFFFFFF


_CRC24_TABLE = tuple(_crc24_byte(i) for i in range(256))


def crc24(value: int, nbytes: int) -> int:
    """The header checksum of ``value`` taken as ``nbytes`` little-endian bytes (table-driven:
    the same as feeding each byte's 8 bits through the polynomial)."""
    crc = CRC24_INIT
    for _ in range(nbytes):
        crc = ((crc << 8) & 0xFFFFFF) ^ _CRC24_TABLE[(crc >> 16) ^ (value & 0xFF)]
        value >>= 8
    return crc


def crc32(payload: bytes) -> int:
    return zlib.crc32(payload, CRC32_INIT) & 0xFFFFFFFF


def _segment(payload: bytes, self_contained: bool, compress: bool) -> bytes:
    assert len(payload) <= PAYLOAD_BYTES_MAX, len(payload)
    if not compress:
        header = len(payload) | (int(self_contained) << 17)
        size = _PLAIN_HEADER
        body = payload
    else:
        packed: bytes = lz4.block.compress(payload, store_size=False)
        stored = len(packed) >= len(payload)
        body = payload if stored else packed
        uncompressed = 0 if stored else len(payload)
        header = len(body) | (uncompressed << 17) | (int(self_contained) << 34)
        size = _LZ4_HEADER
    return (header.to_bytes(size, "little") + crc24(header, size).to_bytes(_CRC24, "little")
            + body + crc32(body).to_bytes(_CRC32, "little"))


def encode_segments(envelope: bytes, *, compress: bool) -> bytes:
    """``envelope`` (one complete v5 frame) as one self-contained segment, or as a run of
    non-self-contained segments when it is larger than a segment payload."""
    if len(envelope) <= PAYLOAD_BYTES_MAX:
        return _segment(envelope, True, compress)
    return b"".join(_segment(envelope[i : i + PAYLOAD_BYTES_MAX], False, compress)
                    for i in range(0, len(envelope), PAYLOAD_BYTES_MAX))


class SegmentDecoder:
    """Incremental segment reader for one direction of one connection. The buffer holds at
    most one incomplete segment."""

    def __init__(self, *, compressed: bool) -> None:
        self._compressed = compressed
        self._header_size = _LZ4_HEADER if compressed else _PLAIN_HEADER
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        """Take received bytes; return the (payload, self_contained) of each segment they
        complete. Raises RemoteProtocolError on a corrupt segment."""
        self._buffer += data
        out: list[tuple[bytes, bool]] = []
        while True:
            segment = self._next()
            if segment is None:
                return out
            out.append(segment)

    def _next(self) -> tuple[bytes, bool] | None:
        buf = self._buffer
        head = self._header_size + _CRC24
        if len(buf) < head:
            return None
        header = int.from_bytes(buf[: self._header_size], "little")
        expected = int.from_bytes(buf[self._header_size : head], "little")
        if crc24(header, self._header_size) != expected:
            raise errors.RemoteProtocolError(
                f"Checksum mismatch on a segment header: received {expected:06x}, computed "
                f"{crc24(header, self._header_size):06x}")
        length = header & PAYLOAD_BYTES_MAX
        uncompressed = (header >> 17) & PAYLOAD_BYTES_MAX if self._compressed else 0
        self_contained = bool(header >> (34 if self._compressed else 17) & 1)
        end = head + length + _CRC32
        if len(buf) < end:
            return None
        body = bytes(buf[head : head + length])
        expected = int.from_bytes(buf[head + length : end], "little")
        del buf[:end]
        if crc32(body) != expected:
            raise errors.RemoteProtocolError(
                f"Checksum mismatch on a segment payload: received {expected:08x}, computed "
                f"{crc32(body):08x}")
        if uncompressed:
            body = _lz4_block(body, uncompressed)
        return body, self_contained


def _lz4_block(body: bytes, size: int) -> bytes:
    try:
        out: bytes = lz4.block.decompress(body, uncompressed_size=size)
    except lz4.block.LZ4BlockError:
        raise errors.RemoteProtocolError("Corrupt LZ4 segment payload") from None
    if len(out) != size:
        raise errors.RemoteProtocolError("LZ4 segment payload length mismatch")
    return out
