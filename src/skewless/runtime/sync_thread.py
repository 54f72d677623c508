"""One persistent thread that fsyncs the store: group commit without a hand-off per sync.

Theory of operation
-------------------
``request`` (on the event loop) queues an asyncio future and returns it; the thread takes every
request queued so far, runs one ``sync`` for all of them, and resolves them on the loop (with the
sync's exception, if it raised). A sync starts after each request it answers was made, so it
covers every write done before that request (group commit: requests made while a sync runs are
answered by the next one, together). This replaces ``loop.run_in_executor`` per fsync, whose
``ThreadPoolExecutor.submit`` (a lock, a work item, a thread-count check, a wrapped
``concurrent.futures.Future``) cost about 7% of a node's CPU under writes; here a request is one
``SimpleQueue.put`` and its answer one ``call_soon_threadsafe``.

The thread starts at the first request and ends at ``close`` (it is a daemon thread, so a node
that dies does not wait for it).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("skewless.sync")


class SyncThread:
    def __init__(self, sync: Callable[[], None], name: str = "skewless-sync") -> None:
        self._sync = sync
        self._name = name
        self._requests: queue.SimpleQueue[asyncio.Future[None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.syncs = 0  # syncs run (each may answer several requests)

    def request(self) -> asyncio.Future[None]:
        """A future resolved once a sync that started after this call has ended."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._loop = loop
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        assert loop is self._loop, "one event loop per sync thread"
        future = loop.create_future()
        self._requests.put(future)
        return future

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread once the syncs already requested have run (bounded wait)."""
        if self._thread is None:
            return
        self._requests.put(None)  # stop
        self._thread.join(timeout_s)
        self._thread = None

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            first = self._requests.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while True:  # everything requested before this sync starts: it covers them all
                try:
                    more = self._requests.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            error: BaseException | None = None
            try:
                self._sync()
            except BaseException as e:  # handed to the requests: their awaiters decide
                error = e
            self.syncs += 1
            try:
                loop.call_soon_threadsafe(_resolve, batch, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                return
            if stop:
                return


def _resolve(batch: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in batch:
        if future.done():  # its awaiter was cancelled
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
