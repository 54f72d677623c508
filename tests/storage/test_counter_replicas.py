"""Three replicas' storage engines running counter increments, seeded and in memory: leaders
step their own shard, the resulting states reach the others late, twice or never (then by
hints, replayed, and read repair), and the replicas converge on the sum of the increments,
byte for byte. A replica that applies a replay as a delta is caught by the same check."""

from __future__ import annotations

import random
import uuid

import pytest

from skewless.storage import counters, merge
from skewless.storage.engine import Storage
from skewless.storage.kv import MemoryKV
from skewless.storage.model import Cell, CellWrite, PartitionUpdate, Row

TABLE = "c" * 32
KEYS = [b"k1", b"k2"]
HOSTS = [uuid.UUID(int=i) for i in (1, 2, 3)]


def update(key: bytes, cell: Cell) -> PartitionUpdate:
    return PartitionUpdate(TABLE, key, rows=(Row(b"", cells=(CellWrite("n", b"", cell),)),))


def stored_cell(s: Storage, key: bytes) -> Cell | None:
    p = s.read(TABLE, key, 0)
    return p.rows[0].cells[0].cell if p.rows and p.rows[0].cells else None


def run(seed: int, replay_as_delta: bool = False) -> tuple[list[Storage], dict[bytes, int]]:
    rnd = random.Random(seed)
    nodes = [Storage(MemoryKV()) for _ in HOSTS]
    expected = dict.fromkeys(KEYS, 0)
    hints: list[tuple[int, PartitionUpdate]] = []
    now = 1_000
    for _ in range(60):
        now += rnd.randint(0, 3)  # a clock that stands still at times
        key, leader, delta = rnd.choice(KEYS), rnd.randrange(3), rnd.randint(-5, 9)
        new = counters.leader_step(stored_cell(nodes[leader], key), HOSTS[leader], delta,
                                   now, now)
        nodes[leader].apply(update(key, new), 0)
        expected[key] += delta
        for other in range(3):
            if other == leader:
                continue
            fate = rnd.random()
            if fate < 0.5:
                nodes[other].apply(update(key, new), 0)
            if fate > 0.3:  # lost (or delivered and hinted too): a hint replays it later
                hints.append((other, update(key, new)))
        if rnd.random() < 0.2 and hints:  # hint replay, sometimes twice
            target, u = hints.pop(rnd.randrange(len(hints)))
            for _ in range(rnd.randint(1, 2)):
                apply_replay(nodes[target], u, replay_as_delta)
        if rnd.random() < 0.1:  # read repair between two replicas
            a, b = rnd.sample(range(3), 2)
            k = rnd.choice(KEYS)
            pa, pb = nodes[a].read(TABLE, k, 0), nodes[b].read(TABLE, k, 0)
            merged = merge.merge(pa, pb)
            for n, p in ((a, pa), (b, pb)):
                d = merge.diff(merged, p)
                if d is not None:
                    nodes[n].apply(d, 0)
    for target, u in hints:
        apply_replay(nodes[target], u, replay_as_delta)
    return nodes, expected


def apply_replay(node: Storage, u: PartitionUpdate, as_delta: bool) -> None:
    """A replica applying a replayed mutation; ``as_delta`` is the planted bug: it re-adds the
    shard's count as if the replay were a new increment."""
    if not as_delta:
        node.apply(u, 0)
        return
    cell = u.rows[0].cells[0].cell
    ((host, (clock, count)),) = counters.shards_of(cell).items()
    mine = counters.shards_of(stored_cell(node, u.key)).get(host, (clock, 0))
    node.apply(update(u.key, counters.cell(cell.ts_us, {host: (mine[0] + 1, mine[1] + count)})),
               0)


@pytest.mark.parametrize("seed", range(20))
def test_replicas_converge_to_the_sum(seed: int) -> None:
    nodes, expected = run(seed)
    for key in KEYS:
        parts = [n.read(TABLE, key, 0) for n in nodes]
        assert parts[0] == parts[1] == parts[2]
        assert len({merge.digest(p) for p in parts}) == 1
        cell = stored_cell(nodes[0], key)
        assert cell is not None and counters.total(cell) == expected[key]


def test_a_replica_that_applies_a_replay_as_a_delta_is_caught() -> None:
    caught = 0
    for seed in range(20):
        nodes, expected = run(seed, replay_as_delta=True)
        totals = {k: [counters.total(c) if (c := stored_cell(n, k)) else 0 for n in nodes]
                  for k in KEYS}
        if any(t != [expected[k]] * 3 for k, t in totals.items()):
            caught += 1
    assert caught == 20
