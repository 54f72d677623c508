"""Validation as Cassandra 5 validates: key sizes, names, table options, durations and
statement rules, each refused with Cassandra's error class and words."""

from typing import Any

from cassandra import InvalidRequest
from cassandra.query import SimpleStatement
from cassandra.util import Duration
from conformance_cases import QUORUM, Case, Check, Error, Ok, Rows

KEY_70000 = "x" * 70000
KEY_65535 = "x" * 65535
LONG_NAME = "a" * 49


def _bound_duration_refused(session: Any, ks: str) -> None:
    """DurationSerializer.validate on bound values: 32-bit months and days, one sign."""
    session.execute("CREATE TABLE bd (k int PRIMARY KEY, d duration)")
    insert = session.prepare("INSERT INTO bd (k, d) VALUES (?, ?)")
    for value, words in (
            (Duration(2**40, 0, 0), "The duration months must be a 32 bits integer but was: "
                                    f"{2**40}"),
            (Duration(0, -(2**40), 0), "The duration days must be a 32 bits integer but was: "
                                       f"{-(2**40)}"),
            (Duration(2, -2, 0), "The duration months, days and nanoseconds must be all of "
                                 "the same sign (2, -2, 0)")):
        try:
            session.execute(insert, (1, value))
        except InvalidRequest as e:
            assert words in str(e), f"{value}: expected {words!r}, got {e}"
        else:
            raise AssertionError(f"{value}: accepted")
    insert.consistency_level = QUORUM
    session.execute(insert, (1, Duration(-1, -2, -3)))
    rows = list(session.execute(SimpleStatement("SELECT d FROM bd WHERE k = 1",
                                                consistency_level=QUORUM)))
    assert rows[0].d == Duration(-1, -2, -3), rows


def _empty_bound_limit_refused(session: Any, ks: str) -> None:
    """An empty int bound to LIMIT or TTL is refused, not a server error."""
    session.execute("CREATE TABLE el (k int PRIMARY KEY, v int)")
    select = session.prepare("SELECT * FROM el LIMIT ?")
    insert = session.prepare("INSERT INTO el (k, v) VALUES (1, 1) USING TTL ?")
    for stmt in (select, insert):
        bound = stmt.bind((0,))
        bound.values[0] = b""
        try:
            session.execute(bound)
        except InvalidRequest as e:
            assert "Invalid empty value" in str(e), e
        else:
            raise AssertionError(f"{stmt.query_string}: accepted an empty value")


