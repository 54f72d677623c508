"""The `skewless` command line and local cluster process management.

Process tests run `skewless node` processes whose server is a stand-in (a `sitecustomize` on
PYTHONPATH registers `skewless.runtime.server` with a `run_node` that only listens on the CQL
port until SIGTERM), so they exercise start, readiness, signals, restart and stop by pid without
depending on the real node.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from skewless import cli, status_view
from skewless.config import NodeConfig, build_config, load_config
from skewless.runtime import cluster as local

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def captured_config(monkeypatch: pytest.MonkeyPatch) -> list[NodeConfig]:
    """Replace the node server with one that records the config it is given."""
    configs: list[NodeConfig] = []
    fake = types.ModuleType("skewless.runtime.server")
    fake.run_node = configs.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "skewless.runtime.server", fake)
    return configs


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_help() -> None:
    r = invoke("--help")
    assert r.exit_code == 0
    for command in ("node", "cluster", "status"):
        assert command in r.output
    r = invoke("node", "--help")
    assert r.exit_code == 0
    for option in ("--address", "--seeds", "--data-dir", "--cql-port", "--internode-port",
                   "--dc", "--rack", "--num-tokens", "--timestamp-policy", "--clock-offset-ms",
                   "--clock-drift-ppm", "--commitlog-sync", "--no-hints", "--config",
                   "--log-level"):
        assert option in r.output
    r = invoke("cluster", "--help")
    assert r.exit_code == 0 and "start" in r.output and "stop" in r.output


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("skewless")
    if not exe.exists():
        pytest.skip(f"no console script at {exe}")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "skewless" in out.stdout


def test_node_defaults(captured_config: list[NodeConfig], tmp_path: Path) -> None:
    r = invoke("node", "--data-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    (c,) = captured_config
    assert c == NodeConfig(data_dir=str(tmp_path))
    assert c.cql_port == 9042 and c.internode_port == 7000 and c.num_tokens == 16
    assert c.timestamp_policy == "hlc" and c.hinted_handoff_enabled


def test_config_file_and_command_line_override(
    captured_config: list[NodeConfig], tmp_path: Path
) -> None:
    f = tmp_path / "node.toml"
    f.write_text(textwrap.dedent("""
        address = "127.0.0.2"
        seeds = ["127.0.0.1", "127.0.0.3"]
        data_dir = "/var/lib/skewless"
        cql-port = 9142
        num_tokens = 8
        timestamp_policy = "wallclock"
        clock_offset_ms = 250
        commitlog_sync = "periodic"
        hinted_handoff_enabled = false
        rack = "r7"
    """))
    assert load_config(f)["seeds"] == ("127.0.0.1", "127.0.0.3")
    r = invoke("node", "--config", str(f), "--num-tokens", "4", "--seeds", "127.0.0.9",
               "--log-level", "debug", "--clock-drift-ppm", "-20")
    assert r.exit_code == 0, r.output
    (c,) = captured_config
    assert c.address == "127.0.0.2"  # from the file
    assert c.data_dir == "/var/lib/skewless"
    assert c.cql_port == 9142  # a hyphenated key works too
    assert c.num_tokens == 4  # the command line wins
    assert c.seeds == ("127.0.0.9",)
    assert c.timestamp_policy == "wallclock" and c.commitlog_sync == "periodic"
    assert c.clock_offset_ms == 250.0 and c.clock_drift_ppm == -20.0
    assert c.hinted_handoff_enabled is False and c.rack == "r7"
    assert c.log_level == "DEBUG"
    assert c.internode_port == 7000  # neither: the default


def test_no_hints_flag(captured_config: list[NodeConfig]) -> None:
    assert invoke("node", "--no-hints").exit_code == 0
    assert captured_config[0].hinted_handoff_enabled is False


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--num-tokens", "0"], "num_tokens"),
        (["--num-tokens", "abc"], "num-tokens"),
        (["--cql-port", "70000"], "cql_port"),
        (["--cql-port", "7000"], "must differ"),
        (["--address", "localhost"], "not an IPv4 address"),
        (["--seeds", "127.0.0.1,bogus"], "seeds"),
        (["--seeds", " , "], "at least one seed"),
        (["--timestamp-policy", "lamport"], "timestamp-policy"),
        (["--commitlog-sync", "never"], "commitlog-sync"),
        (["--clock-offset-ms", "1e12"], "clock_offset_ms"),
        (["--clock-offset-ms", "nan"], "clock_offset_ms"),
        (["--clock-drift-ppm", "2000000"], "clock_drift_ppm"),
        (["--log-level", "LOUD"], "log-level"),
        (["--dc", " "], "dc"),
    ],
)
def test_bad_option_values_are_rejected(
    captured_config: list[NodeConfig], args: list[str], fragment: str
) -> None:
    r = invoke("node", *args)
    assert r.exit_code == 2, r.output
    assert fragment in r.output
    assert captured_config == []


def test_bad_config_files_are_rejected(captured_config: list[NodeConfig], tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('cql_prot = 9042\n')
    broken = tmp_path / "broken.toml"
    broken.write_text('cql_port = \n')
    bad_value = tmp_path / "bad.toml"
    bad_value.write_text('num_tokens = "many"\n')
    for path, fragment in [(unknown, "unknown option 'cql_prot'"), (broken, "not valid TOML"),
                           (tmp_path / "missing.toml", "does not exist"),
                           (bad_value, "num_tokens")]:
        r = invoke("node", "--config", str(path))
        assert r.exit_code == 2, (path, r.output)
        assert fragment in r.output, r.output
    assert captured_config == []


def test_build_config_layers() -> None:
    c = build_config({"num_tokens": 8, "dc": "dc2"}, {"num_tokens": 32})
    assert c.num_tokens == 32 and c.dc == "dc2"
    with pytest.raises(ValueError, match="unknown option"):
        build_config({}, {"nope": 1})


def test_cluster_start_rejects_bad_clock_offsets(tmp_path: Path) -> None:
    for value, fragment in [("x", "NODE=MS"), ("4=10", "between 1 and 3"),
                            ("2=1e12", "within")]:
        r = invoke("cluster", "start", "--data-dir", str(tmp_path), "--clock-offset", value)
        assert r.exit_code == 2 and fragment in r.output, r.output
    assert list(tmp_path.iterdir()) == []  # nothing was started


def test_status_cells_and_table() -> None:
    row = types.SimpleNamespace(
        address="127.0.0.2", up=False, dc="datacenter1", rack="rack1", load_bytes=3 * 1024**2,
        owns=0.6667, host_id="8d0b...", clock_offset_ms=-12.34, tokens=16,
    )
    assert cli.status_cells(row) == [
        "DN", "127.0.0.2", "3.00 MiB", "16", "66.7%", "8d0b...", "rack1", "datacenter1",
        "-12.3 ms",
    ]
    up = types.SimpleNamespace(**{**vars(row), "up": True, "address": "127.0.0.10",
                                  "load_bytes": 512, "owns": None})
    assert cli.status_cells(up)[:5] == ["UN", "127.0.0.10", "512 bytes", "16", "?"]
    text = status_view.status_text([cli.status_cells(up), cli.status_cells(row)])
    assert "UN  127.0.0.10" in text and "DN  127.0.0.2 " in text and "8d0b..." in text


def test_status_reports_an_unreachable_node() -> None:
    port = free_port("127.0.0.1")  # nothing listens there
    r = CliRunner().invoke(cli.main, ["status", "--host", "127.0.0.1", "--port", str(port)])
    assert r.exit_code == 1
    assert f"cannot reach a Skewless node at 127.0.0.1:{port}" in r.output


# --- local cluster processes --------------------------------------------------------------------


def free_port(*hosts: str) -> int:
    hosts = hosts or ("127.0.0.1", "127.0.0.2")
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port: int = s.getsockname()[1]
        try:
            for h in hosts[1:]:
                with socket.socket() as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise AssertionError("no free port")


FAKE_SERVER = '''
import signal, socket, sys, types

def run_node(config):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((config.address, config.cql_port))
    s.listen()
    print("fake node listening", config.address, config.cql_port, config.clock_offset_ms,
          flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    s.close()
    print("fake node stopped", flush=True)

mod = types.ModuleType("skewless.runtime.server")
mod.run_node = run_node
sys.modules["skewless.runtime.server"] = mod
'''


@pytest.fixture
def fake_server_env(tmp_path: Path) -> dict[str, str]:
    d = tmp_path / "fake-server"
    d.mkdir()
    (d / "sitecustomize.py").write_text(FAKE_SERVER)
    # before the checkout's own PYTHONPATH (if any), so the nodes run this checkout's skewless
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(d), os.environ.get("PYTHONPATH"))
                                          if p)}


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def eventually_state(pid: int, stopped: bool, timeout_s: float = 5.0) -> bool:
    """Signals are delivered asynchronously: wait (bounded) for the stopped state to match."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (proc_state(pid) in ("T", "t")) == stopped:
            return True
        time.sleep(0.02)
    return False


