"""``nodetool repair`` and ``nodetool garbagecollect`` (admin operations of ``admin.ops_repair``).

``repair`` starts one repair command per keyspace on the node, then follows each (polling
``repair_status``) and prints its lines as they come, in Cassandra's wording ("Starting repair
command #1 ...", "Repair session ... for range [(a,b]] finished (progress: 2%)", "Repair
completed successfully", "Repair command #1 finished in 3 seconds"). A failed command ends with
``error: Repair job has failed with the error message: ...`` and exit code 2, as Cassandra's.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from typing import Any

from skewless.nodetool.client import AdminClient, OperationFailed
from skewless.nodetool.commands import arg, command, follow


def follow_repair(client: AdminClient, number: int) -> dict[str, object]:
    """Print a repair command's lines as they come; its last status."""
    seen = 0

    def step(status: dict[str, Any]) -> bool:
        nonlocal seen
        lines = status["lines"]
        for line in lines[seen:]:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        seen = len(lines)
        return bool(status["state"] != "RUNNING")

    return follow(client, "repair_status", {"command": number}, step)


@command("repair", "Repair one or more tables",
         arg("keyspace", nargs="?"), arg("tables", nargs="*"),
         arg("-pr", "--partitioner-range", dest="primary_range", action="store_true",
             help="Use -pr to repair only the first range returned by the partitioner"),
         arg("-full", "--full", dest="full", action="store_true",
             help="Use -full to issue a full repair (the default: incremental repair is not "
                  "built)"),
         arg("-st", "--start-token", dest="start_token",
             help="Use -st to specify a token at which the repair range starts (exclusive)"),
         arg("-et", "--end-token", dest="end_token",
             help="Use -et to specify a token at which repair range ends (inclusive)"))
def repair(client: AdminClient, a: Namespace) -> str:
    keyspace, tables = a.keyspace, list(a.tables)
    if keyspace is not None and "." in keyspace and not tables:
        keyspace, table = keyspace.split(".", 1)
        tables = [table]
    started = client.call("repair", {
        "keyspace": keyspace, "tables": tables, "primary_range": a.primary_range,
        "full": True, "start_token": a.start_token, "end_token": a.end_token})
    errors = []
    for number in started["commands"]:
        status = follow_repair(client, number)
        if status["state"] == "FAILED":
            lines = status["lines"]
            assert isinstance(lines, list)
            why = [ln.split("] ", 1)[-1] for ln in lines if "failed with error" in ln]
            errors.append(f"Repair command #{number} failed with error "
                          f"{why[0] if why else 'unknown'}")
    if errors:
        raise OperationFailed("Repair job has failed with the error message: "
                              + "; ".join(errors))
    return ""


@command("garbagecollect", "Remove deleted data from one or more tables",
         arg("keyspace", nargs="?"), arg("tables", nargs="*"))
def garbagecollect(client: AdminClient, a: Namespace) -> str:
    client.call("garbagecollect", {"keyspace": a.keyspace, "tables": list(a.tables)})
    return ""
