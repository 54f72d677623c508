"""Every open client request, its deadline, and its one reply.

Theory of operation
-------------------
The runtime (or the simulator) ``open``s each client request (connection, stream) before it
hands it to the executor, and runs the executor's entry point under ``run``. ``Node.reply``
``close``s the request: a reply for a request that is not open (a second answer) is dropped,
logged and counted, so a request gets exactly one reply and the in-flight accounting built on
replies cannot leak.

Context: while an entry point or one of its continuations runs, ``current`` is its request.
``bind(fn)``, called where a continuation is handed to asynchronous work (a coordinator read or
write, a stamp, the batchlog, a DDL proposal, a password hash...), returns ``fn`` wrapped so that
it runs with the same ``current``, and an exception out of it becomes that request's reply: a
CqlError as itself, anything else as ServerError "Internal error (error id ID): ..." while the
log shows the traceback with the same id. A reply given under a request's context closes that
very request, even if the client has reused the stream id since (a late second answer to the
older request is dropped, never taken as the newer one's).

Deadlines: a request's is its kind's Cassandra timeout (read, range, write, truncate, request,
auth) plus ``limits.client_request_deadline_slack_ms``, counted from its last progress (its
opening, then each bound continuation that runs). The coordinator answers its own timeouts
before that, so a request still open past its deadline has lost its reply (a bug): ``tick``
answers it ServerError with an error id, logs it and counts it (``unanswered``). Time the node
did not run (a gap between ticks: SIGSTOP, a stalled loop) does not count.

Records: a request run as an explicit record (a write: ``node.write_record``) ``attach``es it to
its entry. The record gives the request's one reply; a reply to it that the record did not give
(and not an internal error or a deadline: those are counted apart) is counted (``bypassed``),
and a request still open is named with its record's phase. The simulator fails a run on both.

Exceptions that no request's context catches (a peer's message handled outside any client
request: ``unattributed``) are logged with an error id and counted too; the simulator fails a
run on any of these counters (``sim.world``). Planted exceptions (``node.planted``) are
counted apart.

Pure: time is the node's injected clock; error ids are the process's gossip generation (its
start time) and a counter, no randomness.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, Protocol

from skewless import limits
from skewless.errors import CqlError, ServerError
from skewless.node.effects import Reply
from skewless.node.planted import Planted, PlantedError

if TYPE_CHECKING:
    from skewless.node.ports import RequestsHost

log = logging.getLogger("skewless.requests")
P = ParamSpec("P")

# A request's kind -> its timeout (Cassandra's names: read_request_timeout and the others).
TIMEOUT_MS = {
    "read": limits.read_timeout_ms,
    "range": limits.range_read_timeout_ms,
    "write": limits.write_timeout_ms,
    "counter": limits.counter_write_timeout_ms_max_option,  # its own, configured, is below
    "truncate": limits.truncate_timeout_ms,
    "request": limits.request_timeout_ms,
    "auth": limits.auth_handshake_ms,
}
PEER_CONTINUATION = "peer-message-continuation"


class Record(Protocol):
    """A request's explicit record (``node.write_record``): its repr names its phase."""

    @property
    def answered(self) -> bool: ...


@dataclass(eq=False, slots=True)
class OpenRequest:
    conn: int
    stream: int
    seq: int
    kind: str
    opened_ns: int
    deadline_ns: int
    closed: bool = False
    failed: bool = False  # answered for an exception or at its deadline
    record: Record | None = None  # the request's explicit record, if it has one


