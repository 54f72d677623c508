"""The lab's scenarios by name: the catalogue the ``lab scenario`` command and its tests use.

Apart from ``lab.scenarios`` (the scenario machinery) so that the modules defining scenarios
(``scenarios_clock``, ``scenarios_clients``) import the machinery and this module imports
them: no import cycle.
"""

from __future__ import annotations

from skewless.lab import scenarios_clients, scenarios_clock
from skewless.lab.scenarios import (
    POLICIES,
    REGISTRY,
    Run,
    Scenario,
    ScenarioResult,
    quiet_node_logs,
)

DEFINED_IN = (scenarios_clock.__name__, scenarios_clients.__name__)  # registered on import

ORDER = ("seed000", "leap-second", "two-clients", "doomstone", "server-ahead",
         "slower-clock-loses", "zombie-writer")  # as the issue lists them


def scenario_names() -> list[str]:
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(REGISTRY.scenarios, key=lambda n: (rank.get(n, len(ORDER)), n))


def describe(name: str) -> Scenario:
    return REGISTRY.scenarios[name]


def run_scenario(name: str, seed: int = 1, policies: tuple[str, ...] = POLICIES) -> ScenarioResult:
    """Replay scenario ``name`` under each policy (KeyError if there is no such scenario)."""
    scenario = describe(name)
    runs: list[Run] = []
    with quiet_node_logs():
        for policy in policies:
            runs.extend(scenario.replay(seed, policy))
    return ScenarioResult(name, scenario.description, seed, tuple(runs))
