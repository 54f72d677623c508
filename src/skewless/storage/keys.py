"""Order-preserving byte encodings of clustering keys, and Cassandra's composite partition keys.

Theory of operation
-------------------
Storage keeps rows sorted by plain byte comparison, so a clustering key is stored as bytes whose
order equals Cassandra's clustering order. Each clustering component is encoded on its own,
*self-delimiting* (a decoder that knows the type knows where it ends), and components are
concatenated. Hence:

* comparing two encodings compares the first components, then the second, and so on;
* the encoding of a clustering *prefix* is a byte prefix of every clustering it starts, so it
  sorts before all of them (``prefix_successor`` gives the first key after all of them);
* a DESC component is the ascending encoding with every byte inverted (``x ^ 0xFF``). Inverting a
  self-delimiting encoding keeps it self-delimiting and reverses its order, because two distinct
  ascending encodings always differ at a byte position within both of them (neither is a
  proper prefix of the other).

Per type (the input is always the CQL-serialized value; ``b''`` is the empty value, which
Cassandra sorts before every other value of its type):

* fixed-width types carry a header byte (``0x00`` empty, ``0x01`` present, ``0x02`` NaN):
  tinyint/smallint/int/bigint/counter/timestamp/time are big-endian two's complement with the
  sign bit flipped; date (uint32) and boolean are their bytes; float/double use the IEEE trick
  (negative: invert all bits, positive: flip the sign bit; ``-0.0`` sorts just before ``0.0``),
  NaNs sort after ``+inf`` ordered by their raw bits;
* uuid (Cassandra ``UUIDType``): version, then for version 1 the timestamp (time_hi, time_mid,
  time_low), otherwise the most significant 8 bytes unsigned, then the least significant 8
  bytes unsigned; timeuuid (``TimeUUIDType``): timestamp, then the last 8 bytes compared as
  *signed* bytes (Cassandra's compatibility quirk), encoded by flipping each byte's top bit;
* varint: sign class, then (magnitude length, magnitude), both inverted for negatives;
  decimal: sign class, then the base-10 exponent and digit string of the normalised value
  (inverted for negatives), then the scale as a tie-break, so numerically equal decimals of
  different scale (1.0, 1.00) are adjacent but distinct keys (Cassandra treats them as equal);
* text, ascii, varchar, blob, inet (Cassandra compares inet bytewise, ``BYTE_ORDER``) and any type
  this module does not know (e.g. a frozen UDT): the bytes with ``0x00`` escaped as
  ``0x00 0xFF``, terminated by ``0x00 0x01``;
* frozen list/set/map and tuple: header, then per element ``0x02`` + the element's ascending
  encoding (``0x01`` for a null tuple field), then ``0x00``: lexicographic by element, a shorter
  collection first.

Partition keys are not order-encoded (partitions are ordered by token): a compound partition key
uses Cassandra's composite encoding, which is also what the token is hashed over.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

_INVERT = bytes(255 - i for i in range(256))
_FLIP_TOP = bytes(i ^ 0x80 for i in range(256))
_SIGNED_WIDTH = {
    "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "counter": 8, "timestamp": 8, "time": 8,
}
_UNSIGNED_WIDTH = {"date": 4, "boolean": 1}
_FLOAT_WIDTH = {"float": 4, "double": 8}
_ESCAPED = frozenset({"text", "ascii", "varchar", "blob", "inet"})
_EMPTY, _PRESENT, _NAN = b"\x00", b"\x01", b"\x02"
_SIGN_NEG, _SIGN_ZERO, _SIGN_POS = 1, 2, 3
_ELEM_END, _ELEM_NULL, _ELEM_VALUE = 0, 1, 2


# --- type text ---------------------------------------------------------------------------------
def parse_type(cql_type: str) -> tuple[str, tuple[str, ...]]:
    """Split ``'frozen<map<text, int>>'`` into ``('map', ('text', 'int'))``; frozen is dropped."""
    t = cql_type.replace(" ", "")
    while t.startswith("frozen<") and t.endswith(">"):
        t = t[len("frozen<") : -1]
    if "<" not in t:
        return t.lower(), ()
    assert t.endswith(">"), cql_type
    name, inner = t[: t.index("<")].lower(), t[t.index("<") + 1 : -1]
    args: list[str] = []
    depth, begin = 0, 0
    for i, ch in enumerate(inner):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(inner[begin:i])
            begin = i + 1
    args.append(inner[begin:])
    return name, tuple(args)


# --- encoding ----------------------------------------------------------------------------------
def encode_component(cql_type: str, value: bytes, desc: bool) -> bytes:
    """The order-preserving, self-delimiting encoding of one serialized clustering value."""
    enc = _encode_asc(cql_type, value)
    return enc.translate(_INVERT) if desc else enc


def encode_clustering(components: Sequence[tuple[str, bool, bytes]]) -> bytes:
    """Concatenated encodings of (type, desc, serialized value); a prefix of the columns is fine."""
    return b"".join(encode_component(t, v, d) for t, d, v in components)


def _encode_asc(cql_type: str, value: bytes) -> bytes:
    name, args = parse_type(cql_type)
    if name in _ESCAPED or (not args and name not in _FIXED_ENCODERS):
        return escape(value)
    if not value:
        return _EMPTY
    if name in _FIXED_ENCODERS:
        return _FIXED_ENCODERS[name](name, value)
    return _encode_elements(name, args, value)


def escape(value: bytes) -> bytes:
    """Bytewise-ordered, self-delimiting: ``0x00`` -> ``0x00 0xFF``, then ``0x00 0x01``."""
    return value.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def unescape(data: bytes, pos: int) -> tuple[bytes, int]:
    """The inverse of ``escape`` for the encoding starting at ``pos``: (value, end position)."""
    end = data.find(b"\x00", pos)
    if 0 <= end < len(data) - 1 and data[end + 1] == 0x01:  # fast path: no escaped zero
        return data[pos:end], end + 2
    reader = _Reader(data, pos, False)
    value = reader.unescape()
    return value, reader.pos


def _check_width(name: str, value: bytes, width: int) -> None:
    if len(value) != width:
        raise ValueError(f"a {name} value is {width} bytes, got {len(value)}")


def _enc_signed(name: str, value: bytes) -> bytes:
    _check_width(name, value, _SIGNED_WIDTH[name])
    return _PRESENT + bytes((value[0] ^ 0x80,)) + value[1:]


def _enc_unsigned(name: str, value: bytes) -> bytes:
    _check_width(name, value, _UNSIGNED_WIDTH[name])
    return _PRESENT + value


def _enc_float(name: str, value: bytes) -> bytes:
    width = _FLOAT_WIDTH[name]
    _check_width(name, value, width)
    bits = int.from_bytes(value, "big")
    exp_bits = 8 if width == 4 else 11
    mant_mask = (1 << (width * 8 - 1 - exp_bits)) - 1
    exp_all = ((1 << exp_bits) - 1) << (width * 8 - 1 - exp_bits)
    if bits & exp_all == exp_all and bits & mant_mask:
        return _NAN + value
    sign = 1 << (width * 8 - 1)
    bits = bits ^ ((1 << width * 8) - 1) if bits & sign else bits | sign
    return _PRESENT + bits.to_bytes(width, "big")


def _reorder_v1(msb: int) -> int:
    return ((msb & 0xFFFF) << 48) | (((msb >> 16) & 0xFFFF) << 32) | (msb >> 32)


def _unorder_v1(r: int) -> int:
    return ((r & 0xFFFFFFFF) << 32) | (((r >> 32) & 0xFFFF) << 16) | (r >> 48)


def _enc_uuid(name: str, value: bytes) -> bytes:
    _check_width(name, value, 16)
    msb = int.from_bytes(value[:8], "big")
    if name == "timeuuid":
        return _PRESENT + _reorder_v1(msb).to_bytes(8, "big") + value[8:].translate(_FLIP_TOP)
    version = (msb >> 12) & 0xF
    if version == 1:
        msb = _reorder_v1(msb)
    return _PRESENT + bytes((version,)) + msb.to_bytes(8, "big") + value[8:]


def varint_bytes(n: int) -> bytes:
    """Minimal big-endian two's complement, as CQL serializes a varint."""
    return n.to_bytes((n + (n < 0)).bit_length() // 8 + 1, "big", signed=True)


def _enc_varint(name: str, value: bytes) -> bytes:
    n = int.from_bytes(value, "big", signed=True)
    if n == 0:
        return bytes((_SIGN_ZERO,))
    mag = abs(n).to_bytes((abs(n).bit_length() + 7) // 8, "big")
    body = struct.pack(">I", len(mag)) + mag
    if n < 0:
        return bytes((_SIGN_NEG,)) + body.translate(_INVERT)
    return bytes((_SIGN_POS,)) + body


def _enc_decimal(name: str, value: bytes) -> bytes:
    if len(value) < 5:
        raise ValueError("a decimal value is a 4-byte scale and a varint")
    scale_enc = bytes((value[0] ^ 0x80,)) + value[1:4]
    unscaled = int.from_bytes(value[4:], "big", signed=True)
    if unscaled == 0:
        return bytes((_SIGN_ZERO,)) + scale_enc
    digits = str(abs(unscaled))
    scale = struct.unpack(">i", value[:4])[0]
    exponent = len(digits) - scale
    digits = digits.rstrip("0")
    body = struct.pack(">Q", exponent + (1 << 63)) + bytes(int(d) + 1 for d in digits) + b"\x00"
    if unscaled < 0:
        return bytes((_SIGN_NEG,)) + body.translate(_INVERT) + scale_enc
    return bytes((_SIGN_POS,)) + body + scale_enc


_FIXED_ENCODERS = {
    **{n: _enc_signed for n in _SIGNED_WIDTH},
    **{n: _enc_unsigned for n in _UNSIGNED_WIDTH},
    **{n: _enc_float for n in _FLOAT_WIDTH},
    "uuid": _enc_uuid, "timeuuid": _enc_uuid, "varint": _enc_varint, "decimal": _enc_decimal,
}


def _element_types(name: str, args: tuple[str, ...], count: int) -> list[str]:
    if name in ("list", "set"):
        return [args[0]] * count
    if name == "map":
        return ([args[0], args[1]] * ((count + 1) // 2))[:count]
    if name == "tuple":
        return list(args[:count])
    raise ValueError(f"not an orderable collection type: {name}")


def _encode_elements(name: str, args: tuple[str, ...], value: bytes) -> bytes:
    fields = _split_serialized(name, args, value)
    out = [_PRESENT]
    for elem_type, field in zip(_element_types(name, args, len(fields)), fields, strict=True):
        if field is None:
            out.append(bytes((_ELEM_NULL,)))
        else:
            out.append(bytes((_ELEM_VALUE,)) + _encode_asc(elem_type, field))
    out.append(bytes((_ELEM_END,)))
    return b"".join(out)


def _split_serialized(name: str, args: tuple[str, ...], value: bytes) -> list[bytes | None]:
    """A collection's (count, [len, bytes]...) or a tuple's ([len, bytes]...) fields."""
    pos, fields = 0, list[bytes | None]()
    count = len(args) if name == "tuple" else -1
    if name != "tuple":
        count = struct.unpack_from(">i", value, 0)[0] * (2 if name == "map" else 1)
        pos = 4
    while pos < len(value) and len(fields) < count:
        size = struct.unpack_from(">i", value, pos)[0]
        pos += 4
        fields.append(None if size < 0 else value[pos : pos + size])
        pos += max(size, 0)
    if pos != len(value) or (name != "tuple" and len(fields) != count):
        raise ValueError(f"malformed serialized {name}")
    return fields


# --- decoding ----------------------------------------------------------------------------------
class _Reader:
    """Reads an encoding, un-inverting it when it belongs to a DESC component."""

    __slots__ = ("data", "pos", "mask")

    def __init__(self, data: bytes, pos: int, desc: bool) -> None:
        self.data, self.pos, self.mask = data, pos, 0xFF if desc else 0x00

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated clustering encoding")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk.translate(_INVERT) if self.mask else chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def unescape(self) -> bytes:
        parts, esc = [], self.mask
        while True:
            end = self.data.find(bytes((esc,)), self.pos)
            if end < 0 or end + 1 >= len(self.data):
                raise ValueError("unterminated escaped component")
            parts.append(self.take(end - self.pos))
            follower = self.take(2)[1]
            if follower == 0x01:
                return b"".join(parts)
            if follower != 0xFF:
                raise ValueError("bad escape in clustering encoding")
            parts.append(b"\x00")


def decode_clustering(types: Sequence[tuple[str, bool]], data: bytes) -> list[bytes]:
    """Serialized values of the components ``data`` holds (a prefix of ``types`` is allowed)."""
    values, pos = [], 0
    for cql_type, desc in types:
        if pos == len(data):
            break
        reader = _Reader(data, pos, desc)
        values.append(_decode_asc(cql_type, reader))
        pos = reader.pos
    if pos != len(data):
        raise ValueError("trailing bytes after the clustering components")
    return values


def _decode_asc(cql_type: str, r: _Reader) -> bytes:
    name, args = parse_type(cql_type)
    if name in _ESCAPED or (not args and name not in _FIXED_ENCODERS):
        return r.unescape()
    header = r.byte()
    if header == 0:
        return b""
    if name in _SIGNED_WIDTH:
        raw = r.take(_SIGNED_WIDTH[name])
        return bytes((raw[0] ^ 0x80,)) + raw[1:]
    if name in _UNSIGNED_WIDTH:
        return r.take(_UNSIGNED_WIDTH[name])
    if name in _FLOAT_WIDTH:
        return _dec_float(name, header, r)
    if name in ("uuid", "timeuuid"):
        return _dec_uuid(name, r)
    if name == "varint":
        return _dec_varint(header, r)
    if name == "decimal":
        return _dec_decimal(header, r)
    return _decode_elements(name, args, r)


def _dec_float(name: str, header: int, r: _Reader) -> bytes:
    width = _FLOAT_WIDTH[name]
    raw = r.take(width)
    if header == _NAN[0]:
        return raw
    bits, sign = int.from_bytes(raw, "big"), 1 << (width * 8 - 1)
    bits = bits ^ sign if bits & sign else bits ^ ((1 << width * 8) - 1)
    return bits.to_bytes(width, "big")


def _dec_uuid(name: str, r: _Reader) -> bytes:
    if name == "timeuuid":
        msb = _unorder_v1(int.from_bytes(r.take(8), "big"))
        return msb.to_bytes(8, "big") + r.take(8).translate(_FLIP_TOP)
    version = r.byte()
    msb = int.from_bytes(r.take(8), "big")
    if version == 1:
        msb = _unorder_v1(msb)
    return msb.to_bytes(8, "big") + r.take(8)


def _dec_varint(header: int, r: _Reader) -> bytes:
    if header == _SIGN_ZERO:
        return b"\x00"
    neg = header == _SIGN_NEG
    length_raw = r.take(4)
    length = struct.unpack(">I", length_raw.translate(_INVERT) if neg else length_raw)[0]
    mag_raw = r.take(length)
    mag = int.from_bytes(mag_raw.translate(_INVERT) if neg else mag_raw, "big")
    return varint_bytes(-mag if neg else mag)


def _dec_decimal(header: int, r: _Reader) -> bytes:
    if header == _SIGN_ZERO:
        return _dec_scale(r) + b"\x00"
    neg = header == _SIGN_NEG
    inv = _INVERT if neg else bytes(range(256))
    exponent = struct.unpack(">Q", r.take(8).translate(inv))[0] - (1 << 63)
    digits = []
    while (d := r.take(1).translate(inv)[0]) != 0:
        digits.append(str(d - 1))
    scale_raw = _dec_scale(r)
    scale = struct.unpack(">i", scale_raw)[0]
    shift = exponent - len(digits) + scale
    if shift < 0:
        raise ValueError("inconsistent decimal encoding")
    unscaled = int("".join(digits)) * 10**shift
    return scale_raw + varint_bytes(-unscaled if neg else unscaled)


def _dec_scale(r: _Reader) -> bytes:
    raw = r.take(4)
    return bytes((raw[0] ^ 0x80,)) + raw[1:]


def _decode_elements(name: str, args: tuple[str, ...], r: _Reader) -> bytes:
    fields: list[bytes | None] = []
    while (marker := r.byte()) != _ELEM_END:
        if marker == _ELEM_NULL:
            fields.append(None)
            continue
        if marker != _ELEM_VALUE:
            raise ValueError("bad element marker")
        elem_type = _element_types(name, args, len(fields) + 1)[-1]
        fields.append(_decode_asc(elem_type, r))
    body = b"".join(
        struct.pack(">i", -1) if f is None else struct.pack(">i", len(f)) + f for f in fields
    )
    if name == "tuple":
        return body
    count = len(fields) // 2 if name == "map" else len(fields)
    return struct.pack(">i", count) + body


# --- bounds over prefixes --------------------------------------------------------------------
def prefix_successor(prefix: bytes) -> bytes | None:
    """The least byte string greater than every string starting with ``prefix`` (None: none)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def clustering_range(
    start: bytes, start_inclusive: bool, end: bytes, end_inclusive: bool
) -> tuple[bytes, bytes | None] | None:
    """The half-open byte range [lo, hi) of clusterings a slice over prefixes selects.

    ``b''`` is unbounded on its side; ``hi is None`` means no upper bound; None means empty."""
    lo: bytes | None = start if (start_inclusive or not start) else prefix_successor(start)
    if lo is None:
        return None
    hi = None if not end else (prefix_successor(end) if end_inclusive else end)
    if hi is not None and hi <= lo:
        return None
    return lo, hi


def in_range(clustering: bytes, rng: tuple[bytes, bytes | None]) -> bool:
    lo, hi = rng
    return clustering >= lo and (hi is None or clustering < hi)


# --- partition keys ----------------------------------------------------------------------------
def composite_partition_key(parts: Sequence[bytes]) -> bytes:
    """Cassandra's routed key: one component as is; several as (u16 length, bytes, 0x00)*."""
    assert parts, "a partition key has at least one component"
    if len(parts) == 1:
        return parts[0]
    out = []
    for p in parts:
        if len(p) > 0xFFFF:
            raise ValueError("a partition key component is at most 65535 bytes")
        out.append(struct.pack(">H", len(p)) + p + b"\x00")
    return b"".join(out)


def split_partition_key(n: int, key: bytes) -> list[bytes]:
    """The inverse of ``composite_partition_key`` for an ``n``-component key."""
    assert n >= 1
    if n == 1:
        return [key]
    parts, pos = [], 0
    while pos < len(key):
        if pos + 2 > len(key):
            raise ValueError("truncated composite partition key")
        size = struct.unpack_from(">H", key, pos)[0]
        end = pos + 2 + size
        if end >= len(key) or key[end] != 0:
            raise ValueError("malformed composite partition key")
        parts.append(key[pos + 2 : end])
        pos = end + 1
    if len(parts) != n:
        raise ValueError(f"expected {n} partition key components, got {len(parts)}")
    return parts
