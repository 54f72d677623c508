"""TLS and credentials for the project's own CQL clients (``skewless stress``, ``status``,
``clocks``), with cqlsh's names for them.

``client_options`` adds the options to a click command and hands it one ``ClientSecurity``
(keyword ``client``) instead of the separate values:

- ``--ssl``: connect with TLS (cqlsh ``--ssl``). Without it the other ``--ssl-*`` options (and
  the SSL_CERTFILE / SSL_VALIDATE environment variables) are ignored, as cqlsh ignores them.
- ``--ssl-certfile PEM`` (env SSL_CERTFILE): the CA certificates the node's certificate must
  chain to (cqlshrc ``[ssl] certfile``). Required while validating, as in cqlsh.
- ``--ssl-validate/--no-ssl-validate`` (env SSL_VALIDATE): check the node's certificate: that it
  chains to the certfile's CAs and names the address connected to (its IP subjectAltName; the
  certificates ``skewless certs`` makes do). ``--no-ssl-validate`` encrypts without checking.
- ``--ssl-usercert PEM`` / ``--ssl-userkey PEM``: a client certificate and its key, for nodes
  with ``require_client_auth`` (cqlshrc ``usercert``/``userkey``); ``usercert`` alone may be a
  keystore holding both (``client.pem``).
- ``-u/--username``, ``-p/--password``: the stock driver's ``PlainTextAuthProvider``, for nodes
  with ``PasswordAuthenticator``. A username without a password asks for one on a terminal.

The files are read (and a bad one reported, naming its option) when the command starts, not at
the first connection.
"""

from __future__ import annotations

import functools
import ssl as tls
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

_PARAMS = ("ssl", "ssl_certfile", "ssl_validate", "ssl_usercert", "ssl_userkey", "username",
           "password")


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    ssl: bool = False
    certfile: str = ""
    validate: bool = True
    usercert: str = ""
    userkey: str = ""
    username: str = ""
    password: str = ""

    def describe(self) -> dict[str, Any]:
        """What a report may show (never the password)."""
        return {"ssl": self.ssl, "ssl_validate": self.ssl and self.validate,
                "client_certificate": self.ssl and bool(self.usercert),
                "username": self.username or None}

    def ssl_context(self) -> tls.SSLContext | None:
        """The driver's ``ssl_context`` (None without ``--ssl``); ValueError names the option of
        a file that cannot be loaded."""
        if not self.ssl:
            return None
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = tls.TLSVersion.TLSv1_2
        if self.validate:
            _load(lambda: ctx.load_verify_locations(cafile=self.certfile), "--ssl-certfile",
                  self.certfile, "CA certificates")
        else:
            ctx.check_hostname = False
            ctx.verify_mode = tls.CERT_NONE
        if self.usercert:
            _load(lambda: ctx.load_cert_chain(self.usercert, self.userkey or None),
                  "--ssl-usercert", self.usercert,
                  "a certificate (with --ssl-userkey, or a keystore holding the key too)")
        return ctx

    def driver_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the driver's ``Cluster``: ``ssl_context``, ``auth_provider``."""
        kw: dict[str, Any] = {}
        ctx = self.ssl_context()
        if ctx is not None:
            kw["ssl_context"] = ctx
        if self.username:
            from cassandra.auth import PlainTextAuthProvider

            kw["auth_provider"] = PlainTextAuthProvider(self.username, self.password)
        return kw


def _load(load: Callable[[], object], option: str, path: str, what: str) -> None:
    try:
        load()
    except (OSError, tls.SSLError) as e:
        raise ValueError(f"{option}: cannot load {path!r} as {what}: {e}") from None


def build_client_security(
    *, ssl: bool, ssl_certfile: str | None, ssl_validate: bool, ssl_usercert: str | None,
    ssl_userkey: str | None, username: str | None, password: str | None,
    ask_password: Callable[[], str] | None = None,
) -> ClientSecurity:
    """Check the options (a ValueError names the one at fault: ``--x: ...``) and load the TLS
    files once, so that a bad one is reported before any connection."""
    if password and not username:
        raise ValueError("--password: give -u/--username too")
    if username and not password:
        if ask_password is None:
            raise ValueError("--password: needed with --username (no terminal to ask on)")
        password = ask_password()
    security = ClientSecurity(
        ssl=ssl, certfile=ssl_certfile or "", validate=ssl_validate,
        usercert=ssl_usercert or "", userkey=ssl_userkey or "",
        username=username or "", password=password or "")
    if ssl:
        if ssl_validate and not security.certfile:
            raise ValueError("--ssl-certfile: validation is on (--ssl-validate, the default): "
                             "name the CA certificates (or set SSL_CERTFILE)")
        if security.userkey and not security.usercert:
            raise ValueError("--ssl-userkey: give --ssl-usercert too")
        security.ssl_context()  # loads the files: a bad one is reported now
    return security


def _ask_password() -> str:
    return str(click.prompt("Password", hide_input=True, err=True))


def client_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options to a click command; it gets ``client: ClientSecurity`` instead."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _PARAMS}
        try:
            kwargs["client"] = build_client_security(
                **values, ask_password=_ask_password if sys.stdin.isatty() else None)
        except ValueError as e:
            option, _, message = str(e).partition(": ")
            raise click.BadParameter(message, param_hint=option) from None
        return f(*args, **kwargs)

    options = [
        click.option("--ssl", is_flag=True, default=False,
                     help="Connect with TLS (as cqlsh --ssl)."),
        click.option("--ssl-certfile", default=None, metavar="PEM", envvar="SSL_CERTFILE",
                     help="CA certificates the node's certificate must chain to "
                          "(env SSL_CERTFILE; e.g. certs/ca.crt)."),
        click.option("--ssl-validate/--no-ssl-validate", default=True, show_default=True,
                     envvar="SSL_VALIDATE",
                     help="Check the node's certificate (CA and IP address); env SSL_VALIDATE."),
        click.option("--ssl-usercert", default=None, metavar="PEM",
                     help="Client certificate, for require_client_auth (or a keystore "
                          "holding key and certificate, e.g. certs/client.pem)."),
        click.option("--ssl-userkey", default=None, metavar="PEM",
                     help="The client certificate's private key."),
        click.option("--username", "-u", default=None, help="Authenticate as user."),
        click.option("--password", "-p", default=None,
                     help="Authenticate using password (asked for if -u is given alone)."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper

