"""Session token payload codec and read consistency (pure)."""

from __future__ import annotations

import pytest

from skewless.errors import InvalidRequest
from skewless.node import consistency as cl
from skewless.node.clock import session_token


def test_round_trip_and_absent() -> None:
    ((key, raw),) = session_token.encode(1_750_000_000_123_456)
    assert key == "skewless-token"
    assert session_token.decode({key: raw}) == 1_750_000_000_123_456
    assert session_token.decode(None) is None
    assert session_token.decode({"other": b"x"}) is None


def test_malformed_token_is_the_clients_fault() -> None:
    with pytest.raises(InvalidRequest, match="must be 8 bytes"):
        session_token.decode({"skewless-token": b"\x01\x02"})


def test_token_far_ahead_refused() -> None:
    session_token.check(1_000_400_000, 1_000_000_000, 500)
    with pytest.raises(InvalidRequest, match="600.0 ms ahead of cluster time"):
        session_token.check(1_000_600_000, 1_000_000_000, 500)


def test_reads_with_a_token_are_at_least_quorum() -> None:
    assert session_token.read_consistency(cl.ONE) == cl.QUORUM
    assert session_token.read_consistency(cl.LOCAL_ONE) == cl.LOCAL_QUORUM
    assert session_token.read_consistency(cl.ALL) == cl.ALL
