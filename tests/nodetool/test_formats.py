"""nodetool's formatters against fixed states: Cassandra's exact layouts, and what a script
parsing them (``skewless.nodetool.parse``) reads back."""

from __future__ import annotations

from typing import Any

import pytest

from skewless.nodetool import formats_cluster as fc
from skewless.nodetool import formats_local as fl
from skewless.nodetool.cli import run, split_globals
from skewless.nodetool.parse import (
    parse_colon_lines,
    parse_ring,
    parse_schema_versions,
    parse_snapshots,
    parse_status,
)
from skewless.nodetool.text import decimal_format, file_size, percent, table

H1 = "6f1e3b8e-4a4b-4d4e-8f00-000000000001"
H2 = "6f1e3b8e-4a4b-4d4e-8f00-000000000002"
H3 = "6f1e3b8e-4a4b-4d4e-8f00-000000000003"


def _endpoint(address: str, host_id: str, tokens: list[int], *, up: bool = True,
              dc: str = "datacenter1", owns: float | None = 0.5, load: int = 70_737,
              state: str = "Normal") -> dict[str, Any]:
    return {"address": address, "host_id": host_id, "dc": dc, "rack": "rack1",
            "tokens": [str(t) for t in tokens], "load_bytes": load, "up": up, "state": state,
            "schema_version": "59adb24e-f3cd-3e02-97f0-5b395827453f", "generation": 1700,
            "beat": 42, "cql_port": 9042, "owns": owns}


STATE = {"effective": True, "note": "", "endpoints": [
    _endpoint("127.0.0.10", H3, [300, -100], owns=0.3333, load=2 * 2**20),
    _endpoint("127.0.0.2", H2, [200, -200], up=False, owns=0.6667),
    _endpoint("127.0.0.1", H1, [100, -300], owns=1.0),
]}


def test_java_number_formats() -> None:
    assert decimal_format(0.125, 2, trim=True) == "0.12"  # half-even, as DecimalFormat
    assert decimal_format(0.135, 2, trim=True) == "0.14"
    assert file_size(70_737) == "69.08 KiB"
    assert file_size(71_680) == "70 KiB"  # "#.##" drops trailing zeros
    assert file_size(123) == "123 bytes"
    assert file_size(3 * 2**30) == "3 GiB"
    assert percent(1 / 3, 1) == "33.3%" and percent(1.0, 1) == "100.0%"
    assert percent(0.00049, 2) == "0.05%"
    assert table([["a", "bb"], ["ccc", "d"]]) == ["a   bb", "ccc d"]


def test_status_layout_is_cassandras() -> None:
    text = fc.format_status(STATE)
    lines = text.splitlines()
    assert lines[:5] == [
        "Datacenter: datacenter1",
        "=======================",
        "Status=Up/Down",
        "|/ State=Normal/Leaving/Joining/Moving",
        "--  Address     Load       Tokens  Owns (effective)  Host ID"
        "                               Rack",
    ]
    assert lines[5] == (f"UN  127.0.0.1   69.08 KiB  2       100.0%            {H1}  rack1")
    assert lines[6].startswith("DN  127.0.0.2   69.08 KiB  2       66.7%")
    assert lines[7].startswith("UN  127.0.0.10  2 MiB")  # addresses in numeric order
    assert text.endswith("\n\n") or lines[-1] == ""
    parsed = parse_status(text)
    assert [(p.status + p.state, p.address, p.tokens, p.owns, p.host_id) for p in parsed] == [
        ("UN", "127.0.0.1", 2, 100.0, H1), ("DN", "127.0.0.2", 2, 66.7, H2),
        ("UN", "127.0.0.10", 2, 33.3, H3)]


def test_status_without_effective_ownership_prints_the_note_and_question_marks() -> None:
    state = {**STATE, "effective": False, "note": "Non-system keyspaces don't have the same "
             "replication settings, effective ownership information is meaningless"}
    text = fc.format_status(state)
    assert "Tokens  Owns  Host ID" in text and "Owns (effective)" not in text
    assert text.rstrip().endswith("effective ownership information is meaningless")
    assert all(p.owns is None for p in parse_status(text))


