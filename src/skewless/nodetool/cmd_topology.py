"""``nodetool decommission``, ``removenode`` and ``cleanup`` (admin operations of
``admin.ops_topology``).

``decommission`` and ``removenode <host id>`` start the change, then wait for it to end (polling
``topology_status``), as Cassandra's nodetool blocks on the call: decommission until this node
is LEFT, removenode until no removal is in progress. A streaming error ends the wait with
``error: ...`` and exit code 2. ``removenode status`` prints the removal in progress in
Cassandra's words. ``cleanup`` prints nothing on success, as Cassandra's.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from skewless.nodetool.client import AdminClient, OperationFailed
from skewless.nodetool.commands import arg, command, follow

NO_REMOVALS = "RemovalStatus: No removals in process."


def _wait(client: AdminClient, done: str) -> None:
    def step(status: dict[str, Any]) -> bool:
        if status.get("error"):
            raise OperationFailed(str(status["error"]))
        return bool((done == "LEFT" and status["status"] == "LEFT") or (
            done == "removed" and status["removal"] == NO_REMOVALS))

    follow(client, "topology_status", {}, step)


@command("decommission", "Decommission the *node I am connecting to*",
         arg("-f", "--force", dest="force", action="store_true",
             help="Force decommission of this node even when it reduces the number of replicas "
                  "to below configured RF"))
def decommission(client: AdminClient, a: Namespace) -> str:
    client.call("decommission", {"force": a.force})
    _wait(client, "LEFT")
    return ""


@command("removenode", "Show status of current node removal, or remove provided ID",
         arg("what", help="status, or the host ID of the node to remove"))
def removenode(client: AdminClient, a: Namespace) -> str:
    if a.what == "status":
        return str(client.call("topology_status", {})["removal"])
    client.call("removenode", {"host_id": a.what})
    _wait(client, "removed")
    return ""


@command("cleanup", "Triggers the immediate cleanup of keys no longer belonging to a node",
         arg("keyspace", nargs="?"), arg("tables", nargs="*"))
def cleanup(client: AdminClient, a: Namespace) -> str:
    client.call("cleanup", {"keyspace": a.keyspace, "tables": list(a.tables)})
    return ""
