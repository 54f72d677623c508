"""runtime.tls without sockets: which peers internode_encryption encrypts to, the endpoint check,
and the encryption options' config (nested TOML tables, validation)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from skewless.config import NodeConfig, build_config, load_config
from skewless.runtime.tls import InternodeTls, TlsConfigError, endpoint_mismatch
from skewless.security import certs

NOW = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)


def _config(files: certs.CertFiles, mode: str, **kw: object) -> NodeConfig:
    return NodeConfig(address="127.0.0.1", internode_encryption=mode, dc="dc1", rack="r1",
                      server_encryption_keystore=str(files.node_keystores["127.0.0.1"]),
                      server_encryption_truststore=str(files.ca_cert), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "expected"), [
    ("all", {"same": True, "other_rack": True, "other_dc": True, "unknown": True}),
    ("dc", {"same": False, "other_rack": False, "other_dc": True, "unknown": True}),
    ("rack", {"same": False, "other_rack": True, "other_dc": True, "unknown": True}),
])
def test_internode_encryption_modes(tmp_path: Path, mode: str, expected: dict[str, bool]) -> None:
    files = certs.generate(tmp_path, ("127.0.0.1",), NOW)
    where = {"same": ("dc1", "r1"), "other_rack": ("dc1", "r2"), "other_dc": ("dc2", "r1")}
    tls = InternodeTls(_config(files, mode), where.get)
    assert {peer: tls.encrypts(peer) for peer in expected} == expected
    for peer, encrypted in expected.items():
        assert (tls.client_context(peer) is not None) == encrypted
    # inbound plaintext: refused from a peer known to be across; one not known yet may
    # connect in plaintext under dc/rack (it knew our DC before we knew its own)
    plain = {peer: tls.accepts_plaintext(peer) for peer in expected}
    assert plain == {peer: mode != "all" and (peer == "unknown" or not encrypted)
                     for peer, encrypted in expected.items()}
    optional = InternodeTls(_config(files, mode, server_encryption_optional=True), where.get)
    assert all(optional.accepts_plaintext(p) for p in expected)


def test_endpoint_verification_compares_ip_sans() -> None:
    cert = {"subjectAltName": (("DNS", "node1"), ("IP Address", "127.0.0.1"))}
    assert endpoint_mismatch(cert, "127.0.0.1") is None
    assert "do not include 127.0.0.2" in (endpoint_mismatch(cert, "127.0.0.2") or "")
    assert endpoint_mismatch({}, "127.0.0.1") is not None
    assert endpoint_mismatch(None, "127.0.0.1") is not None


def test_an_unreadable_keystore_names_the_option(tmp_path: Path) -> None:
    files = certs.generate(tmp_path, ("127.0.0.1",), NOW)
    bad = NodeConfig(internode_encryption="all", server_encryption_keystore=str(tmp_path / "x"),
                     server_encryption_truststore=str(files.ca_cert))
    with pytest.raises(TlsConfigError, match="server_encryption_keystore"):
        InternodeTls(bad, lambda _a: None)


def test_nested_encryption_tables_in_the_config_file(tmp_path: Path) -> None:
    f = tmp_path / "node.toml"
    f.write_text('address = "127.0.0.2"\n'
                 "[client_encryption_options]\nenabled = true\noptional = true\n"
                 'keystore = "/k.pem"\ntruststore = "/t.pem"\nrequire_client_auth = true\n'
                 '[server_encryption_options]\ninternode_encryption = "dc"\n'
                 'keystore = "/k.pem"\ntruststore = "/t.pem"\n'
                 "require_endpoint_verification = true\n")
    config = build_config(load_config(f), {})
    assert (config.client_encryption_enabled, config.client_encryption_optional,
            config.client_encryption_keystore, config.client_encryption_truststore,
            config.client_encryption_require_client_auth) == (True, True, "/k.pem", "/t.pem",
                                                              True)
    assert (config.internode_encryption, config.server_encryption_keystore,
            config.server_encryption_require_endpoint_verification) == ("dc", "/k.pem", True)
    f.write_text("[client_encryption_options]\nkeystor = 'x'\n")
    with pytest.raises(ValueError, match="unknown option client_encryption_options.keystor"):
        load_config(f)


@pytest.mark.parametrize(("options", "message"), [
    ({"client_encryption_enabled": True}, "client_encryption_keystore: .* no keystore"),
    ({"client_encryption_enabled": True, "client_encryption_keystore": "/k",
      "client_encryption_require_client_auth": True}, "client_encryption_truststore"),
    ({"internode_encryption": "some"}, "internode_encryption: must be one of none, dc, rack"),
    ({"internode_encryption": "all", "server_encryption_keystore": "/k"},
     "server_encryption_truststore: internode_encryption is all but no truststore"),
    ({"client_encryption_optional": "yes"}, "client_encryption_optional: must be true"),
])
def test_encryption_options_are_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NodeConfig(**options)  # type: ignore[arg-type]


def test_two_transports_over_mutual_tls_and_a_stranger_refused(tmp_path: Path) -> None:
    """The transport with ``tls=`` on real sockets, in one process: messages flow both ways
    over mutual TLS; a transport whose certificate another CA signed never gets one through."""
    import asyncio
    import random

    import uvloop
    from test_transport import free_port

    from skewless.runtime.realclock import RealClock
    from skewless.runtime.transport import Transport

    files = certs.generate(tmp_path / "c", ("127.0.0.1", "127.0.0.2"), NOW)
    rogue = certs.generate(tmp_path / "r", ("127.0.0.3",), NOW)
    port = free_port()

    def make(host: str, keystore: Path, truststore: Path,
             inbox: list[tuple[str, object]]) -> Transport[object]:
        config = NodeConfig(address=host, internode_encryption="all",
                            server_encryption_keystore=str(keystore),
                            server_encryption_truststore=str(truststore),
                            server_encryption_require_client_auth=True,
                            server_encryption_require_endpoint_verification=True)
        return Transport(host, host, port, lambda s, m: inbox.append((s, m)), None, RealClock(),
                         rng=random.Random(1), tls=InternodeTls(config, lambda _a: None))

    async def scenario() -> None:
        got1: list[tuple[str, object]] = []
        got2: list[tuple[str, object]] = []
        got3: list[tuple[str, object]] = []
        t1 = make("127.0.0.1", files.node_keystores["127.0.0.1"], files.ca_cert, got1)
        t2 = make("127.0.0.2", files.node_keystores["127.0.0.2"], files.ca_cert, got2)
        t3 = make("127.0.0.3", rogue.node_keystores["127.0.0.3"], files.ca_cert, got3)
        for t in (t1, t2, t3):
            await t.start()
        try:
            assert t1.send("127.0.0.2", ["hello", 2]) and t2.send("127.0.0.1", ["hello", 1])
            assert t3.send("127.0.0.1", ["let me in"])
            for _ in range(200):
                if got1 and got2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)  # time for t3's attempts
            assert got2 == [("127.0.0.1", ["hello", 2])]
            assert got1 == [("127.0.0.2", ["hello", 1])]  # nothing from 127.0.0.3
            assert t1.stats.received == 1
        finally:
            for t in (t1, t2, t3):
                await t.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(scenario(), 30))
