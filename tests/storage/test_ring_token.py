from cassandra.metadata import Murmur3Token
from hypothesis import given
from hypothesis import strategies as st

from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of


@given(st.binary(max_size=64))
def test_token_matches_driver(key: bytes) -> None:
    assert token_of(key) == Murmur3Token.from_key(key).value
    assert MIN_TOKEN < token_of(key) <= MAX_TOKEN


def test_known_tokens() -> None:
    # int 1 serialized big-endian; value checked against the driver oracle.
    key = (1).to_bytes(4, "big")
    assert token_of(key) == Murmur3Token.from_key(key).value
    assert token_of(b"") == Murmur3Token.from_key(b"").value
