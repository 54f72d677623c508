"""Loaded (via PYTHONPATH) into client processes run under libfaketime by the tests.

With FAKETIME_DONT_FAKE_MONOTONIC=1 (needed: the driver waits on threading.Event, which hangs
when monotonic time is faked too), ``time.sleep`` fails with EINVAL under libfaketime 0.9.10
(see reference/facts-measured-here.md); route it through select(), which does not.
"""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds > 0:
        select.select([], [], [], seconds)


time.sleep = _sleep
