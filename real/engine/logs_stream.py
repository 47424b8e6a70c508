"""The log stream of ``/services/{id}/logs`` and ``/tasks/{id}/logs``, as dockerd
20.10 writes it (``httputils.WriteLogStream`` over ``stdcopy``).

The core answers ``ServiceLogs`` once, with every line gathered from the agents
(``Logs``: ``Timestamp``, ``TaskID``, ``NodeID``, ``Line``) and the nodes it could not
reach (``Warnings``). Here those lines are cut by ``tail`` (per task, as each agent's
container log is tailed) and ``since``, prefixed as asked (``timestamps``, ``details``)
and written one frame per line: an 8-byte header (stream 1 stdout, 2 stderr, 3 the
daemon's error; three zero bytes; the length as a big-endian uint32) and the line
with its newline. A TTY service's stream is the raw bytes. A warning ends the
stream as SwarmKit's log broker ends it, with a stream-3 "Error grabbing logs" frame.

The core cannot follow a stream: ``follow`` sends what there is and ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from aiohttp import hdrs, web

from core.model.timestamp import Timestamp
from real.engine.app import Call, docker_headers
from real.engine.errors import EngineError

STDOUT, STDERR, SYSTEM_ERROR = 1, 2, 3
NANOS_PER_SECOND = 1_000_000_000
CONTEXT = "com.docker.swarm"
FOLLOW_POLL_SECONDS = 1.0  # how often ``follow`` asks the core for new lines


@dataclass(frozen=True)
class LogOptions:
    """The query of a logs request (dockerd's ``ContainerLogsOptions``)."""

    stdout: bool
    stderr: bool
    timestamps: bool
    details: bool
    follow: bool
    tail: int | None  # None: all lines
    since_ns: int | None


def check_streams(call: Call) -> None:
    """dockerd's first check, before it looks the service or task up: a plain
    error, which it answers with 500."""
    if not (call.flag("stdout") or call.flag("stderr")):
        raise EngineError(500, "Bad parameters: you must choose at least one stream")


def options(call: Call) -> LogOptions:
    """The request's options (after the lookup, as dockerd reads ``tail`` and
    ``since`` only then), refused with dockerd's plain errors (500)."""
    check_streams(call)
    return LogOptions(
        stdout=call.flag("stdout"),
        stderr=call.flag("stderr"),
        timestamps=call.flag("timestamps"),
        details=call.flag("details"),
        follow=call.flag("follow"),
        tail=_tail(call.query("tail")),
        since_ns=_since(call.query("since")),
    )


GO_INT = re.compile(r"[+-]?[0-9]+")


def _tail(text: str) -> int | None:
    if text in ("", "all"):
        return None
    if not GO_INT.fullmatch(text):  # Go's ParseInt: ASCII digits and a sign, no more
        raise EngineError(500, 'tail value must be a positive integer or "all"')
    count = int(text)
    if count < 0:
        raise EngineError(500, "negative tail values not supported")
    return count


def _since(text: str) -> int | None:
    """Docker's ``sec[.fraction]`` (``timetypes.ParseTimestamps``) in nanoseconds."""
    if not text:
        return None
    seconds, has_fraction, fraction = text.partition(".")
    for part in (seconds, fraction) if has_fraction else (seconds,):
        if not GO_INT.fullmatch(part):
            raise EngineError(
                500,
                "could not parse since timestamp: "
                f'strconv.ParseInt: parsing "{part}": invalid syntax',
            )
    nanos = int(fraction) * 10 ** (9 - len(fraction)) if has_fraction else 0
    return int(seconds) * NANOS_PER_SECOND + int(nanos)


def selected(entries: Iterable[Mapping[str, Any]], wanted: LogOptions) -> list[Mapping[str, Any]]:
    """The last ``tail`` lines of each task, then those at or after ``since``
    (the order of a container log's reader), in the core's time order."""
    kept = list(entries)
    if wanted.tail is not None:
        seen: dict[str, int] = {}
        for entry in kept:
            seen[entry["TaskID"]] = seen.get(entry["TaskID"], 0) + 1
        skip = {task: max(0, count - wanted.tail) for task, count in seen.items()}
        tailed = []
        for entry in kept:
            if skip[entry["TaskID"]] > 0:
                skip[entry["TaskID"]] -= 1
            else:
                tailed.append(entry)
        kept = tailed
    if wanted.since_ns is not None:
        since = wanted.since_ns
        kept = [e for e in kept if Timestamp.parse(e["Timestamp"]).unix_ns >= since]
    return kept


def fixed_nanos(stamp: Timestamp) -> str:
    """Go's ``RFC3339NanoFixed``: nine fraction digits, always."""
    nanos = stamp.unix_ns % NANOS_PER_SECOND
    whole = Timestamp(stamp.unix_ns - nanos).format()
    return f"{whole[:-1]}.{nanos:09d}Z"


def line(entry: Mapping[str, Any], service_id: str, wanted: LogOptions) -> bytes:
    """One message as dockerd writes it: ``[timestamp ][details ]line\\n``."""
    text = f"{entry['Line']}\n"
    if wanted.details:
        attrs = {
            f"{CONTEXT}.node.id": entry["NodeID"],
            f"{CONTEXT}.service.id": service_id,
            f"{CONTEXT}.task.id": entry["TaskID"],
        }
        details = ",".join(
            f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in sorted(attrs.items())
        )
        text = f"{details} {text}"
    if wanted.timestamps:
        text = f"{fixed_nanos(Timestamp.parse(entry['Timestamp']))} {text}"
    return text.encode()


def frame(stream: int, payload: bytes) -> bytes:
    """``stdcopy``'s frame: the stream, three zero bytes, the length, the payload."""
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def body(
    answer: Mapping[str, Any],
    service_id: str,
    wanted: LogOptions,
    *,
    tty: bool,
) -> bytes:
    """The whole stream for the core's answer about one service's tasks."""
    chunks = []
    for entry in selected(answer.get("Logs", ()), wanted):
        payload = line(entry, service_id, wanted)
        if wanted.stdout:  # the containers' output is all stdout
            chunks.append(payload if tty else frame(STDOUT, payload))
    for warning in _warnings(answer):
        error = f"Error grabbing logs: rpc error: code = Unknown desc = warning: {warning}\n"
        chunks.append(error.encode() if tty else frame(SYSTEM_ERROR, error.encode()))
    return b"".join(chunks)


def _warnings(answer: Mapping[str, Any]) -> Sequence[str]:
    return tuple(answer.get("Warnings") or ())


class LogResponse(web.StreamResponse):
    """A streamed answer without a Content-Type, as dockerd 20.10 flushes its
    headers before it writes (Go sniffs no type then); aiohttp would add one."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall(hdrs.CONTENT_TYPE, None)


async def send(
    call: Call,
    target: str,
    service_id: str,
    wanted: LogOptions,
    *,
    tty: bool,
) -> web.StreamResponse:
    """Ask the core for ``target``'s output (a service or task ID, of the service
    ``service_id``) and stream it."""
    answer = await call.ask("ServiceLogs", {"service": target})
    response = LogResponse(status=200)
    docker_headers(response)
    await response.prepare(call.request)
    await response.write(body(answer, service_id, wanted, tty=tty))
    if wanted.follow:
        await _follow(call, response, target, service_id, wanted, tty, _counts(answer))
    await response.write_eof()
    return response


def _counts(answer: Mapping[str, Any]) -> dict[str, int]:
    """How many lines of each task an answer holds."""
    counts: dict[str, int] = {}
    for entry in answer.get("Logs", ()):
        counts[entry["TaskID"]] = counts.get(entry["TaskID"], 0) + 1
    return counts


async def _follow(
    call: Call,
    response: web.StreamResponse,
    target: str,
    service_id: str,
    wanted: LogOptions,
    tty: bool,
    sent: dict[str, int],
) -> None:
    """``follow``: ask again every :data:`FOLLOW_POLL_SECONDS` and write each task's
    lines past those already sent (a container's log only grows), until the client
    goes or the service does. The core answers a logs request once; following is
    polling it."""
    later = dataclasses.replace(wanted, tail=None, since_ns=None)
    while True:
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
        transport = call.request.transport
        if transport is None or transport.is_closing():
            return
        try:
            answer = await call.ask("ServiceLogs", {"service": target})
        except EngineError:  # the service or task is gone (or no leader): the stream ends
            return
        fresh: list[Mapping[str, Any]] = []
        seen: dict[str, int] = {}
        for entry in answer.get("Logs", ()):
            task = entry["TaskID"]
            seen[task] = seen.get(task, 0) + 1
            if seen[task] > sent.get(task, 0):
                fresh.append(entry)
        for task, count in seen.items():
            sent[task] = max(sent.get(task, 0), count)
        chunk = body({"Logs": fresh}, service_id, later, tty=tty)
        if chunk:
            try:
                await response.write(chunk)
            except (ConnectionError, RuntimeError):  # the client went away
                return
