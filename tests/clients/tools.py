"""Running real container tools against tinyreg, each in a private sandbox.

A `Sandbox` holds everything the tools would otherwise read from or write to the machine:
`HOME`, `registries.conf` (marking the registry insecure), a `policy.json` accepting anything,
container storage (`vfs`), auth files, network configuration and the blob-info cache. As root,
the containers libraries keep that cache in `/var/lib/containers/cache` and network state in
`/run/containers` whatever the environment says, so every tool then runs in its own mount
namespace with private directories bound over `/var/lib` and `/run`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tinyreg.testing import RunningRegistry

DEFAULT_TIMEOUT = 180.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_BIND_PRIVATE_DIRS = 'mount --bind "$1" /var/lib && mount --bind "$2" /run && shift 2 && exec "$@"'


def sha256(data: bytes) -> str:
    """The `sha256:<hex>` digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def private_dirs_prefix(var_lib: Path, run: Path) -> list[str]:
    """The argv prefix that gives a root process private `/var/lib` and `/run` (empty when not root).

    As root, the blob-info cache lives in `/var/lib/containers/cache` and netavark's state in
    `/run/containers/networks`, whatever the environment or configuration says.
    """
    if os.geteuid() != 0:
        return []
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _BIND_PRIVATE_DIRS, "sh", str(var_lib), str(run)]


@dataclass(frozen=True)
class Result:
    """What a finished tool run printed."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        return (
            f"`{' '.join(self.argv)}` exited {self.returncode}\n--- stderr ---\n{self.stderr[-12000:]}"
            f"\n--- stdout ---\n{self.text[-3000:]}"
        )


@dataclass(frozen=True)
class Sandbox:
    """Private configuration, storage and cache for the tools of one test."""

    root: Path
    registry: RunningRegistry
    runroot: Path
    """Outside `root`: podman refuses a runroot path longer than 50 characters."""
    env: dict[str, str] = field(repr=False)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def var_lib(self) -> Path:
        return self.root / "var-lib"

    @property
    def host_run(self) -> Path:
        """Bound over `/run` for tools running as root."""
        return self.root / "host-run"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def layout(self) -> Path:
        """The OCI layout the `umoci_layout` fixture builds into."""
        return self.root / "work" / "layout"

    @property
    def work(self) -> Path:
        """A scratch directory for layouts, files and bundles."""
        return self.root / "work"

    def ref(self, name: str) -> str:
        """`host:port/name[:tag|@digest]` of this sandbox's registry."""
        return f"{self.registry.host}/{name}"

    def docker(self, name: str) -> str:
        """The `docker://` transport reference to `name` in the registry."""
        return f"docker://{self.ref(name)}"


def make_sandbox(root: Path, registry: RunningRegistry, runroot: Path) -> Sandbox:
    """Create the private files and directories of a sandbox under `root` (and `runroot`)."""
    home = root / "home"
    etc = root / "etc"
    dirs = [
        home,
        etc,
        etc / "registries.d",
        etc / "docker",
        root / "storage",
        runroot,
        root / "var-lib",
        root / "host-run",
        etc / "networks",
        root / "tmp" / "libpod",
        root / "run",
        root / "work",
    ]
    for path in dirs:
        path.mkdir(parents=True, exist_ok=True)
    (root / "run").chmod(0o700)
    (etc / "registries.conf").write_text(
        'unqualified-search-registries = []\nshort-name-mode = "permissive"\n\n'
        f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n'
    )
    (etc / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    (etc / "storage.conf").write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "storage"}"\nrunroot = "{runroot}"\n')
    (etc / "containers.conf").write_text(
        f'[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\ntmp_dir = "{root / "tmp" / "libpod"}"\n'
        f'image_copy_tmp_dir = "{root / "tmp"}"\n\n'
        f'[network]\nnetwork_backend = "netavark"\nnetwork_config_dir = "{etc / "networks"}"\n'
    )
    (etc / "auth.json").write_text('{"auths": {}}')
    (etc / "docker" / "config.json").write_text('{"auths": {}}')
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "TMPDIR": str(root / "tmp"),
        "CONTAINERS_REGISTRIES_CONF": str(etc / "registries.conf"),
        "CONTAINERS_CONF": str(etc / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(etc / "storage.conf"),
        "SIGNATURE_POLICY_PATH": str(etc / "policy.json"),
        "REGISTRY_AUTH_FILE": str(etc / "auth.json"),
        "DOCKER_CONFIG": str(etc / "docker"),
        "BUILDAH_ISOLATION": "chroot",
    }
    return Sandbox(root, registry, runroot, env)


