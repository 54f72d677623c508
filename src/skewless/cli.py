"""The ``skewless`` command: run a node, manage a local cluster, show its status, stress it."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from skewless import __version__, limits
from skewless.bench_group import bench
from skewless.config import (
    COMMITLOG_SYNCS,
    DISK_FAILURE_POLICIES,
    INTERNODE_ENCRYPTIONS,
    LOG_LEVELS,
    SHARED_SECRET_AUTHENTICATOR,
    TIMESTAMP_POLICIES,
    build_config,
    load_config,
)
from skewless.lab.cli import lab
from skewless.security.client import ClientSecurity, client_options
from skewless.stress.command import stress

if TYPE_CHECKING:  # certificates (cryptography) load only when a command makes them
    from skewless.security.certs import CertFiles

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

# Options of `skewless node` whose value, when given on the command line, overrides the file's.
_NODE_OPTION_TO_FIELD = {
    "address": "address",
    "seeds": "seeds",
    "data_dir": "data_dir",
    "cql_port": "cql_port",
    "internode_port": "internode_port",
    "dc": "dc",
    "rack": "rack",
    "num_tokens": "num_tokens",
    "timestamp_policy": "timestamp_policy",
    "clock_offset_ms": "clock_offset_ms",
    "clock_drift_ppm": "clock_drift_ppm",
    "clock_alarm_ms": "clock_alarm_ms",
    "max_offset_ms": "max_offset_ms",
    "max_future_timestamp_ms": "max_future_timestamp_ms",
    "max_past_timestamp_ms": "max_past_timestamp_ms",
    "past_timestamps": "past_timestamps",
    "shadowed_writes": "shadowed_writes",
    "commitlog_sync": "commitlog_sync",
    "commitlog_periodic_ms": "commitlog_periodic_ms",
    "disk_failure_policy": "disk_failure_policy",
    "min_free_space_per_drive_in_mb": "min_free_space_per_drive_in_mb",
    "max_hint_window_ms": "max_hint_window_ms",
    "cluster_name": "cluster_name",
    "metrics_port": "metrics_port",
    "admin_port": "admin_port",
    "log_level": "log_level",
    "batchlog_replay_delay_ms": "batchlog_replay_delay_ms",
    "crash_point": "crash_point",
    "raise_at": "raise_at",
    "auto_bootstrap": "auto_bootstrap",
    "consistent_range_movement": "consistent_range_movement",
    "stream_throughput_outbound": "stream_throughput_outbound",
    "replace_address_first_boot": "replace_address_first_boot",
    "phi_convict_threshold": "phi_convict_threshold",
    "authorizer": "authorizer",
    "permissions_validity": "permissions_validity",
    "client_encryption_enabled": "client_encryption_enabled",
    "client_encryption_optional": "client_encryption_optional",
    "client_encryption_keystore": "client_encryption_keystore",
    "client_encryption_truststore": "client_encryption_truststore",
    "client_encryption_require_client_auth": "client_encryption_require_client_auth",
    "internode_encryption": "internode_encryption",
    "server_encryption_optional": "server_encryption_optional",
    "server_encryption_keystore": "server_encryption_keystore",
    "server_encryption_truststore": "server_encryption_truststore",
    "server_encryption_require_client_auth": "server_encryption_require_client_auth",
    "server_encryption_require_endpoint_verification":
        "server_encryption_require_endpoint_verification",
    "internode_authenticator": "internode_authenticator",
    "internode_secret_file": "internode_secret_file",
    "authenticator": "authenticator",
    "auth_superuser_file": "auth_superuser_file",
    "superuser_setup_delay_ms": "superuser_setup_delay_ms",
    "auth_read_consistency_level": "auth_read_consistency_level",
    "auth_write_consistency_level": "auth_write_consistency_level",
    "native_transport_max_concurrent_connections": "native_transport_max_concurrent_connections",
    "native_transport_max_concurrent_connections_per_ip":
        "native_transport_max_concurrent_connections_per_ip",
    "native_transport_idle_timeout_in_ms": "native_transport_idle_timeout_in_ms",
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="skewless")
def main() -> None:
    """Skewless: a Cassandra-compatible leaderless replicated database."""


# --- skewless node ---------------------------------------------------------------------------


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file of options (keys as the long options, with _ for -).")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Internode, CQL and broadcast address.")
@click.option("--seeds", default="127.0.0.1", show_default=True,
              help="Comma-separated seed addresses.")
@click.option("--data-dir", default="data", show_default=True,
              help="Where this node keeps its data.")
@click.option("--cql-port", type=int, default=9042, show_default=True)
@click.option("--internode-port", type=int, default=7000, show_default=True)
@click.option("--dc", default="datacenter1", show_default=True)
@click.option("--rack", default="rack1", show_default=True)
@click.option("--num-tokens", type=int, default=16, show_default=True)
@click.option("--timestamp-policy", type=click.Choice(TIMESTAMP_POLICIES), default="hlc",
              show_default=True, help="How coordinators stamp writes.")
@click.option("--clock-offset-ms", type=float, default=0.0, show_default=True,
              help="Shift this node's real-time clock (skew experiments).")
@click.option("--clock-drift-ppm", type=float, default=0.0, show_default=True,
              help="Make this node's real-time clock run fast (+) or slow (-).")
@click.option("--clock-alarm-ms", type=float, default=50.0, show_default=True,
              help="Alarm when this node's clock is further than this from cluster time.")
@click.option("--max-offset-ms", type=float, default=500.0, show_default=True,
              help="A clock further than this from cluster time is out of bounds.")
@click.option("--max-future-timestamp-ms", type=float, default=500.0, show_default=True,
              help="Refuse client timestamps further ahead of cluster time.")
@click.option("--max-past-timestamp-ms", type=float, default=10000.0, show_default=True,
              help="Warn (or fail) on client timestamps further behind cluster time.")
@click.option("--past-timestamps", type=click.Choice(["warn", "fail"]), default="warn",
              show_default=True, help="What a client timestamp too far behind gets.")
@click.option("--shadowed-writes", type=click.Choice(["warn", "fail"]), default="warn",
              show_default=True, help="What a write that newer data shadowed gets.")
@click.option("--commit-wait", is_flag=True, default=False,
              help="Acknowledge a write only once cluster time is certainly past its timestamp.")
@click.option("--no-clock-compensation", is_flag=True, default=False,
              help="Test only: stamp with the raw clock instead of cluster time.")
@click.option("--no-restamp", is_flag=True, default=False,
              help="Test only: report a shadowed write instead of stamping it again.")
@click.option("--commitlog-sync", type=click.Choice(COMMITLOG_SYNCS), default="batch",
              show_default=True)
@click.option("--commitlog-periodic-ms", type=int, default=limits.commitlog_periodic_sync_ms,
              show_default=True)
@click.option("--disk-failure-policy", type=click.Choice(DISK_FAILURE_POLICIES), default="stop",
              show_default=True,
              help="Corrupt storage: stop serving reads until rebuilt (stop), fail only the "
                   "reads that meet it (best_effort, ignore: not marked), stop the CQL port "
                   "(stop_paranoid) or exit (die). See docs/nodetool.md.")
@click.option("--min-free-space-per-drive-in-mb", type=int,
              default=limits.min_free_space_per_drive_mb_default, show_default=True,
              help="Refuse writes while the data directory has less free space than this "
                   "plus the memtables' size (0: no reserve).")
@click.option("--no-hints", is_flag=True, default=False, help="Disable hinted handoff.")
@click.option("--max-hint-window-ms", type=int, default=limits.hint_window_ms_max,
              show_default=True)
@click.option("--cluster-name", default="Skewless Cluster", show_default=True)
@click.option("--metrics-port", type=int, default=0, show_default=True,
              help="Prometheus metrics port (0: off).")
@click.option("--admin-port", type=int, default=7199, show_default=True,
              help="Admin endpoint for nodetool, on --address (Cassandra's JMX port; 0: off).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="INFO",
              show_default=True)
@click.option("--batchlog-replay-delay-ms", type=int, default=limits.batchlog_replay_delay_ms,
              show_default=True, help="Replay LOGGED batches kept longer than this.")
@click.option("--auto-bootstrap/--no-auto-bootstrap", default=True, show_default=True,
              help="A new non-seed node streams the ranges it will own before serving them.")
@click.option("--consistent-range-movement/--no-consistent-range-movement", default=True,
              show_default=True, help="Stream a range from the replica giving it up.")
@click.option("--stream-throughput-outbound", type=float, default=24.0, show_default=True,
              help="MiB/s this node streams out at (0: unthrottled).")
@click.option("--replace-address-first-boot", default="", metavar="ADDRESS",
              help="Take the tokens and data of this dead node (first boot only).")
@click.option("--phi-convict-threshold", type=float,
              default=limits.phi_convict_threshold_default, show_default=True,
              help="Failure detector sensitivity (5..16), as cassandra.yaml's.")
@click.option("--no-indirect-probes", is_flag=True, default=False,
              help="Convict a silent peer on phi alone, without asking others to probe it.")
@click.option("--authorizer", default="AllowAllAuthorizer", show_default=True,
              help="AllowAllAuthorizer or CassandraAuthorizer (GRANT/REVOKE, checked "
                   "permissions), as cassandra.yaml's.")
@click.option("--permissions-validity", type=int,
              default=limits.permissions_validity_ms_default, show_default=True,
              help="Milliseconds a node keeps a role's permissions cached (0: no cache).")
@click.option("--internode-authenticator", default=SHARED_SECRET_AUTHENTICATOR,
              show_default=True, metavar="CLASS",
              help="SharedSecretInternodeAuthenticator: peers prove the cluster secret and "
                   "every message carries a MAC; AllowAllInternodeAuthenticator: no checks.")
@click.option("--internode-secret-file", default="", metavar="PATH",
              help="File holding the cluster's internode secret (every node the same; "
                   "e.g. 64 hex digits, mode 0600). Needed unless AllowAll.")
@click.option("--crash-point", default="", metavar="POINT[:N]",
              help="TEST ONLY: SIGKILL this node the N-th time it reaches POINT "
                   "(batch-before-batchlog, batch-after-batchlog, batch-mid-mutations).")
@click.option("--raise-at", default="", metavar="POINT[:N]",
              help="TEST ONLY: raise an exception the N-th time the node reaches POINT "
                   "(ticker, flusher, periodic-sync, peer-message-continuation).")
@click.option("--client-encryption-enabled/--no-client-encryption-enabled", default=False,
              show_default=True, help="TLS on the CQL port (client_encryption_options.enabled).")
@click.option("--client-encryption-optional/--no-client-encryption-optional", default=False,
              show_default=True, help="Serve TLS and plaintext clients on the one CQL port.")
@click.option("--client-encryption-keystore", default="", metavar="PEM",
              help="PEM file: the node's private key and certificate chain (CQL port).")
@click.option("--client-encryption-truststore", default="", metavar="PEM",
              help="PEM file of the CA certificates client certificates must chain to.")
@click.option("--client-encryption-require-client-auth/"
              "--no-client-encryption-require-client-auth", default=False, show_default=True,
              help="Refuse CQL clients that show no certificate from the truststore's CAs.")
@click.option("--internode-encryption", type=click.Choice(INTERNODE_ENCRYPTIONS), default="none",
              show_default=True,
              help="TLS between nodes: all, across DCs (dc), across racks (rack) or none.")
@click.option("--server-encryption-optional/--no-server-encryption-optional", default=False,
              show_default=True, help="Also accept plaintext internode connections.")
@click.option("--server-encryption-keystore", default="", metavar="PEM",
              help="PEM file: the node's private key and certificate chain (internode).")
@click.option("--server-encryption-truststore", default="", metavar="PEM",
              help="PEM file of the cluster CA: every peer's certificate must chain to it.")
@click.option("--server-encryption-require-client-auth/"
              "--no-server-encryption-require-client-auth", default=False, show_default=True,
              help="Peers connecting in must show a certificate (mutual TLS).")
@click.option("--server-encryption-require-endpoint-verification/"
              "--no-server-encryption-require-endpoint-verification", default=False,
              show_default=True, help="A peer's certificate must name its IP address (SAN).")
@click.option("--authenticator", default="AllowAllAuthenticator", show_default=True,
              metavar="AllowAllAuthenticator|PasswordAuthenticator",
              help="Client authentication, as cassandra.yaml's (docs/security.md).")
@click.option("--auth-superuser-file", default="", metavar="PATH",
              help="Create the first superuser from this file (lines 'name = ...' and "
                   "'password = ...') instead of cassandra/cassandra.")
@click.option("--superuser-setup-delay-ms", type=int,
              default=limits.auth_superuser_setup_delay_ms, show_default=True,
              help="Wait this long after start before creating the first superuser "
                   "(Cassandra's cassandra.superuser_setup_delay_ms).")
@click.option("--auth-read-consistency-level", default="LOCAL_QUORUM", show_default=True,
              help="Consistency level of role and permission reads (a login's among them); "
                   "the default superuser cassandra is read at QUORUM.")
@click.option("--auth-write-consistency-level", default="EACH_QUORUM", show_default=True,
              help="Consistency level of role and permission writes (CREATE ROLE, GRANT...); "
                   "the default superuser cassandra is written at QUORUM.")
@click.option("--native-transport-max-concurrent-connections", type=int,
              default=limits.cql_connections_default, show_default=True,
              help="CQL connections this node admits (-1: as many as file descriptors allow); "
                   "more are answered Overloaded and closed.")
@click.option("--native-transport-max-concurrent-connections-per-ip", type=int,
              default=limits.cql_connections_per_ip_default, show_default=True,
              help="CQL connections admitted from one client address (-1: unlimited).")
@click.option("--native-transport-idle-timeout-in-ms", type=int,
              default=limits.cql_idle_timeout_ms_default, show_default=True,
              help="Close a CQL connection with no request and no answer for this long "
                   "(0: never).")
@click.pass_context
def node(ctx: click.Context, /, config_file: str | None, no_hints: bool,
         no_clock_compensation: bool, no_restamp: bool, commit_wait: bool,
         no_indirect_probes: bool, **options: Any) -> None:
    """Run one node in the foreground until SIGINT or SIGTERM."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = load_config(config_file)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--config") from None
    overrides: dict[str, Any] = {}
    for option, field in _NODE_OPTION_TO_FIELD.items():
        source = ctx.get_parameter_source(option)
        given = source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
        if given or field not in file_values:
            overrides[field] = options[option]
    if no_hints:
        overrides["hinted_handoff_enabled"] = False
    if no_clock_compensation:
        overrides["clock_compensation"] = False
    if no_restamp:
        overrides["restamp_shadowed_writes"] = False
    if commit_wait:
        overrides["commit_wait"] = True
    if no_indirect_probes:
        overrides["indirect_probes"] = False
    try:
        config = build_config(file_values, overrides)
    except ValueError as e:
        raise _bad_parameter(str(e)) from None
    logging.basicConfig(
        level=config.log_level_number,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from skewless.runtime.server import run_node  # lazily: the CLI loads without the server

    run_node(config)


def _bad_parameter(message: str) -> click.BadParameter:
    """A config ValueError (``"field: what is wrong"``) as the matching option's BadParameter."""
    field, sep, _ = message.partition(":")
    if sep and " " not in field:
        return click.BadParameter(message, param_hint="--" + field.replace("_", "-"))
    return click.BadParameter(message)


# --- skewless certs -------------------------------------------------------------------------


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="certs",
              show_default=True, help="Directory for the CA, node keystores and client files.")
