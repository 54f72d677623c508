"""Validation as Cassandra validates, in the pure cores: durations (Duration.Builder), key
sizes, bound-value serializer messages, empty numbers, CAST of non-finite floats and table
option sub-options. The same rules are pinned end to end by tests/conformance/cases_validation.py.
"""

from __future__ import annotations

import struct

import pytest

from skewless import errors
from skewless.cql import ast, fixed, key_sizes
from skewless.cql.selection import _convert_number
from skewless.cql.types import parse_type
from skewless.cql.types_base import Duration
from skewless.cql.types_temporal import vint_pack
from skewless.cql.types_values import parse_duration, parse_timestamp
from skewless.node.schema import table_options

NS_H = 3600 * 10**9


@pytest.mark.parametrize(("text", "want"), [
    ("1h30m", Duration(0, 0, 90 * 60 * 10**9)),
    ("1y2mo3w4d5h6m7s8ms9us10ns", Duration(14, 25, 18367008009010)),
    ("5µs", Duration(0, 0, 5000)),
    ("5US", Duration(0, 0, 5000)),
    ("-2d10ms", Duration(0, -2, -(10**7))),
    ("P1Y2M3DT4H5M6S", Duration(14, 3, 4 * NS_H + 306 * 10**9)),
    ("P2W", Duration(0, 14, 0)),
    ("-P0001-02-03T04:05:06", Duration(-14, -3, -(4 * NS_H + 306 * 10**9))),
    ("PT", Duration(0, 0, 0)),
    ("2147483647d", Duration(0, 2**31 - 1, 0)),
])
def test_duration_forms(text: str, want: Duration) -> None:
    assert parse_duration(text) == want


@pytest.mark.parametrize(("text", "message"), [
    ("1m1h", "Invalid duration. The minutes should be after hours"),
    ("1d1y", "Invalid duration. The days should be after years"),
    ("1h1h", "Invalid duration. The hours are specified multiple times"),
    ("3000000000mo", "Invalid duration. The total number of months must be less or equal to "
                     "2147483647"),
    ("178956971y", "Invalid duration. The total number of months must be less or equal to "
                   "2147483647"),
    ("2147483648d", "Invalid duration. The total number of days must be less or equal to "
                    "2147483647"),
    ("99999999999999999999ns", "Invalid duration. The total number of nanoseconds must be less "
                               "or equal to 2147483647"),
    ("P1Y2W", "Unable to convert 'P1Y2W' to a duration"),
    ("p1d", "Unable to convert 'p1d' to a duration"),
    ("1parsec", "Unable to convert '1parsec' to a duration"),
])
def test_duration_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.") + "$"):
        parse_duration(text)


def _duration_bytes(months: int, days: int, nanos: int) -> bytes:
    return vint_pack(months) + vint_pack(days) + vint_pack(nanos)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "Expected at least 3 bytes for a duration (0)"),
    (b"\x00", "Expected at least 3 bytes for a duration (1)"),
    (_duration_bytes(2**40, 1, 0), f"The duration months must be a 32 bits integer but was: "
                                   f"{2**40}"),
    (_duration_bytes(0, -(2**40), 0), f"The duration days must be a 32 bits integer but was: "
                                      f"{-(2**40)}"),
    (_duration_bytes(-2, 0, 2000000), "The duration months, days and nanoseconds must be all of "
                                      "the same sign (-2, 0, 2000000)"),
])
def test_bound_duration_refused(data: bytes, message: str) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        parse_type("duration").validate(data)
    assert e.value.message == message


def test_duration_literal_over_64_bits_is_invalid_not_an_assertion() -> None:
    const = ast.Constant("duration", "9999999999999999999999mo")
    with pytest.raises(errors.InvalidRequest, match="total number of months"):
        parse_type("duration").from_constant(const, "d")


def test_partition_key_sizes() -> None:
    assert key_sizes.routed_key([b"x" * 65535]) == b"x" * 65535
    with pytest.raises(errors.InvalidRequest) as e:
        key_sizes.routed_key([b"x" * 70000])
    assert e.value.message == "Key length of 70000 is longer than maximum of 65535"
    with pytest.raises(errors.InvalidRequest) as e:
        key_sizes.routed_key([b"y" * 40000, b"z" * 40000])
    assert e.value.message == "Key length of 80006 is longer than maximum of 65535"


def test_clustering_sizes() -> None:
    key_sizes.check_clustering([b"x" * 65535, b""])
    with pytest.raises(errors.InvalidRequest) as e:
        key_sizes.check_clustering([b"a", b"x" * 70000])
    assert e.value.message == "Key length of 70001 is longer than maximum of 65535"


