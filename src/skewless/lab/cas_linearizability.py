"""Linearizability of single-key compare-and-set registers (Lowe's just-in-time search), per key.

History format. A sequence of dicts, one per operation, as ``skewless.lab.checkers`` and
``skewless.lab.linearizability`` take them (op, key, value, start, end, ok) with these ops:

* ``read``: ``value`` is what it returned (``None``: no row). A failed read (ok false) is dropped.
* ``write``: a blind write of ``value`` (``delete: true``: a DELETE, a write of ``None``).
  Failed (ok false: a timeout, an error) it may take effect at any instant after its start, or
  never.
* ``cas``: ``UPDATE ... IF v = expected`` setting ``value``. With ok true, ``applied`` says
  whether it was applied; when it was not, ``seen`` is the value Cassandra's failure result set
  returned (``None``: no row), which is a read at the cas's instant (a not-applied answer whose
  ``seen`` equals ``expected`` can never be explained). With ok false the outcome is unknown
  (``applied`` is ignored): it may take effect at any instant after its start (if the register
  then holds ``expected``), or never.
* ``insert_if_not_exists``: a ``cas`` whose expected value is ``None`` (the row is absent).

The register holds ``None`` at first. The history is linearizable when every operation that
must take effect (reads, definite writes, definite cas) can be given one instant inside its
[start, end] interval, and any subset of the uncertain ones an instant after their start, so
that in the order of those instants they are a legal sequential run: a read returns the value,
an applied cas finds ``expected`` and sets ``value``, a not-applied cas finds ``seen``. An
operation precedes another in real time when it ended strictly before the other started.

Why a module beside ``linearizability``: that checker's shortcuts (every write is blind, so a
write nobody reads is dead) are what make it fast and its witnesses small on the lab's
read/write histories; a cas observes the register, so the shortcuts need more conditions. Rather
than slow down or risk the existing checker, this one generalizes the same search and accepts
read/write histories too (where it agrees with the existing one, a property test says so); it
reuses that module's limits, verdict types and witness shrinker (``shrink``).

Theory of operation. CAS registers are P-compositional like registers (a per-key property), so
keys are checked one by one. Per key, Lowe's just-in-time search processes calls and returns in
time order while keeping the set of configurations (register value, set of pending operations
already linearized). When an operation returns, every configuration that has not linearized it
must do so now, after any legal sequence of other pending state changes. An operation
*observes* value v when it is legal only while the register holds v: a read of v, a
not-applied cas that saw v, a cas (applied or uncertain) expecting v. The register facts:

* an operation that changes nothing (a read, a not-applied cas) is linearized as soon as the
  register holds its value: it never hurts, so those never branch the search;
* a blind write of v is *dead* once no operation that observes v is pending unlinearized or
  still to be called: after it only another blind write can be legal (nothing can follow v),
  so it is linearized just before whichever blind write comes next, never as a step of its
  own (a cas cannot follow it: the cas would observe v);
* an uncertain operation (failed write, uncertain cas) setting v is retired once every
  operation that observes v has returned (or, uncertain, been retired): nothing later can tell
  whether it took effect. One that nothing observes after its start is dropped up front;
* uncertain state changes with the same value, condition and retirement are interchangeable
  once called (a run that takes a later one may take an earlier one instead), so only the
  earliest called of them not yet linearized may be taken: k failed deletes of one key keep
  k + 1 configurations, not 2^k.

Typical histories keep a few configurations per event: 5,000 operations on one key from 10
clients (reads, blind writes and deletes, cas with current and stale expected values, 10% with
an unknown outcome) take about 200,000 search steps, 0.3 s here (25,000 steps without
uncertain ones). The steps per key are bounded by ``max_states`` (verdict "unknown" beyond).

Witness. A key that is not linearizable is shrunk, as ``linearizability`` does, to a small
subset not linearizable by itself, in one of two senses (both are tried, each within the
budget of re-checks, and the smaller witness kept; a tie goes to the first):

* *from any state*: the subset fails whatever value the register held before it
  (the search starts from each value it needs and one it does not). It is closed from its
  start: with each operation that observes v, every operation that may set v, started before
  the observer ended, and did not certainly end before the subset's first start (transitively:
  a cas setting v observes its expected value). A subset so closed of a linearizable history is
  linearizable from the value the register held just before its first operation in the
  history's order: before each observer of v the last state change was either in the subset or
  ended before the subset began (then nothing in the subset changed the register before the
  observer). So a fault at the end of a long chain of cas increments has a witness of a few
  operations.
* *from the absent row*, needed when the first sense cannot prove it (a read of a value never
  set): closed with every setter that started before the observer ended, checked from
  ``None``.

Either way the witness alone proves the violation; distinct values per key (every write and cas
setting a fresh value) keep it small.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from skewless.lab.linearizability import (
    MAX_EXPLORED_STATES,
    KeyResult,
    PerKey,
    Verdict,
    WitnessBudget,
    shrink,
    split_frontier,
)

CHECKER = "cas_linearizability"  # the lab verdict's name: Verdict(CHECKER, r.ok, r.details, r.note)
INF = float("inf")
_CALL, _RETURN, _RETIRE = 0, 1, 2
_Config = tuple[object, int]  # (register value, bit set of the linearized pending slots)
OPS = ("read", "write", "cas", "insert_if_not_exists")


class _Sentinel:
    """A value equal only to itself."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ANY = _Sentinel("<any>")  # a blind write's precondition: none
