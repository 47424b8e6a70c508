"""Acceptance 1, its TLS half, against running daemons: who the leader's swarm port lets
in, what a worker's certificate may say there, and join tokens that no longer admit.

Real ``shoal daemon`` processes on loopback (a leader and a worker, and a third node for
the joins), each with the dockerd of ``busybox_dockerd``/``second_busybox_dockerd``.
Loopback rather than test hosts: the test process itself must speak TLS to the leader
and take the leader's answers (a listener the leader dials back), which the root
namespace cannot do with the test hosts' addresses. The credentials used are the
daemons' own, read back from their WALs (on a copy: opening a WAL repairs it), and the
cluster's root key from the Cluster object in the leader's Raft log, where SwarmKit
keeps it too. tests/real/test_transport.py covers the transport's own mechanics with
certificates it makes; here the certificates, policy and effects are the daemons'.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.commands import service as service_command
from core.ca import policy
from core.ca.cluster import cluster_root
from core.ca.issue import new_csr, sign_node_certificate
from core.ca.root import RootCA, create_root_ca
from core.ca.tokens import join_token
from core.messages import (
    ClusterMessage,
    ForwardedRequest,
    Heartbeat,
    JoinRefused,
    JoinRequest,
    RaftEnvelope,
    SessionRefused,
    decode,
    encode,
)
from core.model.cluster import Cluster
from core.model.enums import NodeRole
from core.model.node import NodeDescription
from core.node import NodeDisk, NodeIdentity
from core.raft.types import EntryKind, Message, MessageType
from core.store.actions import ActionKind, Transaction
from core.store.store import MemoryStore
from real.agent.images import IMAGE
from real.dockerd import Dockerd
from real.driver import WAL_DIRECTORY, credentials_of
from real.files import OsFiles
from real.tls import JOIN_SERVER_NAME, MANAGER_SERVER_NAME, Credentials
from real.transport import Transport
from real.transport.frames import (
    JOIN_FRAME,
    WELCOME_FRAME,
    FrameError,
    frame,
    hello,
    read_frame,
    read_root,
    read_welcome,
    split_host,
)
from real.wal import KeyFile, Wal
from tests.real.test_daemon import Daemon, _rows, _until, wait_for
from tests.real.test_daemon_join import REFUSED, _wrong_secret

DAY = 24 * policy.HOUR
#: A Raft term no cluster this young has reached: a leader that took a message of it
#: would step down and keep the term in its hard state.
FORGED_TERM = 1_000_000
INVALID_TOKEN = "A valid join token is necessary to join this cluster"
TLS_VERSIONS = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)


# -- what the daemons keep on disk -----------------------------------------------------------


def durable(daemon: Daemon) -> NodeDisk:
    """What the daemon's WAL holds, recovered from a copy (``Wal.open`` cuts a torn tail
    and drops stale files: never on the live log of a running daemon)."""
    with tempfile.TemporaryDirectory(prefix="shoal-wal-copy-") as scratch:
        copy = Path(scratch) / WAL_DIRECTORY
        shutil.copytree(daemon.data_dir / WAL_DIRECTORY, copy)
        stored = KeyFile(OsFiles(), str(copy)).load()  # in the clear: no autolock here
        assert stored is not None and not stored.locked
        wal = Wal.open(OsFiles(), str(copy), stored.open(None))
        try:
            return wal.recovered()
        finally:
            wal.close()


def identity(daemon: Daemon) -> NodeIdentity:
    found = durable(daemon).identity
    assert found is not None and found.credentials is not None, daemon.log()
    return found


def credentials(daemon: Daemon) -> Credentials:
    node = identity(daemon).credentials
    assert node is not None
    return credentials_of(node)


def stored_cluster(disk: NodeDisk) -> Cluster:
    """The Cluster object as the Raft log (snapshot, then entries) leaves it."""
    clusters: dict[str, Cluster] = {}
    if disk.raft.snapshot.data:
        restored = MemoryStore.restore(disk.raft.snapshot.data).tables.get("clusters", {})
        clusters.update((i, c) for i, c in restored.items() if isinstance(c, Cluster))
    for entry in disk.raft.entries:
        if entry.kind is not EntryKind.NORMAL or not entry.data:
            continue
        for action in Transaction.decode(entry.data).actions:
            if isinstance(action.obj, Cluster):
                if action.kind is ActionKind.DELETE:
                    clusters.pop(action.obj.id, None)
                else:
                    clusters[action.obj.id] = action.obj
    (cluster,) = clusters.values()
    return cluster


def issue(
    root: RootCA,
    cluster_id: str,
    node_id: str,
    role: NodeRole,
    *,
    expired: bool = False,
    trust: RootCA | None = None,
) -> Credentials:
    """A certificate ``root`` signs as the cluster CA does, valid for a day (an expired
    one ended a day ago); the node trusts ``trust`` (``root`` unless told)."""
    rng = random.Random(node_id)
    now = time.time()
    pair = new_csr(rng.randbytes)
    cert = sign_node_certificate(
        root,
        pair.csr_pem,
        node_id=node_id,
        role=role,
        cluster_id=cluster_id,
        wall=now - 2 * DAY if expired else now,
        entropy=rng.randbytes,
        expiry=DAY,
    )
    return Credentials((trust or root).cert_pem, cert, pair.key_pem)


# -- the swarm ---------------------------------------------------------------------------------


@dataclass
class Swarm:
    leader: Daemon
    worker: Daemon
    joiner: Daemon  # started, in no swarm
    root: RootCA  # the cluster's, with its key
    cluster_id: str

    def node_ls(self) -> str:
        listed = self.leader.shoal("node", "ls")
        assert listed.returncode == 0, listed.stderr + self.leader.log()
        return listed.stdout

    def services(self) -> list[str]:
        """The names in ``service ls``, once every write proposed before this call is
        committed: a write of its own, committed after them, is waited for first."""
        marker = f"marker-{random.Random().getrandbits(32):08x}"
        made = self.leader.shoal(
            "service", "create", "--detach", "--name", marker, "--replicas", "0", IMAGE
        )
        assert made.returncode == 0, made.stderr + self.leader.log()
        listed = self.leader.shoal("service", "ls")
        assert listed.returncode == 0, listed.stderr + self.leader.log()
        names = [row[1] for row in _rows(listed.stdout)]
        assert marker in names, listed.stdout
        return [name for name in names if not name.startswith("marker-")]

    def leader_log(self) -> str:
        """The leader's whole log (``Daemon.log`` keeps only its end)."""
        path = self.leader.data_dir.parent / f"daemon-{self.leader.starts}.log"
        return path.read_text(errors="replace")


