"""Go's time.Duration text: the cases of Go's own time_test.go tables (UPD-02, N-22)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.model.defaults import (
    DISPATCHER_HEARTBEAT_JITTER_NS,
    DISPATCHER_HEARTBEAT_PERIOD_NS,
    NODE_CERT_EXPIRY_NS,
    NODE_DOWN_MISSED_HEARTBEAT_PERIODS,
    RAFT_ELECTION_TICKS,
    RAFT_TICK_NS,
)
from core.model.duration import (
    HOUR,
    INT64_MAX,
    MICROSECOND,
    MILLISECOND,
    MINUTE,
    SECOND,
    DurationError,
    format_duration,
    parse_duration,
)

FORMATTED = [
    (0, "0s"),
    (1, "1ns"),
    (1100 * 1, "1.1\u00b5s"),
    (2200 * MICROSECOND, "2.2ms"),
    (3300 * MILLISECOND, "3.3s"),
    (4 * MINUTE + 5 * SECOND, "4m5s"),
    (4 * MINUTE + 5001 * MILLISECOND, "4m5.001s"),
    (5 * HOUR + 6 * MINUTE + 7001 * MILLISECOND, "5h6m7.001s"),
    (8 * MINUTE + 1, "8m0.000000001s"),
    (INT64_MAX, "2562047h47m16.854775807s"),
    (-INT64_MAX - 1, "-2562047h47m16.854775808s"),
    (-1, "-1ns"),
    (10 * MINUTE + 30 * SECOND, "10m30s"),
    (90 * MINUTE, "1h30m0s"),
    (500 * MILLISECOND, "500ms"),
]


@pytest.mark.parametrize(("nanoseconds", "text"), FORMATTED)
def test_format_matches_go_duration_string(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text


PARSED = [
    ("0", 0),
    ("5s", 5 * SECOND),
    ("30s", 30 * SECOND),
    ("1478s", 1478 * SECOND),
    ("-5s", -5 * SECOND),
    ("+5s", 5 * SECOND),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * SECOND),
    ("5.6s", 5 * SECOND + 600 * MILLISECOND),
    ("5.s", 5 * SECOND),
    (".5s", 500 * MILLISECOND),
    ("1.0s", SECOND),
    ("1.00s", SECOND),
    ("1.004s", SECOND + 4 * MILLISECOND),
    ("1.0040s", SECOND + 4 * MILLISECOND),
    ("100.00100s", 100 * SECOND + 1 * MILLISECOND),
    ("10ns", 10),
    ("11us", 11 * MICROSECOND),
    ("12\u00b5s", 12 * MICROSECOND),
    ("12\u03bcs", 12 * MICROSECOND),
    ("13ms", 13 * MILLISECOND),
    ("14s", 14 * SECOND),
    ("15m", 15 * MINUTE),
    ("16h", 16 * HOUR),
    ("3h30m", 3 * HOUR + 30 * MINUTE),
    ("10.5s4m", 4 * MINUTE + 10 * SECOND + 500 * MILLISECOND),
    ("-2m3.4s", -(2 * MINUTE + 3 * SECOND + 400 * MILLISECOND)),
    ("1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4 * MILLISECOND + 5 * MICROSECOND + 6),
    ("39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14 * SECOND + 425 * MILLISECOND),
    ("52763797000ns", 52763797000),
    ("0.3333333333333333333h", 20 * MINUTE),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", INT64_MAX),
    ("9223372036854775.807us", INT64_MAX),
    ("9223372036s854ms775us807ns", INT64_MAX),
    ("-9223372036854775808ns", -INT64_MAX - 1),
    ("-9223372036854775.808us", -INT64_MAX - 1),
    ("0.100000000000000000000h", 6 * MINUTE),
    ("0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827),
    ("10m30s", 630 * SECOND),
]


@pytest.mark.parametrize(("text", "nanoseconds"), PARSED)
def test_parse_matches_go_parse_duration(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


REFUSED = [
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
    ("9223372036s854ms775us808ns", 'time: invalid duration "9223372036s854ms775us808ns"'),
    ("-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'),
    # Go's digits are ASCII 0-9 only; other Unicode digits are not numbers (nor units
    # after one), and Go's quote spells every non-ASCII byte as \xHH.
    ("\u0661s", 'time: invalid duration "\\xd9\\xa1s"'),  # ARABIC-INDIC DIGIT ONE
    ("\u00b2s", 'time: invalid duration "\\xc2\\xb2s"'),  # SUPERSCRIPT TWO
    ("-\u0663h", 'time: invalid duration "-\\xd9\\xa3h"'),
    ("\uff15s", 'time: invalid duration "\\xef\\xbc\\x95s"'),  # FULLWIDTH DIGIT FIVE
    ("1\u00b2s", 'time: unknown unit "\\xc2\\xb2s" in duration "1\\xc2\\xb2s"'),
    ("1\u0661s", 'time: unknown unit "\\xd9\\xa1s" in duration "1\\xd9\\xa1s"'),
    ("1.\u0665s", 'time: unknown unit "\\xd9\\xa5s" in duration "1.\\xd9\\xa5s"'),
    (".\u0661s", 'time: invalid duration ".\\xd9\\xa1s"'),
    ("1s2\u00b5", 'time: unknown unit "\\xc2\\xb5" in duration "1s2\\xc2\\xb5"'),
    ("5\ufffds", 'time: unknown unit "\\xef\\xbf\\xbds" in duration "5\\xef\\xbf\\xbds"'),
    # ASCII control characters are escaped too; quotes and backslashes get a backslash.
    ("1s\t", 'time: unknown unit "s\\x09" in duration "1s\\x09"'),
    ('1"s', 'time: unknown unit "\\"s" in duration "1\\"s"'),
    ("1\\s", 'time: unknown unit "\\\\s" in duration "1\\\\s"'),
    # Too many digits is Go's overflow, not a Python int-conversion error.
    ("1" * 5000 + "s", f'time: invalid duration "{"1" * 5000}s"'),
]


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_parse_refuses_what_go_refuses_with_go_message(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@given(st.integers(min_value=-INT64_MAX - 1, max_value=INT64_MAX))
def test_format_then_parse_is_identity(nanoseconds: int) -> None:
    assert parse_duration(format_duration(nanoseconds)) == nanoseconds


_DURATION_ALPHABET = st.sampled_from(
    [*"0123456789.+-nsuµμmhd", "\u0661", "\u00b2", "\uff15", "\ufffd", '"', "\\", "\t", " "]
)


@given(st.one_of(st.text(), st.text(_DURATION_ALPHABET, max_size=30)))
def test_any_text_parses_or_raises_duration_error(text: str) -> None:
    """Whatever the input, the only failure is the module's own DurationError."""
    try:
        nanoseconds = parse_duration(text)
    except DurationError as error:
        assert str(error).startswith("time: ")
        assert error.text == text
    else:
        assert -INT64_MAX - 1 <= nanoseconds <= INT64_MAX


