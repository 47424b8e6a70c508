"""Errors of the PKI, worded as SwarmKit and Go's crypto/x509 word them."""

from __future__ import annotations

from core.errors import ShoalError


class CAError(ShoalError):
    """A certificate, key, CSR or token the CA cannot use; the message says why."""


class InvalidJoinToken(CAError):
    """A join token that does not have the ``SWMTKN-1-<digest>-<secret>`` shape."""

    def __init__(self) -> None:
        super().__init__("invalid join token")


class CAMismatch(CAError):
    """The root CA a manager presented is not the one the join token names."""

    def __init__(self, expected_hex: str) -> None:
        self.expected_hex = expected_hex
        super().__init__(f"remote CA does not match fingerprint. Expected: {expected_hex}")


class CertificateRejected(CAError):
    """A peer certificate that fails verification (Go's ``x509`` wording)."""
