"""TLS for the CQL port and internode messaging: Cassandra's client_encryption_options and
server_encryption_options, with stdlib ``ssl`` contexts.

Theory of operation
-------------------
Certificates are PEM files in the layout of Cassandra 4.1's PEM support: a *keystore* holds the
private key and the certificate chain, a *truststore* the CA certificates a peer's certificate
must chain to (``skewless certs`` makes both; ``security.certs``).

Listening: when TLS is on, a port is served by a ``PeekingServer`` rather than
``asyncio.start_server``. It accepts the socket itself and peeks (``MSG_PEEK``: nothing is
consumed) at the first byte the client sends. A TLS record starts with 0x16 (handshake); a CQL
frame starts with its version byte (0x03-0x05, 0x83-0x85 for responses, 0x40-bit for beta), an
internode frame with a length byte 0x00: never 0x16. So one port can serve TLS and plaintext
(``optional``), and a plaintext connection where TLS is required is refused with a log line
before a byte of it is read as a request. A TLS connection is handed to the event loop's own TLS
(``connect_accepted_socket(ssl=...)``) with a handshake timeout; a failed handshake (a client
certificate from another CA, none where ``require_client_auth`` asks for one) is refused and
logged here, not left to the loop's exception handler.

Internode (``InternodeTls``): ``internode_encryption`` ``all`` encrypts every connection;
``dc`` (``rack``) only those to a peer in another DC (rack), as the node's gossip state says,
and to a peer whose DC (rack) it does not know yet; ``none`` nothing. An inbound plaintext
connection is refused from an address known to be in another DC (rack) and, under ``all``,
from anyone, unless ``optional``. Under ``dc``/``rack`` a peer not known yet may connect in
plaintext: it may know our DC before we know its own (it learnt ours from our gossip), and
refusing it would keep us from ever learning it (the first connection of a node we do not know
is its gossip to us). Peers' certificates must chain to the
truststore (the cluster CA) in both directions (inbound only with ``require_client_auth``);
with ``require_endpoint_verification`` a certificate must also name the peer's IP address as a
subjectAltName: checked by ``ssl`` itself on outbound connections (``server_hostname`` is the
peer's address), and here against the source address of inbound ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from skewless import limits
from skewless.config import NodeConfig

log = logging.getLogger(__name__)

TLS_HANDSHAKE_BYTE = 0x16  # a TLS record of content type handshake: every ClientHello
_BACKLOG = 512

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TlsConfigError(Exception):
    """A keystore or truststore that cannot be loaded; the message names the option."""


def _load(ctx: ssl.SSLContext, option: str, keystore: str, truststore_option: str,
          truststore: str) -> None:
    try:
        ctx.load_cert_chain(keystore)
    except (OSError, ssl.SSLError) as e:
        raise TlsConfigError(f"{option}: cannot load {keystore!r} as a PEM keystore (private "
                             f"key + certificate chain): {e}") from None
    if truststore:
        try:
            ctx.load_verify_locations(cafile=truststore)
        except (OSError, ssl.SSLError) as e:
            raise TlsConfigError(f"{truststore_option}: cannot load {truststore!r} as a PEM "
                                 f"truststore: {e}") from None


def client_encryption_context(config: NodeConfig) -> ssl.SSLContext | None:
    """The CQL port's server context (client_encryption_options); None when not enabled."""
    if not config.client_encryption_enabled:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(ctx, "client_encryption_keystore", config.client_encryption_keystore,
          "client_encryption_truststore", config.client_encryption_truststore)
    ctx.verify_mode = (ssl.CERT_REQUIRED if config.client_encryption_require_client_auth
                       else ssl.CERT_NONE)
    return ctx


def _san_addresses(peercert: Any) -> list[str]:
    if not isinstance(peercert, dict):
        return []
    return [str(value) for kind, value in peercert.get("subjectAltName", ())
            if kind == "IP Address"]


