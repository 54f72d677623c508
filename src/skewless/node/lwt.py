"""The node's partition Paxos: the one ``PaxosCore`` (``node.paxos``) wired to its host node.

Theory of operation
-------------------
``Lwt`` owns the node's ``PaxosCore`` and carries out each ``Effects`` it returns, in the
core's order, through the node's Ready batch (``node.effects``):

1. the acceptor's state and the ballot ceiling (``Durable``) are meta entries of the node's
   storage (``lwt/<hex of the core's key>``), and committed data goes through the node's
   ordinary ``apply_local`` (so the newest-timestamp index and the shadow reports stay right);
   both are storage writes, so ``take_unsynced`` marks the Ready batch for a sync;
2. when the core asks for a sync (a promise, an acceptance, a commit or a ballot ceiling was
   written) the batch's ``must_sync_metadata`` is set too: the sync happens in every commitlog
   mode, since a promise or an acceptance answered and then forgotten by a crash breaks Paxos;
3. ``sends`` go into the same batch, after the sync, except ``LwtPrepare``, which may leave
   during it unless the batch wrote a ballot ceiling (``Ready.hold_prepares``); ``answers``
   call the continuation the LWT was started with (``cas``), which answers the client, after
   the sends in the batch;
4. ``observed_us`` is folded into the node's hybrid clock: later ordinary writes from this node
   are stamped above every ballot and LWT commit it has seen.

Inputs: ``cas`` (an LWT or SERIAL read: ``node.lwt_path`` builds the ``CasRequest``),
``on_message`` (every ``Lwt*`` message, from ``Node._peer_message``) and ``tick`` (the node's
tick: proposers' timeouts and backoff, and the purge sweep: every
``limits.paxos_purge_interval_ms`` at most ``limits.paxos_purge_batch_max`` partitions' states
are looked at, from a cursor, and removed once ``acceptor.purgeable`` under the table's
gc_grace_seconds).

The core's random (round ids, backoff jitter) is seeded from the host id and the gossip
generation: distinct per incarnation, deterministic in the simulator, and no draw from the
node's own random (which would shift everything drawn after it).

``contentions`` counts the Paxos rounds lost to other proposers, over every answered LWT
(Cassandra's ContendedCasWrites metric's numerator).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from skewless import limits
from skewless.node.messages import (
    LwtAccepted,
    LwtCommit,
    LwtCommitAck,
    LwtPrepare,
    LwtPromise,
    LwtPropose,
)
from skewless.node.paxos.acceptor import state_key
from skewless.node.paxos.core import Effects, LwtMessage, PaxosCore
from skewless.node.paxos.proposer import CasRequest, Outcome
from skewless.node.ports import LwtHost
from skewless.storage.model import PartitionUpdate

LWT_MESSAGES = (LwtPrepare, LwtPromise, LwtPropose, LwtAccepted, LwtCommit, LwtCommitAck)
META_PREFIX = "lwt/"
_STATE_PREFIX = state_key("", b"")[: -1]  # b"paxos/": the acceptor's per-partition keys

Done = Callable[[Outcome], None]


class _Durable:
    """The core's ``Durable`` port on the node's storage meta entries."""

    def __init__(self, host: LwtHost) -> None:
        self.host = host

    def get(self, key: bytes) -> bytes | None:
        return self.host.storage.get_meta(META_PREFIX + key.hex())

    def put(self, key: bytes, value: bytes) -> None:
        self.host.storage.put_meta(META_PREFIX + key.hex(), value)

    def delete(self, key: bytes) -> None:
        self.host.storage.delete_meta(META_PREFIX + key.hex())


class _Data:
    """The core's ``Data`` port: the local partition with its tombstones, and the node's
    ordinary apply path."""

    def __init__(self, host: LwtHost) -> None:
        self.host = host

    def read(self, table: str, key: bytes) -> PartitionUpdate:
        if self.host.table_by_key(table) is None:
            return PartitionUpdate(table, key)
        return self.host.storage.read(table, key, self.host.physical_us() // 1_000_000)

    def apply(self, update: PartitionUpdate) -> None:
        if self.host.table_by_key(update.table) is None:
            return  # the table was dropped meanwhile: nothing to apply it to
        if self.host.truncations.covers(update):
            return  # a commit from before a TRUNCATE (repaired late): as a hint, dropped
        self.host.apply_local(update)


class Lwt:
    def __init__(self, host: LwtHost, generation: int) -> None:
        self.host = host
        seed = (host.host_id.int << 64) ^ generation
        self.core = PaxosCore(host.address, _Durable(host), _Data(host), random.Random(seed))
        self._waiting: dict[int, Done] = {}
        self._next_op = 0
        self.contentions = 0  # Paxos rounds lost to other proposers, over answered LWTs
        self.started = 0  # LWTs and SERIAL reads started here as the proposer
        self._last_purge_ns = host.clock.monotonic_ns()
        self._purge_cursor = ""

    # ------------------------------------------------------------------ inputs

    def cas(self, req: CasRequest, done: Done) -> None:
        """Run one LWT or SERIAL read; ``done`` gets its one ``Outcome`` (maybe at once)."""
        self._next_op += 1
        self.started += 1
        op = self._next_op
        self._waiting[op] = done
        self._carry(self.core.cas(op, req, self._now_ms(), self.host.next_timestamp()))

    def on_message(self, sender: str, m: LwtMessage) -> None:
        self._carry(self.core.on_message(sender, m, self._now_ms(), self.host.next_timestamp()))

    def tick(self, now_ns: int) -> None:
        if self.core.proposers:
            self._carry(self.core.tick(now_ns // 1_000_000, self.host.next_timestamp()))
        if now_ns - self._last_purge_ns >= limits.paxos_purge_interval_ms * 1_000_000:
            self._last_purge_ns = now_ns
            self._purge_step()

    # ------------------------------------------------------------------ internals

    def _now_ms(self) -> int:
        return self.host.clock.monotonic_ns() // 1_000_000

    def _carry(self, fx: Effects) -> None:
        if fx.sync:
            self.host.ready.must_sync_metadata = True
        if fx.ceiling_moved:
            self.host.ready.hold_prepares = True
        for to, m in (*fx.early_sends, *fx.sends):  # early_sends: a planted bug's, tests only
            self.host.send(to, m)
        if fx.observed_us:
            self.host.observe(fx.observed_us)
        for op, outcome in fx.answers:
            self.contentions += outcome.contentions
            done = self._waiting.pop(op, None)
            assert done is not None, op
            done(outcome)

    def _purge_step(self) -> None:
        """Look at the next states from the cursor; remove the purgeable ones."""
        entries = self.host.storage.meta_after(META_PREFIX, self._purge_cursor,
                                               limits.paxos_purge_batch_max)
        self._purge_cursor = entries[-1][0] if len(entries) == limits.paxos_purge_batch_max \
            else ""
        now_us = self.host.physical_us()
        for name, _ in entries:
            try:
                raw = bytes.fromhex(name[len(META_PREFIX):])
            except ValueError:
                continue  # not one of ours
            if not raw.startswith(_STATE_PREFIX):
                continue  # the ballot ceiling
            table, sep, key = raw[len(_STATE_PREFIX):].partition(b"/")
            tdef = self.host.table_by_key(table.decode("ascii", "replace")) if sep else None
            grace = limits.gc_grace_seconds_default if tdef is None else tdef.option(
                "gc_grace_seconds", limits.gc_grace_seconds_default)
            grace_s = grace if isinstance(grace, int) else limits.gc_grace_seconds_default
            self._carry(self.core.purge(table.decode("ascii", "replace"), key, now_us, grace_s))
