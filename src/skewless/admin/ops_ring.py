"""Admin operations that read the ring and gossip state: status, ring, info, describecluster,
describering, getendpoints, gossipinfo, version. Pure: they read the ``Node`` and return data.

Ownership follows Cassandra's ``StorageService.effectiveOwnership``: with a keyspace, each node's
share of the token ranges it replicates under that keyspace's replication; without one, the
non-system keyspaces' common replication (when they differ, the note Cassandra prints and no
effective ownership), or ``system_traces``'s when there is no user keyspace.
"""

from __future__ import annotations

import ipaddress

from skewless import errors as cql_errors
from skewless.admin.registry import AdminContext, AdminError, Json, arg_str, operation
from skewless.cql.json_codec import from_json
from skewless.cql.types import parse_type
from skewless.node.info import CLUSTER_NAME_DEFAULT, PARTITIONER, RELEASE_VERSION
from skewless.node.node import Node
from skewless.node.placement import LOCAL, SIMPLE, Ring
from skewless.node.schema.system_tables import named_keyspace, named_table
from skewless.node.tracing.trace_store import traces_keyspace
from skewless.ring import token_of
from skewless.schema import SYSTEM_KEYSPACES, KeyspaceDef
from skewless.storage.diskspace import GuardedKV
from skewless.storage.keys import composite_partition_key

SNITCH = "org.apache.cassandra.locator.GossipingPropertyFileSnitch"  # dc and rack per node
NOT_SAME_REPLICATION = ("Non-system keyspaces don't have the same replication settings, "
                        "effective ownership information is meaningless")


def endpoint_state(node: Node, address: str) -> str:
    """Normal, Leaving, Joining or Moving, from the node's gossiped state (node.topology)."""
    status = node.membership.status_of(address)
    return {"STARTING": "Joining", "JOINING": "Joining", "LEAVING": "Leaving"}.get(status,
                                                                                  "Normal")


def node_mode(ctx: AdminContext) -> str:
    status = ctx.node.topology.status
    return status if status in ("STARTING", "JOINING", "LEAVING") else ctx.runtime.mode()


def _endpoints(node: Node) -> list[Json]:
    """Every node in the cluster: address, host id, dc, rack, tokens, load, up, state."""
    out = []
    for hb in sorted(node.membership.states(), key=lambda s: ipaddress.ip_address(s.address)):
        local = hb.address == node.address
        if not local and node.membership.out_of_cluster(hb.address):
            continue  # LEFT, removed or replaced: no longer in the ring (nor in nodetool status)
        out.append({
            "address": hb.address, "host_id": str(node.host_id) if local else hb.host_id,
            "dc": hb.dc, "rack": hb.rack, "tokens": [str(t) for t in hb.tokens],
            "load_bytes": node.storage.size_bytes() if local else hb.load_bytes,
            "up": node.membership.is_alive(hb.address),
            "state": endpoint_state(node, hb.address),
            "schema_version": hb.schema_version, "generation": hb.generation, "beat": hb.beat,
            "cql_port": hb.cql_port,
        })
    return out


def _keyspace(node: Node, name: str) -> KeyspaceDef:
    ks = named_keyspace(node.schema, name)
    if ks is None:
        raise AdminError(f"The keyspace {name}, does not exist")
    return ks


def ownership_keyspace(node: Node, keyspace: str | None) -> KeyspaceDef:
    """The keyspace whose replication effective ownership uses (Cassandra's choice)."""
    if keyspace is not None:
        ks = _keyspace(node, keyspace)
        if ks.replication_map().get("class") == LOCAL:
            raise AdminError("Ownership values for keyspaces with LocalStrategy are meaningless")
        return ks
    users = [k for k in node.schema.keyspaces if k.name not in SYSTEM_KEYSPACES]
    if not users:
        return traces_keyspace()
    if any(k.replication_map() != users[0].replication_map() for k in users[1:]):
        raise ValueError(NOT_SAME_REPLICATION)
    return users[0]


def effective_ownership(ring: Ring, replication: dict[str, str]) -> dict[str, float]:
    """Each address's fraction of the ring it replicates (sums to the RF)."""
    owns = dict.fromkeys(ring.endpoints, 0.0)
    tokens = ring.tokens
    for i, token in enumerate(tokens):
        prev = tokens[i - 1] if i > 0 else tokens[-1] - 2**64
        for address in ring.replicas(token, replication):
            owns[address] += (token - prev) / 2**64
    return owns


def ownership(node: Node, keyspace: str | None) -> tuple[dict[str, float], bool, str]:
    """(ownership by address, effective?, note): raw primary ownership with a note when the
    effective one is meaningless, as Cassandra's nodetool does."""
    ring = node.membership.ring()
    try:
        ks = ownership_keyspace(node, keyspace)
    except ValueError as e:
        return ring.primary_ownership(), False, str(e)
    return effective_ownership(ring, ks.replication_map()), True, ""


@operation("status", "Endpoints with their state, load, tokens, ownership, host id, dc, rack")
def status(ctx: AdminContext, args: Json) -> Json:
    owns, effective, note = ownership(ctx.node, arg_str(args, "keyspace"))
    endpoints = _endpoints(ctx.node)
    for e in endpoints:
        e["owns"] = owns.get(e["address"])
    return {"endpoints": endpoints, "effective": effective, "note": note}


@operation("ring", "Every token with its endpoint, state, load and ownership")
def ring(ctx: AdminContext, args: Json) -> Json:
    return status(ctx, args)


