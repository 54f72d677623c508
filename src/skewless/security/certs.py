"""A cluster's certificates: one CA, a certificate per node, one for clients (``skewless certs``).

Theory of operation
-------------------
The CA is a self-signed certificate (``ca.crt``, also the truststore of every node and client)
with its key (``ca.key``). Every node gets a keystore in the layout of Cassandra 4.1's PEM
support (``PEMBasedSslContextFactory``): one PEM file holding the private key and the
certificate chain (``node-127.0.0.1.pem``: key, node certificate, CA certificate). A node's
certificate names the node's IP address as an IP-address subjectAltName, which is what
``require_endpoint_verification`` and a client's hostname check compare with the address
they connected to. The client certificate (``client.pem``, and ``client.crt``/``client.key``
for tools that want them apart: cqlsh's ``usercert``/``userkey``, Node.js's ``cert``/``key``)
is for ``require_client_auth``.

Keys are EC P-256 (small, fast, accepted by every TLS stack the project's clients use). Files
holding a private key are written 0600. Nothing here reads a clock or randomness by itself:
``now`` is passed in, and key generation uses the OS generator through ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from skewless import limits

CA_KEY = "ca.key"
CA_CERT = "ca.crt"  # the truststore (PEM of CA certificates)
CLIENT_KEYSTORE = "client.pem"
CLIENT_CERT = "client.crt"
CLIENT_KEY = "client.key"


def node_keystore_name(address: str) -> str:
    return f"node-{address}.pem"


@dataclass(frozen=True, slots=True)
class Issuer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


@dataclass(frozen=True, slots=True)
class CertFiles:
    """What ``generate`` wrote (absolute paths)."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    node_keystores: dict[str, Path]  # address -> keystore PEM (key + chain)
    client_keystore: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(common_name: str, now: datetime.datetime,
            valid_days: int = limits.tls_cert_validity_days) -> Issuer:
    """A self-signed CA certificate (may sign leaf certificates only: path length 0)."""
    key = _key()
    name = _name(common_name, common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # peers' clocks may be behind
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(key, cert)


def make_leaf(issuer: Issuer, common_name: str, now: datetime.datetime, *,
              ip_addresses: tuple[str, ...] = (), dns_names: tuple[str, ...] = (),
              valid_days: int = limits.tls_cert_validity_days) -> Issuer:
    """A certificate signed by ``issuer``, usable by a TLS server and a TLS client (a node is
    both: it accepts connections and opens them), with the given subjectAltNames."""
    key = _key()
    organization = issuer.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    org = str(organization[0].value) if organization else common_name
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(a))
                                    for a in ip_addresses]
    sans += [x509.DNSName(d) for d in dns_names]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, org)).issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
            content_commitment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return Issuer(key, builder.sign(issuer.key, hashes.SHA256()))


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def keystore_pem(leaf: Issuer, issuer: Issuer) -> bytes:
    """Cassandra 4.1's PEM keystore: the private key, then the certificate chain."""
    return key_pem(leaf.key) + cert_pem(leaf.cert) + cert_pem(issuer.cert)


def write_private(path: Path, data: bytes) -> None:
    """Write a file holding a private key, readable by its owner only (0600 from the start)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_issuer(directory: Path) -> Issuer:
    """The CA already in ``directory`` (to add node certificates to an existing cluster)."""
    key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / CA_KEY}: not an EC private key")
    return Issuer(key, x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes()))


def generate(directory: Path, addresses: tuple[str, ...], now: datetime.datetime, *,
             cluster_name: str = "Skewless Cluster", reuse_ca: bool = True) -> CertFiles:
    """Write the CA (or reuse the one in ``directory``), a keystore per node address and the
    client's certificate into ``directory`` (created 0700 if missing)."""
    for a in addresses:
        ipaddress.ip_address(a)  # ValueError names the bad one
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = directory.resolve()
    if reuse_ca and (directory / CA_KEY).exists() and (directory / CA_CERT).exists():
        ca = load_issuer(directory)
    else:
        ca = make_ca(f"{cluster_name} CA", now)
        write_private(directory / CA_KEY, key_pem(ca.key))
        (directory / CA_CERT).write_bytes(cert_pem(ca.cert))
    keystores: dict[str, Path] = {}
    for a in addresses:
        leaf = make_leaf(ca, a, now, ip_addresses=(a,))
        path = directory / node_keystore_name(a)
        write_private(path, keystore_pem(leaf, ca))
        keystores[a] = path
    client = make_leaf(ca, "client", now, dns_names=("client",))
    write_private(directory / CLIENT_KEYSTORE, keystore_pem(client, ca))
    write_private(directory / CLIENT_KEY, key_pem(client.key))
    (directory / CLIENT_CERT).write_bytes(cert_pem(client.cert))
    return CertFiles(directory, directory / CA_CERT, directory / CA_KEY, keystores,
                     directory / CLIENT_KEYSTORE, directory / CLIENT_CERT,
                     directory / CLIENT_KEY)


def node_tls_args(files: CertFiles, address: str) -> list[str]:
    """``skewless node`` options for TLS everywhere with these files (``cluster start --tls``):
    clients must use TLS (no client certificate asked), peers mutual TLS with the cluster CA
    and certificates naming their address."""
    keystore, truststore = str(files.node_keystores[address]), str(files.ca_cert)
    return [
        "--client-encryption-enabled",
        "--client-encryption-keystore", keystore,
        "--client-encryption-truststore", truststore,
        "--internode-encryption", "all",
        "--server-encryption-keystore", keystore,
        "--server-encryption-truststore", truststore,
        "--server-encryption-require-client-auth",
        "--server-encryption-require-endpoint-verification",
    ]
