"""Generated and mutated CQL for the bad-input tests (hypothesis strategies).

A statement is drawn from templates over one schema (``SCHEMA``) whose table ``t`` has a column
of every kind of type; its holes are filled with literals, many of them malformed, out of range
or of the wrong type (``LITERALS``), and some statements are then mutated token by token.
Bound values are arbitrary bytes, nulls and unset values. The point is not valid CQL: it is
every kind of invalid CQL a client could send, each of which must be answered with a result or
a client error, never ServerError.
"""

from __future__ import annotations

from hypothesis import strategies as st

SCHEMA = (
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TYPE ks.u (a int, b text)",
    "CREATE TABLE ks.t (k int, c text, v int, s text static, l list<int>, m map<text, int>, "
    "st set<text>, d duration, b blob, ts timestamp, u frozen<u>, tu tuple<int, text>, "
    "vi varint, de decimal, f float, db double, ip inet, uu uuid, tid timeuuid, da date, "
    "ti time, sm smallint, ty tinyint, bo boolean, PRIMARY KEY (k, c))",
    "CREATE TABLE ks.kv (k text PRIMARY KEY, v text)",
    "CREATE TABLE ks.cp (a int, b text, c int, d int, v int, PRIMARY KEY ((a, b), c, d))",
)

COLUMNS = ("k", "c", "v", "s", "l", "m", "st", "d", "b", "ts", "u", "tu", "vi", "de", "f", "db",
           "ip", "uu", "tid", "da", "ti", "sm", "ty", "bo", "nope")

LITERALS = (
    "1", "0", "-1", "'x'", "''", "null", "?", ":n", "[1, 2]", "[]", "[null]", "[[1]]", "{}",
    "{'a': 1}", "{'a': null}", "{'a'}", "{1}", "{null}", "{[1]: 2}", "(1, 'a')", "()", "(1)",
    "(1, 2, 3)", "{a: 1}", "{a: 1, zz: 2}", "1h", "-1h", "1h30m", "P1D", "'P1D'", "P1Y2W",
    "99999999999999999999ns", "3000000000mo", "1m1h", "0xff", "0x", "0xzz", "'2020-01-01'",
    "'not a date'", "'2020-13-45'", "'25:00:00'", "'12:00:00'", "'1.2.3.4'", "'1.2.3.999'",
    "'::1'", "now()", "uuid()", "toTimestamp(now())", "currentDate()", "2147483648",
    "-2147483649", "32768", "128", "12345678901234567890", "-9223372036854775809",
    "123456789012345678901234567890", "1.5", "1e400", "-0.0", "NaN", "-Infinity", "true",
    "'é'", "$$x$$", "token(1)", "[?]", "{?: ?}", "(?, ?)",
)

FUNCTIONS = ("count", "max", "min", "sum", "avg", "writetime", "ttl", "toJson", "token",
             "blobAsInt", "intAsBlob", "toDate", "toTimestamp", "toUnixTimestamp", "dateOf",
             "unixTimestampOf", "minTimeuuid", "maxTimeuuid", "textAsBlob", "blobAsText", "abs",
             "round", "uuid", "now", "map_keys", "collection_count", "nosuchfunction")

TYPES = ("int", "text", "bigint", "blob", "double", "varint", "ascii", "timestamp", "date",
         "frozen<list<int>>", "duration", "counter", "list<int>", "map<duration, int>",
         "set<duration>", "tuple<int>", "u", "frozen<u>", "zz", "vector<float, 3>")

TABLE_OPTIONS = ("comment", "gc_grace_seconds", "compaction", "compression", "caching",
                 "default_time_to_live", "speculative_retry", "bloom_filter_fp_chance",
                 "crc_check_chance", "memtable_flush_period_in_ms", "min_index_interval",
                 "extensions", "cdc", "read_repair", "nope")

JSON_VALUES = ('1', '"x"', '[1]', '{}', 'null', '1.5', '"P1D"', '{"a": 1}', 'true', '[[1]]',
               '"0xzz"', '"2020-99-99"', '1e999', '[1, "a"]', '{"zz": 1}')

