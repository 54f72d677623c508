"""Linearizability of single-key registers (Wing & Gong, Lowe's just-in-time search), per key.

A history is a sequence of dicts with keys op ("write"/"read"), key, value, start, end, ok (the
format of ``skewless.lab.checkers``). Each key is a register holding ``None`` at first; a write
sets it, a read returns it. The history is linearizable when every operation can be given one
instant inside its [start, end] interval so that the operations, in the order of those instants,
are a legal sequential run of the register. An operation precedes another in real time when it
ended strictly before the other started (equal times are concurrent).

Which operations must take effect:

* an acknowledged write (ok true) takes effect once, inside its interval;
* a failed write (ok false: timeout, unavailable) may have taken effect at any instant after its
  start, or never: its end is taken as infinity and it is optional;
* a read that succeeded returns the register's value at its instant; failed reads say nothing
  and are dropped.

Theory of operation. Registers are P-compositional: a history is linearizable if and only if
each key's sub-history is, so keys are checked one by one. For one key the search is Lowe's
just-in-time linearization (as Knossos's "linear" checker does; Porcupine does the same search
depth-first with Lowe's memoization): events (calls and returns) are processed in time order
while keeping the set of configurations (register value, set of pending operations already
linearized). A call adds a pending operation. When an operation returns, every configuration
that has not linearized it must do so now, after any sequence of other pending writes; the
configurations reachable that way are the new set (a visited set memoizes them), and an empty
set means the returning operation cannot be linearized: not linearizable. Three register
facts keep the set small (each keeps only configurations that can do whatever the ones it
drops could), and slots keep it cheap:

* a pending read whose value equals the register's is linearized at once (doing so never
  hurts: it changes nothing and discharges an obligation), so reads never branch the search;
* a pending write whose value no read can still return (none pending unlinearized, none yet to
  be called) is "dead": it is linearized just before whichever write is linearized next, where
  it is overwritten unseen, and never as a step of its own; blind writes never branch either;
* a failed write is retired (dropped from every configuration) once the last read that could
  observe its value has returned; a failed write that no read observes is dropped up front.
  Either way nothing later can tell whether it took effect;
* pending operations own small reusable slot numbers, so a configuration's bit set stays as
  wide as the concurrency, not as the history.

Typical histories keep a few configurations per event: 5,000 operations on one key from 10
clients with overlapping intervals take 40,000 to 65,000 search steps (configurations carried
over events plus transitions tried), under 0.1 s here. The steps per key are bounded by
``max_states``; beyond it the key's verdict is "unknown". The hard case is many concurrent
writes whose values are all read later: 14 such writes take a million steps.

Witness. When a key is not linearizable, the checker shrinks its history to a small subset that
is not linearizable by itself: the operations up to the one that could not be linearized, then
as many of the earliest dropped as possible, then chunks removed one by one (ddmin) within a
budget of re-checks. Every subset keeps, for each value read, all the writes of that value (it
is "closed"). A closed subset of a linearizable history is linearizable (in the restricted
order, each read still follows the write it followed), so the witness alone proves the
violation. Values must be hashable; distinct values per key make the verdicts most useful (a
read of a value written twice may be explained by either write).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

# Per key: the most search steps before the verdict is "unknown" (about a million per second
# here): typical histories take about ten per operation; a pathological key stops in ~2 s.
MAX_EXPLORED_STATES = 2_000_000
# Re-checks the witness shrinker may spend per non-linearizable key (each a search of a subset;
# all of them together stop once they have taken max_states steps).
WITNESS_CHECKS_MAX = 400

Verdict = Literal["linearizable", "not linearizable", "unknown"]
INF = float("inf")
_CALL, _RETURN, _RETIRE = 0, 1, 2
_Config = tuple[object, int]  # (register value, bit set of the linearized pending slots)


@dataclass(frozen=True, slots=True)
class Op:
    index: int  # position in the history given to the checker
    kind: str  # "write" | "read"
    key: object
    value: object
    start: float
    end: float  # as recorded; a failed write is searched as if it never ended
    ok: bool

    def __str__(self) -> str:
        what = f"write {self.value}" if self.kind == "write" else f"read -> {self.value}"
        failed = "" if self.ok else " (failed)"
        return f"#{self.index} {what}{failed} [{self.start:.3f}, {self.end:.3f}]"


OpT = TypeVar("OpT")  # an operation of a history: Op here, cas_linearizability.CasOp there


@dataclass(frozen=True, slots=True)
class KeyResult(Generic[OpT]):
    key: object
    verdict: Verdict
    ops: int  # operations searched (failed reads dropped)
    explored: int  # search steps taken (configurations carried and transitions tried)
    stuck: OpT | None  # the operation that could not be linearized, or where the limit hit
    witness: tuple[OpT, ...]  # violations: a small subset not linearizable by itself

    def __str__(self) -> str:
        head = f"key {self.key}: {self.verdict} ({self.ops} ops, {self.explored} steps)"
        if self.verdict == "unknown":
            return f"{head}: search limit reached at {self.stuck}"
        if self.verdict == "linearizable":
            return head
        lines = [f"{head}: {self.stuck} cannot be linearized; these {len(self.witness)} "
                 f"{self.witness_claim()}:"]
        lines += [f"  {op}" for op in self.witness]
        return "\n".join(lines)

    def witness_claim(self) -> str:
        """What the witness is shown to be, after its size."""
        return "operations alone are not linearizable"


class KeyVerdict(Protocol):
    """What a per-key result shows to the history's verdict."""

    @property
    def verdict(self) -> Verdict: ...

    @property
    def ops(self) -> int: ...


