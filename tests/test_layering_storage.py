"""The storage boundary holds: above `tinyreg/storage`, nothing touches LMDB, cbor2 or files of
the data directory directly; everything goes through the MetaStore and BlobStore interfaces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import tinyreg

PACKAGE = Path(tinyreg.__file__).parent
LAYERS = ("registry", "access", "http")
FORBIDDEN_MODULES = {
    "lmdb",
    "cbor2",
    "fcntl",
    "psycopg",
    "psycopg_pool",
    "tinyreg.storage.meta",
    "tinyreg.storage.keys",
    "tinyreg.storage.staging",
}
FORBIDDEN_CALLS = {
    ("os", "open"),
    ("os", "replace"),
    ("os", "rename"),
    ("os", "lseek"),
    ("os", "ftruncate"),
    ("os", "fsync"),
    ("os", "stat"),
    ("os", "scandir"),
    ("os", "walk"),
    ("os", "unlink"),
}
FORBIDDEN_METHODS = {"stat", "unlink", "touch", "write_bytes", "iterdir"}  # on paths of the data directory
TXN_METHODS = {"get", "put", "delete", "cursor"}
# The signing keys are no storage of the registry's: their ring keeps its own small files.
ALLOWED = {("access/jwt.py", "os", "open"), ("access/jwt.py", "os", "replace"), ("access/jwt.py", "", "stat")}


def _violations(rel: str, source: str) -> list[str]:
    """What in module `rel` (a path below the package) reaches past the storage interfaces."""
    found = []
    for node in ast.walk(ast.parse(source, rel)):
        if isinstance(node, ast.Import):
            found += [
                f"imports {a.name}"
                for a in node.names
                if a.name.split(".")[0] in FORBIDDEN_MODULES or a.name in FORBIDDEN_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES or node.module in FORBIDDEN_MODULES:
                found.append(f"imports from {node.module}")
        elif isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Name):
                if (owner.id, node.attr) in FORBIDDEN_CALLS and (rel, owner.id, node.attr) not in ALLOWED:
                    found.append(f"uses {owner.id}.{node.attr}")
                if owner.id == "txn" and node.attr in TXN_METHODS:
                    found.append(f"calls txn.{node.attr}")
            if isinstance(owner, ast.Attribute) and owner.attr == "meta" and node.attr in {"db", "env"}:
                found.append(f"reaches into meta.{node.attr}")
            if node.attr in FORBIDDEN_METHODS and (rel, "", node.attr) not in ALLOWED:
                found.append(f"calls .{node.attr}()")
    return [f"{rel}:{message}" for message in found]


def _modules() -> list[Path]:
    return sorted(path for layer in LAYERS for path in (PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_above_storage_reaches_past_its_interfaces(path: Path) -> None:
    assert _violations(path.relative_to(PACKAGE).as_posix(), path.read_text()) == []


def test_the_check_catches_what_it_is_for() -> None:
    source = "import lmdb\nfrom fcntl import flock\nimport os\nos.open('x', 0)\ntxn.get(b'k')\nself.meta.db['tags']\np.stat()\n"
    assert [v.split(":", 1)[1] for v in _violations("registry/sample.py", source)] == [
        "imports lmdb",
        "imports from fcntl",
        "uses os.open",
        "calls txn.get",
        "reaches into meta.db",
        "calls .stat()",
    ]