# What a not-applied cas that saw its own expected value reads: the register never holds it,
# so that operation can never be linearized.
NEVER = _Sentinel("<impossible>")
OTHER = _Sentinel("<other>")  # a witness's first value that no operation of the witness needs


@dataclass(frozen=True, slots=True)
class CasOp:
    index: int  # position in the history given to the checker
    kind: str  # one of OPS
    key: object
    value: object  # read: returned; write, cas: the value set
    start: float
    end: float  # as recorded; an uncertain operation is searched as if it never ended
    ok: bool
    expected: object = None  # cas: the condition (insert_if_not_exists: None)
    applied: bool | None = None  # cas: True / False (ok), None (outcome unknown)
    seen: object = None  # not-applied cas: the value its answer returned

    @property
    def certain(self) -> bool:
        """Must take effect (ok), as opposed to an uncertain state change."""
        return self.ok

    @property
    def changes(self) -> bool:
        """May set the register (a write, an applied or uncertain cas)."""
        return self.kind == "write" or (self.kind != "read" and self.applied is not False)

    @property
    def need(self) -> object:
        """The value the register must hold for it: ANY for a blind write; a value read."""
        if self.kind == "write":
            return ANY
        if self.kind == "read":
            return self.value
        if self.applied is False:
            return NEVER if self.seen == self.expected else self.seen
        return self.expected

    def __str__(self) -> str:
        if self.kind == "write":
            what = f"write {self.value}"
        elif self.kind == "read":
            what = f"read -> {self.value}"
        else:
            what = (f"insert {self.value} if not exists" if self.kind == "insert_if_not_exists"
                    else f"cas {self.expected} -> {self.value}")
            what += {True: " applied", None: "",
                     False: f" not applied (saw {self.seen})"}[self.applied]
        failed = "" if self.ok else " (outcome unknown)"
        return f"#{self.index} {what}{failed} [{self.start:.3f}, {self.end:.3f}]"


@dataclass(frozen=True, slots=True)
class CasKeyResult(KeyResult[CasOp]):
    """The witness is closed (``_shrink_in``) in one of two senses, ``from_any_state`` says."""

    from_any_state: bool = False  # the witness fails whatever the register held before it

    def witness_claim(self) -> str:
        start = ("whatever the register held before them" if self.from_any_state
                 else "from the absent row")
        return f"operations alone are not linearizable, {start}"


