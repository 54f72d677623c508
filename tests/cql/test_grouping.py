"""GROUP BY folding (cql/grouping.py): groups continued across scan rounds, groups as pages."""

from __future__ import annotations

import dataclasses

from test_select import NOW_S, SCHEMA, Store, T, i32, i64, plan

from skewless.cql.select_render import group_into, grouper
from skewless.cql.selection import Types
from skewless.storage.model import PartitionUpdate


def _store() -> Store:
    s = Store()
    for k in (1, 2):
        for c in range(4):
            s.run(f"INSERT INTO t (k, c, w) VALUES ({k}, {c}, {k * 10 + c})", T)
    s.run("INSERT INTO t (k, s) VALUES (3, 9)", T)  # only static data: one row, one group
    return s


def _split(p: PartitionUpdate, n: int) -> tuple[PartitionUpdate, PartitionUpdate]:
    return (dataclasses.replace(p, rows=p.rows[:n]),
            dataclasses.replace(p, rows=p.rows[n:], static_row=None))


def test_a_group_cut_between_two_rounds_is_one_group() -> None:
    s = _store()
    p = plan("SELECT k, count(*), max(w) FROM t GROUP BY k")
    g = grouper(p, Types(SCHEMA, "ks"), NOW_S)
    parts = s.read(p)
    first = next(i for i, x in enumerate(parts) if x.key == i32(1))
    head, tail = _split(parts[first], 2)
    group_into(g, p, [*parts[:first], head], NOW_S)
    group_into(g, p, [tail, *parts[first + 1:]], NOW_S)
    g.finish()
    assert sorted(g.rows) == sorted([(i32(1), i64(4), i32(13)), (i32(2), i64(4), i32(23)),
                                     (i32(3), i64(1), None)])


def test_a_full_page_stops_at_the_first_row_of_the_next_group() -> None:
    s = _store()
    p = plan("SELECT k, c, count(*) FROM t WHERE k = 1 GROUP BY k, c", page_size=2)
    g = grouper(p, Types(SCHEMA, "ks"), NOW_S)
    group_into(g, p, s.read(p), NOW_S)
    g.finish()
    assert g.rows == [(i32(1), i32(0), i64(1)), (i32(1), i32(1), i64(1))]
    assert g.more and g.state is not None and g.state.partition_key == i32(1)
    nxt = plan("SELECT k, c, count(*) FROM t WHERE k = 1 GROUP BY k, c", page_size=2,
               paging=g.state)
    g2 = grouper(nxt, Types(SCHEMA, "ks"), NOW_S)
    group_into(g2, nxt, s.read(nxt), NOW_S)
    g2.finish()
    assert g2.rows == [(i32(1), i32(2), i64(1)), (i32(1), i32(3), i64(1))]
    assert not g2.more