@operation("info", "This node's id, load, generation, uptime, memory, dc, rack and tokens")
def info(ctx: AdminContext, args: Json) -> Json:
    node, rt = ctx.node, ctx.runtime
    memory = rt.memory_bytes()
    return {
        "id": str(node.host_id), "gossip_active": rt.gossip_active(),
        "native_transport_active": rt.native_transport_active(),
        "load_bytes": node.storage.size_bytes(), "generation": node.membership.local.generation,
        "uptime_s": rt.uptime_ms() // 1000,
        "memory_rss_bytes": None if memory is None else memory[0],
        "memory_peak_bytes": None if memory is None else memory[1],
        "dc": node.config.dc, "rack": node.config.rack,
        "tokens": [str(t) for t in node.membership.local.tokens],
        "joined": endpoint_state(node, node.address) == "Normal", "mode": rt.mode(),
        "disk": _disk(node),
    }


def _disk(node: Node) -> Json | None:
    """The data directory's state (storage.diskspace); None on a simulated node."""
    kv = node.storage.kv
    if not isinstance(kv, GuardedKV):
        return None
    s = kv.state
    return {"state": s.state(), "free_bytes": s.free_bytes, "needed_bytes": s.needed_bytes(),
            "writes_refused": s.writes_refused, "failure": s.failure}


def replication_info(ks: KeyspaceDef) -> str:
    """``SimpleStrategy {replication_factor=3}`` (Cassandra's getKeyspaceReplicationInfo)."""
    options = ks.replication_map()
    cls = options.pop("class", SIMPLE).rsplit(".", 1)[-1]
    return f"{cls} {{{', '.join(f'{k}={v}' for k, v in sorted(options.items()))}}}"


@operation("describecluster", "Cluster name, snitch, partitioner, schema versions, keyspaces")
def describecluster(ctx: AdminContext, args: Json) -> Json:
    node = ctx.node
    endpoints = _endpoints(node)
    versions: dict[str, list[str]] = {}
    releases: dict[str, list[str]] = {}
    for e in endpoints:
        key = e["schema_version"] if e["up"] else "UNREACHABLE"
        versions.setdefault(key, []).append(e["address"])
        releases.setdefault(RELEASE_VERSION, []).append(e["address"])
    dcs: dict[str, Json] = {}
    for e in endpoints:
        d = dcs.setdefault(e["dc"], {"nodes": 0, "down": 0})
        d["nodes"] += 1
        d["down"] += 0 if e["up"] else 1
    keyspaces = sorted([*node.schema.keyspaces, traces_keyspace()], key=lambda k: k.name)
    return {
        "name": node.config.cluster_name or CLUSTER_NAME_DEFAULT, "snitch": SNITCH,
        "dynamic_snitch": False, "partitioner": PARTITIONER, "schema_versions": versions,
        "live": sum(1 for e in endpoints if e["up"]),
        "joining": sum(1 for e in endpoints if e["state"] == "Joining"),
        "moving": sum(1 for e in endpoints if e["state"] == "Moving"),
        "leaving": sum(1 for e in endpoints if e["state"] == "Leaving"),
        "unreachable": sum(1 for e in endpoints if not e["up"]),
        "datacenters": dcs, "release_versions": releases,
        "keyspaces": {k.name: replication_info(k) for k in keyspaces},
        "internode_port": node.config.internode_port,
    }


@operation("describering", "The token ranges of a keyspace and their replicas")
def describering(ctx: AdminContext, args: Json) -> Json:
    node = ctx.node
    name = arg_str(args, "keyspace")
    if not name:
        raise AdminError("describering requires a keyspace argument")
    ks = _keyspace(node, name)
    ring = node.membership.ring()
    tokens = ring.tokens
    ranges = []
    for i, token in enumerate(tokens):
        replicas = ring.replicas(token, ks.replication_map())
        ranges.append({
            "start": str(tokens[i - 1]), "end": str(token), "endpoints": replicas,
            "details": [{"host": a, "datacenter": ring.endpoints[a].dc,
                         "rack": ring.endpoints[a].rack} for a in replicas],
        })
    return {"schema_version": str(node.schema.version), "ranges": ranges}


@operation("getendpoints", "The replicas of a partition key")
def getendpoints(ctx: AdminContext, args: Json) -> Json:
    node = ctx.node
    ks_name, table_name, key = (arg_str(args, n) for n in ("keyspace", "table", "key"))
    if not ks_name or not table_name or key is None:
        raise AdminError("getendpoints requires keyspace, table and partition key arguments")
    ks = _keyspace(node, ks_name)
    table = named_table(node.schema, ks_name, table_name)
    if table is None:
        raise AdminError(f"Table '{table_name}' does not exist in keyspace '{ks_name}'")
    columns = table.partition_key
    texts = [key] if len(columns) == 1 else key.split(":")
    if len(texts) != len(columns):
        raise AdminError(f"{table_name} has a partition key of {len(columns)} components "
                         f"({', '.join(c.name for c in columns)}): give them separated by ':'")
    parts = []
    for column, text in zip(columns, texts, strict=True):
        try:
            value = from_json(parse_type(column.type), text)
        except (cql_errors.CqlError, ValueError) as e:
            raise AdminError(f"{column.name}: {text!r} is not a {column.type}: {e}") from None
        assert value is not None
        parts.append(value)
    routing = composite_partition_key(parts)
    token = token_of(routing)
    return {"token": str(token),
            "endpoints": node.membership.ring().replicas(token, ks.replication_map())}


@operation("gossipinfo", "Every endpoint's gossip state")
def gossipinfo(ctx: AdminContext, args: Json) -> Json:
    return {"endpoints": _endpoints(ctx.node), "release_version": RELEASE_VERSION}


@operation("version", "The release version")
def version(ctx: AdminContext, args: Json) -> Json:
    return {"release_version": RELEASE_VERSION}


__all__ = ["effective_ownership", "endpoint_state", "node_mode", "ownership"]