# Each template takes: col, col2, lit, lit2, fn, type_, option, op, json.
TEMPLATES = (
    "INSERT INTO t (k, c, {col}) VALUES (1, 'a', {lit})",
    "INSERT INTO t (k, c, {col}) VALUES ({lit2}, 'a', {lit})",
    "INSERT INTO t (k, c, {col}) VALUES (?, ?, ?)",
    "INSERT INTO t (k, c, {col}, {col2}) VALUES (1, {lit}, {lit2}, 1)",
    "UPDATE t SET {col} = {lit} WHERE k = 1 AND c = 'a'",
    "UPDATE t SET {col} = {col} + {lit} WHERE k = 1 AND c = 'a'",
    "UPDATE t SET {col} = {lit} - {col} WHERE k = 1 AND c = 'a'",
    "UPDATE t SET {col}[{lit2}] = {lit} WHERE k = 1 AND c = 'a'",
    "UPDATE t SET {col}.a = {lit} WHERE k = 1 AND c {op} {lit2}",
    "UPDATE t USING TTL {lit} AND TIMESTAMP {lit2} SET v = 1 WHERE k = 1 AND c = 'a'",
    "DELETE {col}[{lit}] FROM t WHERE k = 1 AND c = 'a'",
    "DELETE {col} FROM t WHERE k = 1 AND c {op} {lit}",
    "DELETE FROM cp WHERE a = {lit} AND b = 'x' AND (c, d) {op} {lit2}",
    "SELECT * FROM t WHERE k = 1 AND {col} {op} {lit} ALLOW FILTERING",
    "SELECT {fn}({col}) FROM t WHERE k = 1",
    "SELECT {fn}({lit}), {fn}({col}, {lit2}) FROM t WHERE k = 1",
    "SELECT CAST({col} AS {type_}) FROM t WHERE k = 1",
    "SELECT {col}[{lit}], {col2}.a FROM t WHERE k = 1",
    "SELECT * FROM t WHERE token(k) {op} {lit}",
    "SELECT * FROM t WHERE k = {lit} LIMIT {lit2}",
    "SELECT * FROM t WHERE k IN ({lit}, {lit2}) ORDER BY {col} DESC",
    "SELECT * FROM t WHERE k = 1 PER PARTITION LIMIT {lit} LIMIT {lit2}",
    "SELECT DISTINCT {col} FROM t WHERE k = 1 GROUP BY {col2}",
    "SELECT JSON {col} FROM t WHERE k = 1 AND c {op} {lit}",
    "SELECT * FROM cp WHERE a = 1 AND b = 'x' AND (c, d) {op} {lit}",
    "INSERT INTO t JSON {lit}",
    "INSERT INTO t JSON '{{\"k\": 1, \"c\": \"a\", \"{col}\": {json}}}'",
    "INSERT INTO t (k, c, v) VALUES (1, 'a', 1) USING TTL {lit} AND TIMESTAMP {lit2}",
    "CREATE TABLE IF NOT EXISTS x (a {type_} PRIMARY KEY, b {type_}) WITH {option} = {lit}",
    "ALTER TABLE t WITH {option} = {lit}",
    "ALTER TABLE t ADD {col} {type_}",
    "CREATE TYPE IF NOT EXISTS ut (a {type_}, b {type_})",
    "CREATE INDEX IF NOT EXISTS ON t ({fn}({col}))",
    "BEGIN BATCH USING TIMESTAMP {lit} INSERT INTO t (k, c, {col}) VALUES (1, 'a', {lit2}); "
    "DELETE FROM t WHERE k = {lit}; APPLY BATCH",
    "BEGIN COUNTER BATCH UPDATE t SET {col} = {col} + {lit} WHERE k = 1 AND c = 'a'; "
    "APPLY BATCH",
)

OPERATORS = ("=", ">", "<=", "IN", "CONTAINS", "CONTAINS KEY", "!=", "LIKE")
TOKENS = ("(", ")", ",", "'", '"', "?", "[", "]", "{", "}", "<", ">", "=", "AND", "WHERE",
          "token(", "*", ".", ";", "IN", "LIMIT", "IF", "IF EXISTS", "IF NOT EXISTS", "--",
          "/*", "\\", "\x00", "\u2028", "frozen<", "JSON", "USING TTL 1", "ALLOW FILTERING")


@st.composite
def statements(draw: st.DrawFn) -> str:
    """One generated statement, sometimes mutated token by token."""
    text = draw(st.sampled_from(TEMPLATES)).format(
        col=draw(st.sampled_from(COLUMNS)), col2=draw(st.sampled_from(COLUMNS)),
        lit=draw(st.sampled_from(LITERALS)), lit2=draw(st.sampled_from(LITERALS)),
        fn=draw(st.sampled_from(FUNCTIONS)), type_=draw(st.sampled_from(TYPES)),
        option=draw(st.sampled_from(TABLE_OPTIONS)), op=draw(st.sampled_from(OPERATORS)),
        json=draw(st.sampled_from(JSON_VALUES)))
    words = text.split(" ")
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        at = draw(st.integers(0, len(words)))
        how = draw(st.sampled_from(("insert", "replace", "delete")))
        if how == "insert" or at == len(words):
            words.insert(at, draw(st.sampled_from(TOKENS + LITERALS)))
        elif how == "replace":
            words[at] = draw(st.sampled_from(TOKENS + LITERALS))
        elif len(words) > 1:
            del words[at]
    return " ".join(words)


def bound_values() -> st.SearchStrategy[bytes | None]:
    """A serialized bound value: null, empty, or arbitrary bytes (mostly of the sizes the
    fixed-width types expect, so that some pass their size check and reach the decoders)."""
    sized = st.sampled_from((1, 2, 3, 4, 8, 9, 16, 17)).flatmap(
        lambda n: st.binary(min_size=n, max_size=n))
    return st.one_of(st.none(), st.just(b""), sized, st.binary(max_size=40))
