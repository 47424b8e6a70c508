"""The docker executor: the executor protocol against one host's dockerd.

The real mirror of ``sim/executor.py``, with the same semantics, now over the
``docker`` SDK:

- PREPARE creates the task's container (never pulls: there is no registry, so a
  missing image fails for good with dockerd's ``No such image: X``); a container
  already there answers ALREADY. Its name and labels are Docker's (see
  :mod:`real.agent.labels`); ``docker inspect`` shows the spec's command, args, env,
  workdir, user, labels, stop signal and grace period (``StopTimeout``), health check
  and resource limits.
- START starts it. With a health check it answers once the container is healthy;
  one that turns unhealthy is stopped (stop signal, SIGKILL at the grace period) and
  answers FATAL ``UNHEALTHY_ERROR``; one that exits answers from its exit code.
- WAIT answers when the container exits (EXITED with the code), from dockerd's
  events, without holding a thread; an unhealthy container is stopped as above.
- SHUTDOWN stops it with the spec's grace period; REMOVE deletes it (and its
  anonymous volumes); INSPECT says what is there now; LOGS returns its output.
- Host-mode published ports: a port published without a number gets a free one of
  the host's ephemeral range when the container is created; START checks that no
  other running task container binds it (dockerd's "port is already allocated") and
  START and INSPECT answer the bound ports. With sandboxes, a task with host-mode
  ports gets one, and the host data plane publishes the bound ports to it
  (real/agent/hostports.py); its container records them in a label.

Threads: every blocking SDK call runs in the executor's worker pool, except stops,
which run in a small pool of their own (a scale-down's grace periods must not stall
PREPARE and START); results reach the driver through ``deliver``, called from a
worker or the events thread. Each command is answered exactly once. An asyncio
driver passes :func:`threadsafe` (``loop.call_soon_threadsafe``) so that results are
handled on its loop. The blocking methods of :class:`~core.tasks.executor.Executor`
(``prepare``, ``start``, ...) are there too, for tests and tools.

A restarted agent calls :meth:`DockerExecutor.adopt` with the tasks it still owns:
their containers stay (and their state is answered), the others are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import docker.errors
import docker.types
import requests.exceptions

from core.model.defaults import effective_healthcheck, effective_stop_grace_period_ns
from core.model.duration import SECOND
from core.model.enums import PortProtocol, PublishMode
from core.model.service import PortConfig
from core.model.task import ContainerStatus, Task, host_mode_ports
from core.tasks.controller import exit_error
from core.tasks.executor import (
    UNHEALTHY_ERROR,
    ExecutorCommand,
    ExecutorResult,
    Operation,
    OperationResult,
    Outcome,
    TaskFile,
)
from real.agent.hostports import PORTS_LABEL, port_label, ports_of_label
from real.agent.labels import TASK_ID, container_labels, task_id_of, task_name
from real.agent.sandbox import Sandboxes
from real.agent.taskfiles import TaskFiles

log = logging.getLogger(__name__)

Deliver = Callable[[ExecutorResult], None]
Reply = Callable[[OperationResult], None]

#: dockerd's zero time: ``State.StartedAt`` of a container never started.
_NEVER = "0001-01-01T00:00:00Z"
#: The container events that matter to tasks (health ones read ``health_status: X``).
EVENT_ACTIONS = ("start", "die", "oom", "health_status", "destroy")
#: Seconds between reconnections of the events stream after dockerd went away.
EVENTS_RECONNECT_SECONDS = 0.5
#: Threads for creates and the other quick calls, for starts, and for stops (which
#: last a grace period). Docker's agent runs every task's operations at once: with
#: 4 starts at a time here, a host's starts trickled out one per 0.1-0.18 s while
#: Docker's, all sent at once, kept its dockerd busier and finished first.
WORKERS, START_WORKERS, STOP_WORKERS = 16, 16, 4
#: Connections to dockerd the executor may hold at once: one per thread, the events
#: stream, and one spare (the SDK client's pool must be this large, or it opens and
#: discards a connection per call beyond it).
CONNECTIONS = WORKERS + START_WORKERS + STOP_WORKERS + 2


def ephemeral_ports() -> tuple[int, int]:
    """The host's ``ip_local_port_range``, from which unnumbered host ports are drawn."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def threadsafe(loop: asyncio.AbstractEventLoop, handle: Deliver) -> Deliver:
    """A ``deliver`` for worker threads that runs ``handle`` on ``loop``'s thread.

    Results arriving after the loop closed are dropped (the driver is gone)."""

    def deliver(result: ExecutorResult) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(handle, result)

    return deliver


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """One dockerd event about a task's container, as the executor read it."""

    task_id: str
    container_id: str
    action: Literal["start", "die", "oom", "health_status", "destroy"]
    exit_code: int | None = None  # die
    health: str = ""  # health_status: "healthy" / "unhealthy" / "starting"


