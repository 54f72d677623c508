"""Laws of CAS evaluation and of proposal stamping, over random histories of plain writes
(inserts, updates, deletes, TTLs) evaluated at random times."""

from __future__ import annotations

from dataclasses import dataclass

from cas_support import NOW_S, Replica, driver_decode, i32, plan
from hypothesis import event, given, settings
from hypothesis import strategies as st

from skewless import errors
from skewless.cql.cas import restamp, stamp_floor
from skewless.cql.cas_results import evaluate, result_set
from skewless.cql.cells import pack_collection
from skewless.cql.terms import UNSET, Value
from skewless.cql.types import Duration, parse_type
from skewless.storage.merge import live_view, shadowed_by
from skewless.storage.model import PartitionUpdate

VALUES = st.integers(-3, 3)
WRITES = st.one_of(
    st.builds(lambda v: f"INSERT INTO kv (k, v) VALUES (0, {v})", VALUES),
    st.builds(lambda v, t: f"UPDATE kv USING TTL {t} SET v = {v} WHERE k = 0", VALUES,
              st.integers(1, 5)),
    st.builds(lambda w: f"UPDATE kv SET w = '{w}' WHERE k = 0", st.sampled_from("ab")),
    st.just("UPDATE kv SET v = null WHERE k = 0"),
    st.just("DELETE v FROM kv WHERE k = 0"),
    st.just("DELETE FROM kv WHERE k = 0"),
    st.builds(lambda s: f"INSERT INTO kv (k, lock) VALUES (0, true) USING TTL {s}",
              st.integers(1, 5)),
)


@dataclass
class State:
    replica: Replica
    now_s: int

    def applies(self, q: str) -> bool:
        pl = plan(q)
        return evaluate(pl, self.replica.current(pl), self.now_s).applied

    def v(self) -> int | None:
        """The live value of v, read independently of the CAS code."""
        pl = plan("UPDATE kv SET w = 'z' WHERE k = 0 IF EXISTS")
        cur = self.replica.current(pl)
        if cur is None:
            return None
        view = live_view(cur, self.now_s)
        cells = [w.cell.value for r in view.rows for w in r.cells if w.column == "v"]
        return int.from_bytes(cells[0], "big", signed=True) if cells and cells[0] else None


@st.composite
def states(draw: st.DrawFn) -> State:
    r = Replica()
    for q in draw(st.lists(WRITES, max_size=6)):
        r.execute(q, now_s=NOW_S + draw(st.integers(0, 3)))
    return State(r, NOW_S + draw(st.integers(0, 8)))


@settings(max_examples=150, deadline=None)
@given(states())
def test_if_exists_and_if_not_exists_are_complementary(s: State) -> None:
    exists = s.applies("UPDATE kv SET w = 'z' WHERE k = 0 IF EXISTS")
    assert exists != s.applies("INSERT INTO kv (k, w) VALUES (0, 'z') IF NOT EXISTS")


