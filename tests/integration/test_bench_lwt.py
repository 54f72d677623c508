"""``skewless bench lwt`` at a tiny scale (one round of one-second windows, 8 clients), so that
the command does not rot: every window ran and printed its figures, and the count of internode
messages per uncontended one-at-a-time LWT is at most 2 round trips' worth per remote replica
(a prepare with its read and a propose with its commit, each a request and an answer: 4). The
count is the nodes' sent-message counters less the idle cluster's background rate (gossip, clock
probes); that removal is an estimate (a periodic message may fall in or out of the window), so
the bound carries a margin of a quarter message per replica, far below the 6 of a third round
trip. Throughput and latency are never checked (performance is not asserted by timing).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import PORT_OFFSET

from skewless.bench_lwt import metric_value

pytestmark = pytest.mark.timeout(300)

BASE_PORT = 26500 + PORT_OFFSET  # apart from the other clusters (test_port_layout), and below
# the kernel's ephemeral ports (32768..) for offsets up to 6000: a client's port can take ours
NOISE_PER_REPLICA = 0.25  # the background estimate's error, in messages per LWT per replica
WINDOW = re.compile(r"^round 1 (LWT|plain)\s+(8 in flight|one at a time)\s+([\d,]+)/s\s+"
                    r"p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms\s+server CPU\s+([\d,]+) µs/op$")
MESSAGES = re.compile(r"^round 1 internode messages per LWT ([\d.]+) \(([\d.]+) per remote "
                      r"replica\), per plain write ([\d.]+) \(background [\d.]+/s removed\)$")
CONTENDED = re.compile(r"^round 1 contended, 8 clients on one partition: applied ([\d.,]+)/s"
                       r"\s+not applied ([\d.,]+)/s\s+timeouts (\d+) CAS, \d+ SERIAL reads\s+"
                       r"errors (\d+)\s+"
                       r"contentions ([\d,]+)\s+register \+([\d,]+) for ([\d,]+) applied$")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def test_bench_lwt_small() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "skewless", "bench", "lwt", "--rounds", "1", "--seconds", "1.5",
         "--warmup", "0.2", "--concurrency", "8", "--base-port", str(BASE_PORT)],
        capture_output=True, text=True, timeout=280)
    print(out.stdout, out.stderr[-3000:])
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    windows = {(m.group(1), m.group(2)): m for m in map(WINDOW.match, lines) if m}
    # (a window with errors says so at its end, and WINDOW does not match it)
    assert set(windows) == {(s, m) for s in ("LWT", "plain")
                            for m in ("8 in flight", "one at a time")}, windows
    for m in windows.values():
        assert _int(m.group(3)) > 0 and 0 < float(m.group(4)) <= float(m.group(5)), m.group(0)
    messages = [m for m in map(MESSAGES.match, lines) if m]
    assert len(messages) == 1, out.stdout
    per_lwt, per_replica, per_plain = (float(messages[0].group(i)) for i in (1, 2, 3))
    assert per_replica == pytest.approx(per_lwt / 2, abs=0.01)
    assert 0 < per_replica <= 4 + NOISE_PER_REPLICA, messages[0].group(0)
    assert per_lwt > per_plain > 0, messages[0].group(0)
    contended = [m for m in map(CONTENDED.match, lines) if m]
    assert len(contended) == 1, out.stdout
    c = contended[0]
    timeouts, errors, increase, applied = (_int(c.group(i)) for i in (3, 4, 6, 7))
    assert applied > 0 and errors == 0, c.group(0)
    # an applied CAS raised the register by one; a timed-out one may have, or not
    assert applied <= increase <= applied + timeouts, c.group(0)
    assert "ratio LWT ÷ plain, one at a time: throughput " in out.stdout
    assert "ratio LWT ÷ plain, 8 in flight: throughput " in out.stdout


def test_metric_value_reads_an_unlabelled_sample() -> None:
    text = ("# HELP skewless_cas_contentions_total Paxos rounds lost\n"
            "# TYPE skewless_cas_contentions_total counter\n"
            "skewless_cas_contentions_total 12.0\n"
            "skewless_cas_contentions_created 1.7e9\n"
            'skewless_peer_phi{peer="127.0.0.2"} 0.5\n')
    assert metric_value(text, "skewless_cas_contentions_total") == 12.0
    assert metric_value(text, "skewless_peer_phi") == 0.0  # labelled: not this function's
    assert metric_value(text, "skewless_absent_total") == 0.0
