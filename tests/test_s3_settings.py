"""Where S3 blobs live and how to reach them: addresses, settings, AWS variables, path style (pure rules)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinyreg.config import ConfigError, load_settings, s3_options
from tinyreg.storage.s3.location import S3Location, S3Options, endpoint_is_ip


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "key"),
    [
        ("s3://blobs", "blobs", "", "blobs/sha256/ab/abc"),
        ("s3://blobs/", "blobs", "", "blobs/sha256/ab/abc"),
        ("s3://blobs/registry", "blobs", "registry", "registry/blobs/sha256/ab/abc"),
        ("s3://blobs/team/registry/", "blobs", "team/registry", "team/registry/blobs/sha256/ab/abc"),
    ],
)
def test_an_s3_address_names_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str, key: str) -> None:
    location = S3Location.parse(url)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location.key("blobs", "sha256", "ab", "abc") == key


@pytest.mark.parametrize("url", ["s3://", "http://blobs/x", "blobs/x", "s3://blobs/x?versioned=1"])
def test_other_addresses_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        S3Location.parse(url)


@pytest.mark.parametrize(
    ("endpoint", "setting", "path_style"),
    [
        ("http://127.0.0.1:7480", "auto", True),
        ("http://[::1]:7480", "auto", True),
        ("https://10.0.0.5", "auto", True),
        ("https://s3.example.com", "auto", False),
        ("", "auto", False),
        ("https://s3.example.com", "true", True),
        ("http://127.0.0.1:7480", "false", False),
    ],
)
def test_path_style_is_used_when_asked_or_when_the_endpoint_is_an_ip_address(
    endpoint: str, setting: str, path_style: bool
) -> None:
    assert S3Options(endpoint=endpoint, path_style=setting).uses_path_style() is path_style


@pytest.mark.parametrize(
    ("endpoint", "is_ip"),
    [("http://127.0.0.1:7480", True), ("http://[::1]", True), ("http://localhost:7480", False), ("", False)],
)
def test_an_endpoint_host_is_told_apart_as_an_ip_address(endpoint: str, is_ip: bool) -> None:
    assert endpoint_is_ip(endpoint) is is_ip


def test_settings_win_over_the_aws_variables_which_fill_what_is_empty() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://generic:1",
        "AWS_ENDPOINT_URL_S3": "http://s3-specific:2",
        "AWS_REGION": "eu-west-3",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "env-key",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
    }
    assert S3Options().resolved(env) == S3Options("http://s3-specific:2", "eu-west-3", "auto", "env-key", "env-secret")
    mine = S3Options("http://mine:3", "mine-1", "true", "my-key", "my-secret")
    assert mine.resolved(env) == mine
    fallback = S3Options().resolved({"AWS_ENDPOINT_URL": "http://generic:1", "AWS_DEFAULT_REGION": "us-west-2"})
    assert (fallback.endpoint, fallback.region) == ("http://generic:1", "us-west-2")


def test_the_s3_table_of_the_config_file_and_tinyreg_variables_give_the_s3_settings(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text(
        'blobs = "s3://registry/prod"\nblobs_redirect = false\n\n'
        '[s3]\nendpoint = "http://127.0.0.1:7480"\nregion = "here"\naccess_key = "k"\nsecret_key = "s"\n'
    )
    settings = load_settings({}, env={"TINYREG_S3_PATH_STYLE": "false"}, config_file=config)
    assert (settings.blobs, settings.blobs_redirect) == ("s3://registry/prod", False)
    assert s3_options(settings) == S3Options("http://127.0.0.1:7480", "here", "false", "k", "s")
    assert load_settings({"blobs_redirect": "on"}, env={}).blobs_redirect is True


@pytest.mark.parametrize(
    ("flags", "mentioned"),
    [({"blobs": "/var/blobs"}, "blobs"), ({"blobs": "s3://"}, "blobs"), ({"s3_path_style": "virtual"}, "s3_path_style")],
)
def test_s3_settings_that_cannot_be_used_are_config_errors(flags: dict[str, str], mentioned: str) -> None:
    with pytest.raises(ConfigError, match=mentioned):
        load_settings(flags, env={})


def test_an_unknown_key_of_the_s3_table_is_named(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text('[s3]\nbucket = "no such setting"\n')
    with pytest.raises(ConfigError, match="s3_bucket"):
        load_settings({}, env={}, config_file=config)
