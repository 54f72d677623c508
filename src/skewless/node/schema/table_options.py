"""Table options (``WITH k = v``): Cassandra 5.0 defaults, validation and normalisation.

A ``TableDef.options`` holds every option of ``system_schema.tables`` (sorted by name), so the
row builder and DESCRIBE never need to know defaults. Map options are stored as sorted tuples of
string pairs (hashable, like the rest of the schema); ``as_python`` turns them into dicts.

Errors follow Cassandra: an unknown option is a SyntaxException "Unknown property 'x'" (what
``PropertyDefinitions.validate`` throws), bad values are ConfigurationException or SyntaxException
as in ``TableParams.validate`` / ``PropertyDefinitions.getInt``.
"""

from __future__ import annotations

from collections.abc import Mapping

from skewless import errors, limits
from skewless.cql import ast
from skewless.node.schema import table_subopts

Pairs = tuple[tuple[str, str], ...]
OptionItems = tuple[tuple[str, object], ...]

COMPACTION_PREFIX = table_subopts.COMPACTION_PREFIX
COMPRESSION_PREFIX = table_subopts.COMPRESSION_PREFIX
STCS = COMPACTION_PREFIX + "SizeTieredCompactionStrategy"
LZ4 = COMPRESSION_PREFIX + "LZ4Compressor"

DEFAULTS: dict[str, object] = {
    "additional_write_policy": "99p",
    "allow_auto_snapshot": True,
    "bloom_filter_fp_chance": 0.01,
    "caching": (("keys", "ALL"), ("rows_per_partition", "NONE")),
    "cdc": False,
    "comment": "",
    "compaction": (("class", STCS), ("max_threshold", "32"), ("min_threshold", "4")),
    "compression": (("chunk_length_in_kb", "16"), ("class", LZ4)),
    "crc_check_chance": 1.0,
    "default_time_to_live": 0,
    "extensions": (),
    "gc_grace_seconds": limits.gc_grace_seconds_default,
    "incremental_backups": True,
    "max_index_interval": 2048,
    "memtable": "default",
    "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128,
    "read_repair": "BLOCKING",
    "speculative_retry": "99p",
    # Skewless's own (see node.shadowing): 'fail' refuses a write newer data shadowed.
    "shadowed_writes": "warn",
    # Skewless's own (see node.ordered): stamp above the replicas' newest timestamp.
    "ordered_writes": False,
}

# BloomCalculations.minSupportedBloomFilterFpChance(): the best false-positive rate it can build.
BLOOM_FP_CHANCE_MIN = 6.71e-05

# Accepted and ignored, as Cassandra 4+ does (with a warning there).
OBSOLETE = frozenset({"dclocal_read_repair_chance", "read_repair_chance"})

# The CQL type of each option, as in system_schema.tables.
OPTION_TYPES: dict[str, str] = {
    "additional_write_policy": "text",
    "allow_auto_snapshot": "boolean",
    "bloom_filter_fp_chance": "double",
    "caching": "frozen<map<text, text>>",
    "cdc": "boolean",
    "comment": "text",
    "compaction": "frozen<map<text, text>>",
    "compression": "frozen<map<text, text>>",
    "crc_check_chance": "double",
    "default_time_to_live": "int",
    "extensions": "frozen<map<text, blob>>",
    "gc_grace_seconds": "int",
    "incremental_backups": "boolean",
    "max_index_interval": "int",
    "memtable": "text",
    "memtable_flush_period_in_ms": "int",
    "min_index_interval": "int",
    "read_repair": "text",
    "speculative_retry": "text",
    "shadowed_writes": "text",
    "ordered_writes": "boolean",
}

_INT_OPTIONS = frozenset(k for k, t in OPTION_TYPES.items() if t == "int")
_DOUBLE_OPTIONS = frozenset(k for k, t in OPTION_TYPES.items() if t == "double")
_BOOL_OPTIONS = frozenset(k for k, t in OPTION_TYPES.items() if t == "boolean")


def default_items() -> OptionItems:
    """Every option with its Cassandra 5.0 default, sorted by name."""
    return tuple(sorted(DEFAULTS.items()))


def merge(current: OptionItems, given: tuple[tuple[str, ast.OptionValue], ...]) -> OptionItems:
    """``current`` with the user's ``given`` options validated and applied (sorted by name)."""
    out = dict(current)
    for name, value in given:
        if name in OBSOLETE:
            continue
        if name not in DEFAULTS:
            raise errors.SyntaxException(f"Unknown property '{name}'")
        out[name] = _normalise(name, value)
    _check_relations(out)
    return tuple(sorted(out.items()))


def create(given: tuple[tuple[str, ast.OptionValue], ...]) -> OptionItems:
    """The options of a new table: defaults, then ``given``. As in Cassandra's TableParams, a
    table created with LeveledCompactionStrategy and no bloom_filter_fp_chance gets 0.1
    (CompactionParams.defaultBloomFilterFbChance), any other 0.01."""
    out = dict(merge(default_items(), given))
    compaction = dict(out["compaction"])  # type: ignore[call-overload]
    lcs = compaction.get("class") == COMPACTION_PREFIX + "LeveledCompactionStrategy"
    if lcs and not any(name == "bloom_filter_fp_chance" for name, _ in given):
        out["bloom_filter_fp_chance"] = 0.1
    return tuple(sorted(out.items()))


def as_python(value: object) -> object:
    """An option value as the row builder wants it: map options become dicts."""
    if isinstance(value, tuple):
        return {k: v for k, v in value}
    return value


