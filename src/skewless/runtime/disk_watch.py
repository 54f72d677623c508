"""The runtime side of a full disk: measure free space, flush, reopen a failed store.

Theory of operation
-------------------
``storage.diskspace`` decides (a reserve refuses data writes; a storage I/O error puts the
store in a failure state); this module measures and acts, on the event loop:

* ``poll`` (from the ticker, every ``limits.disk_check_interval_ms``) reads the data
  directory's free bytes (``statvfs``) and the memtables' size into the ``DiskState``. When
  one more memtable's worth of writes would reach the reserve and there is room to flush
  them, it flushes (a worker thread): the WAL they replace is deleted and writes go on. When the
  store failed and there is now room to replay its WAL, it reopens the store (on the loop, so
  no node code runs meanwhile; only when no sync or flush is running in a thread).
* ``sync`` (or ``begin_sync`` then ``end_sync``, so that the caller can act while it runs)
  has the store's fsync run by the sync thread (``runtime.sync_thread``: one persistent
  thread, group commit) and says whether it succeeded. The
  flusher acknowledges a Ready only after a successful sync; after a failed one, and for every
  Ready until the store is reopened (a coordinator's answer may rest on its own write of the
  Ready whose sync failed), it carries out ``not_durable(ready)`` instead: each client answer
  that acknowledges a write becomes WriteFailure naming this node and the cause (what was
  written since the last good sync may not be durable); a replica's acknowledgement to a
  coordinator becomes a failure with the cause (the coordinator answers WriteFailure naming
  this node); reads' answers and liveness messages go as they are; the other messages to peers
  are dropped (peers treat the loss as they treat a full internode queue: a timeout).

The node never stops serving: reads, the CQL handshake and the system tables work throughout,
and writes are accepted again by themselves once space is freed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import replace

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skewless import limits
from skewless.cql.cas_results import APPLIED
from skewless.cql.results import RowsResult, SchemaChange, Void
from skewless.errors import WriteFailure
from skewless.node import consistency as cl_mod
from skewless.node import messages
from skewless.node.effects import Ready
from skewless.node.messages import BatchlogAck, Envelope, MutationResponse
from skewless.runtime.sync_thread import SyncThread
from skewless.storage.diskspace import DiskFull, DiskState, is_io_error
from skewless.storage.engine import Storage
from skewless.storage.kv import RocksKV

log = logging.getLogger("skewless.disk")


class DiskWatch:
    def __init__(self, rocks: Callable[[], RocksKV], storage: Storage, state: DiskState,
                 path: str) -> None:
        self._rocks = rocks  # the store now (``nodetool rebuild`` opens a new one)
        self.storage = storage
        self.state = state
        self.path = path  # the directory statvfs measures (the store's)
        self.busy = 0  # worker-thread jobs on the store (syncs, flushes) running now
        self._flushing = False
        self._next_check = 0.0
        self._logged = "ok"
        self._syncer = SyncThread(self.storage.sync)

    @property
    def kv(self) -> RocksKV:
        return self._rocks()

    def poll(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self._next_check:
            return
        self._next_check = now + limits.disk_check_interval_ms / 1000
        try:
            st = os.statvfs(self.path)
        except OSError as e:  # a vanished directory: measured next time
            log.warning("cannot measure the free space of %s: %s", self.path, e)
            return
        try:
            unflushed = self.kv.unflushed_bytes()
        except Exception:  # a store whose reopen failed: the last reading stands
            unflushed = self.state.unflushed_bytes
        self.state.observe(st.f_bavail * st.f_frsize, unflushed)
        if self.state.can_reopen() and self.busy == 0:
            self._reopen()
        elif self.state.flush_advised() and not self._flushing:
            self._flushing = True
            self.busy += 1
            loop.run_in_executor(None, self._flush).add_done_callback(self._flushed)
        self._log_change()

    def _flush(self) -> None:
        try:
            self.kv.flush()
        except Exception as e:
            if not is_io_error(e):
                raise
            self.state.failed(str(e))  # the store is read-only now; reopened when room

    def _flushed(self, f: asyncio.Future[None]) -> None:
        self._flushing = False
        self.busy -= 1
        if f.exception() is not None:
            log.error("memtable flush failed: %s", f.exception())
        self._next_check = 0.0  # measure again at the next tick

    def _reopen(self) -> None:
        cause = self.state.failure
        log.warning("reopening the store of %s after its failure (%s): %d bytes free",
                    self.path, cause, self.state.free_bytes or 0)
        try:
            self.kv.reopen()
        except Exception as e:
            log.error("cannot reopen the store yet: %s", e)
            return
        self.storage.forget_cached_counts()
        self.state.recovered()
        log.warning("store reopened: writes are accepted again")

    def _log_change(self) -> None:
        now = self.state.state()
        if now == self._logged:
            return
        if now == "low":
            log.warning("data directory %s: %s; refusing writes", self.path,
                        self.state.refusal())
        elif now == "failed":
            log.error("storage failed (%s): refusing writes until it can be reopened, once "
                      "%s has %d bytes free (%d now)", self.state.failure, self.path,
                      self.state.reopen_needs_bytes(), self.state.free_bytes or 0)
        else:
            log.warning("data directory %s: %d bytes free, writes accepted again", self.path,
                        self.state.free_bytes or 0)
        self._logged = now

    async def run_blocking(self, fn: Callable[[], None]) -> None:
        """Run a job on the store in a worker thread (sync, nodetool flush, compact, snapshot);
        the store is not reopened while one runs."""
        self.busy += 1
        try:
            await asyncio.get_running_loop().run_in_executor(None, fn)
        finally:
            self.busy -= 1

    def begin_sync(self) -> asyncio.Future[None]:
        """Request a sync of every write done so far (the sync thread); ``end_sync`` awaits it.
        The store is not reopened until it has ended."""
        self.busy += 1
        return self._syncer.request()

    async def end_sync(self, syncing: asyncio.Future[None]) -> str:
        """Wait for the sync ``begin_sync`` requested: '' when it succeeded, else the cause."""
        try:
            await syncing
            return ""
        except DiskFull as e:
            log.error("sync failed: %s; the writes since the last sync are not acknowledged",
                      e)
            self._next_check = 0.0
            return str(e)
        finally:
            self.busy -= 1

    async def sync(self) -> str:
        """Sync the store (the sync thread): '' when it succeeded, else the cause."""
        return await self.end_sync(self.begin_sync())


    def close(self) -> None:
        """Sync and close the store at shutdown; a failed store's error is logged."""
        self._syncer.close()
        try:
            self.storage.sync()
        except DiskFull as e:
            log.error("final sync failed: %s", e)
        try:
            self.storage.close()
        except Exception as e:
            if not is_io_error(e):
                raise
            log.error("closing the store: %s", e)


