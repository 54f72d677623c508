"""The real-process lab runner (``skewless lab real``) in a short form: node 2's OS clock 200 ms
slow (libfaketime), clients each writing one key sequentially through rotating coordinators
(consecutive writes of a key well within 200 ms of each other). Under
``wallclock`` the lost-acknowledged-write checker finds the seed-000 loss; under the default it
finds none, and neither do the session and linearizability checkers."""

from __future__ import annotations

import pytest

from skewless.lab.checkers import superseded_writes
from skewless.lab.linearizability import linearizable
from skewless.lab.real import run_real
from skewless.lab.session_checks import session_violations
from skewless.runtime import faketime
from skewless.runtime.cluster import suite_port_offset

PORT = 19600 + suite_port_offset()


@pytest.mark.parametrize("policy", ["wallclock", "hlc"])
def test_real_lab_finds_seed000_loss_only_under_wallclock(policy: str) -> None:
    if faketime.library() is None:
        pytest.skip("libfaketime is not installed (apt-get install libfaketime; run.py "
                    "installs it when it runs as root)")
    run = run_real(policy, ("slow-node",), duration_s=8, seed=1, clients=2, keys=1, port=PORT)
    lost = superseded_writes(run.history, run.final)
    acked = sum(1 for op in run.history if op["op"] == "write" and op["ok"])
    print(f"\nlab real, {policy}, node 2 200 ms slow: {acked} writes acknowledged, "
          f"{len(lost)} superseded by earlier ones")
    assert acked > 20
    if policy == "wallclock":
        assert lost
    else:
        assert not lost and not session_violations(run.history)
        assert not linearizable(run.history).violations
