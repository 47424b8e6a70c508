"""Validity windows from the driver's wall time, with cfssl's arithmetic.

cfssl (which SwarmKit signs with) takes ``now`` rounded to the minute, subtracts the
profile's backdate for NotBefore, and adds the profile's expiry to NotBefore for NotAfter.
SwarmKit adds the backdate to a node certificate's expiry, so NotAfter lands at
``now + expiry``. Certificates hold whole seconds; so do these functions' results.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Final, NamedTuple

from cryptography import x509

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_MINUTE: Final = 60


class Window(NamedTuple):
    """NotBefore and NotAfter, in whole seconds since the Unix epoch."""

    not_before: int
    not_after: int


def round_to_minute(wall: float) -> int:
    """Go's ``Time.Round(time.Minute)``: to the nearest minute, halves rounded up."""
    return math.floor((wall + _MINUTE / 2) / _MINUTE) * _MINUTE


def window(wall: float, expiry: int, backdate: int) -> Window:
    """cfssl's window for a signing at ``wall``: NotAfter is ``expiry`` after NotBefore."""
    not_before = round_to_minute(wall) - backdate
    return Window(not_before, not_before + expiry)


def to_datetime(seconds: int) -> _dt.datetime:
    """An aware UTC datetime for ``seconds`` since the epoch (what x509 builders take)."""
    return _EPOCH + _dt.timedelta(seconds=seconds)


def to_seconds(instant: _dt.datetime) -> int:
    """Whole seconds since the epoch of an aware datetime."""
    return (instant - _EPOCH) // _dt.timedelta(seconds=1)


def cert_window(cert: x509.Certificate) -> Window:
    """The validity window a certificate carries."""
    return Window(to_seconds(cert.not_valid_before_utc), to_seconds(cert.not_valid_after_utc))


def rfc3339(seconds: int) -> str:
    """``2006-01-02T15:04:05Z``, as Go prints times in x509 errors (isoformat: strftime
    calls into the ``time`` module)."""
    return to_datetime(seconds).isoformat().replace("+00:00", "Z")
