"""Topology changes: bootstrap, decommission and removenode, one at a time, driven by ticks.

Theory of operation
-------------------
A node's state rides in its heartbeat (``status``): STARTING (a new node without tokens yet),
JOINING, NORMAL, LEAVING, LEFT (Cassandra's BOOT, NORMAL, LEAVING, LEFT). ``Membership`` turns
the states into the natural ring (reads) and the future ring; writes go to both, the future
ring's extra replicas counted as pending (``Node.plan_write``), so no write is missed by a node
while it receives the data it will own.

* Start. A node with saved tokens resumes its saved state. A seed without tokens takes evenly
  spaced tokens (``tokens.even_tokens``) and is NORMAL: seeds do not bootstrap (as Cassandra).
  Another new node is STARTING until it heard a live peer (or ``topology_settle_ms`` passed)
  and no live STARTING peer has a lower address (concurrent starts allocate one after the
  other), then allocates balanced tokens (``tokens.allocate``) for the largest replication
  factor of the schema. If the cluster has a schema (DDL happened) and ``auto_bootstrap`` is on,
  it bootstraps; otherwise there is nothing to stream and it is NORMAL at once.
* Bootstrap. The node becomes JOINING, waits ``ring_delay_ms`` (every node then writes to it),
  plans its gains (``node.pending``) and streams them (``node.streaming``), its progress
  durable: a joiner restarted mid-stream resumes. Only when every range is complete is it
  NORMAL. Refused (the node stays out of the ring, logging why) while another node is JOINING
  or LEAVING, as Cassandra's ``consistent_range_movement``.
* Decommission. The node becomes LEAVING; after ``ring_delay_ms`` every node that gains one of
  its ranges streams it from this node and then sends ``StreamDone``; when every gainer has,
  the node is LEFT: out of every ring, it serves nothing.
* Removenode. The coordinator tells every node (``RemoveNode``): the dead node leaves the
  future ring; gainers stream from surviving replicas and report to the coordinator, which then
  makes the removal final everywhere.

Refusals raise ``ConfigurationException``/``InvalidRequest`` with Cassandra's messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import InvalidRequest
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
from skewless.node.placement import replication_factor
from skewless.node.topology import tokens as tokmod
from skewless.node.topology.pending import gainers, gains
from skewless.node.topology.streaming import Inbound, Outbound, Task, Throttle, chunk_bytes, serve
from skewless.ring import token_of
from skewless.schema import Schema, TableDef
from skewless.storage import codec

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.topology")
MOVING = ("JOINING", "LEAVING")
BOOTSTRAP_META = "bootstrap_streams"
CONCURRENT = ("Other bootstrapping/leaving/moving nodes detected, cannot bootstrap while "
              "cassandra.consistent.rangemovement is true")


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
        self.removal: tuple[str, str] | None = None  # (address, change id) we coordinate
        self.remove_coordinator: dict[str, str] = {}  # address being removed -> coordinator
        self.error = ""  # why this node refused to join (it stays out of the ring)
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
        elif self.status == "LEAVING":
            self._leaving()
        self._follow_changes(now_ns)
        self.tick_removal()
        for inbound in self.inbound.values():
            for addr, req in inbound.requests(now_ns, self.node.new_req_id):
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
        if not settled and not self._heard_everyone(live):
            return
        if any(s == "STARTING" and a < node.address for a, s in live):
            return  # a concurrent new node with a lower address chooses first
        peer_schema = max((p.state.schema_ts_us for p in node.membership.peers.values()),
                          default=0)
        if node.metadata.index < peer_schema:
            return  # the schema is on its way (the metadata log's catch-up)
        bootstrap = node.config.auto_bootstrap and peer_schema > 0 and any(
            s == "NORMAL" for _, s in live)
        if bootstrap and (any(s in MOVING for _, s in live) or node.membership.removing):
            self._refuse(CONCURRENT)
            return
        existing = {s.address: s.tokens for s in node.membership.states()
                    if s.tokens and s.status in ("NORMAL", "LEAVING", "JOINING")}
        # Balanced at every replication factor up to the schema's largest, and at least up to
        # 3 (the usual one) so that a fresh cluster's layout suits the keyspaces to come.
        rf = max([replication_factor(ks.replication_map())
                  for ks in node.schema.keyspaces
                  if not ks.name.startswith("system")] + [limits.token_allocation_rf_min])
        toks = tokmod.allocate(existing, node.address, node.config.num_tokens, rf, node.rng)
        log.info("allocated %d tokens for replication factor %d", len(toks), rf)
        self._set_status("JOINING" if bootstrap else "NORMAL", toks)

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
        if any(s in MOVING for _, s in self._live_peers()) or node.membership.removing:
            self._refuse(CONCURRENT.replace("bootstrap", "replace"))
            return
        hb = unpack(info.state)
        assert isinstance(hb, Heartbeat) and hb.address == target
        node.membership.add_dead(hb, now_ns)
        node.storage.put_meta("replacing", target.encode())
        log.info("replacing %s: taking its %d tokens", target, len(hb.tokens))
        self._set_status("JOINING", hb.tokens)

    def _refuse(self, why: str) -> None:
        self.error = why
        log.error("refusing to join: %s", why)

    def on_replace_query(self, sender: str, m: ReplaceQuery) -> None:
        mem = self.node.membership
        p = mem.peers.get(m.address)
        if p is None:
            self.node.send(sender, ReplaceInfo(m.address, False, False, b""))
        else:
            self.node.send(sender, ReplaceInfo(m.address, True, p.up, pack(p.state)))

    def on_replace_info(self, sender: str, m: ReplaceInfo) -> None:
        mem = self.node.membership
        if m.known and m.address in mem.removing and m.address not in mem.peers:
            hb = unpack(m.state)  # the node being removed, unknown to us since a restart
            assert isinstance(hb, Heartbeat) and hb.address == m.address
            mem.add_dead(hb, self.node.clock.monotonic_ns())
            return
        if m.address != self.replacing or self.status != "STARTING":
            return
        if self.replace_info is None or (m.known and not self.replace_info.known) or (
                m.known and m.alive):
            self.replace_info = m

    def _joining(self, now_ns: int) -> None:
        change = "bootstrap"
        if now_ns - self.changed_ns < limits.ring_delay_ms * 1_000_000:
            return
        inbound = self.inbound.get(change)
        if inbound is None:
            raw = self.node.storage.get_meta(BOOTSTRAP_META)
            inbound = (Inbound.decode(change, raw, BOOTSTRAP_META) if raw is not None
                       else self._plan(change, BOOTSTRAP_META))
            if inbound is None:
                return
            self.inbound[change] = inbound
            log.info("bootstrap: streaming %d ranges (%d done before)", len(inbound.tasks),
                     sum(t.done for t in inbound.tasks))
        if inbound.complete():
            log.info("bootstrap complete: %d partitions, %d bytes received",
                     sum(t.partitions for t in inbound.tasks), sum(t.bytes for t in inbound.tasks))
            del self.inbound[change]
            self.node.storage.put_meta(BOOTSTRAP_META, Inbound(change, []).encode())
            self._set_status("NORMAL")

    def _plan(self, change: str, meta_name: str, removed: str = "") -> Inbound | None:
        """Our gains from the natural to the future ring as stream tasks (None: not yet)."""
        node = self.node
        m = node.membership
        natural, future = m.ring(), m.future_ring()
        tasks: list[Task] = []
        done: set[str] = set()
        for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
            repl = ks.replication_map()
            got, unsourced = gains(natural, future, repl, node.address,
                                   lambda a: m.is_alive(a) and a != removed,
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
            self.node.ready.must_sync = True

    # ------------------------------------------------------------------ others' changes

    def _changes(self) -> list[tuple[str, str, str]]:
        """Changes in flight that others run: (change id, subject, who waits for StreamDone)."""
        out = []
        for a, p in self.node.membership.peers.items():
            if p.state.status == "LEAVING":
                out.append((f"leave {a} {p.state.generation}", a, a))
        if self.node.membership.removing:
            for a in sorted(self.node.membership.removing):
                out.append((f"remove {a}", a, self.remove_coordinator.get(a, "")))
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
                planned = self._plan(change, "", removed)
                assert planned is not None
                inbound = self.inbound[change] = planned
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

    def _leaving(self) -> None:
        node = self.node
        change = f"leave {node.address} {node.membership.local.generation}"
        if node.clock.monotonic_ns() - self.changed_ns < limits.ring_delay_ms * 1_000_000:
            return
        if self._gainers() <= self.done_from.get(change, set()):
            log.info("decommission: every range handed over")
            self._set_status("LEFT")

    def _gainers(self) -> set[str]:
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
        if self.removal is not None and m.change == self.removal[1]:
            self._check_removal()

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
            self.on_remove_node(sender, m)

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
            if m.error:
                log.warning("stream %s from %s failed: %s", m.session, sender, m.error)
                task.req_id = 0
                return
            for _, data in m.partitions:
                self.node.apply_local(codec.decode_update(data))
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
        """Start leaving the ring (``nodetool decommission``); raises when refused."""
        node = self.node
        if self.status != "NORMAL":
            raise InvalidRequest(f"Node is in {self.status} state; only a NORMAL node can be "
                                 "decommissioned")
        self._refuse_if_changing("decommission")
        normal = [s.address for s in node.membership.states()
                  if s.status == "NORMAL" and node.membership.is_alive(s.address)]
        for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
            rf = replication_factor(ks.replication_map())
            if not force and not ks.name.startswith("system") and rf >= len(normal):
                raise InvalidRequest(
                    f"Not enough live nodes to maintain replication factor in keyspace "
                    f"{ks.name} (RF = {rf}, N = {len(normal)}). Perform a forceful "
                    "decommission to ignore.")
        log.info("decommissioning: streaming this node's ranges to their new owners")
        self._set_status("LEAVING")

    def _refuse_if_changing(self, what: str) -> None:
        m = self.node.membership
        moving = [s.address for s in m.states() if s.status in MOVING + ("STARTING",)
                  and (s.address == self.node.address or m.is_alive(s.address))]
        if moving or m.removing:
            raise InvalidRequest(
                f"Other bootstrapping/leaving/moving nodes detected ({', '.join(moving)}"
                f"{', removing ' + ', '.join(sorted(m.removing)) if m.removing else ''}), "
                f"cannot {what} while a topology change is in flight: wait until it completes")

    def removenode(self, host_id: str) -> None:
        """Remove a dead node by host id (``nodetool removenode``); raises when refused."""
        node = self.node
        if host_id == str(node.host_id):
            raise InvalidRequest("Cannot remove self")
        target = [a for a, p in node.membership.peers.items() if p.state.host_id == host_id]
        if not target or target[0] in node.membership.removed:
            raise InvalidRequest("Host ID not found.")
        address = target[0]
        if node.membership.is_alive(address):
            raise InvalidRequest(f"Node /{address} is alive and owns this ID. Use "
                                 "decommission command to remove it from the ring")
        self._refuse_if_changing("removenode")
        self.removal = (address, f"remove {address}")
        self._removal_host_id = host_id
        self._removal_told_ns = node.clock.monotonic_ns()
        log.info("removenode %s (%s): re-replicating its ranges", host_id, address)
        self._broadcast(RemoveNode(address, host_id, node.address, False))

    def _broadcast(self, m: RemoveNode) -> None:
        for a in self.node.membership.gossip_targets():
            if a != m.address:
                self.node.send(a, m)
        self.on_remove_node(self.node.address, m)

    def on_remove_node(self, sender: str, m: RemoveNode) -> None:
        mem = self.node.membership
        self.remove_coordinator[m.address] = m.coordinator
        if m.final:
            mem.removing.discard(m.address)
            mem.removed.add(m.address)
            self.node.storage.put_meta("removed", ",".join(sorted(mem.removed)).encode())
            self.node.ready.must_sync = True
            log.info("removenode: %s is removed", m.address)
        else:
            mem.removing.add(m.address)
            if m.address not in mem.peers and sender != self.node.address:
                self.node.send(sender, ReplaceQuery(m.address))  # its tokens, to plan gains
        mem.invalidate()

    def _check_removal(self) -> None:
        assert self.removal is not None
        address, change = self.removal
        expected = self._gainers_without(address)
        if expected <= self.done_from.get(change, set()):
            self.removal = None
            self._broadcast(RemoveNode(address, "", self.node.address, True))

    def _gainers_without(self, address: str) -> set[str]:
        return {a for a in self._gainers() if a != address}

    def tick_removal(self) -> None:
        if self.removal is None:
            return
        self._check_removal()
        now_ns = self.node.clock.monotonic_ns()
        if self.removal is not None and \
                now_ns - self._removal_told_ns >= limits.stream_retry_ms * 1_000_000:
            # Told again until it completes: a RemoveNode lost, or a node restarted since
            # (``removing`` is not on disk), would otherwise never stream nor report.
            self._removal_told_ns = now_ns
            address, change = self.removal
            m = RemoveNode(address, self._removal_host_id, self.node.address, False)
            for a in sorted(self._gainers_without(address)
                            - self.done_from.get(change, set()) - {self.node.address}):
                self.node.send(a, m)

    def removal_status(self) -> str:
        """``nodetool removenode status``, in Cassandra's words."""
        if self.removal is None:
            return "RemovalStatus: No removals in process."
        address, change = self.removal
        waiting = sorted(self._gainers_without(address) - self.done_from.get(change, set()))
        return (f"RemovalStatus: Removing node /{address}. Waiting for replication "
                f"confirmation from [{', '.join('/' + a for a in waiting)}].")

    def load_removed(self) -> None:
        raw = self.node.storage.get_meta("removed")
        if raw:
            self.node.membership.removed.update(raw.decode().split(","))

    def cleanup(self, keyspace: str | None = None, tables: Iterable[str] = ()
                ) -> dict[str, int]:
        """Drop the partitions this node no longer replicates (``nodetool cleanup``); returns
        partitions removed per ``keyspace.table``."""
        node = self.node
        if node.membership.changing():
            raise InvalidRequest("Node is involved in cluster membership changes. Not safe to "
                                 "run cleanup.")
        if keyspace is not None and node.schema.keyspace(keyspace) is None:
            raise InvalidRequest(f"Keyspace {keyspace} does not exist")
        wanted = set(tables)
        ring = node.membership.ring()
        out: dict[str, int] = {}
        for ks in sorted(node.schema.keyspaces, key=lambda k: k.name):
            if keyspace is not None and ks.name != keyspace:
                continue
            repl = ks.replication_map()
            for t in sorted(_tables(node.schema, ks.name), key=lambda t: t.name):
                if wanted and t.name not in wanted:
                    continue
                gone = [k for k in node.storage.partition_keys(t.table_key, 0, 0)
                        if node.address not in ring.replicas(token_of(k), repl)]
                now_s = node.physical_us() // 1_000_000
                for k in gone:
                    node.storage.drop_partition(t.table_key, k, now_s)
                out[f"{ks.name}.{t.name}"] = len(gone)
        node.ready.must_sync = True
        return out

    def netstats(self) -> dict[str, object]:
        """``nodetool netstats``: the mode and every stream session's progress."""
        sessions: list[dict[str, object]] = []
        for inbound in self.inbound.values():
            sessions.extend(inbound.progress())
        for peer, o in sorted(self.outbound.items()):
            sessions.append({"peer": peer, "direction": "SENDING", "change": "",
                             "ranges_done": o.ranges_done, "ranges_total": o.ranges_done,
                             "partitions": o.partitions, "bytes": o.bytes})
        return {"mode": self.status, "error": self.error, "sessions": sessions}


def _tables(schema: Schema, keyspace: str) -> list[TableDef]:
    return [t for t in schema.tables if t.keyspace == keyspace]
