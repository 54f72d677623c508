"""A replacement streams each range from every live replica, not from one: a write acknowledged
at QUORUM by the dead node and one other replica, while the third was down (its hint lost with
the dead coordinator), must reach the replacement (found by the lab swarm, seed 584 of the
topology profile: .2 replaced by .4 streamed key 4's range from .1, which had missed write 15;
the QUORUM read of {.1, .4} then returned 14)."""

from __future__ import annotations

import struct

from skewless.node.consistency import QUORUM
from skewless.node.executor import Params
from skewless.sim.world import World

S = 10**9
KEYS = range(40)


def test_replacement_gets_writes_the_first_live_replica_missed() -> None:
    w = World(584, n_nodes=3)
    assert w.stabilize()
    w.run_for(5 * S)
    conn = [0]

    def ask(node: str, q: str) -> object:
        out: list[object] = []
        conn[0] += 1
        w.client_execute(node, conn[0], q, Params(consistency=QUORUM),
                         lambda r: out.append(r.body))
        assert w.run_until(lambda: bool(out), 30 * S), q
        assert not isinstance(out[0], Exception), (q, out[0])
        return out[0]

    ask("127.0.0.1", "CREATE KEYSPACE ks WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    ask("127.0.0.1", "CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    other = w.nodes["127.0.0.2"].node
    w.crash("127.0.0.1")
    assert w.run_until(lambda: not other.membership.is_alive("127.0.0.1"), 30 * S)
    # Through .3: acknowledged by .3 and .2; .1's hints are kept by .3, which dies.
    for k in KEYS:
        ask("127.0.0.3", f"INSERT INTO ks.t (k, v) VALUES ({k}, {k})")
    w.stop("127.0.0.3")
    w.restart("127.0.0.1")
    assert w.run_until(lambda: not other.membership.is_alive("127.0.0.3")
                       and other.membership.is_alive("127.0.0.1"), 30 * S)
    w.run_for(2 * S)
    w.add_node("127.0.0.4", replace_address_first_boot="127.0.0.3")
    new = w.nodes["127.0.0.4"].node
    assert w.run_until(lambda: new.membership.local.status == "NORMAL", 120 * S)
    w.run_for(2 * S)
    table = new.schema.table("ks", "t")
    assert table is not None
    lacking = [k for k in KEYS
               if not new.storage.read(table.table_key, struct.pack(">i", k), 0).rows]
    assert lacking == []
