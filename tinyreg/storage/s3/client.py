"""A boto3 S3 client for the resolved options, the bucket made ready, and S3's errors told apart."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tinyreg.storage.s3.location import S3Options

NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload"}
PRECONDITION_FAILED = {"412", "PreconditionFailed"}


def make_client(options: S3Options) -> Any:
    """A boto3 S3 client (thread-safe: worker threads share it) for the resolved options."""
    config = Config(
        s3={"addressing_style": "path" if options.uses_path_style() else "auto"},
        signature_version="s3v4",
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        retries={"mode": "standard", "max_attempts": 3},
        # Checksums only where S3 requires them: the registry verifies every blob's digest itself.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    kwargs: dict[str, Any] = {"config": config}
    if options.endpoint:
        kwargs["endpoint_url"] = options.endpoint
    if options.region:
        kwargs["region_name"] = options.region
    if options.access_key:
        kwargs["aws_access_key_id"] = options.access_key
        kwargs["aws_secret_access_key"] = options.secret_key
    return boto3.session.Session().client("s3", **kwargs)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_not_found(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND


def is_precondition_failed(exc: ClientError) -> bool:
    return error_code(exc) in PRECONDITION_FAILED


def ensure_bucket(client: Any, bucket: str, region: str) -> None:
    """Create the bucket unless it exists (OSError when it neither exists nor can be created)."""
    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if not is_not_found(exc):
            raise OSError(f"cannot use bucket {bucket}: {error_code(exc) or exc}") from None
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise OSError(f"bucket {bucket} is missing and cannot be created: {error_code(exc) or exc}") from None