@pytest.mark.parametrize(("type_text", "data", "message"), [
    ("int", b"\x01", "Expected 4 or 0 byte int (1)"),
    ("bigint", b"\x01", "Expected 8 or 0 byte long (1)"),
    ("smallint", b"\x01\x02\x03", "Expected 2 bytes for a smallint (3)"),
    ("smallint", b"", "Expected 2 bytes for a smallint (0)"),
    ("tinyint", b"", "Expected 1 byte for a tinyint (0)"),
    ("float", b"\x01", "Expected 4 or 0 byte value for a float (1)"),
    ("double", b"\x01", "Expected 8 or 0 byte value for a double (1)"),
    ("boolean", b"\x01\x02", "Expected 1 or 0 byte value (2)"),
    ("uuid", b"\x01", "UUID should be 16 or 0 bytes (1)"),
    ("timeuuid", b"\x01" * 16, "Invalid version for TimeUUID type."),
    ("timestamp", b"\x01", "Expected 8 or 0 byte long for date (1)"),
    ("date", b"", "Expected 4 byte long for date (0)"),
    ("time", b"\x01", "Expected 8 byte long for time (1)"),
    ("inet", b"\x01\x02", "Expected 4 or 16 byte inetaddress; got 0102"),
    ("text", b"\xff", "String didn't validate."),
    ("ascii", b"a\xc3", "Invalid byte for ascii: -61"),
    ("decimal", b"\x00", "Expected 0 or at least 4 bytes (1)"),
])
def test_bound_value_messages(type_text: str, data: bytes, message: str) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        parse_type(type_text).validate(data)
    assert e.value.message == message


def test_empty_numbers_refused_where_a_number_is_needed() -> None:
    assert fixed.unpack(">i", struct.pack(">i", -5), "LIMIT") == -5
    with pytest.raises(errors.InvalidRequest, match="Invalid empty value for LIMIT"):
        fixed.unpack(">i", b"", "LIMIT")


def test_timestamp_literal_beyond_64_bits_refused() -> None:
    with pytest.raises(ValueError, match="Unable to parse a date/time"):
        parse_timestamp("-9223372036854775809")
    assert parse_timestamp("-9223372036854775808") == -(2**63)


@pytest.mark.parametrize(("value", "target", "want"), [
    (float("inf"), "int", 2**31 - 1), (float("-inf"), "int", -(2**31)),
    (float("nan"), "bigint", 0), (float("inf"), "bigint", 2**63 - 1),
    (float("inf"), "smallint", -1), (float("-inf"), "tinyint", 0),
])
def test_cast_of_non_finite_follows_java(value: float, target: str, want: int) -> None:
    assert _convert_number(value, target) == want


def test_cast_of_non_finite_to_varint_refused() -> None:
    with pytest.raises(errors.InvalidRequest, match="Cannot convert inf to varint"):
        _convert_number(float("inf"), "varint")


def _merge(name: str, value: ast.OptionValue) -> dict[str, object]:
    return dict(table_options.merge(table_options.default_items(), ((name, value),)))


def _refused(name: str, value: ast.OptionValue) -> errors.CqlError:
    with pytest.raises(errors.CqlError) as e:
        _merge(name, value)
    return e.value


def test_compaction_strategies() -> None:
    lcs = _merge("compaction", (("class", "LeveledCompactionStrategy"),
                                ("sstable_size_in_mb", "160")))
    assert dict(lcs["compaction"]) == {  # type: ignore[call-overload]
        "class": "org.apache.cassandra.db.compaction.LeveledCompactionStrategy",
        "max_threshold": "32", "min_threshold": "4", "sstable_size_in_mb": "160"}
    _merge("compaction", (("class", "org.apache.cassandra.db.compaction."
                                    "TimeWindowCompactionStrategy"),
                          ("compaction_window_unit", "HOURS")))
    _merge("compaction", (("class", "UnifiedCompactionStrategy"), ("scaling_parameters", "T4")))


@pytest.mark.parametrize(("options", "kind", "message"), [
    ((("class", "Foo"),), errors.ConfigurationException,
     "Unable to find compaction strategy class 'org.apache.cassandra.db.compaction.Foo'"),
    ((("class", "SizeTieredCompactionStrategy"), ("bogus", "1")), errors.ConfigurationException,
     "Properties specified [bogus] are not understood by SizeTieredCompactionStrategy"),
    ((("class", "LeveledCompactionStrategy"), ("sstable_size_in_mb", "0")),
     errors.ConfigurationException, "sstable_size_in_mb must be larger than 0, but was 0"),
    ((("class", "SizeTieredCompactionStrategy"), ("tombstone_threshold", "-0.4")),
     errors.ConfigurationException, "tombstone_threshold must be greater than 0, but was "
                                    "-0.400000"),
    ((("class", "SizeTieredCompactionStrategy"), ("unchecked_tombstone_compaction", "maybe")),
     errors.ConfigurationException,
     "'unchecked_tombstone_compaction' should be either 'true' or 'false', not 'maybe'"),
    ((("class", "SizeTieredCompactionStrategy"), ("min_threshold", "x")),
     errors.ConfigurationException,
     "Invalid value x for 'min_threshold' compaction sub-option - must be an integer"),
])
def test_compaction_refused(options: tuple[tuple[str, str], ...], kind: type[errors.CqlError],
                            message: str) -> None:
    e = _refused("compaction", options)
    assert isinstance(e, kind) and e.message == message