def test_status_groups_by_datacenter_and_shows_joining_and_single_tokens() -> None:
    state = {"effective": True, "note": "", "endpoints": [
        _endpoint("127.0.0.1", H1, [5], dc="dc2"),
        _endpoint("127.0.0.2", H2, [7], dc="dc1", state="Joining")]}
    text = fc.format_status(state)
    assert text.index("Datacenter: dc1") < text.index("Datacenter: dc2")
    # one token per node: Cassandra's "Token" column instead of "Tokens"
    assert "Host ID                               Token  Rack" in text
    assert f"UJ  127.0.0.2  69.08 KiB  50.0%             {H2}  7      rack1" in text


def test_ring_lists_every_token_in_ring_order() -> None:
    text = fc.format_ring(STATE)
    assert text.startswith("\nDatacenter: datacenter1\n==========\n")
    assert "Address     Rack        Status State   Load            Owns" in text
    assert text.splitlines()[4].strip() == "300"  # the last token, above the first row
    rows = parse_ring(text)
    assert [r[3] for r in rows] == [-300, -200, -100, 100, 200, 300]
    assert rows[1] == ("127.0.0.2", "Down", "Normal", -200)
    assert "127.0.0.1   rack1       Up     Normal  69.08 KiB       100.00%" in text
    assert '  Warning: "nodetool ring" is used to output all the tokens of a node.' in text


def test_info() -> None:
    data = {"id": H1, "gossip_active": True, "native_transport_active": True,
            "load_bytes": 70_737, "generation": 1700, "uptime_s": 12,
            "memory_rss_bytes": 100 * 2**20, "memory_peak_bytes": 120 * 2**20,
            "dc": "datacenter1", "rack": "rack1", "tokens": ["1", "2"], "joined": True,
            "mode": "NORMAL"}
    text = fc.format_info(data, all_tokens=False)
    assert "ID                     : " + H1 in text
    assert "Native Transport active: true" in text
    assert "Heap Memory (MB)       : 100.00 / 120.00" in text
    assert "Token                  : (invoke with -T/--tokens to see all 2 tokens)" in text
    fields = parse_colon_lines(text)
    assert fields["Load"] == "69.08 KiB" and fields["Uptime (seconds)"] == "12"
    assert fc.format_info(data, all_tokens=True).count("Token                  : ") == 2
    assert "Disk" not in fields  # a simulated node
    data["disk"] = {"state": "low", "free_bytes": 2793472, "needed_bytes": 9437184,
                    "writes_refused": 7, "failure": ""}
    fields = parse_colon_lines(fc.format_info(data, all_tokens=False))
    assert fields["Disk"] == "low, 2.66 MiB free, writes refused below 9 MiB, 7 refused since start"


def test_describecluster_and_its_schema_versions() -> None:
    data = {"name": "Test Cluster", "snitch": "org.apache.cassandra.locator.SimpleSnitch",
            "dynamic_snitch": False, "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
            "schema_versions": {"v1": ["127.0.0.2", "127.0.0.1"], "UNREACHABLE": ["127.0.0.3"]},
            "live": 2, "joining": 0, "moving": 0, "leaving": 0, "unreachable": 1,
            "datacenters": {"datacenter1": {"nodes": 3, "down": 1}},
            "release_versions": {"5.0.0": ["127.0.0.1", "127.0.0.2", "127.0.0.3"]},
            "keyspaces": {"ks": "SimpleStrategy {replication_factor=3}"},
            "internode_port": 7000}
    text = fc.format_describecluster(data)
    assert text.startswith("Cluster Information:\n\tName: Test Cluster\n\tSnitch: ")
    assert "\t\tv1: [127.0.0.1, 127.0.0.2]\n\n" in text
    assert "\tdatacenter1 #Nodes: 3 #Down: 1\n" in text
    assert "\t5.0.0: [127.0.0.1:7000, 127.0.0.2:7000, 127.0.0.3:7000]" in text
    assert text.endswith("\tks -> Replication class: SimpleStrategy {replication_factor=3}\n")
    assert parse_schema_versions(text) == {"UNREACHABLE": ["127.0.0.3"],
                                           "v1": ["127.0.0.1", "127.0.0.2"]}


