"""What a ``measure:`` expectation measures over its window, and the bound it must
keep: ``QUANTITY OP VALUE``, as in ``max downtime of service web < 10s`` or
``leader changes <= 1``.

- ``downtime of service X``: the seconds it ran no task although it should run
  some, once it had first been up; ``max downtime of service X``: the longest such
  stretch;
- ``min running of service X``, ``max running of service X``: its running tasks
  (REPLICAS' first figure) at the window's looks (0 before it existed);
- ``leader changes``: looks that saw leadership move to another host;
  ``elections``: looks that saw a leader the look before did not;
- ``time without leader``, ``max time without leader``: seconds no manager led.

OP is one of ``< <= > >= ==``. A time takes a Go duration (``10s``, ``1m30s``,
``500ms``), a count a whole number. Everything is read off the judge's looks
(:mod:`cli.scenario.metrics`), so a simulated run and a real one measure alike.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cli.scenario import metrics
from cli.timeline import Timeline
from core.errors import ShoalError
from core.model.duration import parse_duration


class BadQuantity(ShoalError):
    """A ``measure:`` text shoal cannot read."""


OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Figure:
    """A quantity measured: its value, and how the verdict shows it."""

    value: float
    seen: str


Measurer = Callable[[Timeline, str, float, float], Figure]  # timeline, service, window


def seconds(value: float) -> str:
    return f"{round(value, 3):g}s"


def _detail(items: Sequence[str], most: int = 3) -> str:
    """`` (a, b, c and 2 more)``, or nothing."""
    if not items:
        return ""
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return f" ({', '.join(items[:most])}{more})"


def _of_service(name: str, zero: str, measure: Measurer) -> Measurer:
    """``measure``, but a service no look saw by the window's end measures ``zero``
    (it did not exist in the window), and the verdict says so."""

    def measured(timeline: Timeline, service: str, start: float, end: float) -> Figure:
        if not any(when <= end + 1e-9 for when, _ in timeline.running.get(service, [])):
            return Figure(0.0, f"{name} {zero} (no service {service} in the window)")
        return measure(timeline, service, start, end)

    return measured


def _outages(
    timeline: Timeline, service: str, start: float, end: float
) -> list[tuple[float, float]]:
    running = timeline.running.get(service, [])
    return metrics.outages(running, timeline.desired.get(service, []), start, end)


def _total(name: str, stretches: list[tuple[float, float]], nouns: tuple[str, str]) -> Figure:
    """The stretches' total length; ``nouns``: what one is called, and several."""
    total = round(sum((b - a for a, b in stretches), 0.0), 6)
    many = f" in {len(stretches)} {nouns[len(stretches) != 1]}" if stretches else ""
    return Figure(total, f"{name} {seconds(total)}{many}")


def _longest(name: str, stretches: list[tuple[float, float]], none: str) -> Figure:
    if not stretches:
        return Figure(0.0, f"{name} 0s ({none})")
    begin, finish = max(stretches, key=lambda s: (s[1] - s[0], -s[0]))  # the first longest
    length = round(finish - begin, 6)
    return Figure(length, f"{name} {seconds(length)} (from {begin:.1f}s to {finish:.1f}s)")


def _downtime(timeline: Timeline, service: str, start: float, end: float) -> Figure:
    return _total("downtime", _outages(timeline, service, start, end), ("outage", "outages"))


def _max_downtime(timeline: Timeline, service: str, start: float, end: float) -> Figure:
    return _longest("max downtime", _outages(timeline, service, start, end), "no outage")


def _running(pick: Callable[[Sequence[int]], int], name: str) -> Measurer:
    def measure(timeline: Timeline, service: str, start: float, end: float) -> Figure:
        seen = metrics.counts(timeline.running.get(service, []), start, end)
        value = pick([count for _, count in seen])
        when = next(w for w, count in seen if count == value)
        return Figure(value, f"{name} {value} (at {when:.1f}s)")

    return measure


def _leader_changes(timeline: Timeline, _service: str, start: float, end: float) -> Figure:
    changes = metrics.leader_changes(timeline.looks, start, end)
    shown = [f"{a} to {b} at {when:.1f}s" for when, a, b in changes]
    return Figure(len(changes), f"leader changes {len(changes)}" + _detail(shown))


