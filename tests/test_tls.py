"""HTTPS: own and self-signed certificates, HTTP/2, a certificate renewed while serving, and who must use it."""

from __future__ import annotations

import os
import re
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tinyreg.config import ConfigError, Settings, check_exposure, exposure_warning, load_settings
from tinyreg.selfsigned import issue_server_cert, make_ca, server_names
from tinyreg.testing import RegistryStartError, run_registry
from tinyreg.tls import CertificateReloader

from tests.helpers import digest_of, push_blob
from tests.processes import MiB, ServerProcess, clean_env, fd_targets, random_bytes, wait_until
from tests.tls_helpers import pem_of, served_certificate, write_pair


def test_an_own_certificate_is_served_over_http2_and_http11(tmp_path: Path) -> None:
    ca = make_ca("test CA")
    (tmp_path / "ca.crt").write_bytes(ca[0])
    cert, key = write_pair(tmp_path / "pair", ca, ["127.0.0.1"])
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    with run_registry(tmp_path / "data", tls_cert=str(cert), tls_key=str(key)) as registry:
        assert registry.url.startswith("https://")
        with httpx.Client(base_url=registry.url, verify=trust, http2=True) as client:
            blob = os.urandom(300_000)
            assert push_blob(client, "group/project", blob) == digest_of(blob)
            answer = client.get(f"/v2/group/project/blobs/{digest_of(blob)}")
            assert (answer.http_version, answer.status_code, answer.content) == ("HTTP/2", 200, blob)
        with httpx.Client(base_url=registry.url, verify=trust) as client:
            answer = client.get("/v2/")
            assert (answer.http_version, answer.status_code) == ("HTTP/1.1", 200)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(registry.url + "/v2/")  # not trusted by the system's CAs


