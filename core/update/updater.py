"""One service's rolling update (or rollback) toward one spec version: SwarmKit's
``Updater``, as a state machine the leader feeds with committed task events and
time, writing through the leader's queue.

- ``parallelism`` workers (all the dirty slots when 0) take the dirty slots in
  order, a sliding window rather than batches. A worker finishes a slot when the
  slot's new task reaches RUNNING (or stops, or is gone), then rests ``delay``
  before it takes the next one. A new task shut down before it ran (the restart
  supervisor replaced it) leaves the slot dirty: the slot is taken again.
- A slot that already holds an up-to-date task keeps it: the others are shut
  down, and it is started if it waits to be. Otherwise a new task of the current
  spec (desired READY) is created in the slot (on the node, for global services):
  *stop-first* shuts the old tasks down in the same write and starts the new one
  once the old one has stopped (or after a minute); *start-first* starts the new
  one at once and, once it is RUNNING, shuts down every other task the slot then
  holds (a restart's replacement made meanwhile too).
- A task this update created counts as failed if it stops before RUNNING or
  within ``monitor`` of reaching it, or, with a progress deadline, if it has not
  reached RUNNING that long after its slot was taken (shoal's own: SwarmKit waits
  for ever). Once failures / dirty slots > ``max_failure_ratio``: *pause* sets the
  status PAUSED (ROLLBACK_PAUSED during a rollback); *rollback* restores the
  previous spec and version and sets ROLLBACK_STARTED, except during a rollback,
  which pauses instead (a rollback is never rolled back); *continue* goes on.
- After the last slot and the workers' last rest, failures are watched for one
  more monitoring period (``monitor``, or ``delay`` + 1 s when ``delay`` is at
  least ``monitor``) before the status becomes COMPLETED (ROLLBACK_COMPLETED).

Nothing of an updater outlives the leadership: a new leader starts one again
from the store, and the slots already updated are no longer dirty.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.manager.writes import WriteQueue
from core.model import replace
from core.model.defaults import effective_update_config
from core.model.duration import SECOND
from core.model.enums import FailureAction, UpdateOrder, UpdateState
from core.model.service import Endpoint, Service, UpdateConfig, UpdateStatus
from core.model.task import Task
from core.model.timestamp import Timestamp
from core.orchestrator.restart import replacement
from core.store import WriteTx
from core.tasks.states import TaskState
from core.update.dirty import Slot, is_task_dirty

IN_PROGRESS = (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED)

#: What the updater asks of the orchestrator to start a new task: (new task id,
#: service id, the old task id to wait for or "", at this manager time).
StartLater = Callable[[str, str, str, float], None]
#: The orchestrator's view of a service's tasks as a write sees them.
TasksIn = Callable[[WriteTx, str], list[Task]]


class _Phase(enum.Enum):
    WAITING = "waiting"  # for the slot's new task to reach RUNNING
    RESTING = "resting"  # the delay after a slot


@dataclass(slots=True)
class _Worker:
    phase: _Phase
    until: float | None  # end of the rest, or the progress deadline (None: none)
    new_id: str = ""  # the task it waits for (set once the slot's write is built)
    slot: Slot = ()
    take: int = 0  # which slot it took, counted: a late answer to an earlier one is ignored


class Updater:
    def __init__(
        self,
        service: Service,
        dirty: list[Slot],
        writes: WriteQueue,
        start_later: StartLater,
        tasks_in: TasksIn,
        rng: random.Random,
        *,
        is_global: bool,
    ) -> None:
        self.service_id = service.id
        self.spec = service.spec
        self.spec_version = service.spec_version
        status = service.update_status
        self.rollback = status is not None and status.state is UpdateState.ROLLBACK_STARTED
        self.config = _config(service, self.rollback)
        self.monitor = self.config.monitor_ns / SECOND
        self.delay = self.config.delay_ns / SECOND
        self.deadline = self.config.progress_deadline_ns / SECOND
        self.is_global = is_global
        self.writes, self.start_later, self.tasks_in, self.rng = writes, start_later, tasks_in, rng
        self.dirty_count = len(dirty)
        self.pending: deque[Slot] = deque(dirty)
        # no more workers than slots: Docker takes any uint64 (2**64 - 1 included)
        width = min(self.config.parallelism or len(dirty), len(dirty))
        self.workers = [_Worker(_Phase.RESTING, None) for _ in range(width)]
        self.created: dict[str, float | None] = {}  # task id -> when it reached RUNNING
        self.failed: set[str] = set()
        self.monitoring_until: float | None = None
        self.finished = False  # completed, paused, rolled back, or cancelled
        # and its last status write no longer pending: until then a reconcile queued
        # before that write must not start another updater toward the same spec
        self.settled = False
        # start-first tasks whose slot timed out (the progress deadline) and which
        # may still come up: the slot's old tasks go once they do
        self.late: dict[str, Slot] = {}

    # -- inputs ------------------------------------------------------------------------------

    def begin(self, mono: float, wall: float) -> None:
        self._dispatch(mono, wall)

    def complete(self, wall: float) -> None:
        """Nothing is dirty (any more): mark the update in progress complete."""
        self._finish(self._completed(wall))

    def cancel(self) -> None:
        """A newer spec (or the service's removal) supersedes this update."""
        self.finished = self.settled = True

    def on_task(self, old: Task | None, new: Task | None, mono: float, wall: float) -> None:
        if self.finished:
            return
        task = new or old
        assert task is not None
        if new is not None and task.id in self.created:
            if new.status.state is TaskState.RUNNING and self.created[task.id] is None:
                self.created[task.id] = mono
            if new.status.state > TaskState.RUNNING:
                self._maybe_failed(new, mono, wall)
            if self.finished:
                return
        late = self.late.get(task.id)
        if late is not None and (new is None or new.status.state >= TaskState.RUNNING):
            del self.late[task.id]
            if new is not None and new.status.state is TaskState.RUNNING:
                self.writes.submit(self._shut_down_others(late, task.id))
        for worker in self.workers:
            if worker.phase is _Phase.WAITING and worker.new_id == task.id:
                self._watch(worker, new, mono)
        self._dispatch(mono, wall)

    def tick(self, mono: float, wall: float) -> None:
        if self.finished:
            return
        for worker in self.workers:
            if worker.until is None or mono < worker.until:
                continue
            if worker.phase is _Phase.RESTING:
                worker.until = None  # rested: free for the next slot
                continue
            self._count_failure(worker.new_id, mono, wall)  # the progress deadline passed
            if self.finished:
                return
            if self.config.order is UpdateOrder.START_FIRST:
                self.late[worker.new_id] = worker.slot
            self._rest(worker, mono)
        self._dispatch(mono, wall)

    @property
    def next_deadline(self) -> float | None:
        if self.finished:
            return None
        times = [w.until for w in self.workers if w.until is not None]
        if self.monitoring_until is not None:
            times.append(self.monitoring_until)
        return min(times, default=None)

    # -- the workers -------------------------------------------------------------------------

    def _dispatch(self, mono: float, wall: float) -> None:
        """Free workers take the next slots; once all are done and idle, monitor."""
        for worker in self.workers:
            if self.finished or not self.pending:
                break
            if worker.phase is _Phase.RESTING and worker.until is None:
                self._take(worker, self.pending.popleft(), mono, wall)
        idle = all(w.phase is _Phase.RESTING and w.until is None for w in self.workers)
        if self.finished or self.pending or not idle:
            return
        if self.monitoring_until is None:
            period = self.delay + 1.0 if self.delay >= self.monitor else self.monitor
            self.monitoring_until = mono + period
        elif mono >= self.monitoring_until:
            self._finish(self._completed(wall))

    def _take(self, worker: _Worker, slot: Slot, mono: float, wall: float) -> None:
        start_first = self.config.order is UpdateOrder.START_FIRST
        worker.take += 1
        take = worker.take
        worker.phase, worker.new_id, worker.slot, worker.until = _Phase.WAITING, "", slot, None

        def build(tx: WriteTx) -> None:
            service = tx.get("services", self.service_id)
            if self.finished or worker.take != take or not isinstance(service, Service):
                return
            if service.spec_version != self.spec_version:
                return  # a newer update takes over
            # the slot as the write sees it: a task made for it earlier in this round
            # (a restart's replacement) counts too
            tasks = [
                t
                for t in self.tasks_in(tx, self.service_id)
                if self._in_slot(t, slot[0]) and t.desired_state <= TaskState.RUNNING
            ]
            keep = _up_to_date(service, tasks, tx)
            if keep is not None and start_first and keep.status.state < TaskState.RUNNING:
                # a start-first slot cut short: wait for its new task as for our own
                if keep.desired_state < TaskState.RUNNING:
                    self.start_later(keep.id, service.id, "", mono)
                worker.new_id = keep.id
                worker.until = mono + self.deadline if self.deadline > 0 else None
                return
            if keep is not None:
                self._use_existing(tx, service, tasks, keep, mono)
                self._rest(worker, mono)
                return
            new = replace(
                replacement(service, slot[0], self.is_global, self.rng, wall),
                endpoint=_endpoint(service),
            )
            tx.create(new)
            self.created[new.id] = None
            worker.new_id = new.id  # the progress deadline runs from here
            worker.until = mono + self.deadline if self.deadline > 0 else None
            if start_first:
                self.start_later(new.id, service.id, "", mono)
                return
            for old in tasks:
                tx.update(replace(old, desired_state=TaskState.SHUTDOWN))
            alive = [t.id for t in tasks if t.status.state <= TaskState.RUNNING]
            self.start_later(new.id, service.id, alive[0] if alive else "", mono)

        def done(error: object) -> None:
            if error is not None and worker.take == take and worker.phase is _Phase.WAITING:
                self._rest(worker, mono)  # SwarmKit logs "update failed" and goes on

        self.writes.submit(build, done)

    def _in_slot(self, task: Task, member: Task) -> bool:
        if self.is_global:
            return task.node_id == member.node_id
        return task.slot == member.slot

    def _use_existing(
        self, tx: WriteTx, service: Service, tasks: list[Task], keep: Task, mono: float
    ) -> None:
        for other in tasks:
            if other.id != keep.id:
                tx.update(replace(other, desired_state=TaskState.SHUTDOWN))
        if keep.desired_state < TaskState.RUNNING:
            self.start_later(keep.id, service.id, "", mono)

    def _watch(self, worker: _Worker, task: Task | None, mono: float) -> None:
        """The slot's new task changed: the slot is done once the task is RUNNING
        (start-first then shuts the old ones down), has stopped, is no longer
        wanted, or is gone."""
        if task is None:
            self._rest(worker, mono)
            return
        state = task.status.state
        if state < TaskState.RUNNING and task.desired_state <= TaskState.RUNNING:
            return  # still on its way
        if state < TaskState.RUNNING and task.desired_state is TaskState.SHUTDOWN:
            # Replaced before it ran (its node went down, say): the slot is still
            # dirty, so it is taken again and what holds it now is waited for.
            self.pending.appendleft(worker.slot)
            self._rest(worker, mono)
            return
        if state is TaskState.RUNNING and self.config.order is UpdateOrder.START_FIRST:
            self.writes.submit(self._shut_down_others(worker.slot, task.id))
        self._rest(worker, mono)

    def _shut_down_others(self, slot: Slot, keep: str) -> Callable[[WriteTx], None]:
        """Start-first, once the slot's new task runs: every other task the slot holds
        now goes, a restart's replacement made since the slot was taken too."""

        def build(tx: WriteTx) -> None:
            service = tx.get("services", self.service_id)
            if not isinstance(service, Service) or service.spec_version != self.spec_version:
                return  # a newer update decides
            for task in self.tasks_in(tx, self.service_id):
                if (
                    task.id != keep
                    and self._in_slot(task, slot[0])
                    and task.desired_state <= TaskState.RUNNING
                ):
                    tx.update(replace(task, desired_state=TaskState.SHUTDOWN))

        return build

    def _rest(self, worker: _Worker, mono: float) -> None:
        worker.phase, worker.new_id, worker.slot = _Phase.RESTING, "", ()
        worker.until = mono + self.delay if self.delay > 0 else None

    # -- failures ------------------------------------------------------------------------------

    def _maybe_failed(self, task: Task, mono: float, wall: float) -> None:
        running_at = self.created.get(task.id)
        if running_at is None or mono - running_at <= self.monitor:
            self._count_failure(task.id, mono, wall)

    def _count_failure(self, task_id: str, mono: float, wall: float) -> None:
        if task_id in self.failed or self.finished:
            return
        self.failed.add(task_id)
        if self.config.failure_action is FailureAction.CONTINUE:
            return
        if len(self.failed) / self.dirty_count <= self.config.max_failure_ratio:
            return
        what = "rollback" if self.rollback else "update"
        if self.config.failure_action is FailureAction.ROLLBACK and not self.rollback:
            message = f"update rolled back due to failure or early termination of task {task_id}"
            self._finish(self._rolled_back(message))
        else:
            message = f"{what} paused due to failure or early termination of task {task_id}"
            self._finish(self._paused(message))

    # -- the status writes -------------------------------------------------------------------

    def start_write(self, wall: float) -> Callable[[WriteTx], None]:
        """UPDATING, "update in progress", for an update that had no status yet."""

        def change(service: Service) -> Service | None:
            if service.update_status is not None:
                return None
            started = UpdateStatus(
                state=UpdateState.UPDATING,
                started_at=Timestamp.from_seconds(wall),
                message="update in progress",
            )
            return replace(service, update_status=started)

        return self._status_write(change)

    def _completed(self, wall: float) -> Callable[[WriteTx], None]:
        def change(service: Service) -> Service | None:
            status = service.update_status
            if status is None or status.state not in IN_PROGRESS:
                return None  # updated since (the next updater decides), or done already
            rollback = status.state is UpdateState.ROLLBACK_STARTED
            done = UpdateState.ROLLBACK_COMPLETED if rollback else UpdateState.COMPLETED
            message = "rollback completed" if rollback else "update completed"
            finished = Timestamp.from_seconds(wall)
            return replace(
                service,
                update_status=replace(status, state=done, message=message, completed_at=finished),
            )

        return self._status_write(change)

    def _paused(self, message: str) -> Callable[[WriteTx], None]:
        def change(service: Service) -> Service | None:
            status = service.update_status
            if status is None:
                return None
            rollback = status.state is UpdateState.ROLLBACK_STARTED
            paused = UpdateState.ROLLBACK_PAUSED if rollback else UpdateState.PAUSED
            return replace(service, update_status=replace(status, state=paused, message=message))

        return self._status_write(change)

    def _rolled_back(self, message: str) -> Callable[[WriteTx], None]:
        def change(service: Service) -> Service | None:
            status = service.update_status
            if status is None:
                return None
            if service.previous_spec is None:  # nothing to go back to: stop here
                text = message.replace("update rolled back", "update paused", 1)
                paused = replace(status, state=UpdateState.PAUSED, message=text)
                return replace(service, update_status=paused)
            started = replace(status, state=UpdateState.ROLLBACK_STARTED, message=message)
            return replace(
                service,
                spec=service.previous_spec,
                spec_version=service.previous_spec_version,
                previous_spec=None,
                previous_spec_version=None,
                update_status=started,
            )

        return self._status_write(change)

    def _status_write(
        self, change: Callable[[Service], Service | None]
    ) -> Callable[[WriteTx], None]:
        """Change the service's status while it is still at this update's version."""

        def build(tx: WriteTx) -> None:
            service = tx.get("services", self.service_id)
            if not isinstance(service, Service) or service.spec_version != self.spec_version:
                return
            changed = change(service)
            if changed is not None:
                tx.update(changed)

        return build

    def _finish(self, write: Callable[[WriteTx], None]) -> None:
        self.finished = True

        def settled(_error: object) -> None:
            self.settled = True

        self.writes.submit(write, settled)


def _config(service: Service, rollback: bool) -> UpdateConfig:
    spec = service.spec
    return effective_update_config(
        spec.rollback_config if rollback else spec.update_config, rollback=rollback
    )


def _endpoint(service: Service) -> Endpoint | None:
    return service.endpoint if service.endpoint.ports else None


def _up_to_date(service: Service, tasks: list[Task], tx: WriteTx) -> Task | None:
    """A task of the slot made from the current spec: one desired RUNNING first,
    else one waiting to start (SwarmKit's worker)."""
    waiting = None
    for task in tasks:
        node = tx.get("nodes", task.node_id) if task.node_id else None
        if is_task_dirty(service, task, node):  # type: ignore[arg-type]
            continue
        if task.desired_state is TaskState.RUNNING:
            return task
        if task.desired_state < TaskState.RUNNING:
            waiting = task
    return waiting