@dataclass(frozen=True, slots=True)
class CasLinearizability(PerKey[CasKeyResult]):
    NAME: ClassVar[str] = "cas linearizability"

    @property
    def ok(self) -> bool:
        """No key proved not linearizable (keys beyond the search limit do not fail a run)."""
        return not self.violations

    @property
    def details(self) -> tuple[str, ...]:
        return tuple(str(k) for k in self.violations)

    @property
    def note(self) -> str:
        unknown = len(self.unknown)
        return f"{unknown} keys unknown (search limit)" if unknown else ""


def parse(i: int, raw: Mapping[str, Any]) -> CasOp:
    """One history dict as an operation (see the module docstring for the format)."""
    kind, ok = raw["op"], bool(raw["ok"])
    assert kind in OPS, f"unknown op {kind!r}"
    assert raw["end"] >= raw["start"], f"op #{i} ends before it starts"
    value = None if kind == "write" and raw.get("delete") else raw["value"]
    if kind in ("read", "write"):
        return CasOp(i, kind, raw["key"], value, raw["start"], raw["end"], ok)
    applied = bool(raw["applied"]) if ok else None
    return CasOp(i, kind, raw["key"], value, raw["start"], raw["end"], ok,
                 expected=None if kind == "insert_if_not_exists" else raw["expected"],
                 applied=applied, seen=raw["seen"] if applied is False else None)


def cas_linearizable(history: Iterable[Mapping[str, Any]],
                     max_states: int = MAX_EXPLORED_STATES) -> CasLinearizability:
    """Check every key's CAS register history; a witness for each key not linearizable."""
    per_key: dict[object, list[CasOp]] = {}
    for i, raw in enumerate(history):
        op = parse(i, raw)
        if op.kind == "read" and not op.ok:
            continue
        per_key.setdefault(op.key, []).append(op)
    return CasLinearizability(tuple(check_key(k, ops, max_states) for k, ops in per_key.items()))


def check_key(key: object, ops: Sequence[CasOp],
              max_states: int = MAX_EXPLORED_STATES) -> CasKeyResult:
    """One key's verdict (``ops`` all of that key; failed reads already dropped)."""
    verdict, stuck, explored = _search(ops, max_states)
    witness: tuple[CasOp, ...] = ()
    free = False
    if verdict == "not linearizable":
        assert stuck is not None
        witness, free = _shrink(ops, stuck, max_states)
    return CasKeyResult(key, verdict, len(ops), explored, stuck, witness, free)


class _Pending:
    """The operations called and not yet returned (or retired), each in a reusable slot."""

    def __init__(self, ops: Sequence[CasOp]) -> None:
        self.slot: dict[int, int] = {}  # op position -> slot
        self.changes: dict[int, tuple[object, object]] = {}  # slot -> (value set, need)
        self.reads_of: dict[object, int] = {}  # value -> slots that only read it
        self.expects_of: dict[object, int] = {}  # value -> slots of state changes needing it
        self.future: dict[object, int] = {}  # value -> observers of it not yet called
        for op in ops:
            if op.need is not ANY:
                self.future[op.need] = self.future.get(op.need, 0) + 1
        self.twins: dict[tuple[object, object, float], list[int]] = {}  # see twins_blocked
        self.twin_of: dict[int, tuple[object, object, float]] = {}  # slot -> its twins' key
        self._free: list[int] = []
        self._next = 0

    def add(self, pos: int, op: CasOp, retire: float = INF) -> int:
        slot = heapq.heappop(self._free) if self._free else self._next
        self._next = max(self._next, slot + 1)
        self.slot[pos] = slot
        bit, need = 1 << slot, op.need
        if need is not ANY:
            self.future[need] -= 1
            group = self.expects_of if op.changes else self.reads_of
            group[need] = group.get(need, 0) | bit
        if op.changes:
            self.changes[slot] = (op.value, need)
        if not op.certain:
            twin = (op.value, need, retire)
            self.twins.setdefault(twin, []).append(bit)
            self.twin_of[slot] = twin
        return bit

    def twins_blocked(self, mask: int) -> int:
        """Uncertain state changes with the same value, condition and retirement (twins) are
        interchangeable once called: a run that takes some of them may take the earliest
        called instead. So only the earliest called twin not in ``mask`` may be taken, which
        keeps each configuration's twins a prefix: 2^k configurations become k + 1."""
        out = 0
        for bits in self.twins.values():
            if len(bits) > 1:
                free = [b for b in bits if not mask & b]
                for b in free[1:]:
                    out |= b
        return out

    def dead(self, mask: int) -> int:
        """The pending blind writes not in ``mask`` whose value nothing can observe any more."""
        out = 0
        for slot, (value, need) in self.changes.items():
            b = 1 << slot
            if not (mask & b or need is not ANY or self.future.get(value)
                    or (self.reads_of.get(value, 0) | self.expects_of.get(value, 0)) & ~mask):
                out |= b
        return out

    def remove(self, pos: int, op: CasOp) -> None:
        slot = self.slot.pop(pos)
        twin = self.twin_of.pop(slot, None)
        if twin is not None:
            self.twins[twin].remove(1 << slot)
            if not self.twins[twin]:
                del self.twins[twin]
        if op.changes:
            del self.changes[slot]
        if op.need is not ANY:
            group = self.expects_of if op.changes else self.reads_of
            group[op.need] &= ~(1 << slot)
        heapq.heappush(self._free, slot)


