"""Scenarios: the clock anomalies of the seeds, replayed step by step in the simulator.

Theory of operation
-------------------
A scenario is a short script of client steps (writes, reads, a clock step, a pause) run on the
deterministic simulator (``skewless.sim.world.World``) once per timestamp policy: Cassandra-style
``wallclock`` beside Skewless's default ``hlc``. Each run returns its steps as data (``Step``:
when, who, which coordinator, the timestamp the write was stamped with, what it returned) and a
verdict (``Run``: whether an acknowledged write was lost, whether a client was told), so tests
assert on data and the command line prints it (``scenario_cli``).

Virtual real time. Every node's clock is set, before the cluster first agrees on time, so that
the scenario's first step happens at real time ``BASE_US`` = 1,000,000 µs on a healthy node (the
post of seed 000 uses that baseline); a node's skew is an offset on top. The cluster boots,
creates its schema and agrees on time during the ``T0_NS`` virtual nanoseconds before that: a
healthy ``wallclock`` node therefore stamps exactly 1,000,000 at step 1, and 1,150,000 150 ms
later. Clients' clocks (for client-side timestamps) are the scenario's true time plus their
skew. A write's timestamp is read from the session token of its response (``skewless-token``,
the timestamp the write was stamped with), a read's from ``writetime()``.

``wallclock`` runs model Cassandra: besides the node's raw clock, client timestamps are accepted
however far ahead (``max_future_timestamp_ms`` a day, the option's bound). Skewless's shadowing
warning cannot be switched off, so a ``wallclock`` table still shows it where Cassandra would say
nothing; the verdict says so.

Everything is derived from the seed: the same seed gives the same steps and the same output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from skewless.errors import CqlError
from skewless.node.clock.session_token import PAYLOAD_KEY
from skewless.node.consistency import QUORUM
from skewless.node.effects import Reply
from skewless.node.executor import Params
from skewless.sim.world import EPOCH_US, World

BASE_US = 1_000_000  # real time of every scenario's step 1 on a healthy clock (seed 000's)
T0_NS = 6 * 10**9  # virtual time of step 1: boot, schema and clock agreement happen before
REPLY_WAIT_NS_MAX = 2 * 10**9  # a step whose reply has not come by then is reported as such
POLICIES = ("wallclock", "hlc")
NODE_NAMES = {"127.0.0.1": "node A", "127.0.0.2": "node B", "127.0.0.3": "node C"}
CASSANDRA_LIKE = {"max_future_timestamp_ms": 86_400_000.0}  # accept any client timestamp
KEYSPACE = ("CREATE KEYSPACE app WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 3}")
TABLE = "CREATE TABLE app.t (id int PRIMARY KEY, v text)"


@dataclass(frozen=True)
class Step:
    t_ms: int  # true (real) time since step 1
    actor: str  # "client A", "operator", ...
    node: str  # the coordinator ("node A"), or the node an event happened to
    event: str
    stamped_us: int | None  # the write's timestamp, if it was a write that was acknowledged
    result: str
    warned: bool = False  # the client got a warning or an error


@dataclass(frozen=True)
class Run:
    policy: str
    title: str
    steps: tuple[Step, ...]
    winner: str  # the value the last read returned ("" for no row)
    lost: bool  # an acknowledged write was superseded by one that finished before it started
    loud: bool  # a client was told (warning or error) about the write at risk
    verdict: str


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    description: str
    seed: int
    runs: tuple[Run, ...]

    def runs_of(self, policy: str) -> list[Run]:
        return [r for r in self.runs if r.policy == policy]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str  # which seed document it comes from
    replay: Callable[[int, str], list[Run]]  # (seed, policy) -> runs


@dataclass
class Outcome:
    """What one client request returned, as the scenario scripts use it."""

    reply: Reply | None
    stamped_us: int | None = None
    value: str | None = None  # a read's first row's first column ("" for no row)
    warnings: tuple[str, ...] = ()
    error: str = ""
    token_us: int | None = None


APPLIED, NOT_APPLIED = "[applied]", "[not applied]"  # an LWT write's Outcome.value


class Replay:
    """One scenario run on one policy: a 3-node cluster at RF=3, clocks set, steps recorded."""

    def __init__(self, seed: int, policy: str, offsets_us: Mapping[str, int] | None = None,
                 node_options: Mapping[str, object] | None = None,
                 tables: tuple[str, ...] = (TABLE,)) -> None:
        options = dict(node_options or {})
        if policy == "wallclock":
            options = {**CASSANDRA_LIKE, **options}
        self.world = World(seed, n_nodes=3, timestamp_policy=policy, node_options=options)
        offsets = dict(offsets_us or {})
        for address, sn in self.world.nodes.items():
            sn.clock.offset_us = BASE_US - T0_NS // 1000 - EPOCH_US + offsets.get(address, 0)
        self.steps: list[Step] = []
        self._conn = 0
        assert self.world.stabilize(), "the simulated cluster did not come up"
        for text in (KEYSPACE, *tables):
            out = self._request("127.0.0.1", text, QUORUM, None, None)
            assert out.error == "", out.error
        assert self.world.now_ns < T0_NS, "setup took longer than T0_NS"
        self.world.run_for(T0_NS - self.world.now_ns)

    # ------------------------------------------------------------------ time

    def true_us(self) -> int:
        """The scenario's true time: what a perfect clock reads."""
        return BASE_US + (self.world.now_ns - T0_NS) // 1000

    def wait_until(self, t_ms: int) -> None:
        target = T0_NS + t_ms * 1_000_000
        assert self.world.now_ns <= target, f"step at {t_ms} ms comes after the previous one"
        self.world.run_for(target - self.world.now_ns)

    # ------------------------------------------------------------------ steps

    def note(self, t_ms: int, actor: str, node: str, event: str, result: str) -> None:
        self.wait_until(t_ms)
        self.steps.append(Step(t_ms, actor, node, event, None, result))

    def write(self, t_ms: int, actor: str, address: str, event: str, cql: str,
              timestamp_us: int | None = None, token_us: int | None = None) -> Outcome:
        self.wait_until(t_ms)
        out = self._request(address, cql, QUORUM, timestamp_us, token_us)
        if out.error:
            result = f"refused: {_short(out.error)}"
        elif out.value in (APPLIED, NOT_APPLIED):  # an LWT's answer
            result = f"[applied] = {out.value == APPLIED}"
        elif out.warnings:
            result = f"written, with a warning: {_short(out.warnings[0])}"
        else:
            result = "written"
        out.stamped_us = None if out.error else out.token_us
        self.steps.append(Step(t_ms, actor, NODE_NAMES[address], event, out.stamped_us, result,
                               bool(out.error or out.warnings or out.value == NOT_APPLIED)))
        return out

    def read(self, t_ms: int, actor: str, address: str, cql: str, event: str = "READ",
             token_us: int | None = None) -> Outcome:
        """``cql`` selects one column and its writetime; the step shows both."""
        self.wait_until(t_ms)
        out = self._request(address, cql, QUORUM, None, token_us)
        if out.error:
            result = f"error: {_short(out.error)}"
        elif out.value == "":
            result = "returns no row"
        else:
            result = f"returns {out.value!r} (writetime {out.stamped_us:,})"
        self.steps.append(Step(t_ms, actor, NODE_NAMES[address], event, None, result,
                               bool(out.error or out.warnings)))
        return out

    def _request(self, address: str, cql: str, cl: int, timestamp_us: int | None,
                 token_us: int | None) -> Outcome:
        self._conn += 1
        got: list[Reply] = []
        params = Params(consistency=cl, timestamp=timestamp_us, token_us=token_us)
        self.world.client_execute(address, self._conn, cql, params, got.append)
        waited = 0
        while not got and waited < REPLY_WAIT_NS_MAX:
            self.world.run_for(1_000_000)
            waited += 1_000_000
        if not got:
            return Outcome(None, error="no reply (timed out)")
        return _outcome(got[0])

    def run(self, title: str, winner: str, lost: bool, loud: bool, verdict: str) -> Run:
        return Run(self.world.policy, title, tuple(self.steps), winner, lost, loud, verdict)