@settings(max_examples=150, deadline=None)
@given(states(), VALUES, VALUES)
def test_comparisons_follow_the_value_read(s: State, x: int, y: int) -> None:
    v = s.v()
    eq = s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v = {x}")
    assert eq == (v == x)
    assert s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v != {x}") == (not eq)
    assert s.applies("UPDATE kv SET w = 'z' WHERE k = 0 IF v = null") == (v is None)
    lt = s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v < {x}")
    gt = s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v > {x}")
    assert lt == (v is not None and v < x) and gt == (v is not None and v > x)
    assert s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v <= {x}") == (lt or eq)
    assert s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v >= {x}") == (gt or eq)
    either = s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v IN ({x}, {y})")
    assert either == (eq or s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v = {y}"))
    both = s.applies(f"UPDATE kv SET w = 'z' WHERE k = 0 IF v >= {x} AND v <= {y}")
    assert both == (v is not None and x <= v <= y)


@settings(max_examples=100, deadline=None)
@given(states(), VALUES)
def test_an_applied_insert_if_not_exists_is_what_later_conditions_see(s: State, x: int
                                                                      ) -> None:
    q = f"INSERT INTO kv (k, v) VALUES (0, {x}) IF NOT EXISTS"
    first, _ = s.replica.cas(q, now_s=s.now_s)
    again, res = s.replica.cas(q, now_s=s.now_s)
    assert not again.applied
    assert s.applies("UPDATE kv SET w = 'z' WHERE k = 0 IF EXISTS")
    if first.applied:
        assert s.v() == x and res.rows[0][3] == i32(x)  # (applied, k, lock, v, w)


@settings(max_examples=100, deadline=None)
@given(states(), st.integers(10**9, 2 * 10**9))
def test_a_proposal_is_stamped_live_at_ts_and_deletions_just_below(s: State, ts: int) -> None:
    stmts = [
        "BEGIN BATCH DELETE FROM kv WHERE k = 0 IF EXISTS; "
        "INSERT INTO kv (k, v) VALUES (0, 1) USING TTL 5; APPLY BATCH",
        "UPDATE kv SET v = null, w = 'a' WHERE k = 0 IF v = 1",
        "UPDATE st SET static_col = 1 WHERE pk = 0 IF static_col = null",
        "DELETE FROM st WHERE pk = 0 AND ck = 1 IF value = 2",
        "BEGIN BATCH DELETE FROM st WHERE pk = 0 AND ck > 3 AND ck < 9; "
        "UPDATE st SET value = 1 WHERE pk = 0 AND ck = 4 IF EXISTS; APPLY BATCH",
        "UPDATE co SET l = [1, 2], m['a'] = 3, u.a = 1 WHERE k = 0 IF m['a'] = null",
    ]
    for q in stmts:
        pl = plan(q)
        m = pl.mutation(ts, s.now_s, s.replica.current(pl))
        live, dead = _stamps(m)
        assert live <= {ts} and dead <= {ts - 1}, q
        assert restamp(m, ts) == m  # idempotent


def _stamps(p: PartitionUpdate) -> tuple[set[int], set[int]]:
    live: set[int] = set()
    dead: set[int] = set()
    if p.deletion is not None:
        dead.add(p.deletion.ts_us)
    dead.update(t.deletion.ts_us for t in p.range_tombstones)
    for r in (*p.rows, *(() if p.static_row is None else (p.static_row,))):
        if r.marker is not None:
            (dead if r.marker.value is None else live).add(r.marker.ts_us)
        if r.deletion is not None:
            dead.add(r.deletion.ts_us)
        dead.update(d.ts_us for _, d in r.column_deletions)
        for w in r.cells:
            (dead if w.cell.value is None else live).add(w.cell.ts_us)
    return live, dead


_JUNK = st.one_of(st.none(), st.just(UNSET), st.binary(max_size=9))
_GOOD = {
    "int": st.sampled_from([i32(0), i32(1), i32(2), i32(-1)]),
    "text": st.sampled_from([b"a", b"x", b""]),
    "list<int>": st.sampled_from([pack_collection([i32(1)]), pack_collection([])]),
    "duration": st.just(parse_type("duration").serialize(Duration(0, 0, 3_600_000_000_000))),
}
BAD_INPUT_STATEMENTS = [
    ("UPDATE kv SET v = ? WHERE k = ? IF v = ?", "int int int"),
    ("UPDATE kv SET v = ? WHERE k = ? IF v IN ? AND w > ?", "int int list<int> text"),
    ("UPDATE co SET l[?] = ? WHERE k = ? IF l[?] = ? AND m[?] IN (?, 1)",
     "int int int int int text int"),
    ("UPDATE co SET d = ? WHERE k = ? IF u.a < ? AND fu.b = ? AND fm CONTAINS KEY ?",
     "duration int int text text"),
    ("DELETE m[?] FROM co WHERE k = ? IF s CONTAINS ? AND fl[?] != ?", "text int text int int"),
    ("INSERT INTO st (pk, ck, static_col, value) VALUES (?, ?, ?, ?) IF NOT EXISTS",
     "int int int int"),
    ("BEGIN BATCH UPDATE st SET value = ? WHERE pk = ? AND ck = ? IF static_col = ?; "
     "DELETE FROM st WHERE pk = ? AND ck > ?; APPLY BATCH", "int int int int int int"),
]


@st.composite
def bound_statements(draw: st.DrawFn) -> tuple[str, list[Value]]:
    """A statement and its values: mostly of the marker's type, some null, unset or junk."""
    q, types = draw(st.sampled_from(BAD_INPUT_STATEMENTS))
    values: list[Value] = [draw(_JUNK if draw(st.integers(0, 9)) == 0 else _GOOD[t])
                           for t in types.split()]
    return q, values


@settings(max_examples=300, deadline=None)
@given(bound_statements())
def test_bad_bound_values_are_answered_never_raised(case: tuple[str, list[Value]]) -> None:
    """A client's values give a plan or InvalidRequest, and a plan evaluates, builds its
    mutation (or InvalidRequest for a list index out of bounds) and encodes its result."""
    q, values = case
    r = Replica()
    r.execute("INSERT INTO co (k, l, m, s, fl, fm, u, fu) VALUES (1, [1, 2], {'a': 1}, {'x'}, "
              "[3], {'b': 2}, {a: 1, b: 'q'}, {a: 2})")
    r.execute("INSERT INTO st (pk, ck, static_col, value) VALUES (1, 1, 1, 1)")
    try:
        pl = plan(q, *values)
    except errors.InvalidRequest:
        event("refused")
        return
    event("planned")
    cur = r.current(pl)
    outcome = evaluate(pl, cur, NOW_S)
    driver_decode(result_set(pl, outcome))
    try:
        pl.mutation(10**12, NOW_S, cur)
    except errors.InvalidRequest:
        pass


@settings(max_examples=100, deadline=None)
@given(states(), st.integers(0, 3))
def test_a_proposal_at_or_above_the_stamp_floor_is_newer_than_all_it_read(s: State, extra: int
                                                                          ) -> None:
    for q in ("BEGIN BATCH DELETE FROM kv WHERE k = 0 IF EXISTS; "
              "INSERT INTO kv (k, v) VALUES (0, 1); APPLY BATCH",
              "UPDATE kv SET v = null, w = 'a' WHERE k = 0 IF v != 1",
              "INSERT INTO kv (k, v) VALUES (0, 1) IF NOT EXISTS"):
        pl = plan(q)
        cur = s.replica.current(pl)
        floor = stamp_floor(cur)
        m = pl.mutation(floor + extra, s.now_s, cur)
        if cur is None:
            continue
        assert shadowed_by(cur, m) == (), q
        read_live, read_dead = _stamps(cur)
        live, dead = _stamps(m)
        assert min(live | dead) > max(read_live | read_dead | {0}), q
        assert floor - 2 == max(read_live | read_dead | {0})  # the least such floor
