"""Usage kept incrementally equals usage counted from scratch, whatever happens in between.

Random sequences of pushes (shared layers, indexes), mounts, tag and manifest deletes, blob
unlinks, garbage collection and projects created over existing repositories run on a registry;
after each, the stored counts must equal an independent model of the rule (each project's and
each repository's distinct digests, each counted once) and a recount must find no drift.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinyreg.access.store import AccessStore
from tinyreg.registry.accounting import recount
from tinyreg.registry.cleanup import run_policy
from tinyreg.registry.core import Registry
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.gc import collect
from tinyreg.registry.names import Digest

from tests.manifest_builders import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, descriptor

REPOS = ("team/app", "team/app/api", "team/web", "solo/x")
LAYERS = [bytes([i]) * (100 * (i + 1)) for i in range(5)]
CONFIGS = [json.dumps({"config": i}).encode() for i in range(2)]
LATER_PROJECTS = ("team/web", "solo")

repos = st.sampled_from(REPOS)
push = st.tuples(
    st.just("push"),
    repos,
    st.sampled_from(range(len(CONFIGS))),
    st.lists(st.sampled_from(range(len(LAYERS))), max_size=3),
    st.integers(0, 3),
)
operations = st.one_of(
    push,
    st.tuples(st.just("index"), repos, st.integers(0, 3)),
    st.tuples(st.just("mount"), repos, repos, st.sampled_from(range(len(LAYERS)))),
    st.tuples(st.just("untag"), repos, st.integers(0, 3)),
    st.tuples(st.just("delete"), repos, st.integers(0, 3)),
    st.tuples(st.just("unlink"), repos, st.sampled_from(range(len(LAYERS)))),
    st.tuples(st.just("remove repository"), repos),
    st.tuples(st.just("cleanup"), st.sampled_from(("team", "team/app")), st.integers(1, 2)),
    st.tuples(st.just("gc")),
    st.tuples(st.just("project"), st.sampled_from(LATER_PROJECTS)),
)


@dataclass
class Model:
    """What the test knows was pushed: per repository, manifest digest -> {digest: size} it uses."""

    manifests: dict[str, dict[str, dict[str, int]]] = field(default_factory=lambda: {repo: {} for repo in REPOS})
    projects: set[str] = field(default_factory=lambda: {"team", "team/app"})

    def owner(self, repo: str) -> str | None:
        parts = repo.split("/")
        for keep in range(len(parts), 0, -1):
            if "/".join(parts[:keep]) in self.projects:
                return "/".join(parts[:keep]) if len(parts) - keep <= 2 else None
        return None

    def usage(self, repos: list[str]) -> int:
        used: dict[str, int] = {}
        for repo in repos:
            for contribution in self.manifests[repo].values():
                used.update(contribution)
        return sum(used.values())


def _push(registry: Registry, model: Model, repo: str, config: int, layers: list[int], tag: int) -> None:
    for blob in [CONFIGS[config], *(LAYERS[i] for i in layers)]:
        registry.blobs.put_bytes(repo, blob)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, CONFIGS[config]),
        "layers": [descriptor(OCI_LAYER, LAYERS[i]) for i in layers],
    }
    _put(registry, model, repo, tag, json.dumps(document).encode(), OCI_MANIFEST, [CONFIGS[config], *(LAYERS[i] for i in layers)])


def _put(registry: Registry, model: Model, repo: str, tag: int, data: bytes, media_type: str, blobs: list[bytes]) -> None:
    digest = registry.manifests.put(repo, f"t{tag}", data, media_type).digest
    model.manifests[repo][digest] = {str(Digest.of(blob)): len(blob) for blob in blobs} | {digest: len(data)}


def _index(registry: Registry, model: Model, repo: str, tag: int) -> None:
    children = []
    for digest in sorted(model.manifests[repo])[:2]:
        data = registry.manifests.get(repo, digest)
        children.append({"mediaType": data.media_type, "digest": digest, "size": len(data.data)})
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    _put(registry, model, repo, tag, json.dumps(document).encode(), OCI_INDEX, [])


def _apply(registry: Registry, access: AccessStore, model: Model, operation: tuple[Any, ...]) -> None:
    kind, *args = operation
    if kind == "push":
        _push(registry, model, *args)
    elif kind == "index":
        _index(registry, model, *args)
    elif kind == "mount":
        registry.blobs.mount(args[0], Digest.of(LAYERS[args[2]]), args[1])
    elif kind == "untag":
        try:
            registry.manifests.delete(args[0], f"t{args[1]}")
        except RegistryError:
            pass  # no such tag
    elif kind == "delete":
        known = sorted(model.manifests[args[0]])
        if known:
            digest = known[args[1] % len(known)]
            registry.manifests.delete(args[0], digest)
            del model.manifests[args[0]][digest]
    elif kind == "unlink":
        try:
            registry.blobs.delete(args[0], Digest.of(LAYERS[args[1]]))
        except RegistryError:
            pass  # not linked there
    elif kind == "remove repository":
        try:
            registry.manifests.delete_repository(args[0])
        except RegistryError:
            pass  # nothing was ever pushed there
        model.manifests[args[0]] = {}
    elif kind == "cleanup":  # a policy keeping the newest `keep_n` tags; untagged manifests go too
        run = run_policy(registry.meta, args[0], {"keep_n": args[1], "name_regex": ".*", "older_than": None}, now=time.time())
        with registry.meta.read() as tx:
            for repo in REPOS:
                stored = {digest for digest, _ in tx.manifests_of(repo)}
                model.manifests[repo] = {d: used for d, used in model.manifests[repo].items() if d in stored}
        assert run.finished
    elif kind == "gc":
        collect(registry.meta, registry.store, grace=0)
    elif kind == "project" and args[0] not in model.projects:
        access.create_project(args[0], adopt=True)
        model.projects.add(args[0])


def _check(registry: Registry, model: Model) -> None:
    with registry.meta.read() as tx:
        for repo in REPOS:
            assert tx.usage_total("repository", repo) == model.usage([repo]), repo
        for project in model.projects:
            owned = [repo for repo in REPOS if model.owner(repo) == project]
            assert tx.usage_total("project", project) == model.usage(owned), project
    drift = registry.meta.write(recount)
    assert not drift, drift.to_json()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=25))
def test_usage_kept_incrementally_equals_a_recount_from_scratch(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory(prefix="tinyreg-usage-") as directory:
        registry = Registry(Path(directory))
        try:
            access = AccessStore(registry.meta)
            for project in ("team", "team/app"):
                access.create_project(project, adopt=True)
            model = Model()
            for step in steps:
                _apply(registry, access, model, step)
                _check(registry, model)
        finally:
            registry.close()


def test_a_cleanup_run_frees_the_usage_of_the_manifests_it_leaves_untagged(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    try:
        access = AccessStore(registry.meta)
        for project in ("team", "team/app"):
            access.create_project(project)
        model = Model()
        for tag in range(3):  # three images, one layer each, one tag each
            _push(registry, model, "team/app", 0, [tag], tag)
        with registry.meta.read() as tx:
            before = tx.usage_total("project", "team/app")
        _apply(registry, access, model, ("cleanup", "team/app", 1))
        _check(registry, model)
        with registry.meta.read() as tx:
            assert len(list(tx.manifests_of("team/app"))) == 1
            assert tx.usage_total("project", "team/app") < before
    finally:
        registry.close()
