"""Admin operations of repair (``node.repair``): start a repair, follow it, purge tombstones.

* ``repair`` ``{"keyspace": str | None, "tables": [str], "primary_range": bool, "full": bool,
  "start_token": str | None, "end_token": str | None}`` -> ``{"commands": [int]}``: one repair
  command per keyspace (every non-system keyspace when none is named, as nodetool does);
* ``repair_status`` ``{"command": int}`` -> ``{"command", "state", "lines", "summary"}``;
* ``garbagecollect`` ``{"keyspace": str | None, "tables": [str]}`` -> ``{"removed": int}``:
  tombstones past gc_grace dropped, honouring ``only_purge_repaired_tombstones``.
"""

from __future__ import annotations

from skewless.admin.registry import AdminContext, AdminError, Json, arg_list, arg_str, operation
from skewless.errors import CqlError


def _keyspaces(ctx: AdminContext, keyspace: str | None) -> list[str]:
    if keyspace is not None:
        return [keyspace]
    return sorted(k.name for k in ctx.node.schema.keyspaces if not k.name.startswith("system"))


def _token(args: Json, name: str) -> int | None:
    value = arg_str(args, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise AdminError(f"{name}: not a Murmur3 token: {value!r}") from None


@operation("repair", "Repair one or more tables (Merkle trees per token range)")
def repair(ctx: AdminContext, args: Json) -> Json:
    service = ctx.node.active_repair
    keyspace = arg_str(args, "keyspace")
    tables = arg_list(args, "tables")
    if tables and keyspace is None:
        raise AdminError("Tables can only be given with their keyspace")
    start, end = _token(args, "start_token"), _token(args, "end_token")
    commands = []
    try:
        for ks in _keyspaces(ctx, keyspace):
            commands.append(service.repair(
                ks, tables, primary_range=bool(args.get("primary_range", False)),
                full=bool(args.get("full", True)), start_token=start, end_token=end))
    except CqlError as e:
        raise AdminError(e.message) from None
    return {"commands": commands}


@operation("repair_status", "The progress lines and summary of a repair command")
def repair_status(ctx: AdminContext, args: Json) -> Json:
    number = args.get("command")
    if isinstance(number, bool) or not isinstance(number, int):
        raise AdminError(f"command: expected an integer, got {number!r}")
    status = ctx.node.active_repair.status(number)
    if status is None:
        raise AdminError(f"unknown repair command #{number}")
    return {"command": number, "state": status.state, "lines": list(status.lines),
            "summary": status.summary()}


@operation("garbagecollect", "Remove deleted data (tombstones past gc_grace) from tables")
def garbagecollect(ctx: AdminContext, args: Json) -> Json:
    keyspace = arg_str(args, "keyspace")
    tables = arg_list(args, "tables")
    try:
        removed = sum(ctx.node.active_repair.purge(ks, tables if keyspace else ())
                      for ks in _keyspaces(ctx, keyspace))
    except CqlError as e:
        raise AdminError(e.message) from None
    return {"removed": removed}
