"""The machinery every explicit request record shares (``node.write_record``,
``node.read_record``).

Theory of operation
-------------------
A record is one client operation from its start to its one answer, in the manner of h11's
state machines (``cql.connection`` is the project's other example): its ``phase`` (a member of
the subclass's enum) says what it waits for, and the subclass's ``TRANSITIONS`` table lists every
phase it may move to from each; a move not in the table is a broken invariant (an assert), and
``ANSWERED`` has no way out.

Inputs: what asynchronous work hands back is an input (``_input``). Inputs are queued and run
one at a time after the input being run returns, never re-entrantly: a callback called
synchronously (a stamp issued at once, a read answered locally) only queues its input. Each
input runs under the request's context (the callbacks are ``node.requests.bind``-wrapped where
they are handed out); a CqlError out of one is the record's answer, any other exception an
internal error answered ServerError (``ClientRequests.internal_error``). An input after the
answer (a replica's late acknowledgement after an error was answered) is dropped.

A record attaches itself to its client request (``ClientRequests.attach``): the simulator's
check that every request ends in exactly one reply names a request left open with its record's
phase, and counts a reply to a request that its record did not give.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from skewless.errors import CqlError

if TYPE_CHECKING:
    from skewless.node.requests import ClientRequests

log = logging.getLogger("skewless.requests")

Answer = Callable[[int, int, object, tuple[str, ...], int | None], None]


class Record:
    """One client operation (see the module docstring). Subclasses set ``TRANSITIONS``,
    ``START`` and ``ANSWERED`` and call ``_input`` for every input."""

    TRANSITIONS: ClassVar[Mapping[Any, frozenset[Any]]]
    START: ClassVar[enum.Enum]
    ANSWERED: ClassVar[enum.Enum]
    KIND: ClassVar[str]

    __slots__ = ("requests", "reply", "conn", "stream", "phase", "trail", "_queue", "_running")

    def __init__(self, requests: ClientRequests, reply: Answer, conn: int, stream: int) -> None:
        self.requests = requests
        self.reply = reply
        self.conn = conn
        self.stream = stream
        self.phase: enum.Enum = self.START
        self.trail = [self.START]  # every phase it was in, in order (tests, debugging)
        self._queue: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._running = False

    @property
    def answered(self) -> bool:
        return self.phase is self.ANSWERED

    def __repr__(self) -> str:
        return f"{self.KIND} record ({self.phase.value})"

    def _to(self, phase: enum.Enum) -> None:
        assert phase in self.TRANSITIONS[self.phase], f"{self!r}: no transition to {phase.value}"
        self.phase = phase
        self.trail.append(phase)

    def _begin(self, step: Callable[[], None]) -> None:
        """Attach to the current client request and run the first input."""
        self.requests.attach(self.conn, self.stream, self)
        self._input(step)

    def _input(self, step: Callable[..., None], *args: Any) -> None:
        """Queue an input; run the queue unless an input of this record is running."""
        self._queue.append((step, args))
        if self._running:
            return
        self._running = True
        try:
            while self._queue:
                step, args = self._queue.popleft()
                if self.phase is self.ANSWERED:
                    log.debug("%r: a late input dropped (%s)", self, step.__name__)
                    continue
                try:
                    step(*args)
                except CqlError as e:
                    if self.phase is self.ANSWERED:
                        log.warning("%s after the %s's answer (stream %d, connection %d): "
                                    "dropped", type(e).__name__, self.KIND, self.stream,
                                    self.conn)
                    else:
                        self._answer(e)
                except Exception as e:  # a bug in one request must not take the node down
                    if self.phase is not self.ANSWERED:
                        self.phase = self.ANSWERED  # answered ServerError just below
                        self.trail.append(self.ANSWERED)
                    self.requests.internal_error(self.conn, self.stream, e)
        finally:
            self._running = False

    def _answer(self, body: object, warnings: Sequence[str] = (),
                token_us: int | None = None) -> None:
        self._to(self.ANSWERED)
        self.reply(self.conn, self.stream, body, tuple(warnings), token_us)
