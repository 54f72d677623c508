"""Topology changes: bootstrap, decommission and removenode, one at a time, driven by ticks.

Theory of operation
-------------------
A node's state rides in its heartbeat (``status``): STARTING (a new node without tokens yet),
JOINING, NORMAL, LEAVING, LEFT (Cassandra's BOOT, NORMAL, LEAVING, LEFT). ``Membership`` turns
the states into the natural ring (reads) and the future ring; writes go to both, the future
ring's extra replicas counted as pending (``Node.plan_write``), so no write is missed by a node
while it receives the data it will own.

Every change is decided by the cluster metadata log (``topology.decide``): a START entry
before the node changes its gossiped state, a FINISH entry before it is NORMAL (or LEFT, or
removed); the log refuses a START while another change is in progress, so concurrent changes
go one after the other whatever gossip has shown.

* Start. A node with saved tokens resumes its saved state. A seed without tokens takes evenly
  spaced tokens (``tokens.even_tokens``) and is NORMAL: seeds do not bootstrap (as Cassandra),
  and a fresh cluster's seeds need no log majority to exist. Another new node is STARTING until
  it heard a live peer (or ``topology_settle_ms`` passed), caught up the log, and no live
  STARTING peer has a lower address (a courtesy that spares duels: the log decides), allocates
  balanced tokens (``tokens.allocate``, against the gossiped ring and the log's) for the largest
  replication factor of the schema and proposes JOIN START with them. While another change is
  in progress, or after a refusal, it waits and proposes again (``topology_retry_ms``), for
  ``topology_join_wait_ms_max`` at most. Once its START is in the log: if the cluster has a
  schema and ``auto_bootstrap`` is on it bootstraps; otherwise it proposes FINISH at once and is
  NORMAL when that is chosen.
* Bootstrap. The node becomes JOINING, waits ``ring_delay_ms`` (every node then writes to it),
  plans its gains (``node.pending``) and streams them (``node.streaming``), its progress
  durable: a joiner restarted mid-stream resumes, its change still the log's. When every range
  is complete it proposes FINISH, and is NORMAL once the log has it.
* Decommission. LEAVE START chosen, the node becomes LEAVING; after ``ring_delay_ms`` every
  node that gains one of its ranges streams it from this node and then sends ``StreamDone``;
  when every gainer has, LEAVE FINISH, then the node is LEFT: out of every ring.
* Removenode. REMOVE START chosen, the coordinator tells every node (``RemoveNode``): the dead
  node leaves the future ring; gainers stream from surviving replicas and report to the
  coordinator, which proposes REMOVE FINISH and then makes the removal final everywhere.

Refusals raise ``ConfigurationException``/``InvalidRequest`` with Cassandra's messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import CqlError, InvalidRequest
from skewless.node.messages import (
    Heartbeat,
    RemoveNode,
    ReplaceInfo,
    ReplaceQuery,
    StreamChunk,
    StreamDone,
    StreamRequest,
    pack,
    unpack,
)
from skewless.node.metadata.entries import TopologyChange
from skewless.node.placement import replication_factor
from skewless.node.schema.system_tables import keyspace_tables
from skewless.node.topology import tokens as tokmod
from skewless.node.topology.cleanup import drop_unowned
from skewless.node.topology.decide import Decisions, busy
from skewless.node.topology.movement import Movement
from skewless.node.topology.pending import gainers, gains
from skewless.node.topology.removal import Removals
from skewless.node.topology.streaming import Inbound, Outbound, Task, Throttle, chunk_bytes, serve
from skewless.schema import Schema, TableDef
from skewless.storage import codec
from skewless.storage.diskspace import DiskFull

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.topology")
BOOTSTRAP_META = "bootstrap_streams"


def concurrent(what: str, cur: TopologyChange) -> str:
    """Cassandra's refusal of a join while another change is in progress (named)."""
    return (f"Other bootstrapping/leaving/moving nodes detected ({cur.op} of {cur.address} in "
            f"progress), cannot {what} while cassandra.consistent.rangemovement is true")


