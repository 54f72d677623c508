"""A node's secondary indexes: their storage specs, their background build, their state.

Theory of operation
-------------------
The schema says which indexes exist; this node keeps, per index, a local state in the meta
entry ``indexes``: ``table id/index name -> [target, built, resume key]``. On every schema
change (``on_schema``) the storage gets the specs of every index (``Storage.index_specs``), so
``Storage.apply`` maintains an index from the moment this node knows it. An index this node did
not know yet starts a *build*: each ``tick`` indexes up to ``index_build_partitions_per_tick``
stored partitions of its table, in ring order, saving where it stopped (so a restart resumes),
until every partition existing at the start was indexed; then it is *built* and listed in
``system."IndexInfo"``. The build and concurrent writes never conflict: the node is single
threaded, each partition is indexed in one step from its stored state, and writes landing in
between maintain the entries themselves. An index dropped (or re-created with another target)
loses its entries and state.

Until an index is built on a replica, that replica answers index reads by scanning its data
(``node.index_read.serve``), so answers are complete at every point of a build.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgpack

from skewless import limits
from skewless.cql.index_plan import RANGE_TYPES
from skewless.ring import MAX_TOKEN, MIN_TOKEN
from skewless.schema import IndexDef, Schema, TableDef
from skewless.storage import index as sindex
from skewless.storage import keys

if TYPE_CHECKING:
    from skewless.node.node import Node

_META = "indexes"
_TARGET = re.compile(r"^(values|keys|entries|full)\((.+)\)$")
SAI_CLASS = "org.apache.cassandra.index.sai.StorageAttachedIndex"


def target_of(index: IndexDef) -> tuple[sindex.Target, str]:
    """The modifier (``value`` for none) and the column name of an index's target option."""
    text = dict(index.options).get("target", "")
    m = _TARGET.match(text)
    modifier: sindex.Target = "value"
    if m:
        modifier = m.group(1)  # type: ignore[assignment]
        text = m.group(2)
    if len(text) > 1 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('""', '"')
    return modifier, text


def is_sai(index: IndexDef) -> bool:
    return dict(index.options).get("class_name", "") == SAI_CLASS


def spec_of(table: TableDef, index: IndexDef) -> sindex.IndexSpec | None:
    """The storage spec of ``index`` (None if its column is gone)."""
    modifier, name = target_of(index)
    column = table.column(name)
    if column is None:
        return None
    kind, args = keys.parse_type(column.type)
    frozen = column.type.startswith("frozen<")
    collection = kind if kind in ("list", "set", "map") and not frozen and args else ""
    if modifier == "value" and collection:
        modifier = "values"
    ranged = is_sai(index) and modifier == "value" and column.type in RANGE_TYPES
    return sindex.IndexSpec(
        index.name, column.name, column.kind, column.position, modifier, collection,
        len(table.partition_key),
        tuple((c.type, c.clustering_order == "desc") for c in table.clustering),
        column.type if ranged else "")


def specs_by_table(schema: Schema) -> dict[str, tuple[sindex.IndexSpec, ...]]:
    out: dict[str, list[sindex.IndexSpec]] = {}
    for index in schema.indexes:
        table = schema.table(index.keyspace, index.table)
        if table is None:
            continue
        spec = spec_of(table, index)
        if spec is not None:
            out.setdefault(table.table_key, []).append(spec)
    return {k: tuple(v) for k, v in out.items()}


class IndexManager:
    def __init__(self, node: Node) -> None:
        self.node = node
        raw = node.storage.get_meta(_META)
        self.state: dict[str, list[object]] = {} if raw is None else msgpack.unpackb(raw)
        self.on_schema()

    def _save(self) -> None:
        self.node.storage.put_meta(_META, msgpack.packb(self.state))

    def on_schema(self) -> None:
        """Adopt the node's current schema: maintain its indexes, build the new ones."""
        schema = self.node.schema
        storage = self.node.storage
        storage.index_specs = specs_by_table(schema)
        wanted: dict[str, str] = {}
        for index in schema.indexes:
            table = schema.table(index.keyspace, index.table)
            if table is not None:
                wanted[f"{table.table_key}/{index.name}"] = dict(index.options).get("target", "")
        changed = False
        for ident in list(self.state):
            if wanted.get(ident) != self.state[ident][0]:
                table_key, name = ident.split("/", 1)
                sindex.drop(storage.kv, table_key, name)
                del self.state[ident]
                changed = True
        for ident, target in wanted.items():
            if ident not in self.state:
                self.state[ident] = [target, False, None]
                changed = True
        if changed:
            self._save()

    def built(self, table_key: str, name: str) -> bool:
        st = self.state.get(f"{table_key}/{name}")
        return st is not None and bool(st[1])

    def built_indexes(self) -> tuple[tuple[str, str], ...]:
        """(keyspace, index name) of every index built on this node (system."IndexInfo")."""
        schema = self.node.schema
        out = []
        for index in schema.indexes:
            table = schema.table(index.keyspace, index.table)
            if table is not None and self.built(table.table_key, index.name):
                out.append((index.keyspace, index.name))
        return tuple(out)

    def tick(self) -> None:
        """One build step of the first index still building."""
        for ident, st in self.state.items():
            if not st[1]:
                self._build_step(ident, st)
                return

    def _build_step(self, ident: str, st: list[object]) -> None:
        table_key, name = ident.split("/", 1)
        spec = next((s for s in self.node.storage.index_specs.get(table_key, ())
                     if s.name == name), None)
        if spec is None:
            return
        storage = self.node.storage
        resume = st[2] if isinstance(st[2], bytes) else None
        now_s = self.node.physical_us() // 1_000_000
        done = 0
        last = resume
        for key in storage.partition_keys(table_key, MIN_TOKEN, MAX_TOKEN, resume):
            storage.build_index_entries(table_key, key, (spec,), now_s)
            last = key
            done += 1
            if done >= limits.index_build_partitions_per_tick:
                st[2] = last
                self._save()
                return
        st[1], st[2] = True, None
        self._save()
