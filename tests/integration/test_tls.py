"""TLS on real nodes (runtime.tls): client_encryption_options with the stock python driver,
cqlsh --ssl and the Node.js driver; optional TLS (both kinds of client on one port);
require_client_auth; internode mutual TLS (server_encryption_options) on a 3-node cluster that
refuses a 4th node whose certificate another CA signed. Certificates come from security.certs
(what ``skewless certs`` writes) into the test's tmp_path.
"""

from __future__ import annotations

import datetime
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement
from conftest import CQL_PORT, INTERNODE_PORT, LocalCluster

from skewless.runtime.cluster import NodeProcess, admin_port_for, node_address, node_argv
from skewless.security import certs

CQLSH = str(Path(sys.executable).parent / "cqlsh")
NODEJS = Path(__file__).resolve().parent.parent / "nodejs"
NOW = datetime.datetime.now(datetime.UTC)
ADDRESSES = tuple(node_address(i) for i in range(1, 5))


@pytest.fixture
def files(tmp_path: Path) -> certs.CertFiles:
    return certs.generate(tmp_path / "certs", ADDRESSES, NOW)


def client_args(files: certs.CertFiles, index: int, *, optional: bool = False,
                require_client_auth: bool = False) -> list[str]:
    args = ["--client-encryption-enabled",
            "--client-encryption-keystore", str(files.node_keystores[node_address(index)]),
            "--client-encryption-truststore", str(files.ca_cert)]
    if optional:
        args.append("--client-encryption-optional")
    if require_client_auth:
        args.append("--client-encryption-require-client-auth")
    return args


def tls_context(files: certs.CertFiles, keystore: Path | None = None) -> ssl.SSLContext:
    """The cluster CA, the node's IP SAN checked (check_hostname), optionally a client cert."""
    ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    if keystore is not None:
        ctx.load_cert_chain(keystore)
    return ctx


def connect_fails(address: str, **kw: object) -> str:
    """A fresh driver to ``address`` must fail to connect; returns its error."""
    c = Cluster([address], port=CQL_PORT, connect_timeout=5, control_connection_timeout=5,
                load_balancing_policy=WhiteListRoundRobinPolicy([address]), **kw)
    try:
        with pytest.raises(NoHostAvailable) as e:
            c.connect()
        return str(e.value)
    finally:
        c.shutdown()