CASES = [
    Case("key_length_partition", "a partition key over 65535 bytes is refused "
         "(Validation.validateKey: 'Key length of N is longer than maximum of 65535'), "
         "65535 bytes is accepted; an empty single-column key is refused",
         Ok("CREATE TABLE t (k text, c text, v int, PRIMARY KEY (k, c))"),
         Error("INSERT INTO t (k, c, v) VALUES (%s, 'a', 1)", "InvalidRequest",
               "Key length of 70000 is longer than maximum of 65535", KEY_70000),
         Error("UPDATE t SET v = 1 WHERE k = %s AND c = 'a'", "InvalidRequest",
               "Key length of 70000 is longer than maximum of 65535", KEY_70000),
         Error("DELETE FROM t WHERE k = %s", "InvalidRequest",
               "Key length of 70000 is longer than maximum of 65535", KEY_70000),
         Ok("INSERT INTO t (k, c, v) VALUES (%s, 'a', 1)", KEY_65535),
         Rows("SELECT v FROM t WHERE k = %s", [(1,)], KEY_65535),
         Error("INSERT INTO t (k, c, v) VALUES ('', 'a', 1)", "InvalidRequest",
               "Key may not be empty")),
    Case("key_length_composite", "a composite partition key counts its CompositeType "
         "encoding (2-byte length and end byte per component) against 65535",
         Ok("CREATE TABLE t (a text, b text, v int, PRIMARY KEY ((a, b)))"),
         Error("INSERT INTO t (a, b, v) VALUES (%s, %s, 1)", "InvalidRequest",
               "Key length of 80006 is longer than maximum of 65535",
               "y" * 40000, "z" * 40000)),
    Case("key_length_clustering", "a clustering value over 65535 bytes is refused "
         "(ClusteringPrefix.validate, same words as the partition key)",
         Ok("CREATE TABLE t (k int, c text, v int, PRIMARY KEY (k, c))"),
         Error("INSERT INTO t (k, c, v) VALUES (1, %s, 1)", "InvalidRequest",
               "Key length of 70000 is longer than maximum of 65535", KEY_70000),
         Error("UPDATE t SET v = 1 WHERE k = 1 AND c = %s", "InvalidRequest",
               "Key length of 70000 is longer than maximum of 65535", KEY_70000),
         Ok("INSERT INTO t (k, c, v) VALUES (1, '', 1)")),
    Case("name_length", "keyspace names over 48 characters are Invalid "
         "(AlterSchemaStatement.validateKeyspaceName), table names Configuration errors "
         "(TableMetadata.validate); 48 characters is fine",
         Error(f"CREATE KEYSPACE {LONG_NAME} WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 1}", "InvalidRequest",
               f"Keyspace name must not be empty, more than 48 characters long, or contain "
               f"non-alphanumeric-underscore characters (got '{LONG_NAME}')"),
         Error(f"CREATE TABLE {LONG_NAME} (k int PRIMARY KEY)", "ConfigurationException",
               f"Table name must not be empty, more than 48 characters long, or contain "
               f"non-alphanumeric-underscore characters (got \"{LONG_NAME}\")"),
         Error('CREATE TABLE "a-b" (k int PRIMARY KEY)', "ConfigurationException",
               "contain non-alphanumeric-underscore characters (got \"a-b\")"),
         Ok(f"CREATE TABLE {'a' * 48} (k int PRIMARY KEY)")),
    Case("compaction_options", "compaction: a known strategy (short or qualified name), "
         "its own sub-options, thresholds (CompactionParams, AbstractCompactionStrategy."
         "validateOptions); LCS tables default to bloom_filter_fp_chance 0.1 "
         "(CompactionParams.defaultBloomFilterFbChance)",
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH compaction = {'class': 'Foo'}",
               "ConfigurationException",
               "Unable to find compaction strategy class 'org.apache.cassandra.db.compaction.Foo'"),
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH compaction = {'max_threshold': '4'}",
               "ConfigurationException", "Missing sub-option 'class' for the 'compaction' option"),
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH compaction = "
               "{'class': 'SizeTieredCompactionStrategy', 'bogus': '1'}",
               "ConfigurationException",
               "Properties specified [bogus] are not understood by SizeTieredCompactionStrategy"),
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH compaction = "
               "{'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 'x'}",
               "ConfigurationException", "x is not a parsable int (base10) for sstable_size_in_mb"),
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH compaction = "
               "{'class': 'SizeTieredCompactionStrategy', 'min_threshold': '1'}",
               "ConfigurationException", "Min compaction threshold cannot be less than 2 (got 1)"),
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH compaction = "
               "{'class': 'SizeTieredCompactionStrategy', 'min_threshold': '8', "
               "'max_threshold': '4'}", "ConfigurationException",
               "Min compaction threshold (got 8) cannot be greater than max compaction "
               "threshold (got 4)"),
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH compaction = "
               "{'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'WEEKS'}",
               "ConfigurationException", "WEEKS is not valid for compaction_window_unit"),
         Ok("CREATE TABLE t2 (k int PRIMARY KEY) WITH compaction = "
            "{'class': 'org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy', "
            "'compaction_window_unit': 'DAYS', 'compaction_window_size': '1'}"),
         Ok("CREATE TABLE t3 (k int PRIMARY KEY) WITH compaction = "
            "{'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': '160'}"),
         Ok("CREATE TABLE t4 (k int PRIMARY KEY) WITH compaction = "
            "{'class': 'UnifiedCompactionStrategy', 'scaling_parameters': 'T4'}"),
         Rows("SELECT compaction FROM system_schema.tables WHERE keyspace_name = '{ks}' "
              "AND table_name = 't3'",
              [({"class": "org.apache.cassandra.db.compaction.LeveledCompactionStrategy",
                 "max_threshold": "32", "min_threshold": "4", "sstable_size_in_mb": "160"},)]),
         Rows("SELECT table_name, bloom_filter_fp_chance FROM system_schema.tables "
              "WHERE keyspace_name = '{ks}' AND table_name IN ('t2', 't3')",
              [("t2", 0.01), ("t3", 0.1)], ordered=False)),
    Case("compression_options", "compression: {} and {'enabled': 'false'} disable it, "
         "known compressor classes, chunk_length_in_kb a power of two, unknown sub-options "
         "refused (CompressionParams)",
         Ok("CREATE TABLE t1 (k int PRIMARY KEY) WITH compression = {}"),
         Ok("CREATE TABLE t2 (k int PRIMARY KEY) WITH compression = {'enabled': 'false'}"),
         Ok("CREATE TABLE t3 (k int PRIMARY KEY) WITH compression = "
            "{'class': 'ZstdCompressor', 'compression_level': '3'}"),
         Ok("CREATE TABLE t4 (k int PRIMARY KEY) WITH compression = "
            "{'class': 'org.apache.cassandra.io.compress.DeflateCompressor', "
            "'chunk_length_in_kb': '64'}"),
         Rows("SELECT compression FROM system_schema.tables WHERE keyspace_name = '{ks}' "
              "AND table_name = 't2'", [({"enabled": "false"},)]),
         Error("CREATE TABLE t5 (k int PRIMARY KEY) WITH compression = {'class': 'Foo'}",
               "ConfigurationException",
               "Could not create Compression for type org.apache.cassandra.io.compress.Foo"),
         Error("CREATE TABLE t5 (k int PRIMARY KEY) WITH compression = "
               "{'class': 'LZ4Compressor', 'chunk_length_in_kb': '3'}",
               "ConfigurationException", "chunk_length_in_kb must be a power of 2"),
         Error("CREATE TABLE t5 (k int PRIMARY KEY) WITH compression = "
               "{'class': 'SnappyCompressor', 'bogus': '1'}",
               "ConfigurationException", "Unknown compression options: ([bogus])")),
    Case("table_option_bounds", "TableParams.validate bounds: default_time_to_live at most "
         "20 years, non-negative ints, 32-bit ints (PropertyDefinitions.getInt), unknown "
         "property",
         Error("CREATE TABLE t1 (k int PRIMARY KEY) WITH default_time_to_live = 630720001",
               "ConfigurationException",
               "default_time_to_live must be less than or equal to 630720000 (got 630720001)"),
         Ok("CREATE TABLE t1 (k int PRIMARY KEY) WITH default_time_to_live = 630720000"),
         Error("ALTER TABLE t1 WITH memtable_flush_period_in_ms = -1",
               "ConfigurationException",
               "memtable_flush_period_in_ms must be greater than or equal to 0 (got -1)"),
         Error("ALTER TABLE t1 WITH gc_grace_seconds = 9999999999", "SyntaxException",
               "Invalid integer value 9999999999 for 'gc_grace_seconds'"),
         Error("ALTER TABLE t1 WITH min_index_interval = 0", "ConfigurationException",
               "min_index_interval must be greater than or equal to 1 (got 0)"),
         Error("ALTER TABLE t1 WITH crc_check_chance = 1.5", "ConfigurationException",
               "crc_check_chance must be larger than or equal to 0 and smaller than or equal to "
               "1.0 (got 1.5)"),
         Error("ALTER TABLE t1 WITH bloom_filter_fp_chance = 0.0000001", "ConfigurationException",
               "bloom_filter_fp_chance must be larger than 6.71E-5 and less than or equal to 1.0 "
               "(got 1.0E-7)"),
         Error("ALTER TABLE t1 WITH nope = 1", "SyntaxException", "Unknown property 'nope'")),
    Case("speculative_retry_forms", "speculative_retry as SpeculativeRetryPolicy.fromString "
         "reads it and prints it back (Xp, Xpercentile, Xms, ALWAYS, NEVER/NONE, MIN/MAX)",
         Ok("CREATE TABLE t1 (k int PRIMARY KEY) WITH speculative_retry = '99.0PERCENTILE'"),
         Ok("CREATE TABLE t2 (k int PRIMARY KEY) WITH speculative_retry = 'max(50ms, 95p)' "
            "AND additional_write_policy = 'none'"),
         Rows("SELECT table_name, speculative_retry, additional_write_policy "
              "FROM system_schema.tables WHERE keyspace_name = '{ks}'",
              [("t1", "99p", "99p"), ("t2", "MAX(95p,50ms)", "NEVER")], ordered=False),
         Error("ALTER TABLE t1 WITH speculative_retry = '100p'", "ConfigurationException",
               "Invalid value 100p for PERCENTILE option 'speculative_retry': must be between "
               "(0.0 and 100.0)"),
         Error("ALTER TABLE t1 WITH speculative_retry = 'often'", "ConfigurationException",
               "Invalid value often for option 'speculative_retry'"),
         Error("ALTER TABLE t1 WITH caching = {'rows_per_partition': 'some'}",
               "ConfigurationException",
               "Invalid value 'some' for caching sub-option 'rows_per_partition': only 'ALL', "
               "'NONE', and integer values are allowed")),
    Case("duration_literals", "duration literals: standard units (µs, us, ns), ISO 8601 forms "
         "and negatives, with Duration.Builder's order, repetition and overflow errors",
         Ok("CREATE TABLE t (k int PRIMARY KEY, d duration)"),
         Ok("INSERT INTO t (k, d) VALUES (1, 1y2mo3w4d5h6m7s8ms9us10ns)"),
         Rows("SELECT d FROM t WHERE k = 1", [(Duration(14, 25, 18367008009010),)]),
         Ok("INSERT INTO t (k, d) VALUES (2, -P1Y2M)"),
         Rows("SELECT d FROM t WHERE k = 2", [(Duration(-14, 0, 0),)]),
         Ok("INSERT INTO t (k, d) VALUES (3, 5µs)"),
         Rows("SELECT d FROM t WHERE k = 3", [(Duration(0, 0, 5000),)]),
         Ok("INSERT INTO t (k, d) VALUES (4, P0001-02-03T04:05:06)"),
         Rows("SELECT d FROM t WHERE k = 4", [(Duration(14, 3, 14706 * 10**9),)]),
         Ok("INSERT INTO t (k, d) VALUES (5, 'P2W')"),
         Rows("SELECT d FROM t WHERE k = 5", [(Duration(0, 14, 0),)]),
         Error("INSERT INTO t (k, d) VALUES (1, 1m1h)", "InvalidRequest",
               "Invalid duration. The minutes should be after hours"),
         Error("INSERT INTO t (k, d) VALUES (1, 1h1h)", "InvalidRequest",
               "Invalid duration. The hours are specified multiple times"),
         Error("INSERT INTO t (k, d) VALUES (1, 3000000000mo)", "InvalidRequest",
               "Invalid duration. The total number of months must be less or equal to "
               "2147483647"),
         Error("INSERT INTO t (k, d) VALUES (1, 9223372036854775807d)", "InvalidRequest",
               "Invalid duration. The total number of days must be less or equal to "
               "2147483647"),
         Error("INSERT INTO t (k, d) VALUES (1, 99999999999999999999ns)", "InvalidRequest",
               "Invalid duration. The total number of nanoseconds must be less or equal to "
               "2147483647"),
         Error("INSERT INTO t (k, d) VALUES (1, 'P1Y2W')", "InvalidRequest",
               "Unable to convert 'P1Y2W' to a duration")),
    Case("duration_bound_values", "bound durations are validated as DurationSerializer does",
         Check(_bound_duration_refused, "32-bit months/days and one sign")),
    Case("statement_rules", "statement-level validation (ModificationStatement, "
         "SelectStatement, Attributes)",
         Ok("CREATE TABLE t (k int, c int, v int, l list<int>, PRIMARY KEY (k, c))"),
         Error("INSERT INTO t (k, c, v, v) VALUES (1, 1, 1, 1)", "InvalidRequest",
               "The column names contains duplicates"),
         Error("INSERT INTO t (k, v) VALUES (1, 1)", "InvalidRequest",
               "Some clustering keys are missing: c"),
         Error("UPDATE t SET c = 2 WHERE k = 1 AND c = 1", "InvalidRequest",
               "PRIMARY KEY part c found in SET part"),
         Error("INSERT INTO t (k, c, v) VALUES (1, 1, 1) USING TTL -1", "InvalidRequest",
               "A TTL must be greater or equal to 0, but was -1"),
         Error("INSERT INTO t (k, c, v) VALUES (1, 1, 1) USING TTL 630720001", "InvalidRequest",
               "ttl is too large. requested (630720001) maximum (630720000)"),
         Error("SELECT * FROM t LIMIT 0", "InvalidRequest", "LIMIT must be strictly positive"),
         Error("SELECT * FROM t PER PARTITION LIMIT -1", "InvalidRequest",
               "PER PARTITION LIMIT must be strictly positive"),
         Error("SELECT * FROM t WHERE k = 1 AND v CONTAINS 1 ALLOW FILTERING", "InvalidRequest",
               "Cannot use CONTAINS on non-collection column v"),
         Error("SELECT * FROM t WHERE k = 1 AND l CONTAINS KEY 1 ALLOW FILTERING",
               "InvalidRequest", "Cannot use CONTAINS KEY on non-map column l"),
         Error("UPDATE t SET v[1] = 1 WHERE k = 1 AND c = 1", "InvalidRequest",
               "Invalid operation (v[?] = ?) for non map column v"),
         Error("SELECT * FROM t WHERE k = 1 AND l = [1] ALLOW FILTERING", "InvalidRequest",
               "Collection column 'l' (list<int>) cannot be restricted by a '=' relation"),
         Error("SELECT DISTINCT k FROM t PER PARTITION LIMIT 1", "InvalidRequest",
               "PER PARTITION LIMIT is not allowed with SELECT DISTINCT queries"),
         Error("DELETE FROM t USING TTL 5 WHERE k = 1", "SyntaxException",
               "mismatched input 'TTL' expecting K_TIMESTAMP"),
         Error("BEGIN BATCH USING TTL 5 INSERT INTO t (k, c, v) VALUES (1, 1, 1); APPLY BATCH",
               "InvalidRequest", "Global TTL on the BATCH statement is not supported.")),
    Case("duration_collections", "durations may not be set elements nor map keys "
         "(CQL3Type.Raw.RawCollection); lists and map values are fine",
         Error("CREATE TABLE t1 (k int PRIMARY KEY, m map<duration, int>)", "InvalidRequest",
               "Durations are not allowed as map keys: map<duration, int>"),
         Error("CREATE TABLE t1 (k int PRIMARY KEY, s frozen<set<duration>>)", "InvalidRequest",
               "Durations are not allowed inside sets: frozen<set<duration>>"),
         Error("CREATE TYPE ut (a set<duration>)", "InvalidRequest",
               "Durations are not allowed inside sets: set<duration>"),
         Ok("CREATE TABLE t2 (k int PRIMARY KEY, l list<duration>, m map<text, duration>)"),
         Error("ALTER TABLE t2 ADD s set<duration>", "InvalidRequest",
               "Durations are not allowed inside sets: set<duration>"),
         Ok("ALTER TABLE t2 ADD d duration"),
         Error("SELECT * FROM t2 WHERE d > 1h ALLOW FILTERING", "InvalidRequest",
               "Slice restrictions are not supported on duration columns"),
         Rows("SELECT * FROM t2 WHERE d = 1h ALLOW FILTERING", [])),
    Case("empty_bound_values", "an empty value bound where a number is needed is Invalid",
         Check(_empty_bound_limit_refused, "LIMIT ? and USING TTL ? with 0 bytes")),
]
