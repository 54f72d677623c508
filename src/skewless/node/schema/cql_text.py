"""CREATE statements for schema elements, in Cassandra 5.0's exact DESCRIBE format.

These are ``KeyspaceMetadata.toCqlString``, ``TableMetadata.toCqlString`` (with
``TableParams.appendCqlTo``), ``UserType.toCqlString`` and ``IndexMetadata.toCqlString`` as
Cassandra 5.0 prints them: four-space indentation, option names in Cassandra's order, maps with
sorted keys, identifiers quoted only when needed.
"""

from __future__ import annotations

from decimal import Decimal

from skewless.node.schema.identifiers import quote_if_needed, quote_string
from skewless.schema import IndexDef, KeyspaceDef, TableDef, UserType

LOCATOR_PACKAGE = "org.apache.cassandra.locator."

# TableParams.appendCqlTo order ("alphabetical", except memtable after compression).
OPTION_ORDER = (
    "additional_write_policy", "allow_auto_snapshot", "bloom_filter_fp_chance", "caching", "cdc",
    "comment", "compaction", "compression", "memtable", "crc_check_chance",
    "default_time_to_live", "extensions", "gc_grace_seconds", "incremental_backups",
    "max_index_interval", "memtable_flush_period_in_ms", "min_index_interval", "read_repair",
    "speculative_retry",
)
_QUOTED_OPTIONS = frozenset(
    {"additional_write_policy", "comment", "memtable", "read_repair", "speculative_retry"})


def qualified(keyspace: str, name: str) -> str:
    return f"{quote_if_needed(keyspace)}.{quote_if_needed(name)}"


def keyspace_cql(ks: KeyspaceDef) -> str:
    """``CREATE KEYSPACE ks WITH replication = {...}  AND durable_writes = true;``"""
    replication = ks.replication_map()
    klass = replication.pop("class")
    if klass.startswith(LOCATOR_PACKAGE):
        klass = klass[len(LOCATOR_PACKAGE):]
    items = [f"'class': {quote_string(klass)}"]
    items += [f"{quote_string(k)}: {quote_string(v)}" for k, v in sorted(replication.items())]
    durable = "true" if ks.durable_writes else "false"
    return (f"CREATE KEYSPACE {quote_if_needed(ks.name)} WITH replication = "
            f"{{{', '.join(items)}}}  AND durable_writes = {durable};")


def type_cql(udt: UserType) -> str:
    """``CREATE TYPE ks.t (\\n    f type,\\n    ...\\n);``"""
    fields = [f"    {quote_if_needed(n)} {t}"
              for n, t in zip(udt.field_names, udt.field_types, strict=True)]
    body = ",\n".join(fields)
    return f"CREATE TYPE {qualified(udt.keyspace, udt.name)} (\n{body}\n);"


def index_cql(index: IndexDef) -> str:
    """``CREATE INDEX name ON ks.t (target);`` (``CREATE CUSTOM INDEX ... USING 'class'`` for
    a custom index such as SAI)."""
    options = dict(index.options)
    target = options["target"]
    if index.kind == "CUSTOM":
        return (f"CREATE CUSTOM INDEX {quote_if_needed(index.name)} ON "
                f"{qualified(index.keyspace, index.table)} ({target}) USING "
                f"'{options.get('class_name', '')}';")
    return (f"CREATE INDEX {quote_if_needed(index.name)} ON "
            f"{qualified(index.keyspace, index.table)} ({target});")


def table_cql(table: TableDef) -> str:
    """``CREATE TABLE ks.t (...) WITH ...;`` as Cassandra 5.0's DESCRIBE prints it."""
    lines = [f"    {line}" for line in _column_lines(table)]
    head = f"CREATE TABLE {qualified(table.keyspace, table.name)} (\n" + ",\n".join(lines)
    properties = []
    if table.clustering:
        order = ", ".join(f"{quote_if_needed(c.name)} {c.clustering_order.upper()}"
                          for c in table.clustering)
        properties.append(f"CLUSTERING ORDER BY ({order})")
    options = dict(table.options)
    properties += [f"{name} = {_option_value(name, options[name])}"
                   for name in OPTION_ORDER if name in options]
    return head + "\n) WITH " + "\n    AND ".join(properties) + ";"


def _column_lines(table: TableDef) -> list[str]:
    """Column definitions (partition key, clustering, statics, regulars) and PRIMARY KEY."""
    pk, ck = table.partition_key, table.clustering
    statics = sorted((c for c in table.columns if c.kind == "static"), key=lambda c: c.name)
    regulars = sorted((c for c in table.columns if c.kind == "regular"), key=lambda c: c.name)
    single = len(pk) == 1 and not ck
    lines = []
    for c in (*pk, *ck, *statics, *regulars):
        line = f"{quote_if_needed(c.name)} {c.type}"
        if c.kind == "static":
            line += " static"
        if single and c.kind == "partition_key":
            line += " PRIMARY KEY"
        lines.append(line)
    if not single:
        lines.append(f"PRIMARY KEY ({_primary_key(table)})")
    return lines


def _primary_key(table: TableDef) -> str:
    names = [quote_if_needed(c.name) for c in table.partition_key]
    partition = names[0] if len(names) == 1 else f"({', '.join(names)})"
    return ", ".join([partition, *(quote_if_needed(c.name) for c in table.clustering)])


def _option_value(name: str, value: object) -> str:
    if isinstance(value, tuple):
        return _map_text(name, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if name in _QUOTED_OPTIONS:
        return quote_string(str(value))
    return str(value)


def _map_text(name: str, items: tuple[tuple[str, object], ...]) -> str:
    parts = []
    for k, v in sorted(items):
        if isinstance(v, bytes):
            parts.append(f"{quote_string(k)}: 0x{v.hex()}")
        else:
            parts.append(f"{quote_string(k)}: {quote_string(str(v))}")
    return "{" + ", ".join(parts) + "}"


def java_double(x: float) -> str:
    """``Double.toString``: '0.01', '1.0', '1.0E-5' (scientific outside [1e-3, 1e7))."""
    if x == 0.0 or 1e-3 <= abs(x) < 1e7:
        text = repr(x)
        return text if "e" not in text else f"{x:.1f}"
    sign, digit_tuple, exponent = Decimal(repr(x)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(digits) - 1 + exponent}"
