"""The grammar of repository names, tags, digests and upload ids (OCI Distribution Spec, "Pulling manifests")."""

from __future__ import annotations

import hashlib
import string
import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import (
    NAME_MAX_LENGTH,
    Digest,
    check_name,
    check_tag,
    check_upload_id,
    is_valid_name,
    is_valid_tag,
    parse_digest,
)

from tests.helpers import raises_registry_error

LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
SHA256_HEX = hashlib.sha256(b"tinyreg").hexdigest()
SHA512_HEX = hashlib.sha512(b"tinyreg").hexdigest()

alnum_runs = st.text(alphabet=LOWER_ALNUM, min_size=1, max_size=6)
separators = st.sampled_from([".", "_", "__"]) | st.integers(1, 3).map(lambda n: "-" * n)


@st.composite
def name_components(draw: st.DrawFn) -> str:
    """One path component: `[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*`."""
    parts = [draw(alnum_runs)]
    for _ in range(draw(st.integers(0, 3))):
        parts += [draw(separators), draw(alnum_runs)]
    return "".join(parts)


valid_names = st.lists(name_components(), min_size=1, max_size=5).map("/".join).filter(lambda n: len(n) <= NAME_MAX_LENGTH)


@st.composite
def insert_anywhere(draw: st.DrawFn, base: st.SearchStrategy[str], inserted: st.SearchStrategy[str]) -> str:
    """A string from `base` with a string from `inserted` spliced in at any position."""
    text, piece = draw(base), draw(inserted)
    at = draw(st.integers(0, len(text)))
    return text[:at] + piece + text[at:]


def _splice_between_components(names: st.SearchStrategy[str], joint: str) -> st.SearchStrategy[str]:
    return st.tuples(names, names).map(lambda pair: pair[0] + joint + pair[1])