def _retire_times(ops: Sequence[CasOp]) -> dict[int, float]:
    """Position of each uncertain state change -> when nothing can observe its value any more:
    the last end of a certain observer of its value, or retirement of an uncertain one (INF on
    a cycle of uncertain operations)."""
    certain_end: dict[object, float] = {}
    uncertain_need: dict[object, list[int]] = {}
    for pos, op in enumerate(ops):
        if op.need is ANY:
            continue
        if op.certain:
            certain_end[op.need] = max(certain_end.get(op.need, -INF), op.end)
        else:
            uncertain_need.setdefault(op.need, []).append(pos)
    out: dict[int, float] = {}
    visiting: set[int] = set()

    def retire(pos: int) -> float:
        if pos in out:
            return out[pos]
        if pos in visiting:
            return INF
        visiting.add(pos)
        value = ops[pos].value
        t = max([certain_end.get(value, -INF)]
                + [retire(p) for p in uncertain_need.get(value, []) if p != pos])
        visiting.discard(pos)
        out[pos] = t
        return t

    for pos, op in enumerate(ops):
        if not op.certain:
            retire(pos)
    return out


def _events(ops: Sequence[CasOp], retire: dict[int, float]) -> list[tuple[float, int, int]]:
    """(time, kind, position): calls, returns, and the retirement of uncertain operations."""
    events: list[tuple[float, int, int]] = []
    for pos, op in enumerate(ops):
        if op.certain:
            events += [(op.start, _CALL, pos), (op.end, _RETURN, pos)]
        elif retire[pos] >= op.start:
            events.append((op.start, _CALL, pos))
            if retire[pos] < INF:
                events.append((retire[pos], _RETIRE, pos))
    events.sort()
    return events


def _search(ops: Sequence[CasOp], max_states: int, initial: Iterable[object] = (None,)
            ) -> tuple[Verdict, CasOp | None, int]:
    """The verdict, the operation stuck (or where the limit hit) and the steps taken, starting
    from any of the ``initial`` values."""
    frontier: set[_Config] = {(v, 0) for v in initial}
    retire = _retire_times(ops)
    events = _events(ops, retire)
    pending = _Pending([ops[pos] for _, kind, pos in events if kind == _CALL])
    explored = 0
    for _, kind, pos in events:
        op = ops[pos]
        explored += len(frontier)
        if explored > max_states:
            return "unknown", op, explored
        if kind == _CALL:
            bit = pending.add(pos, op, retire.get(pos, INF))
            if not op.changes:
                frontier = {(s, m | bit) if s == op.need else (s, m) for s, m in frontier}
            continue
        bit = 1 << pending.slot[pos]
        if kind == _RETIRE:
            frontier = {(s, m & ~bit) for s, m in frontier}
        else:
            forced = _linearize(frontier, bit, pending, max_states - explored)
            if forced is None:
                return "unknown", op, max_states + 1
            frontier, visited = forced
            explored += visited
            if not frontier:
                return "not linearizable", op, explored
        pending.remove(pos, op)
    return "linearizable", None, explored


