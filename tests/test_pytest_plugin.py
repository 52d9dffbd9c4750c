"""The pytest plugin, as a user's project sees it: generated test modules run by a separate pytest
process that loads tinyreg through its `pytest11` entry point."""

from __future__ import annotations

import textwrap

import pytest

from tests.processes import port_in_use, unusable_data_dir

pytest_plugins = ["pytester"]

TRIO_MODE_INI = "[pytest]\ntrio_mode = true\n"


def run_inner(pytester: pytest.Pytester, *args: str, **modules: str) -> pytest.RunResult:
    """Write `modules` (name → source) and run pytest on them in a subprocess."""
    pytester.makepyfile(**{name: textwrap.dedent(source) for name, source in modules.items()})
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", *args)


def test_each_test_gets_a_fresh_registry_that_stops_after_it(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        test_fresh="""
        import socket
        import httpx

        SEEN = []

        def test_first(tinyreg):
            assert httpx.get(f"{tinyreg.url}/v2/").status_code == 200
            tinyreg.push_image("team/app", "1.0")
            SEEN.append(tinyreg)

        def test_second(tinyreg):
            [first] = SEEN
            assert (tinyreg.url, tinyreg.data_dir) != (first.url, first.data_dir)
            assert httpx.get(f"{tinyreg.url}/v2/team/app/tags/list").status_code == 404
            address, port = first.host.split(":")
            try:
                socket.create_connection((address, int(port)), timeout=10).close()
            except ConnectionRefusedError:
                pass
            else:
                raise AssertionError("the first test's registry still listens")
    """,
    )
    result.assert_outcomes(passed=2)


ASYNC_TEST = """
    import httpx
    import pytest
    import trio

    {marker}
    async def test_async(tinyreg):
        assert trio.lowlevel.current_trio_token() is not None
        digest = tinyreg.push_image("team/app", "1.0")
        async with httpx.AsyncClient(base_url=tinyreg.url) as client:
            response = await client.get("/v2/team/app/manifests/1.0",
                                        headers={{"Accept": "application/vnd.oci.image.manifest.v1+json"}})
        assert response.status_code == 200
        assert response.headers["Docker-Content-Digest"] == digest
"""


@pytest.mark.parametrize(
    ("ini", "marker"), [(TRIO_MODE_INI, ""), ("[pytest]\n", "@pytest.mark.trio")], ids=["trio_mode", "trio-marker"]
)
def test_the_fixture_serves_async_tests_under_pytest_trio(pytester: pytest.Pytester, ini: str, marker: str) -> None:
    pytester.makeini(ini)
    result = run_inner(pytester, "-p", "trio", test_async=ASYNC_TEST.format(marker=marker))
    result.assert_outcomes(passed=1)


def test_the_marker_passes_options_to_the_fixture(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        test_marker="""
        import httpx
        import pytest

        @pytest.mark.tinyreg(auth=True)
        def test_private_project_needs_a_token(tinyreg):
            tinyreg.create_user("ci", "ci-password-1")
            tinyreg.create_project("team/app", owner="ci")
            tinyreg.push_image("team/app", "1.0")
            token = tinyreg.create_token("ci", ["read_registry"])
            url = f"{tinyreg.url}/v2/team/app/tags/list"
            assert httpx.get(url).status_code == 401
            assert httpx.get(url, auth=("ci", token)).json() == {"name": "team/app", "tags": ["1.0"]}

        def test_without_the_marker_auth_is_off(tinyreg):
            tinyreg.push_image("team/app", "1.0")
            assert httpx.get(f"{tinyreg.url}/v2/team/app/tags/list").status_code == 200
    """,
    )
    result.assert_outcomes(passed=2)


def test_the_factory_starts_registries_with_their_own_options_and_stops_them_after_the_test(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        test_factory="""
        import hashlib
        import socket
        import httpx

        STARTED = []

        def test_three_registries(tinyreg_factory):
            first, second, guarded = tinyreg_factory(), tinyreg_factory(), tinyreg_factory(auth=True)
            assert len({first.host, second.host, guarded.host}) == 3
            assert len({first.data_dir, second.data_dir, guarded.data_dir}) == 3
            assert httpx.get(f"{first.url}/v2/").status_code == 200
            assert httpx.get(f"{guarded.url}/v2/").status_code == 401
            digest = first.push_blob("team/app", b"only here")
            assert digest == "sha256:" + hashlib.sha256(b"only here").hexdigest()
            assert httpx.get(f"{first.url}/v2/team/app/blobs/{digest}").content == b"only here"
            assert httpx.get(f"{second.url}/v2/team/app/blobs/{digest}").status_code == 404
            STARTED.extend([first, second, guarded])

        def test_they_are_stopped(tinyreg_factory):
            assert len(STARTED) == 3
            for running in STARTED:
                address, port = running.host.split(":")
                try:
                    socket.create_connection((address, int(port)), timeout=10).close()
                except ConnectionRefusedError:
                    continue
                raise AssertionError(f"{running.url} still listens")
    """,
    )
    result.assert_outcomes(passed=2)


