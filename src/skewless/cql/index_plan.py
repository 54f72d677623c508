"""Which secondary index, if any, serves a SELECT's restrictions (pure planning).

An index serves one restriction, as in Cassandra (``Index.supportsExpression``):

* a plain index on a regular, static, clustering or partition key column: ``col = v``;
* ``VALUES(c)`` (the default on a non-frozen collection): ``c CONTAINS v``;
* ``KEYS(m)``: ``m CONTAINS KEY k``; ``ENTRIES(m)``: ``m[k] = v``; ``FULL(c)``: ``c = v``.

``choose`` picks the restriction the coordinator reads candidates for (a regular or static
column's first, then a clustering column's, then a partition key component's). Every other
restriction that needs filtering still needs ALLOW FILTERING, except that several restrictions
served by Storage Attached Indexes (SAI) are one query in Cassandra 5: they are accepted and
checked on the candidate rows. An SAI index on a numeric or date/time column (``RANGE_TYPES``)
also answers ranges (``<``, ``<=``, ``>``, ``>=``): with no equality to look up, the first such
column's bounds become the query (``IndexQuery.lower``/``upper``). The chosen restriction stays a
``Filter`` too: index entries are never trusted, every candidate row is checked against the live
merged data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skewless.cql.where import Filter, Restrictions
from skewless.schema import IndexDef, Schema, TableDef

SAI_CLASS = "org.apache.cassandra.index.sai.StorageAttachedIndex"
_TARGET = re.compile(r"^(values|keys|entries|full)\((.+)\)$")
_RANGE_OPS = ("<", "<=", ">", ">=")
# Types whose SAI index answers ranges (Cassandra 5's numeric and date/time types).
RANGE_TYPES = frozenset({"tinyint", "smallint", "int", "bigint", "varint", "decimal", "float",
                         "double", "date", "time", "timestamp"})


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """The index the coordinator reads candidates from, and the term it looks up."""

    name: str
    term: bytes
    lower: tuple[bytes, bool] | None = None  # a range of terms (SAI) instead of ``term``
    upper: tuple[bytes, bool] | None = None

    @property
    def is_range(self) -> bool:
        return self.lower is not None or self.upper is not None


@dataclass(frozen=True, slots=True)
class _Index:
    name: str
    modifier: str  # 'value' for a plain index
    column: str
    sai: bool
    ranged: bool  # an SAI index answering ranges (numeric and date/time columns)


@dataclass(frozen=True, slots=True)
class IndexChoice:
    query: IndexQuery | None  # None: only SAI range restrictions (served by a scan)
    served: tuple[tuple[str, str, bool], ...]  # (column, op, map entry) accepted unfiltered
    on_key: bool = False  # the index restriction is on a primary key column

    def used(self, partition_read: bool) -> bool:
        """The index answers the query: Cassandra's ``usesSecondaryIndexing`` (a key column's
        index is not used when the partition key routes the read)."""
        return self.query is not None and not (self.on_key and partition_read)

    def serves(self, f: Filter) -> bool:
        return (f.column.name, f.op, f.map_key is not None) in self.served


def _indexes(schema: Schema, table: TableDef) -> list[_Index]:
    out = []
    for i in schema.indexes:
        if (i.keyspace, i.table) != (table.keyspace, table.name):
            continue
        out.append(_parse(i, table))
    return out


def _parse(i: IndexDef, table: TableDef) -> _Index:
    options = dict(i.options)
    text = options.get("target", "")
    m = _TARGET.match(text)
    modifier = m.group(1) if m else "value"
    column = m.group(2) if m else text
    if len(column) > 1 and column.startswith('"') and column.endswith('"'):
        column = column[1:-1].replace('""', '"')
    sai = options.get("class_name") == SAI_CLASS
    col = table.column(column)
    ranged = sai and modifier == "value" and col is not None and col.type in RANGE_TYPES
    return _Index(i.name, modifier, column, sai, ranged)


def _supports(ix: _Index, f: Filter) -> bool:
    if ix.column != f.column.name:
        return False
    if f.map_key is not None:
        return ix.modifier == "entries" and f.op == "="
    if f.op == "=":
        return ix.modifier in ("value", "full")
    if f.op == "CONTAINS":
        return ix.modifier == "values"
    if f.op == "CONTAINS KEY":
        return ix.modifier == "keys"
    return False


def _term(f: Filter) -> bytes:
    assert isinstance(f.value, bytes)
    if f.map_key is None:
        return f.value
    from skewless.storage.index import entry_term

    return entry_term(f.map_key, f.value)


def _key_filters(table: TableDef, r: Restrictions) -> list[Filter]:
    """Single-value equalities on key columns, clustering columns first."""
    out = []
    for col in (*table.clustering, *table.partition_key):
        vals = r.eq.get(col.name)
        if vals is not None and len(vals) == 1 and col.name not in r.eq_is_in:
            out.append(Filter(col, "=", vals[0]))
    return out


def _range_query(indexes: list[_Index], r: Restrictions) -> IndexQuery | None:
    """An SAI range over the first column with a ranged index and a bound."""
    for f in r.filters:
        ix = next((i for i in indexes if i.ranged and i.column == f.column.name), None)
        if ix is None or f.op not in _RANGE_OPS or f.map_key is not None:
            continue
        bounds = [g for g in r.filters if g.column.name == ix.column and g.op in _RANGE_OPS]
        lower = [g for g in bounds if g.op in (">", ">=")]
        upper = [g for g in bounds if g.op in ("<", "<=")]
        return IndexQuery(
            ix.name, b"",
            (_term(lower[0]), lower[0].op == ">=") if lower else None,
            (_term(upper[0]), upper[0].op == "<=") if upper else None)
    return None


def choose(table: TableDef, schema: Schema, r: Restrictions) -> IndexChoice | None:
    """The index serving the restrictions ``r``, or None when none does."""
    indexes = _indexes(schema, table)
    if not indexes:
        return None
    chosen: tuple[_Index, Filter] | None = None
    for f in [*r.filters, *_key_filters(table, r)]:
        ix = next((i for i in indexes if _supports(i, f)), None)
        if ix is not None:
            chosen = (ix, f)
            break
    served: list[tuple[str, str, bool]] = []
    sai_only = chosen is None or chosen[0].sai
    if sai_only:
        for f in r.filters:
            if any(i.sai and (_supports(i, f) or (
                    i.column == f.column.name and f.op in _RANGE_OPS and i.ranged))
                   for i in indexes):
                served.append((f.column.name, f.op, f.map_key is not None))
    if chosen is None:
        ranged = _range_query(indexes, r)
        if ranged is not None:
            return IndexChoice(ranged, tuple(served))
        return IndexChoice(None, tuple(served)) if served else None
    ix, f = chosen
    served.append((f.column.name, f.op, f.map_key is not None))
    on_key = f.column.kind in ("partition_key", "clustering")
    return IndexChoice(IndexQuery(ix.name, _term(f)), tuple(served), on_key)
