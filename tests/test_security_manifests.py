"""What a pusher must not be able to do with a manifest: pass off other bytes under a digest,
have a page served from the registry, or break a listing with a number that is not ASCII."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tinyreg.http.asgi import Request
from tinyreg.registry.core import Registry
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_V1,
    DOCKER_V1_SIGNED,
    OCI_INDEX,
    OCI_MANIFEST,
    digested_bytes,
    is_manifest_media_type,
    parse_manifest,
    shares_bytes,
)
from tinyreg.registry.numbers import MAX_DIGITS, parse_count
from tinyreg.testing import RunningRegistry

from tests.auth_helpers import AuthWorld
from tests.helpers import assert_error, digest_of, make_blob, push_blob, raises_registry_error, raw_request
from tests.manifest_builders import (
    b64url,
    encode,
    image_manifest,
    jws_signature,
    libtrust_sign,
    push_manifest,
    put_manifest,
    schema1_payload,
)

VICTIM, ATTACKER = "victim/app", "attacker/box"
LAYER = digest_of(b"layer")
EVIL = digest_of(b"evil")
PAYLOAD = schema1_payload(VICTIM, [LAYER])
CUT = len(PAYLOAD) - 2  # libtrust cuts before the final "\n}" of an indented document
SIGNATURES = json.dumps([jws_signature(CUT, b"\n}")]).encode()
EVIL_MEMBER = b',"fsLayers":[{"blobSum":"' + EVIL.encode() + b'"}]'  # a later duplicate key wins
LAST_MEMBER = PAYLOAD.rindex(b',\n   "history"')


#: Bodies whose header rebuilds PAYLOAD (or tries to) without being PAYLOAD plus its signatures.
FORGERIES = {
    "member-after-the-cut": PAYLOAD[:CUT] + EVIL_MEMBER + b',"signatures":' + SIGNATURES + b"}",
    "member-after-the-signatures": PAYLOAD[:CUT] + b',"signatures":' + SIGNATURES + b',"fsLayers":[]}',
    "tail-carries-a-member": PAYLOAD[:LAST_MEMBER]
    + b',"signatures":'
    + json.dumps([jws_signature(LAST_MEMBER, PAYLOAD[LAST_MEMBER:])]).encode()
    + b"}",
    "cut-after-whitespace": PAYLOAD[: CUT + 1] + b',"signatures":' + json.dumps([jws_signature(CUT + 1, b"}")]).encode() + b"}",
    "signatures-disagree": PAYLOAD[:CUT]
    + b',"signatures":'
    + json.dumps([jws_signature(CUT, b"\n}"), jws_signature(CUT - 1, b"]\n}")]).encode()
    + b"}",
    "payload-holds-signatures": libtrust_sign(schema1_payload(VICTIM, [LAYER], signatures=[])),
    "escaped-signatures-key": PAYLOAD[:CUT] + b',"signatur\\u0065s":' + SIGNATURES + b"}",
    "no-signatures": PAYLOAD[:CUT] + b',"signatures":[]}',
    "length-past-the-body": PAYLOAD[:CUT] + b',"signatures":' + json.dumps([jws_signature(10**6, b"}")]).encode() + b"}",
    "length-not-a-number": PAYLOAD[:CUT] + b',"signatures":' + json.dumps([jws_signature(True, b"\n}")]).encode() + b"}",
    "protected-not-json": PAYLOAD[:CUT] + b',"signatures":[{"protected":"' + b64url(b"{oops").encode() + b'"}]}',
    "protected-not-base64": PAYLOAD[:CUT] + b',"signatures":[{"protected":"***"}]}',
}


@pytest.mark.parametrize("body", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_signed_schema1_body_that_is_not_its_payload_plus_signatures_is_refused(body: bytes) -> None:
    json.loads(body)  # each is a JSON document: only its signature layout is wrong
    with raises_registry_error("MANIFEST_INVALID"):
        digested_bytes(body, DOCKER_V1_SIGNED)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(PAYLOAD, id="indented"),
        pytest.param(PAYLOAD + b"\n", id="trailing-newline"),
        pytest.param(json.dumps(json.loads(PAYLOAD)).encode(), id="compact"),
        pytest.param(json.dumps(json.loads(PAYLOAD), separators=(",", ":")).encode(), id="no-spaces"),
    ],
)
@pytest.mark.parametrize("key_ids", [("A",), ("A", "B")], ids=["one-signature", "two-signatures"])
def test_a_libtrust_signed_schema1_manifest_digests_over_its_payload(payload: bytes, key_ids: tuple[str, ...]) -> None:
    assert digested_bytes(libtrust_sign(payload, key_ids), DOCKER_V1_SIGNED) == payload


@settings(max_examples=300)
@example(CUT, ',"fsLayers":[]')
@example(CUT, ',"fsLayers":[],"signatures":[]')
@given(st.integers(0, len(libtrust_sign(PAYLOAD))), st.text(alphabet=' ,:"{}[]\n\\abcsignature0123', min_size=1, max_size=24))
def test_whatever_is_spliced_into_a_signed_body_it_digests_as_nothing_but_its_own_document(position: int, inserted: str) -> None:
    """The security property itself: a payload the digest is taken over is the body minus its signatures."""
    genuine = libtrust_sign(PAYLOAD)
    body = genuine[:position] + inserted.encode() + genuine[position:]
    try:
        doc = json.loads(body)
        payload = digested_bytes(body, DOCKER_V1_SIGNED)
    except (ValueError, RegistryError):
        return
    assert {key: value for key, value in doc.items() if key != "signatures"} == json.loads(payload)


@pytest.mark.parametrize(
    ("media_type", "shared"),
    [(OCI_MANIFEST, True), (OCI_INDEX, True), (DOCKER_MANIFEST, True), (DOCKER_V1, True), (DOCKER_V1_SIGNED, False)],
)
def test_only_manifests_whose_digest_covers_every_byte_share_one_stored_copy(media_type: str, shared: bool) -> None:
    assert shares_bytes(media_type) is shared


def test_a_forged_schema1_manifest_cannot_poison_a_digest_another_repository_pushes_later(api: httpx.Client) -> None:
    push_blob(api, ATTACKER, b"evil")
    victim_layer = push_blob(api, VICTIM, b"layer")
    genuine = libtrust_sign(PAYLOAD)
    digest = digest_of(PAYLOAD)

    forgery = put_manifest(api, ATTACKER, digest, FORGERIES["member-after-the-cut"], DOCKER_V1_SIGNED)
    pushed = put_manifest(api, VICTIM, "v1", genuine, DOCKER_V1_SIGNED)

    assert_error(forgery, 400, "MANIFEST_INVALID")
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["Docker-Content-Digest"] == digest
    for reference in ("v1", digest):
        served = api.get(f"/v2/{VICTIM}/manifests/{reference}")
        assert served.content == genuine
        assert served.json()["fsLayers"] == [{"blobSum": victim_layer}]
    assert api.get(f"/v2/{VICTIM}/blobs/{digest}").content == genuine


def test_each_repository_serves_the_schema1_signatures_it_was_pushed(api: httpx.Client) -> None:
    """The digest leaves signatures out: bytes signed by someone else must not replace a repository's own."""
    bodies = {}
    for repo, key in ((VICTIM, "VICTIM:KEY"), (ATTACKER, "OTHER:KEY")):
        push_blob(api, repo, b"layer")
        bodies[repo] = libtrust_sign(PAYLOAD, (key,))
        response = put_manifest(api, repo, digest_of(PAYLOAD), bodies[repo], DOCKER_V1_SIGNED)
        assert response.status_code == 201, response.text
    resigned = libtrust_sign(PAYLOAD, ("VICTIM:NEWKEY",))
    assert put_manifest(api, VICTIM, "v2", resigned, DOCKER_V1_SIGNED).status_code == 201
    bodies[VICTIM] = resigned

    for repo, body in bodies.items():
        for reference in ("v2", digest_of(PAYLOAD)) if repo == VICTIM else (digest_of(PAYLOAD),):
            served = api.get(f"/v2/{repo}/manifests/{reference}")
            assert (served.status_code, served.content) == (200, body)
            assert served.headers["Docker-Content-Digest"] == digest_of(PAYLOAD)
        assert api.get(f"/v2/{repo}/blobs/{digest_of(PAYLOAD)}").content == body