def _ready_nodes(out: str) -> int:
    return sum(1 for row in _rows(out) if "Ready" in row)


@pytest.fixture(scope="module")
def swarm(
    busybox_dockerd: Dockerd,
    second_busybox_dockerd: Dockerd,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Swarm]:
    base = tmp_path_factory.mktemp("cluster-tls")
    daemons = []
    for name, dockerd in (
        ("leader", busybox_dockerd),
        ("worker", second_busybox_dockerd),
        ("joiner", busybox_dockerd),  # never runs a task: a dockerd of its own is not needed
    ):
        (base / name).mkdir()
        daemons.append(Daemon(base / name / "data", dockerd.url))
    leader, worker, joiner = daemons
    try:
        for daemon in daemons:
            daemon.start()
        init = leader.shoal("swarm", "init")
        assert init.returncode == 0, init.stderr + leader.log()
        token = leader.shoal("swarm", "join-token", "-q", "worker").stdout.strip()
        joined = worker.shoal("swarm", "join", "--token", token, leader.listen)
        assert joined.returncode == 0, joined.stderr + worker.log() + leader.log()
        _until(leader, ("node", "ls"), lambda out: _ready_nodes(out) == 2)
        cluster = stored_cluster(durable(leader))
        root = cluster_root(cluster)
        assert root.can_sign and root.cert_pem == credentials(leader).ca_pem
        yield Swarm(leader, worker, joiner, root, cluster.id)
    finally:
        for daemon in reversed(daemons):
            daemon.kill()


