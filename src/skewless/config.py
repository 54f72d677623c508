"""A node's configuration: the options of ``skewless node``, optionally read from a TOML file.

The file's keys mirror the long command-line options with ``_`` for ``-`` (``cql_port``,
``timestamp_policy``; ``seeds`` is a list or a comma-separated string). Values given on the
command line override the file's. Every value is checked in ``NodeConfig.__post_init__``, which
raises ``ValueError`` naming the option and what it accepts.
"""

from __future__ import annotations

import ipaddress
import logging
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, cast

from skewless import limits
from skewless.node import consistency as cl_mod

TimestampPolicy = Literal["hlc", "wallclock"]
CommitlogSync = Literal["batch", "periodic"]

TIMESTAMP_POLICIES: tuple[TimestampPolicy, ...] = ("hlc", "wallclock")
COMMITLOG_SYNCS: tuple[CommitlogSync, ...] = ("batch", "periodic")
# cassandra.yaml's disk_failure_policy values (what corrupt storage does: storage.integrity)
DISK_FAILURE_POLICIES = ("stop", "best_effort", "ignore", "die", "stop_paranoid")
INTERNODE_ENCRYPTIONS = ("none", "dc", "rack", "all")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
AUTHORIZERS = ("AllowAllAuthorizer", "CassandraAuthorizer")  # cassandra.yaml's authorizer
# internode_authenticator values, as Cassandra's class names (a package prefix is accepted): the
# default proves a shared secret on every internode connection (runtime.internode_auth).
SHARED_SECRET_AUTHENTICATOR = "SharedSecretInternodeAuthenticator"
ALLOW_ALL_AUTHENTICATOR = "AllowAllInternodeAuthenticator"
INTERNODE_AUTHENTICATORS = (SHARED_SECRET_AUTHENTICATOR, ALLOW_ALL_AUTHENTICATOR)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    address: str = "127.0.0.1"  # internode, CQL and broadcast address (ccm: node i on 127.0.0.i)
    seeds: tuple[str, ...] = ("127.0.0.1",)
    data_dir: str = "data"
    cql_port: int = 9042
    internode_port: int = 7000
    dc: str = "datacenter1"
    rack: str = "rack1"
    num_tokens: int = 16
    timestamp_policy: TimestampPolicy = "hlc"
    clock_offset_ms: float = 0.0  # added to this node's real-time clock (skew experiments)
    clock_drift_ppm: float = 0.0  # this node's real-time clock runs fast (+) or slow (-)
    clock_alarm_ms: float = 50.0  # alarm when this clock is further than this from cluster time
    max_offset_ms: float = 500.0  # beyond this from cluster time a clock is out of bounds
    clock_compensation: bool = True  # stamp with cluster time (raw clock + measured offset)
    max_future_timestamp_ms: float = 500.0  # client timestamps further ahead are refused
    max_past_timestamp_ms: float = 10000.0  # client timestamps further behind: past_timestamps
    past_timestamps: str = "warn"  # warn | fail
    shadowed_writes: str = "warn"  # warn | fail: what a write that was partly shadowed gets
    restamp_shadowed_writes: bool = True  # hlc: stamp a shadowed write again (test-only off)
    commit_wait: bool = False  # acknowledge writes once cluster time is certainly past them
    commitlog_sync: CommitlogSync = "batch"
    commitlog_periodic_ms: int = limits.commitlog_periodic_sync_ms
    # what corrupt storage does to the node (storage.integrity): Cassandra's option and default
    disk_failure_policy: str = "stop"
    # data writes are refused while the data directory has less free space than this plus the
    # memtables' size (storage.diskspace); 0: no reserve
    min_free_space_per_drive_in_mb: int = limits.min_free_space_per_drive_mb_default
    hinted_handoff_enabled: bool = True
    max_hint_window_ms: int = limits.hint_window_ms_max
    repair_background_bytes_per_s: int = 0  # > 0: background anti-entropy (node.anti_entropy)
    cluster_name: str = "Skewless Cluster"
    metrics_port: int = 0  # 0: no Prometheus endpoint
    admin_port: int = 7199  # nodetool's admin endpoint (Cassandra's JMX port); 0: none
    log_level: str = "INFO"
    batchlog_replay_delay_ms: int = limits.batchlog_replay_delay_ms  # replay LOGGED batches older
    auto_bootstrap: bool = True  # a new non-seed node streams its ranges before serving them
    consistent_range_movement: bool = True  # stream from the replica giving the range up
    stream_throughput_outbound: float = 24.0  # MiB/s a node streams out at; 0: unthrottled
    replace_address_first_boot: str = ""  # a dead node whose tokens and data this node takes
    phi_convict_threshold: float = limits.phi_convict_threshold_default  # cassandra.yaml's
    indirect_probes: bool = True  # SWIM: ask peers to probe a suspect before convicting it
    # authorization (issue 12, node.auth): cassandra.yaml's authorizer and permissions_validity
    authorizer: str = "AllowAllAuthorizer"
    permissions_validity: int = limits.permissions_validity_ms_default  # ms a role's grants stay
    crash_point: str = ""  # TEST ONLY: SIGKILL this node at a named point (node.batchlog)
    raise_at: str = ""  # TEST ONLY: raise an exception at a named point (node.planted)
    # cassandra.yaml's client_encryption_options (CQL port; runtime.tls), flattened:
    client_encryption_enabled: bool = False
    client_encryption_optional: bool = False  # TLS and plaintext clients on the one port
    client_encryption_keystore: str = ""  # PEM: private key + certificate chain (Cassandra 4.1)
    client_encryption_truststore: str = ""  # PEM: CA certificates clients' certificates chain to
    client_encryption_require_client_auth: bool = False
    # cassandra.yaml's server_encryption_options (internode; runtime.tls), flattened:
    internode_encryption: str = "none"  # none | dc | rack | all
    server_encryption_optional: bool = False  # also accept plaintext peers (rolling upgrade)
    server_encryption_keystore: str = ""
    server_encryption_truststore: str = ""  # the cluster CA: every peer's certificate chains to it
    server_encryption_require_client_auth: bool = False  # peers connecting in show a certificate
    server_encryption_require_endpoint_verification: bool = False  # its IP SAN = its address
    internode_authenticator: str = SHARED_SECRET_AUTHENTICATOR  # AllowAll...: no authentication
    internode_secret_file: str = ""  # the cluster's shared secret (needed by the default)
    authenticator: str = "AllowAllAuthenticator"  # cassandra.yaml's: or PasswordAuthenticator
    auth_superuser_file: str = ""  # first superuser from this file, not cassandra/cassandra
    superuser_setup_delay_ms: int = limits.auth_superuser_setup_delay_ms  # before the first
    # cassandra.yaml's (4.1+): the levels of role and permission reads and writes, but the
    # default superuser cassandra's (QUORUM), as CassandraRoleManager.consistencyForRole*
    auth_read_consistency_level: str = "LOCAL_QUORUM"
    auth_write_consistency_level: str = "EACH_QUORUM"
    # CQL connection admission (issue 15, runtime.admission): cassandra.yaml's, -1 = unlimited
    native_transport_max_concurrent_connections: int = limits.cql_connections_default
    native_transport_max_concurrent_connections_per_ip: int = \
        limits.cql_connections_per_ip_default
    native_transport_idle_timeout_in_ms: int = limits.cql_idle_timeout_ms_default  # 0: never
    # cassandra.yaml's (4.0 name): how long a coordinator waits for a counter write's leader
    counter_write_request_timeout_in_ms: int = limits.counter_write_timeout_ms_default
    # cassandra.yaml's cas_contention_timeout_in_ms: how long an LWT retries contended Paxos
    cas_contention_timeout_in_ms: int = limits.cas_contention_timeout_ms_default

    def __post_init__(self) -> None:
        _check_ipv4("address", self.address)
        if not self.seeds:
            raise ValueError("seeds: at least one seed address is needed")
        for seed in self.seeds:
            _check_ipv4("seeds", seed)
        if not self.data_dir:
            raise ValueError("data_dir: must not be empty")
        _check_port("cql_port", self.cql_port, allow_zero=False)
        _check_port("internode_port", self.internode_port, allow_zero=False)
        _check_port("metrics_port", self.metrics_port, allow_zero=True)
        _check_port("admin_port", self.admin_port, allow_zero=True)
        if self.admin_port and self.admin_port in (self.cql_port, self.internode_port,
                                                   self.metrics_port):
            raise ValueError(f"admin_port: {self.admin_port} is already the CQL, internode or "
                             f"metrics port")
        if self.cql_port == self.internode_port:
            raise ValueError(f"cql_port and internode_port must differ (both {self.cql_port})")
        for name in ("dc", "rack", "cluster_name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
        _check_int("num_tokens", self.num_tokens, 1, limits.num_tokens_max)
        if self.timestamp_policy not in TIMESTAMP_POLICIES:
            raise ValueError(
                f"timestamp_policy: must be one of {', '.join(TIMESTAMP_POLICIES)}, "
                f"got {self.timestamp_policy!r}"
            )
        _check_number("clock_offset_ms", self.clock_offset_ms, limits.clock_offset_ms_max_option)
        _check_number("clock_drift_ppm", self.clock_drift_ppm, limits.clock_drift_ppm_max_option)
        _check_number("max_offset_ms", self.max_offset_ms, limits.clock_offset_ms_max_option)
        _check_number("clock_alarm_ms", self.clock_alarm_ms, limits.clock_offset_ms_max_option)
        if not 0 < self.clock_alarm_ms <= self.max_offset_ms:
            raise ValueError(f"clock_alarm_ms: must be > 0 and <= max_offset_ms "
                             f"({self.max_offset_ms:g}), got {self.clock_alarm_ms:g}")
        for name in ("max_future_timestamp_ms", "max_past_timestamp_ms"):
            _check_number(name, getattr(self, name), limits.clock_offset_ms_max_option)
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")
        if self.shadowed_writes not in ("warn", "fail"):
            raise ValueError(f"shadowed_writes: must be warn or fail, got {self.shadowed_writes!r}")
        if self.past_timestamps not in ("warn", "fail"):
            raise ValueError(f"past_timestamps: must be warn or fail, got {self.past_timestamps!r}")
        if not isinstance(self.commit_wait, bool):
            raise ValueError(f"commit_wait: must be true or false, got {self.commit_wait!r}")
        if not isinstance(self.restamp_shadowed_writes, bool):
            raise ValueError(f"restamp_shadowed_writes: must be true or false, "
                             f"got {self.restamp_shadowed_writes!r}")
        if not isinstance(self.clock_compensation, bool):
            raise ValueError(f"clock_compensation: must be true or false, "
                             f"got {self.clock_compensation!r}")
        if self.commitlog_sync not in COMMITLOG_SYNCS:
            raise ValueError(
                f"commitlog_sync: must be one of {', '.join(COMMITLOG_SYNCS)}, "
                f"got {self.commitlog_sync!r}"
            )
        _check_int("commitlog_periodic_ms", self.commitlog_periodic_ms, 1, 3600 * 1000)
        if self.disk_failure_policy not in DISK_FAILURE_POLICIES:
            raise ValueError(f"disk_failure_policy: must be one of "
                             f"{', '.join(DISK_FAILURE_POLICIES)}, "
                             f"got {self.disk_failure_policy!r}")
        _check_int("min_free_space_per_drive_in_mb", self.min_free_space_per_drive_in_mb, 0,
                   1024 * 1024)
        if not isinstance(self.hinted_handoff_enabled, bool):
            raise ValueError(
                "hinted_handoff_enabled: must be true or false, "
                f"got {self.hinted_handoff_enabled!r}"
            )
        _check_int("max_hint_window_ms", self.max_hint_window_ms, 0, limits.hint_window_ms_max)
        _check_int("repair_background_bytes_per_s", self.repair_background_bytes_per_s, 0,
                   limits.repair_background_bytes_per_s_max)
        if not isinstance(self.log_level, str) or self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(
                f"log_level: must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        object.__setattr__(self, "log_level", self.log_level.upper())
        _check_int("batchlog_replay_delay_ms", self.batchlog_replay_delay_ms, 0,
                   limits.batchlog_replay_delay_ms_max_option)
        for name in ("auto_bootstrap", "consistent_range_movement"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: must be true or false, got {getattr(self, name)!r}")
        _check_number("stream_throughput_outbound", self.stream_throughput_outbound,
                      limits.stream_throughput_mib_s_max_option)
        if self.stream_throughput_outbound < 0:
            raise ValueError("stream_throughput_outbound: must not be negative (0: unthrottled), "
                             f"got {self.stream_throughput_outbound}")
        if self.replace_address_first_boot:
            _check_ipv4("replace_address_first_boot", self.replace_address_first_boot)
            if self.replace_address_first_boot == self.address:
                raise ValueError("replace_address_first_boot: a node cannot replace its own "
                                 "address; start the new node on another address")
        _check_number("phi_convict_threshold", self.phi_convict_threshold, 1e9)  # type, NaN
        if not (limits.phi_convict_threshold_min <= self.phi_convict_threshold
                <= limits.phi_convict_threshold_max):
            raise ValueError(f"phi_convict_threshold must be between "
                             f"{limits.phi_convict_threshold_min:g} and "
                             f"{limits.phi_convict_threshold_max:g}, but was "
                             f"{self.phi_convict_threshold:g}")
        if not isinstance(self.indirect_probes, bool):
            raise ValueError(f"indirect_probes: must be true or false, "
                             f"got {self.indirect_probes!r}")
        if isinstance(self.authorizer, str) and self.authorizer.startswith(
                "org.apache.cassandra.auth."):  # cassandra.yaml may name the class in full
            object.__setattr__(self, "authorizer", self.authorizer.rsplit(".", 1)[1])
        if self.authorizer not in AUTHORIZERS:
            raise ValueError(f"authorizer: must be one of {', '.join(AUTHORIZERS)}, "
                             f"got {self.authorizer!r}")
        _check_int("permissions_validity", self.permissions_validity, 0,
                   limits.permissions_validity_ms_max_option)
        if not isinstance(self.internode_authenticator, str) or \
                self.internode_authenticator.rpartition(".")[2] not in INTERNODE_AUTHENTICATORS:
            raise ValueError(f"internode_authenticator: must be one of "
                             f"{', '.join(INTERNODE_AUTHENTICATORS)}, "
                             f"got {self.internode_authenticator!r}")
        object.__setattr__(self, "internode_authenticator",
                           self.internode_authenticator.rpartition(".")[2])
        if not isinstance(self.internode_secret_file, str):
            raise ValueError(f"internode_secret_file: expected a path, "
                             f"got {self.internode_secret_file!r}")
        auth = self.authenticator.removeprefix("org.apache.cassandra.auth.") \
            if isinstance(self.authenticator, str) else self.authenticator
        if auth not in ("AllowAllAuthenticator", "PasswordAuthenticator"):
            raise ValueError("authenticator: must be AllowAllAuthenticator or "
                             f"PasswordAuthenticator, got {self.authenticator!r}")
        object.__setattr__(self, "authenticator", auth)
        if auth == "AllowAllAuthenticator" and self.authorizer == "CassandraAuthorizer":
            # Cassandra refuses to start so: an anonymous connection could never be authorized
            raise ValueError("authorizer: AllowAllAuthenticator can't be used with "
                             "CassandraAuthorizer (use --authenticator PasswordAuthenticator)")
        if not isinstance(self.auth_superuser_file, str):
            raise ValueError(f"auth_superuser_file: expected a path, "
                             f"got {self.auth_superuser_file!r}")
        _check_int("superuser_setup_delay_ms", self.superuser_setup_delay_ms, 0,
                   limits.auth_superuser_setup_delay_ms_max_option)
        for name, refused in (("auth_read_consistency_level", ("ANY", "EACH_QUORUM")),
                              ("auth_write_consistency_level", ("SERIAL", "LOCAL_SERIAL"))):
            level = getattr(self, name)
            if not isinstance(level, str) or level.upper() not in cl_mod.NAMES.values() \
                    or level.upper() in refused:
                allowed = [n for n in cl_mod.NAMES.values() if n not in refused]
                raise ValueError(f"{name}: must be one of {', '.join(allowed)}, got {level!r}")
            object.__setattr__(self, name, level.upper())
        for name in ("native_transport_max_concurrent_connections",
                     "native_transport_max_concurrent_connections_per_ip"):
            _check_int(name, getattr(self, name), -1, limits.cql_connections_max)
            if getattr(self, name) == 0:
                raise ValueError(f"{name}: must be -1 (unlimited) or at least 1, got 0")
        _check_int("counter_write_request_timeout_in_ms",
                   self.counter_write_request_timeout_in_ms, 1,
                   limits.counter_write_timeout_ms_max_option)
        _check_int("native_transport_idle_timeout_in_ms", self.native_transport_idle_timeout_in_ms,
                   0, limits.cql_idle_timeout_ms_max_option)
        _check_int("cas_contention_timeout_in_ms", self.cas_contention_timeout_in_ms, 1,
                   limits.cas_contention_timeout_ms_max_option)
        if not isinstance(self.crash_point, str):
            raise ValueError(f"crash_point: expected a string, got {self.crash_point!r}")
        self._check_encryption()
        from skewless.node.planted import parse_crash_point  # raises ValueError

        parse_crash_point(self.crash_point)
        if not isinstance(self.raise_at, str):
            raise ValueError(f"raise_at: expected a string, got {self.raise_at!r}")
        from skewless.node.planted import parse_raise_at  # raises ValueError

        parse_raise_at(self.raise_at)

    def _check_encryption(self) -> None:
        for name in ("client_encryption_enabled", "client_encryption_optional",
                     "client_encryption_require_client_auth", "server_encryption_optional",
                     "server_encryption_require_client_auth",
                     "server_encryption_require_endpoint_verification"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: must be true or false, got {getattr(self, name)!r}")
        for name in ("client_encryption_keystore", "client_encryption_truststore",
                     "server_encryption_keystore", "server_encryption_truststore"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}: expected a file path, got {getattr(self, name)!r}")
        if self.client_encryption_enabled:
            if not self.client_encryption_keystore:
                raise ValueError("client_encryption_keystore: client_encryption_options is "
                                 "enabled but no keystore (PEM: key + certificate chain) is set")
            if self.client_encryption_require_client_auth and \
                    not self.client_encryption_truststore:
                raise ValueError("client_encryption_truststore: require_client_auth needs a "
                                 "truststore (PEM of the CA certificates clients' chain to)")
        if self.internode_encryption not in INTERNODE_ENCRYPTIONS:
            raise ValueError(f"internode_encryption: must be one of "
                             f"{', '.join(INTERNODE_ENCRYPTIONS)}, "
                             f"got {self.internode_encryption!r}")
        if self.internode_encryption != "none":
            for name in ("server_encryption_keystore", "server_encryption_truststore"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: internode_encryption is "
                                     f"{self.internode_encryption} but no {name[18:]} is set")

    @property
    def internode_authentication(self) -> bool:
        """Does this node require peers to prove the cluster secret?"""
        return self.internode_authenticator == SHARED_SECRET_AUTHENTICATOR

    @property
    def log_level_number(self) -> int:
        return cast(int, logging.getLevelName(self.log_level))


OPTION_NAMES = frozenset(f.name for f in fields(NodeConfig))


def _check_ipv4(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected an IPv4 address, got {value!r}")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an IPv4 address") from None


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low} and {high}, got {value}")


def _check_port(name: str, value: object, *, allow_zero: bool) -> None:
    _check_int(name, value, 0 if allow_zero else 1, 65535)


def _check_number(name: str, value: object, magnitude_max: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if value != value or abs(value) > magnitude_max:  # NaN compares unequal to itself
        raise ValueError(f"{name}: must be within ±{magnitude_max:g}, got {value}")


def parse_seeds(value: object) -> tuple[str, ...]:
    """``"a,b"``, ``["a", "b"]`` or ``("a",)`` -> ``("a", "b")`` (blanks dropped, order kept)."""
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",")]
    elif isinstance(value, (list, tuple)):
        if not all(isinstance(s, str) for s in value):
            raise ValueError(f"seeds: expected addresses, got {value!r}")
        items = [s.strip() for s in value]
    else:
        raise ValueError(f"seeds: expected a list or a comma-separated string, got {value!r}")
    return tuple(s for s in items if s)


def normalize_options(values: dict[str, Any]) -> dict[str, Any]:
    """Accept ``-`` or ``_`` in names, reject unknown names, coerce seeds and integral floats."""
    out: dict[str, Any] = {}
    for raw_name, value in values.items():
        name = raw_name.replace("-", "_")
        if name not in OPTION_NAMES:
            known = ", ".join(sorted(OPTION_NAMES))
            raise ValueError(f"unknown option {raw_name!r} (known: {known})")
        if name == "seeds":
            value = parse_seeds(value)
        elif name in ("clock_offset_ms", "clock_drift_ppm", "clock_alarm_ms", "max_offset_ms",
                      "max_future_timestamp_ms", "max_past_timestamp_ms",
                      "stream_throughput_outbound") \
                and isinstance(value, int):
            if not isinstance(value, bool):
                value = float(value)
        elif name == "data_dir" and isinstance(value, Path):
            value = str(value)
        out[name] = value
    return out


# cassandra.yaml's nested encryption options, as TOML tables, -> the flat option names.
_NESTED = {
    "client_encryption_options": {
        "enabled": "client_encryption_enabled", "optional": "client_encryption_optional",
        "keystore": "client_encryption_keystore", "truststore": "client_encryption_truststore",
        "require_client_auth": "client_encryption_require_client_auth"},
    "server_encryption_options": {
        "internode_encryption": "internode_encryption",
        "optional": "server_encryption_optional",
        "keystore": "server_encryption_keystore", "truststore": "server_encryption_truststore",
        "require_client_auth": "server_encryption_require_client_auth",
        "require_endpoint_verification": "server_encryption_require_endpoint_verification"},
}


def flatten_encryption_options(data: dict[str, Any]) -> dict[str, Any]:
    """``[client_encryption_options] enabled = true`` -> ``client_encryption_enabled = true``
    (and likewise for ``server_encryption_options``); other keys are kept as they are."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        table = _NESTED.get(key)
        if table is None:
            out[key] = value
            continue
        if not isinstance(value, dict):
            raise ValueError(f"{key}: expected a table of options ({', '.join(table)})")
        for sub, sub_value in value.items():
            if sub not in table:
                raise ValueError(f"unknown option {key}.{sub} (known: {', '.join(table)})")
            out[table[sub]] = sub_value
    return out


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a TOML file of node options; returns them normalised (not yet validated together).

    Raises ``ValueError`` for a missing file, bad TOML or an unknown key.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"config file {str(p)!r} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {str(p)!r} is not valid TOML: {e}") from None
    # A [node] table is accepted as well as top-level keys.
    if set(data) == {"node"} and isinstance(data["node"], dict):
        data = data["node"]
    try:
        data = flatten_encryption_options(data)
    except ValueError as e:
        raise ValueError(f"config file {str(p)!r}: {e}") from None
    try:
        return normalize_options(data)
    except ValueError as e:
        raise ValueError(f"config file {str(p)!r}: {e}") from None


def build_config(file_values: dict[str, Any], overrides: dict[str, Any]) -> NodeConfig:
    """Defaults, then the file's values, then ``overrides`` (options given on the command line)."""
    merged = normalize_options(file_values)
    merged.update(normalize_options(overrides))
    return NodeConfig(**merged)
