"""The agent of one node: its session with the leader's dispatcher, a task
controller per assigned task, and its own small durable store of assignments
(SwarmKit's ``agent``: session, worker, task managers, BoltDB).

- **Session.** Register with a manager; one that is not the leader names the leader,
  and the agent goes there. Heartbeat every period the dispatcher gives; a heartbeat
  not acknowledged by the next one, or a refusal, ends the session, and the agent
  reconnects with exponential backoff, trying the next manager it knows of.
- **Managers.** The dispatcher tells the session the managers' hosts, at once and on
  every change; the agent keeps the list (and has it written to its node's identity,
  so a restart knows it). Once every manager of the list has failed it, it tries
  every other manager host it has ever seen (SwarmKit's remotes).
- **Assignments.** The first message of a session is the whole set, later ones only
  changes; a gap in their numbering ends the session (the next one starts with the
  whole set again). A task leaving the set is closed: stopped and removed.
- **Status.** Controller reports are sent as one report per batch, latest status per
  task, at once, and sent again until acknowledged. The leader acknowledges a report
  once its writes commit, so reports are pipelined: a status never waits for the ack
  of an earlier report (SwarmKit's reporter sends one at a time, but its dispatcher
  answers before writing, so a status there reaches the leader within a round trip).
- **Durable store.** Every assigned task is written to the agent's store, so an agent
  that restarts knows its tasks, and inspects their containers rather than assuming.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from core.dataplane.delta import StateFollower
from core.dataplane.state import NetworkState
from core.messages import (
    AssignmentsMessage,
    ClusterMessage,
    Heartbeat,
    HeartbeatAck,
    LeaderElected,
    LogReply,
    LogRequest,
    ManagerList,
    Register,
    Registered,
    SessionRefused,
    StatusAck,
    StatusReport,
)
from core.model.node import NodeDescription
from core.model.secret import Config, Secret
from core.model.service import FileTarget
from core.model.task import Task, TaskStatus
from core.tasks.controller import ControllerOutput, Phase, TaskController
from core.tasks.executor import (
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    OperationToken,
    Outcome,
    TaskFile,
    file_path,
)
from core.tasks.states import TaskState
from core.timers import TimerHeap

BACKOFF_INITIAL_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 8.0
REGISTER_TIMEOUT_SECONDS = 5.0
STATUS_RESEND_SECONDS = 2.0
REPORTS_TRACKED = 64  # reports awaiting their ack, at most; fresh statuses then wait
#: A new leader tells every node it leads; sessionless agents register within this.
LEADER_ELECTED_SPREAD = 0.5


@dataclass(frozen=True, slots=True)
class AgentWrite:
    """Keep (``task``) or forget (None) an assignment in the agent's durable store."""

    task_id: str
    task: Task | None


@dataclass(slots=True)
class AgentOutput:
    messages: list[tuple[str, ClusterMessage]] = field(default_factory=list)
    commands: list[ExecutorCommand] = field(default_factory=list)
    writes: list[AgentWrite] = field(default_factory=list)
    managers: tuple[str, ...] | None = None  # the managers changed: keep this list
    #: The networks the node needs changed: program exactly these (by network id).
    networks: Mapping[str, NetworkState] | None = None
    #: The roots the dispatcher says to trust (PEM), as its last message said them.
    root_ca: bytes | None = None


#: The controller epoch of LOGS commands (controllers count from 1), so that their
#: results are never taken for a controller's.
LOGS_EPOCH = 0


@dataclass
class _LogGathering:
    leader: str
    request_id: str
    waiting: set[str]  # task ids whose output has not come yet
    entries: list[tuple[float, str, int, str]] = field(default_factory=list)