@click.option("--nodes", "-n", type=click.IntRange(0, 254), default=None,
              help="Certificates for nodes 127.0.0.1..127.0.0.N (a local cluster's layout).")
@click.option("--address", "addresses", multiple=True, metavar="IP",
              help="A node address to certify (its IP subjectAltName; repeatable).")
@click.option("--cluster-name", default="Skewless Cluster", show_default=True,
              help="Names the CA.")
@click.option("--new-ca", is_flag=True, default=False,
              help="Make a new CA even if DIR already holds one (default: reuse it).")
def certs(out_dir: str, nodes: int | None, addresses: tuple[str, ...], cluster_name: str,
          new_ca: bool) -> None:
    """Make a cluster CA, node certificates signed by it and a client certificate (PEM).

    Node keystores are Cassandra 4.1 PEM keystores (private key + certificate chain), for
    client_encryption_options and server_encryption_options; ca.crt is the truststore.
    """
    import datetime

    from skewless.runtime.cluster import node_address
    from skewless.security import certs as certs_mod

    wanted = list(addresses)
    if nodes is not None:
        wanted += [node_address(i) for i in range(1, nodes + 1)]
    if not wanted and nodes is None:
        wanted = [node_address(i) for i in range(1, 4)]
    try:
        files = certs_mod.generate(
            Path(out_dir), tuple(dict.fromkeys(wanted)),
            datetime.datetime.now(datetime.UTC),  # allow-real-clock
            cluster_name=cluster_name, reuse_ca=not new_ca)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--address") from None
    console.print(f"CA (truststore): {files.ca_cert}  key: {files.ca_key}", highlight=False)
    for address, path in files.node_keystores.items():
        console.print(f"node {address} keystore: {path}", highlight=False)
    console.print(f"client keystore: {files.client_keystore} (also {files.client_cert}, "
                  f"{files.client_key})", highlight=False)


