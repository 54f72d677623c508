"""The registry of admin operations (see ``skewless.admin``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from skewless.node.node import Node

Json = dict[str, Any]


class AdminError(Exception):
    """A bad request (unknown keyspace, missing argument): nodetool prints it as an error."""


class NodeRuntime(Protocol):
    """What the node process offers beyond the synchronous ``Node`` (``runtime.admin``)."""

    def mode(self) -> str:
        """Cassandra's operation mode: STARTING, NORMAL, JOINING, LEAVING, DRAINING, DRAINED."""

    def uptime_ms(self) -> int: ...

    def memory_bytes(self) -> tuple[int, int] | None:
        """(resident set size, peak resident set size) of the node process; None without
        one (a simulated node)."""

    def native_transport_active(self) -> bool: ...

    def gossip_active(self) -> bool: ...

    def requests(self) -> tuple[int, int] | None:
        """CQL requests (in flight, answered since start); None: not counted."""

    def messages(self) -> Json | None:
        """Internode message counts: pending, sent, received, dropped (None: not counted)."""

    def flush(self) -> None: ...

    def compact(self) -> None: ...

    def drain(self) -> None: ...

    def snapshot(self, tag: str, keyspaces: list[str], tables: list[str]) -> Json: ...

    def list_snapshots(self) -> list[Json]: ...

    def clear_snapshot(self, tag: str | None) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class AdminContext:
    node: Node
    runtime: NodeRuntime


Handler = Callable[[AdminContext, Json], Json]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    handler: Handler
    description: str


OPERATIONS: dict[str, Operation] = {}


def operation(name: str, description: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the admin operation ``name``."""

    def register(handler: Handler) -> Handler:
        assert name not in OPERATIONS, f"admin operation {name} registered twice"
        OPERATIONS[name] = Operation(name, handler, description)
        return handler

    return register


def call(ctx: AdminContext, name: str, args: Json) -> Json:
    """Run operation ``name``; raises AdminError for an unknown one or bad arguments."""
    op = OPERATIONS.get(name)
    if op is None:
        raise AdminError(f"unknown operation {name!r} (known: {', '.join(sorted(OPERATIONS))})")
    return op.handler(ctx, args)


def arg_str(args: Json, name: str, default: str | None = None) -> str | None:
    value = args.get(name, default)
    if value is not None and not isinstance(value, str):
        raise AdminError(f"{name}: expected a string, got {value!r}")
    return value


def arg_list(args: Json, name: str) -> list[str]:
    value = args.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AdminError(f"{name}: expected a list of strings, got {value!r}")
    return value
