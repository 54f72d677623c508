"""The register linearizability checker: planted bugs caught, correct histories pass, and its
verdicts agree with a brute-force search over every order on small random histories."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.lab.linearizability import linearizable

History = list[dict[str, Any]]


def w(key: object, value: int, start: float, end: float, ok: bool = True) -> dict[str, Any]:
    return {"op": "write", "key": key, "value": value, "start": start, "end": end, "ok": ok}


def r(key: object, value: int | None, start: float, end: float,
      ok: bool = True) -> dict[str, Any]:
    return {"op": "read", "key": key, "value": value, "start": start, "end": end, "ok": ok}


def brute_force(history: Sequence[dict[str, Any]]) -> bool:
    """Linearizable by definition: some order of the operations (failed writes optional, never
    ending) respects real time and is a legal register run, for every key. Tiny inputs only."""
    keys = {op["key"] for op in history}
    return all(_brute_key([op for op in history if op["key"] == k]) for k in keys)


def _brute_key(ops: list[dict[str, Any]]) -> bool:
    ops = [op for op in ops if op["ok"] or op["op"] == "write"]
    optional = [op for op in ops if not op["ok"]]
    required = [op for op in ops if op["ok"]]
    for n in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, n):
            for order in itertools.permutations(required + list(chosen)):
                if _legal(order):
                    return True
    return False


def _legal(order: Sequence[dict[str, Any]]) -> bool:
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if b["ok"] and b["end"] < a["start"]:  # b finished before a started: b first
                return False
    state = None
    for op in order:
        if op["op"] == "write":
            state = op["value"]
        elif op["value"] != state:
            return False
    return True


def test_sequential_history_passes() -> None:
    h = [w(1, 1, 0, 1), r(1, 1, 1.5, 2), w(1, 2, 3, 4), r(1, 2, 5, 6), r(1, None, -2, -1)]
    result = linearizable(h)
    assert result.verdict == "linearizable" and not result.violations
    assert "linearizable (1 keys, 5 ops" in str(result)


def test_concurrent_write_may_be_seen_either_way() -> None:
    h = [w(1, 1, 0, 1), w(1, 2, 2, 10), r(1, 2, 3, 4), r(1, 2, 5, 6)]
    assert linearizable(h).verdict == "linearizable"
    h = [w(1, 1, 0, 1), w(1, 2, 2, 10), r(1, 1, 3, 4), r(1, 2, 5, 6)]
    assert linearizable(h).verdict == "linearizable"


def test_two_sequential_writes_then_a_read_of_the_first_is_caught() -> None:
    h = [w("k", 1, 0, 1), w("k", 2, 2, 3), r("k", 1, 4, 5), w("other", 9, 0, 1)]
    result = linearizable(h)
    assert result.verdict == "not linearizable"
    (bad,) = result.violations
    assert bad.key == "k" and bad.stuck is not None and bad.stuck.index == 2
    assert [op.index for op in bad.witness] == [0, 1, 2]
    assert "#2 read -> 1 [4.000, 5.000] cannot be linearized" in str(bad)


def test_reads_going_back_and_forth_between_concurrent_writes_are_caught() -> None:
    """Not a stale read against any acknowledged write: only the order is impossible."""
    h = [w(1, 1, 0, 10), w(1, 2, 0, 10), r(1, 1, 1, 2), r(1, 2, 3, 4), r(1, 1, 5, 6)]
    result = linearizable(h)
    assert result.verdict == "not linearizable"
    assert len(result.violations[0].witness) == 5
    assert not brute_force(h)


def test_read_of_a_value_never_written_is_caught() -> None:
    (bad,) = linearizable([w(1, 1, 0, 1), r(1, 7, 2, 3)]).violations
    assert [op.value for op in bad.witness] == [7]


def test_failed_write_may_take_effect_late_or_never() -> None:
    late = [w(1, 1, 0, 1), w(1, 2, 2, 3, ok=False), r(1, 1, 4, 5), r(1, 2, 6, 7), r(1, 2, 8, 9)]
    assert linearizable(late).verdict == "linearizable"
    never = [w(1, 1, 0, 1), w(1, 2, 2, 3, ok=False), r(1, 1, 4, 5), r(1, 1, 6, 7)]
    assert linearizable(never).verdict == "linearizable"
    flapping = [w(1, 1, 0, 1), w(1, 2, 2, 3, ok=False), r(1, 2, 4, 5), r(1, 1, 6, 7)]
    assert linearizable(flapping).verdict == "not linearizable"
    before_start = [w(1, 2, 5, 6, ok=False), r(1, 2, 1, 2)]
    assert linearizable(before_start).verdict == "not linearizable"


def test_failed_reads_say_nothing() -> None:
    assert linearizable([w(1, 1, 0, 1), r(1, 5, 2, 3, ok=False)]).verdict == "linearizable"


def test_the_search_limit_answers_unknown() -> None:
    """Eight concurrent writes and reads of each: the search needs more than a few steps."""
    h = [w(1, v, 0, 100) for v in range(1, 9)] + [r(1, v, 10 * v, 10 * v + 1)
                                                  for v in range(8, 0, -1)]
    assert linearizable(h).verdict == "linearizable"
    result = linearizable(h, max_states=5)
    assert result.verdict == "unknown" and len(result.unknown) == 1
    assert "search limit reached at" in str(result.unknown[0])


def test_stale_read_after_thousands_of_ops_has_a_three_op_witness() -> None:
    h = [w(1, v, 2 * v, 2 * v + 1.5) for v in range(1, 3001)]
    h += [r(1, v, 2 * v + 0.5, 2 * v + 1.8) for v in range(1, 3001)]
    h.append(r(1, 1, 10_000, 10_001))
    (bad,) = linearizable(h).violations
    assert [(op.kind, op.value) for op in bad.witness] == [("write", 1), ("write", 3000),
                                                           ("read", 1)]


def test_a_few_thousand_ops_from_five_clients_pass() -> None:
    h = sequential_register_run(random.Random(5), ops=3000, keys=1, clients=5)
    result = linearizable(h)
    assert result.verdict == "linearizable", str(result)


def sequential_register_run(rng: random.Random, ops: int, keys: int, clients: int,
                            width: float = 3.0, failed: float = 0.1) -> History:
    """A real register's run: each operation takes effect at an instant after the previous
    one's and is recorded with an interval around it (so intervals overlap). Failed writes
    happened or not; failed reads return junk. ``clients`` bounds the overlap: each client's
    next operation starts after its previous one ended (as a client session does)."""
    state: dict[int, int | None] = {}
    counter: dict[int, int] = {}
    free_at = [-INF] * clients
    out: History = []
    point = 0.0
    for _ in range(ops):
        c = min(range(clients), key=lambda j: free_at[j])
        key = rng.randrange(keys)
        point = max(point + rng.uniform(0.01, 1.0), free_at[c] + 1e-3)
        start = max(free_at[c] + 1e-3, point - rng.uniform(0, width))
        end = point + rng.uniform(0, width)
        free_at[c] = end
        ok = rng.random() >= failed
        if rng.random() < 0.5:
            counter[key] = counter.get(key, 0) + 1
            applied = ok or rng.random() < 0.5
            if applied:
                state[key] = counter[key]
            out.append(w(key, counter[key], start, end, ok))
        else:
            value = state.get(key) if ok else rng.randrange(100)
            out.append(r(key, value, start, end, ok))
    return out


INF = float("inf")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 120), st.integers(1, 3), st.integers(1, 6),
       st.floats(0.0, 8.0))
def test_runs_of_a_sequential_register_are_always_linearizable(
        seed: int, ops: int, keys: int, clients: int, width: float) -> None:
    h = sequential_register_run(random.Random(seed), ops, keys, clients, width)
    result = linearizable(h)
    assert result.verdict == "linearizable", str(result)


@st.composite
def small_histories(draw: st.DrawFn) -> History:
    out: History = []
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, 8))
        end = start + draw(st.integers(0, 4))
        ok = draw(st.booleans()) or draw(st.booleans())  # three in four succeed
        if draw(st.booleans()):
            out.append(w(0, len(out) + 1, start, end, ok))
        else:
            out.append(r(0, draw(st.sampled_from([None, 1, 2, 3, 4])), start, end, ok))
    return out


@settings(max_examples=600, deadline=None)
@given(small_histories())
def test_agrees_with_brute_force_and_witnesses_are_violations(h: History) -> None:
    result = linearizable(h)
    assert (result.verdict == "linearizable") == brute_force(h), str(result)
    for bad in result.violations:
        witness = [h[op.index] for op in bad.witness]
        assert not brute_force(witness)
        read_values = {op["value"] for op in witness if op["op"] == "read"}
        for op in h:  # closed: every write of a value read is in the witness
            assert op["op"] != "write" or op["value"] not in read_values or op in witness


def _simulated_register(policy: str) -> History:
    """One client session in the simulator: writes j through node j % 3, reads through the next
    node; node 2's clock steps back 1 s at j = 40 (seed 001's leap second). Times are virtual."""
    from skewless.errors import CqlError
    from skewless.node.consistency import QUORUM
    from skewless.node.effects import Reply
    from skewless.sim.world import World

    nodes = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    world = World(61, n_nodes=3, timestamp_policy=policy)
    assert world.stabilize()
    world.run_for(2 * 10**9)
    conns = iter(range(1, 10**6))

    def q(node: str, text: str) -> tuple[float, float, object]:
        """(start, end, reply body); no reply within 2 s: a timeout (an error), as a driver."""
        start = world.now_ns / 1e9
        replies: list[tuple[int, Reply]] = []
        world.client_query(node, next(conns), text, QUORUM,
                           lambda rep: replies.append((world.now_ns, rep)))
        if not world.run_until(lambda: bool(replies), 2 * 10**9):
            return start, world.now_ns / 1e9, CqlError("client timeout")
        end_ns, reply = replies[0]
        return start, end_ns / 1e9, reply.body

    q(nodes[0], "CREATE KEYSPACE app WITH replication = "
      "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    q(nodes[0], "CREATE TABLE app.reg (k int PRIMARY KEY, v int)")
    world.run_for(2 * 10**9)
    history: History = []
    for j in range(1, 80):
        if j == 40:
            world.nodes[nodes[1]].clock.offset_us -= 1_000_000
        start, end, body = q(nodes[j % 3], f"UPDATE app.reg SET v = {j} WHERE k = 1")
        history.append(w(1, j, start, end, ok=not isinstance(body, CqlError)) | {"session": "s"})
        start, end, body = q(nodes[(j + 1) % 3], "SELECT v FROM app.reg WHERE k = 1")
        ok = not isinstance(body, CqlError)
        value = int.from_bytes(body.rows[0][0], "big", signed=True) if ok else None  # type: ignore[attr-defined]
        history.append(r(1, value, start, end, ok) | {"session": "s"})
    return history


def test_simulated_raw_clock_coordinator_is_caught_and_hlc_passes() -> None:
    """The planted bug is the Cassandra policy: a coordinator stamping with its raw clock."""
    from skewless.lab.session_checks import read_your_writes

    wallclock = _simulated_register("wallclock")
    (bad,) = linearizable(wallclock).violations
    assert len(bad.witness) <= 4, str(bad)
    assert read_your_writes(wallclock)
    hlc = _simulated_register("hlc")
    assert linearizable(hlc).verdict == "linearizable"
    assert read_your_writes(hlc) == []