def endpoint_mismatch(peercert: Any, address: str) -> str | None:
    """Why ``peercert`` (``getpeercert()``'s dict) does not name ``address``; None if it does."""
    names = _san_addresses(peercert)
    try:
        wanted = ipaddress.ip_address(address)
        if any(ipaddress.ip_address(n) == wanted for n in names):
            return None
    except ValueError:
        pass
    return (f"certificate subjectAltName IP addresses {names or 'none'} do not include "
            f"{address} (require_endpoint_verification)")


class InternodeTls:
    """server_encryption_options of one node: contexts and which connections are encrypted."""

    def __init__(self, config: NodeConfig,
                 locate: Callable[[str], tuple[str, str] | None]) -> None:
        assert config.internode_encryption != "none"
        self.mode = config.internode_encryption
        self.optional = config.server_encryption_optional
        self.verify_endpoint = config.server_encryption_require_endpoint_verification
        self.dc, self.rack = config.dc, config.rack
        self.locate = locate  # peer address -> its (dc, rack) as gossip knows it, or None
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.minimum_version = ssl.TLSVersion.TLSv1_2
        _load(self.server, "server_encryption_keystore", config.server_encryption_keystore,
              "server_encryption_truststore", config.server_encryption_truststore)
        self.server.verify_mode = (ssl.CERT_REQUIRED
                                   if config.server_encryption_require_client_auth
                                   else ssl.CERT_NONE)
        self.client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain always
        self.client.minimum_version = ssl.TLSVersion.TLSv1_2
        _load(self.client, "server_encryption_keystore", config.server_encryption_keystore,
              "server_encryption_truststore", config.server_encryption_truststore)
        self.client.check_hostname = self.verify_endpoint

    def _crosses(self, host: str) -> bool | None:
        """Whether ``host`` is in another DC (rack, for ``rack``); None when not known yet."""
        where = self.locate(host)
        if where is None:
            return None
        dc, rack = where
        return dc != self.dc or (self.mode == "rack" and rack != self.rack)

    def encrypts(self, host: str) -> bool:
        """Whether our connections to the peer at ``host`` are TLS (a peer whose DC is not
        known yet gets TLS: it may be across the WAN)."""
        return self.mode == "all" or self._crosses(host) is not False

    def client_context(self, host: str) -> ssl.SSLContext | None:
        """For an outbound connection to ``host``: the context, or None for plaintext."""
        return self.client if self.encrypts(host) else None

    def accepts_plaintext(self, host: str) -> bool:
        """Whether a plaintext connection from ``host`` is served. Under ``dc``/``rack`` a peer
        we do not know yet may connect in plaintext: it knows our DC before we know its own
        (it learnt it from our gossip), and refusing it would keep us from ever learning."""
        return self.optional or (self.mode != "all" and self._crosses(host) is not True)

    def check_inbound(self, host: str, peercert: Any) -> str | None:
        if self.verify_endpoint and peercert:
            return endpoint_mismatch(peercert, host)
        return None

    async def start_server(self, handler: Handler, host: str, port: int) -> PeekingServer:
        server = PeekingServer(handler, self.server, self.accepts_plaintext, "internode",
                               check_peer=self.check_inbound, accepts_level=logging.INFO)
        await server.start(host, port)
        return server


