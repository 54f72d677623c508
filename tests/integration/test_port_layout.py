"""The suite's port layout: the two pytest-xdist workers (``run.py``) run clusters side by side on
the same 127.0.0.x addresses, worker gw1's ports ``XDIST_PORT_STRIDE`` above gw0's. No port of
one worker may be a port of the other, and every port must stay below the kernel's ephemeral
range (32768 and up by default, ``net.ipv4.ip_local_port_range``), where a client connection's
local port can take a listening port before the node binds it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import test_bench_abuse
import test_bench_etcd
import test_bench_lwt
import test_bench_security
import test_clock_faults
import test_clock_nemesis
import test_failure_detector
import test_full_disk
import test_internode_auth
import test_lab_real
from conftest import CQL_PORT, INTERNODE_PORT, LONGEST_FILES_FIRST, PORT_OFFSET

from skewless.runtime.cluster import ADMIN_PORT_OFFSET, XDIST_PORT_STRIDE

EPHEMERAL_FIRST = 32768  # Linux's default net.ipv4.ip_local_port_range starts here
BENCH_CONFIGS = 5  # bench_security's clusters: CQL BASE+k, internode BASE-2000+k


def _cluster(cql: int, internode: int, nodes_ports: int = 1) -> list[int]:
    return [p + k for k in range(nodes_ports)
            for p in (cql, internode, internode + ADMIN_PORT_OFFSET)]


def gw0_ports() -> dict[str, list[int]]:
    """Every port the suite's clusters listen on, as worker gw0 (no offset) has them."""
    o = PORT_OFFSET
    module = _conformance_conftest()
    lwt, etcd = test_bench_lwt.BASE_PORT - o, test_bench_etcd.ETCD_BASE_PORT - o
    lab = [test_lab_real.PORT - o, test_clock_nemesis.PORT - o]
    return {
        "integration": _cluster(CQL_PORT - o, INTERNODE_PORT - o),
        "conformance": _cluster(module.CQL_PORT - o, module.INTERNODE_PORT - o),
        "metrics": sorted({m.METRICS_PORT - o for m in (
            test_clock_faults, test_failure_detector, test_full_disk, test_internode_auth)}),
        "lab real": [p for port in lab for p in _cluster(port, port - 2000)],
        "bench security": _cluster(test_bench_security.BASE_PORT - o,
                                   test_bench_security.BASE_PORT - o - 2000, BENCH_CONFIGS),
        "bench abuse": _cluster(test_bench_abuse.BASE_PORT - o,
                                test_bench_abuse.BASE_PORT - o - 2000),
        "bench etcd": _cluster(etcd, etcd - 2000, 2) + [etcd + 10 + k for k in range(13)],
        "bench load": _cluster(test_bench_etcd.LOAD_BASE_PORT - o,
                               test_bench_etcd.LOAD_BASE_PORT - o - 2000),
        "bench lwt": _cluster(lwt, lwt - 2000) + [lwt + 5],
    }


def _conformance_conftest() -> ModuleType:
    """tests/conformance/conftest.py, loaded under a name of its own (this directory has a
    conftest module too)."""
    path = Path(__file__).parent.parent / "conformance" / "conftest.py"
    spec = importlib.util.spec_from_file_location("conformance_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workers_never_share_a_port_and_stay_below_the_ephemeral_range() -> None:
    gw0 = {p for ports in gw0_ports().values() for p in ports}
    gw1 = {p + XDIST_PORT_STRIDE for p in gw0}
    both = sorted(gw0 & gw1)
    assert not both, f"ports used by both workers: {both}"
    top = max(gw1)
    assert top < EPHEMERAL_FIRST, f"worker gw1 listens on {top}, in the ephemeral range"


def test_the_longest_files_first_are_files_of_the_suite() -> None:
    """``conftest.LONGEST_FILES_FIRST`` orders the workers' files: a renamed or removed file
    there would silently go back to the end of the run."""
    tests = Path(__file__).resolve().parent.parent
    for name in LONGEST_FILES_FIRST:
        assert (tests / name).is_file(), name