def test_curl_speaks_http2_to_it(tmp_path: Path) -> None:
    with run_registry(tmp_path, tls=True) as registry:
        assert registry.ca_file is not None
        done = subprocess.run(
            ["curl", "-sS", "--http2", "--cacert", str(registry.ca_file), "-o", "/dev/null", "-w", "%{http_version} %{http_code}"]
            + [registry.url + "/v2/"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert (done.returncode, done.stdout) == (0, "2 200"), done.stderr


def test_a_certificate_replaced_while_serving_is_used_by_the_next_handshake(tmp_path: Path) -> None:
    ca = make_ca("test CA")
    cert, key = write_pair(tmp_path / "pair", ca, ["127.0.0.1"])
    first = pem_of(cert)
    with run_registry(tmp_path / "data", tls_cert=str(cert), tls_key=str(key), tls_reload_interval=0.05) as registry:
        assert served_certificate(registry.host) == first
        write_pair(tmp_path / "pair", ca, ["127.0.0.1", "localhost"])  # a renewal: new key, new certificate
        second = pem_of(cert)
        assert second != first
        wait_until(lambda: served_certificate(registry.host) == second, "serving the renewed certificate")
        with httpx.Client(verify=ssl.create_default_context(cadata=ca[0].decode())) as client:
            assert client.get(registry.url + "/v2/").status_code == 200


def test_a_half_written_pair_is_not_loaded_and_the_current_one_stays(tmp_path: Path) -> None:
    ca = make_ca("test CA")
    cert, key = write_pair(tmp_path, ca, ["127.0.0.1"])
    reloader = CertificateReloader(cert, key)
    other_key = issue_server_cert(*ca, ["127.0.0.1"])[1]
    key.write_bytes(other_key)  # the key of another certificate: the pair does not match
    assert reloader.reload_if_changed() is False
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\ntruncated")
    assert reloader.reload_if_changed() is False
    write_pair(tmp_path, ca, ["127.0.0.1"])
    assert reloader.reload_if_changed() is True
    assert reloader.reload_if_changed() is False  # unchanged since


def test_self_signed_material_is_private_and_reused_on_restart(tmp_path: Path) -> None:
    with run_registry(tmp_path, tls=True) as registry:
        assert registry.ca_file == tmp_path / "tls" / "ca.crt"
        kept = {path.name: path.read_bytes() for path in (tmp_path / "tls").iterdir()}
        with httpx.Client(verify=registry.ssl_context) as client:
            assert client.get(registry.url + "/v2/").status_code == 200
    assert sorted(kept) == ["ca.crt", "ca.key", "server.crt", "server.key"]
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    assert {stat.S_IMODE((tmp_path / "tls" / name).stat().st_mode) for name in kept} == {0o600}
    with run_registry(tmp_path, tls=True) as registry:
        assert {path.name: path.read_bytes() for path in (tmp_path / "tls").iterdir()} == kept
        assert served_certificate(registry.host) == pem_of(tmp_path / "tls" / "server.crt")


def test_self_signed_certificate_is_issued_again_for_new_names_with_the_same_ca(tmp_path: Path) -> None:
    with run_registry(tmp_path, tls=True):
        ca, cert = (tmp_path / "tls" / "ca.crt").read_bytes(), (tmp_path / "tls" / "server.crt").read_bytes()
    with run_registry(tmp_path, tls=True, external_url="https://registry.example.test") as registry:
        assert (tmp_path / "tls" / "ca.crt").read_bytes() == ca
        assert (tmp_path / "tls" / "server.crt").read_bytes() != cert
        with httpx.Client(verify=registry.ssl_context) as client:
            assert client.get(registry.url + "/v2/").status_code == 200


@pytest.mark.parametrize(
    ("host", "external_url", "expected"),
    [
        ("127.0.0.1", "", ["127.0.0.1", "::1", "localhost"]),
        ("10.1.2.3", "", ["10.1.2.3", "127.0.0.1", "::1", "localhost"]),
        ("[::1]", "https://reg.example.test:8443", ["127.0.0.1", "::1", "localhost", "reg.example.test"]),
    ],
)
def test_names_a_self_signed_certificate_covers(host: str, external_url: str, expected: list[str]) -> None:
    assert server_names(host, external_url) == expected


@pytest.mark.tinyreg(tls=True, auth=True)
def test_the_token_realm_is_https_when_served_so(tinyreg: Any) -> None:
    with httpx.Client(verify=tinyreg.ssl_context) as client:
        challenge = client.get(tinyreg.url + "/v2/").headers["WWW-Authenticate"]
    assert f'realm="https://{tinyreg.host}/token"' in challenge


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"host": "0.0.0.0", "auth": True}, True),
        ({"host": "0.0.0.0", "auth": True, "insecure_http": True}, False),
        ({"host": "0.0.0.0", "auth": True, "tls": "self-signed"}, False),
        ({"host": "0.0.0.0", "auth": True, "tls_cert": "c.pem", "tls_key": "k.pem"}, False),
        ({"host": "127.0.0.1", "auth": True}, False),
    ],
)
def test_logins_over_plain_http_beyond_loopback_need_insecure_http(options: dict[str, Any], refused: bool) -> None:
    settings = Settings(**options)
    if refused:
        with pytest.raises(ConfigError, match="--insecure-http"):
            check_exposure(settings)
    else:
        check_exposure(settings)
    assert (exposure_warning(settings) is not None) == (settings.host == "0.0.0.0" and not settings.serves_tls)