def test_other_bytes_already_stored_under_a_digest_are_neither_replaced_nor_served(tmp_path: Path) -> None:
    """Were two manifests ever to share a digest, the second is refused, not mixed up with the first."""
    registry = Registry(tmp_path)
    try:
        config = registry.blobs.put_bytes(VICTIM, b"{}")
        body = encode(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "a/b", "digest": str(config), "size": 2},
                "layers": [],
            }
        )
        digest = digest_of(body)
        env = registry.meta.env_meta  # type: ignore[attr-defined]  # below the interface: bytes no push can store
        env.write(lambda txn: txn.put(digest.encode(), b"other bytes", db=env.db["manifest_data"]))

        with raises_registry_error("MANIFEST_INVALID"):
            registry.manifests.put(VICTIM, "v1", body, OCI_MANIFEST)

        with raises_registry_error("MANIFEST_UNKNOWN"):
            registry.manifests.get(VICTIM, digest)
    finally:
        registry.close()


PAGE_TYPES = [
    "text/html",
    "text/html; charset=utf-8",
    "image/svg+xml",
    "application/xhtml+xml",
    "text/xml",
    "application/xml",
    "*/*",
]


@pytest.mark.parametrize(
    ("media_type", "accepted"),
    [
        *(
            (media_type, True)
            for media_type in (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, DOCKER_V1, DOCKER_V1_SIGNED)
        ),
        ("application/vnd.example.thing.v1+json", True),
        ("application/json", True),
        ("APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON", True),
        *((media_type.split(";")[0], False) for media_type in PAGE_TYPES),
        ("application/vnd.example+json\r\nset-cookie: a=b", False),
        ("application/x-www-form-urlencoded", False),
        ("application/jsonp", False),
        ("application/", False),
        ("", False),
    ],
)
def test_a_manifest_media_type_is_an_application_json_type(media_type: str, accepted: bool) -> None:
    assert is_manifest_media_type(media_type) is accepted


