"""A real registry inside a test suite: `run_registry` (any code) and `open_registry` (trio).

    with run_registry() as registry:
        httpx.get(registry.url + "/v2/")

Each registry has its own data directory (a temporary one unless given), its own port and
no shared state, so several can run at once in one process.
"""

from __future__ import annotations

import queue
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio

from tinyreg import samples
from tinyreg.access.store import AccessStore
from tinyreg.config import ConfigError, Settings, check_exposure
from tinyreg.registry.core import Registry
from tinyreg.registry.names import check_name
from tinyreg.server import first_os_error


@dataclass(frozen=True)
class RunningRegistry:
    """A registry that is serving: where to reach it, where its data lives, and push helpers.

    The helpers write straight into the registry's storage (no HTTP, no external tool), so
    they are quick and safe to call from a test whatever its event loop.
    """

    url: str
    """Base URL, such as `http://127.0.0.1:41234`."""
    host: str
    """`host:port`, as image references want it (`127.0.0.1:41234/group/project:tag`)."""
    data_dir: Path
    _registry: Registry = field(repr=False, compare=False)
    ca_file: Path | None = None
    """With `tls=True`: the CA certificate that signed the registry's certificate."""

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """With `tls=True`: a client context trusting the registry's CA (for httpx's `verify=`, urllib...)."""
        return None if self.ca_file is None else ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def _access(self) -> AccessStore:
        return AccessStore(self._registry.meta)

    def create_user(self, name: str, password: str | None = None, *, admin: bool = False) -> None:
        """Add a user (for registries started with `auth=True`)."""
        self._access.add_user(name, password, admin=admin)

    def create_project(self, path: str, *, public: bool = False, owner: str | None = None, adopt: bool = False) -> None:
        """Add a project; `owner` becomes its owner. Existing repositories of other projects that
        would move into it are refused (AccessError naming them) unless `adopt` is True."""
        self._access.create_project(path, public=public, owner=owner, adopt=adopt)

    def set_size_limit(self, project: str, limit: int | None) -> None:
        """Give `project` its own size limit in bytes (None: no limit, whatever the default)."""
        self._access.set_size_limit(project, limit)

    def add_member(self, project: str, user: str, role: str) -> None:
        """Give `user` a role (guest, reporter, developer, maintainer, owner) in `project`."""
        self._access.set_member(project, user, role)

    def create_group(self, path: str, *, public: bool = False, owner: str | None = None) -> None:
        """Add a group (and the missing groups above it); `owner` becomes its owner."""
        self._access.create_group(path, visibility="public" if public else "private", owner=owner)

    def add_group_member(self, group: str, user: str, role: str) -> None:
        """Give `user` a role in `group`: it holds in every project and subgroup below it."""
        self._access.set_group_member(group, user, role)

    def create_token(
        self, user: str, scopes: list[str] | None = None, *, name: str = "test", expires_in: float | None = None
    ) -> str:
        """A personal access token of `user` (log in with the user's name and this secret)."""
        expires_at = time.time() + expires_in if expires_in is not None else None
        secret, _ = self._access.create_token("personal", user, name, scopes or ["read_registry", "write_registry"], expires_at)
        return secret

    def create_deploy_token(self, project: str, scopes: list[str] | None = None, *, name: str = "deploy") -> tuple[str, str]:
        """A deploy token of `project`: returns (username, secret) to log in with."""
        secret, record = self._access.create_token("deploy", project, name, scopes or ["read_registry"], None)
        return record.username, secret

    def push_blob(self, repo: str, data: bytes) -> str:
        """Store `data` as a blob of `repo`; return its digest."""
        return str(self._registry.blobs.put_bytes(check_name(repo), data))

    def push(self, repo: str, sample: samples.Sample, tag: str | None = "latest") -> str:
        """Push a built manifest and its blobs, tagged `tag` (or by digest only); return its digest."""
        check_name(repo)
        for blob in sample.blobs:
            self._registry.blobs.put_bytes(repo, blob)
        return self._registry.manifests.put(repo, tag or sample.digest, sample.manifest, sample.media_type).digest

    def push_image(self, repo: str, tag: str | None = "latest", *, layers: int = 1, architecture: str = "amd64") -> str:
        """Push a small real OCI image (gzip tar layers, one file each); return the manifest digest."""
        return self.push(repo, samples.image(layers=layers, architecture=architecture, seed=f"{repo}:{tag}"), tag)

    def push_artifact(
        self,
        repo: str,
        tag: str | None,
        files: dict[str, bytes],
        *,
        artifact_type: str,
        media_type: str = "application/octet-stream",
        subject: str | None = None,
    ) -> str:
        """Push an OCI 1.1 artifact (empty config, one layer per file), optionally referring to the
        manifest `subject` (a digest in `repo`); return its digest."""
        subject_descriptor = None
        if subject is not None:
            stored = self._registry.manifests.get(check_name(repo), subject)
            subject_descriptor = samples.descriptor(stored.media_type, stored.data)
        built = samples.artifact(files, artifact_type=artifact_type, media_type=media_type, subject=subject_descriptor)
        return self.push(repo, built, tag)


