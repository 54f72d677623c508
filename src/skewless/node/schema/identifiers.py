"""CQL identifier quoting as Cassandra 5.0 prints identifiers (``ColumnIdentifier.maybeQuote``).

An identifier is printed bare when it matches ``[a-z][a-z0-9_]*`` and is not a reserved keyword;
otherwise it is double-quoted with inner double quotes doubled.
"""

from __future__ import annotations

import re

# org.apache.cassandra.cql3.ReservedKeywords (5.0).
RESERVED = frozenset("""
ADD ALLOW ALTER AND APPLY ASC AUTHORIZE BATCH BEGIN BY COLUMNFAMILY CREATE DEFAULT DELETE DESC
DESCRIBE DROP ENTRIES EXECUTE FROM FULL GRANT IF IN INDEX INFINITY INSERT INTO IS KEYSPACE LIMIT
MATERIALIZED MBEAN MBEANS MODIFY NAN NORECURSIVE NOT NULL OF ON OR ORDER PRIMARY RENAME REPLACE
REVOKE SCHEMA SELECT SET TABLE TO TOKEN TRUNCATE UNLOGGED UNSET UPDATE USE USING VIEW WHERE WITH
""".split())

_BARE = re.compile(r"^[a-z][a-z0-9_]*$")


def quote_if_needed(name: str) -> str:
    """``name`` as CQL text: bare when possible, else double-quoted."""
    if _BARE.match(name) and name.upper() not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_string(text: str) -> str:
    """A CQL string literal: single-quoted with inner quotes doubled."""
    return "'" + text.replace("'", "''") + "'"
