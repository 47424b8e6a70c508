"""The restart supervisor's decisions: whether a stopped task is replaced, after
what delay, and by what (SwarmKit's ``orchestrator/restart``).

- **Condition.** ``none`` never restarts; ``on-failure`` does not restart a task that
  completed (exit 0); ``any`` restarts everything except a job task that completed.
- **Attempts.** With ``MaxAttempts`` set, restarts are counted per slot (per node
  for global services) and the count starts again when the service's spec version
  changes; with a ``Window``, only restarts within the window before now count.
- **Delay.** The policy's (5 s by default), except that a task leaving a drained
  node is replaced at once.
- **Replacement.** Same slot (or node, for global services), desired READY: the
  orchestrator moves it to RUNNING (COMPLETE for jobs) once the delay has passed
  and the old task has stopped.

The history lives on the leader only; a new leader rebuilds it from the store
(:meth:`RestartHistory.rebuild`) by counting every up-to-date task of a slot but
the oldest as one restart, which is why the reaper keeps ``MaxAttempts + 1`` tasks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.model.defaults import effective_restart_policy
from core.model.duration import SECOND
from core.model.enums import NodeAvailability, RestartCondition
from core.model.node import Node
from core.model.service import RestartPolicy, Service
from core.model.task import Task
from core.orchestrator.tasks import new_task
from core.tasks.states import TaskState

SlotKey = tuple[str, int | str]  # (service id, slot) or (service id, node id) for global


def slot_key(task: Task, is_global: bool) -> SlotKey:
    return (task.service_id, task.node_id if is_global else task.slot)


def _version(task: Task) -> int:
    return task.spec_version.index if task.spec_version else 0


@dataclass(slots=True)
class _SlotHistory:
    spec_version: int
    restarts: list[float] = field(default_factory=list)  # manager times, ascending


class RestartHistory:
    """Restarts per slot, for ``MaxAttempts``. Times are the manager's clock."""

    def __init__(self) -> None:
        self._slots: dict[SlotKey, _SlotHistory] = {}

    def record(self, key: SlotKey, spec_version: int, at: float) -> None:
        self._current(key, spec_version).restarts.append(at)

    def count(self, key: SlotKey, spec_version: int, at: float, window_s: float | None) -> int:
        """Restarts of this slot at this spec version, within ``window_s`` before
        ``at`` if a window is set (older ones are forgotten)."""
        history = self._current(key, spec_version)
        if window_s is not None:
            history.restarts = [t for t in history.restarts if at - window_s < t <= at]
        return len(history.restarts)

    def forget(self, key: SlotKey) -> None:
        self._slots.pop(key, None)

    def _current(self, key: SlotKey, spec_version: int) -> _SlotHistory:
        history = self._slots.get(key)
        if history is None or history.spec_version != spec_version:
            history = self._slots[key] = _SlotHistory(spec_version)  # a new spec: count anew
        return history

    def rebuild(self, tasks: Iterable[Task], service: Service, is_global: bool, at: float) -> None:
        """After a failover: every task of a slot at the service's spec version but
        the oldest counts as one restart, timed by its creation."""
        version = service.spec_version.index if service.spec_version else 0
        by_slot: dict[SlotKey, list[Task]] = {}
        for task in tasks:
            if task.service_id == service.id and _version(task) == version:
                by_slot.setdefault(slot_key(task, is_global), []).append(task)
        for key in sorted(by_slot, key=str):
            ordered = sorted(by_slot[key], key=lambda t: (t.created_at.unix_ns, t.id))
            self.forget(key)
            for task in ordered[1:]:
                self.record(key, version, min(at, task.created_at.unix_ns / SECOND))


def should_restart(
    policy: RestartPolicy | None,
    task: Task,
    is_job: bool,
    is_global: bool,
    history: RestartHistory,
    now: float,
) -> bool:
    """Whether ``task``, which stopped, gets a replacement (SwarmKit's rules)."""
    effective = effective_restart_policy(policy)
    condition = effective.condition
    completed = task.status.state is TaskState.COMPLETE
    if condition is RestartCondition.NONE:
        return False
    if condition is RestartCondition.ON_FAILURE and completed:
        return False
    if is_job and completed:
        return False
    attempts = effective.max_attempts or 0
    if attempts == 0:
        return True
    window_s = effective.window_ns / SECOND if effective.window_ns else None
    used = history.count(slot_key(task, is_global), _version(task), now, window_s)
    return used < attempts


def restart_delay_seconds(policy: RestartPolicy | None, node: Node | None) -> float:
    """How long the replacement waits before it starts."""
    if node is not None and node.spec.availability is NodeAvailability.DRAIN:
        return 0.0
    delay_ns = effective_restart_policy(policy).delay_ns or 0
    return delay_ns / SECOND


def replacement(
    service: Service, old: Task, is_global: bool, rng: random.Random, wall: float
) -> Task:
    """The task that takes ``old``'s place: the service's current spec, the same
    slot (or node), desired READY until its delay has passed."""
    return new_task(
        service,
        slot=0 if is_global else old.slot,
        node_id=old.node_id if is_global else "",
        rng=rng,
        wall=wall,
        desired=TaskState.READY,
        job_iteration=old.job_iteration,
    )
