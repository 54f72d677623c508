"""Disk space: refuse data writes before the disk is full, and survive it when it fills anyway.

Theory of operation
-------------------
RocksDB on a full disk fails the write whose WAL append hit ENOSPC, then refuses every later
write ("Writer has previous error") and fails ``flush_wal`` too: the store is read-only until
it is closed and opened again, and opening replays the WAL into a new SST file, which needs as
much free space as the memtables held. A memtable flush or a compaction that hits ENOSPC
poisons the store the same way. So this module does two things:

* **A reserve** (``DiskState.min_free_bytes``, Cassandra's ``min_free_space_per_drive_in_mb``):
  a *data* write (a partition's entries, the ``'d'`` keys of ``storage.engine``) is refused
  while the free bytes of the data directory are below the reserve plus the bytes the memtables
  hold (what their flush will write before the WAL is deleted), and accepted again once the
  free space is ``limits.disk_resume_margin_bytes`` above that (no flapping). Internal
  writes (metadata, hints, the batchlog) go on into the reserve. The runtime
  (``runtime.disk_watch``) feeds the readings (``observe``) and flushes the memtables early
  (``flush_advised``), so that a disk with room never refuses a write for their sake.
* **A failure state**: ``GuardedKV`` turns a storage I/O error of a write, a range delete or a
  sync into ``DiskFull`` and records it (``failure``); data writes are refused from then on,
  with the cause, until the runtime has reopened the store (``recovered``) once there is room
  for the replay. Reads go on from the open store meanwhile.

``DiskFull`` is what the write path turns into a replica's failure (``MutationResponse.error``),
so the coordinator answers WriteFailure naming the node and the cause. A sync that fails means
nothing written since the previous sync may be acknowledged (``runtime.disk_watch``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from skewless import limits
from skewless.storage.engine import partition_prefix
from skewless.storage.kv import KV, Batch

_DATA = partition_prefix("t", b"")[:1]  # the first byte of every partition entry's key


class DiskFull(Exception):
    """A write refused or failed for lack of disk space (or another storage I/O error); the
    message names the node and the cause."""


@dataclass
class DiskState:
    """What the runtime last measured of the data directory, and the store's failure."""

    address: str
    min_free_bytes: int  # 0: no reserve (only real failures refuse writes)
    free_bytes: int | None = None  # None: not measured yet
    unflushed_bytes: int = 0
    failure: str = ""  # the storage error that made the store read-only, until it reopens
    failure_unflushed_bytes: int = 0  # the memtables' bytes when it failed (the replay's size)
    writes_refused: int = 0
    storage_failures: int = 0
    recoveries: int = 0
    refusing: bool = False  # below the threshold, and not yet back above it by the margin

    def observe(self, free_bytes: int, unflushed_bytes: int) -> None:
        self.free_bytes = free_bytes
        self.unflushed_bytes = unflushed_bytes
        need = self.needed_bytes()
        if need and self.refusing:
            self.refusing = free_bytes < need + limits.disk_resume_margin_bytes
        else:
            self.refusing = need > 0 and free_bytes < need

    def needed_bytes(self) -> int:
        """Free bytes below which data writes are refused (0 with no reserve)."""
        if self.min_free_bytes == 0:
            return 0
        return self.min_free_bytes + self.unflushed_bytes

    def low(self) -> bool:
        """Data writes are refused for space: below the threshold, until the free space is
        back ``limits.disk_resume_margin_bytes`` above it (hysteresis)."""
        return self.refusing

    def state(self) -> str:
        """``failed`` (the store is read-only), ``low`` (refusing data writes) or ``ok``."""
        return "failed" if self.failure else "low" if self.low() else "ok"

    def refusal(self) -> str | None:
        """Why a data write must be refused now, or None."""
        if self.failure:
            return (f"storage on {self.address} failed ({self.failure}); writes are refused "
                    "until it has been reopened, which happens by itself once the disk has room")
        if self.low():
            mb = 1024 * 1024
            return (f"No space left on device on {self.address}: {self.free_bytes or 0} bytes "
                    f"free, below min_free_space_per_drive_in_mb ({self.min_free_bytes // mb}) "
                    f"plus {self.unflushed_bytes} unflushed bytes")
        return None

    def failed(self, cause: str) -> None:
        if not self.failure:
            self.failure = cause
            self.failure_unflushed_bytes = self.unflushed_bytes
        self.storage_failures += 1

    def can_reopen(self) -> bool:
        """A failed store may be reopened: there is room to replay its WAL into an SST."""
        return bool(self.failure) and self.free_bytes is not None \
            and self.free_bytes >= self.reopen_needs_bytes()

    def reopen_needs_bytes(self) -> int:
        return (self.min_free_bytes + self.failure_unflushed_bytes
                + limits.storage_reopen_margin_bytes)

    def recovered(self) -> None:
        self.failure = ""
        self.failure_unflushed_bytes = 0
        self.recoveries += 1

    def flush_advised(self) -> bool:
        """Flush the memtables now: one more memtable's worth of writes would bring the
        reserve's refusal, and there is room to flush them (after which the WAL they replace
        is deleted, so writes go on without ever being refused while the disk has room)."""
        if self.failure or self.min_free_bytes == 0 or self.unflushed_bytes == 0 \
                or self.free_bytes is None:
            return False
        approaching = self.free_bytes < self.needed_bytes() + self.unflushed_bytes
        room = self.free_bytes >= self.unflushed_bytes + limits.storage_reopen_margin_bytes
        return approaching and room


def is_io_error(e: Exception) -> bool:
    """rocksdict raises plain Exception("IO error: ...") for a failed write or sync."""
    text = str(e)
    return text.startswith("IO error") or "No space left" in text


class GuardedKV:
    """A ``KV`` whose data writes ``state`` may refuse, and whose I/O errors become
    ``DiskFull`` (recorded in ``state``)."""

    def __init__(self, kv: KV, state: DiskState) -> None:
        self.inner = kv
        self.state = state

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def iter_from(
        self, start: bytes, end: bytes | None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.iter_from(start, end, reverse)

    def write(self, batch: Batch) -> None:
        state = self.state  # refusal() is None unless failed or refusing: look at those first
        if (state.failure or state.refusing) \
                and any(v is not None and k[:1] == _DATA for k, v in batch):
            why = state.refusal()
            if why is not None:
                state.writes_refused += 1
                raise DiskFull(why)
        try:
            self.inner.write(batch)
        except Exception as e:
            self._raise_if_io(e)
            raise

    def delete_range(self, start: bytes, end: bytes) -> None:
        try:  # never refused: a delete is how space is given back
            self.inner.delete_range(start, end)
        except Exception as e:
            self._raise_if_io(e)
            raise

    def sync(self) -> None:
        try:
            self.inner.sync()
        except Exception as e:
            self._raise_if_io(e)
            raise

    def close(self) -> None:
        self.inner.close()

    def size_bytes(self) -> int:
        return self.inner.size_bytes()

    def _raise_if_io(self, e: Exception) -> None:
        if isinstance(e, DiskFull) or not is_io_error(e):
            return
        self.state.failed(str(e))
        raise DiskFull(f"storage write failed on {self.state.address}: {e}") from e
