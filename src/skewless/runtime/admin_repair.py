"""The repair routes of the node's HTTP admin API (Scylla's REST names), over ``node.repair``.

Served on the metrics endpoint (``--metrics-port``) until the admin server of ``nodetool``
mounts ``handle`` itself. Every answer is JSON.

* ``POST /storage_service/repair_async/{keyspace}`` with query parameters ``columnFamilies``
  (comma-separated tables; default all), ``primaryRange`` (true/false, ``-pr``), ``startToken``
  and ``endToken`` (``-st``/``-et``), ``incremental`` (true runs a full repair and says so):
  200 and the repair command's number (a JSON integer); 400 ``{"message": ...}`` on bad input.
* ``GET /storage_service/repair_status?id=N`` (or ``GET /storage_service/repair_async/{ks}?id=N``):
  ``{"state": "RUNNING"|"SUCCESSFUL"|"FAILED", "lines": [...], "summary": {...}}``
  (``RepairStatus``: the lines are ``nodetool repair``'s output so far); 404 when unknown.
* ``POST /storage_service/keyspace_garbagecollect/{keyspace}`` with ``cf`` (comma-separated
  tables): drops purgeable tombstones (honouring ``only_purge_repaired_tombstones``):
  ``{"removed": entries}``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from skewless.errors import CqlError
from skewless.node.node import Node

PREFIX = "/storage_service/"
Answer = tuple[int, object]


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, ["false"])[-1].lower() == "true"


def _names(query: dict[str, list[str]], name: str) -> tuple[str, ...]:
    return tuple(n for v in query.get(name, []) for n in v.split(",") if n)


def _token(query: dict[str, list[str]], name: str) -> int | None:
    if name not in query:
        return None
    return int(query[name][-1])


def handle(node: Node, method: str, target: str) -> Answer | None:
    """The answer (HTTP status, JSON value) to a request, or None when the path is not ours."""
    url = urlsplit(target)
    path, query = unquote(url.path), parse_qs(url.query)
    if not path.startswith(PREFIX):
        return None
    route, _, arg = path[len(PREFIX):].partition("/")
    service = node.active_repair
    try:
        if route == "repair_async" and method == "POST" and arg:
            return 200, service.repair(
                arg, _names(query, "columnFamilies"), primary_range=_flag(query, "primaryRange"),
                full=not _flag(query, "incremental"), start_token=_token(query, "startToken"),
                end_token=_token(query, "endToken"))
        if route in ("repair_status", "repair_async") and method == "GET":
            status = service.status(int(query.get("id", ["0"])[-1]))
            if status is None:
                return 404, {"message": "unknown repair command"}
            return 200, {"state": status.state, "lines": status.lines,
                         "summary": status.summary()}
        if route == "keyspace_garbagecollect" and method == "POST" and arg:
            return 200, {"removed": service.purge(arg, _names(query, "cf"))}
    except CqlError as e:
        return 400, {"message": e.message}
    except ValueError as e:
        return 400, {"message": f"bad parameter: {e}"}
    return 404, {"message": f"no route {method} {path}"}