def test_describering_getendpoints_gossipinfo_version() -> None:
    ring = {"schema_version": "v1", "ranges": [{
        "start": "-5", "end": "10", "endpoints": ["127.0.0.1", "127.0.0.2"],
        "details": [{"host": "127.0.0.1", "datacenter": "dc1", "rack": "r1"},
                    {"host": "127.0.0.2", "datacenter": "dc1", "rack": "r1"}]}]}
    assert fc.format_describering(ring) == (
        "Schema Version:v1\nTokenRange: \n\tTokenRange(start_token:-5, end_token:10, "
        "endpoints:[127.0.0.1, 127.0.0.2], rpc_endpoints:[127.0.0.1, 127.0.0.2], "
        "endpoint_details:[EndpointDetails(host:127.0.0.1, datacenter:dc1, rack:r1), "
        "EndpointDetails(host:127.0.0.2, datacenter:dc1, rack:r1)])\n")
    assert fc.format_getendpoints({"endpoints": ["127.0.0.2", "127.0.0.1"]}) == \
        "127.0.0.2\n127.0.0.1\n"
    gossip = fc.format_gossipinfo({"endpoints": STATE["endpoints"], "release_version": "5.0"})
    assert gossip.startswith("/127.0.0.1\n  generation:1700\n  heartbeat:42\n"
                             "  STATUS:42:NORMAL,100\n")
    assert f"  HOST_ID:42:{H2}\n" in gossip and "  TOKENS:42:<hidden>\n" in gossip
    assert fc.format_version({"release_version": "5.0.0"}) == "ReleaseVersion: 5.0.0\n"


def _latency(values: list[float], count: int = 3) -> dict[str, Any]:
    return {"count": count, "mean_us": 1500.0 if count else None, "percentiles_us": values}


def test_netstats_tpstats() -> None:
    messages = {"pending": 1, "sent": 200, "received": 190, "dropped": 3}
    text = fl.format_netstats({"mode": "NORMAL", "streams": [], "messages": messages}, False)
    assert text.splitlines() == [
        "Mode: NORMAL", "Not sending any streams.",
        "Pool Name                    Active   Pending      Completed   Dropped",
        "Small messages                  n/a         1            200         3"]
    stream = {"description": "Bootstrap", "plan_id": "p1", "sessions": [{
        "peer": "127.0.0.2", "receiving": {"files": 4, "bytes": 2048, "done_files": 1,
                                           "done_bytes": 512}}]}
    text = fl.format_netstats({"mode": "JOINING", "streams": [stream], "messages": messages},
                              False)
    assert ("        Receiving 4 files, 2048 bytes total. Already received 1 files (25.00%), "
            "512 bytes total (25.00%)") in text
    tp = fl.format_tpstats({"pools": {"Native-Transport-Requests": {
        "active": 2, "pending": 0, "completed": 10}}, "dropped": {"INTERNODE": 3}})
    assert tp.splitlines()[:2] == [
        "Pool Name                 Active Pending Completed Blocked All time blocked",
        "Native-Transport-Requests 2      0       10        0       0"]
    assert "INTERNODE                    3" in tp


