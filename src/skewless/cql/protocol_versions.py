"""What a response looks like to a v3 or v5 client, where it differs from v4.

Theory of operation
-------------------
Types, errors and result metadata are built once, in v4 terms; the encoders ask this module
for the other versions' view, as Cassandra's DataType.fromType, ErrorMessage's
getBackwardsCompatibleException and ResultMetadata's id do:

* Type options: each native type has the protocol version that introduced its code. A client
  on an older version gets a custom type (code 0x0000) naming the server class instead: v3
  has no date, time, smallint or tinyint (v4 codes 0x11-0x14); only v5 has duration's code
  0x15, so v3/v4 keep the custom ``DurationType``. The types encode themselves in v4 terms;
  ``type_option`` rewrites that encoding, recursing through collections, tuples and UDTs.
* Errors: v3 has no READ_FAILURE / WRITE_FAILURE; Cassandra answers them as READ_TIMEOUT /
  WRITE_TIMEOUT with the same counts.
* Result metadata id (v5): a digest of the columns' keyspace, table, name and type, so the
  same result shape always has the same id, on every node and after a restart. A PREPARED
  result carries it; an EXECUTE echoes the id its client holds, and a Rows answer whose id
  differs says METADATA_CHANGED and carries the new id with full metadata.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Protocol

from skewless import errors
from skewless.cql.types_base import CqlType, pack_short, pack_string

_CUSTOM = 0x0000
_DURATION = 0x0015
_DURATION_CLASS = "org.apache.cassandra.db.marshal.DurationType"
# v4 native codes that v3 lacks, with the class a v3 client is told instead.
_V4_CODES = {
    0x0011: "org.apache.cassandra.db.marshal.SimpleDateType",
    0x0012: "org.apache.cassandra.db.marshal.TimeType",
    0x0013: "org.apache.cassandra.db.marshal.ShortType",
    0x0014: "org.apache.cassandra.db.marshal.ByteType",
}
_LIST, _MAP, _SET, _UDT, _TUPLE = 0x0020, 0x0021, 0x0022, 0x0030, 0x0031


def type_option(t: CqlType, version: int) -> bytes:
    """``t``'s [option] as a client on protocol ``version`` must see it."""
    data = t.option_bytes()
    if version == 4:
        return data
    out, end = _rewrite(data, 0, version)
    assert end == len(data), (end, len(data))
    return out


def _string(data: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from(">H", data, pos)
    return data[pos + 2 : pos + 2 + n].decode(), pos + 2 + n


def _rewrite(data: bytes, pos: int, version: int) -> tuple[bytes, int]:
    """The option starting at ``pos`` rewritten for ``version``, and where it ended."""
    (code,) = struct.unpack_from(">H", data, pos)
    pos += 2
    if code == _CUSTOM:
        name, pos = _string(data, pos)
        if name == _DURATION_CLASS and version >= 5:
            return pack_short(_DURATION), pos
        return pack_short(code) + pack_string(name), pos
    if code in _V4_CODES and version < 4:
        return pack_short(_CUSTOM) + pack_string(_V4_CODES[code]), pos
    if code in (_LIST, _SET, _MAP):
        out = pack_short(code)
        for _ in range(2 if code == _MAP else 1):
            sub, pos = _rewrite(data, pos, version)
            out += sub
        return out, pos
    if code == _TUPLE:
        (n,) = struct.unpack_from(">H", data, pos)
        out, pos = data[pos - 2 : pos + 2], pos + 2
        for _ in range(n):
            sub, pos = _rewrite(data, pos, version)
            out += sub
        return out, pos
    if code == _UDT:
        start = pos
        _, pos = _string(data, pos)
        _, pos = _string(data, pos)
        (n,) = struct.unpack_from(">H", data, pos)
        out, pos = data[start - 2 : pos + 2], pos + 2
        for _ in range(n):
            name_end = _string(data, pos)[1]
            out, pos = out + data[pos:name_end], name_end
            sub, pos = _rewrite(data, pos, version)
            out += sub
        return out, pos
    return pack_short(code), pos


def compatible_error(e: errors.CqlError, version: int) -> errors.CqlError:
    """The error a client on ``version`` is sent for ``e`` (Cassandra's mapping)."""
    if version >= 4:
        return e
    if isinstance(e, errors.ReadFailure):
        return errors.ReadTimeout(e.message, e.consistency, e.received, e.block_for,
                                  e.data_present)
    if isinstance(e, errors.WriteFailure):
        return errors.WriteTimeout(e.message, e.consistency, e.received, e.block_for,
                                   e.write_type)
    return e


class _Column(Protocol):
    @property
    def keyspace(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> CqlType: ...


def result_metadata_id(columns: Sequence[_Column]) -> bytes:
    """The v5 result metadata id of a result with these columns (16 bytes, as Cassandra's)."""
    digest = hashlib.md5(usedforsecurity=False)
    for c in columns:
        for part in (c.keyspace, c.table, c.name):
            digest.update(pack_string(part))
        digest.update(type_option(c.type, 5))
    return digest.digest()
