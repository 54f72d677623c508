"""Corrupt storage: finding it, refusing to serve it, and the state of a node that needs rebuild.

Theory of operation
-------------------
Everything a node keeps is one RocksDB database with two column families (``storage.kv``):
``data`` (partitions, secondary indexes: rebuilt from the peers) and ``default`` (meta such as
its identity and metadata log, hints, the batchlog), each in SST files of its own; its commit
log is RocksDB's write-ahead log.
RocksDB checksums every block of its SST files and every WAL record. A read that meets a block
whose checksum does not match raises an ``Exception`` whose text starts with ``Corruption:``;
an iterator that meets one just stops (``valid()`` false) and only its ``status()`` tells.

``CheckedKV`` wraps the node's ``KV``: every call that reads turns such an error into a typed
``StorageCorruption`` (and an iterator that stopped early into one too, so a scan never returns a
silently short answer) and records it in the node's ``Integrity``. Callers that serve data catch
``StorageCorruption``: a replica answers the read with an error starting with
``CORRUPT_PREFIX`` and the coordinator fails over to another replica (``node.coordinator``).

Corruption is also looked for without a read: ``verify`` scans every entry with checksums on
(at start, in a worker thread, and by ``nodetool verify``), and the runtime compares the WAL's
recovered sequence number with the one it recorded after its last fsync
(``runtime.quarantine``): fewer means the commit log lost acknowledged writes (truncated).

``Integrity`` is the node's verdict. Under ``disk_failure_policy`` ``stop`` (the default),
``stop_paranoid`` and ``die`` a corruption marks the node *needing rebuild*: it answers every
replica read with a failure (its data may be missing or wrong anywhere, and a commit log that
lost its tail leaves no checksum to catch), keeps taking writes, and keeps serving system tables
and status. ``best_effort`` marks it too but serves the reads that do not touch a corrupt block;
``ignore`` only fails the reads that do. The mark survives restarts (the runtime keeps it in a
file beside the database) until ``nodetool rebuild`` has quarantined the database and repaired
every range from the peers (``runtime.quarantine``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from skewless import limits
from skewless.storage.kv import KV, Batch

# A replica's read failure caused by corruption starts with this (the coordinator fails over).
CORRUPT_PREFIX = "Corrupt data on replica"

# Key prefixes that hold the node's own state rather than replicated data (``storage.engine``),
# all in RocksKV's default column family: meta, hints (entries, counters, sequence), batchlog.
# Data ('d') and index ('x') entries (``kv.DATA_PREFIXES``) are rebuilt from the peers.
_OWN_FAMILIES = (b"m", b"h", b"c", b"s", b"b", b"B")


BLOCK_REASON = "corrupt SSTable block"


class StorageCorruption(Exception):
    """RocksDB found a checksum mismatch (or another ``Corruption:``) under a read."""


def is_corruption(e: BaseException) -> bool:
    return "Corruption" in str(e)[:200]


@dataclass
class Integrity:
    """One node's storage verdict (see the module docstring)."""

    policy: str = "stop"  # disk_failure_policy (config.DISK_FAILURE_POLICIES)
    reasons: list[str] = field(default_factory=list)  # why it needs rebuild (empty: it does not)
    corruption_errors: int = 0  # reads that met corruption since start
    last_error: str = ""
    rebuild_commands: dict[str, int] = field(default_factory=dict)  # keyspace -> repair command
    rebuilds: int = 0  # rebuilds finished since start
    on_mark: Callable[[Integrity], None] | None = None  # persists the mark (runtime)

    @property
    def needs_rebuild(self) -> bool:
        return bool(self.reasons)

    @property
    def refuses_reads(self) -> bool:
        """Answer every replica read with a failure (policies that stop serving damaged data)."""
        return self.needs_rebuild and self.policy in ("stop", "stop_paranoid", "die")

    def state(self) -> str:
        """One word for status and metrics: OK, CORRUPT (needs rebuild), REBUILDING."""
        if not self.needs_rebuild:
            return "OK"
        return "REBUILDING" if self.rebuild_commands else "CORRUPT"

    def mark(self, reason: str) -> None:
        """Corruption found: the node needs rebuild (unless the policy is ``ignore``)."""
        if self.policy == "ignore" or reason in self.reasons:
            return
        self.reasons.append(reason)
        if self.on_mark is not None:
            self.on_mark(self)

    def corruption(self, detail: str) -> None:
        """A read met corruption: counted; the first one is the reason (not one per block)."""
        self.corruption_errors += 1
        self.last_error = detail
        if not any(r.startswith(BLOCK_REASON) for r in self.reasons):
            self.mark(f"{BLOCK_REASON}: {detail}")

    def cleared(self) -> None:
        self.reasons.clear()
        self.rebuild_commands.clear()
        self.rebuilds += 1
        if self.on_mark is not None:
            self.on_mark(self)


