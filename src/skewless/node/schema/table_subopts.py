"""Sub-options of the map table options ``compaction`` and ``compression``, validated as
Cassandra 5.0 does (``CompactionParams`` with each strategy's ``validateOptions``, and
``CompressionParams.fromMap``), so that a typo is refused when the table is created rather than
stored and ignored.

Both answer ConfigurationException, as Cassandra does. Class names are accepted short
(``LeveledCompactionStrategy``) or fully qualified and are stored fully qualified.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal

from skewless import errors

COMPACTION_PREFIX = "org.apache.cassandra.db.compaction."
COMPRESSION_PREFIX = "org.apache.cassandra.io.compress."

Check = Callable[[str, str], None]


def _fail(message: str) -> errors.ConfigurationException:
    return errors.ConfigurationException(message)


def _int(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise _fail(f"{text} is not a parsable int (base10) for {name}") from None


def _float(name: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise _fail(f"{text} is not a parsable float for {name}") from None


def _boolean(name: str, text: str) -> None:
    if text.lower() not in ("true", "false"):
        raise _fail(f"'{name}' should be either 'true' or 'false', not '{text}'")


def _positive_int(name: str, text: str) -> None:
    if _int(name, text) <= 0:
        raise _fail(f"{name} must be larger than 0, but was {text}")


def _non_negative_int(name: str, text: str) -> None:
    if _int(name, text) < 0:
        raise _fail(f"{name} must be non negative: {text}")


def _positive_float(name: str, text: str) -> None:
    if _float(name, text) <= 0:
        raise _fail(f"{name} must be greater than 0, but was {_float(name, text):f}")


def _tombstone_interval(name: str, text: str) -> None:
    if _int(name, text) < 0:
        raise _fail(f"{name} must be positive, but was {text}")


def _text(name: str, text: str) -> None:
    return None


def _one_of(*allowed: str) -> Check:
    def check(name: str, text: str) -> None:
        if text.upper() not in allowed:
            raise _fail(f"{text} is not valid for {name}")
    return check


# AbstractCompactionStrategy.validateOptions (every strategy) and CompactionParams.
_COMMON: dict[str, Check] = {
    "enabled": _boolean,
    "tombstone_threshold": _positive_float,
    "tombstone_compaction_interval": _tombstone_interval,
    "unchecked_tombstone_compaction": _boolean,
    "only_purge_repaired_tombstones": _boolean,
    "log_all": _boolean,
    "provide_overlapping_tombstones": _one_of("NONE", "ROW", "CELL"),
    "min_threshold": _text,
    "max_threshold": _text,
}
_STCS: dict[str, Check] = {
    "min_sstable_size": _non_negative_int,
    "bucket_low": _positive_float,
    "bucket_high": _positive_float,
}
_LCS: dict[str, Check] = {
    "sstable_size_in_mb": _positive_int,
    "fanout_size": _positive_int,
    "single_sstable_uplevel": _boolean,
}
_TWCS: dict[str, Check] = {
    "compaction_window_unit": _one_of("MINUTES", "HOURS", "DAYS"),
    "compaction_window_size": _positive_int,
    "timestamp_resolution": _one_of(
        "NANOSECONDS", "MICROSECONDS", "MILLISECONDS", "SECONDS", "MINUTES", "HOURS", "DAYS"),
    "expired_sstable_check_frequency_seconds": _non_negative_int,
    "unsafe_aggressive_sstable_expiration": _boolean,
    **_STCS,
}
_UCS: dict[str, Check] = {
    "scaling_parameters": _text,
    "target_sstable_size": _text,
    "min_sstable_size": _text,
    "base_shard_count": _positive_int,
    "sstable_growth": _text,
    "flush_size_override": _text,
    "max_sstables_to_compact": _non_negative_int,
    "expired_sstable_check_frequency_seconds": _non_negative_int,
    "unsafe_aggressive_sstable_expiration": _boolean,
    "overlap_inclusion_method": _one_of("NONE", "SINGLE", "TRANSITIVE"),
    "survival_factor": _text,
}
STRATEGIES: dict[str, dict[str, Check]] = {
    "SizeTieredCompactionStrategy": _STCS,
    "LeveledCompactionStrategy": _LCS,
    "TimeWindowCompactionStrategy": _TWCS,
    "UnifiedCompactionStrategy": _UCS,
}


def compaction(given: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The ``compaction`` map validated, its class fully qualified, thresholds defaulted."""
    if "class" not in given:
        raise _fail("Missing sub-option 'class' for the 'compaction' option.")
    out = dict(given)
    klass = out["class"]
    full = klass if "." in klass else COMPACTION_PREFIX + klass
    short = full[len(COMPACTION_PREFIX):] if full.startswith(COMPACTION_PREFIX) else None
    if short not in STRATEGIES:
        raise _fail(f"Unable to find compaction strategy class '{full}'")
    checks = {**_COMMON, **STRATEGIES[short]}
    unknown = sorted(k for k in out if k != "class" and k not in checks)
    if unknown:
        raise _fail(f"Properties specified [{', '.join(unknown)}] are not understood by {short}")
    for name, value in out.items():
        if name != "class":
            checks[name](name, value)
    out["class"] = full
    if short != "UnifiedCompactionStrategy":
        out.setdefault("max_threshold", "32")
        out.setdefault("min_threshold", "4")
    _thresholds(out)
    return tuple(sorted(out.items()))


