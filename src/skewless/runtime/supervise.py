"""Supervision of the node's background tasks: a failed task stops the node, loudly.

Theory of operation
-------------------
A node process is its event loop's tasks: the ticker (timers, timeouts, gossip), the flusher
(fsync, then sends, then replies), the periodic commit-log sync and the task that opens the CQL
port once the node is in the ring. If one of them ended silently the process would still accept
connections and never answer (a zombie). So each runs under ``Supervisor.start``: an exception
out of a task, or a task meant to run for ever that returns, is logged with its traceback at
CRITICAL and calls ``on_fatal`` (the server stops: a bounded shutdown, then a non-zero exit,
``EXIT_TASK_FAILED``). No task is restarted: each holds state the others rely on (a flusher
restarted mid-batch could send replies before their fsync), so a clean stop and a restart by
the operator or the service manager is the safe recovery. Timer callbacks (``guard``) are
supervised the same way.

Once the node is stopping (``stopping``), tasks cancelled by the shutdown end quietly.
A watchdog thread (``exit_watchdog``) ends the process with ``os._exit`` if the shutdown after
a failure does not finish in ``limits.fatal_exit_wait_ms``: a failed node always exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

from skewless import limits

log = logging.getLogger("skewless.supervise")
P = ParamSpec("P")

EXIT_TASK_FAILED = 70  # sysexits' EX_SOFTWARE: an internal software error stopped the node


class Supervisor:
    def __init__(self, on_fatal: Callable[[str, BaseException | None], None]) -> None:
        self.on_fatal = on_fatal
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.stopping = False
        self.failed: str = ""  # the first task that failed ("" while none did)

    def start(self, name: str, coro: Coroutine[Any, Any, None], forever: bool = True
              ) -> asyncio.Task[None]:
        """Run ``coro`` as a supervised task; ``forever``: its return is a failure too."""
        task = asyncio.create_task(coro, name=name)
        self.tasks[name] = task
        task.add_done_callback(lambda t: self._ended(name, t, forever))
        return task

    def _ended(self, name: str, task: asyncio.Task[None], forever: bool) -> None:
        if task.cancelled():
            if not self.stopping:
                self._fail(name, None, "was cancelled")
            return
        exc = task.exception()
        if exc is not None:
            self._fail(name, exc, "failed")
        elif forever and not self.stopping:
            self._fail(name, None, "ended")

    def guard(self, name: str, fn: Callable[P, None]) -> Callable[P, None]:
        """``fn`` (a timer's callback) with an exception out of it handled as a task's."""
        def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                fn(*args, **kwargs)
            except Exception as e:
                self._fail(name, e, "failed")
        return guarded

    def _fail(self, name: str, exc: BaseException | None, how: str) -> None:
        if self.stopping and self.failed:
            log.error("background task %s %s while the node stops", name, how, exc_info=exc)
            return
        self.failed = self.failed or name
        log.critical("background task %s %s: the node stops (exit code %d)", name, how,
                     EXIT_TASK_FAILED, exc_info=exc)
        self.on_fatal(name, exc)

    async def cancel_all(self) -> None:
        self.stopping = True
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def exit_watchdog(code: int, wait_ms: int = limits.fatal_exit_wait_ms) -> threading.Timer:
    """A daemon timer that ends the process with ``code`` after ``wait_ms`` (cancel it when
    the process exits on its own)."""
    def expire() -> None:
        log.critical("the shutdown did not finish within %d ms: exiting now (code %d)",
                     wait_ms, code)
        logging.shutdown()
        os._exit(code)
    timer = threading.Timer(wait_ms / 1000, expire)
    timer.daemon = True
    timer.start()
    return timer
