"""Ed25519 JWTs and their keys, the Docker scope grammar, and the failed-login throttle (no server)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from tinyreg.access.jwt import DEFAULT_LEEWAY, KeyRing, TokenError, key_id
from tinyreg.access.scopes import MAX_SCOPES, ScopeRequest, TooManyScopes, grants_catalog, parse_scopes
from tinyreg.access.throttle import BUDGET, FREE_FAILURES, MAX_DELAY, WINDOW, Throttle, Verdict, address_key, delay_after

AUDIENCE, ISSUER = "tinyreg", "tinyreg"


def b64(data: bytes) -> str:
    """Unpadded base64url, as JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(document: dict[str, Any]) -> str:
    return b64(json.dumps(document, separators=(",", ":")).encode())


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """(header, claims, signature) of a JWT."""
    header, claims, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(claims)), unb64(signature)


def claims(now: float | None = None, **changes: Any) -> dict[str, Any]:
    """Valid registry-token claims issued at `now`, with `changes` applied."""
    now = time.time() if now is None else now
    base = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": int(now) + 300,
        "nbf": int(now) - 1,
        "iat": int(now),
        "jti": "0123abcd",
        "access": [{"type": "repository", "name": "g/p", "actions": ["pull"]}],
    }
    return {**base, **changes}


def sign_with(key: nacl.signing.SigningKey, header: dict[str, Any], body: dict[str, Any]) -> str:
    """A JWT over `header` and `body` signed by `key` (not by the ring)."""
    signing_input = f"{b64_json(header)}.{b64_json(body)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()).signature)}"


def verify(ring: KeyRing, token: str, **options: Any) -> dict[str, Any]:
    return ring.verify(token, audience=AUDIENCE, issuer=ISSUER, **options)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys", max_token_age=3600)


# -- signing and verifying -------------------------------------------------------------------


def test_a_signed_token_verifies_and_gives_back_its_claims(ring: KeyRing) -> None:
    body = claims()
    token = ring.sign(body)
    header, _, signature = parts(token)
    assert header == {"typ": "JWT", "alg": "EdDSA", "kid": ring.kid}
    assert len(signature) == 64
    assert verify(ring, token) == body


def test_a_second_ring_on_the_same_directory_verifies_the_first_rings_tokens(ring: KeyRing) -> None:
    token = ring.sign(claims())
    again = KeyRing(ring.directory, max_token_age=3600)
    assert again.kid == ring.kid
    assert verify(again, token)["sub"] == "alice"


def test_the_key_id_names_the_public_key(ring: KeyRing) -> None:
    seed = (ring.directory / f"{ring.kid}.key").read_bytes()
    assert key_id(nacl.signing.SigningKey(seed).verify_key) == ring.kid


def test_key_files_are_readable_by_their_owner_only(ring: KeyRing) -> None:
    ring.rotate()
    keys = list(ring.directory.glob("*.key"))
    assert len(keys) == 2
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert len(path.read_bytes()) == 32
    assert stat.S_IMODE(ring.directory.stat().st_mode) & 0o077 == 0


def tampered_payload(ring: KeyRing) -> str:
    header, _, signature = ring.sign(claims()).split(".")
    return f"{header}.{b64_json(claims(sub='root'))}.{signature}"


def tampered_signature(ring: KeyRing) -> str:
    header, body, signature = ring.sign(claims()).split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 0x01
    return f"{header}.{body}.{b64(bytes(raw))}"


def other_key_same_kid(ring: KeyRing) -> str:
    return sign_with(nacl.signing.SigningKey.generate(), {"typ": "JWT", "alg": "EdDSA", "kid": ring.kid}, claims())


def other_key_own_kid(ring: KeyRing) -> str:
    key = nacl.signing.SigningKey.generate()
    return sign_with(key, {"typ": "JWT", "alg": "EdDSA", "kid": key_id(key.verify_key)}, claims())


def alg_none(ring: KeyRing) -> str:
    return f"{b64_json({'typ': 'JWT', 'alg': 'none', 'kid': ring.kid})}.{b64_json(claims())}."


def alg_none_without_kid(ring: KeyRing) -> str:
    return f"{b64_json({'typ': 'JWT', 'alg': 'none'})}.{b64_json(claims())}."


def eddsa_empty_signature(ring: KeyRing) -> str:
    header, body, _ = ring.sign(claims()).split(".")
    return f"{header}.{body}."


def eddsa_short_signature(ring: KeyRing) -> str:
    header, body, signature = ring.sign(claims()).split(".")
    return f"{header}.{body}.{b64(unb64(signature)[:32])}"