def test_run_registry_refuses_logins_over_plain_http_on_another_address() -> None:
    with pytest.raises(RegistryStartError, match="plain HTTP on 192.0.2.1"):
        with run_registry(host="192.0.2.1", auth=True):
            pass


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"tls": "letsencrypt"}, "tls must be self-signed"),
        ({"tls_cert": "c.pem"}, "tls_cert and tls_key go together"),
        ({"tls": "self-signed", "tls_cert": "c.pem", "tls_key": "k.pem"}, "makes its own certificate"),
    ],
)
def test_tls_settings_that_cannot_be_used_are_refused(flags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(flags, env={})


def test_tls_settings_come_from_the_environment_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text('tls_cert = "/etc/tinyreg/cert.pem"\ntls_key = "/etc/tinyreg/key.pem"\ntls_reload_interval = "5m"\n')
    settings = load_settings({}, env={"TINYREG_INSECURE_HTTP": "1"}, config_file=config)
    assert (settings.tls_cert, settings.tls_key, settings.tls_reload_interval) == (
        "/etc/tinyreg/cert.pem",
        "/etc/tinyreg/key.pem",
        300,
    )
    assert settings.insecure_http is True
    assert load_settings({}, env={"TINYREG_TLS": "self-signed"}).tls == "self-signed"


def test_serve_with_self_signed_tells_where_the_ca_is_and_how_to_trust_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ServerProcess(
        ["serve", "--port", "0", "--data", str(data), "--tls", "self-signed"], cwd=tmp_path, env=clean_env()
    ) as server:
        url = server.wait_listening()
        assert url.startswith("https://")
        address = url.split("://", 1)[1]
        server.wait_for(re.compile("containerd"))
        banner = server.text("stdout")
        ca_file = data / "tls" / "ca.crt"
        assert f"CA certificate {ca_file}" in banner
        assert f"/etc/docker/certs.d/{address}/ca.crt" in banner
        assert f"/etc/containers/certs.d/{address}/ca.crt" in banner
        assert f'ca = "{ca_file}"' in banner
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file))) as client:
            assert client.get(url + "/v2/").status_code == 200
        assert server.stop() == 0


def test_serve_with_auth_on_all_addresses_over_http_warns_when_allowed(tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--host", "0.0.0.0", "--auth"]
    with ServerProcess(args, cwd=tmp_path, env=clean_env()) as server:
        assert server.wait_exit() == 2
        assert "--insecure-http" in server.text("stderr")
    with ServerProcess([*args, "--insecure-http"], cwd=tmp_path, env=clean_env()) as server:
        server.wait_listening()
        server.wait_for(re.compile("passwords and tokens cross the network in clear"), "stderr")
        assert server.stop() == 0


def test_a_tls_client_that_reads_nothing_is_disconnected_and_its_files_closed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["serve", "--port", "0", "--data", str(data), "--tls", "self-signed", "--send-timeout", "1", "--no-access-log"]
    with ServerProcess(args, cwd=tmp_path, env=clean_env()) as server:
        url = server.wait_listening()
        trust = ssl.create_default_context(cafile=str(data / "tls" / "ca.crt"))
        with httpx.Client(base_url=url, verify=trust) as client:
            digest = push_blob(client, "big/blob", random_bytes(7, 16 * MiB))
        baseline = fd_targets(server.pid)
        host, port = url.split("://", 1)[1].rsplit(":", 1)
        with socket.socket() as raw:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window stays small
            raw.connect((host, int(port)))
            with trust.wrap_socket(raw, server_hostname=host) as sock:
                sock.sendall(f"GET /v2/big/blob/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                wait_until(lambda: any("/blobs/" in target for target in fd_targets(server.pid)), "serving the blob")
                # Reading nothing: the server's writes stop making progress, it gives up and closes.
                wait_until(lambda: fd_targets(server.pid) <= baseline, "back to the descriptors it had before the request")
        assert server.stop() == 0


def test_self_signed_without_the_cryptography_package_says_what_to_install(tmp_path: Path) -> None:
    program = (
        "import sys; sys.modules['cryptography'] = None; from tinyreg.cli import main; "
        f"sys.exit(main(['serve', '--port', '0', '--data', {str(tmp_path / 'data')!r}, '--tls', 'self-signed']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=clean_env(), check=False
    )
    assert done.returncode == 2
    assert "pip install 'tinyreg[tls]'" in done.stderr
