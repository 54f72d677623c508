"""security.client: the --ssl / -u / -p options of the project's own clients, checked once."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from click.testing import CliRunner

from skewless.cli import main
from skewless.security import certs
from skewless.security.client import ClientSecurity, build_client_security
from skewless.stress.options import build_options

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture
def files(tmp_path: Path) -> certs.CertFiles:
    return certs.generate(tmp_path / "certs", ("127.0.0.1",), NOW)


def build(**kw: Any) -> ClientSecurity:
    args: dict[str, Any] = {"ssl": False, "ssl_certfile": None, "ssl_validate": True,
                            "ssl_usercert": None, "ssl_userkey": None, "username": None,
                            "password": None}
    return build_client_security(**{**args, **kw})


def test_plain_by_default_and_ssl_files_ignored_without_ssl(tmp_path: Path) -> None:
    assert build().driver_kwargs() == {}
    # as cqlsh: SSL_CERTFILE in the environment means nothing without --ssl
    assert build(ssl_certfile=str(tmp_path / "missing.crt")).driver_kwargs() == {}


def test_ssl_context_validates_ca_and_address(files: certs.CertFiles) -> None:
    kw = build(ssl=True, ssl_certfile=str(files.ca_cert)).driver_kwargs()
    ctx = kw["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert "auth_provider" not in kw
    loose = build(ssl=True, ssl_validate=False).ssl_context()
    assert loose is not None and loose.verify_mode == ssl.CERT_NONE and not loose.check_hostname


def test_client_certificate_pair_or_keystore(files: certs.CertFiles) -> None:
    for usercert, userkey in ((files.client_cert, files.client_key),
                              (files.client_keystore, None)):
        sec = build(ssl=True, ssl_certfile=str(files.ca_cert), ssl_usercert=str(usercert),
                    ssl_userkey=None if userkey is None else str(userkey))
        assert sec.describe()["client_certificate"] is True
    with pytest.raises(ValueError, match="^--ssl-usercert: cannot load"):
        build(ssl=True, ssl_certfile=str(files.ca_cert), ssl_usercert=str(files.client_cert))
    with pytest.raises(ValueError, match="^--ssl-userkey: give --ssl-usercert"):
        build(ssl=True, ssl_certfile=str(files.ca_cert), ssl_userkey=str(files.client_key))


def test_bad_ssl_options_name_the_option(files: certs.CertFiles, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="^--ssl-certfile: validation is on"):
        build(ssl=True)
    with pytest.raises(ValueError, match="^--ssl-certfile: cannot load"):
        build(ssl=True, ssl_certfile=str(tmp_path / "missing.crt"))
    with pytest.raises(ValueError, match="^--ssl-certfile: cannot load"):
        build(ssl=True, ssl_certfile=str(files.client_key))  # a key, not a certificate


def test_credentials_become_plain_text_auth_provider() -> None:
    sec = build(username="alice", password="s3cret")
    provider = sec.driver_kwargs()["auth_provider"]
    assert isinstance(provider, PlainTextAuthProvider)
    assert (provider.username, provider.password) == ("alice", "s3cret")
    assert sec.describe() == {"ssl": False, "ssl_validate": False, "client_certificate": False,
                              "username": "alice"}
    assert "s3cret" not in repr(sec.describe())
    assert build(username="bob", ask_password=lambda: "asked").password == "asked"
    with pytest.raises(ValueError, match="^--password: needed with --username"):
        build(username="bob")
    with pytest.raises(ValueError, match="^--password: give -u/--username"):
        build(password="x")


def test_stress_report_shows_tls_and_user_never_the_password() -> None:
    opts = build_options("write", ops=10, duration=None, keys=None, ratio=None, concurrency=1,
                         consistency="ONE", value_size=1, replication_factor=1,
                         hosts="127.0.0.1", port=9042, key_dist=None, seed=0,
                         token_aware=True, client=build(username="alice", password="s3cret"))
    doc = opts.to_json()
    assert doc["client"]["username"] == "alice"
    assert "s3cret" not in repr(doc)


def test_commands_report_bad_options_as_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    for args in (["status", "--ssl"], ["clocks", "--ssl"], ["cluster", "status", "--ssl"],
                 ["stress", "write", "--ssl"]):
        result = runner.invoke(main, args, env={"SSL_CERTFILE": None})
        assert result.exit_code == 2, (args, result.output)
        assert "--ssl-certfile" in result.output
    result = runner.invoke(main, ["status", "-u", "alice"], input="")
    assert result.exit_code == 2 and "--password" in result.output, result.output