K = TypeVar("K", bound=KeyVerdict)


@dataclass(frozen=True, slots=True)
class PerKey(Generic[K]):
    """A history's verdict from its keys' (registers are P-compositional): not linearizable
    if any key is not, else unknown if any key hit the search limit."""

    keys: tuple[K, ...]
    NAME: ClassVar[str] = "linearizability"

    @property
    def verdict(self) -> Verdict:
        if self.violations:
            return "not linearizable"
        return "unknown" if self.unknown else "linearizable"

    @property
    def violations(self) -> list[K]:
        return [k for k in self.keys if k.verdict == "not linearizable"]

    @property
    def unknown(self) -> list[K]:
        return [k for k in self.keys if k.verdict == "unknown"]

    def __str__(self) -> str:
        ops = sum(k.ops for k in self.keys)
        lines = [f"{self.NAME}: {self.verdict} ({len(self.keys)} keys, {ops} ops, "
                 f"{len(self.violations)} not linearizable, {len(self.unknown)} unknown)"]
        lines += [str(k) for k in self.violations + self.unknown]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Linearizability(PerKey[KeyResult[Op]]):
    pass


def linearizable(history: Iterable[Mapping[str, Any]],
                 max_states: int = MAX_EXPLORED_STATES) -> Linearizability:
    """Check every key's register history; a witness for each key that is not linearizable."""
    per_key: dict[object, list[Op]] = {}
    for i, raw in enumerate(history):
        op = Op(i, raw["op"], raw["key"], raw["value"], raw["start"], raw["end"], bool(raw["ok"]))
        assert op.kind in ("write", "read"), f"unknown op {op.kind!r}"
        assert op.end >= op.start, f"op #{i} ends before it starts"
        if op.kind == "read" and not op.ok:
            continue
        per_key.setdefault(op.key, []).append(op)
    return Linearizability(tuple(check_key(k, ops, max_states) for k, ops in per_key.items()))


def check_key(key: object, ops: Sequence[Op],
              max_states: int = MAX_EXPLORED_STATES) -> KeyResult[Op]:
    """One key's verdict (``ops`` all of that key; failed reads already dropped)."""
    verdict, stuck, explored = _search(ops, max_states)
    witness: tuple[Op, ...] = ()
    if verdict == "not linearizable":
        assert stuck is not None
        witness = _shrink(ops, stuck, max_states)
    return KeyResult(key, verdict, len(ops), explored, stuck, witness)


