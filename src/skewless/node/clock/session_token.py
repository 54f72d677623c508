"""Session tokens: causality carried by the client, across coordinators and processes.

Theory of operation
-------------------
Every response to a read or a write carries, as the custom payload ``skewless-token`` (8
bytes, big-endian), the highest write timestamp the request touched: the timestamp a write was
stamped with, or the newest timestamp in the data a read returned. A client that sends the
highest token it has seen with its next request (``skewless.session_tokens`` wraps a stock
driver Session to do so, and to hand the token to another process: a Celery task started by a
web request, as in seed 000) gets:

* for a write stamped by the coordinator: a timestamp above the token, whatever that
  coordinator's clock says (the token is folded into its hybrid logical clock first; a fenced
  or ordered write uses it as the floor);
* for a read: consistency at least QUORUM (LOCAL_QUORUM for LOCAL_ONE), so that with QUORUM
  writes every write the token covers is among the replicas read.

A token is a timestamp some node issued, so the bound between nodes' clocks applies: one further
ahead of this node's cluster time than ``max_offset_ms`` is refused (Invalid), as remote
timestamps are not folded into the clock beyond it (``node.stamping``).
"""

from __future__ import annotations

from collections.abc import Mapping

from skewless.errors import InvalidRequest
from skewless.node import consistency as cl_mod

PAYLOAD_KEY = "skewless-token"


def decode(payload: Mapping[str, bytes | None] | None) -> int | None:
    """The token a request carries, if any (a malformed one is the client's fault)."""
    if not payload or PAYLOAD_KEY not in payload:
        return None
    raw = payload[PAYLOAD_KEY]
    if raw is None or len(raw) != 8:
        raise InvalidRequest(f"custom payload {PAYLOAD_KEY} must be 8 bytes (a timestamp)")
    return int.from_bytes(raw, "big", signed=True)


def check(token_us: int, cluster_now_us: int, max_offset_ms: float) -> None:
    ahead_ms = (token_us - cluster_now_us) / 1000
    if ahead_ms > max_offset_ms:
        raise InvalidRequest(
            f"Session token {token_us} is {ahead_ms:.1f} ms ahead of cluster time (max_offset_ms "
            f"= {max_offset_ms:g}): no node of this cluster issued it, or this node's clock is "
            f"far behind")


def encode(token_us: int) -> tuple[tuple[str, bytes], ...]:
    return ((PAYLOAD_KEY, token_us.to_bytes(8, "big", signed=True)),)


def read_consistency(cl: int) -> int:
    """The consistency a read carrying a token is served at."""
    if cl == cl_mod.LOCAL_ONE:
        return cl_mod.LOCAL_QUORUM
    if cl in (cl_mod.ONE, cl_mod.ANY):
        return cl_mod.QUORUM
    return cl
