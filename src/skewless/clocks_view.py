"""``skewless clocks``: every node's view of every clock, asked of each node over CQL.

Each node measures its peers' clocks and agrees on cluster time (``node.clockwatch``); its
``system.skewless_status`` holds its own offset from cluster time and what it measured for each
peer. This view asks every live node and shows, per node, its own verdict (offset, error bound,
alarm, in bounds) beside the offsets the other nodes measured for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich.table import Table

from skewless.security.client import ClientSecurity


def fetch_status(host: str, port: int,
                 query: str = "SELECT * FROM system.skewless_status",
                 client: ClientSecurity | None = None) -> list[Any]:
    """The rows of ``system.skewless_status`` (or ``query``) as node ``host`` sees them,
    connecting with ``client``'s TLS and credentials."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=10.0
    )
    driver = Cluster(
        contact_points=[host], port=port, protocol_version=4, connect_timeout=5.0,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        **(client or ClientSecurity()).driver_kwargs(),
    )
    try:
        session = driver.connect()
        return list(session.execute(query))
    except NoHostAvailable as e:
        raise click.ClickException(f"cannot reach a Skewless node at {host}:{port}: {e}") from None
    except Exception as e:  # the driver's server errors (InvalidRequest, timeouts…)
        raise click.ClickException(
            f"{host}:{port} could not answer the status query: {e}"
        ) from None
    finally:
        driver.shutdown()


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:+.1f} ms"


def clocks_table(views: Mapping[str, Sequence[Any]]) -> Table:
    """``views`` maps each observer's address to its status rows."""
    observers = sorted(views, key=address_key)
    table = Table(title="Clocks: offset from cluster time (own view, and as measured by peers)")
    for column in ("Node", "Offset", "± error", "Alarm", "In bounds", *observers):
        table.add_column(column, justify="left" if column == "Node" else "right")
    nodes = sorted({r.address for rows in views.values() for r in rows}, key=address_key)
    for node in nodes:
        own = next((r for r in views.get(node, ()) if r.address == node), None)
        cells = [node]
        if own is None:
            cells += ["?", "?", "?", "?"]
        else:
            cells += [_ms(own.clock_offset_ms), f"{own.clock_uncertainty_ms:.1f} ms",
                      "ALARM" if own.clock_alarm else "-", "yes" if own.clock_in_bounds else "NO"]
        for observer in observers:
            if observer == node:
                cells.append("(self)")
                continue
            seen = next((r for r in views[observer] if r.address == node), None)
            cells.append("?" if seen is None or not seen.up else _ms(seen.clock_offset_ms))
        alarmed = own is not None and (own.clock_alarm or not own.clock_in_bounds)
        table.add_row(*cells, style="red" if alarmed else None)
    return table


def clients_table(clients: Mapping[str, Sequence[Any]]) -> Table:
    """Each node's CQL clients and their clocks (estimated from the drivers' timestamps)."""
    table = Table(title="Clients: clock offset from cluster time (from their timestamps)")
    for column in ("Node", "Client", "Offset", "Samples", "Alarm"):
        table.add_column(column, justify="left" if column in ("Node", "Client") else "right")
    for node in sorted(clients, key=address_key):
        for r in clients[node]:
            if r.clock_offset_ms is None:
                continue  # a connection that sent no client timestamp (control connections)
            table.add_row(node, f"{r.address}:{r.port}", _ms(r.clock_offset_ms),
                          str(r.clock_samples), "ALARM" if r.clock_alarm else "-",
                          style="red" if r.clock_alarm else None)
    return table


def collect_clients(hosts: Sequence[str], port: int, client: ClientSecurity | None = None
                    ) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for host in hosts:
        try:
            out[host] = fetch_status(host, port, "SELECT * FROM system.skewless_clients", client)
        except click.ClickException:
            continue
    return out


def address_key(address: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in address.split("."))
    except ValueError:
        return (1 << 16,)


def collect_views(host: str, port: int, client: ClientSecurity | None = None
                  ) -> dict[str, list[Any]]:
    """Ask ``host`` which nodes are up, then ask each of them."""
    first = fetch_status(host, port, client=client)
    views = {host: first}
    for row in first:
        if row.up and row.address not in views:
            try:
                views[row.address] = fetch_status(row.address, port, client=client)
            except click.ClickException:
                continue  # went down meanwhile: its column shows "?"
    return views