class _Pending:
    """The operations called and not yet returned (or retired), each in a reusable slot."""

    def __init__(self) -> None:
        self.slot: dict[int, int] = {}  # op position -> slot
        self.writes: dict[int, object] = {}  # slot -> value written
        self.reads_of: dict[object, int] = {}  # value -> bit set of the reads returning it
        self.future_reads: dict[object, int] = {}  # value -> reads of it not yet called
        self._free: list[int] = []
        self._next = 0

    def add(self, pos: int, op: Op) -> int:
        slot = heapq.heappop(self._free) if self._free else self._next
        self._next = max(self._next, slot + 1)
        self.slot[pos] = slot
        if op.kind == "write":
            self.writes[slot] = op.value
        else:
            self.reads_of[op.value] = self.reads_of.get(op.value, 0) | 1 << slot
            self.future_reads[op.value] -= 1
        return 1 << slot

    def dead(self, mask: int) -> int:
        """The pending writes not in ``mask`` whose value no read can return any more."""
        out = 0
        for slot, value in self.writes.items():
            b = 1 << slot
            if not (mask & b or self.future_reads.get(value)
                    or self.reads_of.get(value, 0) & ~mask):
                out |= b
        return out

    def remove(self, pos: int, op: Op) -> None:
        slot = self.slot.pop(pos)
        if op.kind == "write":
            del self.writes[slot]
        else:
            self.reads_of[op.value] &= ~(1 << slot)
        heapq.heappush(self._free, slot)


def _events(ops: Sequence[Op]) -> list[tuple[float, int, int]]:
    """(time, kind, position): calls, returns, and the retirement of failed writes."""
    last_read: dict[object, float] = {}
    for op in ops:
        if op.kind == "read":
            last_read[op.value] = max(last_read.get(op.value, -INF), op.end)
    events: list[tuple[float, int, int]] = []
    for pos, op in enumerate(ops):
        if op.ok:
            events += [(op.start, _CALL, pos), (op.end, _RETURN, pos)]
        elif op.kind == "write" and last_read.get(op.value, -INF) >= op.start:
            events += [(op.start, _CALL, pos), (last_read[op.value], _RETIRE, pos)]
    events.sort()
    return events


def _search(ops: Sequence[Op], max_states: int) -> tuple[Verdict, Op | None, int]:
    frontier: set[_Config] = {(None, 0)}
    pending = _Pending()
    for op in ops:
        if op.kind == "read":
            pending.future_reads[op.value] = pending.future_reads.get(op.value, 0) + 1
    explored = 0
    for _, kind, pos in _events(ops):
        op = ops[pos]
        explored += len(frontier)
        if explored > max_states:
            return "unknown", op, explored
        if kind == _CALL:
            bit = pending.add(pos, op)
            if op.kind == "read":
                frontier = {(s, m | bit) if s == op.value else (s, m) for s, m in frontier}
            continue
        bit = 1 << pending.slot[pos]
        if kind == _RETIRE:
            frontier = {(s, m & ~bit) for s, m in frontier}
        else:
            forced = _linearize(frontier, op, bit, pending, max_states - explored)
            if forced is None:
                return "unknown", op, max_states + 1
            frontier, visited = forced
            explored += visited
            if not frontier:
                return "not linearizable", op, explored
        pending.remove(pos, op)
    return "linearizable", None, explored


def _linearize(frontier: set[_Config], op: Op, bit: int, pending: _Pending,
               budget: int) -> tuple[set[_Config], int] | None:
    """The configurations after ``op`` (slot ``bit``) is linearized, with its bit cleared.

    Configurations that have not linearized it yet apply pending writes (and, with them, the
    reads they satisfy) until it is. None: more than ``budget`` steps.
    """
    out, seen, stack = split_frontier(frontier, bit)
    steps = len(seen)
    while stack:
        _, mask = stack.pop()
        dead = pending.dead(mask)
        for slot, value in pending.writes.items():
            b = 1 << slot
            if mask & b or (dead & b and b != bit):
                continue
            steps += 1
            after = mask | b | dead | pending.reads_of.get(value, 0)
            if after & bit:
                out.add((value, after & ~bit))
            elif (value, after) not in seen:
                seen.add((value, after))
                stack.append((value, after))
        if steps > budget:
            return None
    return out, steps