def test_compression() -> None:
    assert _merge("compression", ())["compression"] == (("enabled", "false"),)
    assert _merge("compression", (("enabled", "false"),))["compression"] == (
        ("enabled", "false"),)
    zstd = _merge("compression", (("class", "ZstdCompressor"), ("compression_level", "3")))
    assert dict(zstd["compression"]) == {  # type: ignore[call-overload]
        "chunk_length_in_kb": "16", "class": "org.apache.cassandra.io.compress.ZstdCompressor",
        "compression_level": "3"}
    assert _refused("compression", (("class", "LZ4Compressor"), ("chunk_length_in_kb", "3"))
                    ).message == "chunk_length_in_kb must be a power of 2"
    assert _refused("compression", (("class", "DeflateCompressor"), ("level", "3"))
                    ).message == "Unknown compression options: ([level])"
    assert _refused("compression", (("class", "Foo"),)).message == \
        "Could not create Compression for type org.apache.cassandra.io.compress.Foo"


def test_table_option_bounds() -> None:
    assert _merge("default_time_to_live", "630720000")["default_time_to_live"] == 630720000
    e = _refused("default_time_to_live", "630720001")
    assert isinstance(e, errors.ConfigurationException)
    assert e.message == ("default_time_to_live must be less than or equal to 630720000 "
                         "(got 630720001)")
    e = _refused("gc_grace_seconds", "9999999999")
    assert isinstance(e, errors.SyntaxException)
    assert _refused("memtable_flush_period_in_ms", "-1").message == \
        "memtable_flush_period_in_ms must be greater than or equal to 0 (got -1)"


@pytest.mark.parametrize(("text", "want"), [
    ("99p", "99p"), ("99.0PERCENTILE", "99p"), ("99.95p", "99.95p"), ("50.5ms", "50ms"),
    ("always", "ALWAYS"), ("none", "NEVER"), ("NEVER", "NEVER"),
    ("max(50ms, 95p)", "MAX(95p,50ms)"), ("MIN(99p,50ms)", "MIN(99p,50ms)"),
])
def test_speculative_retry_forms(text: str, want: str) -> None:
    assert _merge("speculative_retry", text)["speculative_retry"] == want
    assert _merge("additional_write_policy", text)["additional_write_policy"] == want


@pytest.mark.parametrize(("text", "message"), [
    ("100p", "Invalid value 100p for PERCENTILE option 'speculative_retry': must be between "
             "(0.0 and 100.0)"),
    ("foo", "Invalid value foo for option 'speculative_retry'"),
    ("MIN(99p,95p)", "Invalid value MIN(99p,95p) for option 'speculative_retry'"),
])
def test_speculative_retry_refused(text: str, message: str) -> None:
    e = _refused("speculative_retry", text)
    assert isinstance(e, errors.ConfigurationException) and e.message == message


def test_caching_messages() -> None:
    assert _refused("caching", (("keys", "ALL"), ("rows", "1"))).message == (
        "Invalid caching sub-options [rows]: only 'keys' and 'rows_per_partition' are allowed")
    assert _refused("caching", (("rows_per_partition", "some"),)).message == (
        "Invalid value 'some' for caching sub-option 'rows_per_partition': only 'ALL', 'NONE', "
        "and integer values are allowed")
    assert _merge("caching", (("rows_per_partition", "10"),))["caching"] == (
        ("keys", "ALL"), ("rows_per_partition", "10"))


@pytest.mark.parametrize(("value", "got"), [("0.0000001", "1.0E-7"), ("1.1", "1.1"), ("0", "0.0")])
def test_bloom_filter_fp_chance_bounds(value: str, got: str) -> None:
    e = _refused("bloom_filter_fp_chance", value)
    assert isinstance(e, errors.ConfigurationException)
    assert e.message == (f"bloom_filter_fp_chance must be larger than 6.71E-5 and less than or "
                         f"equal to 1.0 (got {got})")
    assert _merge("bloom_filter_fp_chance", "0.1")["bloom_filter_fp_chance"] == 0.1


def test_nan_table_doubles_refused_not_asserted() -> None:
    assert "(got NaN)" in _refused("bloom_filter_fp_chance", "NaN").message
    assert "(got Infinity)" in _refused("crc_check_chance", "Infinity").message
