"""Convergence after the heal: divergent replicas caught, convergence time against a bound."""

from __future__ import annotations

from skewless.lab.convergence import (
    MISSING,
    converged,
    convergence_time,
    divergent_keys,
)


def test_identical_replicas_converged() -> None:
    replicas = {"n1": {"a": 1, "b": 2}, "n2": {"a": 1, "b": 2}, "n3": {"b": 2, "a": 1}}
    assert divergent_keys(replicas) == [] and converged(replicas)


def test_planted_replica_missing_a_key_is_caught() -> None:
    """A replica that dropped a mutation (never repaired): it lacks the key."""
    replicas = {"n1": {"a": 1, "b": 2}, "n2": {"a": 1}, "n3": {"a": 1, "b": 2}}
    (d,) = divergent_keys(replicas)
    assert d.key == "b" and d.held == (("n1", 2), ("n2", MISSING), ("n3", 2))
    assert str(d) == "key b diverges after the heal: n1: 2, n2: missing, n3: 2"
    assert not converged(replicas)


def test_planted_replica_with_an_old_value_is_caught() -> None:
    replicas = {"n1": {"a": 2}, "n2": {"a": 1}}
    assert [d.key for d in divergent_keys(replicas)] == ["a"]


def test_only_owners_are_compared() -> None:
    replicas = {"n1": {"a": 1, "b": 7}, "n2": {"a": 1}, "n3": {"b": 5, "c": 3}}
    owners = {"a": ["n1", "n2"], "b": ["n1", "n2"], "c": ["n3"], "d": ["n1", "n2"]}
    (d,) = divergent_keys(replicas, owners)  # n3's b is a leftover; nobody holds d: agreed
    assert d.key == "b" and d.held == (("n1", 7), ("n2", MISSING))
    assert converged(replicas, {"a": ["n1", "n2"], "c": ["n3"]})


def test_convergence_time_within_and_beyond_the_bound() -> None:
    samples = [(9.0, False), (10.0, False), (11.0, True), (12.0, False), (13.0, True),
               (14.0, True)]
    c = convergence_time(samples, healed_at=10.0, bound=5.0)
    assert (c.converged_at, c.duration, c.ok) == (13.0, 3.0, True)
    assert str(c) == "converged 3.000 after the heal at 10.000, within the bound of 5.000"
    late = convergence_time(samples, healed_at=10.0, bound=2.0)
    assert not late.ok and "beyond the bound of 2.000" in str(late)


def test_never_converged_or_converged_before_the_heal() -> None:
    never = convergence_time([(10.0, True), (11.0, False)], healed_at=10.0, bound=100.0)
    assert never.converged_at is None and not never.ok
    assert str(never).startswith("not converged")
    assert not convergence_time([], healed_at=0.0, bound=1.0).ok
    already = convergence_time([(8.0, True), (12.0, True)], healed_at=10.0, bound=0.0)
    assert already.duration == 0.0 and already.ok


def test_predicate_sampled_from_replica_states() -> None:
    """The two checks together: replica states polled after the heal, repaired at t=2."""
    states = [
        (1.0, {"n1": {"k": 1}, "n2": {}}),
        (2.0, {"n1": {"k": 1}, "n2": {"k": 1}}),
        (3.0, {"n1": {"k": 1}, "n2": {"k": 1}}),
    ]
    samples = [(t, converged(s)) for t, s in states]
    assert convergence_time(samples, healed_at=0.5, bound=1.0).ok is False
    assert convergence_time(samples, healed_at=0.5, bound=1.5).duration == 1.5