@dataclass
class _Waiter:
    """A START or WAIT or INSPECT waiting for a container's exit or health."""

    operation: Operation
    task: Task
    reply: Reply
    done: bool = False


@dataclass
class _TaskLock:
    """A task's lock and how many operations hold or wait for it (dropped at zero)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


def _once(reply: Reply) -> Reply:
    """``reply``, answering only the first time: a failure after an answer is dropped."""
    guard = threading.Lock()
    answered = False

    def once(result: OperationResult) -> None:
        nonlocal answered
        with guard:
            if answered:
                return
            answered = True
        reply(result)

    return once


class DockerExecutor:
    """One host's containers through its dockerd; see the module docstring.

    ``client`` is a ``docker.DockerClient``. ``service_name`` gives a task's service
    name for its container's name and labels (the task itself carries only the
    service id). ``network_mode`` is every container's (the daemons run without a
    bridge: ``none``, ``host`` or ``container:<id>``). ``observe`` sees every event
    about a task container.
    """

    def __init__(
        self,
        client: Any,
        deliver: Deliver | None = None,
        *,
        service_name: Callable[[Task], str] | None = None,
        network_mode: str = "none",
        observe: Callable[[ContainerEvent], None] | None = None,
        rng: random.Random | None = None,
        workers: int = WORKERS,
        stop_workers: int = STOP_WORKERS,
        start_workers: int = START_WORKERS,
        sandboxes: Sandboxes | None = None,
        task_files: TaskFiles | None = None,
    ) -> None:
        self.client = client
        #: Tasks on overlay networks get a sandbox namespace first (real/agent/sandbox.py).
        self.sandboxes = sandboxes
        self.task_files = task_files
        self._files: dict[str, tuple[TaskFile, ...]] = {}  # task id -> its PREPARE's files
        self.api = client.api
        self.deliver = deliver
        self.service_name = service_name or (lambda task: "")
        self.network_mode = network_mode
        self.observe = observe
        self.rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker-exec")
        self._stop_pool = ThreadPoolExecutor(
            max_workers=stop_workers, thread_name_prefix="docker-stop"
        )
        # Starts do not queue behind the creates of every other task: Docker's agent
        # starts each task as soon as its container is made.
        self._start_pool = ThreadPoolExecutor(
            max_workers=start_workers, thread_name_prefix="docker-start"
        )
        self._lock = threading.Lock()
        self._task_locks: dict[str, _TaskLock] = {}  # tasks with an operation in flight
        self._ids: dict[str, str] = {}  # task id -> container id
        self._fresh: set[str] = set()  # tasks whose container this made and never started
        # Containers whose exit the events stream has been followed for since before
        # they started (the code once it came): a WAIT on one needs no inspect.
        self._followed: dict[str, int | None] = {}
        self._waiters: dict[str, list[_Waiter]] = {}  # container id -> waiters
        self._unhealthy: set[str] = set()  # containers stopped for failing their check
        self._stream: Any = None
        self._events: threading.Thread | None = None
        self._closing = False
        self._closed = threading.Event()  # wakes the events thread from its reconnect wait

    # -- life -----------------------------------------------------------------------------

    def open(self) -> None:
        """Subscribe to dockerd's events (before any command, so none is missed).

        From now, not from the live stream alone: dockerd answers the request before
        it registers the subscriber, and events of that gap would be lost; with a
        ``since`` it registers and replays them in one step."""
        self._stream = self._subscribe(since=time.time())
        self._events = threading.Thread(target=self._read_events, name="docker-events", daemon=True)
        self._events.start()

    def close(self) -> None:
        """Stop reading events and finish the workers; waiters never answer."""
        with self._lock:
            self._closing = True
            stream = self._stream
        self._closed.set()
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._events is not None:
            self._events.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)  # may still ask for stops
        self._start_pool.shutdown(wait=True, cancel_futures=True)
        self._stop_pool.shutdown(wait=True, cancel_futures=True)
        if self.task_files is not None:
            self.task_files.close()

    # -- the driver's entry point -----------------------------------------------------------

    def submit(self, command: ExecutorCommand) -> None:
        """Run ``command``; its result reaches ``deliver`` later, from another thread."""
        deliver = self.deliver
        if deliver is None:
            raise RuntimeError("submit needs an executor made with deliver=")

        def reply(result: OperationResult) -> None:
            deliver(ExecutorResult(command.token, command.operation, result))

        if command.files:
            with self._lock:
                self._files[command.task.id] = command.files
        self._run(command.operation, command.task, reply)

    # -- the blocking Executor protocol -----------------------------------------------------

    def prepare(self, task: Task) -> OperationResult:
        return self._blocking(Operation.PREPARE, task)

    def start(self, task: Task) -> OperationResult:
        return self._blocking(Operation.START, task)

    def wait(self, task: Task) -> OperationResult:
        return self._blocking(Operation.WAIT, task)

    def shutdown(self, task: Task) -> OperationResult:
        return self._blocking(Operation.SHUTDOWN, task)

    def remove(self, task: Task) -> OperationResult:
        return self._blocking(Operation.REMOVE, task)

    def inspect(self, task: Task) -> OperationResult:
        return self._blocking(Operation.INSPECT, task)

    def logs(self, task: Task) -> OperationResult:
        return self._blocking(Operation.LOGS, task)

    def _blocking(self, operation: Operation, task: Task) -> OperationResult:
        future: Future[OperationResult] = Future()

        def reply(result: OperationResult) -> None:
            if not future.done():
                future.set_result(result)

        self._run(operation, task, reply)
        return future.result()

    # -- restart ----------------------------------------------------------------------------

    def adopt(self, owned_task_ids: Iterable[str]) -> dict[str, OperationResult]:
        """After an agent restart: keep the containers of tasks in ``owned_task_ids``
        (answering what each is doing, as INSPECT would, without stopping any) and
        remove every other task container. Blocking."""
        owned = set(owned_task_ids)
        if self.sandboxes is not None:
            self.sandboxes.adopt(owned)
        if self.task_files is not None:
            self.task_files.keep_only(owned)
        found: dict[str, OperationResult] = {}
        listed = self.api.containers(all=True, filters={"label": TASK_ID})
        for summary in sorted(listed, key=lambda c: str(c["Id"])):
            task_id = task_id_of(summary.get("Labels"))
            cid = str(summary["Id"])
            if task_id in owned and task_id not in found:
                with self._lock:
                    self._ids[task_id] = cid
                found[task_id] = self._state(self.api.inspect_container(cid), None)
            else:
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_container(cid, v=True, force=True)
                with self._lock:
                    self._unhealthy.discard(cid)
        return dict(sorted(found.items()))

    # -- dispatch ----------------------------------------------------------------------------

    def _run(self, operation: Operation, task: Task, reply: Reply) -> None:
        handler = self._HANDLERS[operation]
        once = _once(reply)

        def work() -> None:
            try:
                with self._task_lock(task.id):
                    handler(self, task, once)
            except Exception as error:  # every failure becomes the answer, and the only one
                self._retire_all(once)
                once(_failure(operation, error))

        pools = {Operation.SHUTDOWN: self._stop_pool, Operation.START: self._start_pool}
        pools.get(operation, self._pool).submit(work)

    @contextlib.contextmanager
    def _task_lock(self, task_id: str) -> Iterator[None]:
        """Operations on one task run one at a time (a REMOVE waits for a CREATE); the
        lock is forgotten once no operation holds or waits for it."""
        with self._lock:
            entry = self._task_locks.setdefault(task_id, _TaskLock())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._lock:
                entry.users -= 1
                if entry.users == 0:
                    del self._task_locks[task_id]

    # -- operations (on a worker, under the task's lock) -------------------------------------

    def _prepare(self, task: Task, reply: Reply) -> None:
        # Every task container this executor did not make was adopted or removed when
        # it opened, so one it does not know of can only be one whose create answer
        # was lost: the create's name conflict finds it. No listing first: a list
        # waits on every container's lock, so it queues behind every start under way.
        with self._lock:
            known = task.id in self._ids
        existing = self._find(task) if known else None
        sandbox, ports = self._sandboxed(task, existing)
        if existing is not None:
            reply(OperationResult(Outcome.ALREADY))
            return
        binds = self._write_files(task)
        try:
            created = self.api.create_container(**self._create_args(task, sandbox, ports, binds))
        except docker.errors.APIError as error:
            found = self._find(task) if error.status_code == 409 else None
            if found is not None:
                self._sandboxed(task, found)  # the ports it bound, not the ones just drawn
                reply(OperationResult(Outcome.ALREADY))  # a create raced us to it
                return
            raise
        with self._lock:
            self._ids[task.id] = str(created["Id"])
            self._fresh.add(task.id)
        reply(OperationResult(Outcome.OK))

    def _start(self, task: Task, reply: Reply) -> None:
        cid = self._fresh_container(task)
        if cid is None:
            attrs = self._find(task)
            if attrs is None:
                reply(_no_container(task))
                return
            if attrs["State"]["Running"] or attrs["State"]["StartedAt"] != _NEVER:
                reply(self._started(attrs, Outcome.ALREADY))
                return
            conflict = self._port_conflict(task, attrs)
            if conflict:
                reply(OperationResult(Outcome.FATAL, error=conflict))
                return
            cid = str(attrs["Id"])
        healthcheck = effective_healthcheck(task.spec.container_spec) is not None
        if not healthcheck:
            with self._lock:
                self._followed[cid] = None
            self.api.start(cid)
            reply(self._started(self.api.inspect_container(cid), Outcome.OK))
            return
        waiter = self._add_waiter(cid, _Waiter(Operation.START, task, reply))
        self.api.start(cid)
        self._check_now(cid, waiter, self.api.inspect_container(cid))

    def _wait(self, task: Task, reply: Reply) -> None:
        if self._wait_followed(task, reply):
            return
        with self._lock:
            cid = self._ids.get(task.id)
        if cid is not None:  # one inspect, after the waiter is in place
            waiter = self._add_waiter(cid, _Waiter(Operation.WAIT, task, reply))
            try:
                attrs = self.api.inspect_container(cid)
            except docker.errors.NotFound:
                self._retire(waiter)
                with self._lock:
                    self._ids.pop(task.id, None)
            else:
                self._check_now(cid, waiter, attrs)
                return
        found = self._find(task)
        if found is None:
            reply(_no_container(task))
            return
        cid = str(found["Id"])
        waiter = self._add_waiter(cid, _Waiter(Operation.WAIT, task, reply))
        self._check_now(cid, waiter, self.api.inspect_container(cid))

    def _wait_followed(self, task: Task, reply: Reply) -> bool:
        """WAIT on a container whose events were followed since before it started (the
        usual case): its exit, if any, came by the stream, so no inspect is needed, one
        call fewer per task for a dockerd whose CPU the starts are short of. False if
        the container is not one of those."""
        with self._lock:
            cid = self._ids.get(task.id)
            if cid is None or cid not in self._followed:
                return False
            self._waiters.setdefault(cid, []).append(_Waiter(Operation.WAIT, task, reply))
            code = self._followed[cid]
        if code is not None:
            self._on_exit(cid, code)
        return True

    def _inspect(self, task: Task, reply: Reply) -> None:
        attrs = self._find(task)
        if attrs is None or attrs["State"]["StartedAt"] == _NEVER:
            reply(_no_container(task))
            return
        cid = str(attrs["Id"])
        state = attrs["State"]
        if state["Running"]:
            self._sandboxed(task, attrs)  # an adopted task's sandbox: plumbed again
        if state["Running"] and _health(attrs) == "unhealthy":
            self._add_waiter(cid, _Waiter(Operation.INSPECT, task, reply))
            self._stop_soon(cid, task)
            return
        reply(self._state(attrs, Outcome.OK))

    def _shutdown(self, task: Task, reply: Reply) -> None:
        attrs = self._find(task)
        if attrs is None or not attrs["State"]["Running"]:
            reply(OperationResult(Outcome.OK))
            return
        cid = str(attrs["Id"])
        self.api.stop(cid, timeout=_grace_seconds(task))
        state = self.api.inspect_container(cid)["State"]
        code = int(state["ExitCode"])
        status = ContainerStatus(container_id=cid, pid=0, exit_code=code)
        reply(OperationResult(Outcome.OK, container=status, ports=()))

    def _remove(self, task: Task, reply: Reply) -> None:
        attrs = self._find(task)
        if attrs is not None:
            cid = str(attrs["Id"])
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(cid, v=True, force=True)
            code = _exit_code(attrs["State"])
            self._on_exit(cid, 137 if code is None else code)  # killed if it still ran
            with self._lock:
                self._unhealthy.discard(cid)
                self._followed.pop(cid, None)
        with self._lock:
            self._ids.pop(task.id, None)
            self._fresh.discard(task.id)
            self._files.pop(task.id, None)
        if self.sandboxes is not None:
            self.sandboxes.remove(task.id)
        if self.task_files is not None:
            self.task_files.remove(task.id)
        reply(OperationResult(Outcome.OK))

    def _logs(self, task: Task, reply: Reply) -> None:
        attrs = self._find(task)
        if attrs is None:
            reply(_no_container(task))
            return
        raw = self.api.logs(attrs["Id"], stdout=True, stderr=True, timestamps=True)
        lines = raw.decode(errors="replace").splitlines()
        reply(OperationResult(Outcome.OK, output=tuple(_log_line(line) for line in lines)))

    _HANDLERS: ClassVar[dict[Operation, Callable[[DockerExecutor, Task, Reply], None]]] = {
        Operation.PREPARE: _prepare,
        Operation.START: _start,
        Operation.WAIT: _wait,
        Operation.INSPECT: _inspect,
        Operation.SHUTDOWN: _shutdown,
        Operation.REMOVE: _remove,
        Operation.LOGS: _logs,
    }

    # -- containers --------------------------------------------------------------------------

    def _fresh_container(self, task: Task) -> str | None:
        """The container this executor made for ``task`` and has not started, if the
        start needs no look at it first (no host port to check for a conflict): one
        inspect fewer per task, and a start is what the CPU of a 2-core host is short of."""
        with self._lock:
            if task.id not in self._fresh:
                return None
            self._fresh.discard(task.id)
            cid = self._ids.get(task.id)
        return cid if cid is not None and not host_mode_ports(task) else None

    def _find(self, task: Task) -> dict[str, Any] | None:
        """The inspect data of the task's container, found by its label; None if none."""
        with self._lock:
            cid = self._ids.get(task.id)
        if cid is not None:
            try:
                attrs: dict[str, Any] = self.api.inspect_container(cid)
                return attrs
            except docker.errors.NotFound:
                with self._lock:
                    self._ids.pop(task.id, None)
        listed = self.api.containers(all=True, filters={"label": f"{TASK_ID}={task.id}"})
        if not listed:
            return None
        cid = str(sorted(listed, key=lambda c: str(c["Id"]))[0]["Id"])
        with self._lock:
            self._ids[task.id] = cid
        try:
            found: dict[str, Any] = self.api.inspect_container(cid)
            return found
        except docker.errors.NotFound:
            return None

    def _sandboxed(
        self, task: Task, existing: dict[str, Any] | None = None
    ) -> tuple[str | None, tuple[PortConfig, ...]]:
        """The task's host-mode ports (those its ``existing`` container binds, else
        newly bound ones) and its sandbox, if it needs one, publishing them."""
        ports = _bound_ports(existing) if existing is not None else self._host_ports(task)
        if self.sandboxes is None or not self.sandboxes.needed(task, ports):
            return None, ports
        return self.sandboxes.ensure(task, ports), ports

    def _write_files(self, task: Task) -> dict[str, dict[str, str]]:
        """The task's secrets and configs written to the host's tmpfs: their binds."""
        with self._lock:
            files = self._files.pop(task.id, ())
        if not files:
            return {}
        if self.task_files is None:
            raise _Fatal("this executor mounts no secrets or configs (made without task files)")
        return self.task_files.write(task.id, files)

    def _create_args(
        self,
        task: Task,
        sandbox: str | None = None,
        ports: tuple[PortConfig, ...] | None = None,
        binds: dict[str, dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """``create_container`` arguments, as Docker's swarm executor fills them; a
        task with a ``sandbox`` shares its network namespace, and with it its
        hostname and resolver settings, and records its bound host ``ports`` (bound
        here if not given) in a label instead of port bindings."""
        spec = task.spec.container_spec
        if spec is None:
            raise _Fatal("task has no container spec")
        service = self.service_name(task)
        limits = task.spec.resources.limits if task.spec.resources is not None else None
        reservations = task.spec.resources.reservations if task.spec.resources is not None else None
        ports = self._host_ports(task) if ports is None else ports
        # A task with no network and no port gets no network stack at all, as Docker's
        # swarm makes it (Config.NetworkDisabled): "none" would still build a sandbox
        # and run its hook at every start, which doubles the cost of a start here.
        disabled = self.network_mode == "none" and not ports and sandbox is None
        dns = spec.dns_config if sandbox is None else None
        network_mode = f"container:{sandbox}" if sandbox is not None else self.network_mode
        host_config = self.api.create_host_config(
            network_mode=None if disabled else network_mode,
            init=spec.init,
            mem_limit=(limits.memory_bytes or None) if limits is not None else None,
            nano_cpus=(limits.nano_cpus or None) if limits is not None else None,
            pids_limit=(limits.pids or None) if limits is not None else None,
            mem_reservation=(
                (reservations.memory_bytes or None) if reservations is not None else None
            ),
            read_only=spec.read_only or None,
            cap_add=list(spec.capability_add) or None,
            cap_drop=list(spec.capability_drop) or None,
            group_add=list(spec.groups) or None,
            sysctls=dict(spec.sysctls) or None,
            oom_score_adj=spec.oom_score_adj or None,
            dns=list(dns.nameservers) or None if dns is not None else None,
            dns_search=list(dns.search) or None if dns is not None else None,
            dns_opt=list(dns.options) or None if dns is not None else None,
            extra_hosts=_extra_hosts(spec.hosts) or None,
            ulimits=[
                docker.types.Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in spec.ulimits
            ]
            or None,
            port_bindings={
                f"{p.target_port}/{p.protocol or PortProtocol.TCP}": p.published_port
                for p in (ports if sandbox is None else ())
            }
            or None,
            binds=binds or None,
        )
        check = spec.healthcheck
        healthcheck = None
        if check is not None and check.test:
            healthcheck = {
                "test": list(check.test),
                "interval": check.interval_ns,
                "timeout": check.timeout_ns,
                "retries": check.retries,
                "start_period": check.start_period_ns,
            }
        return {
            "image": spec.image,
            "command": list(spec.args) or None,
            "entrypoint": list(spec.command) or None,
            "name": task_name(task, service),
            "hostname": spec.hostname or None if sandbox is None else None,
            "user": spec.user or None,
            "environment": list(spec.env) or None,
            "working_dir": spec.dir or None,
            "labels": {
                **container_labels(task, service),
                **({PORTS_LABEL: port_label(ports)} if sandbox is not None and ports else {}),
            },
            "stop_signal": spec.stop_signal or None,
            "stop_timeout": _grace_seconds(task),
            "healthcheck": healthcheck,
            "tty": spec.tty,
            "stdin_open": spec.open_stdin,
            "ports": [
                (p.target_port, str(p.protocol or PortProtocol.TCP))
                for p in (ports if sandbox is None else ())
            ]
            or None,
            "network_disabled": disabled,
            "detach": True,  # no attached streams: Docker's swarm attaches none either
            "host_config": host_config,
        }

    def _state(self, attrs: dict[str, Any], running_outcome: Outcome | None) -> OperationResult:
        """What a container's inspect data answers: its exit if it exited (FATAL
        ``UNHEALTHY_ERROR`` if the executor stopped it for its health check), else
        ``running_outcome`` with its status and bound ports."""
        cid = str(attrs["Id"])
        state = attrs["State"]
        status = ContainerStatus(
            container_id=cid, pid=int(state.get("Pid") or 0), exit_code=int(state["ExitCode"])
        )
        code = _exit_code(state)
        if code is not None:
            return self._exited(cid, code)
        ports = _bound_ports(attrs) if state["Running"] else ()
        return OperationResult(running_outcome or Outcome.OK, container=status, ports=ports)

    def _started(self, attrs: dict[str, Any], outcome: Outcome) -> OperationResult:
        """START's answer without a health check to wait for: started (``outcome``)
        even if the container has exited since, as SwarmKit's Start returns once the
        container started and the simulator answers; the WAIT that follows answers the
        exit. Only a container stopped for failing its check fails here."""
        result = self._state(attrs, outcome)
        if result.outcome is not Outcome.EXITED:
            return result
        return OperationResult(outcome, container=result.container, ports=())

    def _exited(self, cid: str, code: int) -> OperationResult:
        status = ContainerStatus(container_id=cid, pid=0, exit_code=code)
        with self._lock:
            unhealthy = cid in self._unhealthy
        if unhealthy:
            return OperationResult(
                Outcome.FATAL, error=UNHEALTHY_ERROR, exit_code=code, container=status, ports=()
            )
        return OperationResult(Outcome.EXITED, exit_code=code, container=status, ports=())

    # -- ports -------------------------------------------------------------------------------

    def _host_ports(self, task: Task) -> tuple[PortConfig, ...]:
        """The task's host-mode ports, each published one as it is and the others on
        a free port of the ephemeral range (not bound by another task container)."""
        wanted = host_mode_ports(task)
        if not wanted:
            return ()
        taken = self._ports_in_use(exclude="", running_only=False)
        low, high = ephemeral_ports()
        bound = []
        for port in wanted:
            protocol = port.protocol or PortProtocol.TCP
            published = port.published_port
            drawn = not published  # a numbered one stays, taken or not: START refuses it
            while drawn and (not published or (str(protocol), published) in taken):
                published = self.rng.randint(low, high)
            taken.add((str(protocol), published))
            bound.append(
                PortConfig(
                    name=port.name,
                    protocol=protocol,
                    target_port=port.target_port,
                    published_port=published,
                    publish_mode=PublishMode.HOST,
                )
            )
        return tuple(bound)

    def _ports_in_use(self, exclude: str, running_only: bool) -> set[tuple[str, int]]:
        listed = self.api.containers(all=not running_only, filters={"label": TASK_ID})
        used: set[tuple[str, int]] = set()
        for summary in listed:
            if summary["Id"] == exclude:
                continue
            with contextlib.suppress(docker.errors.NotFound):
                attrs = self.api.inspect_container(summary["Id"])
                used.update((str(p.protocol), p.published_port) for p in _bound_ports(attrs))
        return used

    def _port_conflict(self, task: Task, attrs: dict[str, Any]) -> str:
        """dockerd's error if a port the container binds is held by a running one."""
        mine = _bound_ports(attrs)
        if not mine:
            return ""
        used = self._ports_in_use(exclude=str(attrs["Id"]), running_only=True)
        for port in mine:
            if (str(port.protocol), port.published_port) in used:
                return (
                    f"driver failed programming external connectivity on endpoint "
                    f"{attrs['Name'].lstrip('/')}: Bind for 0.0.0.0:{port.published_port} "
                    "failed: port is already allocated"
                )
        return ""

    # -- exits and health, from events ------------------------------------------------------

    def _add_waiter(self, cid: str, waiter: _Waiter) -> _Waiter:
        with self._lock:
            self._waiters.setdefault(cid, []).append(waiter)
        return waiter

    def _check_now(self, cid: str, waiter: _Waiter, attrs: dict[str, Any]) -> None:
        """After registering ``waiter``: answer at once if the container's state already
        decides (an event that came before the waiter would otherwise be lost)."""
        code = _exit_code(attrs["State"])
        if code is not None:
            self._on_exit(cid, code)
            return
        health = _health(attrs)
        if health == "unhealthy":
            self._stop_soon(cid, waiter.task)
        elif health == "healthy" and waiter.operation is Operation.START:
            self._answer(waiter, self._state(attrs, Outcome.OK))

    def _answer(self, waiter: _Waiter, result: OperationResult) -> None:
        if self._retire(waiter):
            waiter.reply(result)

    def _retire(self, waiter: _Waiter) -> bool:
        """Stop waiting; False if it was answered already (each answers once)."""
        with self._lock:
            if waiter.done:
                return False
            waiter.done = True
            for cid, waiters in list(self._waiters.items()):
                if waiter in waiters:
                    waiters.remove(waiter)
                    if not waiters:
                        del self._waiters[cid]
        return True

    def _retire_all(self, reply: Reply) -> None:
        """Retire every waiter that answers through ``reply`` (its handler failed)."""
        with self._lock:
            mine = [w for waiters in self._waiters.values() for w in waiters if w.reply is reply]
        for waiter in mine:
            self._retire(waiter)

    def _waiting(self, cid: str) -> list[_Waiter]:
        with self._lock:
            return list(self._waiters.get(cid, ()))

    def _on_exit(self, cid: str, code: int) -> None:
        with self._lock:
            if cid in self._followed:
                self._followed[cid] = code
        for waiter in self._waiting(cid):
            result = self._exited(cid, code)
            if waiter.operation is Operation.START and result.outcome is Outcome.EXITED:
                if code == 0:  # as SwarmKit: started; the WAIT that follows sees the exit
                    result = OperationResult(Outcome.OK, container=result.container, ports=())
                else:
                    result = OperationResult(
                        Outcome.FATAL,
                        error=exit_error(code),
                        exit_code=code,
                        container=result.container,
                        ports=(),
                    )
            self._answer(waiter, result)

    def _on_health(self, cid: str, health: str) -> None:
        waiters = self._waiting(cid)
        if not waiters:
            return
        if health == "unhealthy":
            self._stop_soon(cid, waiters[0].task)
        elif health == "healthy":
            starting = [w for w in waiters if w.operation is Operation.START]
            if starting:
                self._pool.submit(self._answer_healthy, cid, starting)

    def _answer_healthy(self, cid: str, waiters: list[_Waiter]) -> None:
        try:
            result = self._state(self.api.inspect_container(cid), Outcome.OK)
        except Exception as error:
            result = _failure(Operation.START, error)
        for waiter in waiters:
            self._answer(waiter, result)

    def _stop_soon(self, cid: str, task: Task) -> None:
        """Have a container that failed its health check stopped, once, in the stop
        pool (its grace period holds no worker); its waiters answer on exit."""
        with self._lock:
            if cid in self._unhealthy:
                return
            self._unhealthy.add(cid)
        self._stop_pool.submit(self._stop_unhealthy, cid, task)

    def _stop_unhealthy(self, cid: str, task: Task) -> None:
        try:
            self.api.stop(cid, timeout=_grace_seconds(task))
            attrs = self.api.inspect_container(cid)
        except docker.errors.NotFound:
            self._on_exit(cid, 137)
            return
        except Exception as error:  # not stopped: its waiters answer the error
            with self._lock:
                self._unhealthy.discard(cid)
            for waiter in self._waiting(cid):
                self._answer(waiter, _failure(waiter.operation, error))
            return
        code = _exit_code(attrs["State"])
        if code is not None:
            self._on_exit(cid, code)

    # -- the events thread ----------------------------------------------------------------

    def _subscribe(self, since: float | None) -> Any:
        # Only the actions used: every health probe also sends three exec_* events, and
        # dockerd matches "health_status" against "health_status: healthy".
        filters = {"type": "container", "label": [TASK_ID], "event": list(EVENT_ACTIONS)}
        return self.api.events(decode=True, since=since, filters=filters)

    def _read_events(self) -> None:
        last = time.time()
        stream = self._stream
        while True:
            try:
                for raw in stream:
                    last = float(raw.get("timeNano", 0)) / 1e9 or last
                    self._handle_safely(raw)
            except Exception:  # the stream broke: dockerd went away
                pass
            if self._closed.wait(EVENTS_RECONNECT_SECONDS):
                return
            try:
                stream = self._subscribe(since=last)  # reconnect, replaying what was missed
            except Exception:
                continue
            with self._lock:
                closing = self._closing
                if not closing:
                    self._stream = stream
                # a dockerd that restarted replays nothing: WAITs inspect again
                self._followed.clear()
            if closing:  # close() came while we reconnected: it cannot see this stream
                with contextlib.suppress(Exception):
                    stream.close()
                return
            self._recheck()

    def _handle_safely(self, raw: dict[str, Any]) -> None:
        """Handle one event; one that cannot be handled is logged and skipped (the
        stream is fine: resubscribing would replay the same event forever)."""
        try:
            self._handle(raw)
        except Exception:
            log.exception("docker event not handled: %r", raw)

    def _handle(self, raw: dict[str, Any]) -> None:
        action = str(raw.get("Action", raw.get("status", "")))
        name, _, detail = action.partition(":")
        if name not in EVENT_ACTIONS:
            return
        actor = raw.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        cid = str(actor.get("ID") or raw.get("id") or "")
        exit_code = int(attributes["exitCode"]) if name == "die" else None
        event = ContainerEvent(
            task_id=task_id_of(attributes),
            container_id=cid,
            action=name,  # type: ignore[arg-type]  # checked against EVENT_ACTIONS
            exit_code=exit_code,
            health=detail.strip(),
        )
        if self.observe is not None:
            self.observe(event)
        if exit_code is not None:
            self._on_exit(cid, exit_code)
        elif name == "health_status":
            self._on_health(cid, event.health)
        elif name == "destroy":
            self._on_exit(cid, 137)
            with self._lock:
                self._unhealthy.discard(cid)
                self._followed.pop(cid, None)

    def _recheck(self) -> None:
        """After a reconnection: every waited container's state, read afresh."""
        with self._lock:
            waited = sorted(self._waiters)
        for cid in waited:
            try:
                attrs = self.api.inspect_container(cid)
            except docker.errors.NotFound:
                self._on_exit(cid, 137)
                continue
            except Exception:
                log.exception("container %s not inspected after reconnecting", cid)
                continue
            for waiter in self._waiting(cid):
                self._check_now(cid, waiter, attrs)


class _Fatal(Exception):
    """A task the executor cannot run at all (it fails for good)."""


def _failure(operation: Operation, error: Exception) -> OperationResult:
    """An SDK error as an answer: dockerd unreachable is temporary; what dockerd
    refused (a missing image, a bad spec, a failed start) is fatal, with its message,
    except for the removal steps, which the controller retries anyway."""
    if isinstance(error, docker.errors.APIError):
        message = str(error.explanation or error)
        server_side = error.status_code is None or error.status_code >= 500
        if server_side and operation in (Operation.SHUTDOWN, Operation.REMOVE, Operation.INSPECT):
            return OperationResult(Outcome.TEMPORARY, error=message)
        return OperationResult(Outcome.FATAL, error=message)
    if isinstance(error, requests.exceptions.RequestException | ConnectionError):
        return OperationResult(Outcome.TEMPORARY, error=f"dockerd unreachable: {error}")
    return OperationResult(Outcome.FATAL, error=str(error) or type(error).__name__)


def _no_container(task: Task) -> OperationResult:
    return OperationResult(Outcome.FATAL, error=f"No such container: {task.id}")


def _exit_code(state: dict[str, Any]) -> int | None:
    """A container's exit code if it ran and exited, else None."""
    if state["Running"] or state["StartedAt"] == _NEVER:
        return None
    return int(state["ExitCode"])


def _health(attrs: dict[str, Any]) -> str:
    health = attrs["State"].get("Health")
    return str(health.get("Status", "")) if health else ""


def _grace_seconds(task: Task) -> int:
    """The stop grace period in whole seconds, as Docker hands it to ``stop``."""
    return effective_stop_grace_period_ns(task.spec.container_spec) // SECOND


def _bound_ports(attrs: dict[str, Any]) -> tuple[PortConfig, ...]:
    """The host ports a container binds, from its HostConfig's port bindings (or
    the label of one sharing its sandbox's namespace)."""
    recorded = ((attrs.get("Config") or {}).get("Labels") or {}).get(PORTS_LABEL)
    if recorded:
        return ports_of_label(recorded)
    bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    ports = []
    for key in sorted(bindings):
        target, _, protocol = key.partition("/")
        for binding in bindings[key] or ():
            if binding.get("HostPort"):
                ports.append(
                    PortConfig(
                        protocol=PortProtocol(protocol or "tcp"),
                        target_port=int(target),
                        published_port=int(binding["HostPort"]),
                        publish_mode=PublishMode.HOST,
                    )
                )
    return tuple(ports)


def _extra_hosts(hosts: Iterable[str]) -> list[str]:
    """SwarmKit's ``IP host [alias...]`` entries as Docker's ``host:IP``."""
    extra: list[str] = []
    for entry in hosts:
        fields = entry.split()
        if len(fields) >= 2:
            extra.extend(f"{name}:{fields[0]}" for name in fields[1:])
    return extra


def _log_line(line: str) -> tuple[float, str]:
    """``2024-05-01T10:00:00.123456789Z text`` as (seconds since the epoch, text)."""
    stamp, _, text = line.partition(" ")
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0, line
    return seconds + float(f"0.{fraction or 0}"), text