def _normalise(name: str, value: ast.OptionValue) -> object:
    if name in _INT_OPTIONS:
        return _as_int(name, value)
    if name in _DOUBLE_OPTIONS:
        return _as_double(name, value)
    if name in _BOOL_OPTIONS:
        return _as_bool(name, value)
    if name == "caching":
        return _caching(_as_map(name, value))
    if name == "compaction":
        return table_subopts.compaction(_as_map(name, value))
    if name == "compression":
        return table_subopts.compression(_as_map(name, value))
    if name == "extensions":
        return tuple(sorted(_as_map(name, value).items()))
    if name in ("speculative_retry", "additional_write_policy"):
        return table_subopts.retry_policy(name, _as_str(name, value))
    if name == "read_repair":
        return _read_repair(_as_str(name, value))
    if name == "shadowed_writes":
        text = _as_str(name, value).lower()
        if text not in ("warn", "fail"):
            raise errors.ConfigurationException(
                f"Invalid value {text} for option 'shadowed_writes': 'warn' or 'fail'")
        return text
    return _as_str(name, value)


def _as_str(name: str, value: ast.OptionValue) -> str:
    if isinstance(value, tuple):
        raise errors.SyntaxException(f"Invalid value for property '{name}'. It should be a string")
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _as_map(name: str, value: ast.OptionValue) -> dict[str, str]:
    if not isinstance(value, tuple):
        raise errors.SyntaxException(f"Invalid value for property '{name}'. It should be a map.")
    return {str(k): str(v) for k, v in value}


def _as_int(name: str, value: ast.OptionValue) -> int:
    if isinstance(value, bool) or isinstance(value, (tuple, float)):
        raise errors.SyntaxException(f"Invalid integer value {_show(value)} for '{name}'")
    try:
        n = int(value)
    except ValueError:
        raise errors.SyntaxException(f"Invalid integer value {value} for '{name}'") from None
    if not -(2**31) <= n < 2**31:  # Integer.parseInt's range
        raise errors.SyntaxException(f"Invalid integer value {value} for '{name}'")
    if n < 0:
        raise errors.ConfigurationException(f"{name} must be greater than or equal to 0 (got {n})")
    if name == "default_time_to_live" and n > limits.cql_ttl_s_max:
        raise errors.ConfigurationException(
            f"{name} must be less than or equal to {limits.cql_ttl_s_max} (got {n})")
    return n


def _as_double(name: str, value: ast.OptionValue) -> float:
    if isinstance(value, (bool, tuple)):
        raise errors.SyntaxException(f"Invalid double value {_show(value)} for '{name}'")
    try:
        x = float(value)
    except ValueError:
        raise errors.SyntaxException(f"Invalid double value {value} for '{name}'") from None
    if name == "crc_check_chance" and not 0.0 <= x <= 1.0:
        raise errors.ConfigurationException(
            f"crc_check_chance must be larger than or equal to 0 and smaller than or equal to "
            f"1.0 (got {table_subopts.java_double(x)})")
    if name == "bloom_filter_fp_chance" and not BLOOM_FP_CHANCE_MIN < x <= 1.0:
        low, got = table_subopts.java_double(BLOOM_FP_CHANCE_MIN), table_subopts.java_double(x)
        raise errors.ConfigurationException(
            f"bloom_filter_fp_chance must be larger than {low} and less than or equal to 1.0 "
            f"(got {got})")
    return x


def _as_bool(name: str, value: ast.OptionValue) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text not in ("true", "false"):
        raise errors.SyntaxException(f"Invalid boolean value {_show(value)} for '{name}'")
    return text == "true"


def _show(value: ast.OptionValue) -> str:
    if isinstance(value, tuple):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value) + "}"
    return str(value)


def _caching(given: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    out = {"keys": "ALL", "rows_per_partition": "NONE"}
    unknown = [k for k in given if k not in out]
    if unknown:
        raise errors.ConfigurationException(
            f"Invalid caching sub-options [{', '.join(unknown)}]: only 'keys' and "
            f"'rows_per_partition' are allowed")
    for k, v in given.items():
        out[k] = v.upper() if v.upper() in ("ALL", "NONE") else v
    if out["keys"] not in ("ALL", "NONE"):
        raise errors.ConfigurationException(
            f"Invalid value '{out['keys']}' for caching sub-option 'keys': only 'ALL' and "
            f"'NONE' are allowed")
    rows = out["rows_per_partition"]
    if rows not in ("ALL", "NONE") and not rows.isdigit():
        raise errors.ConfigurationException(
            f"Invalid value '{rows}' for caching sub-option 'rows_per_partition': only 'ALL', "
            f"'NONE', and integer values are allowed")
    return tuple(sorted(out.items()))


def _read_repair(text: str) -> str:
    upper = text.upper()
    if upper not in ("BLOCKING", "NONE"):
        raise errors.ConfigurationException(
            f"Invalid value {text} for option 'read_repair': only 'BLOCKING' and 'NONE' are "
            f"allowed")
    return upper


def _check_relations(options: Mapping[str, object]) -> None:
    lo, hi = options["min_index_interval"], options["max_index_interval"]
    assert isinstance(lo, int) and isinstance(hi, int)
    if lo < 1:
        raise errors.ConfigurationException(
            f"min_index_interval must be greater than or equal to 1 (got {lo})")
    if hi < lo:
        raise errors.ConfigurationException(
            f"max_index_interval must be greater than or equal to min_index_interval ({lo}) "
            f"(got {hi})")