class CheckedKV:
    """A ``KV`` whose corruption errors are typed and recorded (see the module docstring).

    ``inner`` may be swapped (``swap``) when the database is quarantined and replaced."""

    def __init__(self, inner: KV, integrity: Integrity) -> None:
        self.inner = inner
        self.integrity = integrity

    def _corrupt(self, e: BaseException) -> StorageCorruption:
        detail = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        self.integrity.corruption(detail)
        return StorageCorruption(detail)

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.inner.get(key)
        except Exception as e:
            if is_corruption(e):
                raise self._corrupt(e) from None
            raise

    def write(self, batch: Batch) -> None:
        try:
            self.inner.write(batch)
        except Exception as e:
            if is_corruption(e):
                raise self._corrupt(e) from None
            raise

    def iter_from(
        self, start: bytes, end: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        it = self.inner.iter_from(start, end, reverse)
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except Exception as e:
                if is_corruption(e):
                    raise self._corrupt(e) from None
                raise
            yield item

    def delete_range(self, start: bytes, end: bytes) -> None:
        self.inner.delete_range(start, end)

    def sync(self) -> None:
        self.inner.sync()

    def close(self) -> None:
        self.inner.close()

    def size_bytes(self) -> int:
        return self.inner.size_bytes()

    def swap(self, inner: KV) -> KV:
        """Replace the store underneath (quarantine); returns the old one."""
        old, self.inner = self.inner, inner
        return old


def verify(kv: KV, should_stop: Callable[[], bool] = lambda: False) -> tuple[int, str | None]:
    """Read every entry with checksums on: (entries read, the first corruption or None).

    Runs in a worker thread over the live store (RocksDB iterators see a consistent snapshot)."""
    n = 0
    try:
        for _ in kv.iter_from(b"", None):
            n += 1
            if n % limits.verify_stop_check_entries == 0 and should_stop():
                break
    except StorageCorruption as e:
        return n, str(e)
    except Exception as e:
        if is_corruption(e):
            return n, str(e).splitlines()[0][:300]
        raise
    return n, None


def salvage(kv: KV) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """The node's own entries (meta, hints, batchlog) that can still be read, and the families
    that could not be read whole (their readable beginning is kept)."""
    kept: list[tuple[bytes, bytes]] = []
    lost: list[str] = []
    for family in _OWN_FAMILIES:
        end = bytes((family[0] + 1,))
        try:
            for item in kv.iter_from(family, end):
                kept.append(item)
        except Exception as e:
            if not (isinstance(e, StorageCorruption) or is_corruption(e)):
                raise
            lost.append(family.decode())
    return kept, lost


def integrity_of(kv: KV) -> Integrity | None:
    """The node's verdict when its store is checked (a process); None in the simulator. The
    ``CheckedKV`` may sit under other wrappers (``storage.diskspace.GuardedKV``: ``inner``)."""
    for _ in range(4):  # a handful of wrappers at most
        if isinstance(kv, CheckedKV):
            return kv.integrity
        inner = getattr(kv, "inner", None)
        if inner is None:
            return None
        kv = inner
    return None


def replica_refusal(kv: KV, address: str) -> str | None:
    """Why this replica must not serve a read at all (it needs rebuild), or None."""
    integ = integrity_of(kv)
    if integ is None or not integ.refuses_reads:
        return None
    return f"{CORRUPT_PREFIX} {address}: needs rebuild ({integ.reasons[0]})"


def gossiped_verdict(kv: KV) -> str:
    """``Heartbeat.storage``: the verdict while the node needs rebuild, '' otherwise."""
    integ = integrity_of(kv)
    if integ is None or not integ.needs_rebuild:
        return ""
    return (storage_verdict(kv) or "")[:limits.storage_verdict_gossip_chars_max]


def storage_verdict(kv: KV) -> str | None:
    """``system.skewless_status.storage`` of this node: OK, or the state and its first reason."""
    integ = integrity_of(kv)
    if integ is None:
        return None
    state = integ.state()
    return state if state == "OK" else f"{state}: {integ.reasons[0]}"
