"""When a clock that is out of bounds must refuse a write, and when the write is safe anyway.

Theory of operation
-------------------
Under ``hlc`` a node whose clock is out of bounds (no majority of clocks agrees with it, or it
is beyond ``max_offset_ms`` from cluster time) is *fenced*: its clock must not stamp. What a
fenced coordinator does with a write depends on where the write's timestamp comes from and on
how many replicas acknowledge it:

* **Client timestamps** (``USING TIMESTAMP``, the drivers' default timestamps): the node's clock
  plays no part in ordering. The write proceeds; only the sanity check of the timestamp against
  cluster time (``client_clocks.check``) is skipped, since the node has no trusted cluster time
  to compare with (a client timestamp refused because *our* clock is 10 s off would be a false
  refusal).
* **Node stamps at a level that meets every quorum** (``restamp_orders``: QUORUM, ALL,
  EACH_QUORUM, and any level whose acknowledgements are more than ``RF - quorum``, such as TWO
  with RF = 3, LOCAL_QUORUM with one datacenter, ONE with RF = 1): the write is ordered by
  restamping, whatever the clocks say. Any write acknowledged at QUORUM before it started is on
  a quorum; the replicas that acknowledge this one include one of them, which reports the
  new write shadowed, and the coordinator stamps it again above the newest timestamp reported
  before it answers (``write_path``). The fenced node therefore stamps with its hybrid clock's
  *logical* part only: one above every timestamp it has issued or seen (and above the write's
  floor: a session token, an ordered write's replica floor, the data a restamp must pass),
  never reading its untrusted physical clock. Such a stamp is never ahead of the cluster's
  stamps, so it cannot shadow a later write, and no round trip or healthy peer is needed: the
  write succeeds even when no clock in the cluster is in bounds.
* **Node stamps at a level that may miss a quorum** (ANY, ONE, TWO with RF >= 4, LOCAL_ONE,
  LOCAL_QUORUM across datacenters): the replicas that acknowledge may not hold the previous
  write, so nothing would detect a stamp below it. A healthy peer stamps the write
  (``StampRequest``: its clock is in bounds); with none, the write fails with Overloaded naming
  the clock problem (the drivers try the next host).
* **Restarted and not yet past its old stamps** (the restart fence: the clock is in bounds but
  behind the durable ceiling of what the node stamped before) is judged the same way as an
  out-of-bounds clock, except that a logical stamp must also pass the ceiling: the peer
  stamps instead (the fence lasts at most ``stamp_ceiling_lease_ms``).
* **Reads** take no timestamp: a fenced coordinator serves them at any level.
* **Commit wait** (``--commit-wait``) waits on cluster time and is unchanged: a fenced node's
  reading of it is its best (uncorrected) one.

``docs/guarantees.md`` has the table. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from skewless.node import consistency as cl_mod


def restamp_orders(cl: int, factors: Mapping[str, int], local_dc: str) -> bool:
    """Whether the replicas acknowledging a write at ``cl`` always include one of every
    quorum's (so restamping orders it after every QUORUM-acknowledged write), given the
    keyspace's replicas per datacenter ``factors``."""
    if cl == cl_mod.ANY:
        return False  # a hint is not a replica: nothing reports the shadowing
    if cl == cl_mod.EACH_QUORUM:
        return True  # a majority in every datacenter is a majority of all
    rf = sum(factors.values())
    if rf <= 0:
        return False
    need = cl_mod.requirement(cl, factors, local_dc, write=True)
    acks = need.total + sum(need.per_dc.values())
    return acks > rf - (rf // 2 + 1)
