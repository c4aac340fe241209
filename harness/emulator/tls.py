"""A private CA and a server certificate for the emulator's HTTPS/WSS (the SDKs force TLS).

``prepare(DIR)`` writes ``DIR/ca.pem`` (the CA to trust: NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE,
WEBSOCKET_CLIENT_CA_BUNDLE), ``DIR/ca-key.pem``, ``DIR/server.pem`` and ``DIR/server-key.pem``.
An existing CA in DIR is reused, so a client that trusts it keeps working across restarts; the
server certificate is issued anew each start, for 127.0.0.1, localhost and api-localhost (plus the
bind address), the names the URL recipes of the protocol reference reach.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.errors import HarnessError

CA_FILE, CA_KEY_FILE = "ca.pem", "ca-key.pem"
CERT_FILE, KEY_FILE = "server.pem", "server-key.pem"
DNS_NAMES = ("localhost", "api-localhost", "api-gdn.test")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    ca_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    if not (ca_path.is_file() and key_path.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError as exc:
        raise HarnessError(f"cannot reuse the CA in {directory}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
        return None
    return cert, key


def _new_ca(directory: Path, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("streamharness emulator CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / CA_KEY_FILE, _key_pem(key))
    (directory / CA_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def prepare(directory: Path, hosts: tuple[str, ...] = ()) -> ssl.SSLContext:
    """Write (or reuse) the CA, issue the server certificate, return a server SSL context."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        ca_cert, ca_key = _load_ca(directory) or _new_ca(directory, now)
        key = ec.generate_private_key(ec.SECP256R1())
        ips = {ipaddress.ip_address("127.0.0.1")}
        dns = set(DNS_NAMES)
        for host in hosts:
            try:
                ips.add(ipaddress.ip_address(host))
            except ValueError:
                dns.add(host)
        names: list[x509.GeneralName] = [x509.IPAddress(ip) for ip in sorted(ips, key=str)]
        names += [x509.DNSName(name) for name in sorted(dns)]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("streamharness emulator"))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(directory / KEY_FILE, _key_pem(key))
        (directory / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(directory / CERT_FILE, directory / KEY_FILE)
    except OSError as exc:
        raise HarnessError(f"cannot write TLS files to {directory}: {exc.strerror or exc}") from None
    return context
