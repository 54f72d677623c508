"""The scylla-driver's CQLEngine, unchanged, against a real cluster.

scylla-driver installs the same ``cassandra`` import name as cassandra-driver, so it cannot share
the project's venv: this test builds a venv of its own in ``tests/scylla/venv`` (git-ignored),
again only when the pinned version changes, installs ``scylla-driver==SCYLLA_DRIVER`` there with
pip, and runs ``tests/scylla/cqlengine_client.py`` with it (create_keyspace_simple,
create_keyspace_network_topology, an NTS keyspace by replication_factor, sync_table creating and
then altering a table, a model round trip). It skips, saying why, only when pip cannot reach the
package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CQL_PORT, LocalCluster

SCYLLA_DRIVER = "3.29.12"
HERE = Path(__file__).resolve().parent.parent / "scylla"
VENV = HERE / "venv"
PYTHON = VENV / "bin" / "python"
OFFLINE = ("Could not find a version", "No matching distribution", "Failed to establish",
           "Temporary failure in name resolution", "Network is unreachable", "ConnectionError")


def _install() -> None:
    stamp = VENV / ".skewless-scylla-driver"
    if stamp.exists() and stamp.read_text() == SCYLLA_DRIVER and PYTHON.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120)
    out = subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          f"scylla-driver=={SCYLLA_DRIVER}"],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        if any(s in out.stderr + out.stdout for s in OFFLINE):
            pytest.skip(f"pip cannot reach the package index for scylla-driver=={SCYLLA_DRIVER}: "
                        f"{out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''}")
        raise AssertionError(f"pip install scylla-driver failed:\n{out.stdout}\n{out.stderr}")
    stamp.write_text(SCYLLA_DRIVER)


def test_scylla_driver_cqlengine_unchanged(shared_cluster: LocalCluster) -> None:
    _install()
    node1 = shared_cluster.nodes[0].address
    dc = shared_cluster.session_to(node1).execute(
        "SELECT data_center FROM system.local WHERE key = 'local'").one().data_center
    out = subprocess.run([str(PYTHON), str(HERE / "cqlengine_client.py"), node1, str(CQL_PORT),
                          dc], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CQLENG_ALLOW_SCHEMA_MANAGEMENT": "1"})
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"connected with scylla-driver {SCYLLA_DRIVER}"
    assert lines[1:] == ["keyspaces ok", "sync_table ok", "model round trip ok", "ALL OK"]