def run(body: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    """Every test bounded: a refusal that never comes is a failure, not a hang."""

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await body()

    asyncio.run(bounded())


# -- 1. the TLS layer ----------------------------------------------------------------------------


def _client(trust: bytes, version: ssl.TLSVersion, own: Credentials | None) -> ssl.SSLContext:
    """A client of one TLS version trusting ``trust``, with ``own``'s certificate if any."""
    if own is not None:
        context = own.client_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cadata=trust.decode())
    context.minimum_version = context.maximum_version = version
    return context


async def _welcomed(target: str, context: ssl.SSLContext, server_name: str) -> str | None:
    """The node id the server welcomed this connection as, or ``None`` when it refused
    it at the TLS layer: the handshake failed, or the server ended the connection
    (an alert, a reset, EOF) before sending any frame. A hello and a heartbeat are
    sent first, as a member would, so that a server that let the connection in would
    have something to take."""
    address, port = split_host(target)
    try:
        reader, writer = await asyncio.open_connection(
            address, port, ssl=context, server_hostname=server_name
        )
    except (ssl.SSLError, ConnectionError):
        return None  # refused inside the handshake (TLS 1.2 does it so)
    try:
        writer.write(frame(hello("127.0.0.1:9")) + frame(encode(Heartbeat("intruder", "s"))))
        try:
            opening = await read_frame(reader, WELCOME_FRAME)
        except (ssl.SSLError, ConnectionError):
            return None  # TLS 1.3: the client's handshake ended first, then the alert
        if opening is None:
            return None
        try:
            return read_welcome(opening)
        except FrameError as error:  # served, but not as a member: say so
            return f"served a frame that is no welcome: {error}"
    finally:
        writer.transport.abort()


#: What the leader's TLS layer says of each client it refuses (OpenSSL's words).
TLS_REFUSALS = {
    "no certificate": "[SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE]",
    "expired": "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "certificate has expired",
    "another CA": "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "unable to get local issuer certificate",
}
SERVER_NAMES = (MANAGER_SERVER_NAME, "127.0.0.1", "swarm-ca.example")  # an IP sends no SNI


@pytest.mark.slow
@pytest.mark.parametrize("who", sorted(TLS_REFUSALS))
def test_the_leader_refuses_a_client_the_cluster_ca_does_not_vouch_for(
    swarm: Swarm, who: str
) -> None:
    """Refused at the TLS layer for every server name but the join path's, over TLS
    1.2 and 1.3: the connection ends before any frame, and the leader's handshake
    failed for that certificate (its log gives OpenSSL's reason; asyncio drops the
    alert, so the client sees a reset or EOF, not the reason). The same client with a
    valid certificate of the cluster's own root (signed with the key read from the
    leader's Raft log) is let in: it is the certificate that is refused, nothing
    else."""
    valid = issue(swarm.root, swarm.cluster_id, "probe-valid", NodeRole.WORKER)
    refused: Credentials | None = {
        "no certificate": None,
        "expired": issue(
            swarm.root, swarm.cluster_id, "probe-expired", NodeRole.MANAGER, expired=True
        ),
        "another CA": issue(
            create_root_ca(random.Random(7).randbytes, time.time()),
            swarm.cluster_id,
            "probe-alien",
            NodeRole.MANAGER,
            trust=swarm.root,  # it trusts the leader: only the leader can refuse
        ),
    }[who]
    trust = swarm.root.cert_pem
    seen = len(swarm.leader_log())

    async def body() -> None:
        for version in TLS_VERSIONS:
            for server_name in SERVER_NAMES:
                context = _client(trust, version, refused)
                outcome = await _welcomed(swarm.leader.listen, context, server_name)
                assert outcome is None, (who, version, server_name, outcome)
            control = _client(trust, version, valid)
            assert await _welcomed(swarm.leader.listen, control, MANAGER_SERVER_NAME) == (
                "probe-valid"
            )

    run(body)
    attempts = len(TLS_VERSIONS) * len(SERVER_NAMES)
    refusals: list[str] = []

    def logged() -> bool:
        text = swarm.leader_log()[seen:]
        refusals[:] = [line for line in text.splitlines() if "refused a connection" in line]
        return len(refusals) >= attempts

    wait_for(logged, f"{attempts} refused handshakes in the leader's log", swarm.leader.log)
    assert len(refusals) == attempts, refusals
    for line in refusals:
        assert f"refused a connection: {TLS_REFUSALS[who]}" in line, line
    assert "intruder" not in swarm.node_ls()


