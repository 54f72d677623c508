"""Busy loops beside a cluster: a saturated machine, for starvation tests and lab runs.

``busy_loops(n)`` starts ``n`` processes that spin at the machine's normal priority for as long
as the ``with`` block lasts (each bounded by ``limits.busy_loop_s_max`` should the parent die
without stopping them), and stops them by pid. On a machine with as many cores as loops, the
nodes beside them are preempted for tens to hundreds of milliseconds at a time: the conditions
in which a node once mistook a preemption for a step of its clock.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from skewless import limits

_SPIN = ("import time\n"
         "end = time.monotonic() + {s}\n"  # allow-real-clock: a child's busy loop
         "while time.monotonic() < end:\n"  # allow-real-clock
         "    for _ in range(100000):\n"
         "        pass\n")


@contextmanager
def busy_loops(n: int) -> Iterator[list[int]]:
    """Run ``n`` busy loops for the duration of the block; yields their pids."""
    assert 0 <= n <= limits.busy_loops_max, n
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN.format(s=limits.busy_loop_s_max)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(n)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=10)
