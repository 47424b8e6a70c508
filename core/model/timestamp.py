"""Wall-clock instants as Docker prints them (RFC 3339 with trimmed nanoseconds).

Go marshals ``time.Time`` as RFC3339Nano: up to nine fraction digits, trailing zeros
removed, ``Z`` for UTC. Timestamps are held as integer nanoseconds since the Unix
epoch so that a value read from Docker's JSON writes back byte for byte; Go's zero
time (``0001-01-01T00:00:00Z``) is representable. The core never reads a clock: it
builds timestamps from the ``wall`` seconds its driver passes in.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from core.errors import InvalidSpec

_NS_PER_SECOND = 1_000_000_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


_PARSED: dict[str, Timestamp] = {}  # texts already parsed, dropped when full
_PARSED_KEPT = 65_536
_FORMATTED: dict[int, str] = {}  # instants already formatted, dropped when full


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """An instant: nanoseconds since 1970-01-01T00:00:00Z (negative before it)."""

    unix_ns: int

    @classmethod
    def from_seconds(cls, wall_seconds: float) -> Timestamp:
        """From a driver's wall clock reading in seconds (rounded to the microsecond
        so that float noise never reaches the trace)."""
        return cls(round(wall_seconds * 1_000_000) * 1_000)

    @classmethod
    def parse(cls, text: str, field: str = "Timestamp") -> Timestamp:
        """Parse RFC 3339 text (the same few texts come back in every copy of an
        object: parsed once each)."""
        known = _PARSED.get(text)
        if known is not None:
            return known
        parsed = cls._parse(text, field)
        if len(_PARSED) >= _PARSED_KEPT:
            _PARSED.clear()
        _PARSED[text] = parsed
        return parsed

    @classmethod
    def _parse(cls, text: str, field: str) -> Timestamp:
        match = _RFC3339.match(text)
        if match is None:
            raise InvalidSpec(field, text, "not an RFC 3339 timestamp")
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        fraction = match.group(7) or ""
        try:
            moment = _dt.datetime(year, month, day, hour, minute, second, tzinfo=_dt.UTC)
        except ValueError as error:
            raise InvalidSpec(field, text, str(error)) from None
        if match.group(9):
            offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
            moment -= _dt.timedelta(seconds=offset if match.group(9) == "+" else -offset)
        delta = moment - _EPOCH
        whole_seconds = delta.days * 86_400 + delta.seconds
        return cls(whole_seconds * _NS_PER_SECOND + int(fraction.ljust(9, "0") or "0"))

    def seconds(self) -> float:
        """Seconds since the epoch, for arithmetic on ages (loses sub-microsecond)."""
        return self.unix_ns / _NS_PER_SECOND

    def format(self) -> str:
        """RFC3339Nano in UTC, exactly as Go's encoding/json writes a time.Time (an
        instant is written in many objects and messages: formatted once each)."""
        known = _FORMATTED.get(self.unix_ns)
        if known is None:
            known = self._format()
            if len(_FORMATTED) >= _PARSED_KEPT:
                _FORMATTED.clear()
            _FORMATTED[self.unix_ns] = known
        return known

    def _format(self) -> str:
        whole_seconds, nanos = divmod(self.unix_ns, _NS_PER_SECOND)
        moment = _EPOCH + _dt.timedelta(seconds=whole_seconds)
        text = (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        )
        if nanos:
            text += "." + f"{nanos:09d}".rstrip("0")
        return text + "Z"

    def __str__(self) -> str:
        return self.format()


#: Go's zero ``time.Time``; Docker prints it for times that were never set.
GO_ZERO_TIME = Timestamp.parse("0001-01-01T00:00:00Z")