# --- skewless cluster ------------------------------------------------------------------------


@main.group()
def cluster() -> None:
    """Start, stop and inspect a local cluster (node i on 127.0.0.i)."""


def _parse_clock_offsets(values: Iterable[str], nodes: int) -> dict[int, float]:
    offsets: dict[int, float] = {}
    for value in values:
        node_text, sep, ms_text = value.partition("=")
        try:
            if not sep:
                raise ValueError
            index = int(node_text)
            ms = float(ms_text)
        except ValueError:
            raise click.BadParameter(
                f"{value!r}: expected NODE=MS, e.g. 2=-150", param_hint="--clock-offset"
            ) from None
        if not 1 <= index <= nodes:
            raise click.BadParameter(
                f"{value!r}: node must be between 1 and {nodes}", param_hint="--clock-offset"
            )
        if ms != ms or abs(ms) > limits.clock_offset_ms_max_option:
            raise click.BadParameter(
                f"{value!r}: offset must be within ±{limits.clock_offset_ms_max_option} ms",
                param_hint="--clock-offset",
            )
        offsets[index] = ms
    return offsets


@cluster.command("start")
@click.option("--nodes", "-n", type=click.IntRange(1, 254), default=3, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default="data", show_default=True)
@click.option("--timestamp-policy", type=click.Choice(TIMESTAMP_POLICIES), default=None,
              help="Passed to every node (default: the node's own default).")