class Tool:
    """One command-line tool, run inside a sandbox with its private flags."""

    def __init__(self, sandbox: Sandbox, argv: Sequence[str], *, isolate: bool = True) -> None:
        self.sandbox = sandbox
        prefix = private_dirs_prefix(sandbox.var_lib, sandbox.host_run) if isolate else []
        self.argv = [*prefix, *argv]

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT, stdin: bytes | None = None) -> Result:
        """Run the tool with `args` and return what it printed, whatever its exit status."""
        argv = [*self.argv, *args]
        try:
            done = subprocess.run(
                argv, input=stdin, capture_output=True, env=self.sandbox.env, cwd=self.sandbox.work, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            stderr = (exc.stderr or b"").decode(errors="replace")
            raise AssertionError(f"`{' '.join(argv)}` did not finish within {timeout}s\n{stderr[-12000:]}") from None
        return Result(argv, done.returncode, done.stdout, done.stderr.decode(errors="replace"))

    def __call__(self, *args: str, timeout: float = DEFAULT_TIMEOUT, stdin: bytes | None = None) -> Result:
        """Run the tool; fail the test with its stderr unless it exits 0."""
        result = self.run(*args, timeout=timeout, stdin=stdin)
        assert result.returncode == 0, result.describe()
        return result

    def fails(self, *args: str, timeout: float = DEFAULT_TIMEOUT) -> Result:
        """Run the tool; fail the test unless it exits non-zero."""
        result = self.run(*args, timeout=timeout)
        assert result.returncode != 0, f"expected a failure:\n{result.describe()}"
        return result


def push_args(sandbox: Sandbox, tag: str, name: str, *extra: str) -> list[str]:
    """skopeo arguments copying the sandbox layout's `tag` to `name`, digests preserved."""
    return ["copy", "--preserve-digests", "--dest-tls-verify=false", *extra, f"oci:{sandbox.layout}:{tag}", sandbox.docker(name)]


def skopeo_tool(sandbox: Sandbox) -> Tool:
    """skopeo with the sandbox's registries.conf, policy, registries.d and tmpdir."""
    etc = sandbox.etc
    return Tool(
        sandbox,
        [
            "skopeo",
            "--registries-conf",
            str(etc / "registries.conf"),
            "--policy",
            str(etc / "policy.json"),
            "--registries.d",
            str(etc / "registries.d"),
            "--tmpdir",
            str(sandbox.tmp),
        ],
    )


def podman_tool(sandbox: Sandbox) -> Tool:
    """podman on the sandbox's vfs storage."""
    return Tool(
        sandbox,
        [
            "podman",
            "--root",
            str(sandbox.storage),
            "--runroot",
            str(sandbox.runroot),
            "--storage-driver",
            "vfs",
            "--tmpdir",
            str(sandbox.tmp / "libpod"),
        ],
    )


def buildah_tool(sandbox: Sandbox) -> Tool:
    """buildah on the sandbox's vfs storage."""
    return Tool(
        sandbox, ["buildah", "--root", str(sandbox.storage), "--runroot", str(sandbox.runroot), "--storage-driver", "vfs"]
    )


def umoci_tool(sandbox: Sandbox) -> Tool:
    """umoci, which only touches the OCI layouts it is given."""
    return Tool(sandbox, ["umoci"], isolate=False)


@dataclass(frozen=True)
class LocalImage:
    """An image manifest in an OCI layout, with every blob it references."""

    digest: str
    media_type: str
    manifest: bytes
    config: bytes
    layers: list[bytes]

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.manifest)

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.document["layers"]]

    @property
    def architecture(self) -> str:
        return json.loads(self.config)["architecture"]


