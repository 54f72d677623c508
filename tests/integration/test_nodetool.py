"""nodetool scripted against a live 3-node cluster, its output parsed as operators' scripts
parse Cassandra's (``skewless.nodetool.parse``) and checked against what the stock driver and
the nodes' system tables say; and ``skewless status`` at 80 columns, piped."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement
from conftest import CQL_PORT, INTERNODE_PORT, LocalCluster

from skewless.nodetool.parse import (
    parse_colon_lines,
    parse_ring,
    parse_schema_versions,
    parse_snapshots,
    parse_status,
)
from skewless.runtime.cluster import admin_port_for, port_accepts

ADMIN_PORT = admin_port_for(INTERNODE_PORT)
ROWS = 300


def nodetool(host: str, *args: str, via_skewless: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = ["-m", "skewless.cli", "nodetool"] if via_skewless else ["-m",
                                                                       "skewless.nodetool.cli"]
    return subprocess.run([sys.executable, *prefix, "-h", host, "-p", str(ADMIN_PORT), *args],
                          capture_output=True, text=True, timeout=120)


def ok(host: str, *args: str) -> str:
    r = nodetool(host, *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: Callable[..., LocalCluster]) -> LocalCluster:
    return module_cluster_factory(3)


def _local(c: LocalCluster, address: str) -> tuple[str, list[int], str]:
    """(host id, tokens, schema version) as the node's system.local says."""
    row = c.session_to(address).execute(
        "SELECT host_id, tokens, schema_version FROM system.local").one()
    return str(row.host_id), sorted(int(t) for t in row.tokens), str(row.schema_version)


def test_status_ring_info_and_version_agree_with_the_nodes(cluster: LocalCluster) -> None:
    addresses = [n.address for n in cluster.nodes]
    local = {a: _local(cluster, a) for a in addresses}
    for a in addresses:  # every node gives the same view
        out = nodetool(a, "status", via_skewless=a == addresses[0])
        assert out.returncode == 0, out.stderr
        lines = parse_status(out.stdout)
        assert [(x.status, x.state, x.address, x.host_id, x.tokens) for x in lines] == [
            ("U", "N", b, local[b][0], 16) for b in addresses]
        assert all(x.dc == "datacenter1" and x.rack == "rack1" for x in lines)
        owns = [x.owns for x in lines]
        assert None not in owns  # no user keyspace: system_traces' RF 2, as Cassandra does
        assert abs(sum(o for o in owns if o is not None) - 200.0) < 0.5
    ring = parse_ring(ok(addresses[1], "ring"))
    assert [t for _, _, _, t in ring] == sorted(t for a in addresses for t in local[a][1])
    assert {(a, s, st) for a, s, st, _ in ring} == {(a, "Up", "Normal") for a in addresses}
    info = parse_colon_lines(ok(addresses[2], "info", "-T"))
    assert info["ID"] == local[addresses[2]][0]
    assert info["Gossip active"] == "true" and info["Native Transport active"] == "true"
    assert info["Data Center"] == "datacenter1" and int(info["Uptime (seconds)"]) >= 0
    assert ok(addresses[0], "version") == "ReleaseVersion: 5.0.0-skewless\n"
    assert ok(addresses[0], "netstats").startswith("Mode: NORMAL\nNot sending any streams.\n")
    gossip = ok(addresses[0], "gossipinfo")
    assert all(f"/{a}\n" in gossip and "HOST_ID:" in gossip for a in addresses)


def test_schema_ownership_endpoints_and_table_stats(cluster: LocalCluster) -> None:
    s = cluster.session()
    s.execute("CREATE KEYSPACE ks WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 2}")
    s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
    insert = s.prepare("INSERT INTO ks.t (k, v) VALUES (?, ?)")
    insert.consistency_level = ConsistencyLevel.ALL
    for k in range(ROWS):
        s.execute(insert, (k, "v" * (k % 50)))
    addresses = [n.address for n in cluster.nodes]
    versions = parse_schema_versions(ok(addresses[0], "describecluster"))
    assert versions == {_local(cluster, addresses[0])[2]: addresses}
    owns = [x.owns for x in parse_status(ok(addresses[1], "status", "ks"))]
    assert abs(sum(o for o in owns if o is not None) - 200.0) < 0.5  # RF 2
    # getendpoints names the replicas the driver's token-aware routing computes
    metadata = s.cluster.metadata
    for k in (0, 7, 123):
        out = ok(addresses[k % 3], "getendpoints", "ks", "t", str(k))
        key = insert.bind((k, "")).routing_key
        expected = {h.address for h in metadata.get_replicas("ks", key)}
        assert set(out.split()) == expected and len(expected) == 2
    ring = ok(addresses[0], "describering", "ks")
    assert ring.count("TokenRange(start_token:") == 48
    # every row is on two nodes: the partitions the nodes count add up to twice the rows
    counted = 0
    for a in addresses:
        stats = ok(a, "tablestats", "ks.t")
        fields = parse_colon_lines(stats)
        counted += int(fields["Number of partitions (estimate)"])
        assert int(fields["Local write count"]) == int(fields["Number of partitions "
                                                              "(estimate)"])
        assert fields["Local write latency"].endswith(" ms")
    assert counted == 2 * ROWS
    assert ok(addresses[0], "tablehistograms", "ks", "t").startswith("ks/t histograms\n")
    assert "Write Latency" in ok(addresses[0], "proxyhistograms")
    assert "Native-Transport-Requests" in ok(addresses[0], "tpstats")
    bad = nodetool(addresses[0], "status", "nope")
    assert bad.returncode == 2 and bad.stderr == "error: The keyspace nope, does not exist\n"


