"""The usage arithmetic and size-limit rules, table-tested (tinyreg.registry.usage is pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinyreg.config import ConfigError, Settings, load_settings
from tinyreg.registry import usage
from tinyreg.storage.interfaces import UsageRef

GB = 10**9


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10GB", 10 * GB),
        ("10 gb", 10 * GB),
        ("5GiB", 5 * 2**30),
        ("500MB", 500 * 10**6),
        ("1.5GB", 1_500_000_000),
        ("2KiB", 2048),
        ("1048576", 1048576),
        ("12B", 12),
        ("1TB", 10**12),
        ("0", 0),
        ("none", None),
        (" None ", None),
        ("unlimited", None),
    ],
)
def test_sizes_people_write_are_bytes(text: str, size: int | None) -> None:
    assert usage.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "10XB", "-1GB", "1e9", "10 G B", "ten"])
def test_what_is_not_a_size_says_what_is(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size such as"):
        usage.parse_size(text)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 KB"),
        (1536, "1.5 KB"),
        (512 * 10**6, "512 MB"),
        (9_800_000_000, "9.8 GB"),
        (10 * GB, "10 GB"),
        (999_960_000, "1 GB"),
        (123_456_789, "123 MB"),
        (3 * 10**15, "3000 TB"),
    ],
)
def test_sizes_are_shown_in_decimal_units(size: int, text: str) -> None:
    assert usage.human_size(size) == text


A, B, C, M = "sha256:a", "sha256:b", "sha256:c", "sha256:m"


@pytest.mark.parametrize(
    ("current", "contribution", "step", "changes", "delta"),
    [
        # a first manifest: every digest is new
        ({}, {A: 10, M: 1}, 1, {A: UsageRef(1, 10), M: UsageRef(1, 1)}, 11),
        # a second image sharing a layer: only what is new counts
        ({A: UsageRef(1, 10)}, {A: 10, B: 5, M: 1}, 1, {A: UsageRef(2, 10), B: UsageRef(1, 5), M: UsageRef(1, 1)}, 6),
        # removing one of two users of a layer keeps it
        ({A: UsageRef(2, 10), M: UsageRef(1, 1)}, {A: 0, M: 0}, -1, {A: UsageRef(1, 10), M: None}, -1),
        # removing the last user frees the size counted when it was added
        ({A: UsageRef(1, 10)}, {A: 999}, -1, {A: None}, -10),
        # a digest that was never counted is not taken away
        ({}, {C: 7}, -1, {C: None}, 0),
        # an empty blob counts but adds no bytes
        ({}, {C: 0}, 1, {C: UsageRef(1, 0)}, 0),
    ],
)
def test_a_manifest_adds_and_removes_what_its_counts_say(
    current: dict[str, UsageRef], contribution: dict[str, int], step: int, changes: dict[str, UsageRef | None], delta: int
) -> None:
    assert usage.apply_manifest(current, contribution, step) == (changes, delta)


def test_a_manifest_contributes_its_own_bytes_and_its_blobs() -> None:
    assert usage.manifest_contribution(M, 3, {A: 10, B: 5}) == {A: 10, B: 5, M: 3}


@pytest.mark.parametrize(
    ("row", "blobs"),
    [
        ({"refs": [A, B, C], "children": 1}, [A, B]),
        ({"refs": [A, B], "children": 0}, [A, B]),
        ({"refs": [A, B], "children": 2}, []),
        ({"refs": [A, B]}, None),  # an old row: the caller parses the bytes
    ],
)
def test_the_blobs_of_a_row_are_its_refs_before_the_children(row: dict[str, object], blobs: list[str] | None) -> None:
    assert usage.blob_refs(row) == blobs


@pytest.mark.parametrize(
    ("row", "default", "limit"),
    [
        (None, None, None),
        ({}, 10, 10),
        ({"size_limit": 5}, 10, 5),
        ({"size_limit": None}, 10, None),  # its own `none` beats the default
        ({"size_limit": 5}, None, 5),
    ],
)
def test_a_project_has_its_own_limit_or_the_default(
    row: dict[str, object] | None, default: int | None, limit: int | None
) -> None:
    assert usage.effective_limit(row, default) == limit


@pytest.mark.parametrize(
    ("used", "adding", "limit", "over"),
    [
        (0, 10, None, False),
        (0, 10, 10, False),  # exactly at the limit fits
        (1, 10, 10, True),
        (20, 0, 10, False),  # over already, but adding nothing (a tag, a pull, a delete) goes on
        (20, 1, 10, True),
        (0, 1, 0, True),
    ],
)
def test_a_push_is_over_the_limit_only_if_it_adds_bytes_beyond_it(used: int, adding: int, limit: int | None, over: bool) -> None:
    assert usage.over_limit(used, adding, limit) is over


@pytest.mark.parametrize(
    ("before", "after", "limit", "warn"),
    [(0, 89, 100, False), (0, 90, 100, True), (89, 95, 100, True), (90, 95, 100, False), (0, 100, None, False), (0, 5, 0, False)],
)
def test_the_warning_comes_once_when_usage_crosses_ninety_percent(before: int, after: int, limit: int | None, warn: bool) -> None:
    assert usage.crosses_warning(before, after, limit) is warn


def test_the_refusal_names_the_project_the_numbers_and_the_way_out() -> None:
    assert usage.refusal_message("team/app", 9_800_000_000, 10 * GB, 512 * 10**6) == (
        "project team/app is over its size limit: 9.8 GB used of 10 GB, this push would add 512 MB; "
        "delete images or ask an admin to raise the limit"
    )


@pytest.mark.parametrize(
    ("used", "limit", "share"), [(5, 10, 50.0), (0, None, None), (0, 0, 0.0), (3, 0, 100.0), (15, 10, 150.0)]
)
def test_usage_as_a_percentage_of_the_limit(used: int, limit: int | None, share: float | None) -> None:
    assert usage.percent(used, limit) == share


def test_the_default_size_limit_comes_from_toml_env_or_flag_and_a_wrong_one_says_what_is_expected(tmp_path: Path) -> None:
    assert Settings().size_limit_bytes() is None
    file = tmp_path / "tinyreg.toml"
    file.write_text('default_size_limit = "10GB"\n')
    assert load_settings(env={}, config_file=file).size_limit_bytes() == 10 * GB
    assert load_settings(env={"TINYREG_DEFAULT_SIZE_LIMIT": "5GiB"}, config_file=file).size_limit_bytes() == 5 * 2**30
    assert load_settings({"default_size_limit": "none"}, env={"TINYREG_DEFAULT_SIZE_LIMIT": "5GiB"}).size_limit_bytes() is None
    with pytest.raises(ConfigError, match=r"TINYREG_DEFAULT_SIZE_LIMIT='lots' cannot be used: .*a size such as 500MB"):
        load_settings(env={"TINYREG_DEFAULT_SIZE_LIMIT": "lots"})
