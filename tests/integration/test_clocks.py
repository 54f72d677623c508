"""Cluster time on real processes: node 2's clock 200 ms slow is measured, alarmed and shown
by `skewless status`, `skewless clocks` and the Prometheus endpoint (issue 4)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request

from skewless.runtime.cluster import suite_port_offset

METRICS_PORT = 19900 + suite_port_offset()


def _status(session) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {r.address: r for r in session.execute("SELECT * FROM system.skewless_status")}


def _near_minus_200(line: str) -> int:
    """How many offsets in a table row are within 20 ms of -200 ms."""
    return sum(1 for v in re.findall(r"([+-]\d+\.\d) ms", line) if abs(float(v) + 200) < 20)


def _metric(address: str, name: str) -> float:
    url = f"http://{address}:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test node
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in {url}")


def test_slow_node_is_measured_and_alarmed(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    extra = [["--metrics-port", str(METRICS_PORT)] for _ in range(3)]
    extra[1] += ["--clock-offset-ms", "-200"]
    c = cluster_factory(3, extra=extra)
    time.sleep(2)  # a few ping rounds (every 500 ms)
    for via in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        rows = _status(c.session_to(via))
        slow = rows["127.0.0.2"]
        assert abs(slow.clock_offset_ms + 200) < 20, (via, slow)  # type: ignore[attr-defined]
        assert slow.clock_alarm and slow.clock_in_bounds, (via, slow)  # type: ignore[attr-defined]
        for ok in ("127.0.0.1", "127.0.0.3"):
            assert abs(rows[ok].clock_offset_ms) < 20, (via, rows[ok])  # type: ignore[attr-defined]
            assert not rows[ok].clock_alarm, (via, rows[ok])  # type: ignore[attr-defined]
    assert abs(_metric("127.0.0.2", "skewless_clock_offset_seconds") + 0.2) < 0.02
    assert _metric("127.0.0.2", "skewless_clock_alarm") == 1.0
    assert _metric("127.0.0.1", "skewless_clock_alarm") == 0.0
    peer = _metric("127.0.0.1", 'skewless_peer_clock_offset_seconds{peer="127.0.0.2"}')
    assert abs(peer + 0.2) < 0.02
    exe = [sys.executable, "-m", "skewless.cli"]
    port = str(c.nodes[0].cql_port)
    status = subprocess.run([*exe, "status", "--port", port], capture_output=True,
                            text=True, timeout=60, env={"COLUMNS": "200", "PATH": ""})
    assert status.returncode == 0, status.stderr
    # piped, the status table is plain text in nodetool's layout: "UN  127.0.0.2  ..."
    line = next(x for x in status.stdout.splitlines()
                if re.match(r"^[UD][NLJM]\s+127\.0\.0\.2\s", x))
    assert "ALARM" in line and _near_minus_200(line) == 1, status.stdout
    clocks = subprocess.run([*exe, "clocks", "--port", port], capture_output=True,
                            text=True, timeout=60, env={"COLUMNS": "200", "PATH": ""})
    assert clocks.returncode == 0, clocks.stderr
    line = next(x for x in clocks.stdout.splitlines() if "│ 127.0.0.2 │" in x)
    assert "ALARM" in line and _near_minus_200(line) == 3, clocks.stdout


def test_libfaketime_clock_is_measured_and_its_return_seen(cluster_factory, faketime) -> None:  # type: ignore[no-untyped-def]
    """Node 2's OS clock (libfaketime) 200 ms slow: measured and alarmed; when the clock is
    fixed (the file libfaketime re-reads), the alarm clears by itself."""
    ft = faketime("node2", -0.2)
    c = cluster_factory(3, env=[{}, ft.env(), {}])
    s = c.session_to("127.0.0.1")

    def node2() -> object:
        return _status(s)["127.0.0.2"]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not node2().clock_alarm:  # type: ignore[attr-defined]
        time.sleep(0.5)
    row = node2()
    assert row.clock_alarm and abs(row.clock_offset_ms + 200) < 20, row  # type: ignore[attr-defined]
    ft.set_offset_s(0.0)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and node2().clock_alarm:  # type: ignore[attr-defined]
        time.sleep(0.5)
    row = node2()
    assert not row.clock_alarm and abs(row.clock_offset_ms) < 20, row  # type: ignore[attr-defined]
    # Node 2 sees its own return when its next pongs (every clock_ping_interval_ms) agree; node
    # 1's view of it may clear a round earlier.
    via2 = c.session_to("127.0.0.2")
    started = time.monotonic()
    while time.monotonic() < started + 20 and _status(via2)["127.0.0.2"].clock_alarm:  # type: ignore[attr-defined]
        time.sleep(0.5)
    own = _status(via2)["127.0.0.2"]
    print(f"node 2's own alarm cleared {time.monotonic() - started:.1f} s after node 1's")
    assert not own.clock_alarm and abs(own.clock_offset_ms) < 20, own  # type: ignore[attr-defined]