@click.option("--clock-offset", "clock_offsets", multiple=True, metavar="NODE=MS",
              help="Skew node NODE's clock by MS milliseconds (repeatable).")
@click.option("--foreground", is_flag=True, default=False,
              help="Stay attached; Ctrl-C stops every node.")
@click.option("--cql-port", type=click.IntRange(1, 65535), default=9042, show_default=True)
@click.option("--internode-port", type=click.IntRange(1, 65535), default=7000, show_default=True)
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default=None)
@click.option("--tls", is_flag=True, default=False,
              help="Make certificates (skewless certs) in DATA_DIR/certs and run every node "
                   "with client TLS and internode mutual TLS.")
def cluster_start(
    nodes: int,
    data_dir: str,
    timestamp_policy: str | None,
    clock_offsets: tuple[str, ...],
    foreground: bool,
    cql_port: int,
    internode_port: int,
    log_level: str | None,
    tls: bool,
) -> None:
    """Start NODES local nodes, wait until each accepts CQL, and print them."""
    from skewless.runtime import cluster as local

    offsets = _parse_clock_offsets(clock_offsets, nodes)
    tls_files = _cluster_certs(Path(data_dir), nodes) if tls else None
    extra: dict[int, list[str]] = {}
    for i in range(1, nodes + 1):
        args: list[str] = []
        if timestamp_policy is not None:
            args += ["--timestamp-policy", timestamp_policy]
        if i in offsets:
            args += ["--clock-offset-ms", repr(offsets[i])]
        if log_level is not None:
            args += ["--log-level", log_level.upper()]
        if tls_files is not None:
            from skewless.security.certs import node_tls_args

            args += node_tls_args(tls_files, local.node_address(i))
        extra[i] = args
    try:
        procs = local.start_local_cluster(
            nodes, Path(data_dir), extra, None, cql_port=cql_port, internode_port=internode_port
        )
    except local.ClusterStartError as e:
        err_console.print(f"[red]cluster start failed:[/red] {e.message}")
        if e.log_tail:
            err_console.print(f"--- last lines of {e.log_path} ---", highlight=False)
            err_console.print(e.log_tail, markup=False, highlight=False)
        sys.exit(1)
    console.print(_nodes_table(procs, offsets))
    if not foreground:
        ssl = "" if tls_files is None else f"SSL_CERTFILE={tls_files.ca_cert} "
        console.print(
            f"Connect with: {ssl}cqlsh {'--ssl ' if ssl else ''}{procs[0].address} {cql_port}"
            f"    "
            f"Stop with: skewless cluster stop --data-dir {data_dir}\n"
            f"Administer with: nodetool -h {procs[0].address} "
            f"-p {local.admin_port_for(internode_port)} status\n"
            f"Internode secret (a node added to this cluster needs it): "
            f"{local.ensure_cluster_secret(Path(data_dir).resolve())}"
            + ("" if not ssl else "\nskewless status, stress and clocks: --ssl as cqlsh, with "
               "the same SSL_CERTFILE (or --ssl-certfile)")
        )
        return
    sys.exit(_stay_attached(procs))