class Topology:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.started_ns = node.clock.monotonic_ns()
        self.changed_ns = self.started_ns  # when our own status last changed
        self.inbound: dict[str, Inbound] = {}  # change id -> streams we receive for it
        self.outbound: dict[str, Outbound] = {}  # peer -> what we streamed to it
        self.throttle = Throttle(node.config.stream_throughput_outbound)
        self.seen_moving: dict[str, int] = {}  # change id -> when we first saw it
        self.done_from: dict[str, set[str]] = {}  # change id we wait on -> gainers done
        self.error = ""  # why this node refused to join (it stays out of the ring)
        self.decide = Decisions(node)
        self.removals = Removals(self)
        self.movement = Movement(node)
        self.waiting_since_ns: int | None = None  # a joiner waiting for another change
        self.waiting_for, self.waiting_logged_ns = "", 0  # what we wait for, last said when
        self.join_tokens: tuple[int, ...] = ()  # our JOIN START's tokens, once in the log
        raw = node.storage.get_meta("replacing")
        saved = node.storage.get_meta("tokens")
        # the dead node whose tokens we take (only at first boot, as Cassandra's option)
        self.replacing = raw.decode() if raw is not None else (
            "" if saved else node.config.replace_address_first_boot)
        self.replace_info: ReplaceInfo | None = None
        self._last_query_ns = -(10**18)
        self._removal_host_id = ""  # the host id of the node whose removal we coordinate
        self._removal_told_ns = 0  # when we last told the gainers of it

    # ------------------------------------------------------------------ start

    def initial(self, saved: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
        """Tokens and status for the first heartbeat."""
        meta = self.node.storage.get_meta("status")
        if saved:
            return saved, meta.decode() if meta else "NORMAL"
        cfg = self.node.config
        if cfg.address in cfg.seeds and not cfg.replace_address_first_boot:
            toks = tokmod.even_tokens(cfg.seeds.index(cfg.address), len(cfg.seeds),
                                      cfg.num_tokens)
            self._save(toks, "NORMAL")
            return toks, "NORMAL"
        return (), "STARTING"

    def _save(self, toks: Sequence[int], status: str) -> None:
        st = self.node.storage
        st.put_meta("tokens", ",".join(map(str, toks)).encode())
        st.put_meta("status", status.encode())
        st.sync()

    def _set_status(self, status: str, toks: Sequence[int] | None = None) -> None:
        node = self.node
        local = node.membership.local
        new_tokens = tuple(local.tokens if toks is None else toks)
        self._save(new_tokens, status)
        node.set_local_state(new_tokens, status)
        self.changed_ns = node.clock.monotonic_ns()
        log.info("node %s is now %s", node.address, status)
        node.gossip_now()

    @property
    def status(self) -> str:
        return self.node.membership.local.status

    # ------------------------------------------------------------------ tick

    def tick(self, now_ns: int) -> None:
        for addr, chunk in self.throttle.due(now_ns):
            self.node.send(addr, chunk)
        if self.error:
            return
        if self.status == "STARTING" and self.replacing:
            self._maybe_replace(now_ns)
        elif self.status == "STARTING":
            self._maybe_choose_tokens(now_ns)
        elif self.status == "JOINING":
            self._joining(now_ns)
        elif self.status == "NORMAL" and self.decide.mine("LEAVE") is not None:
            log.info("decommission: LEAVE START is in the metadata log")
            self._set_status("LEAVING")  # (also a restarted node whose START was chosen)
        elif self.status == "LEAVING":
            self._leaving(now_ns)
        self._follow_changes(now_ns)
        self.removals.tick()
        if self.movement.fail_over(list(self.inbound.values()), now_ns):
            for inbound in self.inbound.values():
                self._persist(inbound)
        for inbound in self.inbound.values():
            for addr, req in inbound.requests(now_ns, self.node.new_req_id,
                                              self.node.membership.is_alive):
                self.node.send(addr, req)

    def _live_peers(self) -> list[tuple[str, str]]:
        return [(a, p.state.status) for a, p in self.node.membership.peers.items() if p.up]

    def _heard_everyone(self, live: list[tuple[str, str]]) -> bool:
        """A NORMAL peer is up and we heard every node our peers know (a node nobody hears
        is waited for until ``topology_settle_ms``): tokens chosen on a partial view would
        split ranges that are already small."""
        mem = self.node.membership
        if not any(s == "NORMAL" for _, s in live):
            return False
        known = {a for p in mem.peers.values() for a in p.state.known}
        return all(a in mem.peers or a == self.node.address for a in known)

    def _maybe_choose_tokens(self, now_ns: int) -> None:
        node = self.node
        live = self._live_peers()
        settled = now_ns - self.started_ns >= limits.topology_settle_ms * 1_000_000
        self.movement.learn_unheard(now_ns)
        if not settled and not self._heard_everyone(live):
            return
        d = self.decide
        mine = d.mine("JOIN")
        if mine is None and any(s == "STARTING" and a < node.address for a, s in live):
            # A concurrent new node with a lower address first (the log decides anyway). Not
            # once our START is chosen: that node waits for our change to finish.
            return
        peer_schema = max((p.state.schema_ts_us for p in node.membership.peers.values()),
                          default=0)
        if node.metadata.index < peer_schema or self.decide.behind():
            return  # the schema and the log's topology are on their way (catch-up)
        has_data = any(not ks.name.startswith("system") for ks in node.schema.keyspaces)
        bootstrap = node.config.auto_bootstrap and has_data and any(
            s == "NORMAL" for _, s in live)
        if mine is not None:
            self.waiting_since_ns = None
            self.join_tokens = mine.tokens
            if bootstrap:
                log.info("bootstrap: JOIN START is in the metadata log (%d tokens)",
                         len(mine.tokens))
                self._set_status("JOINING", mine.tokens)
            elif d.ready(now_ns):  # nothing to stream: finish at once
                d.propose("JOIN", "FINISH", node.address, str(node.host_id), mine.tokens,
                          lambda e: None)
            return
        if self.join_tokens and d.in_progress() is None and \
                d.state.tokens_of(node.address) == self.join_tokens:
            self._set_status("NORMAL", self.join_tokens)  # our FINISH is in the log
            return
        if not d.ready(now_ns):
            return
        cur = d.in_progress()
        if cur is not None:
            self._wait_for_log(now_ns, concurrent("bootstrap", cur))
            return
        toks = self._allocate()
        if bootstrap:
            joiner = replace(node.membership.local, tokens=toks, status="JOINING")
            held = self.movement.held = self.movement.blocked(
                node.config.consistent_range_movement, "",
                node.membership.future_ring_with(joiner))
            if held:
                self._wait_for_log(now_ns, held)
                d.retry_ns = now_ns + limits.topology_retry_ms * 1_000_000
                return
        error = d.propose("JOIN", "START", node.address, str(node.host_id), toks,
                          lambda e: self._wait_for_log(node.clock.monotonic_ns(),
                                                       self._why_not(e)))
        if error is not None:
            self._wait_for_log(now_ns, self._why_not(error))

    def _allocate(self) -> tuple[int, ...]:
        """Balanced tokens against the gossiped ring and the metadata log's."""
        node = self.node
        existing = {a: toks for a, toks in self.decide.state.ring if a != node.address}
        existing.update({s.address: s.tokens for s in node.membership.states()
                         if s.tokens and s.status in ("NORMAL", "LEAVING", "JOINING")})
        # Balanced at every replication factor up to the schema's largest, and at least up to
        # 3 (the usual one) so that a fresh cluster's layout suits the keyspaces to come.
        rf = max([replication_factor(ks.replication_map())
                  for ks in node.schema.keyspaces
                  if not ks.name.startswith("system")] + [limits.token_allocation_rf_min])
        toks = tokmod.allocate(existing, node.address, node.config.num_tokens, rf, node.rng)
        log.info("allocated %d tokens for replication factor %d", len(toks), rf)
        return tuple(toks)

    def _why_not(self, e: CqlError, what: str = "bootstrap") -> str:
        cur = self.decide.in_progress()
        return concurrent(what, cur) if cur is not None and cur.address != self.node.address \
            else e.message

    def _wait_for_log(self, now_ns: int, why: str) -> None:
        """A join (or replace) the log cannot start yet: wait and retry, bounded."""
        if self.waiting_since_ns is None:
            self.waiting_since_ns = now_ns
        waited_ns = now_ns - self.waiting_since_ns
        if waited_ns >= limits.topology_join_wait_ms_max * 1_000_000:
            self._refuse(why)
            return
        if why != self.waiting_for or now_ns >= self.waiting_logged_ns + limits.topology_retry_ms \
                * 10 * 1_000_000:
            self.waiting_for, self.waiting_logged_ns = why, now_ns
            log.warning("not joining yet (waited %d ms, retrying): %s", waited_ns // 1_000_000,
                        why)

    def _maybe_replace(self, now_ns: int) -> None:
        node, target = self.node, self.replacing
        info = self.replace_info
        settled = now_ns - self.started_ns >= limits.topology_settle_ms * 1_000_000
        if info is None or not info.known:
            if settled and info is not None:
                self._refuse(f"Cannot replace_address /{target} because it doesn't exist in "
                             "gossip: check the address of the dead node")
            elif now_ns - self._last_query_ns >= limits.gossip_interval_ms * 1_000_000:
                self._last_query_ns = now_ns
                for a in sorted(set(node.membership.gossip_targets()) - {target}):
                    node.send(a, ReplaceQuery(target))
            return
        if info.alive:
            self._refuse(f"Cannot replace a live node /{target}. Stop it (or wait until the "
                         "cluster sees it down) before replacing it")
            return
        hb = unpack(info.state)
        assert isinstance(hb, Heartbeat) and hb.address == target
        if node.metadata.index < hb.schema_ts_us:
            return  # the schema is on its way: without it we would stream nothing, fail writes
        d = self.decide
        if d.behind():  # (a live peer ahead of us, or too few heard yet)
            return
        if d.mine("REPLACE") is not None:
            self.waiting_since_ns = None
            node.membership.add_dead(hb, now_ns)
            node.storage.put_meta("replacing", target.encode())
            log.info("replacing %s: taking its %d tokens", target, len(hb.tokens))
            self._set_status("JOINING", hb.tokens)
            return
        if not d.ready(now_ns):
            return
        cur = d.in_progress()
        if cur is not None:
            self._wait_for_log(now_ns, concurrent("replace", cur))
            return
        error = d.propose("REPLACE", "START", node.address, str(node.host_id), hb.tokens,
                          lambda e: self._wait_for_log(node.clock.monotonic_ns(),
                                                       self._why_not(e, "replace")),
                          replaces=target)
        if error is not None:
            self._wait_for_log(now_ns, self._why_not(error, "replace"))

    def _refuse(self, why: str) -> None:
        self.error = why
        log.error("refusing to join: %s", why)

    def on_replace_query(self, sender: str, m: ReplaceQuery) -> None:
        mem = self.node.membership
        p = mem.peers.get(m.address)
        if p is None or mem.out_of_cluster(m.address):  # removed, LEFT, replaced: not a peer
            self.node.send(sender, ReplaceInfo(m.address, False, False, b""))
        else:
            self.node.send(sender, ReplaceInfo(m.address, True, p.up, pack(p.state)))

    def on_replace_info(self, sender: str, m: ReplaceInfo) -> None:
        mem = self.node.membership
        if m.known and m.address in mem.removing and m.address not in mem.peers:
            hb = unpack(m.state)  # the node being removed, unknown to us since a restart
            if isinstance(hb, Heartbeat) and hb.address == m.address:
                mem.add_dead(hb, self.node.clock.monotonic_ns())
            return
        if self.status != "STARTING":
            return
        if m.address != self.replacing:
            self.movement.on_info(m)
            return
        if self.replace_info is None or (m.known and not self.replace_info.known) or (
                m.known and m.alive):
            self.replace_info = m

    def _joining(self, now_ns: int) -> None:
        change = "bootstrap"
        if now_ns - self.changed_ns < limits.ring_delay_ms * 1_000_000:
            return
        node, d = self.node, self.decide
        op = "REPLACE" if self.replacing else "JOIN"
        if d.behind():
            return  # restarted: our change's state in the log is on its way
        mine = d.mine(op)
        toks = node.membership.local.tokens
        if mine is None:
            if d.in_progress() is None and d.state.tokens_of(node.address) == toks:
                self._finish_join(change)  # our FINISH is in the log (its answer lost?)
            else:
                self._refuse(f"The cluster metadata log has no {op} of {node.address} in "
                             "progress (cancelled?): wipe this node's data directory and start "
                             "it again")
            return
        inbound = self.inbound.get(change)
        if inbound is None:
            raw = self.node.storage.get_meta(BOOTSTRAP_META)
            if raw is None:  # not planned yet: every range must have its source
                strict = node.config.consistent_range_movement and not self.replacing
                self.movement.held = self.movement.blocked(strict, self.replacing)
                if self.movement.held:
                    return
            inbound = (Inbound.decode(change, raw, BOOTSTRAP_META) if raw is not None
                       else self._plan(change, BOOTSTRAP_META))
            if inbound is None:
                return
            self.inbound[change] = inbound
            log.info("bootstrap: streaming %d ranges (%d done before)", len(inbound.tasks),
                     sum(t.done for t in inbound.tasks))
        if inbound.complete() and d.ready(now_ns):
            log.info("bootstrap complete: %d partitions, %d bytes received; proposing %s "
                     "FINISH", sum(t.partitions for t in inbound.tasks),
                     sum(t.bytes for t in inbound.tasks), op)
            d.propose(op, "FINISH", node.address, str(node.host_id), toks, lambda e: None,
                      replaces=mine.replaces)

    def _finish_join(self, change: str) -> None:
        self.inbound.pop(change, None)
        self.node.storage.put_meta(BOOTSTRAP_META, Inbound(change, []).encode())
        self._set_status("NORMAL")

    def _plan(self, change: str, meta_name: str, removed: str = "") -> Inbound:
        """Our gains from the natural to the future ring as stream tasks (None: not yet)."""
        node = self.node
        m = node.membership
        natural, future = m.ring(), m.future_ring()
        replaced = self.replacing if change == "bootstrap" else ""
        tasks: list[Task] = []
        done: set[str] = set()
        for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
            repl = ks.replication_map()
            got, unsourced = gains(natural, future, repl, node.address,
                                   lambda a: m.is_alive(a) and a != removed and a != replaced,
                                   node.config.consistent_range_movement)
            if unsourced:
                log.warning("%s: %d ranges of %s have no live source", change, len(unsourced),
                            ks.name)
            for table in _tables(node.schema, ks.name):
                if table.table_key in done:
                    continue
                done.add(table.table_key)
                tasks.extend(Task(change, src, table.table_key, s, e) for s, e, src in got)
        inbound = Inbound(change, tasks, meta_name)
        self._persist(inbound)
        return inbound

    def _persist(self, inbound: Inbound) -> None:
        if inbound.meta_name:
            self.node.storage.put_meta(inbound.meta_name, inbound.encode())

    # ------------------------------------------------------------------ others' changes

    def _changes(self) -> list[tuple[str, str, str]]:
        """Changes in flight that others run: (change id, subject, who waits for StreamDone)."""
        out = []
        for a, p in self.node.membership.peers.items():
            if p.state.status == "LEAVING" and a not in self.node.membership.removed:
                out.append((f"leave {a} {p.state.generation}", a, a))
        if self.node.membership.removing:
            for a in sorted(self.node.membership.removing):
                out.append((f"remove {a}", a, self.removals.coordinator.get(a, ("", 0))[0]))
        return out

    def _follow_changes(self, now_ns: int) -> None:
        if self.status != "NORMAL":
            return
        live_changes = set()
        for change, subject, waiter in self._changes():
            live_changes.add(change)
            first = self.seen_moving.setdefault(change, now_ns)
            if now_ns - first < limits.ring_delay_ms * 1_000_000:
                continue
            inbound = self.inbound.get(change)
            if inbound is None:
                removed = subject if change.startswith("remove") else ""
                inbound = self.inbound[change] = self._plan(change, "", removed)
                log.info("%s: streaming %d ranges", change, len(inbound.tasks))
            retry_ns = limits.stream_retry_ms * 1_000_000
            if inbound.complete() and (inbound.reported_ns is None
                                       or now_ns - inbound.reported_ns >= retry_ns):
                if inbound.reported_ns is None:
                    log.info("%s: every range received", change)
                inbound.reported_ns = now_ns  # told again until the change is over (lost?)
                if waiter and waiter != self.node.address:
                    self.node.send(waiter, StreamDone(change))
                elif waiter == self.node.address:
                    self.on_stream_done(self.node.address, StreamDone(change))
        for change in [c for c in self.inbound if c != "bootstrap" and c not in live_changes]:
            del self.inbound[change]

    def _leaving(self, now_ns: int) -> None:
        node, d = self.node, self.decide
        change = f"leave {node.address} {node.membership.local.generation}"
        if now_ns - self.changed_ns < limits.ring_delay_ms * 1_000_000 or d.behind():
            return
        if d.finished("LEAVE"):
            log.info("decommission: LEAVE FINISH is in the metadata log")
            self._set_status("LEFT")
        elif self.gainers() <= self.done_from.get(change, set()) and d.ready(now_ns):
            log.info("decommission: every range handed over; proposing LEAVE FINISH")
            d.propose("LEAVE", "FINISH", node.address, str(node.host_id),
                      node.membership.local.tokens, lambda e: None)

    def gainers(self) -> set[str]:
        m = self.node.membership
        out: set[str] = set()
        for ks in self.node.schema.keyspaces:
            if _tables(self.node.schema, ks.name):
                out |= gainers(m.ring(), m.future_ring(), ks.replication_map())
        return out

    def on_stream_done(self, sender: str, m: StreamDone) -> None:
        done = self.done_from.setdefault(m.change, set())
        if sender not in done:
            log.info("%s: %s has every range", m.change, sender)
        done.add(sender)

    # ------------------------------------------------------------------ streaming messages

    def on_message(self, sender: str, m: StreamRequest | StreamChunk | StreamDone | RemoveNode
                   | ReplaceQuery | ReplaceInfo) -> None:
        if isinstance(m, StreamRequest):
            self.on_stream_request(sender, m)
        elif isinstance(m, StreamChunk):
            self.on_stream_chunk(sender, m)
        elif isinstance(m, StreamDone):
            self.on_stream_done(sender, m)
        elif isinstance(m, ReplaceQuery):
            self.on_replace_query(sender, m)
        elif isinstance(m, ReplaceInfo):
            self.on_replace_info(sender, m)
        else:
            self.removals.on_remove_node(sender, m)

    def on_stream_request(self, sender: str, m: StreamRequest) -> None:
        node = self.node
        chunk = serve(node.storage, m, node.physical_us() // 1_000_000)
        out = self.outbound.setdefault(sender, Outbound())
        out.partitions += len(chunk.partitions)
        out.bytes += chunk_bytes(chunk)
        out.ranges_done += 1 if chunk.done else 0
        now_ns = node.clock.monotonic_ns()
        at = self.throttle.schedule(now_ns, chunk_bytes(chunk))
        if at <= now_ns:
            node.send(sender, chunk)
        else:
            self.throttle.queue.append((at, sender, chunk))

    def on_stream_chunk(self, sender: str, m: StreamChunk) -> None:
        for inbound in self.inbound.values():
            task = inbound.on_chunk(sender, m)
            if task is None:
                continue
            task.heard_ns = self.node.clock.monotonic_ns()
            if m.error:
                log.warning("stream %s from %s failed: %s", m.session, sender, m.error)
                task.req_id = 0
                return
            try:
                for _, data in m.partitions:
                    self.node.apply_local(codec.decode_update(data))
            except DiskFull as e:  # as a failed chunk: asked for again
                log.warning("stream %s from %s not applied: %s", m.session, sender, e)
                task.req_id = 0
                return
            Inbound.advance(task, m)
            self._persist(inbound)
            if task.done:
                log.info("%s: range (%d, %d] of %s from %s complete: %d partitions, %d bytes "
                         "(%d/%d ranges)", inbound.change, task.start, task.end, task.table,
                         sender, task.partitions, task.bytes,
                         sum(t.done for t in inbound.tasks), len(inbound.tasks))
            return

    # ------------------------------------------------------------------ operator API

    def decommission(self, force: bool = False) -> None:
        """Start leaving the ring (``nodetool decommission``); raises when refused at once.
        The log's refusal comes later, in ``decide.refused`` (``nodetool`` shows it)."""
        node, d = self.node, self.decide
        if self.status != "NORMAL":
            raise InvalidRequest(f"Node is in {self.status} state; only a NORMAL node can be "
                                 "decommissioned")
        cur = d.in_progress()
        if cur is not None:
            raise InvalidRequest(busy("decommission", cur))
        if d.inflight is not None:
            raise InvalidRequest("A topology change of this node is being decided: wait until "
                                 "it completes (nodetool netstats), then retry")
        normal = [s.address for s in node.membership.states()
                  if s.status == "NORMAL" and node.membership.is_alive(s.address)]
        for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
            rf = replication_factor(ks.replication_map())
            if not force and not ks.name.startswith("system") and rf >= len(normal):
                raise InvalidRequest(
                    f"Not enough live nodes to maintain replication factor in keyspace "
                    f"{ks.name} (RF = {rf}, N = {len(normal)}). Perform a forceful "
                    "decommission to ignore.")
        d.refused = ""
        log.info("decommissioning: proposing LEAVE START")
        error = d.propose("LEAVE", "START", node.address, str(node.host_id),
                          node.membership.local.tokens, d.operator_refused("decommission"))
        if error is not None:
            raise error

    def removenode(self, host_id: str) -> None:
        self.removals.removenode(host_id)

    def removal_status(self) -> str:
        return self.removals.status()

    def load_removed(self) -> None:
        self.removals.load_removed()

    def cleanup(self, keyspace: str | None = None, tables: Iterable[str] = ()
                ) -> dict[str, int]:
        """Drop the partitions this node no longer replicates (``nodetool cleanup``); returns
        partitions removed per ``keyspace.table``."""
        node = self.node
        if node.membership.changing() or self.decide.inflight or self.decide.in_progress():
            raise InvalidRequest("Node is involved in cluster membership changes. Not safe to "
                                 "run cleanup.")
        return drop_unowned(node, keyspace, tables)

    def netstats(self) -> dict[str, object]:
        """``nodetool netstats``: the mode and every stream session's progress."""
        sessions: list[dict[str, object]] = []
        for inbound in self.inbound.values():
            sessions.extend(inbound.progress())
        for peer, o in sorted(self.outbound.items()):
            sessions.append({"peer": peer, "direction": "SENDING", "change": "",
                             "ranges_done": o.ranges_done, "ranges_total": o.ranges_done,
                             "partitions": o.partitions, "bytes": o.bytes})
        return {"mode": self.status, "error": self.error or self.decide.refused,
                "paused": self.movement.paused, "sessions": sessions}


def _tables(schema: Schema, keyspace: str) -> list[TableDef]:
    return keyspace_tables(schema, keyspace)
