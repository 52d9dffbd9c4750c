"""Connection-level limits, seen from the wire: raw sockets against a real server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tinyreg.config import ConfigError, Settings, check_exposure, is_loopback, load_settings
from tinyreg.testing import RegistryStartError, RunningRegistry, run_registry

from tests.helpers import api_client, push_blob
from tests.processes import ServerProcess, clean_env, fd_targets, random_bytes, wait_until

MiB = 1024 * 1024


def address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rpartition(":")
    return host, int(port)


def read_until_closed(sock: socket.socket, limit: int = 64 * MiB) -> tuple[bytes, str]:
    """Everything `sock` receives until the server closes it: the bytes, and "eof" or "reset"."""
    sock.settimeout(30)  # a bound on a server that never closes, not a measure
    received = bytearray()
    while len(received) <= limit:
        try:
            chunk = sock.recv(MiB)
        except ConnectionResetError:
            return bytes(received), "reset"
        if not chunk:
            return bytes(received), "eof"
        received += chunk
    raise AssertionError(f"the server sent more than {limit} bytes")


def exchange(url: str, data: bytes) -> tuple[bytes, str]:
    """Send `data` on a new connection, then read until the server closes it."""
    with socket.create_connection(address(url), timeout=30) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse and close before it has taken everything
        return read_until_closed(sock)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# --- clients that never read ------------------------------------------------------------------


@pytest.fixture
def slow_reader_server(tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """`tinyreg serve --send-timeout 1` with a 16 MiB blob: (url, server pid, blob digest)."""
    with ServerProcess(
        ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--send-timeout", "1", "--no-access-log"],
        cwd=tmp_path,
        env=clean_env(),
    ) as server:
        url = server.wait_listening()
        with api_client(url) as client:
            digest = push_blob(client, "big/blob", random_bytes(7, 16 * MiB))
        yield url, server.pid, digest


def test_a_client_that_reads_nothing_is_disconnected_and_its_blob_file_closed(slow_reader_server: tuple[str, int, str]) -> None:
    url, pid, digest = slow_reader_server
    request = f"GET /v2/big/blob/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    baseline = fd_targets(pid)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window stays small
        sock.connect(address(url))
        sock.sendall(request)
        wait_until(lambda: any("/blobs/" in target for target in fd_targets(pid)), "serving the blob from its file")
        # Reading nothing: once the socket buffers are full the server's writes stop making progress.
        wait_until(lambda: fd_targets(pid) <= baseline, "back to (at most) the descriptors it had before the request")
        received, ending = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200")
    assert len(received) < 16 * MiB, "the response was cut short"
    assert ending in ("eof", "reset")


def test_a_client_reading_through_a_small_window_gets_the_whole_blob(slow_reader_server: tuple[str, int, str]) -> None:
    url, pid, digest = slow_reader_server
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(address(url))
        sock.sendall(f"GET /v2/big/blob/blobs/{digest} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received, ending = read_until_closed(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == random_bytes(7, 16 * MiB)
    assert ending == "eof"


# --- request heads and framing ----------------------------------------------------------------


def head_of_size(size: int) -> bytes:
    """A GET /v2/ whose head (request line, headers, blank line) is `size` bytes long."""
    start, end = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", b"\r\n"
    filler = size - len(start) - len(end) - len(b"X-Filler: \r\n")
    return start + b"X-Filler: " + b"a" * filler + b"\r\n" + end


# Heads are read 4 KiB at a time and refused once over 16 KiB while incomplete: 21 KiB never fits.
@pytest.mark.parametrize(("size", "accepted"), [(15 * 1024, True), (21 * 1024, False), (MiB, False)])
def test_a_request_head_over_the_limit_is_refused_with_431_and_the_connection_closed(
    tinyreg: RunningRegistry, size: int, accepted: bool
) -> None:
    response, ending = exchange(tinyreg.url, head_of_size(size))
    if accepted:
        assert status_of(response) == 200
    else:
        assert response == b"" and ending == "reset" or status_of(response) == 431
    assert response.count(b"HTTP/1.1") <= 1


def clte_request(order: str, then: bytes = b"") -> bytes:
    """A POST with both Content-Length and Transfer-Encoding (an empty chunked body), then `then`."""
    framing = [b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n"]
    if order == "encoding-first":
        framing.reverse()
    return b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n" + b"".join(framing) + b"\r\n0\r\n\r\n" + then


@pytest.mark.parametrize("order", ["length-first", "encoding-first"])
def test_content_length_with_transfer_encoding_is_refused_with_400_and_the_connection_closed(
    tinyreg: RunningRegistry, order: str
) -> None:
    response, ending = exchange(tinyreg.url, clte_request(order))
    assert status_of(response) == 400
    assert b'"SIZE_INVALID"' in response
    assert ending == "eof"


@pytest.mark.parametrize("order", ["length-first", "encoding-first"])
def test_a_request_sent_after_ambiguous_framing_is_never_answered(tinyreg: RunningRegistry, order: str) -> None:
    # The server may also close before answering the first one: it has said it would close,
    # and the client sent more (h11 calls that a protocol error).
    response, ending = exchange(tinyreg.url, clte_request(order, then=b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert response.count(b"HTTP/1.1 ") <= 1
    assert response == b"" or status_of(response) == 400
    assert ending in ("eof", "reset")


# --- who may be reached -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("127.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("localhost.example", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_only_loopback_addresses_and_localhost_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"host": "127.0.0.1.nip.io"}, True),
        ({"host": "127.evil.example"}, True),
        ({"host": "0.0.0.0"}, True),
        ({"host": "0.0.0.0", "auth": True, "insecure_http": True}, False),
        ({"host": "0.0.0.0", "insecure_open": True}, False),
        ({"host": "127.0.0.2"}, False),
        ({"host": "localhost"}, False),
    ],
)
def test_an_open_registry_is_refused_on_other_addresses_unless_allowed(options: dict[str, Any], refused: bool) -> None:
    settings = Settings(**options)
    if refused:
        with pytest.raises(ConfigError, match="refusing"):
            check_exposure(settings)
    else:
        check_exposure(settings)


# 192.0.2.1 (TEST-NET-1) is no address of this machine: a server that got past the check could not bind it.
def test_run_registry_refuses_an_open_registry_on_another_address() -> None:
    with pytest.raises(RegistryStartError, match="refusing to serve without --auth on 192.0.2.1"):
        with run_registry(host="192.0.2.1"):
            pass


@pytest.mark.parametrize("allowed", [{"insecure_open": True}, {"auth": True, "insecure_http": True}, {"auth": True, "tls": True}])
def test_run_registry_lets_an_allowed_registry_try_another_address(allowed: dict[str, Any]) -> None:
    with pytest.raises(RegistryStartError, match="cannot listen on 192.0.2.1"):
        with run_registry(host="192.0.2.1", **allowed):
            pass


# --- the setting ------------------------------------------------------------------------------


def test_send_timeout_comes_from_the_file_the_environment_or_a_flag(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text("send_timeout = 5\n")
    assert Settings().send_timeout == 60
    assert load_settings({}, env={}, config_file=config).send_timeout == 5
    assert load_settings({}, env={"TINYREG_SEND_TIMEOUT": "7.5"}, config_file=config).send_timeout == 7.5
    assert load_settings({"send_timeout": 2}, env={"TINYREG_SEND_TIMEOUT": "7.5"}).send_timeout == 2
    with pytest.raises(ConfigError, match="send_timeout"):
        load_settings({"send_timeout": 0}, env={})
