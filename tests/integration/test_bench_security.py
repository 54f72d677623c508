"""``python -m skewless.bench_security`` at a tiny size: it starts its clusters (one plain, one
with internode authentication and client TLS), runs ``skewless stress`` against each with the
right options, prints its table and stops everything. Its numbers are not checked (performance
is never asserted by timing), only that every run reported and none failed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import PORT_OFFSET

pytestmark = pytest.mark.timeout(240)

BASE_PORT = 23000 + PORT_OFFSET  # apart from the tests' clusters (19042 + offset and below)


def test_bench_security_tiny() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "skewless.bench_security", "--configs", "none,auth+client-tls",
         "--rounds", "1", "--duration", "0.5", "--warmup", "0.5", "--concurrency", "8",
         "--base-port", str(BASE_PORT)],
        capture_output=True, text=True, timeout=200)
    print(out.stdout, out.stderr[-2000:])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "client TLS on" in next(x for x in lines if x.strip().startswith("auth+client-tls"))
    header = next(x for x in lines if x.startswith("round"))
    assert header.split()[1:3] == ["none", "auth+client-tls"]
    row = next(x for x in lines if x.strip().startswith("1 "))
    assert row.count("p99") == 2 and "failed" not in row
    assert any(x.startswith("ratio") for x in lines)
    errors = next(x for x in lines if x.startswith("errors"))
    assert errors.count("0 runs failed") == 2, errors
