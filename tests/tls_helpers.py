"""Certificates for TLS tests: made with the registry's own CA code, written where a test wants them."""

from __future__ import annotations

import ssl
from pathlib import Path

from tinyreg.selfsigned import issue_server_cert


def write_pair(directory: Path, ca: tuple[bytes, bytes], names: list[str]) -> tuple[Path, Path]:
    """A server certificate and key of `ca` for `names`, written to `directory`."""
    cert_pem, key_pem = issue_server_cert(*ca, names)
    directory.mkdir(exist_ok=True)
    (directory / "server.crt").write_bytes(cert_pem)
    (directory / "server.key").write_bytes(key_pem)
    return directory / "server.crt", directory / "server.key"


def served_certificate(host: str) -> str:
    """The PEM certificate a new handshake with `host:port` is shown."""
    address, port = host.rsplit(":", 1)
    return ssl.get_server_certificate((address, int(port)))


def pem_of(path: Path) -> str:
    return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(path.read_text()))
