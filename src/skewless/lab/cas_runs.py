"""The CAS and counter workloads (``lab.cas_workload``) as one optional part of a lab run.

``Extra.make`` creates the workloads the spec asks for (``cas_keys``, ``counter_keys``; none by
default, so a run without them draws and does exactly what it did before), each with its own
``random.Random`` derived from the seed by name. The runner starts them with the register
workload, waits for them to finish after the heal, and asks for their verdicts after its own
final reads (the final SERIAL reads of the registers; the final ALL reads and the replicas'
stored values of the counters):

* ``cas_linearizability`` (``lab.cas_linearizability``) over the CAS history;
* ``cas_final_count``: each register's final value against its applied and unknown increments
  (``cas_workload.final_count_problems``);
* ``counter_bounds`` and ``counter_replicas`` (``lab.counter_checks``).
"""

from __future__ import annotations

import random
from typing import Any

from skewless.lab import counter_checks
from skewless.lab.cas_linearizability import CHECKER, cas_linearizable
from skewless.lab.cas_workload import CasWorkload, CounterWorkload, final_count_problems
from skewless.lab.options import WorkloadSpec
from skewless.sim.world import World

VerdictData = tuple[str, list[str], str]  # (checker, details, note)


class Extra:
    def __init__(self, cas: CasWorkload | None, ctr: CounterWorkload | None) -> None:
        self.cas, self.ctr = cas, ctr

    @classmethod
    def make(cls, world: World, spec: WorkloadSpec, seed: int) -> Extra:
        cas = ctr = None
        if spec.cas_keys > 0:
            cas = CasWorkload(world, spec, random.Random(f"lab-cas-{seed}"))
            cas.setup()
        if spec.counter_keys > 0:
            ctr = CounterWorkload(world, spec, random.Random(f"lab-counter-{seed}"))
            ctr.setup()
        return cls(cas, ctr)

    def start(self, duration_ns: int) -> None:
        for w in (self.cas, self.ctr):
            if w is not None:
                w.start(duration_ns)

    def finished(self) -> bool:
        return all(w is None or w.finished() for w in (self.cas, self.ctr))

    def history(self) -> list[dict[str, Any]]:
        return [*(self.cas.history if self.cas else ()), *(self.ctr.history if self.ctr else ())]

    def verdicts(self, timeout_ns: int) -> list[VerdictData]:
        out: list[VerdictData] = []
        if self.cas is not None:
            final = self.cas.final_reads(timeout_ns)
            r = cas_linearizable(self.cas.history)
            out.append((CHECKER, [str(d) for d in r.details], r.note))
            out.append(("cas_final_count",
                        final_count_problems(self.cas.history, final, self.cas.keys), ""))
        if self.ctr is not None:
            final_c = self.ctr.final_reads(timeout_ns)
            missing = [f"counter {k} not readable at ALL after the run"
                       for k in range(self.ctr.keys) if k not in final_c]
            bounds = counter_checks.counter_bounds(
                self.ctr.history, {k: v for k, v in final_c.items() if isinstance(v, int)
                                   or v is None})
            out.append((counter_checks.CHECKERS[0], missing + [str(v) for v in bounds], ""))
            replicas = counter_checks.counter_replicas(self.ctr.history,
                                                       self.ctr.replica_values())
            out.append((counter_checks.CHECKERS[1], [str(v) for v in replicas], ""))
        return out

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, w in (("cas", self.cas), ("counter", self.ctr)):
            if w is not None:
                h = w.history
                out[f"{name}_ops"] = len(h)
                out[f"{name}_ops_ok"] = sum(1 for op in h if op["ok"])
        if self.cas is not None:
            out["cas_applied"] = sum(1 for op in self.cas.history
                                     if op["op"] != "read" and op["ok"] and op["applied"])
        return out
