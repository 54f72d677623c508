"""``nodetool verify``, ``nodetool rebuild`` and ``nodetool diskstatus`` (corrupt storage:
``storage.integrity``, ``runtime.quarantine``).

``verify`` reads every block of the node's database with checksums on and prints what it found
(Cassandra's ``nodetool verify`` checks SSTable checksums). ``rebuild`` quarantines the node's
database and rebuilds every range it replicates from the other replicas, printing the repair
commands' lines as they come, and ends when the node serves reads again (Cassandra's
``nodetool rebuild`` streams a node's ranges from the other replicas; a source datacenter
argument is refused: every replica is a source). ``diskstatus`` prints the verdict and the
SST files of the data column family (replicated data, rebuildable; the others hold the node's
own state).
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from skewless.nodetool.client import AdminClient, OperationFailed
from skewless.nodetool.cmd_repair import follow_repair
from skewless.nodetool.commands import arg, command


def _verdict(status: dict[str, Any]) -> str:
    lines = [f"Storage: {status['state']} (disk_failure_policy {status['policy']})"]
    lines += [f"  needs rebuild: {r}" for r in status["reasons"]]
    lines.append(f"Corrupt reads since start: {status['corruption_errors']}")
    if status["verified"]:
        lines.append(f"Last verification: {status['verified']}")
    files = status.get("data_files")
    if files is not None:  # the replicated data's own SST files (rebuildable from the peers)
        lines.append(f"Data files: {' '.join(files) or '(none)'}")
    return "\n".join(lines) + "\n"


@command("diskstatus", "Show whether this node's storage is corrupt and needs rebuild")
def diskstatus(client: AdminClient, a: Namespace) -> str:
    return _verdict(client.call("disk_status"))


@command("verify", "Verify (check data checksum for) one or more tables",
         arg("keyspace", nargs="?"), arg("tables", nargs="*"))
def verify(client: AdminClient, a: Namespace) -> str:
    client.call("verify")  # answers once every block was read
    status = client.call("disk_status")
    if status["verified"].startswith("corruption"):
        raise OperationFailed(f"Verify failed: {status['verified']}; run nodetool rebuild")
    return _verdict(status)


@command("rebuild", "Rebuild data by streaming from other nodes (similarly to bootstrap)",
         arg("source_dc", nargs="?", help="Not supported: every replica is a source"))
def rebuild(client: AdminClient, a: Namespace) -> str:
    if a.source_dc:
        raise OperationFailed("rebuild from one source datacenter is not supported: run "
                              "nodetool rebuild without arguments (every replica is a source)")
    started = client.call("rebuild")
    if "quarantined" in started:
        print(f"Database quarantined in {started['quarantined']} "
              f"({started['kept_entries']} entries of the node's own state kept)", flush=True)
    failed = []
    for keyspace, number in sorted(started.get("commands", {}).items()):
        status = follow_repair(client, number)
        if status["state"] == "FAILED":
            failed.append(keyspace)
    if failed:
        raise OperationFailed(f"Rebuild failed: the repair of {', '.join(failed)} failed; "
                              "run nodetool rebuild again")
    return _verdict(client.call("disk_status"))
