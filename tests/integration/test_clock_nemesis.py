"""A Jepsen-style clock nemesis on a live busy machine (issues 4 and 15), through the real lab
runner.

Three nodes, each under libfaketime reading its offset from a file it re-reads; for the run, a
nemesis picks a random node every 0.5-1.5 s and bumps its clock by 4 ms to 10 s (either way),
strobes it (alternating between two offsets), or resets it (``skewless.lab.real``). Meanwhile
three client processes write their own keys sequentially with increasing values (QUORUM,
server-side timestamps, a different coordinator each time) and read them back through another.
Two busy loops spin beside the cluster all the while (``skewless.lab.busy``). Then every clock
is fixed, and after the cluster settles each key is read at ALL. Under the default settings no
acknowledged write may be superseded by an earlier one
(``skewless.lab.checkers.superseded_writes``), and the session and linearizability checkers
must pass too. And the writers must mostly succeed: with several clocks bumped at once no
majority may agree and every node is fenced, but a QUORUM write is ordered by restamping
whatever the clocks say (``node.clock.fencing``), so at least 90 % of the write attempts must
be acknowledged (before issue 15: 227 of 1,068).
"""

from __future__ import annotations

import pytest

from skewless.lab.checkers import superseded_writes
from skewless.lab.linearizability import linearizable
from skewless.lab.real import run_real
from skewless.lab.session_checks import session_violations
from skewless.runtime import faketime
from skewless.runtime.cluster import suite_port_offset

PORT = 19650 + suite_port_offset()
RUN_S = 30.0
BUSY_LOOPS = 2
ACKED_RATIO_MIN = 0.9


def test_no_acknowledged_write_superseded_under_clock_nemesis() -> None:
    if faketime.library() is None:
        pytest.skip("libfaketime is not installed (apt-get install libfaketime; run.py "
                    "installs it when it runs as root)")
    run = run_real("hlc", ("clock",), duration_s=RUN_S, seed=7, clients=3, keys=4, port=PORT,
                   busy=BUSY_LOOPS)
    violations = superseded_writes(run.history, run.final)
    sessions = session_violations(run.history)
    lin = linearizable(run.history)
    writes = [op for op in run.history if op["op"] == "write"]
    acked = sum(1 for op in writes if op["ok"])
    errors = sorted({op.get("error", "?") for op in writes if not op["ok"]})
    print(f"\nclock nemesis, {RUN_S:.0f} s beside {BUSY_LOOPS} busy loops: "
          f"{len(run.fault_log)} clock faults "
          f"({', '.join(run.fault_log[:12])}...); {len(writes)} writes ({acked} acknowledged), "
          f"{len(run.history) - len(writes)} reads; violations: {len(violations)}")
    print(f"session guarantees: {len(sessions)} violations; {str(lin).splitlines()[0]}")
    for v in violations[:10]:
        print(f"  {v}")
    print(f"write attempts acknowledged: {acked} of {len(writes)} "
          f"({acked / max(1, len(writes)):.1%}); failures: {', '.join(errors) or 'none'}")
    assert not violations and not sessions and not lin.violations
    assert writes and acked >= ACKED_RATIO_MIN * len(writes), (acked, len(writes))
