"""TRUNCATE: all data of a table removed on every node, and kept from coming back.

Theory of operation
-------------------
Coordinator (Cassandra's ``StorageProxy.truncateBlocking``): every node of the cluster must be
up, else the statement fails at once with TRUNCATE_ERROR "Error during truncate: Cannot achieve
consistency level ALL" (Cassandra wraps the Unavailable in a TruncateException). The coordinator
takes a timestamp from its timestamp source, ``truncated_at_us``, truncates its own copy and
sends a ``TruncateRequest`` to every peer; it answers Void when all have answered, or
"Error during truncate: Truncate timed out - received only N responses" after
``limits.truncate_timeout_ms``.

Every node (the coordinator too) deletes the table's whole key range in storage and records
``truncated_at_us`` for the table in its storage meta (synced before its answer leaves, so it
survives a restart). Writes that were made before the truncation but arrive after it must not
bring rows back: a replayed hint and a replayed batchlog mutation whose newest timestamp is not
above the table's ``truncated_at_us`` are dropped (as Cassandra drops hints and batches written
before ``truncated_at``). Fresh writes are not filtered: a client may write right after the
TRUNCATE with its own (possibly slower) clock.

The records are kept per table id; a dropped table's record is harmless (its id never returns).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from skewless import errors, limits
from skewless.node.clock.stamps import max_timestamp
from skewless.node.messages import TruncateRequest, TruncateResponse
from skewless.schema import TableDef
from skewless.storage.model import PartitionUpdate

if TYPE_CHECKING:
    from skewless.node.ports import TruncationHost

log = logging.getLogger("skewless.truncation")

_META = "truncated_at"  # storage meta: JSON object, table key -> truncated_at_us
Done = Callable[[errors.CqlError | None], None]


@dataclass
class _Pending:
    waiting: set[str]  # peers that have not answered yet
    answered: int  # nodes that truncated (the coordinator included)
    deadline_ns: int
    done: Done


class Truncations:
    """A node's truncation records (replica side) and its TRUNCATEs in flight (coordinator)."""

    def __init__(self, node: TruncationHost) -> None:
        self.node = node
        raw = node.storage.get_meta(_META)
        loaded = json.loads(raw.decode()) if raw else {}
        self.truncated_at: dict[str, int] = {str(k): int(v) for k, v in loaded.items()}
        self.pending: dict[int, _Pending] = {}

    # ------------------------------------------------------------ replica side

    def covers(self, update: PartitionUpdate) -> bool:
        """Whether ``update`` was written before its table was last truncated here."""
        at = self.truncated_at.get(update.table)
        return at is not None and max_timestamp(update) <= at

    def truncate_local(self, table_key: str, truncated_at_us: int) -> None:
        node = self.node
        node.storage.truncate(table_key)
        at = max(truncated_at_us, self.truncated_at.get(table_key, truncated_at_us))
        self.truncated_at[table_key] = at
        node.storage.put_meta(_META, json.dumps(self.truncated_at, sort_keys=True).encode())
        node.observe(at)
        log.info("truncated table %s at %d", table_key, at)

    def on_request(self, sender: str, m: TruncateRequest) -> None:
        error = ""
        if self.node.table_by_key(m.table) is None:
            error = f"unknown table {m.table}"
        else:
            self.truncate_local(m.table, m.truncated_at_us)
        self.node.send(sender, TruncateResponse(m.req_id, error))

    # ------------------------------------------------------------ coordinator side

    def truncate(self, table: TableDef, done: Done) -> None:
        """TRUNCATE ``table`` on every node; ``done(None)`` once all have, else the error."""
        node = self.node
        peers = node.membership.peers
        alive = [a for a, p in sorted(peers.items()) if p.up]
        if len(alive) < len(peers):
            raise errors.TruncateError(
                "Error during truncate: Cannot achieve consistency level ALL")
        at = node.next_timestamp()
        self.truncate_local(table.table_key, at)
        if not alive:
            done(None)
            return
        req_id = node.new_req_id()
        deadline_ns = node.clock.monotonic_ns() + limits.truncate_timeout_ms * 1_000_000
        self.pending[req_id] = _Pending(set(alive), 1, deadline_ns, done)
        for address in alive:
            node.send(address, TruncateRequest(req_id, table.table_key, at))

    def on_response(self, sender: str, m: TruncateResponse) -> None:
        p = self.pending.get(m.req_id)
        if p is None or sender not in p.waiting:
            return
        p.waiting.discard(sender)
        if m.error:
            del self.pending[m.req_id]
            p.done(errors.TruncateError(f"Error during truncate: {m.error}"))
            return
        p.answered += 1
        if not p.waiting:
            del self.pending[m.req_id]
            p.done(None)

    def tick(self, now_ns: int) -> None:
        for req_id in [r for r, p in self.pending.items() if p.deadline_ns <= now_ns]:
            p = self.pending.pop(req_id)
            p.done(errors.TruncateError(
                f"Error during truncate: Truncate timed out - received only {p.answered} "
                "responses"))