def _elections(timeline: Timeline, _service: str, start: float, end: float) -> Figure:
    won = metrics.elections(timeline.looks, start, end)
    shown = [f"{host} at {when:.1f}s" for when, host in won]
    return Figure(len(won), f"elections {len(won)}" + _detail(shown))


def _leaderless(timeline: Timeline, _service: str, start: float, end: float) -> Figure:
    return _total(
        "time without leader",
        metrics.leaderless(timeline.looks, start, end),
        ("stretch", "stretches"),
    )


def _max_leaderless(timeline: Timeline, _service: str, start: float, end: float) -> Figure:
    stretches = metrics.leaderless(timeline.looks, start, end)
    return _longest("max time without leader", stretches, "a leader at every look")


@dataclass(frozen=True)
class Form:
    pattern: str  # the quantity's text (a service's name the one group)
    timed: bool  # a time (a duration bound) or a count (a whole number)
    measurer: Measurer
    shown: str  # how the list of quantities names it


FORMS = (
    Form(
        r"downtime of service (\S+)",
        True,
        _of_service("downtime", "0s", _downtime),
        "downtime of service X",
    ),
    Form(
        r"max downtime of service (\S+)",
        True,
        _of_service("max downtime", "0s", _max_downtime),
        "max downtime of service X",
    ),
    Form(
        r"min running of service (\S+)",
        False,
        _of_service("min running", "0", _running(min, "min running")),
        "min running of service X",
    ),
    Form(
        r"max running of service (\S+)",
        False,
        _of_service("max running", "0", _running(max, "max running")),
        "max running of service X",
    ),
    Form(r"leader changes", False, _leader_changes, "leader changes"),
    Form(r"elections", False, _elections, "elections"),
    Form(r"time without (?:a )?leader", True, _leaderless, "time without leader"),
    Form(r"max time without (?:a )?leader", True, _max_leaderless, "max time without leader"),
)


@dataclass(frozen=True)
class Quantity:
    """A ``measure:`` expectation read: what to measure, and the bound."""

    form: Form
    service: str
    op: str
    bound: float  # seconds, or a count

    def judge(self, timeline: Timeline, start: float, end: float) -> tuple[bool, str]:
        """Whether the quantity over [start, end] keeps its bound, and what it was."""
        figure = self.form.measurer(timeline, self.service, start, end)
        holds = OPERATORS[self.op](round(figure.value, 6), round(self.bound, 6))
        return holds, figure.seen


def read(text: str) -> Quantity:
    match = re.fullmatch(r"(.*?)\s*([<>=!]+)\s*(.*)", text.strip())
    if match is None or not match.group(1):
        raise BadQuantity(
            f"cannot read {text!r}: expected QUANTITY OP VALUE "
            "(as in max downtime of service web < 10s)"
        )
    named, op, value = match.groups()
    if not value:
        raise BadQuantity(f"{text!r}: a value must follow {op}")
    for form in FORMS:
        if found := re.fullmatch(form.pattern, named):
            if op not in OPERATORS:
                raise BadQuantity(f"{op!r} is not a comparison here (one of {' '.join(OPERATORS)})")
            service = found.group(1) if found.groups() else ""
            bound = _duration(named, value) if form.timed else _count(named, value)
            return Quantity(form, service, op, bound)
    raise BadQuantity(f"unknown quantity {named!r} (one of {', '.join(f.shown for f in FORMS)})")


def _duration(named: str, text: str) -> float:
    """Seconds from a Go duration; a bare number is refused (seconds? minutes?)."""
    if re.fullmatch(r"[-+]?[0-9.]+", text):
        raise BadQuantity(
            f"{named} is a time: give a duration (10s, 1m30s, 500ms), not a bare number {text}"
        )
    try:
        value = parse_duration(text) / 1e9
    except ShoalError:
        raise BadQuantity(f"{text!r} is not a duration (10s, 1m30s, 500ms)") from None
    if value < 0:
        raise BadQuantity(f"{named}: a time is not negative, not {text}")
    return value


def _count(named: str, text: str) -> float:
    if re.fullmatch(r"[0-9]+", text):
        return float(int(text))
    try:
        parse_duration(text)
    except ShoalError:
        raise BadQuantity(f"{named} is a count: {text!r} is not a whole number") from None
    raise BadQuantity(f"{named} is a count: give a whole number, not a duration {text}")