class ClientRequests:
    def __init__(self, node: RequestsHost) -> None:
        self.node = node
        self.open: dict[tuple[int, int], list[OpenRequest]] = {}
        self.count = 0  # requests open now
        self.current: OpenRequest | None = None
        # How a request is answered here (the executor's ``_answer``: it ends a trace too).
        self.answer: Callable[[int, int, object], None] = \
            lambda conn, stream, body: node.reply(Reply(conn, stream, body))
        self.planted = Planted(node.config.raise_at)
        self.in_peer_message = False  # Node.peer_message is running
        self._seq = 0
        self._errors = 0
        self._last_tick_ns: int | None = None
        # counters (metrics; the simulator checks the last three)
        self.opened = 0
        self.replied = 0
        self.planted_errors = 0
        self.duplicates = 0  # a second reply to a request, dropped
        self.bypassed = 0  # a reply to a request with a record that the record did not give
        self.unanswered = 0  # answered by the deadline, not by their own processing
        self.internal_errors = 0  # exceptions other than planted ones
        self.last_internal_error: BaseException | None = None

    def __len__(self) -> int:
        return self.count

    # ------------------------------------------------------------------ open and close

    def open_request(self, conn: int, stream: int, kind: str = "request") -> OpenRequest:
        """A client request received on (conn, stream); ``kind`` sets its deadline."""
        self._seq += 1
        now = self.node.clock.monotonic_ns()
        entry = OpenRequest(conn, stream, self._seq, kind, now, now + _allowance_ns(kind))
        self.open.setdefault((conn, stream), []).append(entry)
        self.count += 1
        self.opened += 1
        return entry

    def classify(self, conn: int, stream: int, kind: str) -> None:
        """The executor knows what the request is now: its deadline follows ``kind``'s
        timeout, from now."""
        entry = self._entry(conn, stream)
        if entry is not None:
            entry.kind = kind
            entry.deadline_ns = self.node.clock.monotonic_ns() + _allowance_ns(kind)

    def attach(self, conn: int, stream: int, record: Record) -> None:
        """The current request (if it is (conn, stream)) is run as ``record``."""
        entry = self.current
        if entry is not None and entry.conn == conn and entry.stream == stream:
            entry.record = record

    def close(self, conn: int, stream: int) -> bool:
        """A reply to (conn, stream) is being given: True if it is the request's one reply
        (deliver it), False if the request already had its reply (drop it)."""
        entry = self._entry(conn, stream)
        if entry is None:
            cur = self.current
            if cur is not None and cur.failed and (cur.conn, cur.stream) == (conn, stream):
                log.info("a reply to stream %d of connection %d after its internal error "
                         "was answered: dropped", stream, conn)
                return False
            self.duplicates += 1
            log.warning("a second reply to stream %d of connection %d dropped (the request "
                        "already had its reply)", stream, conn)
            return False
        record = entry.record
        if record is not None and not record.answered and not entry.failed:
            self.bypassed += 1
            log.warning("a reply to stream %d of connection %d not given by its %r", stream,
                        conn, record)
        self._remove(entry)
        self.replied += 1
        return True

    def _entry(self, conn: int, stream: int) -> OpenRequest | None:
        """The open request a reply to (conn, stream) given now is for: the current one if it
        is on that stream (None if it already had its reply), else the oldest open there."""
        cur = self.current
        if cur is not None and cur.conn == conn and cur.stream == stream:
            return None if cur.closed else cur
        entries = self.open.get((conn, stream))
        return entries[0] if entries else None

    def _remove(self, entry: OpenRequest) -> None:
        entries = self.open[(entry.conn, entry.stream)]
        entries.remove(entry)
        if not entries:
            del self.open[(entry.conn, entry.stream)]
        entry.closed = True
        self.count -= 1

    # ------------------------------------------------------------------ context

    def run(self, entry: OpenRequest, fn: Callable[[], object]) -> None:
        """Run a request's entry point: an exception out of it is its reply."""
        self._within(entry, fn)

    def bind(self, fn: Callable[P, None]) -> Callable[P, None]:
        """``fn`` (a continuation of the current request) wrapped to run in its context; as
        is when no client request is current."""
        entry = self.current
        if entry is None:
            return fn

        def bound(*args: P.args, **kwargs: P.kwargs) -> None:
            if not entry.closed:  # progress: the deadline moves on
                entry.deadline_ns = self.node.clock.monotonic_ns() + _allowance_ns(entry.kind)

            def call() -> None:
                if self.in_peer_message:
                    self.planted.reach(PEER_CONTINUATION)
                fn(*args, **kwargs)
            self._within(entry, call)
        return bound

    def _within(self, entry: OpenRequest, fn: Callable[[], object]) -> None:
        previous, self.current = self.current, entry
        self.node.begin_input()  # an input: cluster time is read once for all of it
        try:
            fn()
        except CqlError as e:  # a typed answer thrown past its handler: still the answer
            if entry.closed:
                log.warning("%s after the request's reply (stream %d, connection %d): "
                            "dropped", type(e).__name__, entry.stream, entry.conn)
            else:
                self._answer(entry, e)
        except Exception as e:
            self._failed(entry, e)
        finally:
            self.current = previous
            self.node.end_input()

    # ------------------------------------------------------------------ errors

    def new_error_id(self) -> str:
        self._errors += 1
        return f"{self.node.membership.local.generation:x}-{self._errors}"

    def _count(self, e: BaseException) -> None:
        if isinstance(e, PlantedError):
            self.planted_errors += 1
        else:
            self.internal_errors += 1
            self.last_internal_error = e

    def _failed(self, entry: OpenRequest, e: Exception) -> None:
        error_id = self.new_error_id()
        self._count(e)
        what = f"{entry.kind} request on stream {entry.stream} of connection {entry.conn}"
        if entry.closed:
            log.error("internal error (error id %s) in a %s after its reply", error_id, what,
                      exc_info=e)
            return
        log.error("internal error (error id %s) in a %s: answered ServerError", error_id,
                  what, exc_info=e)
        entry.failed = True
        self._answer(entry, _server_error(error_id, e))

    def _answer(self, entry: OpenRequest, body: object) -> None:
        """Answer ``entry`` (in its context); if the answer hook fails, answer plainly: the
        request is closed either way."""
        previous, self.current = self.current, entry
        try:
            self.answer(entry.conn, entry.stream, body)
        except Exception:
            log.exception("answering stream %d of connection %d failed", entry.stream,
                          entry.conn)
        finally:
            self.current = previous
        if not entry.closed:
            previous, self.current = self.current, entry
            try:
                self.node.reply(Reply(entry.conn, entry.stream, body))
            finally:
                self.current = previous

    def internal_error(self, conn: int, stream: int, e: Exception) -> None:
        """An exception caught while running (conn, stream)'s work (the executor's guard):
        logged with an id; answered ServerError with it if the request is still open (an
        internal query, conn < 0, is always answered: its continuation waits)."""
        entry = self._entry(conn, stream)
        if entry is not None:
            self._failed(entry, e)
            return
        error_id = self.new_error_id()
        self._count(e)
        log.error("internal error (error id %s) in a request on stream %d of connection %d",
                  error_id, stream, conn, exc_info=e)
        if conn < 0:
            self.answer(conn, stream, _server_error(error_id, e))

    def unattributed(self, what: str, e: Exception) -> str:
        """An exception no request's context caught (e.g. handling a peer's message): logged
        with its id and counted; the node goes on."""
        error_id = self.new_error_id()
        self._count(e)
        log.error("internal error (error id %s) %s", error_id, what, exc_info=e)
        return error_id

    # ------------------------------------------------------------------ deadlines

    def tick(self, now_ns: int) -> None:
        """Answer the requests past their deadline (a lost reply)."""
        last, self._last_tick_ns = self._last_tick_ns, now_ns
        gap_ns = 0 if last is None else now_ns - last - limits.tick_interval_ms * 1_000_000
        if gap_ns > limits.tick_interval_ms * 1_000_000:  # the node did not run meanwhile
            for entries in self.open.values():
                for entry in entries:
                    entry.deadline_ns += gap_ns
        late = [e for entries in self.open.values() for e in entries if e.deadline_ns <= now_ns]
        for entry in late:
            if entry.closed:
                continue
            self.unanswered += 1
            error_id = self.new_error_id()
            age_ms = (now_ns - entry.opened_ns) // 1_000_000
            log.error("no reply to a %s request on stream %d of connection %d after %d ms "
                      "(its timeout is %d ms): a lost reply, answered ServerError (error id %s)",
                      entry.kind, entry.stream, entry.conn, age_ms, TIMEOUT_MS[entry.kind],
                      error_id)
            entry.failed = True
            self._answer(entry, ServerError(
                f"Internal error (error id {error_id}): no reply within {age_ms} ms"))

    def abandon(self, message: str) -> int:
        """Answer every open request ServerError ``message`` (the node stops); how many."""
        entries = [e for entries in self.open.values() for e in entries]
        for entry in entries:
            if not entry.closed:
                entry.failed = True
                self._answer(entry, ServerError(message))
        return len(entries)

    def problems(self) -> list[str]:
        """What the simulator fails a run on: requests still open (with their record's
        phase), second replies, replies a request's record did not give, replies lost
        (answered by the deadline) and internal errors."""
        out = []
        if self.count:
            out.append(f"{self.count} client request(s) still open: " + ", ".join(
                f"{e.kind} conn {e.conn} stream {e.stream}"
                + (f" ({e.record!r})" if e.record is not None else "")
                for entries in self.open.values() for e in entries))
        if self.duplicates:
            out.append(f"{self.duplicates} second reply(ies) to a request")
        if self.bypassed:
            out.append(f"{self.bypassed} reply(ies) to a request not given by its record")
        if self.unanswered:
            out.append(f"{self.unanswered} request(s) answered only at their deadline "
                       "(a lost reply)")
        if self.internal_errors:
            out.append(f"{self.internal_errors} internal error(s), the last: "
                       f"{self.last_internal_error!r}")
        return out


def _allowance_ns(kind: str) -> int:
    return (TIMEOUT_MS[kind] + limits.client_request_deadline_slack_ms) * 1_000_000


def _server_error(error_id: str, e: Exception) -> ServerError:
    return ServerError(f"Internal error (error id {error_id}): {type(e).__name__}: {e}")
