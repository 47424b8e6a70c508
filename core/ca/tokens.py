"""Join tokens: ``SWMTKN-1-<root CA digest>-<secret>`` (SwarmKit's ``GenerateJoinToken``).

The digest part is the SHA-256 of the root CA certificate's PEM in base 36, zero-padded to 50
characters: a joining node checks the CA a manager presents against it before trusting it.
The secret is 16 bytes of the driver's entropy in base 36, padded to 25 characters; rotating a
token changes only the secret. ``SWMTKN-2-<0|1>-…`` (FIPS) is parsed too.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from core.ca.errors import CAMismatch, InvalidJoinToken
from core.ca.keys import Entropy
from core.ca.root import RootCA
from core.model.ids import base36

PREFIX: Final = "SWMTKN"
DIGEST_LENGTH: Final = 50  # ceil(log36(2**256))
SECRET_LENGTH: Final = 25  # ceil(log36(2**128))
SECRET_BYTES: Final = 16
_DIGITS: Final = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")


class ParsedJoinToken(NamedTuple):
    """A token's parts: version, the root digest (64 lowercase hex), secret, FIPS flag."""

    version: int
    root_digest: str
    secret: str
    fips: bool


def _digest_base36(digest_hex: str) -> str:
    return base36(int(digest_hex, 16), DIGEST_LENGTH)


def join_token(root: RootCA | str, entropy: Entropy) -> str:
    """A fresh token for the CA ``root`` (or its hex digest), its secret from ``entropy``."""
    digest_hex = root.digest if isinstance(root, RootCA) else root
    secret = base36(int.from_bytes(entropy(SECRET_BYTES), "big"), SECRET_LENGTH)
    return f"{PREFIX}-1-{_digest_base36(digest_hex)}-{secret}"


def parse_join_token(token: str) -> ParsedJoinToken:
    """The parts of ``token``, or ``invalid join token`` (SwarmKit's ``ParseJoinToken``)."""
    parts = token.split("-")
    if len(parts) < 4 or parts[0] != PREFIX:
        raise InvalidJoinToken()
    if parts[1] == "1" and len(parts) == 4:
        version, fips = 1, False
    elif parts[1] == "2" and len(parts) == 5 and parts[2] in ("0", "1"):
        version, fips = 2, parts[2] == "1"
    else:
        raise InvalidJoinToken()
    digest, secret = parts[-2], parts[-1]
    if len(digest) != DIGEST_LENGTH or len(secret) != SECRET_LENGTH:
        raise InvalidJoinToken()
    # Go's big.Int.SetString takes both letter cases; Python's int() would also take "_".
    if not set(digest.lower()) <= _DIGITS:
        raise InvalidJoinToken()
    value = int(digest, 36)
    if value >= 1 << 256:
        raise InvalidJoinToken()
    return ParsedJoinToken(version, f"{value:064x}", secret, fips)


def check_root(token: ParsedJoinToken | str, root: RootCA) -> None:
    """Refuse a root CA whose digest is not the one the token carries, with SwarmKit's
    ``remote CA does not match fingerprint`` (a wrong cluster, or a man in the middle)."""
    parsed = parse_join_token(token) if isinstance(token, str) else token
    if parsed.root_digest != root.digest:
        raise CAMismatch(parsed.root_digest)


def rotate(token: str, entropy: Entropy) -> str:
    """The same token with a fresh secret: the old one no longer admits new nodes."""
    parsed = parse_join_token(token)
    return join_token(parsed.root_digest, entropy)
