"""`--tls self-signed`: a private CA and a server certificate it signs, kept in the data directory.

The CA is made once and reused on every start, so clients told to trust it keep trusting the
registry; the server certificate is issued again when the names it must cover change or when
it nears its end. Keys are EC P-256, written owner-only.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tinyreg.storage import private

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

CA_DAYS = 3650
SERVER_DAYS = 397  # the longest validity clients accept for a server certificate
RENEW_BEFORE = datetime.timedelta(days=30)
WILDCARDS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class CertificateFiles:
    """Where a self-signed set lives: the CA to give to clients, and the server's pair."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def tls_dir(data: Path) -> Path:
    return data / "tls"


def server_names(host: str, external_url: str = "") -> list[str]:
    """The names and addresses a certificate for a server listening on `host` must cover."""
    names = ["localhost", "127.0.0.1", "::1"]
    if host.strip("[]") in WILDCARDS:
        names += [socket.gethostname(), socket.getfqdn()]
    else:
        names.append(host.strip("[]"))
    if external_url:
        names.append(urlsplit(external_url).hostname or "")
    return sorted({name for name in names if name})


def _general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    from cryptography import x509

    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(common_name: str = "tinyreg local CA") -> tuple[bytes, bytes]:
    """A new CA: (certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )  # digital signature, certificate and CRL signing
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pem(cert), _pem_key(key)


def issue_server_cert(ca_pem: bytes, ca_key_pem: bytes, names: list[str], *, days: int = SERVER_DAYS) -> tuple[bytes, bytes]:
    """A server certificate for `names` signed by the CA: (certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _pem(cert), _pem_key(key)


def _still_good(cert_file: Path, ca_pem: bytes, names: list[str]) -> bool:
    """Whether the kept server certificate was signed by this CA, covers `names` and is not near its end."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert.verify_directly_issued_by(ca)
        covered = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    wanted = set(_general_names(names))
    return wanted <= set(covered) and cert.not_valid_after_utc - RENEW_BEFORE > datetime.datetime.now(datetime.UTC)


def ensure_self_signed(directory: Path, names: list[str]) -> CertificateFiles:
    """The CA and server certificate in `directory`: kept ones when still right, else made anew."""
    files = CertificateFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    ca_key_file = directory / "ca.key"
    private.make_dir(directory)
    if not (files.ca_file.is_file() and ca_key_file.is_file()):
        ca_pem, ca_key_pem = make_ca()
        private.write_file(ca_key_file, ca_key_pem)
        private.write_file(files.ca_file, ca_pem)
    ca_pem, ca_key_pem = files.ca_file.read_bytes(), ca_key_file.read_bytes()
    if not (files.key_file.is_file() and _still_good(files.cert_file, ca_pem, names)):
        cert_pem, key_pem = issue_server_cert(ca_pem, ca_key_pem, names)
        private.write_file(files.key_file, key_pem)
        private.write_file(files.cert_file, cert_pem)
    return files


def trust_instructions(ca_file: Path, address: str) -> list[str]:
    """How to make docker, podman and containerd trust the CA for `address` (`host:port`)."""
    return [
        f"  TLS: self-signed, CA certificate {ca_file}; to trust it for {address}:",
        f"    docker:     cp {ca_file} /etc/docker/certs.d/{address}/ca.crt",
        f"    podman:     cp {ca_file} /etc/containers/certs.d/{address}/ca.crt",
        f'    containerd: in /etc/containerd/certs.d/{address}/hosts.toml: [host."https://{address}"] with ca = "{ca_file}"',
    ]
