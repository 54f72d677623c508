"""Convergence: after faults stop and the network heals, every key's replicas agree, in time.

This is the liveness phase of a lab run. Two checks:

``divergent_keys(replicas, owners)``: ``replicas`` maps each replica to its final contents, a
mapping key -> value (what the caller reads from the replica's storage, with tombstones mapped
to whatever the caller chooses: they are compared as given). ``owners`` maps each key to the
replicas that should hold it (its replica set); without it, every replica should hold every
key (replication factor = number of nodes). A key diverges when its owners do not all hold the
same value; an owner without the key holds "missing", which differs from every value. Values a
replica holds for keys it does not own are ignored (streaming leftovers, hints). A key that no
owner holds is not divergent (whether it should exist is the lost-write checkers' question).

``convergence_time(samples, healed_at, bound)``: ``samples`` is a predicate observed over time,
a list of (time, converged) pairs (typically ``converged(...)`` polled after the heal). The
system converged at the first sample of the final run of true samples, and not before
``healed_at`` (a system already converged at the heal converged in 0). That is an upper bound
of the true instant, within one sampling interval. It did not converge when the last sample is
false (or there is none at or after the heal, and the last before it is false). It is within
the bound when it converged at most ``bound`` after the heal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "missing"


MISSING: object = _Missing()  # what a replica holds for a key it should have and does not


@dataclass(frozen=True, slots=True)
class Divergence:
    key: object
    held: tuple[tuple[object, object], ...]  # (replica, value or MISSING), owners in given order

    def __str__(self) -> str:
        held = ", ".join(f"{r}: {'missing' if v is MISSING else v}" for r, v in self.held)
        return f"key {self.key} diverges after the heal: {held}"


@dataclass(frozen=True, slots=True)
class ConvergenceTime:
    healed_at: float
    converged_at: float | None  # None: not converged by the last sample
    bound: float

    @property
    def duration(self) -> float | None:
        return None if self.converged_at is None else self.converged_at - self.healed_at

    @property
    def ok(self) -> bool:
        return self.duration is not None and self.duration <= self.bound

    def __str__(self) -> str:
        if self.duration is None:
            return (f"not converged: healed at {self.healed_at:.3f}, still divergent at the "
                    f"last sample (bound {self.bound:.3f})")
        verdict = "within" if self.ok else "beyond"
        return (f"converged {self.duration:.3f} after the heal at {self.healed_at:.3f}, "
                f"{verdict} the bound of {self.bound:.3f}")


def divergent_keys(replicas: Mapping[Any, Mapping[Any, object]],
                   owners: Mapping[Any, Iterable[Any]] | None = None) -> list[Divergence]:
    """The keys whose owners do not all hold the same value (missing counts as a value)."""
    if owners is None:
        everyone = tuple(replicas)
        keys: dict[object, None] = {}
        for contents in replicas.values():
            keys.update(dict.fromkeys(contents))
        owned: Mapping[Any, Iterable[Any]] = {k: everyone for k in keys}
    else:
        owned = owners
    out: list[Divergence] = []
    for key, holders in owned.items():
        held = tuple((r, replicas.get(r, {}).get(key, MISSING)) for r in holders)
        if any(v is not MISSING for _, v in held) and not _all_equal([v for _, v in held]):
            out.append(Divergence(key, held))
    return out


def converged(replicas: Mapping[Any, Mapping[Any, object]],
              owners: Mapping[Any, Iterable[Any]] | None = None) -> bool:
    """The predicate ``convergence_time`` samples: no key diverges."""
    return not divergent_keys(replicas, owners)


def convergence_time(samples: Sequence[tuple[float, bool]], healed_at: float,
                     bound: float) -> ConvergenceTime:
    """When the sampled predicate became true for good, measured from the heal."""
    ordered = sorted(samples, key=lambda s: s[0])
    if not ordered or not ordered[-1][1]:
        return ConvergenceTime(healed_at, None, bound)
    first = len(ordered) - 1
    while first > 0 and ordered[first - 1][1]:
        first -= 1
    return ConvergenceTime(healed_at, max(ordered[first][0], healed_at), bound)


def _all_equal(values: Sequence[object]) -> bool:
    first = values[0]
    for v in values[1:]:
        if v is MISSING or first is MISSING:
            if v is not first:
                return False
        elif v != first:
            return False
    return True