name_separators = st.sampled_from(["/", ".", "_", "-", "__"])
invalid_names = st.one_of(
    insert_anywhere(valid_names, st.sampled_from(string.ascii_uppercase)),
    st.tuples(name_separators, valid_names).map("".join),
    st.tuples(valid_names, name_separators).map("".join),
    _splice_between_components(valid_names, ".."),
    _splice_between_components(valid_names, "/../"),
    _splice_between_components(valid_names, "//"),
    _splice_between_components(valid_names, "___"),
    insert_anywhere(valid_names, st.sampled_from(["\0", "%", "%2f", " ", "\n", ":", "@", "é"])),
    name_components().map(lambda c: (c + "/") * (NAME_MAX_LENGTH // (len(c) + 1) + 1) + c),
)


@given(valid_names)
@example("a")
@example("library/ubuntu")
@example("a.b_c__d---e/f0/9")
@example("a" * NAME_MAX_LENGTH)
def test_every_name_of_the_spec_grammar_is_accepted(name: str) -> None:
    assert check_name(name) == name
    assert is_valid_name(name)


@given(invalid_names)
@example("")
@example("A")
@example("/a")
@example("a/")
@example("a//b")
@example("a..b")
@example("../a")
@example("a/./b")
@example("a" * (NAME_MAX_LENGTH + 1))
@example("a\0b")
@example("a%2fb")
@example("foo\n")
def test_names_outside_the_grammar_are_name_invalid(name: str) -> None:
    assert not is_valid_name(name)
    with raises_registry_error("NAME_INVALID"):
        check_name(name)


valid_tags = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", fullmatch=True)
invalid_tags = st.one_of(
    st.tuples(st.sampled_from([".", "-"]), st.from_regex(r"[a-zA-Z0-9._-]{0,127}", fullmatch=True)).map("".join),
    insert_anywhere(valid_tags, st.sampled_from(["/", ":", "@", "%", "\0", " ", "\n", "+", "é"])),
    st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{128,140}", fullmatch=True),
)


@given(valid_tags)
@example("latest")
@example("_")
@example("v1.2.3-rc.1_build")
@example("a" * 128)
def test_every_tag_of_the_spec_grammar_is_accepted(tag: str) -> None:
    assert check_tag(tag) == tag
    assert is_valid_tag(tag)


@given(invalid_tags)
@example("")
@example(".hidden")
@example("-rc")
@example("a" * 129)
@example("sha256:" + SHA256_HEX)
@example("latest\n")
def test_tags_outside_the_grammar_are_tag_invalid(tag: str) -> None:
    assert not is_valid_tag(tag)
    with raises_registry_error("TAG_INVALID"):
        check_tag(tag)


@pytest.mark.parametrize(
    ("text", "algorithm", "encoded"),
    [
        ("sha256:" + SHA256_HEX, "sha256", SHA256_HEX),
        ("sha512:" + SHA512_HEX, "sha512", SHA512_HEX),
        ("sha256:" + "0" * 64, "sha256", "0" * 64),
    ],
)
def test_sha256_and_sha512_digests_are_accepted(text: str, algorithm: str, encoded: str) -> None:
    assert parse_digest(text) == Digest(algorithm, encoded)
    assert str(parse_digest(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("sha256:" + SHA256_HEX.upper(), id="uppercase-hex"),
        pytest.param("SHA256:" + SHA256_HEX, id="uppercase-algorithm"),
        pytest.param("sha256:" + SHA256_HEX[:-1], id="sha256-63"),
        pytest.param("sha256:" + SHA256_HEX + "0", id="sha256-65"),
        pytest.param("sha512:" + SHA256_HEX, id="sha512-of-sha256-length"),
        pytest.param("sha256:" + SHA512_HEX, id="sha256-of-sha512-length"),
        pytest.param("md5:" + hashlib.md5(b"x").hexdigest(), id="unknown-algorithm"),
        pytest.param("sha384:" + hashlib.sha384(b"x").hexdigest(), id="unregistered-algorithm"),
        pytest.param(SHA256_HEX, id="missing-colon"),
        pytest.param("sha256" + SHA256_HEX, id="missing-colon-with-algorithm"),
        pytest.param("sha256:", id="empty-encoded"),
        pytest.param(":" + SHA256_HEX, id="empty-algorithm"),
        pytest.param("", id="empty"),
        pytest.param("sha256:" + SHA256_HEX[:-1] + "g", id="non-hex"),
        pytest.param("sha256:" + SHA256_HEX + "\n", id="trailing-newline"),
        pytest.param("sha256:../" + SHA256_HEX[3:], id="path-traversal"),
        pytest.param("sha256:" + SHA256_HEX[:32] + "\0" + SHA256_HEX[33:], id="nul"),
    ],
)
def test_malformed_digests_are_digest_invalid(text: str) -> None:
    with raises_registry_error("DIGEST_INVALID"):
        parse_digest(text)


def test_a_digest_error_can_carry_another_code() -> None:
    with raises_registry_error("MANIFEST_INVALID"):
        parse_digest("sha256:nope", code="MANIFEST_INVALID")


@given(st.binary(max_size=512), st.sampled_from(["sha256", "sha512"]))
def test_digest_of_round_trips_through_its_string(data: bytes, algorithm: str) -> None:
    digest = Digest.of(data, algorithm)
    assert digest.encoded == hashlib.new(algorithm, data).hexdigest()
    assert parse_digest(str(digest)) == digest
    hasher = digest.hasher()
    hasher.update(data)
    assert hasher.hexdigest() == digest.encoded


def test_upload_ids_are_32_lowercase_hex() -> None:
    upload_id = uuid.uuid4().hex
    assert check_upload_id(upload_id) == upload_id


@pytest.mark.parametrize("upload_id", ["", "0" * 31, "0" * 33, "A" * 32, "../" + "0" * 29, str(uuid.uuid4()), "0" * 31 + "\0"])
def test_other_upload_ids_are_blob_upload_unknown(upload_id: str) -> None:
    with raises_registry_error("BLOB_UPLOAD_UNKNOWN"):
        check_upload_id(upload_id)


def _is_path_safe(identifier: str) -> bool:
    """True when `identifier` has no NUL, no `/` at either end and no `.`/`..` path component."""
    components = identifier.split("/")
    return (
        "\0" not in identifier
        and not identifier.startswith("/")
        and not identifier.endswith("/")
        and not any(c in ("", ".", "..") for c in components)
    )


def _accepted(check: object, text: str) -> bool:
    try:
        check(text)  # type: ignore[operator]
    except RegistryError:
        return False
    return True


risky_text = st.text(alphabet="ab0/.-_\0%A:", max_size=24)


@settings(max_examples=200)
@given(st.one_of(risky_text, valid_names, invalid_names, valid_tags, invalid_tags))
@example("..")
@example(".")
@example("/")
@example("a/..")
def test_no_accepted_identifier_can_escape_a_path(text: str) -> None:
    for check in (check_name, check_tag, check_upload_id):
        if _accepted(check, text):
            assert _is_path_safe(text), (check.__name__, text)


@settings(max_examples=200)
@given(st.one_of(risky_text.map(lambda t: "sha256:" + t), st.text(alphabet=HEX + "sha256:./\0", max_size=80)))
@example("sha256:" + "/" * 64)
@example("sha256:" + ".." + "a" * 62)
def test_no_accepted_digest_can_escape_a_path(text: str) -> None:
    if _accepted(parse_digest, text):
        digest = parse_digest(text)
        assert set(digest.encoded) <= set(HEX)
        assert _is_path_safe(digest.algorithm) and _is_path_safe(digest.encoded)
