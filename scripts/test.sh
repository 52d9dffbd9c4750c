#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite.
#   Python: tinyreg itself (editable) with its test extras.
#   Debian (as root, when missing): the real clients the tests drive, chromium for the panel's
#   browser tests (Playwright drives Debian's chromium; `playwright install` is not used), and
#   postgresql, whose binaries the metadata tests run a throw-away cluster of (never the service).
# With CI=true a client tool, browser or PostgreSQL that cannot be installed makes its tests fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --disable-pip-version-check -q -e '.[test]'

tools=(skopeo podman buildah umoci jq docker-registry containerd wrk chromium haproxy)
missing=()
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# PostgreSQL's server binaries are not on PATH: the tests start a cluster of their own from them.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing ${missing[*]} (and uidmap, fuse-overlayfs) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "WARNING: missing client tools: ${missing[*]} (not root, cannot install); their tests will skip outside CI" >&2
    fi
fi

# The S3 blob store's tests start a throw-away Ceph cluster with a RADOS Gateway (never a service).
if ! command -v radosgw >/dev/null 2>&1 || ! command -v ceph-osd >/dev/null 2>&1 || ! command -v ceph-mon >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing ceph-mon ceph-osd radosgw with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw >/dev/null
    else
        echo "WARNING: Ceph (ceph-mon ceph-osd radosgw) missing (not root, cannot install); S3 tests will skip outside CI" >&2
    fi
fi

# Gates: lint, format and types before any test runs; a failure stops the run (and CI).
echo "ruff: lint and format"
python3 -m ruff check tinyreg tests scripts
python3 -m ruff format --check tinyreg tests scripts
echo "mypy --strict tinyreg"
python3 -m mypy

exec python3 -m pytest "$@"
