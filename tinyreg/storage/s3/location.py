"""Where the blobs live in S3 and how to reach it (no boto3 needed to read settings into these).

Each setting comes from tinyreg's own settings first (`[s3]` in the TOML file, `TINYREG_S3_*`),
then from the standard AWS environment variables (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`,
`AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), then from
boto3's own chain (profiles, instance roles). Path-style addressing (`endpoint/bucket/key`) is
used when asked for, and automatically when the endpoint's host is an IP address (no DNS name
for virtual-hosted buckets exists there).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix ("" or ending without a slash)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"{url!r} is not an s3://bucket/prefix address")
        return cls(parts.netloc, parts.path.strip("/"))

    def key(self, *names: str) -> str:
        return "/".join((self.prefix, *names)) if self.prefix else "/".join(names)


@dataclass(frozen=True)
class S3Options:
    """How to reach the S3 service; empty strings mean "from the environment, or boto3's default"."""

    endpoint: str = ""
    region: str = ""
    path_style: str = "auto"  # auto | true | false
    access_key: str = ""
    secret_key: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def resolved(self, env: Mapping[str, str] | None = None) -> S3Options:
        """These options with the AWS environment variables filling what is empty."""
        env = os.environ if env is None else env
        return S3Options(
            endpoint=self.endpoint or env.get("AWS_ENDPOINT_URL_S3", "") or env.get("AWS_ENDPOINT_URL", ""),
            region=self.region or env.get("AWS_REGION", "") or env.get("AWS_DEFAULT_REGION", ""),
            path_style=self.path_style,
            access_key=self.access_key or env.get("AWS_ACCESS_KEY_ID", ""),
            secret_key=self.secret_key or env.get("AWS_SECRET_ACCESS_KEY", ""),
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def uses_path_style(self) -> bool:
        if self.path_style in ("true", "false"):
            return self.path_style == "true"
        return endpoint_is_ip(self.endpoint)


def endpoint_is_ip(endpoint: str) -> bool:
    """True when the endpoint URL's host is an IP address (v4 or v6)."""
    host = urlsplit(endpoint).hostname if endpoint else None
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
