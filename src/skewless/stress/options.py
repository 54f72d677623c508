"""The options of ``skewless stress``, parsed and checked once into a frozen ``StressOptions``.

Every run is bounded in count and in time: ``ops`` is always set (``--ops``, or
``limits.stress_ops_max`` when only ``--duration`` is given) and ``duration_s`` never exceeds
``limits.stress_run_s_max`` (which is also the bound of a run given only ``--ops``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from skewless import limits
from skewless.security.client import ClientSecurity

WORKLOADS = ("write", "read", "mixed")
OPERATIONS = ("write", "read")
KEY_DISTRIBUTIONS = ("seq", "uniform")
# The consistency levels a plain read or write may ask for (SERIAL ones are for LWTs only).
CONSISTENCY_LEVELS = (
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE",
)
KEYSPACE = "skewless_stress"
TABLE = "kv"
OPS_DEFAULT = 10_000  # when neither --ops nor --duration is given
RATIO_DEFAULT = (("write", 1), ("read", 1))

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True, slots=True)
class StressOptions:
    workload: str
    ops: int
    duration_s: float | None
    keys: int
    ratio: tuple[tuple[str, int], ...]
    concurrency: int
    consistency: str
    value_size: int
    replication_factor: int
    hosts: tuple[str, ...]
    port: int
    key_dist: str
    seed: int
    token_aware: bool
    server_timestamps: bool = False  # the nodes stamp writes (not the driver's clock)
    client: ClientSecurity = ClientSecurity()  # TLS and credentials (--ssl, -u/-p)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = dict(self.ratio)
        d["hosts"] = list(self.hosts)
        d["keyspace"] = KEYSPACE
        d["client"] = self.client.describe()  # never the password
        return d


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``30s``, ``2m``, ``1h``, ``500ms`` or a plain number of seconds."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r}: expected a duration such as 30s, 2m, 1h or 500ms")
    seconds = float(m.group(1)) * _DURATION_UNIT_S[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be above zero")
    if seconds > limits.stress_run_s_max:
        raise ValueError(f"{text!r}: at most {limits.stress_run_s_max} s")
    return seconds


def parse_ratio(text: str) -> tuple[tuple[str, int], ...]:
    """``write=1,read=3`` as ``(("write", 1), ("read", 3))``; weights are non-negative ints."""
    found: dict[str, int] = {}
    for part in text.split(","):
        name, sep, weight_text = part.strip().partition("=")
        name = name.strip().lower()
        if not sep or name not in OPERATIONS:
            raise ValueError(f"{part.strip()!r}: expected OP=WEIGHT with OP one of "
                             f"{', '.join(OPERATIONS)}")
        if name in found:
            raise ValueError(f"{name} is given twice")
        try:
            weight = int(weight_text)
        except ValueError:
            raise ValueError(f"{part.strip()!r}: the weight must be an integer") from None
        if not 0 <= weight <= limits.stress_ratio_weight_max:
            raise ValueError(f"{part.strip()!r}: weights are 0..{limits.stress_ratio_weight_max}")
        found[name] = weight
    if sum(found.values()) == 0:
        raise ValueError(f"{text!r}: at least one weight must be above zero")
    return tuple((op, found[op]) for op in OPERATIONS if found.get(op, 0) > 0)


def parse_hosts(text: str) -> tuple[str, ...]:
    hosts = tuple(h.strip() for h in text.split(",") if h.strip())
    if not hosts:
        raise ValueError("name at least one host")
    return hosts


def build_options(
    workload: str,
    *,
    ops: int | None,
    duration: str | None,
    keys: int | None,
    ratio: str | None,
    concurrency: int,
    consistency: str,
    value_size: int,
    replication_factor: int,
    hosts: str,
    port: int,
    key_dist: str | None,
    seed: int,
    token_aware: bool,
    timestamps: str = "client",
    client: ClientSecurity | None = None,
) -> StressOptions:
    """Check and complete the options; a ValueError names the option at fault (``--x: ...``)."""
    if workload not in WORKLOADS:
        raise ValueError(f"workload: expected one of {', '.join(WORKLOADS)}")
    duration_s = None
    if duration is not None:
        try:
            duration_s = parse_duration(duration)
        except ValueError as e:
            raise ValueError(f"--duration: {e}") from None
    if ops is None:
        ops = limits.stress_ops_max if duration_s is not None else OPS_DEFAULT
    if ratio is not None and workload != "mixed":
        raise ValueError("--ratio: only the mixed workload takes a ratio")
    try:
        mix = parse_ratio(ratio) if ratio is not None else _workload_ratio(workload)
    except ValueError as e:
        raise ValueError(f"--ratio: {e}") from None
    try:
        host_list = parse_hosts(hosts)
    except ValueError as e:
        raise ValueError(f"--hosts: {e}") from None
    cl = consistency.upper()
    if cl not in CONSISTENCY_LEVELS:
        raise ValueError(f"--consistency: expected one of {', '.join(CONSISTENCY_LEVELS)}")
    if cl in ("ANY", "EACH_QUORUM") and any(op == "read" for op, _ in mix):
        raise ValueError(f"--consistency: {cl} is for writes only")
    return StressOptions(
        workload=workload,
        ops=ops,
        duration_s=duration_s,
        keys=keys if keys is not None else min(ops, limits.stress_keys_default_max),
        ratio=mix,
        concurrency=concurrency,
        consistency=cl,
        value_size=value_size,
        replication_factor=replication_factor,
        hosts=host_list,
        port=port,
        key_dist=key_dist or ("seq" if workload == "write" else "uniform"),
        seed=seed,
        token_aware=token_aware,
        server_timestamps=timestamps == "server",
        client=client or ClientSecurity(),
    )


def _workload_ratio(workload: str) -> tuple[tuple[str, int], ...]:
    return RATIO_DEFAULT if workload == "mixed" else ((workload, 1),)
