"""The real driver of one host's :class:`~core.node.SwarmNode`: what sim/cluster.py's
``ClusterHost`` is to the simulator, with only the I/O differing.

It feeds the node ``advance(mono, wall)`` from its :class:`~real.clock.DaemonClock`
(the machine's clocks; a test may step the wall one) (one timer, armed for the node's
``next_deadline``), messages from the transport,
executor results (handed over from the executor's threads with
:func:`~real.agent.executor.threadsafe`) and client requests; and carries out every
:class:`~core.node.NodeReady` in DESIGN.md's order:

1. Raft's reset and writes, the agent's writes and the identity are appended to the
   WAL, then one ``sync()`` (group commit: every envelope that queued while a sync was
   under way shares the next one) runs on a worker thread;
2. only then ``persisted(seq)`` is fed back, and the envelope's messages, executor
   commands and client replies go out, in envelope order. The node already holds
   Raft's messages until persisted; holding the rest too costs one fsync of latency
   and makes "nothing leaves before what it depends on is on disk" hold for the
   agent's store and the identity as well (an executor command never outruns the
   assignment it acts on, so a restarted agent finds its containers' tasks).

Messages to the node itself loop back on the event loop's next turn, as the
simulator's do. The transport (mutual TLS) starts once the node has credentials:
at boot from the WAL, or after ``swarm init`` or a join; a single host before that
needs none, and messages to other hosts meanwhile are dropped and counted (the
network may lose messages; Raft and the dispatcher retry).

A joining node has no certificate, so its ``RootCARequest`` and ``JoinRequest`` go
over the transport's join path instead (``request_join``: no client certificate, the
manager's root checked before the token leaves), each on a connection of its own;
the answer, or a ``JoinRefused`` saying why the manager could not be reached or
trusted, is fed back to the node as if the manager had sent it.

A WAL that fails to write or fsync can no longer be trusted: the driver stops and
:attr:`Driver.failed` says why; the daemon exits and a restart recovers from disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import random
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.agent.agent import AgentWrite
from core.ca.credentials import NodeCredentials
from core.dataplane.state import NetworkState
from core.manager.autolock import locked_answer, locked_error, parse_key
from core.manager.requests import ClientReply, ClientRequest
from core.messages import (
    ClusterMessage,
    JoinRefused,
    JoinRequest,
    RootCAReply,
    RootCARequest,
)
from core.model.common import Platform, Resources
from core.model.node import EngineDescription, NodeDescription
from core.model.service import Service
from core.model.task import Task
from core.node import NodeIdentity, NodeReady, SwarmNode
from core.raft.config import RaftConfig
from core.tasks.executor import ExecutorResult
from real.agent.dataplane import HostDataplane
from real.agent.executor import DockerExecutor, threadsafe
from real.agent.programs import LatestPrograms
from real.agent.sandbox import Sandboxes
from real.agent.taskfiles import TaskFiles, files_root
from real.clock import DaemonClock
from real.files import FileLayer, OsFiles
from real.tls import Credentials
from real.transport import JoinError, Transport, fetch_root, request_join
from real.transport.frames import split_host
from real.wal import (
    DataKeys,
    IdentityChange,
    KeyFile,
    RaftReset,
    StoredKeys,
    Wal,
    WalCorrupt,
    WalError,
    WrongKey,
    wrap,
)
from real.wal.keys import KEYS_NAME
from real.wal.log import is_log_file
from real.wal.records import Record

log = logging.getLogger(__name__)

#: A wake-up a hair early (float rounding of the loop's timer) is re-armed this late.
WAKE_ROUNDING_SECONDS = 1e-3
#: The WAL's directory inside the data directory.
WAL_DIRECTORY = "wal"
#: Docker's swarm port: a ``swarm join`` remote without one means this one.
DEFAULT_SWARM_PORT = 2377
#: Seconds a join connection may take (the leader commits the node before answering).
JOIN_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DriverConfig:
    host: str  # "address:port": the node's name to its peers (its advertise address)
    data_dir: Path
    raft: RaftConfig = field(default_factory=RaftConfig)
    tick_seconds: float = 1.0
    listen: tuple[str, int] | None = None  # where the transport binds (None: at host)
    #: The overlay networks' namespaces are named with it (hosts sharing a machine,
    #: as test hosts do, need distinct ones).
    netns_prefix: str = "shoal-"


def describe_host(engine_version: str) -> NodeDescription:
    """This machine as ``docker node inspect`` describes it."""
    machine = platform.machine()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return NodeDescription(
        hostname=socket.gethostname(),
        platform=Platform(architecture=machine, os=platform.system().lower()),
        resources=Resources(nano_cpus=(os.cpu_count() or 1) * 10**9, memory_bytes=memory),
        engine=EngineDescription(engine_version=engine_version),
    )


def entropy(size: int) -> bytes:
    """The node's secrets (keys, tokens) from the OS. A function of the driver's own,
    so that the tests' rule-1 trap sees real/, not core, calling ``os.urandom``."""
    return os.urandom(size)


