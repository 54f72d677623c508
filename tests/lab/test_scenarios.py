"""The seeds' anomalies replayed in the simulator (skewless.lab.scenarios): each scenario runs
under wallclock and hlc, shows the anomaly under wallclock and its absence (or the warning or
error that makes it loud) under hlc, and prints the same output for the same seed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from skewless.lab.scenario_catalog import run_scenario, scenario_names
from skewless.lab.scenario_cli import list_command, scenario_command
from skewless.lab.scenarios import Run, ScenarioResult

SEEDS = (1, 7)


def _one(result: ScenarioResult, policy: str, index: int = 0) -> Run:
    return result.runs_of(policy)[index]


def test_list_names_every_scenario() -> None:
    out = CliRunner().invoke(list_command, [])
    assert out.exit_code == 0, out.output
    names = [line.split()[0] for line in out.output.splitlines()]
    assert names == scenario_names() == ["seed000", "leap-second", "two-clients", "doomstone",
                                         "server-ahead", "slower-clock-loses", "zombie-writer"]


@pytest.mark.parametrize("seed", SEEDS)
def test_seed000_post_timestamps_write_b_lost_under_wallclock_kept_under_hlc(seed: int) -> None:
    res = run_scenario("seed000", seed)
    healthy, slow = res.runs_of("wallclock")
    assert [s.stamped_us for s in healthy.steps] == [1_000_000, None, 1_150_000, None]
    assert [s.stamped_us for s in slow.steps] == [1_000_000, None, 950_000, None]
    assert not healthy.lost and healthy.winner == "B"
    assert slow.lost and slow.winner == "A"  # Write B lost
    for run in res.runs_of("hlc"):
        assert not run.lost and run.winner == "B", run.verdict  # Write B kept
        write_a, write_b = run.steps[0].stamped_us, run.steps[2].stamped_us
        assert write_a is not None and write_b is not None and write_b > write_a


@pytest.mark.parametrize("seed", SEEDS)
def test_leap_second(seed: int) -> None:
    res = run_scenario("leap-second", seed)
    assert _one(res, "wallclock").lost and _one(res, "wallclock").winner == "w1"
    assert not _one(res, "hlc").lost and _one(res, "hlc").winner == "w2"


@pytest.mark.parametrize("seed", SEEDS)
def test_two_clients(seed: int) -> None:
    res = run_scenario("two-clients", seed)
    assert _one(res, "wallclock").lost
    client_ts = _one(res, "hlc")
    assert client_ts.lost and client_ts.loud  # a trusted client timestamp: B is warned
    assert client_ts.steps[2].warned and "shadowed" in client_ts.steps[2].result
    token = _one(res, "hlc", 1)
    assert not token.lost and token.winner == "w2"
    assert "session token" in token.steps[2].event


@pytest.mark.parametrize("seed", SEEDS)
def test_doomstone(seed: int) -> None:
    res = run_scenario("doomstone", seed)
    wall = _one(res, "wallclock")
    assert wall.lost and wall.winner == ""  # the row stays deleted
    assert wall.steps[1].stamped_us == 100_000_000
    hlc = _one(res, "hlc")
    assert not hlc.lost and hlc.loud and hlc.winner == "w1"
    assert hlc.steps[1].stamped_us is None and hlc.steps[1].result.startswith("refused")


@pytest.mark.parametrize("seed", SEEDS)
def test_server_ahead(seed: int) -> None:
    res = run_scenario("server-ahead", seed)
    wall = _one(res, "wallclock")
    assert wall.lost and wall.winner == "old@x.com"
    stale = wall.steps[1].stamped_us
    assert stale is not None and stale >= 4_000_000  # 3 s ahead
    hlc = _one(res, "hlc")
    assert not hlc.lost and hlc.winner == "new@x.com"
    stale, new = hlc.steps[1].stamped_us, hlc.steps[2].stamped_us
    assert stale is not None and new is not None and stale < new < 2_000_000  # cluster time
    assert "fenced" in hlc.steps[1].result  # node A's clock stamped nothing (QUORUM: logical)


@pytest.mark.parametrize("seed", SEEDS)
def test_slower_clock_loses(seed: int) -> None:
    res = run_scenario("slower-clock-loses", seed)
    wall = _one(res, "wallclock")
    reads = [s.result for s in wall.steps[1::2]]
    assert wall.lost and sum("'w1'" in r or "'w3'" in r or "'w5'" in r for r in reads) == 6
    assert wall.winner == "w5"
    hlc = _one(res, "hlc")
    assert not hlc.lost and hlc.winner == "w6"
    assert [s.result.split("'")[1] for s in hlc.steps[1::2]] == [f"w{i}" for i in range(1, 7)]


@pytest.mark.parametrize("seed", SEEDS)
def test_zombie_writer(seed: int) -> None:
    res = run_scenario("zombie-writer", seed)
    for policy in ("wallclock", "hlc"):
        plain = _one(res, policy)
        assert plain.lost and not plain.loud and plain.winner == "zombie"  # any clock loses
        lwt = plain.steps[7]
        assert lwt.warned and lwt.result == "[applied] = False"  # v is the zombie's already
    fenced_wall, fenced_hlc = _one(res, "wallclock", 1), _one(res, "hlc", 1)
    assert fenced_wall.winner == "writer 2 #1" and fenced_wall.lost  # zombie fenced, clock not
    assert fenced_hlc.winner == "writer 2 #2" and not fenced_hlc.lost
    for policy in ("wallclock", "hlc"):  # the LWT fence: the zombie refused under any clock
        by_lwt = _one(res, policy, 2)
        assert by_lwt.winner == "writer 2 #2" and not by_lwt.lost, by_lwt.verdict
        assert [s.result for s in by_lwt.steps if s.result.startswith("[applied]")] == [
            "[applied] = True", "[applied] = True", "[applied] = True", "[applied] = False"]


@pytest.mark.parametrize("name", ["seed000", "two-clients", "zombie-writer"])
def test_same_seed_same_output(name: str) -> None:
    runner = CliRunner()
    first = runner.invoke(scenario_command, [name, "--seed", "3"])
    second = runner.invoke(scenario_command, [name, "--seed", "3"])
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    assert "verdict (wallclock) [LOST" in first.output and "verdict (hlc)" in first.output


def test_seed000_output_shows_the_posts_tables() -> None:
    out = CliRunner().invoke(scenario_command, ["seed000", "--policy", "wallclock"])
    assert out.exit_code == 0, out.output
    for text in ("Scenario 1: Healthy Cluster", "Scenario 2: Node B is 200ms Slow",
                 "1,000,000", "1,150,000", "950,000", "verdict (wallclock) [LOST"):
        assert text in out.output
    assert "(hlc)" not in out.output
