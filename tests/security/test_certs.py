"""security.certs: the CA, node keystores (IP subjectAltName) and client files it writes, checked
with cryptography's X.509 path validation and with real TLS handshakes (ssl, in memory)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from skewless.cli import main
from skewless.security import certs

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


def _chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_node_certificate_has_its_ip_san_and_chains_to_the_ca(tmp_path: Path) -> None:
    files = certs.generate(tmp_path / "c", ("127.0.0.1", "127.0.0.2"), NOW)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for address, keystore in files.node_keystores.items():
        leaf, issuer = _chain(keystore)
        assert issuer == ca
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(address)]
        verifier = PolicyBuilder().store(Store([ca])).time(NOW).build_server_verifier(
            x509.IPAddress(ipaddress.ip_address(address)))
        assert verifier.verify(leaf, [])[-1] == ca
        # the SAN names this node only
        other = PolicyBuilder().store(Store([ca])).time(NOW).build_server_verifier(
            x509.IPAddress(ipaddress.ip_address("127.0.0.9")))
        with pytest.raises(VerificationError):
            other.verify(leaf, [])
    client = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
    PolicyBuilder().store(Store([ca])).time(NOW).build_client_verifier().verify(client, [])


def test_key_files_are_owner_only_and_the_ca_is_reused(tmp_path: Path) -> None:
    d = tmp_path / "c"
    files = certs.generate(d, ("127.0.0.1",), NOW)
    for path in (files.ca_key, files.client_key, files.client_keystore,
                 *files.node_keystores.values()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    ca_before = files.ca_cert.read_bytes()
    again = certs.generate(d, ("127.0.0.4",), NOW)
    assert again.ca_cert.read_bytes() == ca_before  # node 4 joins the same cluster CA
    assert _chain(again.node_keystores["127.0.0.4"])[1] == x509.load_pem_x509_certificate(
        ca_before)
    fresh = certs.generate(d, ("127.0.0.1",), NOW, reuse_ca=False)
    assert fresh.ca_cert.read_bytes() != ca_before


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str | None) -> None:
    """A complete TLS handshake between two in-memory endpoints (raises ssl.SSLError)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, obj in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            # TLS 1.3: the server's verdict on the client certificate arrives after the
            # client's handshake; one round of application data brings it.
            c.write(b"x")
            s_in.write(c_out.read())
            assert s.read(1) == b"x"
            return
    raise AssertionError("handshake did not finish")


def test_real_tls_handshakes_with_the_files(tmp_path: Path) -> None:
    files = certs.generate(tmp_path / "c", ("127.0.0.2",), NOW)
    rogue = certs.generate(tmp_path / "rogue", ("127.0.0.2",), NOW)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.node_keystores["127.0.0.2"])
    server.load_verify_locations(files.ca_cert)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(files.ca_cert))
    client.load_cert_chain(files.client_cert, files.client_key)
    _handshake(server, client, "127.0.0.2")
    with pytest.raises(ssl.SSLCertVerificationError):  # the IP SAN is checked
        _handshake(server, client, "127.0.0.3")
    other = ssl.create_default_context(cafile=str(rogue.ca_cert))
    other.load_cert_chain(files.client_keystore)
    with pytest.raises(ssl.SSLCertVerificationError):  # a server from another CA
        _handshake(server, other, "127.0.0.2")
    intruder = ssl.create_default_context(cafile=str(files.ca_cert))
    intruder.load_cert_chain(rogue.client_keystore)
    with pytest.raises(ssl.SSLError):  # a client certificate from another CA
        _handshake(server, intruder, "127.0.0.2")


def test_certs_command(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = CliRunner().invoke(main, ["certs", "--out", str(out), "--nodes", "2",
                                       "--address", "10.0.0.7"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["ca.crt", "ca.key", "client.crt", "client.key", "client.pem",
                     "node-10.0.0.7.pem", "node-127.0.0.1.pem", "node-127.0.0.2.pem"]
    bad = CliRunner().invoke(main, ["certs", "--out", str(out), "--address", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output