def test_local_cluster_lifecycle(tmp_path: Path, fake_server_env: dict[str, str]) -> None:
    data = tmp_path / "data"
    cql, internode = free_port(), free_port()
    nodes = local.start_local_cluster(
        2, data, {2: ["--clock-offset-ms", "150"]}, [fake_server_env, fake_server_env],
        cql_port=cql, internode_port=internode, wait_s=30,
    )
    try:
        assert [n.address for n in nodes] == ["127.0.0.1", "127.0.0.2"]
        for n in nodes:
            assert local.port_accepts(n.address, cql)
            assert (data / f"node{n.index}" / "node.pid").read_text().strip() == str(n.pid)
            assert local.pid_is_node_of(n.pid, data / f"node{n.index}")
        assert "150.0" in nodes[1].log_tail()

        # A second cluster on the same ports is refused before anything starts.
        with pytest.raises(local.ClusterStartError, match="already running"):
            local.start_local_cluster(2, data, None, None, cql_port=cql,
                                      internode_port=internode)

        nodes[1].sigstop()
        assert eventually_state(nodes[1].pid, stopped=True)
        nodes[1].sigcont()
        assert eventually_state(nodes[1].pid, stopped=False)

        old_pid = nodes[0].pid
        nodes[0].kill9()
        assert nodes[0].returncode() == -signal.SIGKILL
        assert not (data / "node1" / "node.pid").exists()
        nodes[0].restart(timeout_s=30)
        assert nodes[0].pid != old_pid and local.port_accepts("127.0.0.1", cql)

        assert nodes[1].terminate() == 0
        assert "fake node stopped" in nodes[1].log_tail()
        nodes[1].restart(timeout_s=30)

        # `skewless cluster stop` finds both by their pid files and stops them.
        r = invoke("cluster", "stop", "--data-dir", str(data))
        assert r.exit_code == 0, r.output
        assert "node1: pid" in r.output and "node2: pid" in r.output
        for n in nodes:
            n.popen and n.popen.wait(timeout=5)  # type: ignore[func-returns-value]
            assert n.returncode() == 0
        assert list(data.glob("node*/node.pid")) == []
    finally:
        local.stop_nodes(nodes, 5)