def _thresholds(options: Mapping[str, str]) -> None:
    """CompactionParams.validate: integer thresholds, 2 <= min <= max."""
    values = {}
    for name in ("min_threshold", "max_threshold"):
        if name in options:
            text = options[name]
            if not text.isdigit():
                raise _fail(f"Invalid value {text} for '{name}' compaction sub-option - must be "
                            f"an integer")
            values[name] = int(text)
    lo, hi = values.get("min_threshold", 4), values.get("max_threshold", 32)
    if lo == 0 or hi == 0:
        raise _fail("Disabling compaction by setting compaction thresholds to 0 has been "
                    "removed, set the compaction option 'enabled' to false instead.")
    if lo < 2:
        raise _fail(f"Min compaction threshold cannot be less than 2 (got {lo})")
    if lo > hi:
        raise _fail(f"Min compaction threshold (got {lo}) cannot be greater than max compaction "
                    f"threshold (got {hi})")


# The options each compressor understands (ICompressor.supportedOptions).
COMPRESSORS: dict[str, frozenset[str]] = {
    "LZ4Compressor": frozenset({"lz4_compressor_type", "lz4_high_compressor_level"}),
    "SnappyCompressor": frozenset(),
    "DeflateCompressor": frozenset(),
    "ZstdCompressor": frozenset({"compression_level"}),
    "NoopCompressor": frozenset(),
}
_COMPRESSION_COMMON = frozenset({
    "class", "chunk_length_in_kb", "chunk_length_kb", "crc_check_chance", "min_compress_ratio",
    "max_compressed_length", "enabled"})


def compression(given: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The ``compression`` map validated; ``{}`` or ``'enabled': 'false'`` mean no compression."""
    out = dict(given)
    enabled = out.get("enabled", "true").lower()
    if enabled not in ("true", "false"):
        raise _fail(f"Invalid value '{out['enabled']}' for the 'enabled' compression sub-option: "
                    f"only 'true' and 'false' are allowed")
    if not out or enabled == "false" or out.get("class") == "":
        return (("enabled", "false"),)
    out.pop("enabled", None)
    if "class" not in out:
        raise _fail("Missing sub-option 'class' for the 'compression' option.")
    klass = out["class"]
    full = klass if "." in klass else COMPRESSION_PREFIX + klass
    short = full[len(COMPRESSION_PREFIX):] if full.startswith(COMPRESSION_PREFIX) else None
    if short not in COMPRESSORS:
        raise _fail(f"Could not create Compression for type {full}")
    unknown = sorted(k for k in out if k not in _COMPRESSION_COMMON | COMPRESSORS[short])
    if unknown:
        raise _fail(f"Unknown compression options: ([{', '.join(unknown)}])")
    if "chunk_length_kb" in out:
        out["chunk_length_in_kb"] = out.pop("chunk_length_kb")
    _chunk_length(out.setdefault("chunk_length_in_kb", "16"))
    for name in ("min_compress_ratio", "crc_check_chance"):
        if name in out:
            _float(name, out[name])
    out["class"] = full
    return tuple(sorted(out.items()))


def _chunk_length(text: str) -> None:
    try:
        kb = int(text)
    except ValueError:
        raise _fail(f"Invalid value {text} for chunk_length_in_kb") from None
    if kb <= 0:
        raise _fail("Invalid negative or null chunk_length_in_kb")
    if kb & (kb - 1):
        raise _fail("chunk_length_in_kb must be a power of 2")


# SpeculativeRetryPolicy.fromString (speculative_retry and additional_write_policy).
_PERCENTILE = re.compile(r"^([0-9.]+)p(?:ercentile)?$", re.IGNORECASE)
_FIXED = re.compile(r"^([0-9.]+)ms$", re.IGNORECASE)
_HYBRID = re.compile(r"^(MIN|MAX)\(([0-9.]+[a-z]+)\s*,\s*([0-9.]+[a-z]+)\)$", re.IGNORECASE)


def retry_policy(name: str, text: str) -> str:
    """A speculative retry policy as Cassandra prints it back: ALWAYS, NEVER, 99p, 50ms,
    MIN(99p,50ms)."""
    upper = text.upper()
    if upper == "ALWAYS":
        return "ALWAYS"
    if upper in ("NEVER", "NONE"):
        return "NEVER"
    hybrid = _HYBRID.match(text)
    if hybrid:
        parts = [_simple_policy(name, text, p) for p in hybrid.group(2, 3)]
        kinds = {p.endswith("ms") for p in parts}
        if kinds != {True, False}:
            raise _fail(f"Invalid value {text} for option '{name}'")
        percentile, fixed = sorted(parts, key=lambda p: p.endswith("ms"))
        return f"{hybrid.group(1).upper()}({percentile},{fixed})"
    return _simple_policy(name, text, text)


def _simple_policy(name: str, whole: str, text: str) -> str:
    m = _PERCENTILE.match(text)
    if m:
        value = _policy_number(name, whole, m.group(1))
        if not 0.0 < value < 100.0:
            raise _fail(f"Invalid value {whole} for PERCENTILE option '{name}': must be between "
                        f"(0.0 and 100.0)")
        return f"{value:.4f}".rstrip("0").rstrip(".") + "p"
    m = _FIXED.match(text)
    if m:
        return f"{int(_policy_number(name, whole, m.group(1)))}ms"
    raise _fail(f"Invalid value {whole} for option '{name}'")


def _policy_number(name: str, whole: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _fail(f"Invalid value {whole} for option '{name}'") from None


def java_double(x: float) -> str:
    """``x`` as Java's Double.toString prints it (what Cassandra's messages show): plain
    between 1e-3 and 1e7, else the shortest digits as ``d.dddE-n``."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(float(x))
    sign, digits, exponent = Decimal(repr(float(x))).normalize().as_tuple()
    assert isinstance(exponent, int), x  # finite: NaN and infinities are handled above
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(text) - 1 + exponent}"
