"""When a node renews its certificate: at a random point of its life, or when its role changed.

SwarmKit's ``calculateRandomExpiry`` picks a whole number of minutes between 50% and 80% of
the certificate's life, counted from NotBefore, so that renewals of certificates issued
together spread out instead of hitting the CA as one herd. The instant is wall time; the
core turns it into a monotonic timer (``renewal_delay``) because wall clocks jump.
"""

from __future__ import annotations

import random

from cryptography import x509

from core.ca import policy, validity
from core.ca.verify import is_expired, peer_identity
from core.model.enums import NodeRole

_MINUTE = 60


def renewal_instant(cert: x509.Certificate, rng: random.Random) -> int:
    """The wall time (seconds) at which ``cert`` should be renewed, drawn from ``rng``."""
    span = validity.cert_window(cert)
    minutes = (span.not_after - span.not_before) / _MINUTE
    lower = int(minutes * policy.RENEW_LOWER)
    upper = int(minutes * policy.RENEW_UPPER)
    chosen = lower if upper - lower < 1 else rng.randrange(lower, upper)
    return span.not_before + chosen * _MINUTE


def renewal_delay(cert: x509.Certificate, rng: random.Random, wall: float) -> float:
    """Seconds from ``wall`` until renewal: never negative, and SwarmKit's five-minute retry
    for a certificate that has already expired (it may be clock skew)."""
    if is_expired(cert, wall):
        return float(policy.EXPIRED_RENEWAL_RETRY)
    return max(0.0, renewal_instant(cert, rng) - wall)


def role_changed(cert: x509.Certificate, role: NodeRole) -> bool:
    """Whether the node's role (promotion, demotion) no longer matches the certificate's OU,
    so that it must get a new certificate now."""
    return peer_identity(cert).role is not role
