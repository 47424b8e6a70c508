"""Go's time.Duration text form: ``10m30s``, ``1h30m0s``, ``500ms``.

Docker's flags and ``--pretty`` output use Go's ``ParseDuration`` and
``Duration.String``; users paste those strings into scenarios, so shoal parses and
prints exactly the same text. Durations are integers of nanoseconds everywhere in the
model (the Engine API's wire form), so conversion is lossless.
"""

from __future__ import annotations

from core.errors import ShoalError

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

INT64_MAX = (1 << 63) - 1
_MAGNITUDE_MAX = 1 << 63  # a negative duration may reach -2**63

_UNITS: dict[str, int] = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


class DurationError(ShoalError):
    """A duration string Go's ParseDuration would refuse; the message is Go's own."""

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"time: {reason} {_quote(text)}")


def _quote(text: str) -> str:
    """Go's ``time.quote``: ASCII as is (``"`` and ``\\`` escaped), every byte of any other
    character, and of control characters, as ``\\xHH``."""
    out = ['"']
    for char in text:
        if char >= "\x80" or char < " ":
            encoded = char.encode("utf-8", errors="surrogatepass")
            out.extend(f"\\x{byte:02x}" for byte in encoded)
        elif char in ('"', "\\"):
            out.append("\\" + char)
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _is_digit(char: str) -> bool:
    """Go's ``'0' <= c && c <= '9'``: ASCII digits only (``str.isdigit`` also takes
    Arabic-Indic and superscript digits, U+0661 and U+00B2)."""
    return "0" <= char <= "9"


def parse_duration(text: str) -> int:
    """Parse Go duration text (``1h30m``, ``-1.5s``, ``300ms``) into nanoseconds."""
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if rest == "":
        raise DurationError(text, "invalid duration")
    total = 0
    while rest:
        if not (rest[0] == "." or _is_digit(rest[0])):
            raise DurationError(text, "invalid duration")
        whole, rest, whole_digits = _leading_int(rest, text)
        fraction, scale, fraction_digits = 0, 1.0, 0
        if rest[:1] == ".":
            fraction, scale, rest, fraction_digits = _leading_fraction(rest[1:])
        if whole_digits == 0 and fraction_digits == 0:
            raise DurationError(text, "invalid duration")
        unit_end = 0
        while unit_end < len(rest) and not (rest[unit_end] == "." or _is_digit(rest[unit_end])):
            unit_end += 1
        unit_text, rest = rest[:unit_end], rest[unit_end:]
        if unit_text == "":
            raise DurationError(text, "missing unit in duration")
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise DurationError(text, f"unknown unit {_quote(unit_text)} in duration")
        if whole > _MAGNITUDE_MAX // unit:
            raise DurationError(text, "invalid duration")
        value = whole * unit
        if fraction > 0:
            # Go adds the fraction through float64; do the same so results agree.
            value += int(float(fraction) * (float(unit) / scale))
        total += value
        if total > _MAGNITUDE_MAX:
            raise DurationError(text, "invalid duration")
    if negative:
        return -total
    if total > INT64_MAX:
        raise DurationError(text, "invalid duration")
    return total


def _leading_int(rest: str, text: str) -> tuple[int, str, int]:
    """Leading ASCII digits; like Go, give up as soon as the value passes 2**63 (so a
    long run of digits is Go's "invalid duration", not Python's int-size error)."""
    digits = 0
    value = 0
    while digits < len(rest) and _is_digit(rest[digits]):
        value = value * 10 + (ord(rest[digits]) - ord("0"))
        if value > _MAGNITUDE_MAX:
            raise DurationError(text, "invalid duration")
        digits += 1
    return value, rest[digits:], digits


def _leading_fraction(rest: str) -> tuple[int, float, str, int]:
    """Digits after the point; like Go, stop accumulating once precision would overflow."""
    digits = 0
    value, scale, overflow = 0, 1.0, False
    while digits < len(rest) and _is_digit(rest[digits]):
        if not overflow:
            if value > INT64_MAX // 10:
                overflow = True
            else:
                value = value * 10 + int(rest[digits])
                scale *= 10
        digits += 1
    return value, scale, rest[digits:], digits


def format_duration(nanoseconds: int) -> str:
    """Format nanoseconds as Go's ``Duration.String`` does (``1h30m0s``, ``1.5µs``)."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    magnitude = abs(nanoseconds)
    if magnitude < SECOND:
        if magnitude < MICROSECOND:
            return f"{sign}{magnitude}ns"
        if magnitude < MILLISECOND:
            return f"{sign}{_decimal(magnitude, MICROSECOND)}\u00b5s"
        return f"{sign}{_decimal(magnitude, MILLISECOND)}ms"
    hours, remainder = divmod(magnitude, HOUR)
    minutes, remainder = divmod(remainder, MINUTE)
    seconds = _decimal(remainder, SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return f"{sign}{seconds}"


def _decimal(value: int, unit: int) -> str:
    """``value / unit`` with the fraction's trailing zeros (and a bare point) removed."""
    whole, fraction = divmod(value, unit)
    if fraction == 0:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}.{fraction:0{width}d}".rstrip("0")
