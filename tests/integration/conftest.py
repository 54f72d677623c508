"""Real local clusters for integration tests: node processes on 127.0.0.x, stopped by pid."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from cassandra.cluster import Cluster, Session
from cassandra.policies import RoundRobinPolicy, WhiteListRoundRobinPolicy

from skewless.runtime.cluster import NodeProcess, start_local_cluster, stop_nodes, suite_port_offset
from skewless.runtime.faketime import FaketimeFile
from skewless.runtime.faketime import library as faketime_library

# Not 9042/7000: a developer's own cluster may be running. SKEWLESS_TEST_PORT_OFFSET moves both,
# so that two checkouts can run their integration tests side by side on one machine.
PORT_OFFSET = suite_port_offset()
CQL_PORT = 19042 + PORT_OFFSET
INTERNODE_PORT = 17000 + PORT_OFFSET


class LocalCluster:
    def __init__(self, tmp: Path, n: int, extra: Sequence[Sequence[str]] | None = None,
                 env: Sequence[dict[str, str]] | None = None,
                 driver_kw: dict[str, object] | None = None,
                 auth_provider: object | None = None) -> None:
        self.nodes: list[NodeProcess] = start_local_cluster(
            n, tmp, extra, env, cql_port=CQL_PORT, internode_port=INTERNODE_PORT)
        self.clusters: list[Cluster] = []
        self.driver_kw = dict(driver_kw or {})  # every session's (e.g. ssl_context: TLS nodes)
        # PasswordAuthenticator clusters: the sessions below log in with this by default.
        self.auth_provider = auth_provider

    def _kw(self, kw: dict[str, object]) -> dict[str, object]:
        kw = {**self.driver_kw, **kw}
        if self.auth_provider is not None:
            kw.setdefault("auth_provider", self.auth_provider)
        return kw

    def wait_login(self, timeout_s: float = 60.0) -> None:
        """Wait until every node accepts a login with ``auth_provider`` (the first superuser
        is created ``--superuser-setup-delay-ms`` after start)."""
        from cassandra.cluster import NoHostAvailable

        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            while True:
                c = Cluster([node.address], port=CQL_PORT,
                            load_balancing_policy=WhiteListRoundRobinPolicy([node.address]),
                            **self._kw({}))
                try:
                    c.connect()
                    break
                except NoHostAvailable:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
                finally:
                    c.shutdown()

    def wait_gossip(self, expected_up: int, timeout_s: float = 60.0, via: str = "") -> None:
        """Wait until node ``via`` (node 1 by default) sees ``expected_up`` nodes up (or, after
        a node is stopped, down to that many: phi 8 convicts after ≈ 20-40 s of silence)."""
        session = self.session_to(via or self.nodes[0].address)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rows = list(session.execute("SELECT * FROM system.skewless_status"))
            if sum(1 for r in rows if r.up) >= expected_up:
                return
            time.sleep(0.2)
        raise AssertionError(f"gossip did not converge to {expected_up} nodes up")

    def session(self, **kw: object) -> Session:
        """A session with the stock driver's DEFAULT settings (token-aware, metadata on)."""
        c = Cluster([n.address for n in self.nodes], port=CQL_PORT, **self._kw(kw))
        self.clusters.append(c)
        return c.connect()

    def session_to(self, address: str, **kw: object) -> Session:
        c = Cluster([address], port=CQL_PORT,
                    load_balancing_policy=WhiteListRoundRobinPolicy([address]), **self._kw(kw))
        self.clusters.append(c)
        return c.connect()

    def round_robin_session(self, **kw: object) -> Session:
        c = Cluster([n.address for n in self.nodes], port=CQL_PORT,
                    load_balancing_policy=RoundRobinPolicy(), **self._kw(kw))
        self.clusters.append(c)
        return c.connect()

    def close(self) -> None:
        for c in self.clusters:
            c.shutdown()
        stop_nodes(self.nodes, 10.0)


def _clusters(directory: Callable[[], Path]) -> Iterator[Callable[..., LocalCluster]]:
    """A cluster maker whose clusters are all stopped (by pid) when the fixture ends."""
    made: list[LocalCluster] = []

    def make(n: int = 3, extra: Sequence[Sequence[str]] | None = None,
             env: Sequence[dict[str, str]] | None = None,
             driver_kw: dict[str, object] | None = None,
             auth_provider: object | None = None) -> LocalCluster:
        c = LocalCluster(directory(), n, extra, env, driver_kw, auth_provider)
        made.append(c)
        if auth_provider is not None:
            c.wait_login()
        # Every node must see every other before a driver connects: the driver keeps only the
        # hosts its control node lists, and that may be any node.
        for node in c.nodes:
            c.wait_gossip(n, via=node.address)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.close()


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    yield from _clusters(lambda: tmp_path)


@pytest.fixture
def faketime(tmp_path: Path) -> object:
    """``make(name, offset_s)``: a libfaketime offset file for one process (its ``env()`` to
    start it with, ``set_offset_s`` to step its clock while it runs); skips without the
    library."""
    def make(name: str, offset_s: float) -> FaketimeFile:
        library = faketime_library()
        if library is None:
            pytest.skip("libfaketime is not installed (apt-get install libfaketime; "
                        "run.py installs it when it runs as root)")
        return FaketimeFile(tmp_path / f"faketime-{name}.txt", library, offset_s)
    return make


@pytest.fixture(scope="module")
def shared_cluster(module_cluster_factory: Callable[..., LocalCluster]) -> LocalCluster:
    """One 3-node cluster for all the tests of a module that only need a healthy cluster
    (client compatibility checks), so the suite starts few clusters; tests use their own
    keyspaces. Module-scoped: it is stopped before the next module starts its clusters on
    the same ports."""
    return module_cluster_factory(3)


@pytest.fixture(scope="module")
def module_cluster_factory(tmp_path_factory: pytest.TempPathFactory
                           ) -> Iterator[Callable[..., LocalCluster]]:
    """As ``cluster_factory``, but the clusters live for the whole test module."""
    yield from _clusters(lambda: tmp_path_factory.mktemp("cluster"))


# The whole suite's files in the order the two xdist workers take them, one file at a time
# (run.py passes --no-loadscope-reorder; xdist would otherwise put the files with the most
# tests first, and a 200 s file of two tests could start last and run alone). Longest first,
# so that the last files to start are short and both workers finish together (a CI run of
# 2,200 s of tests took 1,116 s): the files named here, then the other real-process files,
# then the rest (in-memory, each short).
LONGEST_FILES_FIRST = (  # whole-file seconds in a CI run of 2,309 tests, 2,200 s in all
    "integration/test_lifecycle.py",  # 186: grow, kill, replace, decommission, removenode
    "integration/test_batchlog.py",  # 85
    "lab/test_lab_swarm.py",  # 74
    "integration/test_counters_soak.py",  # 69
    "integration/test_cas_soak.py",  # 67: the 60 s CAS soak
    "integration/test_full_disk.py",  # 64
    "integration/test_topology.py",  # 61
    "integration/test_bench_etcd.py",  # 59
    "integration/test_seed000.py",  # 58
    "integration/test_metadata_log.py",  # 58
)


def _run_order(item: pytest.Item) -> tuple[int, int]:
    path = item.path.as_posix()
    rank = next((i for i, name in enumerate(LONGEST_FILES_FIRST) if path.endswith(name)),
                len(LONGEST_FILES_FIRST))
    return rank, 0 if "/tests/integration/" in path else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first (``LONGEST_FILES_FIRST``); a stable sort on a key of the file alone
    keeps each file's tests together and in their order."""
    items.sort(key=_run_order)
