"""Prometheus metrics of one node, served over HTTP from the node's own event loop.

The collector reads the node's state when scraped; serving from the event loop (not
prometheus_client's server thread) means the scrape never races the node's single thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skewless import limits
from skewless.node.node import Node
from skewless.runtime import internode_auth
from skewless.runtime.transport import TransportStats
from skewless.storage.integrity import integrity_of

log = logging.getLogger("skewless.metrics")


class NodeCollector(Collector):
    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        yield from _storage_metrics(node)
        view = node.clocks.view()
        yield _gauge("skewless_clock_offset_seconds",
                     "This node's clock minus cluster time", view.offset_us / 1e6)
        yield _gauge("skewless_clock_uncertainty_seconds",
                     "Error bound of the cluster-time agreement", view.uncertainty_us / 1e6)
        yield _gauge("skewless_clock_alarm",
                     "1 when this clock is further than clock_alarm_ms from cluster time",
                     float(view.alarm))
        yield _gauge("skewless_clock_in_bounds",
                     "1 when a majority agrees on cluster time within max_offset_ms",
                     float(view.in_bounds))
        yield _gauge("skewless_clock_agreeing_nodes",
                     "Clocks (this one included) inside the agreed interval",
                     float(view.sources_true))
        now_ns = node.clock.monotonic_ns()
        peers = GaugeMetricFamily("skewless_peer_clock_offset_seconds",
                                  "A peer's clock minus cluster time, measured here",
                                  labels=["peer"])
        for address in sorted(node.membership.peers):
            offset = node.clocks.peer_offset_us(address, now_ns)
            if offset is not None:
                peers.add_metric([address], offset / 1e6)
        yield peers
        yield CounterMetricFamily(
            "skewless_remote_timestamps_ignored",
            "Timestamps more than max_offset_ms ahead of cluster time, not folded into the clock",
            value=node.stamping.far_future_ignored)
        yield CounterMetricFamily(
            "skewless_remote_stamps",
            "Write timestamps this node asked a peer for because its own clock was out of bounds",
            value=node.stamping.remote_stamps)
        yield CounterMetricFamily(
            "skewless_logical_stamps",
            "Write timestamps from the logical clock alone while fenced (the level's replicas "
            "order the write by restamping)",
            value=node.stamping.logical_stamps)
        yield _gauge("skewless_clock_fenced", "1 while this node does not stamp writes itself",
                     float(node.stamping.fenced()))
        shadowed = CounterMetricFamily(
            "skewless_shadowed_writes",
            "Cells of writes coordinated here that newer data shadowed (did not take effect)",
            labels=["keyspace", "table"])
        restamped = CounterMetricFamily(
            "skewless_restamped_writes",
            "Writes coordinated here stamped again above newer data their replicas reported",
            labels=["keyspace", "table"])
        for family, counts in ((shadowed, node.shadowed_writes),
                               (restamped, node.restamped_writes)):
            for table_id, count in sorted(counts.items()):
                t = node.schema.table_by_key(table_id)
                family.add_metric([t.keyspace, t.name] if t is not None else ["?", table_id],
                                  count)
        yield shadowed
        yield restamped
        yield from _failure_detector(node, now_ns)
        yield _gauge("skewless_peers_up", "Peers this node sees up",
                     float(sum(1 for p in node.membership.peers.values() if p.up)))
        yield _gauge("skewless_coordinator_requests_inflight",
                     "Requests this node coordinates now", float(len(node.ops)))
        yield from _client_requests(node)
        yield CounterMetricFamily(
            "skewless_cas_requests", "LWTs and SERIAL reads this node coordinated (node.lwt)",
            value=float(node.lwt.started))
        yield CounterMetricFamily(
            "skewless_cas_contentions",
            "Paxos rounds this node's LWTs lost to other proposers (Cassandra's CasWrite "
            "contention)", value=float(node.lwt.contentions))


def _client_requests(node: Node) -> Iterator[Metric]:
    """The client request registry (node.requests): open now, lost replies, internal errors."""
    r = node.requests
    yield _gauge("skewless_client_requests_open", "Client requests received, not yet answered",
                 float(len(r)))
    for name, doc, value in (
            ("skewless_client_requests_unanswered", "Client requests answered only at their "
             "deadline (a lost reply)", r.unanswered),
            ("skewless_client_replies_dropped", "Second replies to a client request, dropped",
             r.duplicates),
            ("skewless_internal_errors", "Internal errors (each logged with an error id and "
             "its traceback)", r.internal_errors + r.planted_errors)):
        yield CounterMetricFamily(name, doc, value=float(value))


def _failure_detector(node: Node, now_ns: int) -> Iterator[Metric]:
    """Phi per peer, convictions by cause and suspicions refuted by indirect probes."""
    phi = GaugeMetricFamily("skewless_peer_phi",
                            "Phi-accrual suspicion of a peer (down past phi_convict_threshold)",
                            labels=["peer"])
    for address in sorted(node.membership.peers):
        phi.add_metric([address], node.membership.phi(address, now_ns))
    yield phi
    convictions = CounterMetricFamily(
        "skewless_peer_convictions",
        "Peers this node marked down, by cause (phi alone, or indirect probes unanswered)",
        labels=["peer", "cause"])
    for (peer, cause), count in sorted(node.fd.convictions.items()):
        convictions.add_metric([peer, cause], count)
    yield convictions
    refuted = CounterMetricFamily(
        "skewless_peer_suspicions_refuted",
        "Suspicions of a peer (phi past the threshold) that another peer's probe answered",
        labels=["peer"])
    for peer, count in sorted(node.fd.refutations.items()):
        refuted.add_metric([peer], count)
    yield refuted


class InternodeCollector(Collector):
    """The internode transport's refusals (runtime.transport, runtime.internode_auth)."""

    def __init__(self, stats: TransportStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        refused = CounterMetricFamily(
            "skewless_internode_refused",
            "Internode connections refused, by reason (garbage, bad_handshake, "
            "unauthenticated, wrong_secret, bad_mac, replay, timeout)",
            labels=["reason"])
        for reason in internode_auth.REASONS:
            refused.add_metric([reason], self.stats.refused.get(reason, 0))
        yield refused


def _storage_metrics(node: Node) -> Iterator[Metric]:
    """Corrupt storage (``storage.integrity``)."""
    integ = integrity_of(node.storage.kv)
    if integ is None:
        return
    yield _gauge("skewless_storage_needs_rebuild",
                 "1 while corruption was found and nodetool rebuild has not finished",
                 float(integ.needs_rebuild))
    yield CounterMetricFamily("skewless_storage_corruption_errors",
                              "Reads that met a corrupt block since start",
                              value=integ.corruption_errors)
    yield CounterMetricFamily("skewless_storage_rebuilds",
                              "Rebuilds from the peers finished since start", value=integ.rebuilds)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class MetricsServer:
    """``GET /metrics`` on ``address:port``; anything else is a 404."""

    def __init__(self, node: Node, address: str, port: int,
                 transport_stats: TransportStats | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(node))
        if transport_stats is not None:
            self.registry.register(InternodeCollector(transport_stats))
        self.address = address
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.address, self.port, reuse_address=True,
            limit=limits.metrics_request_bytes_max)
        log.info("metrics on http://%s:%d/metrics", self.address, self.port)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), limits.metrics_request_timeout_ms / 1000)
            parts = head.split(b"\r\n", 1)[0].split()
            if len(parts) >= 2 and parts[0] == b"GET" and parts[1].split(b"?")[0] == b"/metrics":
                body = generate_latest(self.registry)
                status, ctype = b"200 OK", CONTENT_TYPE_LATEST.encode()
            else:
                body, status, ctype = b"not found\n", b"404 Not Found", b"text/plain"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype
                         + b"\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass  # a client that hangs up or sends garbage gets nothing
        finally:
            writer.close()
