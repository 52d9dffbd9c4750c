"""Whole-object GETs through presigned URLs: a streamed blob's read without botocore's per-call work.

A boto3 GetObject costs about 1.3 ms of CPU before its first byte (the call is built, signed and
its answer parsed through botocore's event hooks): on the server's one core, more than sending
the bytes of a 1 MiB blob. A URL presigned by the same client (botocore signs it, locally) and
fetched with urllib3, botocore's own HTTP library, costs about half of that.

Anything but a 200 with its length (an error, a redirect) is left to GetObject, which tells the
errors apart. A failure to connect at all (a proxy, or a TLS trust that only botocore's settings
give) turns this path off for the process, once, with a log line: GetObject works there.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import urllib3
from botocore.httpsession import get_cert_path

log = logging.getLogger("tinyreg.s3")

URL_TTL = 60  # seconds: the GET follows at once
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


class PresignedReads:
    """GETs of whole objects of one bucket, presigned by `client`."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        config = client.meta.config
        # botocore's trust when it is not told otherwise: AWS_CA_BUNDLE, else its CA bundle.
        ca_certs = os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True)
        self.pool = urllib3.PoolManager(
            maxsize=int(config.max_pool_connections or 10),
            timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
            retries=False,
            ca_certs=ca_certs,
        )
        self.enabled = not any(os.environ.get(name) for name in PROXY_VARIABLES)  # botocore knows proxies; urllib3 alone does not

    def get(self, key: str) -> tuple[int, Any] | None:
        """(size, streaming body) of the object, or None: ask GetObject."""
        if not self.enabled:
            return None
        url = self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=URL_TTL)
        try:
            answer = self.pool.request("GET", url, preload_content=False, decode_content=False, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            self.enabled = False
            log.warning("S3 reads go through GetObject from now on: a presigned GET failed (%s)", exc)
            return None
        length = answer.headers.get("Content-Length")
        if answer.status != 200 or length is None or not length.isdigit():
            answer.drain_conn()
            answer.release_conn()
            return None
        return int(length), answer