def wait_log(p: NodeProcess, text: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = p.log_path.read_text(errors="replace")
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{p.address} never logged {text!r}: {p.log_tail()}")


def test_tls_required_python_driver_cqlsh_nodejs_and_plaintext_refused(
        cluster_factory: Callable[..., LocalCluster], files: certs.CertFiles,
        tmp_path: Path) -> None:
    c = cluster_factory(1, [client_args(files, 1)],
                        driver_kw={"ssl_context": tls_context(files)})
    address = c.nodes[0].address
    s = c.session()
    s.execute("CREATE KEYSPACE tls WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("CREATE TABLE tls.t (k int PRIMARY KEY, v text)")
    s.execute("INSERT INTO tls.t (k, v) VALUES (1, 'secret')")
    assert s.execute("SELECT v FROM tls.t WHERE k = 1").one().v == "secret"

    # plaintext: refused (closed before a request is read) and logged
    error = connect_fails(address)
    print("plaintext driver:", error)
    wait_log(c.nodes[0], "CQL: plaintext connection from 127.0.0.1 refused: TLS is required")
    # a server certificate is checked against the driver's CA (a CA it does not know: fails)
    rogue = certs.generate(tmp_path / "rogue", (address,), NOW)
    assert "certificate verify failed" in connect_fails(
        address, ssl_context=ssl.create_default_context(cafile=str(rogue.ca_cert)))

    # cqlsh --ssl with a cqlshrc [ssl] section: certfile = the CA, validate = true
    home = tmp_path / "home"
    home.mkdir()
    rc = home / "cqlshrc"
    rc.write_text(f"[ssl]\ncertfile = {files.ca_cert}\nvalidate = true\n")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    out = subprocess.run([CQLSH, address, str(CQL_PORT), "--ssl", "--cqlshrc", str(rc), "-e",
                          "SELECT v FROM tls.t WHERE k = 1"],
                         capture_output=True, text=True, timeout=120, env=env)
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    assert "secret" in out.stdout and "(1 rows)" in out.stdout
    plain = subprocess.run([CQLSH, address, str(CQL_PORT), "--cqlshrc", str(rc), "-e",
                            "SELECT v FROM tls.t WHERE k = 1"],
                           capture_output=True, text=True, timeout=120, env=env)
    assert plain.returncode != 0 and "secret" not in plain.stdout, plain.stdout

    # the Node.js driver with sslOptions
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("SKIPPED PART: node and npm are needed for the Node.js TLS check; not on PATH")
        return
    from test_nodejs import _install

    _install()
    out = subprocess.run(["node", "tls_test.js", address, str(CQL_PORT), "datacenter1",
                          str(files.ca_cert)], cwd=NODEJS, capture_output=True, text=True,
                         timeout=120)
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1:] == ["queries ok", "ALL OK"], out.stdout


def test_optional_tls_serves_plaintext_and_tls_clients_on_one_port(
        cluster_factory: Callable[..., LocalCluster], files: certs.CertFiles) -> None:
    metrics_port = INTERNODE_PORT + 9
    c = cluster_factory(1, [client_args(files, 1, optional=True)
                            + ["--metrics-port", str(metrics_port)]])
    address = c.nodes[0].address
    plain = c.session_to(address)  # no ssl_context: plaintext
    plain.execute("CREATE KEYSPACE opt WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    plain.execute("CREATE TABLE opt.t (k int PRIMARY KEY, v text)")
    plain.execute("INSERT INTO opt.t (k, v) VALUES (1, 'plain')")
    tls = c.session_to(address, ssl_context=tls_context(files))
    tls.execute("INSERT INTO opt.t (k, v) VALUES (2, 'tls')")
    rows = sorted((r.k, r.v) for r in plain.execute("SELECT * FROM opt.t"))
    assert rows == [(1, "plain"), (2, "tls")]
    assert sorted((r.k, r.v) for r in tls.execute("SELECT * FROM opt.t")) == rows
    # the TLS session really is TLS: the port completes a handshake naming the node
    with socket.create_connection((address, CQL_PORT), timeout=5) as raw, \
            tls_context(files).wrap_socket(raw, server_hostname=address) as wrapped:
        san = wrapped.getpeercert()["subjectAltName"]
        assert ("IP Address", address) in san
    assert "TLS optional" in c.nodes[0].log_path.read_text()
    # the metrics and admin (nodetool) endpoints listen on the node's own address only, and
    # the metrics show no data
    for port in (metrics_port, admin_port_for(INTERNODE_PORT)):
        with socket.create_connection((address, port), timeout=5):
            pass
        for elsewhere in ("127.0.0.9", "127.1.2.3"):
            with socket.socket() as probe:
                probe.settimeout(2)
                assert probe.connect_ex((elsewhere, port)) != 0, (elsewhere, port)
    with socket.create_connection((address, metrics_port), timeout=5) as m:
        m.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        body = b""
        while chunk := m.recv(65536):
            body += chunk
    assert b"200 OK" in body and b"skewless" in body
    assert b"plain" not in body.split(b"\r\n\r\n", 1)[1]


def test_require_client_auth_refuses_a_client_without_a_certificate(
        cluster_factory: Callable[..., LocalCluster], files: certs.CertFiles,
        tmp_path: Path) -> None:
    c = cluster_factory(1, [client_args(files, 1, require_client_auth=True)],
                        driver_kw={"ssl_context": tls_context(files, files.client_keystore)})
    address = c.nodes[0].address
    assert c.session().execute("SELECT key FROM system.local").one().key == "local"
    error = connect_fails(address, ssl_context=tls_context(files))
    print("no client certificate:", error)
    wait_log(c.nodes[0], "CQL: TLS handshake with 127.0.0.1 failed, connection refused")
    rogue = certs.generate(tmp_path / "rogue", (), NOW)
    connect_fails(address, ssl_context=tls_context(files, rogue.client_keystore))
    assert connect_fails(address)  # plaintext


def test_internode_mutual_tls_forms_a_cluster_and_refuses_a_node_of_another_ca(
        cluster_factory: Callable[..., LocalCluster], files: certs.CertFiles,
        tmp_path: Path) -> None:
    # the options `skewless cluster start --tls` gives every node
    c = cluster_factory(3, [certs.node_tls_args(files, node_address(i)) for i in (1, 2, 3)],
                        driver_kw={"ssl_context": tls_context(files)})
    s = c.session()
    s.execute("CREATE KEYSPACE mtls WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute("CREATE TABLE mtls.t (k int PRIMARY KEY, v int)")
    for k in range(50):
        s.execute(SimpleStatement("INSERT INTO mtls.t (k, v) VALUES (%s, %s)",
                                  consistency_level=ConsistencyLevel.QUORUM), (k, k * k))
    for via in (n.address for n in c.nodes):
        rows = c.session_to(via).execute(SimpleStatement(
            "SELECT k, v FROM mtls.t", consistency_level=ConsistencyLevel.QUORUM))
        assert sorted((r.k, r.v) for r in rows) == [(k, k * k) for k in range(50)]
    # the internode port refuses plaintext peers
    with socket.create_connection((c.nodes[0].address, INTERNODE_PORT), timeout=5) as raw:
        raw.sendall(b"\x00\x00\x00\x04junk")
        raw.settimeout(5)
        try:
            answer = raw.recv(100)
        except ConnectionResetError:  # closed with our bytes unread
            answer = b""
        assert answer == b""
    wait_log(c.nodes[0], "internode: plaintext connection from 127.0.0.1 refused")

    # node 4: a certificate for its own address, but signed by another CA. It trusts both
    # CAs, so only the cluster's refusal keeps it out.
    rogue = certs.generate(tmp_path / "rogue", (node_address(4),), NOW)
    both = tmp_path / "both-cas.pem"
    both.write_bytes(files.ca_cert.read_bytes() + rogue.ca_cert.read_bytes())
    keystore = str(rogue.node_keystores[node_address(4)])
    data = tmp_path / "node4"
    p = NodeProcess(index=4, address=node_address(4), cql_port=CQL_PORT, data_dir=data,
                    argv=node_argv(4, data, seeds=[node_address(1)], cql_port=CQL_PORT,
                                   internode_port=INTERNODE_PORT, extra_args=[
                                       "--internode-encryption", "all",
                                       "--server-encryption-keystore", keystore,
                                       "--server-encryption-truststore", str(both),
                                       "--server-encryption-require-client-auth",
                                       "--server-encryption-require-endpoint-verification"]))
    c.nodes.append(p)  # stopped by pid with the cluster
    p.start()
    log = wait_log(c.nodes[0], "internode: TLS handshake with 127.0.0.4 failed, "
                               "connection refused", timeout_s=30)
    print([line for line in log.splitlines() if "127.0.0.4" in line][:3])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # and it stays out, as seen by every member
        for n in c.nodes[:3]:
            rows = c.session_to(n.address).execute("SELECT address, up FROM "
                                                   "system.skewless_status")
            seen = {str(r.address): r.up for r in rows}
            assert "127.0.0.4" not in seen, (n.address, seen)
            assert sum(seen.values()) == 3
        time.sleep(1)
    assert p.running(), p.log_tail()
    p.terminate()

    # node 4 again, now with a cluster-CA certificate that names another node (node 3's
    # keystore): require_endpoint_verification refuses it
    p.argv[p.argv.index(keystore)] = str(files.node_keystores[node_address(3)])
    p.start()
    wait_log(c.nodes[0], "internode: connection from 127.0.0.4 refused: certificate "
                         "subjectAltName IP addresses ['127.0.0.3'] do not include 127.0.0.4",
             timeout_s=30)
    for n in c.nodes[:3]:
        rows = c.session_to(n.address).execute("SELECT address FROM system.skewless_status")
        assert "127.0.0.4" not in {str(r.address) for r in rows}


def test_cluster_start_tls(tmp_path: Path) -> None:
    """``skewless cluster start --tls``: certificates in DATA_DIR/certs, TLS-only nodes."""
    data = tmp_path / "data"
    cli = [sys.executable, "-m", "skewless", "cluster"]
    out = subprocess.run([*cli, "start", "--tls", "-n", "1", "--data-dir", str(data),
                          "--cql-port", str(CQL_PORT), "--internode-port", str(INTERNODE_PORT)],
                         capture_output=True, text=True, timeout=120)
    try:
        print(out.stdout, out.stderr)
        assert out.returncode == 0, out.stderr
        files = certs.CertFiles(data / "certs", data / "certs" / certs.CA_CERT,
                                data / "certs" / certs.CA_KEY, {}, data / "certs" / "client.pem",
                                data / "certs" / "client.crt", data / "certs" / "client.key")
        assert f"SSL_CERTFILE={files.ca_cert.resolve()} cqlsh --ssl" in out.stdout
        c = Cluster(["127.0.0.1"], port=CQL_PORT, ssl_context=tls_context(files),
                    load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.1"]))
        try:
            assert c.connect().execute("SELECT key FROM system.local").one().key == "local"
        finally:
            c.shutdown()
        connect_fails("127.0.0.1")
    finally:
        subprocess.run([*cli, "stop", "--data-dir", str(data)], timeout=60, check=False)


def test_internode_encryption_dc_encrypts_only_across_dcs(
        cluster_factory: Callable[..., LocalCluster], files: certs.CertFiles) -> None:
    """internode_encryption: dc. Nodes 1, 2 in dc1, node 3 in dc2: the cluster forms and writes
    at ALL reach every replica; node 1 refuses plaintext from node 3's address (across) and
    serves it from node 2's (same DC)."""
    def args(i: int) -> list[str]:
        keystore = str(files.node_keystores[node_address(i)])
        return ["--dc", "dc2" if i == 3 else "dc1", "--internode-encryption", "dc",
                "--server-encryption-keystore", keystore,
                "--server-encryption-truststore", str(files.ca_cert),
                "--server-encryption-require-client-auth",
                "--server-encryption-require-endpoint-verification"]

    c = cluster_factory(3, [args(i) for i in (1, 2, 3)])
    s = c.session_to(c.nodes[0].address)
    s.execute("CREATE KEYSPACE dcs WITH replication = "
              "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}")
    s.execute("CREATE TABLE dcs.t (k int PRIMARY KEY, v int)")
    for k in range(20):
        s.execute(SimpleStatement("INSERT INTO dcs.t (k, v) VALUES (%s, %s)",
                                  consistency_level=ConsistencyLevel.ALL), (k, k))
    rows = c.session_to(c.nodes[2].address).execute(SimpleStatement(
        "SELECT k FROM dcs.t", consistency_level=ConsistencyLevel.LOCAL_ONE))
    assert sorted(r.k for r in rows) == list(range(20))

    def plaintext_from(source: str) -> None:
        with socket.socket() as raw:
            raw.bind((source, 0))
            raw.settimeout(5)
            raw.connect((c.nodes[0].address, INTERNODE_PORT))
            raw.sendall(b"\x00\x00\x00\x04junk")  # not a handshake: the transport closes it
            try:
                assert raw.recv(100) == b""
            except ConnectionResetError:
                pass

    # what each node accepted: dc2 <-> dc1 only TLS; dc1 <-> dc1 plaintext once the peer's DC
    # is known (node 1 knows node 2's from node 2's first gossip, before it answers)
    logs = {n.address: n.log_path.read_text() for n in c.nodes}
    assert "internode: TLS connection from 127.0.0.3 accepted (TLSv1." in logs["127.0.0.1"]
    assert "internode: TLS connection from 127.0.0.1 accepted (TLSv1." in logs["127.0.0.3"]
    assert "plaintext connection from 127.0.0.3 accepted" not in logs["127.0.0.1"]
    assert "plaintext connection" not in logs["127.0.0.3"]
    assert "internode: plaintext connection from 127.0.0.1 accepted" in logs["127.0.0.2"]

    plaintext_from("127.0.0.3")
    wait_log(c.nodes[0], "internode: plaintext connection from 127.0.0.3 refused")
    plaintext_from("127.0.0.2")
    # accepted in plaintext (same DC), then refused by the internode authentication: not TLS's
    log = wait_log(c.nodes[0], "internode: refused 127.0.0.2 (")
    assert "plaintext connection from 127.0.0.2 refused" not in log