def credentials_of(node: NodeCredentials) -> Credentials:
    """The transport's PEM credentials from the node's."""
    return Credentials(ca_pem=node.root_pem, cert_pem=node.cert_pem, key_pem=node.key_pem)


def with_port(remote: str) -> str:
    """A ``swarm join`` remote as a transport host, ``address:port``: Docker's port
    when it names none (the CLI drops ``:2377``, the simulator's hosts being names)."""
    try:
        split_host(remote)
    except ValueError:
        return f"{remote}:{DEFAULT_SWARM_PORT}"
    return remote


def wal_records(ready: NodeReady) -> list[Record]:
    """What of ``ready`` must be durable before anything of it leaves, in order: the
    identity first (it carries the credentials the rest is signed with), then Raft's
    reset and writes, then the agent's store."""
    records: list[Record] = []
    if ready.identity is not False:
        identity = ready.identity if isinstance(ready.identity, NodeIdentity) else None
        records.append(IdentityChange(identity))
    if ready.raft_reset is not None:
        records.append(RaftReset(ready.raft_reset))
    records.extend(ready.raft_writes)
    records.extend(AgentWrite(w.task_id, w.task) for w in ready.agent_writes)
    return records


class Driver:
    """One host's node, its WAL, its executor and (once it has credentials) its
    transport. :meth:`start` recovers and boots; :meth:`call` is a client request."""

    def __init__(
        self,
        config: DriverConfig,
        docker_client: Any,
        *,
        files: FileLayer | None = None,
        clock: DaemonClock | None = None,
    ) -> None:
        self.config = config
        self.host = config.host
        self.docker = docker_client
        self.files: FileLayer = files or OsFiles()
        self.clock = clock or DaemonClock()
        self._send_delay = 0.0  # seconds a test holds every message sent (see send_delay)
        entropy_seed = os.urandom(16)
        self.rng = random.Random(entropy_seed)
        self.stats: Counter[str] = Counter()
        self.node: SwarmNode | None = None
        self.wal: Wal | None = None
        self.executor: DockerExecutor | None = None
        self.dataplane: HostDataplane | None = None
        # Network programs run off the loop, the latest only, retried after a failure.
        self._programs: LatestPrograms[tuple[str, dict[str, NetworkState]]] | None = None
        self.transport: Transport | None = None
        self.failed: asyncio.Future[BaseException] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._outbox: list[NodeReady] = []
        self._flushing: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[ClientReply]] = {}
        self._request_seq = 0
        self._service_names: dict[str, str] = {}  # read by executor threads: swapped whole
        self._joins: set[asyncio.Task[None]] = set()
        self.key_file = KeyFile(self.files, str(config.data_dir / WAL_DIRECTORY))
        self.locked: StoredKeys | None = None  # until ``swarm unlock``: the wrapped keys
        self.kek: bytes | None = None  # the unlock key the data keys are wrapped under
        self._unlocking = False  # an unlock (or forced leave) is booting the node

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the data keys; a locked manager stops there, serving only ``swarm
        unlock`` (and a forced leave) until it is given its key. Otherwise boot."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.failed = loop.create_future()
        self._flushing = asyncio.Event()
        stored = await asyncio.to_thread(self._stored_keys)
        if stored.locked:
            self.locked = stored
            log.warning("the swarm is locked: docker swarm unlock gives this manager its key")
            return
        await self._boot(stored.open(None), None)

    def _stored_keys(self) -> StoredKeys:
        """The data keys on disk; a node that has none yet makes its first."""
        stored = self.key_file.load()
        if stored is not None:
            return stored
        logged = [n for n in self.files.list(self.key_file.directory) if is_log_file(n)]
        if logged:  # (a temp file of a first save cut short is no log)
            raise WalCorrupt(
                f"wal: {self.key_file.path} is missing, so {logged[0]} and the rest of the "
                "log cannot be read (a log written before shoal sealed its WAL has no keys: "
                "start that node anew)"
            )
        stored = wrap(DataKeys.fresh(), None)
        self.key_file.save(stored)
        return stored

    async def _boot(self, keys: DataKeys, kek: bytes | None) -> None:
        """Recover the WAL, adopt the containers of tasks the node still owns (removing
        the rest), boot the node, and start the transport if it has credentials."""
        loop = asyncio.get_running_loop()
        self.kek = kek
        directory = str(self.config.data_dir / WAL_DIRECTORY)
        self.wal = await asyncio.to_thread(Wal.open, self.files, directory, keys)
        if len(keys.keys) > 1:  # a rotation the last life did not finish
            await asyncio.to_thread(self._rekey, keys.only_current(), kek)
        disk = self.wal.recovered()
        version = await asyncio.to_thread(self.docker.version)
        description = describe_host(str(version.get("Version", "")))
        underlay, _ = split_host(self.host)
        self.dataplane = HostDataplane(self.config.netns_prefix, underlay)
        executor = DockerExecutor(
            self.docker,
            threadsafe(loop, self._executor_result),
            service_name=self._service_name,
            rng=random.Random(self.rng.getrandbits(64)),
            sandboxes=Sandboxes(self.docker, self.dataplane),
            task_files=TaskFiles(files_root(self.config.netns_prefix)),
        )
        self.executor = executor
        await asyncio.to_thread(executor.open)
        adopted = await asyncio.to_thread(executor.adopt, sorted(disk.tasks))
        log.info("recovered %d tasks, adopted %d containers", len(disk.tasks), len(adopted))
        if disk.identity is not None and disk.identity.credentials is not None:
            await self._use_credentials(disk.identity.credentials)
        self.node = SwarmNode(
            self.host,
            description,
            self.rng,
            entropy,
            self.config.raft,
            self.config.tick_seconds,
            self.clock.mono(),
            self.clock.wall(),
            disk=disk,
        )
        self._flusher = loop.create_task(self._flush_forever(), name="wal-flush")
        self._step()

    async def close(self) -> None:
        """Stop feeding the node (what is queued but not synced is dropped, as a crash
        would drop it) and release whatever was started of the transport, the executor
        and the WAL."""
        self.node = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        joins, self._joins = list(self._joins), set()
        for join in joins:
            join.cancel()
        await asyncio.gather(*joins, return_exceptions=True)
        transport, self.transport = self.transport, None
        if transport is not None:
            await transport.close()
        executor, self.executor = self.executor, None
        if executor is not None:
            await asyncio.to_thread(executor.close)
        programs, self._programs = self._programs, None
        if programs is not None:
            await asyncio.to_thread(programs.close)
        dataplane, self.dataplane = self.dataplane, None
        if dataplane is not None:
            await asyncio.to_thread(dataplane.close)
        wal, self.wal = self.wal, None
        if wal is not None:
            await asyncio.to_thread(wal.close)
        for future in self._waiting.values():
            future.cancel()

    # -- inputs ----------------------------------------------------------------------------

    def _advance(self) -> SwarmNode | None:
        node = self.node
        if node is not None:
            node.advance(self.clock.mono(), self.clock.wall())
        return node

    def _receive(self, source: str, message: ClusterMessage) -> None:
        node = self._advance()
        if node is not None:
            node.receive(source, message)
            self._step()

    def _executor_result(self, result: ExecutorResult) -> None:
        node = self._advance()
        if node is not None:
            node.executor_result(result)
            self._step()

    def _persisted(self, seq: int) -> None:
        node = self._advance()
        if node is not None:
            node.persisted(seq)
            self._step()

    def _wake(self) -> None:
        self._timer = None
        if self._advance() is not None:
            self._step()

    async def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        """A client request and its reply (the node answers every request, at worst
        with a timeout error after REQUEST_TIMEOUT_SECONDS)."""
        self._request_seq += 1
        if method == "SwarmJoin" and "remote" in params:
            params = {**params, "remote": with_port(str(params["remote"]))}
        request = ClientRequest(f"client-{self._request_seq}", method, params)
        if self.locked is not None:
            return await self._locked_call(request, self.locked)
        node = self._advance()
        if node is None:
            return ClientReply(
                request.id, False, error="Cannot connect to the Docker daemon", code="Unavailable"
            )
        future: asyncio.Future[ClientReply] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = future
        node.request(request)
        self._step()
        try:
            return await future
        finally:
            self._waiting.pop(request.id, None)

    async def _locked_call(self, request: ClientRequest, stored: StoredKeys) -> ClientReply:
        """A locked manager's answer (core/manager/autolock.py): an unlock with the
        right key boots it; a forced leave forgets the swarm and boots it outside one."""

        def opens(kek: bytes) -> bool:
            try:
                stored.open(kek)
            except WrongKey:
                return False
            return True

        refused = locked_answer(request, opens)
        if refused is not None:
            return refused
        if self._unlocking:  # another unlock or leave is booting the node
            return ClientReply.failed(request.id, locked_error())
        self._unlocking = True
        try:
            if request.method == "SwarmUnlock":
                kek = parse_key(str(request.params["key"]))
                await self._boot(stored.open(kek), kek)
            else:
                await self._boot(await asyncio.to_thread(self._forget_swarm), None)
        except Exception as error:  # the node stays locked, nothing of it left open
            log.exception("%s: the node could not be started", request.method)
            await self.close()
            message = f"swarm component could not be started: {error}"
            return ClientReply(request.id, False, error=message, code="Unknown")
        finally:
            self._unlocking = False
        self.locked = None
        log.info("%s: this manager runs again", request.method)
        return ClientReply(request.id, True, None)

    def _forget_swarm(self) -> DataKeys:
        """``swarm leave --force`` of a locked manager: its log, unreadable, goes, and
        a new one starts with new data keys in the clear (it is in no swarm). The key
        file goes last: a cut before then leaves keys and less log, never a log
        without its keys."""
        directory = self.key_file.directory
        for name in self.files.list(directory):
            if name != KEYS_NAME:
                self.files.remove(os.path.join(directory, name))
        self.files.fsync_dir(directory)
        if KEYS_NAME in self.files.list(directory):
            self.files.remove(self.key_file.path)
            self.files.fsync_dir(directory)
        keys = DataKeys.fresh()
        self.key_file.save(wrap(keys, None))
        return keys

    def info(self) -> dict[str, Any]:
        """The swarm part of ``docker info`` (:meth:`~core.node.SwarmNode.info`; before
        the node has booted, who this daemon will be)."""
        node = self.node
        if self.locked is not None:
            return {"host": self.host, "hostname": "", "node_id": "", "locked": True}
        if node is None:
            return {
                "host": self.host,
                "hostname": "",
                "node_id": "",
                "manager": False,
                "leader": False,
                "term": 0,
                "commit_index": 0,
                "last_index": 0,
                "managers": (),
            }
        return node.info()

    # -- outputs ---------------------------------------------------------------------------

    def _step(self) -> None:
        node = self.node
        if node is None:
            return
        ready = node.ready()
        if ready.applied and node.manager is not None:
            services = node.manager.store.tables["services"].values()
            self._service_names = {s.id: s.spec.name for s in services if isinstance(s, Service)}
        self._outbox.append(ready)
        assert self._flushing is not None
        self._flushing.set()
        self._arm(ready.next_deadline)

    def _arm(self, deadline: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None or self._loop is None:
            return
        now = self.clock.mono()
        delay = max(0.0, deadline - now)
        if delay == 0.0 and now < deadline:
            delay = WAKE_ROUNDING_SECONDS
        self._timer = self._loop.call_later(delay, self._wake)

    async def _flush_forever(self) -> None:
        """Group commit: everything queued since the last sync goes to the WAL, one
        sync, then the queued envelopes' outputs in order."""
        assert self._flushing is not None and self.wal is not None
        wal = self.wal
        while True:
            await self._flushing.wait()
            self._flushing.clear()
            batch, self._outbox = self._outbox, []
            records = [record for ready in batch for record in wal_records(ready)]
            seq = None
            if records:
                try:
                    for record in records:
                        wal.append(record)
                    seq = await asyncio.to_thread(wal.sync)
                except WalError as error:
                    self._fail(error)
                    return
            try:
                for ready in batch:
                    await self._carry_out(ready)
            except OSError as error:  # the data keys could not be rewritten, say
                self._fail(error)
                return
            if seq is not None:
                self._persisted(seq)

    def _fail(self, error: BaseException) -> None:
        log.error("the log or its keys could not be written, the node stops: %s", error)
        self.node = None
        if self._timer is not None:
            self._timer.cancel()
        if self.failed is not None and not self.failed.done():
            self.failed.set_result(error)

    async def _carry_out(self, ready: NodeReady) -> None:
        if ready.unlock_key is not None:
            await asyncio.to_thread(self._lock_with, ready.unlock_key)
        if ready.identity is None and self.transport is not None:  # it left the swarm
            transport, self.transport = self.transport, None
            await transport.close()
        if ready.credentials is not None:
            await self._use_credentials(ready.credentials)
        loop = self._loop
        assert loop is not None
        for target, message in ready.messages:
            if target == self.host:  # to itself: the next turn, as over loopback
                loop.call_soon(self._receive, self.host, message)
            elif isinstance(message, (RootCARequest, JoinRequest)):
                join = loop.create_task(self._join(target, message), name=f"join-{target}")
                self._joins.add(join)
                join.add_done_callback(self._joins.discard)
            elif self.transport is not None:
                self.transport.send(target, message)
            else:
                self.stats["dropped_no_transport"] += 1
        if ready.networks is not None:
            self._program(dict(ready.networks))
        executor = self.executor
        assert executor is not None
        for command in ready.commands:
            executor.submit(command)
        for reply in ready.replies:
            future = self._waiting.get(reply.id)
            if future is not None and not future.done():
                future.set_result(reply)

    def _lock_with(self, unlock_key: str) -> None:
        """Wrap the data keys under the swarm's unlock key ("": keep them in the
        clear). When the lock comes on or goes, the log is first rewritten under a new
        data key: one that was in the clear may have been copied (SwarmKit rotates its
        DEK when autolock comes on), and one that was locked must not be put in the
        clear with what it sealed (a demoted manager's dropped Raft log)."""
        kek = parse_key(unlock_key) if unlock_key else None
        wal = self.wal
        if kek == self.kek or wal is None:
            return
        if (self.kek is None) != (kek is None):
            rotated = wal.keys.rotated()
            # both keys, under whichever lock is on (the new one, or the old until the
            # log no longer needs the old key): a cut mid-rotation leaves them readable
            # and never puts a key that sealed locked data in the clear
            self.key_file.save(wrap(rotated, kek if kek is not None else self.kek))
            self._rekey(rotated.only_current(), kek)
        else:
            self.key_file.save(wrap(wal.keys, kek))
        self.kek = kek
        log.info("data keys %s", "locked under the unlock key" if kek else "kept unlocked")

    def _rekey(self, keys: DataKeys, kek: bytes | None) -> None:
        """The log rewritten under ``keys``' current data key, then the others dropped."""
        assert self.wal is not None
        self.wal.rekey(keys)
        self.key_file.save(wrap(keys, kek))

    def _program(self, networks: dict[str, NetworkState]) -> None:
        """Program the host's data plane, off the loop: the latest networks only."""
        node = self.node
        identity = node.identity if node is not None else None
        dataplane = self.dataplane
        if dataplane is None:
            return
        if self._programs is None:
            self._programs = LatestPrograms(lambda wanted: dataplane.program(*wanted))
        self._programs.submit((identity.node_id if identity is not None else "", networks))

    async def _join(self, target: str, message: RootCARequest | JoinRequest) -> None:
        """Carry one step of a join to the manager at ``target`` and feed back its
        answer (or why there is none) as the manager's."""
        answer: ClusterMessage
        try:
            if isinstance(message, RootCARequest):
                answer = RootCAReply(await fetch_root(target, timeout=JOIN_TIMEOUT_SECONDS))
            else:
                _, answer = await request_join(
                    target,
                    message,
                    self._trusted_root,
                    root=self._join_root(),
                    timeout=JOIN_TIMEOUT_SECONDS,
                )
        except JoinError as error:
            log.warning("joining through %s: %s", target, error)
            answer = JoinRefused(str(error))
        self._receive(target, answer)

    def _join_root(self) -> bytes | None:
        """The root the join accepted, which the manager's chain must lead to."""
        pending = self.node.pending_join if self.node is not None else None
        return pending.root.cert_pem if pending is not None and pending.root else None

    def _served_root(self) -> bytes:
        """The root the join path serves: the store's, as in sim (empty: not a manager)."""
        manager = self.node.manager if self.node is not None else None
        return manager.root_ca() if manager is not None else b""

    def _trusted_root(self, ca_pem: bytes) -> str | None:
        """The join's second connection must present the root the node accepted."""
        node = self.node
        pending = node.pending_join if node is not None else None
        if pending is None or pending.root is None:
            return "the join was abandoned"
        if ca_pem != pending.root.cert_pem:
            return "the manager's root CA changed while joining"
        return None

    async def _use_credentials(self, credentials: NodeCredentials) -> None:
        """Start the transport with the node's first credentials; renew it after."""
        pem = credentials_of(credentials)
        if self.transport is not None:
            await self.transport.renew(pem)
            return
        transport = Transport(
            self.host,
            pem,
            self._receive,
            random.Random(self.rng.getrandbits(64)),
            served_root=self._served_root,
        )
        transport.delay.seconds = self._send_delay
        await transport.start(self.config.listen)
        self.transport = transport

    @property
    def send_delay(self) -> float:
        """Seconds every message to another host waits before it is sent (a test's
        ``delay``; kept across a new transport, lost with the process)."""
        return self._send_delay

    @send_delay.setter
    def send_delay(self, seconds: float) -> None:
        self._send_delay = seconds
        if self.transport is not None:
            self.transport.delay.seconds = seconds

    def _service_name(self, task: Task) -> str:
        """The service's name for a task's container (called from executor threads):
        from the store on a manager, else as the task's assignment said it."""
        name = self._service_names.get(task.service_id, "")
        node = self.node
        agent = node.agent if node is not None else None
        if not name and agent is not None:
            name = agent.service_names.get(task.service_id, "")
        return name


__all__ = ["Driver", "DriverConfig", "describe_host", "wal_records", "with_port"]