def not_durable(ready: Ready, cause: str) -> Ready:
    """``ready`` as it may be carried out when its sync failed. A replica's acknowledgement to
    a coordinator (``MutationResponse``, ``BatchlogAck``) becomes that failure with ``cause``
    (a failure already goes as it is); reads' answers, requests this node coordinates and
    liveness messages (``_ACKNOWLEDGE_NOTHING``) go as they are; every other message to a
    peer (Paxos promises, stamps, truncation and repair acknowledgements...) is dropped. Each client
    answer that acknowledges a write (``Void``: INSERT, UPDATE, DELETE, BATCH, TRUNCATE, role
    changes; ``SchemaChange``: DDL) becomes a WriteFailure with ``cause``, and so does an
    LWT's ``[applied]`` result (write type CAS: its commit may rest on this sync). Other rows,
    prepared statements and USE go out as they are: they acknowledge nothing, so a new
    driver's handshake queries are answered."""
    message = f"Operation failed - the write could not be made durable: {cause}"
    replies = [replace(r, body=WriteFailure(message, cl_mod.ONE, 0, 1, 1, "SIMPLE"))
               if isinstance(r.body, (Void, SchemaChange)) else
               replace(r, body=WriteFailure(message, cl_mod.SERIAL, 0, 1, 1, "CAS"))
               if _is_cas_result(r.body) else r
               for r in ready.replies]
    sends: list[tuple[str, Envelope]] = []
    for address, env in ready.sends:
        m = env.message
        if isinstance(m, (MutationResponse, BatchlogAck)) and m.error:
            sends.append((address, env))  # a failure already (the write that met the error)
        elif isinstance(m, MutationResponse):
            sends.append((address, replace(env, message=MutationResponse(m.req_id, cause, ()))))
        elif isinstance(m, BatchlogAck):
            sends.append((address, replace(env, message=BatchlogAck(m.req_id, cause))))
        elif isinstance(m, _ACKNOWLEDGE_NOTHING):
            sends.append((address, env))
    return replace(ready, sends=sends, replies=replies)


# Messages that acknowledge nothing durable: sent even when the Ready's sync failed.
_ACKNOWLEDGE_NOTHING = (
    messages.ReadResponse, messages.RangeReadResponse, messages.IndexScanResponse,
    messages.MutationRequest, messages.ReadRequest, messages.RangeReadRequest,
    messages.Heartbeat, messages.ClockPing, messages.ClockPong, messages.ProbeRequest,
    messages.ProbePing, messages.ProbeAck)


class DiskCollector(Collector):
    """Prometheus metrics of the data directory's space and the store's failures."""

    def __init__(self, state: DiskState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        s = self.state
        yield GaugeMetricFamily("skewless_disk_free_bytes",
                                "Free bytes of the data directory's file system",
                                value=float(s.free_bytes or 0))
        yield GaugeMetricFamily(
            "skewless_disk_needed_bytes",
            "Free bytes below which writes are refused (min_free_space_per_drive_in_mb plus "
            "the memtables' bytes; 0: no reserve)", value=float(s.needed_bytes()))
        state = GaugeMetricFamily("skewless_disk_state",
                                  "1 for the data directory's current state", labels=["state"])
        for name in ("ok", "low", "failed"):
            state.add_metric([name], float(s.state() == name))
        yield state
        yield CounterMetricFamily("skewless_disk_writes_refused",
                                  "Data writes refused for lack of space or a failed store",
                                  value=s.writes_refused)
        yield CounterMetricFamily("skewless_storage_write_failures",
                                  "Storage writes or syncs that failed with an I/O error",
                                  value=s.storage_failures)
        yield CounterMetricFamily("skewless_storage_reopens",
                                  "Times the store was reopened after a failure",
                                  value=s.recoveries)


def _is_cas_result(body: object) -> bool:
    """An LWT's answer: rows whose first column is ``[applied]`` (``cql.cas_results``)."""
    return isinstance(body, RowsResult) and bool(body.columns) and \
        body.columns[0].name == APPLIED