def hs256_with_public_key(ring: KeyRing) -> str:
    signing_input = f"{b64_json({'typ': 'JWT', 'alg': 'HS256', 'kid': ring.kid})}.{b64_json(claims())}"
    secret = bytes(ring.signing_key.verify_key)
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def two_parts(ring: KeyRing) -> str:
    return ".".join(ring.sign(claims()).split(".")[:2])


def not_json(ring: KeyRing) -> str:
    header, _, signature = ring.sign(claims()).split(".")
    return f"{header}.{b64(b'not json')}.{signature}"


FORGERIES = {
    "tampered payload": tampered_payload,
    "tampered signature": tampered_signature,
    "another key, same kid": other_key_same_kid,
    "another key, its own kid": other_key_own_kid,
    "alg none": alg_none,
    "alg none without kid": alg_none_without_kid,
    "EdDSA, empty signature": eddsa_empty_signature,
    "EdDSA, truncated signature": eddsa_short_signature,
    "HS256 keyed with the public key": hs256_with_public_key,
    "two parts": two_parts,
    "payload not JSON": not_json,
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_or_altered_token_is_refused_with_a_token_error(ring: KeyRing, forge: Any) -> None:
    with pytest.raises(TokenError):
        verify(ring, forge(ring))


OUT_OF_VALIDITY = {
    "expired-beyond-leeway": (lambda now: claims(now, exp=int(now - DEFAULT_LEEWAY - 5)), "expired"),
    "nbf-in-the-future": (lambda now: claims(now, nbf=int(now + DEFAULT_LEEWAY + 60)), "not yet valid"),
    "wrong-aud": (lambda now: claims(now, aud="another-registry"), "audience"),
    "aud-list-without-us": (lambda now: claims(now, aud=["a", "b"]), "audience"),
    "wrong-iss": (lambda now: claims(now, iss="someone-else"), "issuer"),
    "no-exp": (lambda now: {k: v for k, v in claims(now).items() if k != "exp"}, "expired"),
    "far-future-exp": (lambda now: claims(now, exp=int(now) + 10 * 365 * 86400), "lives longer"),
    "one-second-too-long": (lambda now: claims(now, exp=int(now) + 3601), "lives longer"),
    "no-iat": (lambda now: {k: v for k, v in claims(now).items() if k != "iat"}, "lives longer"),
    "iat-in-the-future": (lambda now: claims(now, iat=int(now) + 3000, exp=int(now) + 3300), "issued in the future"),
}


@pytest.mark.parametrize(("make", "reason"), OUT_OF_VALIDITY.values(), ids=OUT_OF_VALIDITY.keys())
def test_a_genuine_token_outside_its_validity_is_refused(ring: KeyRing, make: Any, reason: str) -> None:
    now = time.time()
    with pytest.raises(TokenError, match=reason):
        verify(ring, ring.sign(make(now)), now=now)


def test_expiry_and_not_before_allow_the_leeway(ring: KeyRing) -> None:
    now = time.time()
    token = ring.sign(claims(now, exp=int(now) - 5, nbf=int(now) + 5))
    assert verify(ring, token, now=now)["sub"] == "alice"
    with pytest.raises(TokenError, match="expired"):
        verify(ring, token, now=now + DEFAULT_LEEWAY)


def test_an_audience_list_that_names_us_is_accepted(ring: KeyRing) -> None:
    assert verify(ring, ring.sign(claims(aud=["other", AUDIENCE])))["aud"] == ["other", AUDIENCE]


# -- key rotation ----------------------------------------------------------------------------


def test_after_rotation_new_tokens_use_the_new_key_and_old_tokens_still_verify(ring: KeyRing) -> None:
    old_kid, old_token = ring.kid, ring.sign(claims())
    new_kid = ring.rotate()
    assert new_kid != old_kid
    assert (ring.directory / "active").read_text().strip() == new_kid
    new_token = ring.sign(claims())
    assert parts(new_token)[0]["kid"] == new_kid
    assert verify(ring, old_token)["sub"] == "alice"
    assert verify(ring, new_token)["sub"] == "alice"


def test_a_ring_reloaded_after_rotation_signs_with_the_new_key_and_verifies_old_tokens(ring: KeyRing) -> None:
    old_token = ring.sign(claims())
    new_kid = KeyRing(ring.directory, max_token_age=3600).rotate()
    fresh = KeyRing(ring.directory, max_token_age=3600)
    assert parts(fresh.sign(claims()))[0]["kid"] == new_kid
    assert verify(fresh, old_token)["sub"] == "alice"
    assert verify(ring, fresh.sign(claims()))["sub"] == "alice"


def test_a_key_retired_longer_than_the_longest_token_life_is_dropped(ring: KeyRing) -> None:
    old_kid, old_token = ring.kid, ring.sign(claims())
    ring.rotate()
    retired_at = time.time() - ring.max_token_age - DEFAULT_LEEWAY - 60
    (ring.directory / f"{old_kid}.retired").write_text(str(retired_at))
    fresh = KeyRing(ring.directory, max_token_age=ring.max_token_age)
    assert old_kid not in fresh.verify_keys
    with pytest.raises(TokenError, match="unknown key"):
        verify(fresh, old_token)


def test_a_running_ring_stops_trusting_a_retired_key_once_its_tokens_can_no_longer_be_valid(tmp_path: Path) -> None:
    clock = [1_000_000.0]
    ring = KeyRing(tmp_path / "keys", max_token_age=3600, clock=lambda: clock[0])
    old_token = ring.sign(claims(clock[0]))
    KeyRing(ring.directory, max_token_age=3600, clock=lambda: clock[0]).rotate()  # as `tinyreg keys rotate` does
    assert verify(ring, old_token, leeway=10**9)["sub"] == "alice"
    clock[0] += 3600 + DEFAULT_LEEWAY + 1  # no rotation since, no reload: only time passes
    with pytest.raises(TokenError, match="retired"):
        verify(ring, old_token, leeway=10**9)
    assert verify(ring, ring.sign(claims(clock[0])))["sub"] == "alice"


# -- the scope grammar -----------------------------------------------------------------------

SCOPES = [
    (["repository:group/project:pull"], [ScopeRequest("repository", "group/project", ("pull",))]),
    (["repository:group/project:pull,push"], [ScopeRequest("repository", "group/project", ("pull", "push"))]),
    (
        ["repository:a/b:pull repository:c/d:push"],
        [ScopeRequest("repository", "a/b", ("pull",)), ScopeRequest("repository", "c/d", ("push",))],
    ),
    (
        ["repository:a/b:pull", "repository:c/d:delete"],
        [ScopeRequest("repository", "a/b", ("pull",)), ScopeRequest("repository", "c/d", ("delete",))],
    ),
    (["repository:a/b:*"], [ScopeRequest("repository", "a/b", ("*",))]),
    (["repository(plugin):a/b:pull"], [ScopeRequest("repository", "a/b", ("pull",))]),
    (["registry:catalog:*"], [ScopeRequest("registry", "catalog", ("*",))]),
    (["repository:a/b:"], [ScopeRequest("repository", "a/b", ())]),
    (["repository:a/b:pull,,push"], [ScopeRequest("repository", "a/b", ("pull", "push"))]),
    (["repository:Upper/Case:pull"], []),
    (["repository:a/b"], []),
    (["repository::pull"], []),
    (["pull"], []),
    ([""], []),
    ([], []),
    (
        ["repository:a/b:pull   garbage  repository:c/d:push"],
        [ScopeRequest("repository", "a/b", ("pull",)), ScopeRequest("repository", "c/d", ("push",))],
    ),
    (["repository:a/b:pull repository:a/b:pull", "repository:a/b:pull"], [ScopeRequest("repository", "a/b", ("pull",))]),
    (["repository:a/b:pull " * 10_000], [ScopeRequest("repository", "a/b", ("pull",))]),
    (
        [" ".join(f"repository:r/n{i}:pull" for i in range(MAX_SCOPES))],
        [ScopeRequest("repository", f"r/n{i}", ("pull",)) for i in range(MAX_SCOPES)],
    ),
]


@pytest.mark.parametrize(("values", "expected"), SCOPES, ids=[" | ".join(v)[:60] or "none" for v, _ in SCOPES])
def test_scope_parameters_parse_per_the_docker_grammar(values: list[str], expected: list[ScopeRequest]) -> None:
    assert parse_scopes(values) == expected


def test_more_distinct_scopes_than_the_limit_are_refused() -> None:
    with pytest.raises(TooManyScopes):
        parse_scopes([f"repository:r/n{i}:pull" for i in range(MAX_SCOPES + 1)])


def test_a_scope_prints_back_in_the_grammar() -> None:
    assert str(ScopeRequest("repository", "a/b", ("pull", "push"))) == "repository:a/b:pull,push"


# -- the failed-login throttle ---------------------------------------------------------------

ALICE_HERE = ["user:alice", "addr:10.0.0.1"]


def attempts(throttle: Throttle, keys: list[str], times: int, now: float = 1000.0) -> list[Verdict]:
    """`times` attempts at the same moment, none of which succeeds."""
    return [throttle.attempt(keys, now) for _ in range(times)]


def test_attempts_at_once_get_through_free_then_delayed_then_refused() -> None:
    verdicts = attempts(Throttle(), ALICE_HERE, BUDGET + 5)
    assert [v.delay for v in verdicts[:FREE_FAILURES]] == [0.0] * FREE_FAILURES
    delayed = [v.delay for v in verdicts[FREE_FAILURES:BUDGET]]
    assert delayed[0] > 0 and delayed[1] == 2 * delayed[0] and max(delayed) == MAX_DELAY
    assert all(later >= earlier for earlier, later in zip(delayed, delayed[1:], strict=False))
    assert all(not v.refused_for for v in verdicts[:BUDGET])
    assert [v.refused_for for v in verdicts[BUDGET:]] == [WINDOW] * 5


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0.0), (FREE_FAILURES - 1, 0.0), (FREE_FAILURES, 0.25), (FREE_FAILURES + 2, 1.0), (99, MAX_DELAY)]
)
def test_the_delay_doubles_past_the_free_failures_up_to_the_cap(failures: int, delay: float) -> None:
    assert delay_after(failures) == delay


