"""``docker service logs`` on the leader: ask the agents that ran the service's
tasks for their containers' output, and answer once each has replied or the wait
is over (SwarmKit's log broker, as one request and one reply per node).

The answer is every line in time order (then task, then the line's place in its
container's output), and Docker's warning naming the nodes that could not be
asked (no session: down or gone) or did not answer in time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.messages import ClusterMessage, LogReply, LogRequest
from core.model.timestamp import Timestamp
from core.timers import TimerHeap

#: How long the leader waits for the agents' output.
LOGS_WAIT_SECONDS = 5.0

LogsAnswer = Callable[[dict[str, Any]], None]


@dataclass
class _Pending:
    waiting: dict[str, str]  # host -> node id, not yet answered
    missing: list[str]  # node ids that could not be asked or did not answer
    entries: list[tuple[float, str, str, int, str]] = field(default_factory=list)
    answer: LogsAnswer | None = None


class LogGather:
    def __init__(self, send: Callable[[str, ClusterMessage], None]) -> None:
        self.send = send
        self.pending: dict[str, _Pending] = {}
        self.timers: TimerHeap[str] = TimerHeap()
        self._sequence = 0

    def start(
        self,
        tasks_by_node: dict[str, tuple[str, ...]],
        hosts: dict[str, str],
        answer: LogsAnswer,
        mono: float,
    ) -> None:
        """Ask each node in ``tasks_by_node`` (reachable at ``hosts[node id]``) for
        the output of its tasks; ``answer`` gets the result."""
        self._sequence += 1
        request_id = f"logs-{self._sequence}"
        missing = sorted(n for n in tasks_by_node if n not in hosts)
        waiting = {hosts[n]: n for n in sorted(tasks_by_node) if n in hosts}
        pending = _Pending(waiting, missing, answer=answer)
        self.pending[request_id] = pending
        for host, node_id in sorted(waiting.items()):
            self.send(host, LogRequest(request_id, tasks_by_node[node_id]))
        self.timers.arm(request_id, mono + LOGS_WAIT_SECONDS)
        self._finish_if_done(request_id)

    def on_reply(self, source: str, message: LogReply) -> None:
        pending = self.pending.get(message.request_id)
        if pending is None or pending.waiting.get(source) != message.node_id:
            return
        del pending.waiting[source]
        for at, task_id, number, line in message.entries:
            pending.entries.append((at, task_id, message.node_id, number, line))
        self._finish_if_done(message.request_id)

    def tick(self, mono: float) -> None:
        for request_id in self.timers.pop_due(mono):
            pending = self.pending.get(request_id)
            if pending is not None:
                pending.missing.extend(sorted(pending.waiting.values()))
                pending.waiting.clear()
                self._finish_if_done(request_id)

    @property
    def next_deadline(self) -> float | None:
        return self.timers.next_deadline

    def _finish_if_done(self, request_id: str) -> None:
        pending = self.pending[request_id]
        if pending.waiting:
            return
        del self.pending[request_id]
        self.timers.cancel(request_id)
        logs = [
            {
                "Timestamp": Timestamp.from_seconds(at).format(),
                "TaskID": task_id,
                "NodeID": node_id,
                "Line": line,
            }
            for at, task_id, node_id, _, line in sorted(
                pending.entries, key=lambda e: (e[0], e[1], e[3])
            )
        ]
        warnings = (
            [
                "incomplete log stream. some logs could not be retrieved for the following "
                "reasons: "
                + ", ".join(f"node {node_id} is not available" for node_id in pending.missing)
            ]
            if pending.missing
            else []
        )
        if pending.answer is not None:
            pending.answer({"Logs": logs, "Warnings": warnings})
