"""nodetool's cluster views, rendered from the admin operations' JSON exactly as Cassandra's
nodetool prints them (``tools/nodetool/Status.java``, ``Ring.java``, ``Info.java``,
``DescribeCluster.java``, ``DescribeRing.java``, ``GossipInfo.java``): status, ring, info,
describecluster, describering, getendpoints, gossipinfo, version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from skewless.nodetool.text import address_key, file_size, percent, table

Json = dict[str, Any]
STATE_LETTER = {"Normal": "N", "Leaving": "L", "Joining": "J", "Moving": "M"}
GOSSIP_STATUS = {"Normal": "NORMAL", "Leaving": "LEAVING", "Joining": "BOOT", "Moving": "MOVING"}


def _by_dc(endpoints: list[Json]) -> Iterator[tuple[str, list[Json]]]:
    for dc in sorted({e["dc"] for e in endpoints}):
        yield dc, sorted((e for e in endpoints if e["dc"] == dc),
                         key=lambda e: address_key(e["address"]))


def format_status(data: Json) -> str:
    """``nodetool status [keyspace]``: per datacenter, the legend and one line per node, in
    Cassandra 4/5's layout (nodetool's TableBuilder: columns as wide as their widest cell, two
    spaces apart; Cassandra 3 padded Tokens to 11 characters instead)."""
    endpoints = data["endpoints"]
    effective = data["effective"]
    vnodes = any(len(e["tokens"]) > 1 for e in endpoints)
    owns_header = "Owns (effective)" if effective else "Owns"
    out: list[str] = []
    for dc, members in _by_dc(endpoints):
        header = f"Datacenter: {dc}"
        out += [header, "=" * len(header), "Status=Up/Down",
                "|/ State=Normal/Leaving/Joining/Moving"]
        rows = [["--", "Address", "Load", "Tokens", owns_header, "Host ID", "Rack"] if vnodes
                else ["--", "Address", "Load", owns_header, "Host ID", "Token", "Rack"]]
        for e in members:
            owns = e.get("owns")
            cells = [("U" if e["up"] else "D") + STATE_LETTER.get(e["state"], "?"), e["address"],
                     file_size(e["load_bytes"]),
                     percent(owns, 1) if owns is not None and effective else "?",
                     e["host_id"], e["rack"]]
            if vnodes:
                cells.insert(3, str(len(e["tokens"])))
            else:
                cells.insert(5, e["tokens"][0] if e["tokens"] else "")
            rows.append(cells)
        out += table(rows, separator="  ")
    out.append("")
    if data.get("note"):
        out.append(f"Note: {data['note']}")
    return "\n".join(out) + "\n"


def format_ring(data: Json) -> str:
    """``nodetool ring [keyspace]``: every token, in ring order, with its node."""
    endpoints = data["endpoints"]
    effective = data["effective"]
    width = max((len(e["address"]) for e in endpoints), default=7)

    def row(*cells: str) -> str:
        a, rack, status, state, load, owns, token = cells
        return (f"{a:<{width}}  {rack:<12}{status:<7}{state:<8}{load:<16}{owns:<20}"
                f"{token:<44}").rstrip()

    out = [""]
    for dc, members in _by_dc(endpoints):
        tokens = sorted((int(t), e) for e in members for t in e["tokens"])
        out += [f"Datacenter: {dc}", "=========="]
        out.append(row("Address", "Rack", "Status", "State", "Load", "Owns", "Token"))
        out.append(row("", "", "", "", "", "", str(tokens[-1][0])) if len(members) > 1 else "")
        for token, e in tokens:
            owns = e.get("owns")
            out.append(row(e["address"], e["rack"], "Up" if e["up"] else "Down", e["state"],
                           file_size(e["load_bytes"]),
                           percent(owns, 2) if owns is not None and effective else "?",
                           str(token)))
        out.append("")
    if any(len(e["tokens"]) > 1 for e in endpoints):
        out.append('  Warning: "nodetool ring" is used to output all the tokens of a node.')
        out.append('  To view status related info of a node use "nodetool status" instead.\n')
    out.append("")
    out.append("  " + (f"Note: {data['note']}" if data.get("note") else ""))
    return "\n".join(out) + "\n"


def _kv(name: str, value: object) -> str:
    return f"{name:<23}: {value}"


def _disk(disk: Json) -> str:
    """Skewless's line (Cassandra has none): ``ok, 70.1 GiB free, writes refused below
    50 MiB`` (``low``: refusing now; ``failed``: the store failed, with its error)."""
    free = "unknown" if disk["free_bytes"] is None else file_size(disk["free_bytes"])
    text = f"{disk['state']}, {free} free"
    if disk["needed_bytes"]:
        text += f", writes refused below {file_size(disk['needed_bytes'])}"
    if disk["writes_refused"]:
        text += f", {disk['writes_refused']} refused since start"
    if disk["failure"]:
        text += f" ({disk['failure']})"
    return text


def format_info(data: Json, all_tokens: bool) -> str:
    """``nodetool info [-T]``."""
    out = [
        _kv("ID", data["id"]),
        _kv("Gossip active", str(data["gossip_active"]).lower()),
        _kv("Native Transport active", str(data["native_transport_active"]).lower()),
        _kv("Load", file_size(data["load_bytes"])),
        *([_kv("Disk", _disk(data["disk"]))] if data.get("disk") else []),
        _kv("Generation No", data["generation"]),
        _kv("Uptime (seconds)", data["uptime_s"]),
        _kv("Heap Memory (MB)", "N/A" if data["memory_rss_bytes"] is None else
            f"{data['memory_rss_bytes'] / 2**20:.2f} / {data['memory_peak_bytes'] / 2**20:.2f}"),
        _kv("Data Center", data["dc"]),
        _kv("Rack", data["rack"]),
    ]
    tokens = data["tokens"]
    if not data["joined"]:
        out.append(_kv("Token", "(node is not joined to the cluster)"))
    elif len(tokens) == 1 or all_tokens:
        out += [_kv("Token", t) for t in tokens]
    else:
        out.append(_kv("Token", f"(invoke with -T/--tokens to see all {len(tokens)} tokens)"))
    return "\n".join(out) + "\n"


def _java_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def format_describecluster(data: Json) -> str:
    """``nodetool describecluster``: name, snitch, partitioner, schema versions, nodes,
    datacenters, release versions and keyspaces (Cassandra 4.x's layout)."""
    out = ["Cluster Information:", f"\tName: {data['name']}", f"\tSnitch: {data['snitch']}",
           f"\tDynamicEndPointSnitch: {'enabled' if data['dynamic_snitch'] else 'disabled'}",
           f"\tPartitioner: {data['partitioner']}", "\tSchema versions:"]
    for version, addresses in sorted(data["schema_versions"].items()):
        out += [f"\t\t{version}: {_java_list(sorted(addresses, key=address_key))}", ""]
    out += ["", "Stats for all nodes:", f"\tLive: {data['live']}",
            f"\tJoining: {data['joining']}", f"\tMoving: {data['moving']}",
            f"\tLeaving: {data['leaving']}", f"\tUnreachable: {data['unreachable']}", "",
            "Data Centers: "]
    for dc, d in sorted(data["datacenters"].items()):
        out.append(f"\t{dc} #Nodes: {d['nodes']} #Down: {d['down']}")
    out += ["", "Database versions:"]
    for version, addresses in sorted(data["release_versions"].items()):
        with_port = [f"{a}:{data['internode_port']}" for a in sorted(addresses, key=address_key)]
        out += [f"\t{version}: {_java_list(with_port)}", ""]
    out.append("Keyspaces:")
    for name, replication in sorted(data["keyspaces"].items()):
        out.append(f"\t{name} -> Replication class: {replication}")
    return "\n".join(out) + "\n"


def format_describering(data: Json) -> str:
    """``nodetool describering <keyspace>``: Thrift's TokenRange toString per range."""
    out = [f"Schema Version:{data['schema_version']}", "TokenRange: "]
    for r in data["ranges"]:
        details = ", ".join(f"EndpointDetails(host:{d['host']}, datacenter:{d['datacenter']}, "
                            f"rack:{d['rack']})" for d in r["details"])
        endpoints = _java_list(r["endpoints"])
        out.append(f"\tTokenRange(start_token:{r['start']}, end_token:{r['end']}, "
                   f"endpoints:{endpoints}, rpc_endpoints:{endpoints}, "
                   f"endpoint_details:[{details}])")
    return "\n".join(out) + "\n"


def format_getendpoints(data: Json) -> str:
    return "".join(f"{a}\n" for a in data["endpoints"])


def format_gossipinfo(data: Json) -> str:
    """``nodetool gossipinfo``: each endpoint's application states as NAME:VERSION:VALUE. The
    version of every state is the heartbeat that last carried it (one state per heartbeat)."""
    out = []
    release = data["release_version"]
    for e in sorted(data["endpoints"], key=lambda e: address_key(e["address"])):
        v = e["beat"]
        status = GOSSIP_STATUS.get(e["state"], "NORMAL") + "," + (e["tokens"][0] if e["tokens"]
                                                                  else "")
        out += [f"/{e['address']}", f"  generation:{e['generation']}", f"  heartbeat:{v}",
                f"  STATUS:{v}:{status}", f"  LOAD:{v}:{float(e['load_bytes'])}",
                f"  SCHEMA:{v}:{e['schema_version']}", f"  DC:{v}:{e['dc']}",
                f"  RACK:{v}:{e['rack']}", f"  RELEASE_VERSION:{v}:{release}",
                f"  RPC_ADDRESS:{v}:{e['address']}", f"  HOST_ID:{v}:{e['host_id']}",
                f"  NATIVE_ADDRESS_AND_PORT:{v}:{e['address']}:{e['cql_port']}",
                f"  STATUS_WITH_PORT:{v}:{status}", f"  TOKENS:{v}:<hidden>"]
    return "\n".join(out) + "\n"


def format_version(data: Json) -> str:
    return f"ReleaseVersion: {data['release_version']}\n"