def _linearize(frontier: set[_Config], bit: int, pending: _Pending,
               budget: int) -> tuple[set[_Config], int] | None:
    """The configurations after the operation in slot ``bit`` is linearized, its bit cleared.

    Configurations that have not linearized it yet apply legal pending state changes (and, with
    them, the reads they satisfy) until it is. None: more than ``budget`` steps.
    """
    out, seen, stack = split_frontier(frontier, bit)
    steps = len(seen)
    while stack:
        state, mask = stack.pop()
        dead = pending.dead(mask)
        blocked = pending.twins_blocked(mask) if pending.twins else 0
        for slot, (value, need) in pending.changes.items():
            b = 1 << slot
            if (mask & b or (dead & b and b != bit) or blocked & b
                    or (need is not ANY and need != state)):
                continue
            steps += 1
            after = mask | b | pending.reads_of.get(value, 0) | (dead if need is ANY else 0)
            if after & bit:
                out.add((value, after & ~bit))
            elif (value, after) not in seen:
                seen.add((value, after))
                stack.append((value, after))
        if steps > budget:
            return None
    return out, steps


def setters(ops: Sequence[CasOp]) -> dict[object, list[CasOp]]:
    """Value -> the operations that may set it (a closed subset keeps, with an observer of a
    value, those of its setters that started before the observer ended)."""
    setters: dict[object, list[CasOp]] = {}
    for op in ops:
        if op.changes:
            setters.setdefault(op.value, []).append(op)
    return setters


def _shrink(ops: Sequence[CasOp], stuck: CasOp,
            max_states: int) -> tuple[tuple[CasOp, ...], bool]:
    """A small closed subset of ``ops`` that is not linearizable by itself, and whether it is
    so from any state (closed from its start) rather than from the absent row (closed): the
    smaller of the two (a tie: from any state)."""
    setters_of = setters(ops)
    prefix = [op for op in ops if op.start <= stuck.end]
    free = _shrink_in(prefix, setters_of, True, max_states)
    absent = _shrink_in(prefix, setters_of, False, max_states)
    if absent is None:  # cannot happen (the search saw exactly these calls)
        absent = tuple(ops)
    return (free, True) if free is not None and len(free) <= len(absent) else (absent, False)


def _shrink_in(prefix: Sequence[CasOp], setters_of: Mapping[object, list[CasOp]], free: bool,
               max_states: int) -> tuple[CasOp, ...] | None:
    """The shrunk witness in one sense (``free``: from any state); None if ``prefix`` (the
    operations called until the one stuck returned) is no witness in that sense."""
    def closed(subset: Iterable[CasOp]) -> list[CasOp]:
        chosen = {op.index: op for op in subset}
        grew = True
        while grew:
            since = min((op.start for op in chosen.values()), default=INF) if free else -INF
            grew = False
            for op in list(chosen.values()):
                for s in [] if op.need is ANY else setters_of.get(op.need, []):
                    if (s.index not in chosen and s.start <= op.end
                            and (s.end >= since or not s.certain)):
                        chosen[s.index] = s
                        grew = True
        return sorted(chosen.values(), key=lambda o: (o.start, o.index))

    def search(subset: Sequence[CasOp]) -> tuple[Verdict, int]:
        verdict, _, explored = _search(subset, max_states,
                                       _initial(subset) if free else (None,))
        return verdict, explored

    budget = WitnessBudget(search, max_states)
    best = closed(prefix)
    if not budget.bad(best):  # from any state: it needs the first value (a read never set)
        return None
    return tuple(shrink(best, closed, budget, from_end=True))


def _initial(ops: Sequence[CasOp]) -> list[object]:
    """The register's first values worth trying for ``ops``: each value one of them needs (but
    NEVER, which it cannot hold), and one that none does (any other value behaves like it)."""
    return [*{op.need for op in ops if op.need is not ANY and op.need is not NEVER}, OTHER]
