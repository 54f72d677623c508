"""Codec round trip and rejection of malformed input."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_storage_strategies import updates

from skewless.errors import RemoteProtocolError
from skewless.storage import codec
from skewless.storage.model import Cell, PartitionUpdate


@given(updates())
def test_round_trip(p: PartitionUpdate) -> None:
    assert codec.decode_update(codec.encode_update(p)) == p


def test_cells_round_trip_compactly() -> None:
    for c in (Cell(1, b"v"), Cell(2, None, deleted_s=9), Cell(3, b"", 10, 20)):
        assert codec.decode_cell(codec.encode_cell(c)) == c
    assert len(codec.encode_cell(Cell(1_700_000_000_000_000, b"v"))) <= 13


@given(st.binary(max_size=64))
def test_garbage_raises_remote_protocol_error(data: bytes) -> None:
    try:
        codec.decode_update(data)
    except RemoteProtocolError:
        pass


@given(updates(), st.data())
def test_corrupted_shapes_raise(p: PartitionUpdate, data: st.DataObject) -> None:
    body = msgpack.unpackb(codec.encode_update(p), raw=False)
    index = data.draw(st.integers(0, len(body) - 1))
    body[index] = data.draw(st.sampled_from([None, 3.5, "x", b"y", [1], {"a": 1}, True]))
    encoded = msgpack.packb(body, use_bin_type=True)
    try:
        decoded = codec.decode_update(encoded)
    except RemoteProtocolError:
        return
    assert codec.encode_update(decoded) == encoded  # only a still-valid message decodes


def test_specific_malformations() -> None:
    good = msgpack.unpackb(codec.encode_update(PartitionUpdate("t", b"k")), raw=False)
    for bad in ([99, *good[1:]], good[:6], [*good[:6], [[b"c", None, None, [[1, 2, 3]], []]]],
                [*good[:4], [[b"", True, b"", True, None]], *good[5:]]):
        with pytest.raises(RemoteProtocolError):
            codec.decode_update(msgpack.packb(bad, use_bin_type=True))
    with pytest.raises(RemoteProtocolError):
        codec.decode_update(b"\xc1")
    with pytest.raises(RemoteProtocolError):
        codec.decode_update(codec.encode_update(PartitionUpdate("t", b"k")) + b"\x00")
