"""The grammar of repository names, tags, digests and upload ids (pure, no I/O).

Every identifier that reaches storage passes through here first, so none can name a path
outside the data directory: names and tags become LMDB keys only, digests and upload ids
are reduced to lowercase hex before they touch the file system.
"""

from __future__ import annotations

import re

from tinyreg.digest import Digest
from tinyreg.registry.errors import ErrorCode, RegistryError

__all__ = [
    "Digest",
    "check_name",
    "check_tag",
    "parse_digest",
    "check_upload_id",
    "is_valid_name",
    "is_valid_tag",
    "name_fault",
]

NAME_MAX_LENGTH = 255
NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{NAME_COMPONENT}(?:/{NAME_COMPONENT})*")
_COMPONENT_RE = re.compile(NAME_COMPONENT)
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")
UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")

#: Algorithms this registry can verify, with the exact shape of their encoded part.
ALGORITHMS: dict[str, re.Pattern[str]] = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}


def is_valid_name(name: str) -> bool:
    """True when `name` is a repository name the spec allows."""
    return len(name) <= NAME_MAX_LENGTH and NAME_RE.fullmatch(name) is not None


def check_name(name: str) -> str:
    """Return `name`, or raise NAME_INVALID saying which component breaks which rule."""
    if is_valid_name(name):
        return name
    fault = name_fault(name, "repository name") or "not a valid repository name"
    raise RegistryError(
        "NAME_INVALID", f"invalid repository name {name[:300]!r}: {fault}", detail={"name": name[:300], "reason": fault}
    )


def name_fault(name: str, what: str) -> str | None:
    """Why `name` (a repository name or a project path: `what`) breaks the grammar, or None.

    The reason names the first offending character, its 1-based position in `name`, the
    component holding it and the rule it breaks.
    """
    if not name:
        return f"a {what} cannot be empty"
    if len(name) > NAME_MAX_LENGTH:
        return f"a {what} is at most {NAME_MAX_LENGTH} characters"
    position = 0
    for index, component in enumerate(name.split("/"), start=1):
        if not component:
            return f"empty component at position {position + 1} (two slashes, or a slash at an end)"
        if _COMPONENT_RE.fullmatch(component) is None:
            offset, reason = _component_fault(component)
            char = component[offset] if offset < len(component) else component[-1]
            return f"invalid character {char!r} at position {position + offset + 1} (component {index}, {component[:100]!r}): {reason}"
        position += len(component) + 1
    return None


def _component_fault(component: str) -> tuple[int, str]:
    """Where a component first breaks the grammar, and why."""
    for i, char in enumerate(component):
        if char.isupper():
            return i, "uppercase letters are not allowed"
        if not ("0" <= char <= "9" or "a" <= char <= "z" or char in "._-"):
            return i, "only a-z, 0-9 and the separators . _ - are allowed"
    if not component[0].isalnum():
        return 0, "a component must start with a letter or digit"
    if not component[-1].isalnum():
        return len(component) - 1, "a component must end with a letter or digit"
    for run in re.finditer(r"[._-]+", component):
        text = run.group()
        if text in (".", "_", "__") or set(text) == {"-"}:
            continue
        if text[0] == "-":
            allowed = len(text) - len(text.lstrip("-"))
        else:
            allowed = 2 if text.startswith("__") else 1
        return run.start() + allowed, "separators are one '.', one or two '_', or dashes, between letters or digits"
    return 0, "not a valid name component"


def is_valid_tag(tag: str) -> bool:
    """True when `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`."""
    return TAG_RE.fullmatch(tag) is not None


def check_tag(tag: str) -> str:
    """Return `tag`, or raise TAG_INVALID."""
    if not is_valid_tag(tag):
        raise RegistryError("TAG_INVALID", f"invalid tag {tag[:200]!r}", detail={"tag": tag[:200]})
    return tag


def looks_like_digest(reference: str) -> bool:
    """True when a manifest reference is meant as a digest rather than a tag (it has a colon)."""
    return ":" in reference


def parse_digest(text: str, *, code: ErrorCode = "DIGEST_INVALID") -> Digest:
    """Parse and verify a digest string; raise `code` (DIGEST_INVALID by default) if it is not one we can check."""
    match = DIGEST_RE.fullmatch(text)
    if match is None:
        raise RegistryError(code, f"invalid digest {text[:200]!r}", detail={"digest": text[:200]})
    algorithm, encoded = match.groups()
    shape = ALGORITHMS.get(algorithm)
    if shape is None:
        raise RegistryError(code, f"unsupported digest algorithm {algorithm!r}", detail={"digest": text[:200]})
    if shape.fullmatch(encoded) is None:
        raise RegistryError(code, f"invalid {algorithm} digest {text[:200]!r}", detail={"digest": text[:200]})
    return Digest(algorithm, encoded)


def check_upload_id(upload_id: str) -> str:
    """Return `upload_id`, or raise BLOB_UPLOAD_UNKNOWN: ids are 32 lowercase hex characters."""
    if UPLOAD_ID_RE.fullmatch(upload_id) is None:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", detail={"upload": upload_id[:100]})
    return upload_id
