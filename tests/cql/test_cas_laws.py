"""Laws of CAS evaluation and of proposal stamping, over random histories of plain writes
(inserts, updates, deletes, TTLs) evaluated at random times."""

from __future__ import annotations

from dataclasses import dataclass

from cas_support import NOW_S, Replica, i32, plan
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.cql.cas import restamp
from skewless.cql.cas_results import evaluate
from skewless.storage.merge import live_view
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