class Layout:
    """Read access to an OCI image layout directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def blob(self, digest: str) -> bytes:
        algorithm, _, hexpart = digest.partition(":")
        return (self.path / "blobs" / algorithm / hexpart).read_bytes()

    def descriptor(self, tag: str) -> dict[str, Any]:
        """The `index.json` entry named `tag`."""
        index = json.loads((self.path / "index.json").read_text())
        for entry in index["manifests"]:
            if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                return entry
        raise AssertionError(f"no {tag!r} in {self.path}/index.json: {index}")

    def image(self, tag_or_digest: str) -> LocalImage:
        """The image manifest named by a tag of `index.json`, or by its digest."""
        digest = tag_or_digest if tag_or_digest.startswith("sha256:") else self.descriptor(tag_or_digest)["digest"]
        data = self.blob(digest)
        assert sha256(data) == digest, f"{self.path}: blob {digest} does not match its digest"
        document = json.loads(data)
        config = self.blob(document["config"]["digest"])
        layers = [self.blob(layer["digest"]) for layer in document["layers"]]
        return LocalImage(digest, document.get("mediaType", ""), data, config, layers)


def random_files(label: str, size: int = 256) -> dict[str, bytes]:
    """A small file tree with random content, different on every call."""
    return {f"{label}/data.bin": os.urandom(size), f"{label}/name.txt": label.encode()}


ImageFactory = Callable[..., "LocalImage"]
"""Builds an image into the sandbox's layout: `(tag, layer_count=1, arch="amd64") -> LocalImage`."""


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    """Write `files` (relative path → bytes) under `root`; return `root`."""
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def umoci_image(umoci: Tool, layout: Path, tag: str, layers: Sequence[Mapping[str, bytes]], *, arch: str = "amd64") -> LocalImage:
    """Build `layout:tag` with `umoci new` + one `umoci insert` per layer, for `arch`."""
    image = f"{layout}:{tag}"
    if not (layout / "index.json").exists():
        umoci("init", "--layout", str(layout))
    umoci("new", "--image", image)
    umoci("config", "--image", image, "--architecture", arch, "--os", "linux")
    for number, files in enumerate(layers):
        source = write_tree(layout.parent / f"{layout.name}-{tag}-layer{number}", files)
        umoci("insert", "--image", image, str(source), "/")
    return Layout(layout).image(tag)


def umoci_repack(umoci: Tool, layout: Path, tag: str, files: Mapping[str, bytes]) -> LocalImage:
    """Add one layer to `layout:tag` by `umoci unpack`, writing `files`, and `umoci repack`."""
    bundle = layout.parent / f"{layout.name}-{tag}-bundle"
    rootless = ["--rootless"] if os.geteuid() != 0 else []
    umoci("unpack", *rootless, "--image", f"{layout}:{tag}", str(bundle))
    write_tree(bundle / "rootfs", files)
    umoci("repack", "--image", f"{layout}:{tag}", str(bundle))
    return Layout(layout).image(tag)


def buildah_scratch_image(buildah: Tool, name: str, layers: Sequence[Mapping[str, bytes]], *, arch: str = "amd64") -> str:
    """Commit `localhost/<name>` from scratch, one `buildah copy` + `buildah commit` per layer."""
    container = buildah("from", "--arch", arch, "--os", "linux", "scratch").text.strip()
    for number, files in enumerate(layers):
        if number:
            container = buildah("from", "--pull=never", f"localhost/{name}-{number - 1}").text.strip()
        source = write_tree(buildah.sandbox.work / f"{name}-layer{number}", files)
        buildah("copy", container, str(source), "/")
        buildah("commit", "--rm", container, f"localhost/{name}-{number}")
    buildah("tag", f"localhost/{name}-{len(layers) - 1}", f"localhost/{name}")
    return f"localhost/{name}"


class RegistryView:
    """Reads the registry directly over HTTP, to check what the tools did."""

    def __init__(self, registry: RunningRegistry) -> None:
        # A blob GET may be redirected to the blob store (S3), as clients follow.
        self.client = httpx.Client(base_url=registry.url, timeout=60.0, follow_redirects=True)

    def manifest(self, name: str, reference: str, *, method: str = "GET") -> httpx.Response:
        return self.client.request(method, f"/v2/{name}/manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)})

    def present_manifest(self, name: str, reference: str) -> httpx.Response:
        """GET a manifest; fail the test unless it is served with a matching digest."""
        response = self.manifest(name, reference)
        assert response.status_code == 200, f"GET /v2/{name}/manifests/{reference}: {response.status_code} {response.text}"
        assert response.headers["Docker-Content-Digest"] == sha256(response.content)
        return response

    def blob(self, name: str, digest: str) -> bytes:
        response = self.client.get(f"/v2/{name}/blobs/{digest}")
        assert response.status_code == 200, f"GET /v2/{name}/blobs/{digest}: {response.status_code} {response.text}"
        assert sha256(response.content) == digest
        return response.content

    def tags(self, name: str) -> list[str]:
        response = self.client.get(f"/v2/{name}/tags/list")
        assert response.status_code == 200, f"GET /v2/{name}/tags/list: {response.status_code} {response.text}"
        return response.json()["tags"]

    def close(self) -> None:
        self.client.close()