class RegistryStartError(RuntimeError):
    """The registry could not start: the port is taken, the data directory unusable, …"""


def _settings(data_dir: Path, host: str, port: int, options: dict[str, Any]) -> Settings:
    if options.get("tls") is True:
        options["tls"] = "self-signed"
    elif options.get("tls") is False:
        del options["tls"]
    return Settings(host=host, port=port, data=data_dir, access_log=options.pop("access_log", False), **options)


@asynccontextmanager
async def open_registry(
    data_dir: Path | str | None = None, *, auth: bool = False, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[RunningRegistry]:
    """Serve a registry from a task of the current trio program for the duration of the block.

    With `auth=True` the access model is on: create users, projects and tokens with the
    `RunningRegistry` helpers. With `tls=True` it serves HTTPS with a certificate of its own CA
    (`ca_file`, `ssl_context`); `tls_cert=` and `tls_key=` serve a certificate of yours. Without it, a `host` other than loopback is refused unless
    `insecure_open=True`, as `tinyreg serve` does.
    """
    from tinyreg.server import serve

    temporary = data_dir is None
    path = Path(tempfile.mkdtemp(prefix="tinyreg-")) if data_dir is None else Path(data_dir)
    stop = trio.Event()
    settings = _settings(path, host, port, dict(options, auth=auth))
    try:
        check_exposure(settings)
    except ConfigError as exc:
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
        raise RegistryStartError(str(exc)) from None
    try:
        if settings.serves_tls:
            from tinyreg.tls import resolve_tls

            settings = resolve_tls(settings)
        registry = Registry(path, default_size_limit=settings.size_limit_bytes(), metadata=settings.metadata)
    except ConfigError as exc:
        raise RegistryStartError(str(exc)) from None
    except OSError as exc:
        raise RegistryStartError(f"cannot use data directory {path}: {exc.strerror or exc}") from exc
    single: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                url = await nursery.start(partial(serve, settings, registry=registry, stop=stop))
            except BaseException as exc:
                failure = first_os_error(exc)
                if failure is None:
                    raise
                raise RegistryStartError(f"cannot listen on {host}:{port}: {failure.strerror or failure}") from failure
            try:
                ca_file = Path(settings.tls_cert).parent / "ca.crt" if settings.tls == "self-signed" else None
                yield RunningRegistry(url=url, host=url.split("://", 1)[1], data_dir=path, _registry=registry, ca_file=ca_file)
            finally:
                stop.set()
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        single = group.exceptions[0]
    finally:
        registry.close()
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
    if single is not None:
        # The caller's own exception, not the group the nursery made around it; raised out
        # here so that its cause and context stay as they were.
        raise single


@contextmanager
def run_registry(
    data_dir: Path | str | None = None, *, auth: bool = False, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[RunningRegistry]:
    """Serve a registry from a background thread (its own trio loop) for the duration of the block."""
    started: queue.Queue[tuple[RunningRegistry | None, BaseException | None, Any]] = queue.Queue()

    async def main() -> None:
        stop = trio.Event()
        try:
            async with open_registry(data_dir, auth=auth, host=host, port=port, **options) as running:
                started.put((running, None, (trio.lowlevel.current_trio_token(), stop)))
                await stop.wait()
        except BaseException as exc:  # reported to the caller's thread
            if started.empty():
                started.put((None, exc, None))
            raise

    thread = threading.Thread(target=lambda: _run_quietly(main), name="tinyreg", daemon=True)
    thread.start()
    running, error, handle = started.get()
    if running is None:
        thread.join()
        if isinstance(error, RegistryStartError):
            raise RegistryStartError(str(error)) from error
        raise RegistryStartError(f"tinyreg did not start: {error!r}") from error
    token, stop = handle
    try:
        yield running
    finally:
        trio.from_thread.run_sync(stop.set, trio_token=token)
        thread.join()


def _run_quietly(main: Any) -> None:
    try:
        trio.run(main)
    except BaseException:  # already reported through the queue, or a failure after stop
        pass
