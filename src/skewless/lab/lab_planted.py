"""The lab's planted bugs in the LWT and counter paths (tests of the checkers only).

``runner._planter`` plants one of these in node 1's current process (again after each of its
restarts), as it does its own:

* ``skip-prepare``: node 1's Paxos proposers skip the prepare phase and propose on their own
  local data (``node.paxos.proposer``): two proposers both "win", so a CAS register's history
  stops being linearizable and increments are lost (``cas_linearizability``,
  ``cas_final_count``).
* ``answer-before-sync``: node 1's acceptor answers promises and acceptances without asking for
  a sync (``node.paxos.acceptor``) and, so that the answer can leave before any sync at all,
  those answers go onto the network at once instead of through the Ready batch (in the correct
  node every Lwt message waits for the batch's sync: the bug would not show). A crash then
  forgets a promise or an acceptance another proposer counted on: visible with crashes,
  especially with ``--commitlog periodic`` or a slow disk.
* ``counter-replay-twice``: node 1's counter leader forgets its duplicate detection
  (``node.counter_write.CounterLeader.seen``): a CounterMutationRequest the transport delivers
  twice (``--dup-pct``) is applied twice, so the final count leaves its bounds
  (``counter_bounds``). The leader is a replica; with more nodes than the replication factor
  coordinators often send to a remote leader, which the duplication fault needs.
"""

from __future__ import annotations

from typing import Any

from skewless.node.messages import Envelope
from skewless.node.node import Node
from skewless.node.paxos.acceptor import ANSWER_BEFORE_SYNC
from skewless.node.paxos.core import Effects
from skewless.node.paxos.proposer import SKIP_PREPARE
from skewless.sim.world import World

COUNTER_REPLAY_TWICE = "counter-replay-twice"
PLANTED_BUGS = (SKIP_PREPARE, ANSWER_BEFORE_SYNC, COUNTER_REPLAY_TWICE)


def plant(world: World, node: Node, bug: str) -> None:
    assert bug in PLANTED_BUGS, bug
    if bug == COUNTER_REPLAY_TWICE:
        _forget_duplicates(node)
        return
    core = node.lwt.core
    core.planted = frozenset({bug})
    if bug == ANSWER_BEFORE_SYNC:
        core.acceptor.sync = False
        _send_early(world, node)


def _send_early(world: World, node: Node) -> None:
    """The core's ``early_sends`` put on the network now, before the Ready's sync."""
    lwt = node.lwt
    carry = lwt._carry
    sn = world.nodes[node.address]

    def carrying(fx: Effects) -> None:
        early, fx.early_sends = fx.early_sends, []
        if early:
            world._send(sn, [(to, Envelope(node.stamping.peek(), m)) for to, m in early])
        carry(fx)
    setattr(lwt, "_carry", carrying)  # noqa: B010 (an instance attribute on purpose)


def _forget_duplicates(node: Node) -> None:
    leader = node.counters
    on_request = leader.on_request

    def forgetting(sender: str, m: Any) -> None:
        leader.seen.pop((sender, m.op_id), None)
        on_request(sender, m)
    setattr(leader, "on_request", forgetting)  # noqa: B010 (an instance attribute on purpose)
