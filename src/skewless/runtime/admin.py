"""The admin endpoint of a node (nodetool's): HTTP on the node's own address and admin_port.

``GET /operations`` lists the operations; ``POST /operations/<name>`` with a JSON object body
runs one and answers ``200`` with its JSON result, ``400 {"error": ...}`` for a bad request
(``AdminError``), ``404`` for an unknown operation or path. The handlers run on the node's event
loop, between ticks (``skewless.admin``); the slow maintenance work they ask of the runtime
(flush, compaction, checkpoints, drain) runs in a worker thread or as a task that the request
awaits.

Credentials: under PasswordAuthenticator (``SuperuserAuthenticator``) every request, the list of
operations included, must carry ``Authorization: Basic`` credentials (nodetool's ``-u``/``-pw``)
of a role that can LOGIN and has superuser status (itself or through a granted role), checked
before the body is looked at. They are checked by ``Auth.login``, the CQL login's own path: the
role's row is read at ``AuthLevels.role_read``, bcrypt runs in the node's hashing threads, and a
good check is remembered in the same credentials cache. Refused: ``401`` with
``WWW-Authenticate`` for missing, malformed or wrong credentials or a role that cannot LOGIN,
``403`` for a role that can log in but is no superuser (Cassandra's JMX AuthorizationProxy's
``Access Denied``). Nothing runs for a refused request. Under AllowAllAuthenticator every request
to the node's own address is served, as JMX with ``LOCAL_JMX=yes``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import resource
import shutil
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless import limits
from skewless.admin.operations import OPERATIONS
from skewless.admin.registry import AdminContext, AdminError, Json, call
from skewless.errors import AuthenticationFailed
from skewless.node.auth.model import AuthenticatedUser

if TYPE_CHECKING:
    from skewless.runtime.server import NodeServer

log = logging.getLogger("skewless.admin")

# (headers) -> None when the request may run, else the refusal: (401 or 403, message).
# None as the server's authenticator: every request to the node's own address is served.
Authenticator = Callable[[Mapping[str, str]], Awaitable[tuple[int, str] | None]]
MANIFEST = "manifest.json"
# What nodetool prints after "SecurityException:" (a refused JMX login; Cassandra's
# AuthorizationProxy for a role without the permission).
AUTHENTICATION_FAILED = "Authentication failed! Invalid username or password"
ACCESS_DENIED = "Access Denied"
REALM = 'Basic realm="skewless admin", charset="UTF-8"'


def basic_credentials(value: str | None) -> tuple[str, str] | None:
    """(username, password) of an ``Authorization: Basic`` header; None if absent or malformed."""
    scheme, _, token = (value or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(token.strip(), validate=True) \
            .decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep or not username:
        return None
    return username, password


class SuperuserAuthenticator:
    """Admin requests under PasswordAuthenticator: a LOGIN superuser's credentials."""

    def __init__(self, server: NodeServer) -> None:
        self.server = server

    async def __call__(self, headers: Mapping[str, str]) -> tuple[int, str] | None:
        credentials = basic_credentials(headers.get("authorization"))
        if credentials is None:
            log.info("admin request refused: no credentials (nodetool -u/-pw)")
            return 401, AUTHENTICATION_FAILED
        username, password = credentials
        if len(password.encode("utf-8")) > limits.auth_password_bytes_max:
            return 401, AUTHENTICATION_FAILED
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[AuthenticationFailed | None, AuthenticatedUser | None]]
        answer = loop.create_future()

        def done(error: AuthenticationFailed | None, user: AuthenticatedUser | None) -> None:
            if not answer.done():
                answer.set_result((error, user))
        self.server.executor.auth.login(username, password, done)
        self.server._kick.set()  # the role read's messages, if any
        try:
            error, user = await asyncio.wait_for(answer, limits.auth_handshake_ms / 1000)
        except TimeoutError:
            log.warning("admin request refused: the login of %r took more than %d ms",
                        username, limits.auth_handshake_ms)
            return 401, AUTHENTICATION_FAILED
        if error is not None or user is None:
            log.info("admin request refused: %s", error.message if error else "no role")
            return 401, AUTHENTICATION_FAILED
        if not user.superuser:
            log.info("admin request refused: role %r is not a superuser", username)
            return 403, ACCESS_DENIED
        return None