def test_cluster_start_reports_a_node_that_fails(
    tmp_path: Path, fake_server_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    cql, internode = free_port(), free_port()
    with pytest.raises(local.ClusterStartError) as info:
        local.start_local_cluster(
            2, data, {2: ["--num-tokens", "0"]}, {1: fake_server_env}, cql_port=cql,
            internode_port=internode, wait_s=30,
        )
    e = info.value
    assert "node2" in e.message and "exited with code 2" in e.message
    assert "num_tokens" in e.log_tail
    assert list(data.glob("node*/node.pid")) == []  # node1 was stopped too


def test_cluster_start_foreground_stops_nodes_on_sigint(
    tmp_path: Path, fake_server_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    cql, internode = free_port(), free_port()
    env = {**os.environ, **fake_server_env}
    p = subprocess.Popen(
        [sys.executable, "-m", "skewless.cli", "cluster", "start", "--nodes", "2",
         "--data-dir", str(data), "--cql-port", str(cql), "--internode-port", str(internode),
         "--clock-offset", "2=-40", "--foreground"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )
    pids: list[int] = []
    try:
        assert p.stdout is not None
        lines: list[str] = []
        for line in p.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "127.0.0.2" in output and "-40 ms" in output, output
        pids = [int((data / f"node{i}" / "node.pid").read_text()) for i in (1, 2)]
        assert all(local.pid_alive(pid) for pid in pids)
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=60)
        assert p.returncode == 0, rest
        assert "stopped" in rest
        assert not any(local.pid_alive(pid) for pid in pids)
        assert list(data.glob("node*/node.pid")) == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        for i, pid in enumerate(pids, 1):
            if local.pid_alive(pid) and local.pid_is_node_of(pid, data / f"node{i}"):
                os.kill(pid, signal.SIGKILL)


def test_cluster_stop_handles_stale_and_reused_pid_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in (1, 2, 3):
        (data / f"node{i}").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    (data / "node1" / "node.pid").write_text(f"{dead.pid}\n")
    # A live process that is not this cluster's node (as if the pid had been reused).
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (data / "node2" / "node.pid").write_text(f"{unrelated.pid}\n")
        (data / "node3" / "node.pid").write_text("not a pid\n")
        r = invoke("cluster", "stop", "--data-dir", str(data))
        assert r.exit_code == 0, r.output
        assert f"stale pid {dead.pid}" in r.output
        assert "left alone" in r.output
        assert "unreadable pid file" in r.output
        assert unrelated.poll() is None  # not signalled
        assert list(data.glob("node*/node.pid")) == []
        r = invoke("cluster", "stop", "--data-dir", str(data))
        assert r.exit_code == 0 and "nothing to stop" in r.output
    finally:
        unrelated.kill()
        unrelated.wait(timeout=10)


def test_cluster_stop_rejects_a_missing_directory(tmp_path: Path) -> None:
    r = invoke("cluster", "stop", "--data-dir", str(tmp_path / "nope"))
    assert r.exit_code == 2 and "not a directory" in r.output