class Agent:
    def __init__(
        self,
        node_id: str,
        managers: tuple[str, ...],
        description: NodeDescription,
        rng: random.Random,
        stored: dict[str, Task] | None = None,
        epoch: int = 1,
    ) -> None:
        if not managers:
            raise ValueError("an agent needs at least one manager to talk to")
        self.node_id = node_id
        self.managers = list(managers)  # as the dispatcher last said
        self.seen = list(managers)  # every manager host ever heard of, oldest first
        self.description = description
        self.rng = rng
        self.epoch = epoch  # a new one per agent start: stale executor results are dropped
        self.manager = self.managers[0]
        self.session = ""
        self.assignment_seq = 0
        self.backoff = 0.0
        self.timers: TimerHeap[str] = TimerHeap()  # connect, register-timeout, heartbeat
        self.awaiting_ack = False
        self.controllers: dict[str, TaskController] = {}
        self.deadlines: TimerHeap[str] = TimerHeap()  # controller retries, by task id
        self.statuses: dict[str, TaskStatus] = {}  # not yet acknowledged
        self.unsent: set[str] = set()  # tasks whose status changed since it was sent
        self.report_seq = 0
        self.report_sent: dict[int, dict[str, TaskStatus]] = {}
        #: task id -> the tracked reports that carried its pending status, and the
        #: reports one of whose statuses stopped pending since the last ack: only
        #: they can have become covered (walking every tracked report on every ack
        #: cost 6% of a 2,000-worker convergence)
        self._carried_by: dict[str, list[int]] = {}
        self._maybe_covered: set[int] = set()
        #: task id -> when its pending status last went out, in that order
        self.sent_at: dict[str, float] = {}
        self.out = AgentOutput()
        self._recovered = dict(stored or {})
        self.log_sequence = 0
        self.log_requests: dict[int, _LogGathering] = {}
        #: Service names by id, as assignments said them (the driver names containers
        #: with them). Replaced whole, never changed in place: a driver's executor
        #: threads may read it while the agent runs.
        self.service_names: Mapping[str, str] = {}
        #: The overlay networks this node programs, as the dispatcher last said. Kept
        #: through a lost session (the data plane goes on serving while no manager
        #: answers, as Docker's does); replaced whole by the next session's first
        #: message.
        self.networks: Mapping[str, NetworkState] = {}
        self.followers: dict[str, StateFollower] = {}  # network id -> its deltas applied
        #: The secrets and configs the node's tasks use, as the dispatcher sent them:
        #: in memory only, never written (SwarmKit's agent keeps them so too).
        self.secrets: dict[str, Secret] = {}
        self.configs: dict[str, Config] = {}

    # -- life ------------------------------------------------------------------------------

    def start(self, mono: float, wall: float) -> AgentOutput:
        for task_id in sorted(self._recovered):
            task = self._recovered[task_id]
            controller = TaskController(task, self.epoch, recovered=True)
            self.controllers[task_id] = controller
            self._take(task_id, controller.start(mono, wall), mono, wall)
        self._recovered = {}
        self._connect(mono)
        return self.flush()

    def flush(self) -> AgentOutput:
        out, self.out = self.out, AgentOutput()
        return out

    # -- the session -------------------------------------------------------------------------

    def _connect(self, mono: float) -> None:
        self.session = ""
        self.report_sent.clear()  # the old session's reports will not be acknowledged
        self._carried_by.clear()
        self._maybe_covered.clear()
        self.sent_at.clear()
        self.assignment_seq = 0
        self.awaiting_ack = False
        self.timers.cancel("heartbeat")
        self.out.messages.append((self.manager, Register(self.node_id, self.description)))
        self.timers.arm("register-timeout", mono + REGISTER_TIMEOUT_SECONDS)

    def _session_lost(self, mono: float, leader: str = "") -> None:
        """Back off, then try the named leader, else the next manager."""
        self.session = ""
        self.timers.cancel("heartbeat")
        self.timers.cancel("register-timeout")
        redirected = bool(leader) and leader != self.manager
        if redirected:
            self._seen((leader,))
            self.manager = leader
        else:
            self.manager = self._next_manager()
        # Straight to a named leader the first time; every further failure (managers
        # that name each other while their views differ) waits out the backoff.
        first_failure = self.backoff == 0.0
        self.backoff = min(BACKOFF_MAX_SECONDS, max(BACKOFF_INITIAL_SECONDS, self.backoff * 2))
        jitter = self.backoff * (0.5 + self.rng.random() / 2)
        delay = 0.0 if redirected and first_failure else jitter
        self.timers.arm("connect", mono + delay)

    def _next_manager(self) -> str:
        """The manager after the current one: the dispatcher's list first, then every
        other host ever seen (for when all of the list are gone)."""
        order = self.managers + [h for h in self.seen if h not in self.managers]
        at = order.index(self.manager) if self.manager in order else -1
        return order[(at + 1) % len(order)]

    def _seen(self, hosts: tuple[str, ...]) -> None:
        self.seen.extend(h for h in hosts if h not in self.seen)

    def _learn_managers(self, managers: tuple[str, ...]) -> None:
        """The dispatcher's list of managers: kept, and written to the identity."""
        if not managers or list(managers) == self.managers:
            return
        self.managers = list(managers)
        self._seen(managers)
        self.out.managers = managers

    def receive(self, source: str, message: ClusterMessage, mono: float, wall: float) -> None:
        if isinstance(message, Registered):
            if message.node_id != self.node_id or self.session or source != self.manager:
                return  # not the registration under way (a late answer to an older one)
            self.session = message.session
            self.backoff = 0.0
            self.manager = source
            self._learn_managers(message.managers)
            self._seen((source,))
            self.timers.cancel("register-timeout")
            if message.root_ca:
                self.out.root_ca = message.root_ca
            self._heartbeat(mono)  # the first heartbeat is at once
            # As SwarmKit's worker.Listen: a new session hears every task's status, for
            # an acknowledged report may have died with the leader before it committed.
            for task_id in sorted(self.controllers):
                self.statuses.setdefault(task_id, self.controllers[task_id].task.status)
            self._send_statuses(mono)
        elif isinstance(message, SessionRefused):
            if message.node_id == self.node_id and source == self.manager:
                self._session_lost(mono, message.leader)
        elif isinstance(message, LeaderElected):
            registering = self.timers.armed("register-timeout") and self.manager == source
            if message.node_id == self.node_id and not self.session and not registering:
                self._seen((source,))
                self.manager = source  # a new leader: there with no backoff, but spread
                self.backoff = 0.0  # over a moment so that 2,000 nodes do not all
                self.timers.cancel("register-timeout")  # register in one instant
                self.timers.arm("connect", mono + self.rng.random() * LEADER_ELECTED_SPREAD)
        elif isinstance(message, ManagerList):
            if message.session == self.session:
                self._learn_managers(message.managers)
        elif isinstance(message, HeartbeatAck):
            if message.session == self.session:
                self._learn_managers(message.managers)
                if message.root_ca:
                    self.out.root_ca = message.root_ca
                self.awaiting_ack = False
                self.timers.arm("heartbeat", mono + message.period)
                if message.assignments > self.assignment_seq:
                    self._session_lost(mono)  # the newest assignments went missing
        elif isinstance(message, AssignmentsMessage):
            if message.session != self.session:
                return
            if message.sequence != self.assignment_seq + 1:
                self._session_lost(mono)  # a message went missing: start over
                return
            self.assignment_seq = message.sequence
            if not self._networks(message):
                self._session_lost(mono)  # a state it cannot follow: start over
                return
            self._assign(message, mono, wall)
        elif isinstance(message, StatusAck):
            statuses = self.statuses
            sent = self.report_sent.pop(message.sequence, {})
            for task_id, status in sent.items():
                if statuses.get(task_id) == status:
                    del statuses[task_id]
                    self.sent_at.pop(task_id, None)
                    self._stopped_pending(task_id)
            self._drop_covered()
            self._arm_resend(mono)
            if message.session == self.session:
                self._send_statuses(mono, fresh_only=True)  # what gathered meanwhile

    def describe(self, description: NodeDescription, mono: float) -> None:
        """What the node reports about itself changed (its TLS certificate or trust):
        a session under way or being opened starts anew with it, as SwarmKit's agent
        does, so that the leader sees what the node now presents."""
        if description == self.description:
            return
        self.description = description
        if self.session or self.timers.armed("register-timeout"):
            self._connect(mono)

    def _heartbeat(self, mono: float) -> None:
        """Send one; unacknowledged by the time the next is due, the session is over."""
        self.awaiting_ack = True
        self.out.messages.append((self.manager, Heartbeat(self.node_id, self.session)))
        self.timers.arm("heartbeat", mono + REGISTER_TIMEOUT_SECONDS)

    def tick(self, mono: float, wall: float) -> AgentOutput:
        for kind in self.timers.pop_due(mono):
            if kind == "connect":
                self._connect(mono)
            elif kind == "register-timeout":
                self._session_lost(mono)
            elif kind == "heartbeat":
                if self.awaiting_ack:
                    self._session_lost(mono)
                else:
                    self._heartbeat(mono)
            elif kind == "statuses":
                self._send_statuses(mono, fresh_only=True)
            elif kind == "resend":
                self._send_statuses(mono)
        for task_id in self.deadlines.pop_due(mono):
            controller = self.controllers.get(task_id)
            if controller is not None:
                self._take(task_id, controller.tick(mono, wall), mono, wall)
        return self.flush()

    @property
    def next_deadline(self) -> float | None:
        found = [
            d for d in (self.timers.next_deadline, self.deadlines.next_deadline) if d is not None
        ]
        return min(found, default=None)

    # -- assignments and controllers -----------------------------------------------------------

    def _assign(self, message: AssignmentsMessage, mono: float, wall: float) -> None:
        if message.complete:  # the whole set: names of services it no longer runs go
            self.service_names = dict(message.service_names)
        elif message.service_names:
            self.service_names = {**self.service_names, **dict(message.service_names)}
        self._dependencies(message)
        updates = {t.id: t for t in message.updates}
        gone = list(message.removes)
        if message.complete:
            gone += [i for i in sorted(self.controllers) if i not in updates]
        for task_id in sorted(updates):
            task = updates[task_id]
            controller = self.controllers.get(task_id)
            if controller is None:
                controller = TaskController(task, self.epoch)
                self.controllers[task_id] = controller
                output = controller.start(mono, wall)
            else:
                output = controller.update(task, mono, wall)
            # Stored with the agent's own status, not the manager's copy of it, which
            # lags (SwarmKit keeps the two apart): a restart must not find it older.
            self.out.writes.append(AgentWrite(task_id, controller.task))
            self._take(task_id, output, mono, wall)
        for task_id in gone:
            controller = self.controllers.get(task_id)
            if controller is not None:
                self._take(task_id, controller.close(mono, wall), mono, wall)

    def _networks(self, message: AssignmentsMessage) -> bool:
        """Follow the message's network deltas; False if one is for another version
        than the node holds (a dispatcher sends every new session whole states, so
        only a lost message could cause it)."""
        if message.complete:
            self.followers = {}
        for network_id in message.networks_removed:
            self.followers.pop(network_id, None)
        for delta in message.networks:
            follower = self.followers.setdefault(delta.network_id, StateFollower())
            if not follower.follow(delta):
                return False
        if message.complete or message.networks or message.networks_removed:
            self.networks = {
                i: state
                for i in sorted(self.followers)
                if (state := self.followers[i].state) is not None
            }
            self.out.networks = self.networks
        return True

    # -- logs ----------------------------------------------------------------------------------

    def logs_requested(self, source: str, message: LogRequest) -> AgentOutput:
        """The leader wants the output of these tasks' containers: one LOGS command
        each for the tasks this agent holds; the reply goes once all have answered."""
        self.log_sequence += 1
        mine = [t for t in message.task_ids if t in self.controllers]
        gathering = _LogGathering(source, message.request_id, set(mine))
        self.log_requests[self.log_sequence] = gathering
        for task_id in mine:
            token = OperationToken(task_id, LOGS_EPOCH, self.log_sequence)
            task = self.controllers[task_id].task
            self.out.commands.append(ExecutorCommand(token, Operation.LOGS, task))
        self._logs_done(self.log_sequence)
        return self.flush()

    def _log_result(self, result: ExecutorResult) -> None:
        gathering = self.log_requests.get(result.token.sequence)
        task_id = result.token.task_id
        if gathering is None or task_id not in gathering.waiting:
            return
        gathering.waiting.discard(task_id)
        for number, (at, line) in enumerate(result.result.output):
            gathering.entries.append((at, task_id, number, line))
        self._logs_done(result.token.sequence)

    def _logs_done(self, sequence: int) -> None:
        gathering = self.log_requests[sequence]
        if gathering.waiting:
            return
        del self.log_requests[sequence]
        reply = LogReply(gathering.request_id, self.node_id, tuple(gathering.entries))
        self.out.messages.append((gathering.leader, reply))

    def executor_result(self, result: ExecutorResult, mono: float, wall: float) -> AgentOutput:
        if result.operation is Operation.LOGS:
            self._log_result(result)
            return self.flush()
        controller = self.controllers.get(result.token.task_id)
        if controller is not None and result.token.epoch == self.epoch:
            self._take(result.token.task_id, controller.on_result(result, mono, wall), mono, wall)
        return self.flush()

    def _dependencies(self, message: AssignmentsMessage) -> None:
        if message.complete:
            self.secrets, self.configs = {}, {}
        for secret_id in message.secrets_removed:
            self.secrets.pop(secret_id, None)
        for config_id in message.configs_removed:
            self.configs.pop(config_id, None)
        self.secrets.update((secret.id, secret) for secret in message.secrets)
        self.configs.update((config.id, config) for config in message.configs)

    def _files(self, task: Task) -> tuple[TaskFile, ...] | str:
        """The task's secrets and configs as files, or why they cannot be had (one
        the node was not sent: SwarmKit's ``secret <id> not found``)."""
        container = task.spec.container_spec
        if container is None:
            return ()
        files: list[TaskFile] = []
        refs: list[tuple[str, str, str, FileTarget | None]] = [
            ("secret", r.secret_id, r.secret_name, r.file) for r in container.secrets
        ]
        refs += [("config", r.config_id, r.config_name, r.file) for r in container.configs]
        for kind, object_id, name, target in refs:
            if target is None:
                continue  # a credential spec's config: not a file
            held = (self.secrets if kind == "secret" else self.configs).get(object_id)
            if held is None:
                return f"unable to get {kind} from {kind} store: {kind} {object_id} not found"
            files.append(
                TaskFile(
                    kind,
                    object_id,
                    name,
                    file_path(kind, target.name),
                    base64.b64decode(held.spec.data),
                    target.uid,
                    target.gid,
                    target.mode,
                )
            )
        return tuple(files)

    def _take(self, task_id: str, output: ControllerOutput, mono: float, wall: float) -> None:
        controller = self.controllers[task_id]
        failed: ExecutorResult | None = None
        for command in output.commands:
            files = self._files(command.task) if command.operation is Operation.PREPARE else ()
            if isinstance(files, str):  # answered here: the executor is not asked
                result = OperationResult(Outcome.FATAL, error=files)
                failed = ExecutorResult(command.token, command.operation, result)
            else:
                self.out.commands.append(replace(command, files=files) if files else command)
        for status in output.reports:
            self.report_status(task_id, status)
        if output.next_deadline is not None:
            self.deadlines.arm(task_id, output.next_deadline)
        else:
            self.deadlines.cancel(task_id)
        if controller.phase is Phase.DONE:
            del self.controllers[task_id]
            self.deadlines.cancel(task_id)
            self.out.writes.append(AgentWrite(task_id, None))
        elif output.reports:
            self.out.writes.append(AgentWrite(task_id, controller.task))
        if failed is not None and task_id in self.controllers:
            self._take(task_id, controller.on_result(failed, mono, wall), mono, wall)

    def report_status(self, task_id: str, status: TaskStatus) -> None:
        """The task's new status, to report at the next tick (one report per batch);
        it replaces any earlier one not yet acknowledged."""
        if self.statuses.get(task_id, status) != status:
            self._stopped_pending(task_id)
        self.statuses[task_id] = status
        self.unsent.add(task_id)
        self.timers.arm("statuses", 0.0)

    def _send_statuses(self, mono: float, fresh_only: bool = False) -> None:
        """Report the statuses not reported since they changed (``fresh_only``), or
        every one not yet acknowledged (a new session, the resend timer). A report
        lost on the way is covered by the resend, STATUS_RESEND_SECONDS later.

        Earlier reports stay tracked after a resend: the leader acknowledges a report
        only once its writes commit, which may take longer than the resend period, and
        the ack of an earlier report then still clears what it carried."""
        if not self.session:
            return  # sent once a session is open
        if fresh_only and len(self.report_sent) >= REPORTS_TRACKED:
            # as many reports in flight as are tracked: an ack sends the next, or
            # the resend, should no ack come in time
            self._arm_resend(mono)
            return
        ids = sorted(self.unsent & self.statuses.keys()) if fresh_only else sorted(self.statuses)
        if not ids:
            return
        self.report_seq += 1
        batch = {task_id: self.statuses[task_id] for task_id in ids}
        self.unsent.difference_update(ids)
        self.report_sent[self.report_seq] = batch
        for task_id in ids:
            self.sent_at.pop(task_id, None)
            self.sent_at[task_id] = mono
            self._carried_by.setdefault(task_id, []).append(self.report_seq)
        for old in [s for s in self.report_sent if s <= self.report_seq - REPORTS_TRACKED]:
            del self.report_sent[old]  # their acks were lost; the resend covers them
        self.out.messages.append(
            (
                self.manager,
                StatusReport(self.node_id, self.session, self.report_seq, tuple(batch.items())),
            )
        )
        self._arm_resend(mono)

    def _stopped_pending(self, task_id: str) -> None:
        """The task's pending status was acknowledged or replaced: the reports that
        carried it may now carry nothing pending."""
        self._maybe_covered.update(self._carried_by.pop(task_id, ()))

    def _drop_covered(self) -> None:
        """Stop tracking the reports whose every status another ack covered (none of
        their (task, status) pairs still pending): they wait for nothing now, and
        kept, they would hold back the next report for good."""
        pending = self.statuses.items()
        for sequence in sorted(self._maybe_covered):
            carried = self.report_sent.get(sequence)
            if carried is not None and carried.items().isdisjoint(pending):
                del self.report_sent[sequence]
        self._maybe_covered.clear()

    def _arm_resend(self, mono: float) -> None:
        """Resend what is unacknowledged once the status that went out longest ago has
        waited STATUS_RESEND_SECONDS for its ack. Acks of later reports do not put
        that off: with reports pipelined, a lost one would otherwise never go again
        while its neighbours' acks kept coming. (A status not sent yet counts from
        now: the next tick sends it.)"""
        if not self.statuses:
            self.timers.cancel("resend")
            return
        # sent_at is in sending order (a resent status moves to its end), and every
        # tracked send is of a pending status: the first is the oldest
        oldest = min(next(iter(self.sent_at.values()), mono), mono)
        self.timers.arm("resend", oldest + STATUS_RESEND_SECONDS)

    # -- what runs here ------------------------------------------------------------------------

    def running(self) -> list[Task]:
        return [
            c.task
            for _, c in sorted(self.controllers.items())
            if c.task.status.state is TaskState.RUNNING
        ]
