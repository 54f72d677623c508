"""Admin operations about this node's own work: netstats, tpstats, tablestats, histograms,
trace probability, and the maintenance ones the runtime carries out (flush, compact, drain,
snapshots)."""

from __future__ import annotations

import re

from skewless import limits
from skewless.admin.registry import (
    AdminContext,
    AdminError,
    Json,
    arg_list,
    arg_str,
    operation,
)
from skewless.node.latency import Latency
from skewless.schema import TableDef


@operation("netstats", "Operation mode, streams, internode messages")
def netstats(ctx: AdminContext, args: Json) -> Json:
    topo = ctx.node.topology.netstats()  # node.topology: stream sessions' progress
    mode = topo["mode"] if topo["mode"] in ("STARTING", "JOINING", "LEAVING") else \
        ctx.runtime.mode()
    sessions = topo["sessions"]
    assert isinstance(sessions, list)
    return {"mode": mode, "streams": _stream_plans(sessions),
            "messages": ctx.runtime.messages()}


_PLAN_NAMES = {"bootstrap": "Bootstrap", "leave": "Unbootstrap", "remove": "Removenode"}


def _stream_plans(sessions: list[dict[str, object]]) -> list[Json]:
    """node.topology's sessions as nodetool netstats' plans (a range counts as a file; the
    total size of a range is known once it is streamed, so bytes total = bytes done)."""
    plans: dict[str, Json] = {}
    for s in sessions:
        change = str(s["change"]) or "outbound"
        plan = plans.setdefault(change, {
            "description": _PLAN_NAMES.get(change.split()[0], "Streaming"), "plan_id": change,
            "sessions": []})
        key = "receiving" if s["direction"] == "RECEIVING" else "sending"
        plan["sessions"].append({"peer": s["peer"], key: {
            "files": s["ranges_total"], "done_files": s["ranges_done"], "bytes": s["bytes"],
            "done_bytes": s["bytes"]}})
    return [plans[k] for k in sorted(plans)]


@operation("tpstats", "Requests in flight and done, per stage, and dropped messages")
def tpstats(ctx: AdminContext, args: Json) -> Json:
    node = ctx.node
    requests = ctx.runtime.requests()
    messages = ctx.runtime.messages()
    pools: Json = {} if requests is None else {
        "Native-Transport-Requests": {"active": requests[0], "pending": 0,
                                      "completed": requests[1]}}
    pools |= {
        "CoordinatorRequests": {"active": len(node.ops), "pending": 0,
                                "completed": node.latency.coordinator_read.count
                                + node.latency.coordinator_write.count
                                + node.latency.coordinator_range.count},
        "HintsDispatcher": {"active": len(node.hint_replays), "pending": 0, "completed": 0},
    }
    if messages is None:
        return {"pools": pools, "dropped": {}}
    pools["InternodeMessages"] = {"active": 0, "pending": messages["pending"],
                                  "completed": messages["sent"]}
    return {"pools": pools, "dropped": {"INTERNODE": messages["dropped"]}}


def _tables(ctx: AdminContext, names: list[str]) -> list[TableDef]:
    """Tables named ``ks`` or ``ks.table`` (all user tables when none is named)."""
    schema = ctx.node.schema
    if not names:
        return sorted(schema.tables, key=lambda t: (t.keyspace, t.name))
    out: list[TableDef] = []
    for name in names:
        ks, _, table = name.partition(".")
        if schema.keyspace(ks) is None:
            raise AdminError(f"Unknown keyspace: {ks}")
        found = [t for t in schema.tables if t.keyspace == ks and (not table or t.name == table)]
        if table and not found:
            raise AdminError(f"Unknown table: {table}")
        out.extend(t for t in found if t not in out)
    return sorted(out, key=lambda t: (t.keyspace, t.name))


def _latency(h: Latency) -> Json:
    return {"count": h.count, "mean_us": h.mean_us(), "percentiles_us": h.percentiles_us()}


def _sizes(values: list[int]) -> list[float] | None:
    """50/75/95/98/99th percentiles, Min, Max of ``values`` (None when empty)."""
    if not values:
        return None
    s = sorted(values)

    def at(p: float) -> float:
        return float(s[min(len(s) - 1, max(0, int(p / 100 * len(s) + 0.5) - 1))])

    return [at(p) for p in (50, 75, 95, 98, 99)] + [float(s[0]), float(s[-1])]