def _forged_service_create(origin: str, name: str) -> ForwardedRequest:
    """What a manager forwards to the leader for ``service create --name NAME``."""
    call = service_command.create(
        ["--detach", "--name", name, "--replicas", "0", IMAGE], random.Random(1), _no_files
    )
    return ForwardedRequest(
        origin, f"forged-{name}", call.method, tuple(sorted(call.params.items()))
    )


def _no_files(path: str) -> str:
    raise AssertionError(f"no file is read here, not {path}")


def _forged_raft(leader: NodeIdentity) -> RaftEnvelope:
    """A Raft heartbeat of a far later term: a leader that took it would step down."""
    return RaftEnvelope(
        Message(MessageType.HEARTBEAT, to=leader.raft_id, source=4242, term=FORGED_TERM)
    )


def test_the_join_path_serves_nothing_but_joins(swarm: Swarm) -> None:
    """Without a certificate, only the server name ``swarm-ca`` gets a connection: it
    hands out the cluster root, takes nothing but a ``JoinRequest`` (a heartbeat, a
    forwarded ``service create`` and a Raft message sent first are dropped, without
    effect) and answers that request."""
    leader = identity(swarm.leader)
    description = NodeDescription(hostname="intruder")
    token = _wrong_secret(swarm.leader.shoal("swarm", "join-token", "-q", "worker").stdout.strip())

    async def body() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        address, port = split_host(swarm.leader.listen)
        reader, writer = await asyncio.open_connection(
            address, port, ssl=context, server_hostname=JOIN_SERVER_NAME
        )
        try:
            opening = await read_frame(reader, JOIN_FRAME)
            assert opening is not None and read_root(opening) == swarm.root.cert_pem
            forged: list[ClusterMessage] = [
                Heartbeat(leader.node_id, "s"),
                _forged_service_create("127.0.0.1:9", "forged-by-a-joiner"),
                _forged_raft(leader),
            ]
            writer.write(frame(hello("127.0.0.1:9")))
            for message in [*forged, JoinRequest("127.0.0.1:9", token, description)]:
                writer.write(frame(encode(message)))
            answer = await read_frame(reader, JOIN_FRAME)
            assert answer is not None
            refused = decode(answer)
            assert isinstance(refused, JoinRefused) and INVALID_TOKEN in refused.error, refused
            assert await reader.read() == b""  # the answer, then the end of the connection
        finally:
            writer.transport.abort()

    run(body)
    assert "forged-by-a-joiner" not in swarm.services()
    assert durable(swarm.leader).raft.hard_state.term < FORGED_TERM
    log = swarm.leader_log()
    for name in ("Heartbeat", "ForwardedRequest", "RaftEnvelope"):
        assert f"a node without a certificate may only join, not send {name}" in log, name
    assert "intruder" not in swarm.node_ls()


# -- 2. a worker's certificate -------------------------------------------------------------------


class Listener:
    """A transport with someone's credentials on loopback, as that node's daemon would
    run one: what it sends goes over the links the real transport opens, and the
    leader's answers come back to its listener."""

    def __init__(self, credentials: Credentials) -> None:
        self.inbox: asyncio.Queue[tuple[str, ClusterMessage]] = asyncio.Queue()
        self.transport = Transport(
            "127.0.0.1:0",
            credentials,
            lambda source, message: self.inbox.put_nowait((source, message)),
            random.Random(1),
        )

    async def next(self) -> ClusterMessage:
        _, message = await asyncio.wait_for(self.inbox.get(), 30.0)
        return message


