"""nodetool's commands: each one its arguments (argparse specs), the admin operation it calls
and the formatter of the answer.

Adding a command is one decorated function here (or in a module imported by ``cli``)::

    @command("repair", "Repair one or more tables",
             arg("keyspace", nargs="?"), arg("tables", nargs="*"),
             arg("-pr", "--partitioner-range", action="store_true"))
    def repair(client: AdminClient, a: Namespace) -> str:
        result = client.call("repair", {"keyspace": a.keyspace, "tables": a.tables,
                                        "primary_range": a.partitioner_range})
        return format_repair(result)

plus the admin operation it calls (``skewless.admin``: an ``@operation("repair", ...)``
handler calling the node's method, its module imported in ``admin.operations``).
"""

from __future__ import annotations

import time
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skewless import limits
from skewless.nodetool import formats_cluster as fc
from skewless.nodetool import formats_local as fl
from skewless.nodetool.client import AdminClient, OperationFailed

Arg = tuple[tuple[str, ...], dict[str, Any]]
Run = Callable[[AdminClient, Namespace], str]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    description: str
    arguments: tuple[Arg, ...]
    run: Run


COMMANDS: dict[str, Command] = {}


def follow(client: AdminClient, operation: str, args: dict[str, Any],
           step: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Call ``operation`` every ``nodetool_poll_ms`` until ``step`` (given each answer) says the
    work has ended; its last answer. Gives up after ``nodetool_follow_ms_max`` (the node goes
    on with the work), as a long repair or stream outlives no terminal session forever."""
    deadline = time.monotonic() + limits.nodetool_follow_ms_max / 1000  # allow-real-clock
    while True:
        status = client.call(operation, args)
        if step(status):
            return status
        if time.monotonic() >= deadline:  # allow-real-clock
            raise OperationFailed(f"stopped following {operation} after "
                                  f"{limits.nodetool_follow_ms_max // 1000} s; the node goes on")
        time.sleep(limits.nodetool_poll_ms / 1000)  # allow-real-clock


def arg(*flags: str, **options: Any) -> Arg:
    """One argparse argument of a command (``add_argument(*flags, **options)``)."""
    return flags, options


def command(name: str, description: str, *arguments: Arg,
            aliases: tuple[str, ...] = ()) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        for n in (name, *aliases):
            assert n not in COMMANDS, f"nodetool command {n} registered twice"
            COMMANDS[n] = Command(name, description, arguments, run)
        return run

    return register


def table_names(keyspace: str | None, tables: list[str]) -> list[str]:
    """``ks t1 t2`` -> ``["ks.t1", "ks.t2"]``; ``ks`` -> ``["ks"]``; nothing -> ``[]``."""
    if keyspace is None:
        return []
    return [f"{keyspace}.{t}" for t in tables] or [keyspace]


RESOLVE_IP = arg("-r", "--resolve-ip", action="store_true",
                 help="Show node domain names instead of IPs (nodes are named by IP)")
HUMAN = arg("-H", "--human-readable", action="store_true",
            help="Display bytes in human readable form, i.e. KiB, MiB, GiB, TiB")


@command("status", "Print cluster information (state, load, IDs, ...)",
         arg("keyspace", nargs="?"), RESOLVE_IP)
def status(client: AdminClient, a: Namespace) -> str:
    return fc.format_status(client.call("status", {"keyspace": a.keyspace}))


@command("ring", "Print information about the token ring", arg("keyspace", nargs="?"),
         RESOLVE_IP)
def ring(client: AdminClient, a: Namespace) -> str:
    return fc.format_ring(client.call("ring", {"keyspace": a.keyspace}))


@command("info", "Print node information (uptime, load, ...)",
         arg("-T", "--tokens", action="store_true", help="Display all tokens"))
def info(client: AdminClient, a: Namespace) -> str:
    return fc.format_info(client.call("info"), a.tokens)


@command("describecluster", "Print the name, snitch, partitioner and schema version of a "
                            "cluster")
def describecluster(client: AdminClient, a: Namespace) -> str:
    return fc.format_describecluster(client.call("describecluster"))


@command("describering", "Shows the token ranges info of a given keyspace", arg("keyspace"))
def describering(client: AdminClient, a: Namespace) -> str:
    return fc.format_describering(client.call("describering", {"keyspace": a.keyspace}))


@command("getendpoints", "Print the end points that owns the key",
         arg("keyspace"), arg("table"), arg("key"))
def getendpoints(client: AdminClient, a: Namespace) -> str:
    return fc.format_getendpoints(client.call(
        "getendpoints", {"keyspace": a.keyspace, "table": a.table, "key": a.key}))


@command("gossipinfo", "Shows the gossip information for the cluster")
def gossipinfo(client: AdminClient, a: Namespace) -> str:
    return fc.format_gossipinfo(client.call("gossipinfo"))


@command("version", "Print cassandra version")
def version(client: AdminClient, a: Namespace) -> str:
    return fc.format_version(client.call("version"))


@command("netstats", "Print network information on provided host (connecting node by "
                     "default)", HUMAN)
def netstats(client: AdminClient, a: Namespace) -> str:
    return fl.format_netstats(client.call("netstats"), a.human_readable)


@command("tpstats", "Print usage statistics of thread pools")
def tpstats(client: AdminClient, a: Namespace) -> str:
    return fl.format_tpstats(client.call("tpstats"))


@command("tablestats", "Print statistics on tables", arg("tables", nargs="*"), HUMAN,
         aliases=("cfstats",))
def tablestats(client: AdminClient, a: Namespace) -> str:
    return fl.format_tablestats(client.call("tablestats", {"tables": a.tables}),
                                a.human_readable)


@command("tablehistograms", "Print statistic histograms for a given table",
         arg("names", nargs="*"), aliases=("cfhistograms",))
def tablehistograms(client: AdminClient, a: Namespace) -> str:
    names: list[str] = a.names
    if len(names) == 2:
        tables = [f"{names[0]}.{names[1]}"]
    elif len(names) == 1:
        if names[0].count(".") != 1:
            raise ValueError("tablehistograms requires keyspace and table name arguments")
        tables = names
    elif not names:
        tables = []
    else:
        raise ValueError("tablehistograms requires <keyspace> <table> or <keyspace.table>")
    return fl.format_tablehistograms(client.call("tablestats", {"tables": tables}))


@command("proxyhistograms", "Print statistic histograms for network operations")
def proxyhistograms(client: AdminClient, a: Namespace) -> str:
    return fl.format_proxyhistograms(client.call("proxyhistograms"))


KEYSPACE_TABLES = (arg("keyspace", nargs="?"), arg("tables", nargs="*"))


@command("flush", "Flush one or more tables", *KEYSPACE_TABLES)
def flush(client: AdminClient, a: Namespace) -> str:
    client.call("flush", {"tables": table_names(a.keyspace, a.tables)})
    return ""


@command("compact", "Force a (major) compaction on one or more tables", *KEYSPACE_TABLES)
def compact(client: AdminClient, a: Namespace) -> str:
    client.call("compact", {"tables": table_names(a.keyspace, a.tables)})
    return ""


@command("drain", "Drain the node (stop accepting writes and flush all tables)")
def drain(client: AdminClient, a: Namespace) -> str:
    client.call("drain")
    return ""


@command("snapshot", "Take a snapshot of specified keyspaces or a snapshot of the specified "
                     "table", arg("keyspaces", nargs="*"),
         arg("-t", "--tag", help="The name of the snapshot"),
         arg("-kt", "--kt-list", "-kc", "--kc.list", dest="kt_list",
             help="The list of Keyspace.table to take snapshot"),
         arg("-cf", "--column-family", "--table", dest="table",
             help="The table name (you must specify one and only one keyspace)"))
def snapshot(client: AdminClient, a: Namespace) -> str:
    keyspaces: list[str] = list(a.keyspaces)
    if a.table is not None:
        if len(keyspaces) != 1:
            raise ValueError("When specifying the table for a snapshot, you must specify one "
                             "and only one keyspace")
        keyspaces = [f"{keyspaces[0]}.{a.table}"]
    if a.kt_list:
        if keyspaces:
            raise ValueError("When specifying the Keyspace table list (using -kt,--kt-list,"
                             "-kc,--kc.list), you must not also specify keyspaces to snapshot")
        keyspaces = [k.strip() for k in a.kt_list.split(",") if k.strip()]
    result = client.call("snapshot", {"tag": a.tag, "keyspaces": keyspaces})
    return fl.format_snapshot(result, keyspaces)


@command("listsnapshots", "Lists all the snapshots along with the size on disk and true size")
def listsnapshots(client: AdminClient, a: Namespace) -> str:
    return fl.format_listsnapshots(client.call("listsnapshots"))


@command("clearsnapshot", "Remove the snapshot with the given name from the given keyspaces",
         arg("keyspaces", nargs="*"), arg("-t", dest="tag", help="The snapshot name"),
         arg("--all", action="store_true", help="Removes all snapshots"))
def clearsnapshot(client: AdminClient, a: Namespace) -> str:
    if a.tag is None and not a.all:
        raise ValueError("Specify snapshot name or --all")
    if a.tag is not None and a.all:
        raise ValueError("Specify only one of snapshot name or --all")
    client.call("clearsnapshot", {"tag": a.tag})
    return fl.format_clearsnapshot(a.tag, list(a.keyspaces))


@command("settraceprobability", "Sets the probability for tracing any given request to value. "
                                "0 disables, 1 enables for all requests, 0 is the default",
         arg("trace_probability", type=float))
def settraceprobability(client: AdminClient, a: Namespace) -> str:
    if not 0 <= a.trace_probability <= 1:
        raise ValueError("Trace probability must be between 0 and 1")
    client.call("settraceprobability", {"probability": a.trace_probability})
    return ""


@command("invalidatepermissionscache", "Invalidate the permissions cache (of the roles given, "
                                       "or of every role)", arg("roles", nargs="*"))
def invalidatepermissionscache(client: AdminClient, a: Namespace) -> str:
    client.call("invalidatepermissionscache", {"roles": list(a.roles)})
    return ""


@command("gettraceprobability", "Print the current trace probability value")
def gettraceprobability(client: AdminClient, a: Namespace) -> str:
    return f"Current trace probability: {client.call('gettraceprobability')['probability']}\n"
