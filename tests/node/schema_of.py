"""A schema built by running DDL statements through the real DDL code (node.ddl), for the node
unit tests; table ids are drawn from a seeded generator, so every run builds the same schema."""

from __future__ import annotations

import random
import uuid

from skewless.cql.parser import parse
from skewless.node.schema import ddl
from skewless.schema import Schema, TableDef


def schema_of(*statements: str, keyspace: str = "ks", table: str = "t",
              seed: int = 1) -> tuple[Schema, TableDef]:
    """The schema after ``statements``, and its table ``keyspace.table``."""
    schema = Schema().with_version()
    rng = random.Random(seed)
    for q in statements:
        schema, _ = ddl.apply_ddl(schema, parse(q).statement, None,  # type: ignore[arg-type]
                                  uuid.UUID(int=rng.getrandbits(128), version=4))
    found = schema.table(keyspace, table)
    assert found is not None
    return schema, found
