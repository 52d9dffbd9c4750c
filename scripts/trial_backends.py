#!/usr/bin/env python3
"""Start PostgreSQL and an S3 store (a Ceph RADOS Gateway) on 127.0.0.1 for a trial of several nodes.

From a checkout of tinyreg with its test extra installed (`pip install -e '.[test]'`) and, on
Debian, `apt-get install postgresql ceph-mon ceph-osd radosgw`. Both keep their files in
temporary directories and are never system services (as root, PostgreSQL runs as the
`postgres` user). It prints the settings the nodes need, keeps both servers running until
Ctrl-C, then stops them and deletes everything they stored. The same code starts them for the test suite
(`tests/servers/`). For real use, run a PostgreSQL and an S3 store that are looked after.

    python scripts/trial_backends.py
    python scripts/trial_backends.py --memstore-gib 12   # room for a full `scripts/bench.py --s3-bucket` run

The gateway keeps objects in RAM, at most --memstore-gib (default 3); past that it does not
refuse writes but HANGS every request, so give it room for what a trial or benchmark stores
(nothing is deleted: the full benchmark stores some GiB per round).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import ceph  # noqa: E402
from tests.servers.postgres import PostgresCluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memstore-gib", type=float, default=ceph.MEMSTORE_BYTES / 1024**3, help="RAM for the gateway's objects")
    args = parser.parse_args()
    postgres = PostgresCluster().start()
    ceph_dir = Path(tempfile.mkdtemp(prefix="tinyreg-ceph-", dir="/tmp"))
    try:
        postgres.admin("CREATE DATABASE tinyreg OWNER tinyreg")
        gateway = ceph.start(ceph_dir, int(args.memstore_gib * 1024**3))
        print(
            "PostgreSQL and a Ceph RADOS Gateway are running (Ctrl-C stops them and deletes their data).\n"
            "In each node's shell:\n\n"
            f"export TINYREG_METADATA='{postgres.url('tinyreg')}'\n"
            "export TINYREG_BLOBS=s3://tinyreg/registry\n"
            f"export AWS_ENDPOINT_URL_S3={gateway.endpoint} AWS_REGION={gateway.region}\n"
            f"export AWS_ACCESS_KEY_ID={gateway.access_key} AWS_SECRET_ACCESS_KEY={gateway.secret_key}\n",
            flush=True,
        )
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
    finally:
        ceph.stop(ceph_dir)
        shutil.rmtree(ceph_dir, ignore_errors=True)
        postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