def test_a_worker_certificate_may_not_call_manager_only_operations(swarm: Swarm) -> None:
    """The worker's own certificate, read from its WAL: a forwarded ``service create``,
    a Raft message, and a heartbeat in the leader's name are dropped by the leader, with
    no effect; its heartbeat in its own name, sent after them on the same connection,
    is served (the dispatcher answers it: the session is not one it gave out), and is
    the first answer to come back."""
    worker, leader = identity(swarm.worker), identity(swarm.leader)
    nodes_before = swarm.node_ls()
    services_before = swarm.services()

    async def body() -> None:
        me = Listener(credentials(swarm.worker))
        await me.transport.start()
        try:
            target = swarm.leader.listen
            for forged in (
                _forged_service_create(me.transport.host, "forged-by-a-worker"),
                _forged_raft(leader),
                Heartbeat(leader.node_id, "forged-session"),  # speaks for another node
            ):
                me.transport.send(target, forged)
            me.transport.send(target, Heartbeat(worker.node_id, "probe-session"))
            answer = await me.next()
            assert isinstance(answer, SessionRefused), answer
            assert answer.node_id == worker.node_id
            assert me.transport.stats["sent"] == 4 and me.transport.stats["connected"] == 1
        finally:
            await me.transport.close()

    run(body)
    assert swarm.services() == services_before
    assert durable(swarm.leader).raft.hard_state.term < FORGED_TERM
    after = swarm.node_ls()
    assert sorted(_rows(after)) == sorted(_rows(nodes_before)), (nodes_before, after)
    assert _ready_nodes(after) == 2
    log = swarm.leader_log()
    for reason in (
        f"ForwardedRequest is manager-only: node {worker.node_id} holds a swarm-worker",
        f"RaftEnvelope is manager-only: node {worker.node_id} holds a swarm-worker",
        f"node {worker.node_id} may not send Heartbeat for node {leader.node_id}",
    ):
        assert reason in log, reason


# -- 3. join tokens ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_rotated_away_or_wrong_token_is_refused_and_members_stay(swarm: Swarm) -> None:
    old = swarm.leader.shoal("swarm", "join-token", "-q", "worker").stdout.strip()
    rotated = swarm.leader.shoal("swarm", "join-token", "--rotate", "worker")
    assert rotated.returncode == 0, rotated.stderr + swarm.leader.log()
    assert rotated.stdout.startswith("Successfully rotated worker join token.\n")
    new = swarm.leader.shoal("swarm", "join-token", "-q", "worker").stdout.strip()
    assert new != old and new.rsplit("-", 1)[0] == old.rsplit("-", 1)[0]  # same root

    for token in (old, _wrong_secret(new)):
        refused = swarm.joiner.shoal("swarm", "join", "--token", token, swarm.leader.listen)
        assert refused.returncode == 1, refused.stdout + swarm.joiner.log()
        assert refused.stderr.strip() == REFUSED
    other_root = create_root_ca(random.Random(8).randbytes, time.time())
    alien = join_token(other_root, random.Random(8).randbytes)  # another cluster's
    mismatch = swarm.joiner.shoal("swarm", "join", "--token", alien, swarm.leader.listen)
    assert mismatch.returncode == 1, mismatch.stdout + swarm.joiner.log()
    assert "remote CA does not match fingerprint" in mismatch.stderr
    assert "Traceback" not in mismatch.stderr

    # the worker joined with the old token is a member still, Ready
    _until(swarm.leader, ("node", "ls"), lambda out: _ready_nodes(out) == 2)
    joined = swarm.joiner.shoal("swarm", "join", "--token", new, swarm.leader.listen)
    assert joined.returncode == 0, joined.stderr + swarm.joiner.log() + swarm.leader.log()
    assert joined.stdout.strip() == "This node joined a swarm as a worker."
    _until(swarm.leader, ("node", "ls"), lambda out: _ready_nodes(out) == 3)
