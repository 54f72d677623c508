"""The stock Node.js cassandra-driver (npm, 4.10.0) against a real cluster, with its defaults.

``tests/nodejs`` holds package.json and package-lock.json; this test runs ``npm ci`` there
into node_modules (git-ignored), again only when the lock file changed, then runs
``client_test.js`` (prepared INSERT/SELECT, a batch, collection element add/remove, values
and results over 128 KiB; the protocol version it negotiates) against the
shared cluster, connecting with contactPoints and the localDataCenter that system.local reports.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CQL_PORT, LocalCluster

NODEJS = Path(__file__).resolve().parent.parent / "nodejs"


def _install() -> None:
    """``npm ci`` once per lock file; under a file lock, as parallel test workers may get here
    at the same moment."""
    lock = (NODEJS / "package-lock.json").read_bytes()
    stamp = NODEJS / "node_modules" / ".skewless-lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    with open(NODEJS / ".install.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest:
            return
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODEJS, check=True,
                       timeout=300, capture_output=True)
        stamp.write_text(digest)


def test_nodejs_driver_prepared_batch_collections(shared_cluster: LocalCluster) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Node.js driver test; not found on PATH")
    _install()
    node1 = shared_cluster.nodes[0].address
    dc = shared_cluster.session_to(node1).execute(
        "SELECT data_center FROM system.local WHERE key = 'local'").one().data_center
    out = subprocess.run(["node", "client_test.js", node1, str(CQL_PORT), dc], cwd=NODEJS,
                         capture_output=True, text=True, timeout=120)
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("connected; hosts ") and len(lines[0].split("hosts ")[1]
                                                             .split(";")[0].split()) == 3
    # Node.js cassandra-driver 4.10.0 (the newest) does not speak v5 (protocol-version.js:
    # isSupportedCassandra is v1..v4): from DSE_V2 it steps down to v4, as with Cassandra 5.
    assert lines[0].endswith("; protocol 4"), lines[0]
    assert lines[1:] == ["prepared INSERT/SELECT ok", "batch ok", "collections ok",
                         "big values ok", "ALL OK"]