_NON_ASCII_DIGITS = st.characters(categories=("Nd", "No")).filter(lambda c: not "0" <= c <= "9")


@given(_NON_ASCII_DIGITS, st.sampled_from(["ns", "us", "ms", "s", "m", "h"]))
def test_non_ascii_digits_are_never_numbers(digit: str, unit: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(digit + unit)
    with pytest.raises(DurationError, match="unknown unit"):
        parse_duration("1" + digit + unit)


# DESIGN.md section 3's durations, as `docker swarm inspect` and `docker info` print them.
DESIGN_DURATIONS = [
    (DISPATCHER_HEARTBEAT_PERIOD_NS, "5s"),
    (DISPATCHER_HEARTBEAT_PERIOD_NS - DISPATCHER_HEARTBEAT_JITTER_NS, "4.5s"),
    (DISPATCHER_HEARTBEAT_PERIOD_NS + DISPATCHER_HEARTBEAT_JITTER_NS, "5.5s"),
    (NODE_DOWN_MISSED_HEARTBEAT_PERIODS * DISPATCHER_HEARTBEAT_PERIOD_NS, "15s"),
    (RAFT_TICK_NS, "1s"),
    (RAFT_ELECTION_TICKS * RAFT_TICK_NS, "10s"),
    (NODE_CERT_EXPIRY_NS, "2160h0m0s"),
]


@pytest.mark.parametrize(("nanoseconds", "text"), DESIGN_DURATIONS)
def test_design_defaults_print_as_docker_shows_them(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text
    assert parse_duration(text) == nanoseconds
