"""``cas_contention_timeout_in_ms`` (cassandra.yaml's name and default, 1000): validated as an
option, and what each LWT's Paxos request is given as its contention timeout."""

from __future__ import annotations

import pytest

from skewless import limits
from skewless.config import NodeConfig, normalize_options
from skewless.node.consistency import QUORUM
from skewless.node.params import Params
from skewless.node.paxos.proposer import CasRequest
from skewless.sim.world import World


def test_the_option_has_cassandras_default_and_is_checked() -> None:
    assert NodeConfig().cas_contention_timeout_in_ms == 1000 == \
        limits.cas_contention_timeout_ms_default
    assert normalize_options({"cas-contention-timeout-in-ms": 250}) == {
        "cas_contention_timeout_in_ms": 250}
    for bad in (0, -1, "1000", limits.cas_contention_timeout_ms_max_option + 1):
        with pytest.raises(ValueError, match="cas_contention_timeout_in_ms"):
            NodeConfig(cas_contention_timeout_in_ms=bad)  # type: ignore[arg-type]


def test_each_lwt_gets_the_configured_contention_timeout() -> None:
    w = World(1410, n_nodes=3, trace_enabled=False,
              node_options={"cas_contention_timeout_in_ms": 250})
    assert w.stabilize()
    lwt = w.nodes["127.0.0.1"].node.lwt
    seen: list[CasRequest] = []
    cas = lwt.cas

    def spy(req: CasRequest, done: object) -> None:
        seen.append(req)
        cas(req, done)  # type: ignore[arg-type]
    lwt.cas = spy  # type: ignore[method-assign]
    out: list[object] = []
    for text in ("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                 "'replication_factor': 3}", "CREATE TABLE ks.t (k int PRIMARY KEY, v int)",
                 "INSERT INTO ks.t (k, v) VALUES (1, 1) IF NOT EXISTS"):
        out.clear()
        w.client_execute("127.0.0.1", 1, text, Params(consistency=QUORUM), out.append)
        assert w.run_until(lambda: bool(out), 20 * 10**9), text
    assert [r.contention_timeout_ms for r in seen] == [250]
    assert seen[0].participants == seen[0].replicas and len(seen[0].replicas) == 3
    assert seen[0].commit_required == 2  # QUORUM of RF 3
