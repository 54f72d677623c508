"""What the node process sets up before and beside its loop (``runtime.server``): the cluster
secret read from ``internode_secret_file``, the file descriptor limit and the connection
budget fitted to it, and the bcrypt threads of PasswordAuthenticator."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from skewless import limits
from skewless.config import NodeConfig
from skewless.node.auth.model import checkpw, hashpw
from skewless.node.requests import ClientRequests
from skewless.runtime import admission, internode_auth

log = logging.getLogger("skewless.server")
_T = TypeVar("_T")


class ThreadHasher:
    """bcrypt in worker threads of its own (bcrypt releases the GIL): a 50-100 ms check does
    not stop the node, and a burst of logins queues here, not in the default executor where
    the commit-log fsyncs run. ``done`` runs on the event loop."""

    def __init__(self, requests: ClientRequests, kick: Callable[[], None]) -> None:
        self.requests = requests  # the node's (node.requests): continuations run bound
        self.kick = kick  # wakes the flusher
        self.pool = ThreadPoolExecutor(limits.auth_bcrypt_threads, "bcrypt")

    def hash(self, password: str, done: Callable[[str], None]) -> None:
        self._run(lambda: hashpw(password, os.urandom), done)

    def check(self, password: str, salted_hash: str, done: Callable[[bool], None]) -> None:
        self._run(lambda: checkpw(password, salted_hash), done)

    def _run(self, fn: Callable[[], _T], done: Callable[[_T], None]) -> None:
        future = asyncio.get_running_loop().run_in_executor(self.pool, fn)
        # Part of the current request: an exception (the hash's or the continuation's) is
        # its reply (node.requests).
        answer = self.requests.bind(lambda f: done(f.result()))

        def finished(f: asyncio.Future[_T]) -> None:
            try:
                answer(f)
            except Exception:  # no client request: a bug must not take the node down
                log.exception("internal error after a password hash")
            self.kick()
        future.add_done_callback(finished)


def connection_budget(config: NodeConfig) -> admission.Budget:
    """Raise the file descriptor soft limit to the hard one; fit the connection limits in."""
    before, after = admission.raise_fd_limit()
    budget = admission.connection_budget(
        config.native_transport_max_concurrent_connections,
        config.native_transport_max_concurrent_connections_per_ip, after)
    if budget.lowered:
        log.warning("native_transport_max_concurrent_connections %d does not fit the file "
                    "descriptor limit %d less %d kept for peers and files: %d admitted; raise "
                    "the hard limit (ulimit -Hn, LimitNOFILE)",
                    config.native_transport_max_concurrent_connections, after, budget.reserve,
                    budget.connections_max)
    log.info("file descriptors: soft limit %d (was %d), %d kept for peers and files; CQL "
             "connections at most %d, %s per address", after, before, budget.reserve,
             budget.connections_max,
             "unlimited" if budget.per_ip_max < 0 else str(budget.per_ip_max))
    return budget


class InternodeSecretError(Exception):
    """The node cannot authenticate its peers: no secret file, or an unusable one."""


def load_internode_secret(config: NodeConfig) -> bytes | None:
    """The cluster secret from ``internode_secret_file`` (None with AllowAll); raises
    ``InternodeSecretError`` with what to do when the node cannot have one."""
    if not config.internode_authentication:
        log.warning("internode authentication is off (AllowAllInternodeAuthenticator): any "
                    "process that reaches the internode port can act as a node")
        return None
    path = config.internode_secret_file
    if not path:
        raise InternodeSecretError(
            "internode_authenticator is SharedSecretInternodeAuthenticator but no "
            "internode_secret_file is set: give every node the same secret file "
            "(--internode-secret-file PATH; `skewless cluster start` makes one), or set "
            "internode_authenticator to AllowAllInternodeAuthenticator to run without "
            "internode authentication")
    try:
        data = Path(path).read_bytes()
        mode = Path(path).stat().st_mode
    except OSError as e:
        raise InternodeSecretError(f"internode_secret_file: cannot read {path!r}: "
                                   f"{e.strerror or e}") from None
    try:
        secret = internode_auth.parse_secret(data, repr(path))
    except ValueError as e:
        raise InternodeSecretError(str(e)) from None
    if mode & 0o077:
        log.warning("internode_secret_file %s is readable by other users (mode %o); "
                    "chmod 600 it", path, mode & 0o777)
    return secret