def table_stats(ctx: AdminContext, t: TableDef) -> Json:
    node = ctx.node
    parts = node.storage.partition_stats(t.table_key, limits.admin_partitions_scan_max)
    lat = node.latency.table(t.table_key)
    space = sum(size for size, _ in parts)
    return {
        "keyspace": t.keyspace, "table": t.name, "partitions": len(parts),
        "partitions_capped": len(parts) == limits.admin_partitions_scan_max,
        "space_used_bytes": space,
        "partition_size_bytes": _sizes([size for size, _ in parts]),
        "cell_count": _sizes([entries for _, entries in parts]),
        "read": _latency(lat.read), "write": _latency(lat.write),
    }


@operation("tablestats", "Per-table partitions, space used and local latencies")
def tablestats(ctx: AdminContext, args: Json) -> Json:
    return {"tables": [table_stats(ctx, t) for t in _tables(ctx, arg_list(args, "tables"))]}


@operation("proxyhistograms", "Latency percentiles of requests this node coordinated")
def proxyhistograms(ctx: AdminContext, args: Json) -> Json:
    lat = ctx.node.latency
    return {"read": _latency(lat.coordinator_read), "write": _latency(lat.coordinator_write),
            "range": _latency(lat.coordinator_range),
            "cas_read": _latency(lat.coordinator_cas_read),
            "cas_write": _latency(lat.coordinator_cas_write)}


@operation("settraceprobability", "Trace this fraction of the requests this node coordinates")
def settraceprobability(ctx: AdminContext, args: Json) -> Json:
    value = args.get("probability")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise AdminError("Trace probability must be between 0 and 1")
    ctx.node.tracer.probability = float(value)
    return {"probability": ctx.node.tracer.probability}


@operation("gettraceprobability", "The fraction of requests traced")
def gettraceprobability(ctx: AdminContext, args: Json) -> Json:
    return {"probability": ctx.node.tracer.probability}


@operation("flush", "Write the memtables to disk")
def flush(ctx: AdminContext, args: Json) -> Json:
    _tables(ctx, arg_list(args, "tables"))  # unknown names are refused as Cassandra does
    ctx.runtime.flush()
    return {}


@operation("compact", "Compact the node's data (RocksDB full compaction)")
def compact(ctx: AdminContext, args: Json) -> Json:
    _tables(ctx, arg_list(args, "tables"))
    ctx.runtime.compact()
    return {}


@operation("drain", "Stop serving clients and peers, flush: the node can then be stopped")
def drain(ctx: AdminContext, args: Json) -> Json:
    ctx.runtime.drain()
    return {"mode": ctx.runtime.mode()}


TAG = re.compile(r"[A-Za-z0-9_.-]+")


@operation("snapshot", "A hard-link checkpoint of the node's data under snapshots/<tag>")
def snapshot(ctx: AdminContext, args: Json) -> Json:
    tag = arg_str(args, "tag") or str(ctx.node.clock.real_time_us() // 1000)  # Cassandra's
    if not TAG.fullmatch(tag) or tag in (".", ".."):
        raise AdminError("You must supply a snapshot name made of letters, digits, '_', '.', '-'")
    tables = [f"{t.keyspace}.{t.name}" for t in _tables(ctx, arg_list(args, "keyspaces"))]
    return ctx.runtime.snapshot(tag, arg_list(args, "keyspaces"), tables)


@operation("listsnapshots", "The snapshots of this node with their sizes")
def listsnapshots(ctx: AdminContext, args: Json) -> Json:
    return {"snapshots": ctx.runtime.list_snapshots()}


@operation("clearsnapshot", "Remove one snapshot (tag) or all of them")
def clearsnapshot(ctx: AdminContext, args: Json) -> Json:
    tag = arg_str(args, "tag")
    if tag is not None and (not TAG.fullmatch(tag) or tag in (".", "..")):
        raise AdminError(f"invalid snapshot name {tag!r}")
    return {"cleared": ctx.runtime.clear_snapshot(tag)}