@pytest.mark.parametrize("media_type", ["text/html", "image/svg+xml"])
def test_a_body_media_type_that_is_a_page_is_refused_too(media_type: str) -> None:
    with raises_registry_error("MANIFEST_INVALID"):
        parse_manifest(json.dumps({"schemaVersion": 2, "mediaType": media_type, "config": {}}).encode(), "application/json")


@pytest.mark.parametrize("media_type", PAGE_TYPES)
def test_a_manifest_pushed_as_a_page_is_refused(api: httpx.Client, media_type: str) -> None:
    document = image_manifest(api, VICTIM)
    del document["mediaType"]

    response = put_manifest(api, VICTIM, "page", document, media_type)

    error = assert_error(response, 400, "MANIFEST_INVALID")
    assert OCI_MANIFEST in error["message"] and "application/...+json" in error["message"]
    assert_error(api.get(f"/v2/{VICTIM}/manifests/page"), 404, "MANIFEST_UNKNOWN")


SANDBOX_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
}


def assert_sandboxed(response: httpx.Response) -> None:
    found = {name: response.headers.get(name) for name in SANDBOX_HEADERS}
    assert found == SANDBOX_HEADERS, f"{response.request.method} {response.request.url} -> {response.status_code}"


def test_every_v2_response_tells_browsers_not_to_sniff_or_run_it(api: httpx.Client, tinyreg: RunningRegistry) -> None:
    blob = make_blob("sandboxed", 100)
    pushed = push_manifest(api, VICTIM, "v1", image_manifest(api, VICTIM), OCI_MANIFEST)
    push_blob(api, VICTIM, blob)
    responses = [
        api.get("/v2/"),
        api.get(f"/v2/{VICTIM}/manifests/v1"),
        api.head(f"/v2/{VICTIM}/manifests/{pushed.digest}"),
        api.get(f"/v2/{VICTIM}/manifests/absent"),
        api.get(f"/v2/{VICTIM}/blobs/{digest_of(blob)}"),
        api.get(f"/v2/{VICTIM}/blobs/{digest_of(blob)}", headers={"Range": "bytes=0-9"}),
        api.get(f"/v2/{VICTIM}/tags/list"),
        api.get("/v2/_catalog"),
        api.get(f"/v2/{VICTIM}/referrers/{pushed.digest}"),
        api.post(f"/v2/{VICTIM}/blobs/uploads/"),
        api.delete(f"/v2/{VICTIM}/manifests/v1"),
        raw_request(tinyreg.url, "GET", "/v2/nothing/here/at/all"),
    ]
    assert {response.status_code for response in responses} >= {200, 202, 206, 404}
    for response in responses:
        assert_sandboxed(response)


def test_a_manifest_read_as_a_blob_is_an_octet_stream(api: httpx.Client) -> None:
    pushed = push_manifest(api, VICTIM, "v1", image_manifest(api, VICTIM), OCI_MANIFEST)
    for response in (api.get(f"/v2/{VICTIM}/blobs/{pushed.digest}"), api.head(f"/v2/{VICTIM}/blobs/{pushed.digest}")):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert_sandboxed(response)


def test_challenges_and_tokens_are_sandboxed_too(auth_world: AuthWorld) -> None:
    challenge = httpx.get(f"{auth_world.url}/v2/", timeout=60)
    token = httpx.get(f"{auth_world.url}/token", params={"service": "tinyreg"}, timeout=60)
    refused = httpx.get(f"{auth_world.url}/token", headers={"Authorization": "Basic bm9ib2R5Om5vcGU="}, timeout=60)
    assert (challenge.status_code, token.status_code, refused.status_code) == (401, 200, 401)
    for response in (challenge, token, refused):
        assert_sandboxed(response)


