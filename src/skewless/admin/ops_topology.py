"""Admin operations of topology changes (``node.topology``): leave, remove a dead node, clean up.

* ``decommission`` ``{"force": bool}`` -> ``{"status": str}``: starts leaving the ring (the
  node streams its ranges to their new owners, then is LEFT); refused with Cassandra's words
  (too few nodes for a keyspace's RF without ``force``, another change in flight, ...);
* ``removenode`` ``{"host_id": str}`` -> ``{"removal": str}``: starts re-replicating a dead
  node's ranges from the surviving replicas;
* ``topology_status`` ``{}`` -> ``{"status", "removal", "error"}``: this node's state, the
  removal in progress in ``nodetool removenode status`` wording, and a streaming error if any;
* ``cleanup`` ``{"keyspace": str | None, "tables": [str]}`` -> ``{"removed": {table: n}}``.

Each starts the change and returns at once; ``nodetool`` polls ``topology_status`` until the
change ends, as Cassandra's nodetool blocks on the JMX call. A change is decided by the cluster
metadata log (``node.topology.decide``): refused at once without a live majority (Unavailable)
or when this node's log shows another change in progress, and otherwise possibly later, when the
log chooses another node's change first; that refusal is ``topology_status``'s ``error``, which
ends nodetool's wait.
"""

from __future__ import annotations

from skewless.admin.registry import AdminContext, AdminError, Json, arg_list, arg_str, operation
from skewless.errors import CqlError


@operation("decommission", "Stream this node's ranges to their new owners, then leave the ring")
def decommission(ctx: AdminContext, args: Json) -> Json:
    try:
        ctx.node.topology.decommission(force=bool(args.get("force", False)))
    except CqlError as e:
        raise AdminError(e.message) from None
    return {"status": ctx.node.topology.status}


@operation("removenode", "Re-replicate a dead node's ranges and remove it from the ring")
def removenode(ctx: AdminContext, args: Json) -> Json:
    host_id = arg_str(args, "host_id")
    if not host_id:
        raise AdminError("removenode needs the host id of the node to remove")
    try:
        ctx.node.topology.removenode(host_id)
    except CqlError as e:
        raise AdminError(e.message) from None
    return {"removal": ctx.node.topology.removal_status()}


@operation("topology_status", "This node's ring state, the removal in progress, stream errors")
def topology_status(ctx: AdminContext, args: Json) -> Json:
    topology = ctx.node.topology
    error = topology.netstats().get("error")
    return {"status": topology.status, "removal": topology.removal_status(),
            "error": error if isinstance(error, str) else ""}


@operation("cleanup", "Drop the data this node no longer replicates")
def cleanup(ctx: AdminContext, args: Json) -> Json:
    try:
        removed = ctx.node.topology.cleanup(arg_str(args, "keyspace"), arg_list(args, "tables"))
    except CqlError as e:
        raise AdminError(e.message) from None
    return {"removed": dict(removed)}