def test_the_session_registry_is_shared_by_every_test_of_the_session(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        test_session_a="""
            import httpx

            URLS = []

            def test_push(tinyreg_session):
                tinyreg_session.push_image("shared/app", "1.0")
                URLS.append(tinyreg_session.url)

            def test_same_registry(tinyreg_session):
                assert URLS == [tinyreg_session.url]
                assert httpx.get(f"{tinyreg_session.url}/v2/shared/app/tags/list").json()["tags"] == ["1.0"]
        """,
        test_session_b="""
            import httpx

            def test_another_module_sees_it_too(tinyreg_session):
                assert httpx.get(f"{tinyreg_session.url}/v2/shared/app/tags/list").json()["tags"] == ["1.0"]
        """,
    )
    result.assert_outcomes(passed=3)


def test_a_generated_test_pushes_with_the_helpers_and_pulls_over_http(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        test_pull="""
        import gzip
        import hashlib
        import json
        import httpx

        def sha256(data):
            return "sha256:" + hashlib.sha256(data).hexdigest()

        def test_push_and_pull(tinyreg):
            digest = tinyreg.push_image("team/app", "1.0", layers=2)
            with httpx.Client(base_url=tinyreg.url) as client:
                manifest = client.get("/v2/team/app/manifests/1.0",
                                      headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
                assert manifest.status_code == 200
                assert manifest.headers["Docker-Content-Digest"] == digest == sha256(manifest.content)
                document = manifest.json()
                blobs = {}
                for descriptor in [document["config"], *document["layers"]]:
                    blob = client.get(f"/v2/team/app/blobs/{descriptor['digest']}")
                    assert blob.status_code == 200 and sha256(blob.content) == descriptor["digest"]
                    blobs[descriptor["digest"]] = blob.content
                config = json.loads(blobs[document["config"]["digest"]])
                layers = [gzip.decompress(blobs[layer["digest"]]) for layer in document["layers"]]
                assert config["rootfs"]["diff_ids"] == [sha256(layer) for layer in layers]

                sbom = tinyreg.push_artifact("team/app", None, {"sbom.json": b"{}"},
                                             artifact_type="application/spdx+json", subject=digest)
                referrers = client.get(f"/v2/team/app/referrers/{digest}").json()
                assert [entry["digest"] for entry in referrers["manifests"]] == [sbom]
    """,
    )
    result.assert_outcomes(passed=1)


def failing_start(how: str, option: str) -> str:
    """A test module whose one test starts a registry with `option` through the factory or the marker."""
    tests = {
        "factory": f"def test_start(tinyreg_factory):\n    tinyreg_factory({option})\n",
        "marker": f"@pytest.mark.tinyreg({option})\ndef test_start(tinyreg):\n    pass\n",
    }
    return "import pytest\n\n" + tests[how]


HOW_AND_OUTCOME = pytest.mark.parametrize(("how", "outcome"), [("factory", {"failed": 1}), ("marker", {"errors": 1})])


@HOW_AND_OUTCOME
def test_a_port_in_use_fails_the_test_saying_address_already_in_use(
    pytester: pytest.Pytester, how: str, outcome: dict[str, int]
) -> None:
    with port_in_use() as port:
        result = run_inner(pytester, test_port=failing_start(how, f"port={port}"))
    result.assert_outcomes(**outcome)
    output = result.stdout.str()
    assert "RegistryStartError" in output
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in output


@HOW_AND_OUTCOME
def test_an_unusable_data_dir_fails_the_test_naming_the_directory(
    pytester: pytest.Pytester, how: str, outcome: dict[str, int]
) -> None:
    data_dir = unusable_data_dir(pytester.path)
    result = run_inner(pytester, test_data_dir=failing_start(how, f"data_dir={str(data_dir)!r}"))
    result.assert_outcomes(**outcome)
    assert f"cannot use data directory {data_dir}" in result.stdout.str()