def _outcome(reply: Reply) -> Outcome:
    payload = dict(reply.custom_payload)
    token = payload.get(PAYLOAD_KEY)
    out = Outcome(reply, warnings=reply.warnings,
                  token_us=None if token is None else int.from_bytes(token, "big", signed=True))
    body = reply.body
    if isinstance(body, CqlError):
        out.error = str(body)
        return out
    rows = getattr(body, "rows", None)
    columns = getattr(body, "columns", None)
    if rows and columns and columns[0].name == "[applied]":  # an LWT's result (cql.cas_results)
        out.value = APPLIED if rows[0][0] == b"\x01" else NOT_APPLIED
    elif rows is not None:
        if not rows:
            out.value = ""
        else:
            first = rows[0]
            out.value = "" if first[0] is None else first[0].decode()
            if len(first) > 1 and first[1] is not None:
                out.stamped_us = int.from_bytes(first[1], "big", signed=True)
    return out


_SHADOWED = re.compile(r"write timestamp (-?\d+) <= existing (-?\d+) \(([\d.]+) ms newer\)")


def _short(text: str, length_max: int = 110) -> str:
    shadowed = _SHADOWED.search(text)
    if shadowed is not None:
        mine, theirs, gap = shadowed.groups()
        return f"shadowed by data {gap} ms newer ({int(mine):,} <= {int(theirs):,})"
    first = text.split(". ")[0].split(": refused")[0]
    return first if len(first) <= length_max else first[:length_max - 3] + "..."


# ---------------------------------------------------------------------- running

@contextmanager
def quiet_node_logs() -> Iterator[None]:
    """The simulated nodes log their clock alarms; the scenario's table says what matters."""
    logger = logging.getLogger("skewless")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass
class Registry:
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def add(self, scenario: Scenario) -> None:
        assert scenario.name not in self.scenarios, scenario.name
        self.scenarios[scenario.name] = scenario


REGISTRY = Registry()
