"""Local clusters: start, wait for, signal and stop ``skewless node`` processes.

Node i listens on 127.0.0.i (ccm's convention; Linux routes all of 127/8 to loopback), keeps its
data in ``DIR/node{i}``, writes its output to ``DIR/node{i}/node.log`` and its pid to
``DIR/node{i}/node.pid``. Each node runs in its own session (and so process group), so a Ctrl-C
in the terminal reaches only the controlling ``skewless`` command, which stops the nodes itself.

The cluster's internode secret is ``DIR/internode_secret`` (mode 0600), made once by
``ensure_cluster_secret`` when the first node's command line is built and given to every node
(``--internode-secret-file``), so that nodes added later to the same directory join too.

Processes are only ever signalled by pid. A pid read back from a pid file is signalled only if
``/proc/PID/cmdline`` shows it is a ``skewless node`` of that data directory: a stale file whose
pid the system has since reused for something else is removed, and that process left alone.

Every wait here is bounded. These helpers block (they are meant for the CLI process and test
harnesses, not for a node's event loop: call them through ``asyncio.to_thread`` from async code).
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from skewless import limits

NODE_MODULE = "skewless.cli"  # run as `python -m skewless.cli node ...`
PID_FILE = "node.pid"
ADMIN_PORT_OFFSET = 199  # admin port = internode port + 199 (7000 -> Cassandra's JMX 7199)
LOG_FILE = "node.log"
SECRET_FILE = "internode_secret"  # in the cluster's directory, beside node1..nodeN
_SECRET_HEX_DIGITS = 64  # 256 random bits
_POLL_S = 0.1
_T = TypeVar("_T")


class ClusterStartError(Exception):
    """A node did not come up; ``log_tail`` holds the end of its log."""

    def __init__(self, message: str, log_path: Path | None = None, log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_path = log_path
        self.log_tail = log_tail


def node_address(index: int) -> str:
    assert 1 <= index <= 254, index
    return f"127.0.0.{index}"


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def port_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


# --- pids ------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def pid_is_node_of(pid: int, data_dir: Path) -> bool:
    """Does ``pid`` run ``skewless node`` with ``--data-dir data_dir``? (True without /proc.)"""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return not Path("/proc/self").exists()
    args = raw.decode("utf-8", "replace").split("\0")
    want = str(data_dir.resolve())
    for i, arg in enumerate(args[:-1]):
        if arg == "--data-dir" and str(Path(args[i + 1]).resolve()) == want:
            return "node" in args
    return False


def wait_pid_exit(pid: int, timeout_s: float) -> bool:
    """Wait (bounded) until ``pid`` is gone; True if it is. For a process that is not our child."""
    deadline = time.monotonic() + timeout_s  # allow-real-clock
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = -1
    try:
        while pid_alive(pid):
            remaining = deadline - time.monotonic()  # allow-real-clock
            if remaining <= 0:
                return False
            if fd >= 0:
                select.select([fd], [], [], min(remaining, _POLL_S))
            else:
                time.sleep(min(remaining, _POLL_S))  # allow-real-clock: CLI process, not a node
        return True
    finally:
        if fd >= 0:
            os.close(fd)


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


# --- one node ----------------------------------------------------------------------------------


@dataclass
class NodeProcess:
    """A ``skewless node`` child process of this process."""

    index: int
    address: str
    cql_port: int
    data_dir: Path
    argv: list[str]
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.popen is not None, "node not started"
        return self.popen.pid

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def pid_path(self) -> Path:
        return self.data_dir / PID_FILE

    def start(self) -> None:
        """Spawn the node (not waiting for it); records its pid file."""
        assert self.popen is None or self.popen.poll() is not None, "node already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if self.env:
            env.update(self.env)
        with self.log_path.open("ab") as log:
            log.write(f"--- skewless cluster: starting {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, close_fds=True,
            )
        self.pid_path.write_text(f"{self.popen.pid}\n")

    def returncode(self) -> int | None:
        """The exit code once the process has exited (reaping it), else None."""
        return None if self.popen is None else self.popen.poll()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, timeout_s: float = limits.cluster_start_wait_ms / 1000) -> None:
        wait_ready([self], timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def send_signal(self, sig: signal.Signals) -> bool:
        if not self.running():
            return False
        return _signal(self.pid, sig)

    def kill9(self) -> None:
        """SIGKILL (a crash: no clean shutdown) and reap it."""
        if self.send_signal(signal.SIGKILL):
            self._reap(limits.cluster_stop_grace_ms / 1000)
        self._remove_pid_file()

    def sigstop(self) -> None:
        """Freeze the node (it keeps its sockets but answers nothing)."""
        self.send_signal(signal.SIGSTOP)

    def sigcont(self) -> None:
        self.send_signal(signal.SIGCONT)

    def terminate(self, grace_s: float = limits.cluster_stop_grace_ms / 1000) -> int | None:
        """SIGTERM, SIGKILL after ``grace_s``; returns the exit code (None if never started)."""
        stop_nodes([self], grace_s)
        return self.returncode()

    def restart(self, timeout_s: float = limits.cluster_start_wait_ms / 1000) -> None:
        """Stop the node if running, start it again with the same arguments, wait until ready."""
        if self.running():
            self.terminate()
        self.start()
        self.wait_ready(timeout_s)

    def _reap(self, timeout_s: float) -> bool:
        assert self.popen is not None
        try:
            self.popen.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _remove_pid_file(self) -> None:
        try:
            if self.popen is not None and self.pid_path.read_text().strip() == str(self.pid):
                self.pid_path.unlink()
        except OSError:
            pass


XDIST_WORKERS_MAX = 2  # run.py's parallel test workers; a third would reach the next range
XDIST_PORT_STRIDE = 5000  # gw1 = gw0 + this: no port of both, all below 32768 (test_port_layout)


def suite_port_offset() -> int:
    """How far the test suite moves its ports: SKEWLESS_TEST_PORT_OFFSET (two checkouts side
    by side), plus ``XDIST_PORT_STRIDE`` per pytest-xdist worker after the first, so that the
    clusters of parallel workers never share a port (they share the 127.0.0.x addresses)."""
    base = int(os.environ.get("SKEWLESS_TEST_PORT_OFFSET", "0"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    assert index < XDIST_WORKERS_MAX, f"worker {worker}: at most {XDIST_WORKERS_MAX} workers"
    return base + index * XDIST_PORT_STRIDE


def admin_port_for(internode_port: int) -> int:
    """The admin (nodetool) port of a local cluster's nodes: 7199 beside the default 7000,
    moved with the internode port (tests' port offsets move it too)."""
    return internode_port + ADMIN_PORT_OFFSET


def ensure_cluster_secret(cluster_dir: Path) -> Path:
    """``cluster_dir/internode_secret``, made (random, mode 0600) if it is not there yet."""
    path = Path(cluster_dir) / SECRET_FILE
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another process
        return path
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(_SECRET_HEX_DIGITS // 2) + "\n")
    return path


def node_argv(
    index: int, data_dir: Path, *, seeds: Sequence[str], cql_port: int, internode_port: int,
    extra_args: Sequence[str] = (), admin_port: int | None = None,
) -> list[str]:
    """A node's command line; its data directory's parent is the cluster's, which holds the
    cluster secret (made if missing). ``extra_args`` come last, so they override."""
    admin = admin_port_for(internode_port) if admin_port is None else admin_port
    secret = ensure_cluster_secret(data_dir.resolve().parent)
    return [
        sys.executable, "-m", NODE_MODULE, "node",
        "--address", node_address(index),
        "--seeds", ",".join(seeds),
        "--data-dir", str(data_dir.resolve()),
        "--cql-port", str(cql_port),
        "--internode-port", str(internode_port),
        "--admin-port", str(admin),
        "--internode-secret-file", str(secret),
        *extra_args,
    ]


def wait_ready(nodes: Sequence[NodeProcess], timeout_s: float) -> None:
    """Wait until every node accepts TCP on its CQL port; raise ClusterStartError otherwise."""
    deadline = time.monotonic() + timeout_s  # allow-real-clock
    pending = list(nodes)
    while pending:
        for n in list(pending):
            rc = n.returncode()
            if rc is not None:
                raise ClusterStartError(
                    f"node{n.index} ({n.address}) exited with code {rc} before accepting CQL",
                    n.log_path, n.log_tail(),
                )
            if port_accepts(n.address, n.cql_port, timeout_s=0.2):
                pending.remove(n)
        if not pending:
            return
        remaining = deadline - time.monotonic()  # allow-real-clock
        if remaining <= 0:
            n = pending[0]
            raise ClusterStartError(
                f"node{n.index} ({n.address}) did not accept CQL on port {n.cql_port} "
                f"within {timeout_s:g} s",
                n.log_path, n.log_tail(),
            )
        pending[0]._reap(min(remaining, _POLL_S))  # a bounded wait that also notices an exit


def stop_nodes(nodes: Sequence[NodeProcess], grace_s: float) -> list[str]:
    """SIGTERM every running node, SIGKILL those still there after ``grace_s``; reap all."""
    lines: list[str] = []
    running = [n for n in nodes if n.running()]
    for n in running:
        _signal(n.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s  # allow-real-clock
    for n in running:
        if n._reap(max(0.0, deadline - time.monotonic())):  # allow-real-clock
            lines.append(f"node{n.index} ({n.address}, pid {n.pid}) stopped")
            continue
        _signal(n.pid, signal.SIGKILL)
        n._reap(grace_s)
        lines.append(f"node{n.index} ({n.address}, pid {n.pid}) killed after {grace_s:g} s")
    for n in nodes:
        n._remove_pid_file()
    return lines


def start_local_cluster(
    n: int,
    data_dir: Path,
    extra_args_per_node: Mapping[int, Sequence[str]] | Sequence[Sequence[str]] | None = None,
    env_per_node: Mapping[int, Mapping[str, str]] | Sequence[Mapping[str, str]] | None = None,
    *,
    cql_port: int = 9042,
    internode_port: int = 7000,
    wait_s: float = limits.cluster_start_wait_ms / 1000,
) -> list[NodeProcess]:
    """Start ``n`` nodes (node i on 127.0.0.i, seed 127.0.0.1) and wait until all accept CQL.

    Per-node extras are keyed by node number (1-based) in a mapping, or listed in node order.
    On failure every node started is stopped and ClusterStartError raised.
    """
    assert 1 <= n <= 254, n
    data_dir = Path(data_dir)
    for i in range(1, n + 1):
        existing = _read_pid(data_dir / f"node{i}" / PID_FILE)
        if existing is not None and pid_alive(existing) and \
                pid_is_node_of(existing, data_dir / f"node{i}"):
            raise ClusterStartError(
                f"node{i} is already running (pid {existing}); "
                f"stop it first: skewless cluster stop --data-dir {data_dir}"
            )
        for port in (cql_port, internode_port, admin_port_for(internode_port)):
            if port_accepts(node_address(i), port, timeout_s=0.2):
                raise ClusterStartError(
                    f"{node_address(i)}:{port} is already in use by another process "
                    f"(another cluster running?)"
                )
    nodes: list[NodeProcess] = []
    for i in range(1, n + 1):
        node_dir = data_dir / f"node{i}"
        node = NodeProcess(
            index=i, address=node_address(i), cql_port=cql_port, data_dir=node_dir,
            argv=node_argv(
                i, node_dir, seeds=[node_address(1)], cql_port=cql_port,
                internode_port=internode_port, extra_args=_per_node(extra_args_per_node, i, ()),
            ),
            env=dict(_per_node(env_per_node, i, {})) or None,
        )
        nodes.append(node)
    try:
        for node in nodes:
            node.start()
        wait_ready(nodes, wait_s)
    except BaseException:
        stop_nodes(nodes, limits.cluster_stop_grace_ms / 1000)
        raise
    return nodes


def _per_node(per_node: Mapping[int, _T] | Sequence[_T] | None, index: int, default: _T
) -> _T:
    if per_node is None:
        return default
    if isinstance(per_node, Mapping):
        return per_node.get(index, default)
    return per_node[index - 1] if index - 1 < len(per_node) else default


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        pid = int(text)
    except ValueError:
        return None
    return pid if pid > 0 else None


def stop_by_pid_files(data_dir: Path, grace_s: float) -> list[str]:
    """Stop the nodes recorded in ``data_dir/node*/node.pid``; returns one line per pid file."""
    lines: list[str] = []
    targets: list[tuple[Path, int]] = []
    for pid_path in sorted(Path(data_dir).glob(f"node*/{PID_FILE}")):
        node_dir = pid_path.parent
        pid = _read_pid(pid_path)
        if pid is None:
            lines.append(f"{node_dir.name}: unreadable pid file removed")
            pid_path.unlink(missing_ok=True)
        elif not pid_alive(pid):
            lines.append(f"{node_dir.name}: not running (stale pid {pid}); pid file removed")
            pid_path.unlink(missing_ok=True)
        elif not pid_is_node_of(pid, node_dir):
            lines.append(
                f"{node_dir.name}: pid {pid} is not this node (pid reused); left alone, "
                f"pid file removed"
            )
            pid_path.unlink(missing_ok=True)
        else:
            _signal(pid, signal.SIGTERM)
            targets.append((pid_path, pid))
    deadline = time.monotonic() + grace_s  # allow-real-clock
    for pid_path, pid in targets:
        name = pid_path.parent.name
        if wait_pid_exit(pid, max(0.0, deadline - time.monotonic())):  # allow-real-clock
            lines.append(f"{name}: pid {pid} stopped")
        else:
            _signal(pid, signal.SIGKILL)
            if wait_pid_exit(pid, grace_s):
                lines.append(f"{name}: pid {pid} killed after {grace_s:g} s")
            else:
                lines.append(f"{name}: pid {pid} did not exit even after SIGKILL")
                continue
        pid_path.unlink(missing_ok=True)
    return lines


__all__ = [
    "ClusterStartError", "NodeProcess", "ensure_cluster_secret", "log_tail", "node_address",
    "node_argv",
    "pid_alive", "pid_is_node_of", "port_accepts", "start_local_cluster", "stop_by_pid_files",
    "stop_nodes", "wait_pid_exit", "wait_ready",
]