def test_a_refusal_says_when_the_window_of_the_last_counted_failure_ends_and_counts_nothing() -> None:
    throttle = Throttle()
    attempts(throttle, ALICE_HERE, BUDGET, now=1000.0)
    refused = throttle.attempt(ALICE_HERE, 1100.0)
    assert refused.refused_for == WINDOW - 100.0
    assert throttle.count("user:alice", 1100.0) == BUDGET
    assert throttle.attempt(ALICE_HERE, 1000.0 + WINDOW + 1) == Verdict()


@pytest.mark.parametrize(
    ("keys", "refused"),
    [
        (["user:alice", "addr:10.0.0.2"], True),
        (["user:bob", "addr:10.0.0.1"], True),
        (["user:bob", "addr:10.0.0.2"], False),
    ],
    ids=["same-user-other-address", "other-user-same-address", "unrelated"],
)
def test_failures_count_per_user_and_per_address(keys: list[str], refused: bool) -> None:
    throttle = Throttle()
    attempts(throttle, ALICE_HERE, BUDGET)
    assert bool(throttle.attempt(keys, 1000.0).refused_for) is refused


def test_throttling_is_reported_once_per_key_and_episode() -> None:
    throttle = Throttle()
    verdicts = attempts(throttle, ALICE_HERE, BUDGET + 3)
    reported = [v.throttling_starts for v in verdicts]
    assert reported[FREE_FAILURES] == tuple(ALICE_HERE)
    assert [r for i, r in enumerate(reported) if i != FREE_FAILURES] == [()] * (BUDGET + 2)
    assert throttle.attempt(["user:bob", "addr:10.0.0.1"], 1000.0).throttling_starts == ()
    throttle.succeeded(ALICE_HERE)  # a new episode starts after a success
    assert attempts(throttle, ALICE_HERE, FREE_FAILURES + 1)[-1].throttling_starts == tuple(ALICE_HERE)