def _cluster_certs(data_dir: Path, nodes: int) -> CertFiles:
    """``cluster start --tls``: the certificates of nodes 1..NODES in DATA_DIR/certs (the CA
    there is reused, so a restarted or grown cluster keeps its CA)."""
    import datetime

    from skewless.runtime.cluster import node_address
    from skewless.security.certs import generate

    files = generate(data_dir / "certs", tuple(node_address(i) for i in range(1, nodes + 1)),
                     datetime.datetime.now(datetime.UTC))  # allow-real-clock
    console.print(f"TLS: CA {files.ca_cert}, node keystores in {files.directory}",
                  highlight=False)
    return files


def _nodes_table(procs: Iterable[Any], offsets: Mapping[int, float]) -> Table:
    table = Table(title="Skewless local cluster")
    for column in ("Node", "Address", "CQL port", "PID", "Clock offset", "Log"):
        table.add_column(column)
    for p in procs:
        offset = offsets.get(p.index, 0.0)
        table.add_row(
            f"node{p.index}", p.address, str(p.cql_port), str(p.pid), f"{offset:+g} ms",
            str(p.log_path),
        )
    return table


def _stay_attached(procs: list[Any]) -> int:
    """Wait for SIGINT/SIGTERM, then stop every node; returns the exit code."""
    from skewless.runtime import cluster as local

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    console.print("Running in the foreground; press Ctrl-C to stop every node.")
    reported: set[int] = set()
    code = 0
    try:
        while not stop.wait(0.5):
            for p in procs:
                rc = p.returncode()
                if rc is not None and p.index not in reported:
                    reported.add(p.index)
                    err_console.print(
                        f"[red]node{p.index} ({p.address}) exited with code {rc}[/red]; "
                        f"see {p.log_path}"
                    )
            if len(reported) == len(procs):
                err_console.print("every node has exited")
                code = 1
                break
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            console.print(f"{signal.Signals(received[0]).name}: stopping {len(procs)} nodes…")
        results = local.stop_nodes(procs, limits.cluster_stop_grace_ms / 1000)
        for line in results:
            console.print(line, highlight=False)
    return code


