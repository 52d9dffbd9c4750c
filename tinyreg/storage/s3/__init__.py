"""Blob storage in an S3-compatible object store (`--blobs s3://bucket/prefix`); needs boto3 (`tinyreg[s3]`)."""
