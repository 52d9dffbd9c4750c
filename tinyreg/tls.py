"""HTTPS: the server's `SSLContext`, and reloading its certificate when the files change.

A renewed certificate (certbot, an ACME client, a copy by hand) is picked up without a
restart: `CertificateReloader.watch` compares the files' modification times periodically and
loads a changed pair into the live context, which every new handshake uses. A pair that does
not load (half-written, key not matching) is logged and the old one kept until the next look.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import replace
from pathlib import Path

import trio

from tinyreg.config import ConfigError, Settings

log = logging.getLogger("tinyreg")

ALPN = ["h2", "http/1.1"]
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context as hypercorn makes one (TLS 1.2+, no compression, h2 ALPN) with the pair loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_ciphers(CIPHERS)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # HTTP/2 requires TLS 1.2 or later
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(ALPN)
    context.load_cert_chain(cert, key)
    return context


def _stamp(*paths: Path) -> tuple[int, ...]:
    return tuple(os.stat(path).st_mtime_ns for path in paths)


class CertificateReloader:
    """A live server context for `cert` and `key`, reloaded when either file changes."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key
        self.loaded = _stamp(cert, key)
        self.context = server_context(cert, key)

    def reload_if_changed(self) -> bool:
        """Load the pair again if a file changed since the last load; whether it was loaded."""
        try:
            stamp = _stamp(self.cert, self.key)
            if stamp == self.loaded:
                return False
            # Loaded into a scratch context first: a failure halfway through loading into the
            # live one would leave it with the new certificate and no key.
            server_context(self.cert, self.key)
            self.context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            log.warning("cannot load the TLS certificate %s and key %s (keeping the current one): %s", self.cert, self.key, exc)
            return False
        self.loaded = stamp
        log.info("loaded the renewed TLS certificate %s", self.cert)
        return True

    async def watch(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            self.reload_if_changed()


def resolve_tls(settings: Settings) -> Settings:
    """The settings with `tls_cert` and `tls_key` naming the files to serve HTTPS with (if any).

    `--tls self-signed` makes (or reuses) a CA and a server certificate in the data directory.
    """
    if settings.tls == "self-signed" and not settings.tls_cert:
        from tinyreg.selfsigned import ensure_self_signed, server_names, tls_dir

        try:
            files = ensure_self_signed(tls_dir(settings.data), server_names(settings.host, settings.external_url))
        except ImportError:
            raise ConfigError("--tls self-signed needs the cryptography package: pip install 'tinyreg[tls]'") from None
        return replace(settings, tls_cert=str(files.cert_file), tls_key=str(files.key_file))
    return settings