@cluster.command("stop")
@click.option("--data-dir", type=click.Path(file_okay=False), default="data", show_default=True)
def cluster_stop(data_dir: str) -> None:
    """Stop the nodes of a local cluster by their recorded pids (SIGTERM, then SIGKILL)."""
    from skewless.runtime import cluster as local

    if not Path(data_dir).is_dir():
        raise click.BadParameter(f"{data_dir!r} is not a directory", param_hint="--data-dir")
    lines = local.stop_by_pid_files(Path(data_dir), limits.cluster_stop_grace_ms / 1000)
    if not lines:
        console.print(f"no pid files under {data_dir}: nothing to stop")
    for line in lines:
        console.print(line, highlight=False)


# --- skewless status -------------------------------------------------------------------------


def format_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def status_cells(row: Any) -> list[str]:
    """One row of ``system.skewless_status`` as nodetool-status-like cells.

    ``owns`` is the fraction (0..1) of the ring this node replicates, shown as a percentage.
    """
    up = getattr(row, "up", None)
    owns = getattr(row, "owns", None)
    offset = getattr(row, "clock_offset_ms", None)
    alarm = " ALARM" if getattr(row, "clock_alarm", False) else ""
    tokens = getattr(row, "tokens", None)
    return [
        "UN" if up else "DN",
        str(getattr(row, "address", "?")),
        format_bytes(getattr(row, "load_bytes", None)),
        "?" if tokens is None else str(tokens),
        "?" if owns is None else f"{owns * 100:.1f}%",
        str(getattr(row, "host_id", "?")),
        str(getattr(row, "rack", "?")),
        str(getattr(row, "dc", "?")),
        "?" if offset is None else f"{offset:+.1f} ms{alarm}",
    ]