def test_tablestats_and_histograms() -> None:
    seven = [10.0, 20.0, 30.0, 40.0, 50.0, 5.0, 60.0]
    t = {"keyspace": "ks", "table": "t", "partitions": 4, "partitions_capped": False,
         "space_used_bytes": 4096, "partition_size_bytes": [100.0] * 5 + [90.0, 2000.0],
         "cell_count": [3.0] * 7, "read": _latency(seven), "write": _latency(seven, 0)}
    text = fl.format_tablestats({"tables": [t]}, human=False)
    assert text.startswith("Total number of tables: 1\n----------------\nKeyspace : ks\n")
    assert "\tRead Count: 3\n\tRead Latency: 1.5 ms\n\tWrite Count: 0\n" in text
    assert "\tWrite Latency: NaN ms\n" in text
    assert "\t\tTable: t\n\t\tSpace used (live): 4096\n" in text
    assert "\t\tNumber of partitions (estimate): 4\n" in text
    assert "\t\tLocal read latency: 1.500 ms\n\t\tLocal write count: 0\n" in text
    assert "\t\tLocal write latency: NaN ms\n" in text
    assert "\t\tCompacted partition maximum bytes: 2000\n" in text
    assert "Space used (live): 4 KiB" in fl.format_tablestats({"tables": [t]}, human=True)
    hist = fl.format_tablehistograms({"tables": [t]}).splitlines()
    assert hist[0] == "ks/t histograms"
    assert hist[1] == ("Percentile  SSTables     Write Latency      Read Latency    Partition Size"
                       "        Cell Count")
    assert hist[3] == ("50%              NaN             10.00             10.00"
                       "               100                 3")
    empty = {**t, "partition_size_bytes": None, "cell_count": None}
    assert fl.format_tablehistograms({"tables": [empty]}).startswith(
        "No SSTables exists, unable to calculate 'Partition Size' and 'Cell Count' percentiles")
    proxy = fl.format_proxyhistograms({k: _latency(seven) for k in (
        "read", "write", "range", "cas_read", "cas_write")})
    assert proxy.splitlines()[1] == ("Percentile       Read Latency      Write Latency"
                                     "      Range Latency   CAS Read Latency  CAS Write Latency"
                                     " View Write Latency")
    assert proxy.splitlines()[2] == " " * 10 + "           (micros)" * 6
    assert proxy.splitlines()[-2] == "Max       " + "              60.00" * 5 + " " * 15 + "0.00"


def test_snapshot_messages_and_listing() -> None:
    assert fl.format_snapshot({"tag": "s1"}, []) == (
        "Requested creating snapshot(s) for [all keyspaces] with snapshot name [s1] and "
        "options {skipFlush=false}\nSnapshot directory: s1\n")
    assert fl.format_clearsnapshot(None, ["ks"]) == \
        "Requested clearing snapshot(s) for [ks] with [all snapshots]\n"
    empty = fl.format_listsnapshots({"snapshots": []})
    assert empty == "Snapshot Details: \nThere are no snapshots\n"
    assert parse_snapshots(empty) == []
    listing = fl.format_listsnapshots({"snapshots": [
        {"tag": "s1", "keyspaces": ["ks"], "tables": ["ks.t"], "true_size_bytes": 10,
         "size_on_disk_bytes": 4096, "created_at": "2026-01-01T00:00:00.000Z"},
        {"tag": "s2", "keyspaces": [], "tables": [], "true_size_bytes": 2048,
         "size_on_disk_bytes": 8192, "created_at": "2026-01-02T00:00:00.000Z"}]})
    assert listing.splitlines()[1] == ("Snapshot name Keyspace name Column family name "
                                       "True size Size on disk Creation time")
    assert "s2            *             *                  2 KiB     8 KiB" in listing
    assert "\nTotal TrueDiskSpaceUsed: 2.01 KiB\n" in listing
    assert parse_snapshots(listing) == ["s1", "s2"]


def test_command_line_syntax() -> None:
    assert split_globals(["-h", "10.0.0.1", "status", "-p", "7299", "ks"]) == (
        {"host": "10.0.0.1", "port": "7299"}, ["status", "ks"])
    assert split_globals(["--port=7", "-u", "cassandra", "-pw", "x", "ring"]) == (
        {"port": "7", "username": "cassandra", "password": "x"}, ["ring"])
    code, out, err = run(["bogus"])
    assert code == 1 and out == "" and err.startswith("nodetool: Found unexpected parameters")
    code, out, _ = run(["help"])
    assert code == 0 and "status" in out and "describecluster" in out
    code, _, err = run(["describering"])  # its keyspace is required
    assert code == 1 and "keyspace" in err
    code, _, err = run(["clearsnapshot"])
    assert (code, err.splitlines()[0]) == (1, "nodetool: Specify snapshot name or --all")
    code, _, err = run(["settraceprobability", "2"])
    assert code == 1 and "between 0 and 1" in err


@pytest.mark.parametrize("args", [["-p", "1", "status"], ["-h", "127.0.0.1", "-p", "1", "info"]])
def test_an_unreachable_node_is_exit_code_1_with_cassandras_message(args: list[str]) -> None:
    code, out, err = run(args)
    assert code == 1 and out == ""
    assert err.startswith("nodetool: Failed to connect to '127.0.0.1:1' - ")