@pytest.mark.parametrize("n", ["²", "٣", "¹²", "1²", "-1", "+1", "1_0", " 1", "0x10"])
@pytest.mark.parametrize("listing", ["/v2/_catalog", f"/v2/{VICTIM}/tags/list"])
def test_a_page_size_that_is_not_ascii_digits_is_pagination_number_invalid(api: httpx.Client, listing: str, n: str) -> None:
    push_blob(api, VICTIM, b"so the repository exists")
    assert_error(api.get(listing, params={"n": n}), 400, "PAGINATION_NUMBER_INVALID")


@pytest.mark.parametrize("listing", ["/v2/_catalog", f"/v2/{VICTIM}/tags/list"])
def test_a_page_size_of_thousands_of_digits_is_capped_not_a_crash(api: httpx.Client, listing: str) -> None:
    push_manifest(api, VICTIM, "v1", image_manifest(api, VICTIM), OCI_MANIFEST)
    response = api.get(listing, params={"n": "9" * 5000})
    assert response.status_code == 200, response.text
    assert response.json().get("tags", response.json().get("repositories")) in (["v1"], [VICTIM])


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("12", 12), (" 12 ", 12), ("007", 7), ("9" * 19, int("9" * 19)), (None, None)],
)
def test_a_content_length_is_ascii_digits(value: str | None, expected: int | None) -> None:
    assert request_with_length(value).content_length == expected


@pytest.mark.parametrize(
    "value",
    [
        "²",
        "¹²",
        "٣",
        "1²",
        "",
        "-1",
        "+1",
        "1_0",
        "0x10",
        pytest.param("1" * 20, id="20-digits"),
        pytest.param("1" * 5000, id="5000-digits"),
    ],
)
def test_any_other_content_length_is_size_invalid(value: str) -> None:
    with raises_registry_error("SIZE_INVALID"):
        request_with_length(value).content_length  # noqa: B018


def request_with_length(value: str | None) -> Request:
    """A request as the ASGI server hands it over (HTTP/2 servers do not all check Content-Length)."""
    # Header bytes reach the application as latin-1 text: "²" is the byte 0xB2.
    encoded = None if value is None else value.encode("latin-1" if max(map(ord, value), default=0) < 256 else "utf-8")
    headers = [] if encoded is None else [(b"content-length", encoded)]
    return Request({"type": "http", "method": "PUT", "path": "/v2/", "headers": headers}, _no_body)


async def _no_body() -> dict[str, object]:
    return {"type": "http.request", "body": b""}


@pytest.mark.parametrize("length", [pytest.param("1" * 30, id="30-digits"), pytest.param("1" * 5000, id="5000-digits")])
def test_a_content_length_of_many_digits_is_refused_not_a_crash(tinyreg: RunningRegistry, length: str) -> None:
    address = httpx.URL(tinyreg.url)
    connection = http.client.HTTPConnection(address.host, address.port, timeout=60)
    try:
        connection.request("PUT", f"/v2/{VICTIM}/manifests/v1", body=b"{}", headers={"Content-Length": length})
        status = connection.getresponse().status
    finally:
        connection.close()
    assert 400 <= status < 500


@pytest.mark.parametrize("header", ["Range", "Content-Range"])
def test_a_range_of_thousands_of_digits_is_answered_not_a_crash(api: httpx.Client, header: str) -> None:
    blob = make_blob("ranged", 100)
    push_blob(api, VICTIM, blob)
    huge = "9" * 5000
    if header == "Range":
        assert api.get(f"/v2/{VICTIM}/blobs/{digest_of(blob)}", headers={"Range": f"bytes={huge}-"}).status_code == 416
        assert api.get(f"/v2/{VICTIM}/blobs/{digest_of(blob)}", headers={"Range": f"bytes=0-{huge}"}).status_code == 206
        return
    location = api.post(f"/v2/{VICTIM}/blobs/uploads/").headers["Location"]
    response = api.patch(
        location, content=b"x", headers={"Content-Range": f"{huge}-{huge}", "Content-Type": "application/octet-stream"}
    )
    assert_error(response, 416, "RANGE_INVALID")


@settings(max_examples=300)
@given(st.text(alphabet="0123456789²³¹٣ +-_x", max_size=30) | st.from_regex(r"[0-9]{1,5000}", fullmatch=True))
def test_a_count_is_ascii_digits_read_exactly(text: str) -> None:
    ascii_digits = text.isascii() and text.isdigit()
    short = ascii_digits and len(text.lstrip("0")) <= MAX_DIGITS
    assert parse_count(text) == (int(text) if short else None)
    assert parse_count(text, cap=100) == ((min(int(text), 100) if short else 100) if ascii_digits else None)
