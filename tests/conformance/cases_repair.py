"""Repair-related table options: the compaction sub-option only_purge_repaired_tombstones is
accepted, kept as given in system_schema.tables and changed by ALTER TABLE (Skewless honours it
when purging tombstones: node.repaired)."""

from __future__ import annotations

from conformance_cases import Case, Ok, Rows

_STCS = "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy"

CASES = [
    Case("compaction_only_purge_repaired_tombstones",
         "the compaction map keeps only_purge_repaired_tombstones as given, with the class "
         "expanded and the STCS thresholds defaulted (CompactionParams.fromMap/asMap; read by "
         "CompactionStrategyManager.onlyPurgeRepairedTombstones with Boolean.parseBoolean)",
         Ok("CREATE TABLE t (k int PRIMARY KEY, v int) WITH compaction = {'class': "
            "'SizeTieredCompactionStrategy', 'only_purge_repaired_tombstones': 'true'}"),
         Rows("SELECT compaction FROM system_schema.tables WHERE keyspace_name = '{ks}' AND "
              "table_name = 't'",
              [({"class": _STCS, "max_threshold": "32", "min_threshold": "4",
                 "only_purge_repaired_tombstones": "true"},)]),
         Ok("ALTER TABLE t WITH compaction = {'class': 'SizeTieredCompactionStrategy', "
            "'only_purge_repaired_tombstones': 'false'}"),
         Rows("SELECT compaction FROM system_schema.tables WHERE keyspace_name = '{ks}' AND "
              "table_name = 't'",
              [({"class": _STCS, "max_threshold": "32", "min_threshold": "4",
                 "only_purge_repaired_tombstones": "false"},)])),
]
