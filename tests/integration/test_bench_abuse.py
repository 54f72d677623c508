"""``python -m skewless.bench_abuse`` at a small scale: it starts its cluster, runs the canary
beside every abusive case, prints a line per case and stops everything. Its latencies are not
checked (performance is never asserted by timing), only that every case ran and reported, and
that no node logged a ServerError or a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import PORT_OFFSET

from skewless.bench_abuse import CASES

pytestmark = pytest.mark.timeout(400)

BASE_PORT = 23300 + PORT_OFFSET  # apart from the tests' clusters and bench_security's


def test_bench_abuse_small() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "skewless.bench_abuse", "--scale", "0.02", "--settle", "0.3",
         "--pipeline-seconds", "1", "--base-port", str(BASE_PORT)],
        capture_output=True, text=True, timeout=360)
    print(out.stdout, out.stderr[-2000:])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for case in ("baseline", *CASES):
        i = next(i for i, x in enumerate(lines) if x.split()[:1] == [case])
        assert "canary" in lines[i] and " p99 " in lines[i], lines[i]
        assert "0 ServerError, 0 tracebacks" in lines[i], lines[i]
        assert lines[i + 1].strip().startswith("abusive request:"), lines[i + 1]
        assert "no outcome" not in lines[i + 1] and "ServerError" not in lines[i + 1]
