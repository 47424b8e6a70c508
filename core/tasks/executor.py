"""The executor seam: what a driver does to containers on the agent's behalf.

The core never touches a container. The task controller emits
:class:`ExecutorCommand` values; the driver runs each against its executor (the
simulated one in ``sim/``, dockerd in ``real/``) and feeds the
:class:`ExecutorResult` back. Every command carries a token (task id, controller
epoch, sequence); the result echoes it, and a result whose token is no longer the one
the controller waits for is stale and dropped. Operations are idempotent: a second
``prepare`` of a prepared task answers :attr:`Outcome.ALREADY`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.model.service import PortConfig
from core.model.task import ContainerStatus, Task


class Operation(enum.Enum):
    PREPARE = "prepare"  # pull the image, create the container
    START = "start"  # start the container
    WAIT = "wait"  # until the container exits (long-running)
    SHUTDOWN = "shutdown"  # stop it, within the stop grace period
    REMOVE = "remove"  # delete the container
    INSPECT = "inspect"  # what is there now (after an agent restart)
    LOGS = "logs"  # the container's output so far (``docker service logs``)


#: The error of a task whose container failed its health check and was stopped
#: (both engines, simulated and real, answer it).
UNHEALTHY_ERROR = "task: non-zero exit (137): dockerexec: unhealthy container"


class Outcome(enum.Enum):
    OK = "ok"
    ALREADY = "already"  # done before: prepared or started by an earlier attempt
    EXITED = "exited"  # wait/inspect: the container exited with ``exit_code``
    FATAL = "fatal"  # permanent: the task is rejected or failed
    TEMPORARY = "temporary"  # try the same step again after the retry delay


@dataclass(frozen=True, slots=True, order=True)
class OperationToken:
    """Identifies one command; a result for an older token is stale."""

    task_id: str
    epoch: int
    sequence: int


#: Where a secret whose target is not an absolute path is mounted (dockerd's).
SECRETS_DIR = "/run/secrets"


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A secret or config as the task's container sees it: a read-only file at
    ``path`` holding ``data``, with the reference's owner and mode."""

    kind: str  # "secret" or "config"
    object_id: str
    name: str
    path: str  # absolute, in the container
    data: bytes
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444


def file_path(kind: str, target: str) -> str:
    """Where dockerd mounts a reference's target: an absolute one as it is; a
    secret's relative one under :data:`SECRETS_DIR`, a config's under ``/``."""
    if target.startswith("/"):
        return target
    return f"{SECRETS_DIR}/{target}" if kind == "secret" else f"/{target}"


@dataclass(frozen=True, slots=True)
class ExecutorCommand:
    token: OperationToken
    operation: Operation
    task: Task
    #: PREPARE: the task's secrets and configs, with their data (the agent holds
    #: them in memory; the executor mounts them without writing them to a disk).
    files: tuple[TaskFile, ...] = ()


@dataclass(frozen=True, slots=True)
class OperationResult:
    """What an executor method returns: the outcome and what it learnt."""

    outcome: Outcome
    error: str = ""
    exit_code: int | None = None
    container: ContainerStatus | None = None
    output: tuple[tuple[float, str], ...] = ()  # LOGS: (seconds since the epoch, line)
    # The container's published host ports as the engine bound them (the task's
    # PortStatus); None when the result says nothing about them.
    ports: tuple[PortConfig, ...] | None = None

    def __post_init__(self) -> None:
        if self.outcome in (Outcome.FATAL, Outcome.TEMPORARY) and not self.error:
            raise ValueError(f"a {self.outcome.value} result must say what went wrong")
        if self.outcome is Outcome.EXITED and self.exit_code is None:
            raise ValueError("an exited result must carry the exit code")


@dataclass(frozen=True, slots=True)
class ExecutorResult:
    """An :class:`OperationResult` addressed back to the command that asked for it."""

    token: OperationToken
    operation: Operation
    result: OperationResult


@runtime_checkable
class Executor(Protocol):
    """A container runtime as the agent sees it; one method per :class:`Operation`.

    Drivers implement it (synchronously, on a thread, or as SimPy processes) and run
    commands through :func:`perform`; the core only ever sees commands and results.
    """

    def prepare(self, task: Task) -> OperationResult: ...

    def start(self, task: Task) -> OperationResult: ...

    def wait(self, task: Task) -> OperationResult: ...

    def shutdown(self, task: Task) -> OperationResult: ...

    def remove(self, task: Task) -> OperationResult: ...

    def inspect(self, task: Task) -> OperationResult: ...

    def logs(self, task: Task) -> OperationResult: ...


def perform(executor: Executor, command: ExecutorCommand) -> ExecutorResult:
    """Run one command against ``executor`` and address the result back to it."""
    method = getattr(executor, command.operation.value)
    result: OperationResult = method(command.task)
    return ExecutorResult(command.token, command.operation, result)
