"""A CAS WriteTimeout on the wire: protocol v5 carries ``<contentions>`` [short] after
write_type (Cassandra's WriteTimeoutException for CAS); v4 and other write types do not. The
stock driver decodes both (it reads up to write_type and ignores what follows in the body)."""

from __future__ import annotations

import io
import struct

from cassandra import WriteType
from cassandra import protocol as dp

from skewless import errors
from skewless.cql.protocol_responses import encode_error
from skewless.node.consistency import SERIAL


def _driver(body: bytes, version: int) -> dp.WriteTimeoutErrorMessage:
    msg = dp.ErrorMessage.recv_body(io.BytesIO(body), version, None, None)
    assert isinstance(msg, dp.WriteTimeoutErrorMessage)
    return msg


def test_v5_cas_timeout_carries_contentions_and_the_driver_decodes_it() -> None:
    e = errors.WriteTimeout("CAS operation timed out", SERIAL, 1, 2, "CAS", contentions=7)
    v5, v4 = encode_error(e, 5), encode_error(e, 4)
    assert v5 == v4 + struct.pack(">H", 7)
    for body, version in ((v5, 5), (v4, 4)):
        info = _driver(body, version).info
        assert info["write_type"] == WriteType.CAS and info["required_responses"] == 2
        assert info["consistency"] == SERIAL


def test_other_write_types_carry_no_contentions() -> None:
    e = errors.WriteTimeout("w", SERIAL, 1, 2, "SIMPLE")
    assert encode_error(e, 5) == encode_error(e, 4)


def test_contentions_are_capped_at_a_short() -> None:
    e = errors.WriteTimeout("w", SERIAL, 0, 2, "CAS", contentions=70_000)
    assert encode_error(e, 5)[-2:] == b"\xff\xff"
