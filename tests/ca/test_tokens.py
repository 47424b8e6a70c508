"""Join tokens: SwarmKit's format, parsing, and the CA digest check a joining node makes."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy
import pytest

from core.ca.errors import CAMismatch, InvalidJoinToken
from core.ca.tokens import ParsedJoinToken, check_root, join_token, parse_join_token, rotate
from tests.ca.support import entropy, make_root

# A token from SwarmKit's own tests whose digest belongs to no CA here.
FOREIGN = "SWMTKN-1-1kxftv4ofnc6mt30lmgipg6ngf9luhwqopfk1tz6bdmnkubg0e-4myj5xihyto11dg1cn55w8p61"


def test_token_is_swmtkn_1_then_50_and_25_base36_digits() -> None:
    token = join_token(make_root(), entropy(4))
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", token)


def test_digest_part_is_the_root_digest_in_base36() -> None:
    root = make_root()
    digest_part = join_token(root, entropy(4)).split("-")[2]
    # An independent base-36 rendering (numpy's, upper case) of the digest, zero-padded.
    expected = numpy.base_repr(int(root.digest, 16), 36).lower().rjust(50, "0")
    assert digest_part == expected


def test_secret_part_is_sixteen_bytes_of_entropy_in_base36() -> None:
    secret_bytes = entropy(4)(16)
    token = join_token(make_root(), entropy(4))
    expected = numpy.base_repr(int.from_bytes(secret_bytes, "big"), 36).lower().rjust(25, "0")
    assert token.split("-")[3] == expected


def test_extreme_digests_pad_and_fit() -> None:
    assert join_token("0" * 64, entropy(1)).split("-")[2] == "0" * 50
    assert parse_join_token(join_token("f" * 64, entropy(1))).root_digest == "f" * 64


def test_parse_gives_back_the_digest_and_secret() -> None:
    root = make_root()
    token = join_token(root, entropy(4))
    assert parse_join_token(token) == ParsedJoinToken(1, root.digest, token[-25:], False)


def test_version_2_fips_tokens_parse() -> None:
    token = join_token(make_root(), entropy(4))
    fips = token.replace("SWMTKN-1-", "SWMTKN-2-1-")
    assert parse_join_token(fips).version == 2
    assert parse_join_token(fips).fips
    assert not parse_join_token(token.replace("SWMTKN-1-", "SWMTKN-2-0-")).fips


def _valid() -> str:
    return join_token(make_root(), entropy(4))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "",
        lambda t: "SWMTKN",
        lambda t: t.replace("SWMTKN", "SWMTKM"),
        lambda t: t.replace("SWMTKN-1-", "SWMTKN-3-"),
        lambda t: t.replace("SWMTKN-1-", "SWMTKN-2-"),  # v2 needs its FIPS field
        lambda t: t.replace("SWMTKN-1-", "SWMTKN-2-x-"),
        lambda t: t.replace("SWMTKN-1-", "SWMTKN-1-0-"),  # v1 has four parts
        lambda t: t[:-1],  # secret one short
        lambda t: t + "a",  # secret one long
        lambda t: t[:9] + t[10:],  # digest one short
        lambda t: t[:9] + "_" + t[10:],  # int() takes "_", Go does not
        lambda t: t[:9] + "+" + t[10:],
        lambda t: t[:9] + " " + t[10:],
        lambda t: "SWMTKN-1-" + "z" * 50 + t[-26:],  # more than 256 bits
        lambda t: " " + t,
    ],
)
def test_malformed_tokens_are_an_invalid_join_token(mangle: Callable[[str], str]) -> None:
    with pytest.raises(InvalidJoinToken, match=r"^invalid join token$"):
        parse_join_token(mangle(_valid()))


def test_upper_case_digits_parse_as_go_does() -> None:
    token = _valid()
    upper = token[:9] + token[9:59].upper() + token[59:]
    assert parse_join_token(upper).root_digest == parse_join_token(token).root_digest


def test_the_tokens_own_ca_passes_the_fingerprint_check() -> None:
    root = make_root()
    check_root(join_token(root, entropy(4)), root)
    check_root(join_token(root, entropy(4)), root.public())


def test_another_ca_fails_the_fingerprint_check_with_swarmkits_message() -> None:
    ours, theirs = make_root(seed=1), make_root(seed=2)
    token = join_token(theirs, entropy(4))
    with pytest.raises(CAMismatch) as caught:
        check_root(token, ours)
    assert str(caught.value) == (f"remote CA does not match fingerprint. Expected: {theirs.digest}")
    with pytest.raises(CAMismatch, match="remote CA does not match fingerprint"):
        check_root(FOREIGN, ours)


def test_rotation_keeps_the_digest_and_draws_a_new_secret() -> None:
    root = make_root()
    stream = entropy(4)
    old = join_token(root, stream)
    new = rotate(old, stream)
    assert new != old
    assert new.split("-")[:3] == old.split("-")[:3]
    assert parse_join_token(new).root_digest == root.digest


def test_same_entropy_gives_the_same_token() -> None:
    root = make_root()
    assert join_token(root, entropy(4)) == join_token(root, entropy(4))
    assert join_token(root, entropy(4)) != join_token(root, entropy(5))
