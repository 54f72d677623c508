"""NetworkTopologyStrategy options as Cassandra 4+ prepares and validates them.

``replication_factor`` in an NTS map is shorthand: it is expanded to every known datacenter that
the map does not name itself, and removed (``NetworkTopologyStrategy.prepareOptions``). On ALTER
the keyspace's current datacenters keep their factors unless named again (Cassandra's "for
safety" rule), and a datacenter given 0 is dropped from the map. A datacenter that no node of the
cluster is in is refused with Cassandra's wording, as is a map naming no datacenter at all.
"""

from __future__ import annotations

from skewless import errors

REPLICATION_FACTOR = "replication_factor"


def prepare(options: dict[str, str], previous: dict[str, str] | None,
            datacenters: frozenset[str]) -> dict[str, str]:
    """The datacenter -> factor map of an NTS keyspace (``options`` without 'class')."""
    out = dict(options)
    factor = out.pop(REPLICATION_FACTOR, None)
    if previous is not None:
        if factor is None and not out:
            factor = previous.get(REPLICATION_FACTOR)  # ALTER from SimpleStrategy
        elif factor is not None:
            for dc, rf in previous.items():
                if dc not in ("class", REPLICATION_FACTOR):
                    out.setdefault(dc, rf)
    if factor is not None:
        for dc in sorted(datacenters):
            out.setdefault(dc, factor)
    return {dc: rf for dc, rf in out.items() if rf != "0"}


def validate(options: dict[str, str], datacenters: frozenset[str], keyspace: str) -> None:
    unknown = sorted(dc for dc in options if dc not in datacenters)
    if unknown:
        raise errors.ConfigurationException(
            f"Unrecognized strategy option {{{', '.join(unknown)}}} passed to "
            f"NetworkTopologyStrategy for keyspace {keyspace}")
    if not options:
        raise errors.ConfigurationException(
            "Configuration for at least one datacenter must be present")
