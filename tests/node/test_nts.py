"""NetworkTopologyStrategy replication maps as Cassandra 4+ prepares them: replication_factor
expands to every known datacenter, unknown datacenters are refused in Cassandra's words."""

from __future__ import annotations

import uuid

import pytest

from skewless import errors
from skewless.cql.parser import parse
from skewless.node.schema.ddl import apply_ddl
from skewless.schema import Schema

DCS = frozenset({"dc1", "dc2"})
NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"


def _run(schema: Schema, cql: str) -> Schema:
    out, _ = apply_ddl(schema, parse(cql).statement, None, uuid.UUID(int=1),  # type: ignore[arg-type]
                         datacenters=DCS)
    return out


def _replication(schema: Schema, ks: str) -> dict[str, str]:
    k = schema.keyspace(ks)
    assert k is not None
    return k.replication_map()


def test_replication_factor_expands_to_every_datacenter() -> None:
    s = _run(Schema(), "CREATE KEYSPACE ks WITH replication = "
             "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3, 'dc2': 1}")
    assert _replication(s, "ks") == {"class": NTS, "dc1": "3", "dc2": "1"}


def test_alter_keeps_existing_datacenters_and_drops_zero() -> None:
    s = _run(Schema(), "CREATE KEYSPACE ks WITH replication = "
             "{'class': 'NetworkTopologyStrategy', 'dc1': 2}")
    s = _run(s, "ALTER KEYSPACE ks WITH replication = "
             "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}")
    assert _replication(s, "ks") == {"class": NTS, "dc1": "2", "dc2": "3"}
    s = _run(s, "ALTER KEYSPACE ks WITH replication = "
             "{'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 0}")
    assert _replication(s, "ks") == {"class": NTS, "dc1": "1"}


def test_alter_from_simple_strategy_takes_its_factor() -> None:
    s = _run(Schema(), "CREATE KEYSPACE ks WITH replication = "
             "{'class': 'SimpleStrategy', 'replication_factor': 2}")
    s = _run(s, "ALTER KEYSPACE ks WITH replication = {'class': 'NetworkTopologyStrategy'}")
    assert _replication(s, "ks") == {"class": NTS, "dc1": "2", "dc2": "2"}


def test_unknown_datacenter_is_refused() -> None:
    with pytest.raises(errors.ConfigurationException, match=(
            r"^Unrecognized strategy option \{dc9\} passed to NetworkTopologyStrategy for "
            r"keyspace ks$")):
        _run(Schema(), "CREATE KEYSPACE ks WITH replication = "
             "{'class': 'NetworkTopologyStrategy', 'dc9': 3}")
    with pytest.raises(errors.ConfigurationException,
                       match="Configuration for at least one datacenter must be present"):
        _run(Schema(), "CREATE KEYSPACE ks WITH replication = "
             "{'class': 'NetworkTopologyStrategy'}")
