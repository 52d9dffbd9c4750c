"""The layering, as a test: which package may import which, what "pure" means, what start-up loads.

Layers, top calls down, never up::

    cli, admin_cli, testing, pytest_plugin, samples     how people start and administer it
    server, workers, connections, config                the process around the app
    http                                                parses and formats
    registry, access                                    the rules (access may use registry's names)
    storage                                             metadata and blob bytes
    digest, b64, the package (its version)              shared leaves
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tinyreg"

LAYER_OF_TOP = {
    "digest": 0,
    "b64": 0,
    "durations": 0,
    "datadir": 4,
    "columns": 0,
    "storage": 1,
    "registry": 2,
    "access": 2,
    "http": 3,
    "server": 4,
    "workers": 4,
    "connections": 4,
    "config": 4,
    "logs": 4,
    "metrics_share": 4,
    "tls": 4,
    "selfsigned": 4,
    "cli": 5,
    "admin_cli": 5,
    "usage_cli": 5,
    "cleanup_cli": 5,
    "move_cli": 5,
    "db_cli": 5,
    "migrate_cli": 5,
    "housekeeping": 4,
    "delivery": 4,
    "testing": 5,
    "pytest_plugin": 5,
    "samples": 5,
    "__main__": 5,
    "__init__": 0,  # the package itself holds only its version
}
#: Same-layer imports that are not allowed: the rules of the registry never ask who is calling.
FORBIDDEN_SAME_LAYER = {("registry", "access")}

#: Modules that hold rules only: no I/O, no clock, no event loop; tested without a socket or a file.
PURE_MODULES = {
    "tinyreg.registry.names",
    "tinyreg.registry.ranges",
    "tinyreg.registry.manifests",
    "tinyreg.registry.owners",
    "tinyreg.registry.usage",
    "tinyreg.registry.events",
    "tinyreg.registry.notification_settings",
    "tinyreg.registry.mirrors",
    "tinyreg.registry.errors",
    "tinyreg.access.policy",
    "tinyreg.access.paths",
    "tinyreg.access.scopes",
    "tinyreg.access.throttle",
    "tinyreg.http.routes",
    "tinyreg.digest",
    "tinyreg.b64",
}
IO_MODULES = {
    "trio", "lmdb", "os", "socket", "fcntl", "cbor2", "pathlib", "subprocess", "threading", "asyncio",
    "shutil", "tempfile", "time", "select", "hypercorn", "quart", "quart_trio", "httpx", "nacl",
}  # fmt: skip


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Absolute names of every module `path` (module `name`) imports, wherever the import stands."""
    tree = ast.parse(path.read_text(), str(path))
    name = name or _module_name(path)
    package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
INTERNAL = {name: {m for m in _imports(path) if m in MODULES} for name, path in MODULES.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer() -> None:
    assert sorted({_top(m) for m in MODULES} - set(LAYER_OF_TOP)) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    mine = _top(module)
    upward = [
        imported
        for imported in sorted(INTERNAL[module])
        if LAYER_OF_TOP[_top(imported)] > LAYER_OF_TOP[mine] or (mine, _top(imported)) in FORBIDDEN_SAME_LAYER
    ]
    assert upward == [], f"{module} (layer {mine}) imports a higher layer: {upward}"


def test_no_import_cycles() -> None:
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(INTERNAL[module]):
            if imported == module or imported == module.rsplit(".", 1)[0]:
                continue  # a module importing its own package's __init__ is no cycle of ours
            if state.get(imported) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail, module, imported]))
            if imported not in state:
                visit(imported, [*trail, module])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("module", sorted(PURE_MODULES))
def test_pure_modules_do_no_io(module: str) -> None:
    """A pure module, and every tinyreg module it imports, imports nothing that does I/O."""
    reached, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in reached:
            continue
        reached.add(current)
        todo.extend(INTERNAL[current])
    offenders = sorted(
        f"{source} imports {imported}"
        for source in reached
        for imported in _imports(MODULES[source])
        if imported.split(".")[0] in IO_MODULES
    )
    assert offenders == []


def test_the_import_reader_sees_relative_and_nested_imports(tmp_path: Path) -> None:
    """The checker sees an upward import, a relative one and one inside a function included."""
    fake = tmp_path / "meta.py"
    fake.write_text("from ..http import app\ndef later():\n    import tinyreg.server\n")
    assert {"tinyreg.http.app", "tinyreg.server"} <= _imports(fake, "tinyreg.storage.meta")


OPEN_SERVER_LOADS = textwrap.dedent(
    """
    import sys, tempfile, trio
    from tinyreg.config import Settings
    from tinyreg.server import serve

    async def main():
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            url = await nursery.start(lambda task_status: serve(
                Settings(port=0, data=tempfile.mkdtemp(), access_log=False), stop=stop, task_status=task_status))
            host, port = url.split("//")[1].rsplit(":", 1)
            stream = await trio.open_tcp_stream(host, int(port))
            await stream.send_all(b"GET /v2/ HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            answer = b""
            while chunk := await stream.receive_some():
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
            stop.set()

    trio.run(main)
    print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("quart", "quart_trio", "nacl", "prometheus_client")
                          or m.startswith("tinyreg.access"))))
    """
)


def test_an_open_registry_loads_no_web_framework_crypto_or_auth() -> None:
    """The start-up claim of the README: Quart, libsodium, prometheus_client and the auth layer load only when used."""
    done = subprocess.run([sys.executable, "-c", OPEN_SERVER_LOADS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