def split_frontier(frontier: set[_Config], bit: int
                   ) -> tuple[set[_Config], set[_Config], list[_Config]]:
    """The configurations that have linearized the operation in slot ``bit`` (its bit now
    cleared), and those that must still do so: as a visited set and as the stack to search."""
    out: set[_Config] = set()
    seen: set[_Config] = set()
    stack: list[_Config] = []
    for config in frontier:
        if config[1] & bit:
            out.add((config[0], config[1] & ~bit))
        elif config not in seen:
            seen.add(config)
            stack.append(config)
    return out, seen, stack


def _shrink(ops: Sequence[Op], stuck: Op, max_states: int) -> tuple[Op, ...]:
    """A small closed subset of ``ops`` that is not linearizable by itself."""
    writes_of: dict[object, list[Op]] = {}
    for op in ops:
        if op.kind == "write":
            writes_of.setdefault(op.value, []).append(op)

    def closed(subset: Iterable[Op]) -> list[Op]:
        chosen = {op.index: op for op in subset}
        for op in list(chosen.values()):
            if op.kind == "read":
                chosen.update((w.index, w) for w in writes_of.get(op.value, []))
        return sorted(chosen.values(), key=lambda o: (o.start, o.index))

    def search(subset: Sequence[Op]) -> tuple[Verdict, int]:
        verdict, _, explored = _search(subset, max_states)
        return verdict, explored

    budget = WitnessBudget(search, max_states)
    best = closed(op for op in ops if op.start <= stuck.end)
    if not budget.bad(best):  # cannot happen (the search saw exactly these calls): keep all
        best = closed(ops)
    return tuple(shrink(best, closed, budget, from_end=False))


T = TypeVar("T")


class WitnessBudget(Generic[T]):
    """The witness shrinker's re-checks of subsets: at most ``WITNESS_CHECKS_MAX`` of them,
    stopped once they have taken ``max_states`` search steps in all."""

    def __init__(self, search: Callable[[Sequence[T]], tuple[Verdict, int]],
                 max_states: int) -> None:
        self.search = search  # a subset -> (its verdict, the steps it took)
        self.max_states = max_states
        self.checks = self.spent = 0

    def bad(self, subset: Sequence[T]) -> bool:
        """Whether ``subset`` alone is not linearizable (one re-check)."""
        verdict, explored = self.search(subset)
        self.checks, self.spent = self.checks + 1, self.spent + explored
        return verdict == "not linearizable"

    def more(self) -> bool:
        return self.checks < WITNESS_CHECKS_MAX and self.spent < self.max_states


def shrink(best: list[T], closed: Callable[[Iterable[T]], list[T]], budget: WitnessBudget[T],
           from_end: bool) -> list[T]:
    """Shrink ``best`` (closed, known not linearizable) within ``budget``: drop as many of the
    earliest operations as possible (bisection), then remove chunks one by one (ddmin), the
    subset closed again after each cut; keep a cut only if the subset stays not linearizable.
    ``from_end``: try chunks from the latest back (a cas chain unwinds from its end)."""
    lo, hi = 0, len(best)  # closed(best[lo:]) is known bad
    while hi - lo > 1 and budget.more():
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if budget.bad(closed(best[mid:])) else (lo, mid)
    best = closed(best[lo:])
    chunk = max(1, len(best) // 2)
    while budget.more():
        i = len(best) - chunk if from_end else 0
        while (i >= 0 if from_end else i < len(best)) and budget.more():
            trial = closed(best[:i] + best[i + chunk:])
            cut = len(trial) < len(best) and budget.bad(trial)
            if cut:
                best = trial
            if from_end:
                i = min(i, len(best)) - chunk
            elif not cut:
                i += chunk
        if chunk == 1:
            break
        chunk //= 2
    return best
