"""A client request's parameters as the executor and the request records use them.

Apart from ``node.executor`` so that the write path (``node.write_path``, ``node.write_record``)
needs nothing of the executor but the narrow interface it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from skewless.cql.terms import Unset
from skewless.node import consistency as cl_mod

Value = bytes | None | Unset


@dataclass(frozen=True, slots=True)
class Params:
    """The parts of QUERY/EXECUTE/BATCH parameters the executor uses."""

    consistency: int = cl_mod.ONE
    values: tuple[Value, ...] = ()
    names: tuple[str, ...] | None = None
    page_size: int | None = None
    paging_state: bytes | None = None
    serial_consistency: int | None = None
    timestamp: int | None = None
    token_us: int | None = None  # the client's session token (node.session_token)
    tracing: bool = False  # the request frame's tracing flag
    client: str = ""  # the client's address (for a tracing session)
