"""The CAS register linearizability checker: its verdicts agree with a brute-force search over
every order on small random histories (correct runs and mutated ones), planted bugs are caught
with small witnesses, and it agrees with the register checker on read/write histories."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.lab.cas_linearizability import ANY, NEVER, cas_linearizable, parse
from skewless.lab.linearizability import linearizable

History = list[dict[str, Any]]
INF = float("inf")


def w(key: object, value: object, start: float, end: float, ok: bool = True) -> dict[str, Any]:
    return {"op": "write", "key": key, "value": value, "start": start, "end": end, "ok": ok}


def r(key: object, value: object, start: float, end: float, ok: bool = True) -> dict[str, Any]:
    return {"op": "read", "key": key, "value": value, "start": start, "end": end, "ok": ok}


def cas(key: object, expected: object, value: object, start: float, end: float,
        applied: bool | None, seen: object = None) -> dict[str, Any]:
    """``applied`` None: the outcome is unknown (ok false)."""
    return {"op": "cas", "key": key, "expected": expected, "value": value, "start": start,
            "end": end, "ok": applied is not None, "applied": applied, "seen": seen}


def ine(key: object, value: object, start: float, end: float, applied: bool | None,
        seen: object = None) -> dict[str, Any]:
    return {"op": "insert_if_not_exists", "key": key, "value": value, "start": start,
            "end": end, "ok": applied is not None, "applied": applied, "seen": seen}


# ------------------------------------------------------------------ brute force


def brute_force(history: Sequence[dict[str, Any]], initial: object = None) -> bool:
    """Linearizable by definition: for every key, some order of the certain operations and a
    subset of the uncertain ones (never ending) respects real time and is a legal run from the
    register holding ``initial``."""
    ops = [parse(i, raw) for i, raw in enumerate(history)]
    keys = {op.key for op in ops}
    for k in keys:
        mine = [op for op in ops if op.key == k and (op.ok or op.kind != "read")]
        optional = [op for op in mine if not op.ok]
        required = [op for op in mine if op.ok]
        if not any(_legal(order, initial) for n in range(len(optional) + 1)
                   for chosen in itertools.combinations(optional, n)
                   for order in itertools.permutations(required + list(chosen))):
            return False
    return True


def _legal(order: Sequence[Any], initial: object) -> bool:
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if b.ok and b.end < a.start:  # b finished before a started: b must come first
                return False
    state = initial
    for op in order:
        if op.need is not ANY and op.need != state:
            return False
        if op.changes:
            state = op.value
    return True


# ------------------------------------------------------------------ generated runs


def sequential_cas_run(rng: random.Random, ops: int, keys: int, clients: int,
                       width: float = 3.0, failed: float = 0.1,
                       plant: str | None = None) -> History:
    """A real CAS register's run: each operation takes effect at an instant after the previous
    one's, recorded with an interval around it. An uncertain operation took effect at its
    instant or never; a failed read returns junk. ``clients`` bounds the overlap (each client
    sequential). ``plant``: "lost-cas" (one applied cas leaves the register unchanged)."""
    state: dict[int, object] = {}
    fresh = itertools.count(1)
    written: dict[int, list[object]] = {}
    free_at = [-INF] * clients
    out: History = []
    point = 0.0
    planted = False
    for _ in range(ops):
        c = min(range(clients), key=lambda j: free_at[j])
        key = rng.randrange(keys)
        point = max(point + rng.uniform(0.01, 1.0), free_at[c] + 1e-3)
        start = max(free_at[c] + 1e-3, point - rng.uniform(0, width))
        end = point + rng.uniform(0, width)
        free_at[c] = end
        ok = rng.random() >= failed
        now = state.get(key)
        kind = rng.random()
        if kind < 0.3:
            out.append(r(key, now if ok else rng.randrange(100), start, end, ok))
            continue
        value: object = next(fresh)
        if kind < 0.45:
            value = None if rng.random() < 0.2 else value  # a delete now and then
            if ok or rng.random() < 0.5:
                state[key] = value
            out.append(w(key, value, start, end, ok))
            continue
        history = written.setdefault(key, [None])
        expected = None if kind < 0.55 else (
            now if rng.random() < 0.6 else rng.choice(history))
        hit = expected == now and (ok or rng.random() < 0.5)
        if hit and not (plant == "lost-cas" and not planted and ok and len(out) > 3):
            state[key] = value
        elif hit:
            planted = True
        applied = hit if ok else None
        seen = None if hit else now
        record = (ine(key, value, start, end, applied, seen) if expected is None and
                  rng.random() < 0.5 else cas(key, expected, value, start, end, applied, seen))
        out.append(record)
        history.append(value)
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 120), st.integers(1, 3), st.integers(1, 6),
       st.floats(0.0, 8.0))
def test_runs_of_a_sequential_cas_register_are_always_linearizable(
        seed: int, ops: int, keys: int, clients: int, width: float) -> None:
    h = sequential_cas_run(random.Random(seed), ops, keys, clients, width)
    result = cas_linearizable(h)
    assert result.verdict == "linearizable", str(result)


def mutate(rng: random.Random, h: History) -> History:
    """One of: a read returns another value; an applied cas expects a value never set; an
    applied cas is reported not applied, or a not-applied one applied; a write vanishes."""
    h = [dict(op) for op in h]
    i = rng.randrange(len(h))
    op = h[i]
    choice = rng.randrange(4)
    if op["op"] == "read" or choice == 0:
        h[i] = r(op["key"], rng.choice([None, 1, 2, 3, 999]), op["start"], op["end"])
    elif op["op"] == "write" or choice == 1:
        h[i] = cas(op["key"], 999, op["value"], op["start"], op["end"], applied=True)
    elif op.get("applied") or choice == 2:
        h[i] = {**op, "ok": True, "applied": not op.get("applied"), "seen": op.get("expected")}
    else:
        del h[i]
    return h


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 7), st.integers(1, 3), st.floats(0.0, 4.0),
       st.booleans())
def test_agrees_with_brute_force_on_small_runs_and_mutations(
        seed: int, ops: int, clients: int, width: float, mutated: bool) -> None:
    rng = random.Random(seed)
    h = sequential_cas_run(rng, ops, 1, clients, width, failed=0.25)
    if mutated:
        h = mutate(rng, h)
    _agree(h)


def _agree(h: History) -> None:
    result = cas_linearizable(h)
    assert (result.verdict == "linearizable") == brute_force(h), str(result)
    for bad in result.violations:
        witness = [h[op.index] for op in bad.witness]
        starts = [None]
        if bad.from_any_state:
            starts = [op.need for op in bad.witness if op.need not in (ANY, NEVER)]
            starts += [None, "other"]
        assert not any(brute_force(witness, s) for s in starts), str(bad)
        since = min(op.start for op in bad.witness) if bad.from_any_state else -INF
        chosen = {op.index for op in bad.witness}
        for op in bad.witness:  # closed: every operation that may set a value observed, if it
            # started before the observer ended (and may have ended after the witness began)
            if op.need is not ANY:
                assert all(o.index in chosen for o in map(parse, range(len(h)), h)
                           if o.changes and o.value == op.need and o.start <= op.end
                           and (o.end >= since or not o.ok)), str(bad)


@st.composite
def small_cas_histories(draw: st.DrawFn) -> History:
    """Arbitrary small histories on one key, values from a tiny set (collisions on purpose)."""
    out: History = []
    values = st.sampled_from([None, 1, 2, 3])
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, 8))
        end = start + draw(st.integers(0, 4))
        ok = draw(st.booleans()) or draw(st.booleans())  # three in four succeed
        kind = draw(st.integers(0, 3))
        if kind == 0:
            out.append(r(0, draw(values), start, end, ok))
        elif kind == 1:
            out.append(w(0, draw(values), start, end, ok))
        else:
            applied = draw(st.booleans()) if ok else None
            seen = draw(values) if applied is False else None
            if kind == 2:
                out.append(cas(0, draw(values), draw(values), start, end, applied, seen))
            else:
                out.append(ine(0, draw(values), start, end, applied, seen))
    return out


@settings(max_examples=600, deadline=None)
@given(small_cas_histories())
def test_agrees_with_brute_force_on_arbitrary_small_histories(h: History) -> None:
    _agree(h)


@st.composite
def small_register_histories(draw: st.DrawFn) -> History:
    out: History = []
    for _ in range(draw(st.integers(1, 7))):
        start = draw(st.integers(0, 8))
        end = start + draw(st.integers(0, 4))
        ok = draw(st.booleans()) or draw(st.booleans())
        if draw(st.booleans()):
            out.append(w(0, len(out) + 1, start, end, ok))
        else:
            out.append(r(0, draw(st.sampled_from([None, 1, 2, 3, 4])), start, end, ok))
    return out


@settings(max_examples=300, deadline=None)
@given(small_register_histories())
def test_agrees_with_the_register_checker_on_read_write_histories(h: History) -> None:
    assert cas_linearizable(h).verdict == linearizable(h).verdict


# ------------------------------------------------------------------ handcrafted


def test_sequential_cas_history_passes() -> None:
    h = [ine(1, 1, 0, 1, applied=True), cas(1, 1, 2, 2, 3, applied=True),
         cas(1, 1, 3, 4, 5, applied=False, seen=2), r(1, 2, 6, 7),
         ine(1, 9, 8, 9, applied=False, seen=2)]
    result = cas_linearizable(h)
    assert result.verdict == "linearizable", str(result)
    assert "cas linearizability: linearizable (1 keys, 5 ops" in str(result)


def test_two_applied_cas_from_the_same_value_are_caught() -> None:
    """A proposer that skips the prepare phase: both cas 1 -> x applied, one after the other."""
    h = [w(1, 1, 0, 1), cas(1, 1, 2, 2, 3, applied=True), cas(1, 1, 3, 4, 5, applied=True)]
    (bad,) = cas_linearizable(h).violations
    assert bad.stuck is not None and bad.stuck.index == 2
    assert [op.index for op in bad.witness] == [1, 2] and bad.from_any_state
    assert "#2 cas 1 -> 3 applied [4.000, 5.000] cannot be linearized; these 2 operations " \
           "alone are not linearizable, whatever the register held before them:" in str(bad)
    concurrent = [w(1, 1, 0, 1), cas(1, 1, 2, 2, 5, applied=True),
                  cas(1, 1, 3, 2, 5, applied=True)]
    assert cas_linearizable(concurrent).verdict == "not linearizable"


def test_insert_if_not_exists_applied_twice_is_caught() -> None:
    h = [ine("name", "a", 0, 2, applied=True), ine("name", "b", 1, 3, applied=True),
         r("other", None, 0, 1)]
    (bad,) = cas_linearizable(h).violations
    assert bad.key == "name" and len(bad.witness) == 2
    ok = [ine("name", "a", 0, 2, applied=True), ine("name", "b", 1, 3, applied=False, seen="a")]
    assert cas_linearizable(ok).verdict == "linearizable"


def test_not_applied_answer_is_a_read_at_its_instant() -> None:
    stale = [w(1, 1, 0, 1), w(1, 2, 2, 3), cas(1, 5, 6, 4, 5, applied=False, seen=1)]
    (bad,) = cas_linearizable(stale).violations
    assert [op.index for op in bad.witness] == [1, 2]
    own = [w(1, 1, 0, 1), cas(1, 1, 6, 4, 5, applied=False, seen=1)]
    (bad,) = cas_linearizable(own).violations  # it saw what it expected, yet did not apply
    assert "not applied (saw 1)" in str(bad)
    assert [op.index for op in bad.witness] == [1] and bad.from_any_state


def test_uncertain_cas_may_take_effect_late_or_never() -> None:
    late = [w(1, 1, 0, 1), cas(1, 1, 2, 2, 3, applied=None), r(1, 1, 4, 5), r(1, 2, 6, 7)]
    assert cas_linearizable(late).verdict == "linearizable"
    never = [w(1, 1, 0, 1), cas(1, 1, 2, 2, 3, applied=None), r(1, 1, 4, 5)]
    assert cas_linearizable(never).verdict == "linearizable"
    flapping = [w(1, 1, 0, 1), cas(1, 1, 2, 2, 3, applied=None), r(1, 2, 4, 5), r(1, 1, 6, 7)]
    assert cas_linearizable(flapping).verdict == "not linearizable"
    condition_false = [w(1, 7, 0, 1), cas(1, 1, 2, 2, 3, applied=None), r(1, 2, 4, 5)]
    assert cas_linearizable(condition_false).verdict == "not linearizable"
    before_start = [cas(1, None, 2, 5, 6, applied=None), r(1, 2, 1, 2)]
    assert cas_linearizable(before_start).verdict == "not linearizable"


def test_chain_of_uncertain_cas_is_followed() -> None:
    """Two timed-out increments, both taken: 1 -> 2 -> 3, seen by a read long after."""
    h = [w(1, 1, 0, 1), cas(1, 1, 2, 2, 3, applied=None), cas(1, 2, 3, 4, 5, applied=None),
         r(1, 3, 100, 101)]
    assert cas_linearizable(h).verdict == "linearizable"
    h[-1] = r(1, 4, 100, 101)
    assert cas_linearizable(h).verdict == "not linearizable"


def test_deletes_are_writes_of_nothing() -> None:
    h = [ine(1, 5, 0, 1, applied=True), w(1, 6, 2, 3) | {"delete": True},
         ine(1, 7, 4, 5, applied=True), r(1, 7, 6, 7)]
    assert cas_linearizable(h).verdict == "linearizable"


def test_the_search_limit_answers_unknown() -> None:
    h = [w(1, v, 0, 100) for v in range(1, 9)] + [r(1, v, 10 * v, 10 * v + 1)
                                                  for v in range(8, 0, -1)]
    assert cas_linearizable(h).verdict == "linearizable"
    result = cas_linearizable(h, max_states=5)
    assert result.verdict == "unknown" and "search limit reached at" in str(result)


def test_planted_faults_in_long_runs_are_caught_with_small_witnesses() -> None:
    rng = random.Random(7)
    h = sequential_cas_run(rng, 2000, keys=3, clients=8)
    assert cas_linearizable(h).verdict == "linearizable"
    read = next(i for i in range(1000, 2000) if h[i]["op"] == "read" and h[i]["ok"])
    wrong = [*h[:read], {**h[read], "value": 999}, *h[read + 1:]]
    (bad,) = cas_linearizable(wrong).violations
    assert [op.value for op in bad.witness] == [999] and not bad.from_any_state, str(bad)
    assert "from the absent row" in str(bad)
    applied = next(i for i in range(1000, 2000) if h[i].get("applied"))
    impossible = [*h[:applied], {**h[applied], "expected": 999}, *h[applied + 1:]]
    (bad,) = cas_linearizable(impossible).violations
    assert [op.index for op in bad.witness] == [applied], str(bad)
    lost = sequential_cas_run(random.Random(7), 2000, keys=3, clients=8, plant="lost-cas")
    (bad,) = cas_linearizable(lost).violations
    print(f"\nlost applied cas: a witness of {len(bad.witness)} operations")
    assert len(bad.witness) <= 12, str(bad)


def test_a_fault_at_the_end_of_a_long_cas_chain_has_a_short_witness() -> None:
    """Increments 0 -> 1 -> ... -> 500 (each a read then a cas); the 400th applied twice, as a
    proposer skipping the prepare phase would: the witness is not the chain."""
    h: History = [ine(1, 0, 0, 1, applied=True)]
    for v in range(500):
        t = 2.0 + 3 * v
        h += [r(1, v, t, t + 1), cas(1, v, v + 1, t + 1.5, t + 2.5, applied=True)]
    h.insert(2 * 400 + 3, cas(1, 399, 400, 2.0 + 3 * 399 + 2.6, 2.0 + 3 * 399 + 2.8, applied=True))
    (bad,) = cas_linearizable(h).violations
    assert len(bad.witness) <= 3 and bad.from_any_state, str(bad)


def cas_increments(rng: random.Random, ops: int, clients: int, failed: float = 0.1,
                   width: float = 3.0, plant: str | None = None) -> tuple[History, bool]:
    """The issue's CAS workload on one register: each client reads v, then sends
    ``UPDATE ... SET v = v + 1 IF v = <what it read>``; a real register's run, intervals around
    the instants. ``plant``: "skip-prepare" (one cas applied on a stale read: the value it set
    was already set by an acknowledged cas), "lost-accept" (one applied cas leaves the register
    unchanged). Returns the history (ending with a read of the final value) and whether the
    bug was planted."""
    state, planted, acked = 0, False, True  # acked: the state was set by an acknowledged op
    free_at, read, pending = [-INF] * clients, [0] * clients, [False] * clients
    out: History = [w(0, 0, -10, -9)]
    point = 0.0
    for _ in range(ops):
        c = min(range(clients), key=lambda j: free_at[j])
        point = max(point + rng.uniform(0.01, 0.3), free_at[c] + 1e-3)
        start = max(free_at[c] + 1e-3, point - rng.uniform(0, width))
        end = free_at[c] = point + rng.uniform(0, width)
        ok = rng.random() >= failed
        if not pending[c]:
            out.append(r(0, state if ok else None, start, end, ok))
            read[c], pending[c] = state, ok
            continue
        pending[c] = False
        e = read[c]
        hit = state == e and (ok or rng.random() < 0.5)
        stale = ok and not hit and state == e + 1 and acked  # a stale read, proved so
        if plant == "skip-prepare" and stale and not planted:
            planted = True
            out.append(cas(0, e, e + 1, start, end, applied=True))
            continue
        if hit and plant == "lost-accept" and ok and not planted:
            planted = True
        elif hit:
            state, acked = e + 1, ok
        out.append(cas(0, e, e + 1, start, end, hit if ok else None, None if hit else state))
    out.append(r(0, state, point + 100, point + 101))
    return out, planted


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 300), st.integers(1, 8),
       st.sampled_from([None, "skip-prepare", "lost-accept"]))
def test_cas_increments_pass_and_planted_bugs_are_caught(seed: int, ops: int, clients: int,
                                                         plant: str | None) -> None:
    """The issue's planted bugs: a proposer that skips the prepare phase (two cas applied from
    one value), an acceptor that answers before syncing (an applied cas lost, seen at the
    latest by the final read). Planted runs have no uncertain operations: a timed-out cas that
    did apply can set exactly what a lost accept left out, and then nothing can tell."""
    failed = 0.1 if plant is None else 0.0
    h, planted = cas_increments(random.Random(seed), ops, clients, failed, plant=plant)
    result = cas_linearizable(h)
    if not planted:
        assert result.verdict == "linearizable", str(result)
        return
    assert result.verdict == "not linearizable", str(result)
    (bad,) = result.violations
    assert len(bad.witness) <= 4, str(bad)


def test_five_thousand_operations_from_ten_clients() -> None:
    h = sequential_cas_run(random.Random(14), 5000, keys=1, clients=10)
    began = time.perf_counter()
    result = cas_linearizable(h)
    took = time.perf_counter() - began
    assert result.verdict == "linearizable", str(result)
    (key,) = result.keys
    print(f"\n5,000 ops, 10 clients, one key: {key.explored} steps, {took:.3f} s")
    h, _ = cas_increments(random.Random(14), 5000, clients=10)
    began = time.perf_counter()
    result = cas_linearizable(h)
    took = time.perf_counter() - began
    assert result.verdict == "linearizable", str(result)
    print(f"5,000 cas increments and reads, 10 clients, one key: {result.keys[0].explored} "
          f"steps, {took:.3f} s")


def test_verdict_parts_for_the_lab() -> None:
    from skewless.lab.cas_linearizability import CHECKER
    bad = cas_linearizable([ine(1, 1, 0, 1, applied=True), ine(1, 2, 2, 3, applied=True)])
    assert (CHECKER, bad.ok, len(bad.details), bad.note) == ("cas_linearizability", False, 1, "")
    assert bad.details[0].startswith("key 1: not linearizable (2 ops")
    h = [w(1, v, 0, 100) for v in range(1, 9)] + [r(1, v, 10 * v, 10 * v + 1)
                                                  for v in range(8, 0, -1)]
    limited = cas_linearizable(h, max_states=5)
    assert (limited.ok, limited.details) == (True, ())
    assert limited.note == "1 keys unknown (search limit)"