def test_flush_compact_and_snapshots_of_a_node(cluster: LocalCluster) -> None:
    node = cluster.nodes[0]
    a = node.address
    assert ok(a, "flush") == "" and ok(a, "compact", "ks", "t") == ""
    count = SimpleStatement("SELECT count(*) FROM ks.t", consistency_level=ConsistencyLevel.ALL)
    assert cluster.session().execute(count).one()[0] == ROWS
    assert parse_snapshots(ok(a, "listsnapshots")) == []
    out = ok(a, "snapshot", "-t", "before-upgrade", "ks")
    assert out == ("Requested creating snapshot(s) for [ks] with snapshot name [before-upgrade] "
                   "and options {skipFlush=false}\nSnapshot directory: before-upgrade\n")
    again = nodetool(a, "snapshot", "-t", "before-upgrade")
    assert again.returncode == 2 and "already exists" in again.stderr
    ok(a, "snapshot", "-t", "second")
    assert parse_snapshots(ok(a, "listsnapshots")) == ["before-upgrade", "second"]
    snap = Path(node.data_dir) / "snapshots" / "before-upgrade" / "db"
    ssts = list(snap.glob("*.sst"))
    assert ssts and all(f.stat().st_nlink >= 2 for f in ssts)  # hard links to live files
    assert ok(a, "clearsnapshot", "-t", "second").startswith("Requested clearing snapshot(s)")
    assert parse_snapshots(ok(a, "listsnapshots")) == ["before-upgrade"]
    ok(a, "clearsnapshot", "--all")
    assert parse_snapshots(ok(a, "listsnapshots")) == []
    assert not (Path(node.data_dir) / "snapshots" / "before-upgrade").exists()


def test_settraceprobability_traces_requests_that_did_not_ask(cluster: LocalCluster) -> None:
    a = cluster.nodes[1].address
    session = cluster.session_to(a)
    before = session.execute("SELECT count(*) FROM system_traces.sessions").one()[0]
    ok(a, "settraceprobability", "1")
    assert ok(a, "gettraceprobability") == "Current trace probability: 1.0\n"
    result = session.execute("SELECT v FROM ks.t WHERE k = 3")
    # traced by the node, not by the client: the answer carries no tracing id
    assert result.one().v == "vvv" and result.response_future._query_traces is None
    ok(a, "settraceprobability", "0")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = session.execute("SELECT count(*) FROM system_traces.sessions").one()[0]
        if now > before:
            break
        time.sleep(0.2)
    assert now > before


def _http(host: str, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(host, ADMIN_PORT, timeout=10)
    try:
        conn.request(method, path, body)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_admin_endpoint_is_json_over_http_on_the_nodes_own_address(
        cluster: LocalCluster) -> None:
    a = cluster.nodes[1].address
    status, ops = _http(a, "GET", "/operations")
    assert status == 200 and {"status", "ring", "snapshot", "drain"} <= set(ops["operations"])
    status, body = _http(a, "POST", "/operations/version")
    assert (status, body) == (200, {"release_version": "5.0.0-skewless"})
    assert _http(a, "POST", "/operations/nope")[0] == 404
    assert _http(a, "GET", "/operations/status")[0] == 404
    assert _http(a, "POST", "/operations/status", b"[1]") == (
        400, {"error": "the request body must be a JSON object"})
    assert _http(a, "POST", "/operations/status", b"{bad") == (
        400, {"error": "the request body is not JSON"})
    assert _http(a, "POST", "/operations/describering", b"{}") == (
        400, {"error": "describering requires a keyspace argument"})
    # bound to the node's address only: node 2's endpoint is not on node 1's address
    assert port_accepts(a, ADMIN_PORT) and not port_accepts("127.0.0.4", ADMIN_PORT)


def test_skewless_status_fits_80_columns_piped(cluster: LocalCluster) -> None:
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([sys.executable, "-m", "skewless.cli", "status", "--host",
                        cluster.nodes[0].address, "--port", str(CQL_PORT)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\x1b" not in r.stdout and "━" not in r.stdout and "…" not in r.stdout  # plain text
    for n in cluster.nodes:
        host_id = _local(cluster, n.address)[0]
        assert any(line.startswith(f"UN  {n.address} ") for line in lines), r.stdout
        assert f"{n.address}  {host_id}" in r.stdout


def test_drain_stops_serving_and_peers_see_the_node_down(cluster: LocalCluster) -> None:
    node = cluster.nodes[2]
    assert ok(node.address, "drain") == ""
    assert ok(node.address, "netstats").startswith("Mode: DRAINED\n")
    assert not port_accepts(node.address, CQL_PORT)
    info = parse_colon_lines(ok(node.address, "info"))
    assert info["Native Transport active"] == "false" and info["Gossip active"] == "false"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = parse_status(ok(cluster.nodes[0].address, "status"))
        if [x.status for x in lines] == ["U", "U", "D"]:
            break
        time.sleep(0.3)
    assert [x.status for x in lines] == ["U", "U", "D"]
    assert node.terminate() == 0  # a drained node stops cleanly