def _print_status(host: str, port: int, client: ClientSecurity) -> None:
    from skewless.clocks_view import fetch_status
    from skewless.status_view import render

    rows = fetch_status(host, port, client=client)
    console.print(f"Datacenters and nodes as seen by {host}:{port}", highlight=False)
    render(console, [status_cells(r) for r in rows])
    for r in rows:  # the answering node's own storage, when not OK (storage.integrity)
        storage = getattr(r, "storage", None)
        if storage and storage != "OK":
            console.print(f"Storage of {r.address}: {storage} (nodetool rebuild)",
                          highlight=False, markup=False)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=9042, show_default=True)
@client_options
def status(host: str, port: int, client: ClientSecurity) -> None:
    """Show every node's state, like nodetool status (asks one node over CQL)."""
    _print_status(host, port, client)


@cluster.command("status")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=9042, show_default=True)
@client_options
def cluster_status(host: str, port: int, client: ClientSecurity) -> None:
    """Same as `skewless status`."""
    _print_status(host, port, client)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=9042, show_default=True)
@client_options
def clocks(host: str, port: int, client: ClientSecurity) -> None:
    """Every node's clock: its offset from cluster time, alarm, bounds, and peers' measurements."""
    from skewless.clocks_view import clients_table, clocks_table, collect_clients, collect_views

    views = collect_views(host, port, client)
    console.print(clocks_table(views))
    console.print(clients_table(collect_clients(sorted(views), port, client)))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def nodetool(args: tuple[str, ...]) -> None:
    """Cassandra's nodetool: nodetool [-h host] [-p port] <command> [args]."""
    from skewless.nodetool.cli import main as nodetool_main

    sys.exit(nodetool_main(list(args)))


main.add_command(stress)
main.add_command(bench)
main.add_command(lab)


if __name__ == "__main__":
    main()