class ProcessRuntime:
    """``registry.NodeRuntime`` for a node process (``NodeServer``)."""

    def __init__(self, server: NodeServer) -> None:
        self.server = server
        self.started_ns = server.clock.monotonic_ns()
        self.pending: list[Awaitable[Any]] = []  # work the current request waits for
        self.blocking: list[Callable[[], None]] = []  # run in a worker thread, then answer

    @property
    def snapshots_dir(self) -> Path:
        return Path(self.server.config.data_dir) / "snapshots"

    def mode(self) -> str:
        return self.server.mode

    def uptime_ms(self) -> int:
        return (self.server.clock.monotonic_ns() - self.started_ns) // 1_000_000

    def memory_bytes(self) -> tuple[int, int]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            rss = pages * os.sysconf("SC_PAGE_SIZE")
            return rss, max(rss, peak)
        except (OSError, ValueError, IndexError):
            return peak, peak

    def native_transport_active(self) -> bool:
        cql = self.server._cql_server
        return cql is not None and cql.is_serving()

    def gossip_active(self) -> bool:
        return self.server.mode not in ("DRAINING", "DRAINED")

    def requests(self) -> tuple[int, int]:
        return self.server.inflight_total, self.server.answered_total

    def messages(self) -> Json:
        t = self.server.transport
        stats = t.stats
        pending = sum(t.queued(a) for a in self.server.node.membership.peers)
        dropped = stats.dropped_queue_full + stats.dropped_oversize + stats.dropped_expired
        return {"pending": pending, "sent": stats.sent, "received": stats.received,
                "dropped": dropped}

    def flush(self) -> None:
        self.blocking.append(self.server.kv.flush)

    def compact(self) -> None:
        self.blocking.append(self.server.kv.compact)

    def drain(self) -> None:
        self.pending.append(self.server.drain())

    def snapshot(self, tag: str, keyspaces: list[str], tables: list[str]) -> Json:
        target = self.snapshots_dir / tag
        if target.exists():
            raise AdminError(f"Snapshot {tag} already exists.")
        created = datetime.fromtimestamp(self.server.clock.real_time_us() / 1e6, UTC)
        manifest = {"tag": tag, "created_at": created.isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"), "keyspaces": keyspaces, "tables": tables}

        def make() -> None:
            target.mkdir(parents=True)
            self.server.kv.checkpoint(str(target / "db"))
            (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")

        self.blocking.append(make)
        return {"tag": tag, "directory": str(target), "tables": tables}

    def list_snapshots(self) -> list[Json]:
        out = []
        root = self.snapshots_dir
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            try:
                manifest = json.loads((d / MANIFEST).read_text())
            except (OSError, ValueError):
                continue  # being made, or not a snapshot
            on_disk = true = 0
            for f in d.rglob("*"):
                if f.is_file():
                    st = f.stat()
                    on_disk += st.st_size
                    true += st.st_size if st.st_nlink == 1 else 0  # not shared with live data
            out.append({"tag": d.name, "created_at": manifest.get("created_at", ""),
                        "keyspaces": manifest.get("keyspaces", []),
                        "tables": manifest.get("tables", []),
                        "size_on_disk_bytes": on_disk, "true_size_bytes": true})
        return out

    def clear_snapshot(self, tag: str | None) -> list[str]:
        root = self.snapshots_dir
        if not root.is_dir():
            return []
        cleared = []
        for d in sorted(root.iterdir()):
            if d.is_dir() and (tag is None or d.name == tag):
                shutil.rmtree(d)
                cleared.append(d.name)
        return cleared

    async def settle(self) -> None:
        """Carry out what the operation asked for (worker thread / awaited task)."""
        blocking, self.blocking = self.blocking, []
        pending, self.pending = self.pending, []
        for fn in blocking:
            await self.server.space.run_blocking(fn)  # never while the store is reopened
        for aw in pending:
            await aw


class AdminServer:
    def __init__(self, server: NodeServer, address: str, port: int) -> None:
        self.runtime = ProcessRuntime(server)
        self.ctx = AdminContext(server.node, self.runtime)
        self.address = address
        self.port = port
        self.authenticator: Authenticator | None = \
            SuperuserAuthenticator(server) if server.executor.auth.required else None
        self._server: asyncio.Server | None = None
        self._lock = asyncio.Lock()  # one operation at a time

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._serve, self.address, self.port, reuse_address=True,
                limit=limits.admin_request_bytes_max)
        except OSError as e:
            raise SystemExit(f"cannot listen for nodetool on {self.address}:{self.port} "
                             f"(--admin-port; 0 turns it off): {e}") from None
        log.info("admin endpoint (nodetool) on http://%s:%d/operations", self.address,
                 self.port)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            timeout_s = limits.admin_request_timeout_ms / 1000
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
            method, path, headers = _parse_head(head)
            length = int(headers.get("content-length", "0") or "0")
            if not 0 <= length <= limits.admin_request_bytes_max:
                status, body = 413, {"error": "request body too large"}
            else:
                raw = await asyncio.wait_for(reader.readexactly(length), timeout_s)
                status, body = await self._answer(method, path, headers, raw)
            data = json.dumps(body).encode()
            challenge = f"WWW-Authenticate: {REALM}\r\n" if status == 401 else ""
            writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\n{challenge}"
                         f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError, ValueError):
            pass  # a client that hangs up or sends garbage gets nothing
        finally:
            writer.close()

    async def _answer(self, method: str, path: str, headers: Mapping[str, str], raw: bytes
                      ) -> tuple[int, Json]:
        if self.authenticator is not None:
            refused = await self.authenticator(headers)
            if refused is not None:
                return refused[0], {"error": refused[1]}
        if method == "GET" and path == "/operations":
            return 200, {"operations": {n: op.description for n, op in OPERATIONS.items()}}
        name = path.removeprefix("/operations/")
        if method != "POST" or name == path or name not in OPERATIONS:
            return 404, {"error": f"no such operation: {method} {path}"}
        try:
            args = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"error": "the request body is not JSON"}
        if not isinstance(args, dict):
            return 400, {"error": "the request body must be a JSON object"}
        async with self._lock:
            try:
                result = call(self.ctx, name, args)
                await self.runtime.settle()
            except AdminError as e:
                return 400, {"error": str(e)}
            except Exception as e:  # the node must survive a failing operation
                log.exception("admin operation %s failed", name)
                self.runtime.blocking.clear()
                self.runtime.pending.clear()
                return 500, {"error": f"{type(e).__name__}: {e}"}
        return 200, result


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, path.split("?", 1)[0], headers


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            413: "Payload Too Large", 500: "Internal Server Error"}
