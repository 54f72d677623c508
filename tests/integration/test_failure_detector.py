"""Failure detection on real processes: a node killed with kill -9 is convicted by phi after the
indirect probes went unanswered, with the cause in system.skewless_status, the log and the
Prometheus metrics; the detection time is printed (``--phi-convict-threshold 5`` shortens it)."""

from __future__ import annotations

import time
import urllib.request

from skewless import limits
from skewless.node.membership import phi
from skewless.runtime.cluster import suite_port_offset

METRICS_PORT = 19950 + suite_port_offset()
THRESHOLD = 5.0  # Cassandra's minimum: ≈ 11.5 s of silence at one heartbeat a second


def _metrics(address: str) -> str:
    url = f"http://{address}:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test node
        return str(resp.read().decode())


def test_killed_node_is_convicted_with_its_cause(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    extra = [["--metrics-port", str(METRICS_PORT), "--phi-convict-threshold", str(THRESHOLD)]
             for _ in range(3)]
    c = cluster_factory(3, extra=extra)
    session = c.session_to("127.0.0.1")
    time.sleep(5)  # a few more beats in the phi windows
    assert 'skewless_peer_phi{peer="127.0.0.3"}' in _metrics("127.0.0.1")
    killed_at = time.monotonic()
    c.nodes[2].kill9()
    bound_s = phi.convict_within_ms(THRESHOLD) / 1000 + 2  # + scheduling on a busy machine
    row = None
    while time.monotonic() - killed_at < bound_s:
        rows = {r.address: r for r in session.execute(
            "SELECT address, up, phi, down_cause FROM system.skewless_status")}
        if not rows["127.0.0.3"].up:
            row = rows["127.0.0.3"]
            break
        time.sleep(0.1)
    detected_s = time.monotonic() - killed_at
    print(f"\nkill -9 of 127.0.0.3: node 1 convicted it after {detected_s:.1f} s "
          f"(phi_convict_threshold {THRESHOLD:g}); cause: {row.down_cause if row else None}")
    assert row is not None, f"not convicted within {bound_s:.1f} s"
    # Not before phi could pass the threshold at the shortest mean interval (one per second).
    assert detected_s >= phi.silence_to_convict_ns(THRESHOLD, 0.9 * limits.gossip_interval_ms
                                                   * 1e6) / 1e9
    assert row.phi > THRESHOLD
    assert "indirect probes via 127.0.0.2: none answered" in row.down_cause, row.down_cause
    assert rows["127.0.0.2"].up and rows["127.0.0.2"].down_cause is None
    text = _metrics("127.0.0.1")
    assert ('skewless_peer_convictions_total{cause="probes_unanswered",peer="127.0.0.3"} 1.0'
            in text), [x for x in text.splitlines() if "conviction" in x]
    log = c.nodes[0].log_path.read_text()
    downs = [x for x in log.splitlines() if "InetAddress /127.0.0.3 is now DOWN" in x]
    assert len(downs) == 1 and "none answered" in downs[0], downs  # once per transition
    # A clean stop (SIGTERM) is announced: node 1 marks node 2 down at once, not ≈ 12 s later.
    stopped_at = time.monotonic()
    c.nodes[1].terminate()
    while True:
        row = {r.address: r for r in session.execute(
            "SELECT address, up, down_cause FROM system.skewless_status")}["127.0.0.2"]
        if not row.up or time.monotonic() - stopped_at > 5:
            break
        time.sleep(0.1)
    print(f"SIGTERM of 127.0.0.2: down at node 1 after {time.monotonic() - stopped_at:.1f} s "
          f"({row.down_cause})")
    assert not row.up and row.down_cause == "announced its shutdown", row