class PeekingServer:
    """A listener that serves TLS and, where allowed, plaintext clients on one port."""

    def __init__(self, handler: Handler, context: ssl.SSLContext,
                 accepts_plaintext: Callable[[str], bool], what: str, *,
                 check_peer: Callable[[str, Any], str | None] | None = None,
                 stream_limit_bytes: int = 2 ** 16, accepts_level: int = logging.DEBUG) -> None:
        self.handler = handler
        self.context = context
        self.accepts_plaintext = accepts_plaintext
        self.what = what
        self.check_peer = check_peer
        self.stream_limit_bytes = stream_limit_bytes  # asyncio StreamReader buffer
        self.accepts_level = accepts_level  # how accepted connections are logged
        self.sockets: list[socket.socket] = []
        self.refused = 0  # connections refused: plaintext where TLS is required, bad handshakes
        self._warned: dict[tuple[str, str], float] = {}  # (host, why) -> last warning's time
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sockets = [sock]
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop(sock))

    def is_serving(self) -> bool:
        return self._accepting is not None and not self._accepting.done()

    def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        for s in self.sockets:
            s.close()
        for t in list(self._connections):
            t.cancel()

    async def wait_closed(self) -> None:
        tasks = [t for t in [self._accepting, *self._connections] if t is not None]
        if tasks:
            await asyncio.wait(tasks)

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(sock)
            except OSError as e:  # EMFILE and the like: back off, keep listening
                log.warning("%s: accept failed: %s", self.what, e)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._serve(conn, addr))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _serve(self, conn: socket.socket, addr: Any) -> None:
        host = str(addr[0]) if isinstance(addr, tuple) else str(addr)
        loop = asyncio.get_running_loop()
        writer: asyncio.StreamWriter | None = None  # once set, it owns the socket
        try:
            conn.setblocking(False)
            try:
                first = await asyncio.wait_for(_peek(loop, conn),
                                               limits.tls_first_byte_wait_ms / 1000)
            except (TimeoutError, OSError):
                first = b""
            if not first:  # closed (or silent) before saying anything: a port probe
                conn.close()
                return
            tls = first[0] == TLS_HANDSHAKE_BYTE
            if not tls and not self.accepts_plaintext(host):
                self._refuse(host, "plaintext connection from %s refused: TLS is required")
                conn.close()
                return
            reader = asyncio.StreamReader(limit=self.stream_limit_bytes)
            protocol = asyncio.StreamReaderProtocol(reader)
            try:
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol, conn, ssl=self.context if tls else None,
                    ssl_handshake_timeout=(limits.tls_handshake_timeout_ms / 1000
                                           if tls else None))
            except (OSError, ssl.SSLError, TimeoutError) as e:
                self._refuse(host, "TLS handshake with %s failed, connection refused: %s", e)
                conn.close()
                return
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            if tls and self.check_peer is not None:
                problem = self.check_peer(host, writer.get_extra_info("peercert"))
                if problem is not None:
                    self._refuse(host, "connection from %s refused: %s", problem)
                    writer.close()
                    return
            if tls:
                obj = writer.get_extra_info("ssl_object")
                log.log(self.accepts_level, "%s: TLS connection from %s accepted (%s)",
                        self.what, host, obj.version() if obj is not None else "?")
            else:
                log.log(self.accepts_level, "%s: plaintext connection from %s accepted",
                        self.what, host)
            await self.handler(reader, writer)
        except asyncio.CancelledError:
            _close(conn, writer)
            raise
        except Exception:  # one connection never takes the listener down
            log.exception("%s: connection from %s failed", self.what, host)
            _close(conn, writer)


    def _refuse(self, host: str, message: str, *args: object) -> None:
        """Count a refusal and log it: a warning per host and kind of refusal per interval,
        else at debug (a misconfigured peer retries every few seconds)."""
        self.refused += 1
        now = asyncio.get_running_loop().time()
        last = self._warned.get((host, message))
        quiet = last is not None and now - last < limits.tls_refusal_log_interval_ms / 1000
        if not quiet:
            if len(self._warned) >= limits.tls_refusal_hosts_tracked_max:
                self._warned.clear()
            self._warned[host, message] = now
        log.log(logging.DEBUG if quiet else logging.WARNING, "%s: " + message, self.what,
                host, *args)


def _close(conn: socket.socket, writer: asyncio.StreamWriter | None) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        if writer is not None:
            writer.close()
        else:
            conn.close()


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    """The first byte ``conn`` has to read, left unread (b"" on EOF)."""
    while True:
        try:
            return conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            pass
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(conn.fileno(), _resolve, readable)
        try:
            await readable
        finally:
            loop.remove_reader(conn.fileno())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def start_client_server(handler: Handler, host: str, port: int,
                              context: ssl.SSLContext, optional: bool) -> PeekingServer:
    """The CQL port with client_encryption_options enabled (plaintext too when optional)."""
    server = PeekingServer(handler, context, lambda _host: optional, "CQL")
    await server.start(host, port)
    return server
