"""A node's identities: its TLS certificate (self-signed P-384, pinned by partners) and its receipt key.

There is no public CA: each node's certificate is self-signed and partners pin it, byte for byte, from
the roster. Both server and client TLS contexts trust exactly the pinned certificates (CA:FALSE, so a
pinned certificate cannot vouch for another), and the application layer identifies the peer by the
SHA-256 fingerprint of the certificate it presented.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import ssl
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from accord.errors import InputError

TLS_CERT = "tls-cert.pem"
TLS_KEY = "tls-key.pem"
RECEIPT_KEY = "receipt-key.pem"


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` created with mode 0600 (never world- or group-readable, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def generate_tls_identity(party: str, hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> tuple[bytes, bytes]:
    """A fresh self-signed P-384 certificate for ``party``'s node. Returns (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, party[:2]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Accord node {party}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"accord-node-{party.lower()}"),
        ]
    )
    import ipaddress

    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA384())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert_pem, key_pem


def cert_fingerprint(cert: bytes) -> str:
    """SHA-256 fingerprint (hex) of a certificate given as PEM or DER."""
    if cert.lstrip().startswith(b"-----BEGIN"):
        try:
            der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
        except ValueError as e:
            raise InputError("not a PEM certificate", field="cert") from e
    else:
        der = cert
    return hashlib.sha256(der).hexdigest()


def validate_cert_pem(pem: bytes, *, source: str) -> x509.Certificate:
    """Parse a pinned certificate; reject anything that is not one PEM X.509 certificate."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise InputError("not a PEM X.509 certificate", source=source, field="cert") from e
    return cert


def generate_receipt_key() -> bytes:
    """A fresh Ed25519 receipt-signing key (PKCS#8 PEM)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_receipt_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("receipt key is not Ed25519", source=str(path))
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key_b64(text: str, *, source: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise InputError("not a base64 Ed25519 public key", source=source, field="receipt_key") from e


def server_context(cert_file: Path, key_file: Path, pinned: Iterable[bytes]) -> ssl.SSLContext:
    """TLS 1.3 server context requiring a client certificate that is one of the ``pinned`` PEMs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(cert_file), str(key_file))
    ctx.verify_mode = ssl.CERT_REQUIRED
    cadata = "".join(p.decode() for p in pinned)
    if cadata:
        ctx.load_verify_locations(cadata=cadata)
    return ctx


def client_context(cert_file: Path, key_file: Path, peer_cert_pem: bytes) -> ssl.SSLContext:
    """TLS 1.3 client context presenting our certificate and trusting only the peer's pinned one.

    Host names are not checked: the pin is the exact certificate, which is stronger than a name.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=peer_cert_pem.decode())
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