def test_a_success_resets_the_count() -> None:
    throttle = Throttle()
    attempts(throttle, ALICE_HERE, BUDGET)
    assert throttle.attempt(ALICE_HERE, 1000.0).refused_for
    throttle.succeeded(ALICE_HERE)
    assert [v.delay for v in attempts(throttle, ALICE_HERE, FREE_FAILURES)] == [0.0] * FREE_FAILURES


def test_old_failures_are_forgotten_after_the_window() -> None:
    throttle = Throttle()
    attempts(throttle, ALICE_HERE, BUDGET, now=1000.0)
    later = 1000.0 + WINDOW + 1
    assert throttle.count("user:alice", later) == 0
    assert throttle.attempt(ALICE_HERE, later) == Verdict()
    assert throttle.count("user:alice", later) == 1


@pytest.mark.parametrize(
    ("access", "lists"),
    [
        (None, False),
        ([], True),
        ([{"type": "registry", "name": "catalog", "actions": ["*"]}], True),
        ([{"type": "registry", "name": "catalog", "actions": []}], False),
        ([{"type": "repository", "name": "a/b", "actions": ["pull"]}], False),
        (
            [
                {"type": "repository", "name": "a/b", "actions": ["pull"]},
                {"type": "registry", "name": "catalog", "actions": ["*"]},
            ],
            True,
        ),
        (["registry:catalog:*"], False),
    ],
)
def test_which_access_claims_list_the_catalog(access: list[Any] | None, lists: bool) -> None:
    assert grants_catalog(access) is lists


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "addr:192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "addr:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "addr:2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "addr:2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "addr:192.0.2.7"),
        ("-", "addr:-"),
    ],
)
def test_ipv6_clients_are_throttled_per_64_network(address: str, key: str) -> None:
    assert address_key(address) == key
