"""The project's own clients over TLS, as a user runs them (subprocesses): ``skewless stress``,
``skewless status`` and ``skewless clocks`` with ``--ssl`` against a 1-node cluster that
requires client TLS, and with a client certificate against one that also requires client auth.
"""

from __future__ import annotations

import datetime
import json
import os
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CQL_PORT, LocalCluster

from skewless.runtime.cluster import node_address
from skewless.security import certs

pytestmark = pytest.mark.timeout(300)

NOW = datetime.datetime.now(datetime.UTC)
ADDRESS = node_address(1)
RUN_TIMEOUT_S = 120  # one command against a 1-node cluster


def node_args(files: certs.CertFiles, require_client_auth: bool = False) -> list[str]:
    args = ["--client-encryption-enabled",
            "--client-encryption-keystore", str(files.node_keystores[ADDRESS]),
            "--client-encryption-truststore", str(files.ca_cert)]
    return args + (["--client-encryption-require-client-auth"] if require_client_auth else [])


def skewless(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One bounded ``skewless`` command; SSL_* variables only as ``env`` gives them."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SSL_")}
    return subprocess.run([sys.executable, "-m", "skewless.cli", *args], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, env={**base, **(env or {})})


def stress_writes(*args: str, ops: int = 300, env: dict[str, str] | None = None
                  ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    out = skewless("stress", "write", "--ops", str(ops), "--keys", str(ops), "--concurrency",
                   "16", "--replication-factor", "1", "--consistency", "ONE", "--hosts",
                   ADDRESS, "--port", str(CQL_PORT), "--json", "-", *args, env=env)
    return out, json.loads(out.stdout) if out.stdout.strip() else None


def check_clean(out: subprocess.CompletedProcess[str], doc: dict[str, Any] | None,
                ops: int) -> dict[str, Any]:
    assert out.returncode == 0 and doc is not None, out.stderr
    assert doc["total"]["ops"] == ops and doc["total"]["errors"] == 0, doc["total"]
    assert doc["unfinished"] == 0
    assert "TLS" in out.stderr  # the heading says the run was over TLS
    return doc


def test_stress_status_clocks_with_ssl(cluster_factory: Callable[..., LocalCluster],
                                       tmp_path: Path) -> None:
    files = certs.generate(tmp_path / "certs", (ADDRESS,), NOW)
    cluster_factory(1, [node_args(files)], driver_kw={"ssl_context": _context(files, False)})
    ca = str(files.ca_cert)

    out, doc = stress_writes("--ssl", "--ssl-certfile", ca)
    doc = check_clean(out, doc, 300)
    assert doc["options"]["client"] == {"ssl": True, "ssl_validate": True,
                                        "client_certificate": False, "username": None}
    # the CA from SSL_CERTFILE, as cqlsh takes it
    check_clean(*stress_writes("--ssl", ops=200, env={"SSL_CERTFILE": ca}), 200)

    status = skewless("status", "--ssl", "--ssl-certfile", ca, "--host", ADDRESS,
                      "--port", str(CQL_PORT))
    assert status.returncode == 0, status.stderr
    assert "UN" in status.stdout and ADDRESS in status.stdout, status.stdout
    clocks = skewless("clocks", "--ssl", "--host", ADDRESS, "--port", str(CQL_PORT),
                      env={"SSL_CERTFILE": ca})
    assert clocks.returncode == 0, clocks.stderr
    assert ADDRESS in clocks.stdout and "(self)" in clocks.stdout, clocks.stdout

    # Without --ssl the node refuses the plaintext connection: a clean error, no report.
    out, doc = stress_writes()
    assert out.returncode != 0 and doc is None
    assert "cannot reach a node" in out.stderr, out.stderr
    status = skewless("status", "--host", ADDRESS, "--port", str(CQL_PORT))
    assert status.returncode == 1 and "cannot reach a Skewless node" in status.stderr

    # A node certificate is checked: against a CA that did not sign it, refused ...
    rogue = certs.generate(tmp_path / "rogue", (ADDRESS,), NOW)
    out, doc = stress_writes("--ssl", "--ssl-certfile", str(rogue.ca_cert))
    assert out.returncode != 0 and doc is None
    assert "certificate verify failed" in out.stderr, out.stderr
    # ... unless validation is off (encrypted, not authenticated), as cqlsh's SSL_VALIDATE
    check_clean(*stress_writes("--ssl", ops=100, env={"SSL_VALIDATE": "false"}), 100)

    # Validation without a CA, or a CA file that is not one: a usage error before connecting.
    out, _ = stress_writes("--ssl")
    assert out.returncode == 2 and "--ssl-certfile" in out.stderr, out.stderr
    out, _ = stress_writes("--ssl", "--ssl-certfile", str(tmp_path / "missing.crt"))
    assert out.returncode == 2 and "cannot load" in out.stderr, out.stderr


def test_client_certificate_for_require_client_auth(
        cluster_factory: Callable[..., LocalCluster], tmp_path: Path) -> None:
    files = certs.generate(tmp_path / "certs", (ADDRESS,), NOW)
    cluster_factory(1, [node_args(files, require_client_auth=True)],
                    driver_kw={"ssl_context": _context(files, True)})
    ca = str(files.ca_cert)

    # cqlsh's usercert/userkey pair, and a keystore holding both (client.pem)
    check_clean(*stress_writes("--ssl", "--ssl-certfile", ca, "--ssl-usercert",
                               str(files.client_cert), "--ssl-userkey", str(files.client_key)),
                300)
    out, doc = stress_writes("--ssl", "--ssl-certfile", ca, "--ssl-usercert",
                             str(files.client_keystore), ops=100)
    assert check_clean(out, doc, 100)["options"]["client"]["client_certificate"] is True
    status = skewless("status", "--ssl", "--ssl-certfile", ca, "--ssl-usercert",
                      str(files.client_keystore), "--host", ADDRESS, "--port", str(CQL_PORT))
    assert status.returncode == 0 and ADDRESS in status.stdout, status.stderr

    # No client certificate: the handshake fails
    out, doc = stress_writes("--ssl", "--ssl-certfile", ca, ops=100)
    assert out.returncode != 0 and doc is None
    assert "cannot reach a node" in out.stderr, out.stderr
    # A certificate from another CA: refused too
    rogue = certs.generate(tmp_path / "rogue", (ADDRESS,), NOW)
    out, doc = stress_writes("--ssl", "--ssl-certfile", ca, "--ssl-usercert",
                             str(rogue.client_keystore), ops=100)
    assert out.returncode != 0 and doc is None, out.stderr


def _context(files: certs.CertFiles, client_cert: bool) -> ssl.SSLContext:
    """The fixture's own driver (its gossip wait) over TLS."""
    ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    if client_cert:
        ctx.load_cert_chain(files.client_keystore)
    return ctx
