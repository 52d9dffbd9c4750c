"""Range grammar of chunked uploads (`Content-Range`, `Range`) and partial blob reads (RFC 9110 `Range`)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.ranges import check_chunk_start, parse_content_range, parse_range, upload_range

from tests.helpers import raises_registry_error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0-0", (0, 0)),
        ("0-99", (0, 99)),
        ("100-199", (100, 199)),
        ("bytes 0-99/100", (0, 99)),
        ("bytes=0-99", (0, 99)),
        ("0-99/*", (0, 99)),
        (" 5-9 ", (5, 9)),
    ],
)
def test_upload_content_range_is_start_dash_end_inclusive(value: str, expected: tuple[int, int]) -> None:
    assert parse_content_range(value) == expected


@pytest.mark.parametrize("value", ["", "abc", "5-", "-5", "9-5", "0 - 9", "0-9,10-19", "bytes */100", "1.5-2"])
def test_malformed_upload_content_range_is_range_invalid(value: str) -> None:
    with raises_registry_error("RANGE_INVALID", 416):
        parse_content_range(value)


@pytest.mark.parametrize(
    ("content_range", "current_size", "content_length", "expected"),
    [
        pytest.param(None, 0, 10, 10, id="no-range-length-given"),
        pytest.param(None, 7, None, None, id="no-range-no-length"),
        pytest.param("0-9", 0, 10, 10, id="first-chunk"),
        pytest.param("0-9", 0, None, 10, id="first-chunk-no-length"),
        pytest.param("10-14", 10, 5, 5, id="next-chunk"),
    ],
)
def test_a_chunk_that_continues_the_upload_is_accepted(
    content_range: str | None, current_size: int, content_length: int | None, expected: int | None
) -> None:
    assert check_chunk_start(content_range, current_size, content_length) == expected


@pytest.mark.parametrize(
    ("content_range", "current_size", "range_header"),
    [("10-19", 0, "0-0"), ("0-9", 10, "0-9"), ("5-9", 10, "0-9"), ("11-20", 10, "0-9")],
)
def test_an_out_of_order_chunk_is_416_and_says_where_the_upload_stands(
    content_range: str, current_size: int, range_header: str
) -> None:
    with raises_registry_error("RANGE_INVALID", 416) as error:
        check_chunk_start(content_range, current_size, None)
    assert error.value.headers["Range"] == range_header


@pytest.mark.parametrize(("content_range", "content_length"), [("0-9", 5), ("0-9", 11), ("0-0", 0)])
def test_a_chunk_whose_length_disagrees_with_its_range_is_size_invalid(content_range: str, content_length: int) -> None:
    with raises_registry_error("SIZE_INVALID"):
        check_chunk_start(content_range, 0, content_length)


@pytest.mark.parametrize(("size", "header"), [(0, "0-0"), (1, "0-0"), (10, "0-9"), (2**40, f"0-{2**40 - 1}")])
def test_upload_range_names_the_last_byte_held(size: int, header: str) -> None:
    assert upload_range(size) == header


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        pytest.param("bytes=0-9", 100, (0, 9), id="first-ten"),
        pytest.param("bytes=99-99", 100, (99, 99), id="last-byte"),
        pytest.param("bytes=10-", 100, (10, 99), id="open-range"),
        pytest.param("bytes=0-", 100, (0, 99), id="open-from-zero"),
        pytest.param("bytes=50-1000", 100, (50, 99), id="end-clamped"),
        pytest.param("bytes=-10", 100, (90, 99), id="suffix"),
        pytest.param("bytes=-100", 100, (0, 99), id="suffix-whole"),
        pytest.param("bytes=-1000", 100, (0, 99), id="suffix-longer-than-blob"),
        pytest.param(" bytes=0-0 ", 1, (0, 0), id="surrounding-space"),
        pytest.param("", 100, None, id="empty"),
        pytest.param("bytes=", 100, None, id="no-range"),
        pytest.param("bytes=-", 100, None, id="dash-only"),
        pytest.param("items=0-9", 100, None, id="other-unit"),
        pytest.param("bytes=0-9,20-29", 100, None, id="multiple-ranges"),
        pytest.param("bytes=9-5", 100, None, id="end-before-start"),
        pytest.param("0-9", 100, None, id="no-unit"),
        pytest.param("bytes=a-b", 100, None, id="not-numbers"),
    ],
)
def test_blob_range_requests(value: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(value, size) == expected


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=150-", 100),
        ("bytes=100-200", 100),
        ("bytes=500-600", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
    ],
)
def test_unsatisfiable_ranges_are_416_with_the_blob_size(value: str, size: int) -> None:
    with raises_registry_error("RANGE_INVALID", 416) as error:
        parse_range(value, size)
    assert error.value.headers["Content-Range"] == f"bytes */{size}"


sizes = st.integers(1, 2**50)


@st.composite
def satisfiable_ranges(draw: st.DrawFn) -> tuple[int, str, tuple[int, int]]:
    """A blob size, a satisfiable `Range` value, and the bytes RFC 9110 says it selects."""
    size = draw(sizes)
    kind = draw(st.sampled_from(["closed", "open", "suffix"]))
    if kind == "suffix":
        suffix = draw(st.integers(1, 2 * size))
        return size, f"bytes=-{suffix}", (max(size - suffix, 0), size - 1)
    start = draw(st.integers(0, size - 1))
    if kind == "open":
        return size, f"bytes={start}-", (start, size - 1)
    end = draw(st.integers(start, 2 * size))
    return size, f"bytes={start}-{end}", (start, min(end, size - 1))


@settings(max_examples=200)
@given(satisfiable_ranges())
def test_a_satisfiable_range_selects_bytes_inside_the_blob(case: tuple[int, str, tuple[int, int]]) -> None:
    size, value, expected = case
    result = parse_range(value, size)
    assert result == expected
    start, end = result
    assert 0 <= start <= end < size


@settings(max_examples=200)
@given(
    st.text(alphabet="bytes=-0123456789, ²³¹", max_size=16) | st.from_regex(r"bytes=[0-9]{0,5000}-[0-9]{0,5000}", fullmatch=True),
    st.integers(0, 1000),
)
def test_any_range_header_is_ignored_served_or_refused_with_416(value: str, size: int) -> None:
    try:
        result = parse_range(value, size)
    except RegistryError as error:
        assert error.status == 416
        assert error.headers["Content-Range"] == f"bytes */{size}"
    else:
        if result is not None:
            start, end = result
            assert 0 <= start <= end < size


@settings(max_examples=200)
@given(st.text(alphabet="bytes =-/*0123456789²³¹٣", max_size=24) | st.from_regex(r"[0-9]{1,5000}-[0-9]{1,5000}", fullmatch=True))
def test_any_upload_content_range_is_a_range_or_416(value: str) -> None:
    try:
        start, end = parse_content_range(value)
    except RegistryError as error:
        assert error.status == 416
    else:
        assert 0 <= start <= end
