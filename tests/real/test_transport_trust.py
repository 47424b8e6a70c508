"""The real transport's trust across a root rotation, on loopback: a node joins through
a manager whose certificate comes from the new root through the cross-signed
intermediate, the join path serves the store's root, a renewal that keeps the node's
identity keeps its connections, and no key touches a disk."""

from __future__ import annotations

import asyncio
import random
import ssl
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.ca.rotation import cross_sign
from core.messages import Heartbeat, JoinAccepted, JoinRequest
from real.tls import WORKER_ROLE, Credentials
from real.transport import JoinError, Transport, fetch_root, request_join
from tests.real.test_transport import (
    CA,
    FAST,
    Node,
    _join_request,
    _pinned,
    nodes,
    run,
    until,
)


@pytest.fixture(scope="module")
def old() -> CA:
    return CA.make(seed=11)


@pytest.fixture(scope="module")
def new() -> CA:
    return CA.make(seed=12)


def rotated(old: CA, new: CA, node_id: str, role: str = "swarm-manager") -> Credentials:
    """A node's credentials mid-rotation once it renewed: a certificate from the new
    root, with the new root cross-signed by the old one after it, trusting both."""
    issued = new.issue(node_id, role)
    crossed = cross_sign(old.root, new.root)
    return replace(issued, ca_pem=old.pem + new.pem, cert_pem=issued.cert_pem + crossed)


async def _accept_one(manager: Node) -> None:
    source, message = await manager.next()
    assert isinstance(message, JoinRequest)
    manager.transport.send(source, JoinAccepted("w7", False, 0, ((1, manager.host),)))


def test_a_node_joins_through_a_manager_renewed_from_the_new_root(old: CA, new: CA) -> None:
    """The joiner's token names the old root (the cluster's until the rotation ends);
    the manager's certificate chains to it only through the intermediate."""

    async def body() -> None:
        async with nodes(rotated(old, new, "m1")) as (manager,):
            assert await fetch_root(manager.host, timeout=5) == old.pem
            answering = asyncio.create_task(_accept_one(manager))
            root, reply = await request_join(
                manager.host, _join_request(), _pinned(old.pem), root=old.pem, timeout=5
            )
            await answering
            assert root == old.pem and isinstance(reply, JoinAccepted)

    run(body)


def test_a_manager_chain_to_another_root_is_refused_before_the_token_is_sent(
    old: CA, new: CA
) -> None:
    async def body() -> None:
        stranger = CA.make(seed=13)
        async with nodes(rotated(old, new, "m1")) as (manager,):
            with pytest.raises(JoinError, match="not from the swarm's root CA"):
                await request_join(
                    manager.host, _join_request(), _pinned(old.pem), root=stranger.pem, timeout=5
                )
            await until(lambda: manager.transport.stats["join_closed"] == 1, "the join to end")
            assert manager.inbox.empty() and manager.transport.stats["delivered"] == 0

    run(body)


def test_the_join_path_serves_the_store_root(old: CA, new: CA) -> None:
    """Right after a rotation finishes, a manager still trusting the old root serves
    the new one its store names: joins with the new tokens work at once."""

    async def body() -> None:
        transport = Transport(
            "127.0.0.1:0",
            rotated(old, new, "m1"),
            lambda source, message: None,
            random.Random(1),
            config=FAST,
            served_root=lambda: new.pem,
        )
        await transport.start()
        try:
            assert await fetch_root(transport.host, timeout=5) == new.pem
        finally:
            await transport.close()

    run(body)


def test_a_renewal_of_the_same_identity_keeps_links_and_what_is_queued(old: CA, new: CA) -> None:
    """A rotation changes a node's roots and certificate several times; none of that
    may cut its connections or drop what waits on them."""

    async def body() -> None:
        worker_credentials = old.issue("w1", WORKER_ROLE)
        async with nodes(old.issue("m1"), worker_credentials) as (manager, worker):
            worker.transport.send(manager.host, Heartbeat("w1", "s-first"))
            await manager.next()
            for i in range(50):
                worker.transport.send(manager.host, Heartbeat("w1", f"s{i}"))
            await worker.transport.renew(replace(worker_credentials, ca_pem=old.pem + new.pem))
            got = [await manager.next() for _ in range(50)]
            assert got == [(worker.host, Heartbeat("w1", f"s{i}")) for i in range(50)]
            await worker.transport.renew(rotated(old, new, "w1", WORKER_ROLE))
            worker.transport.send(manager.host, Heartbeat("w1", "s-last"))
            assert (await manager.next())[1] == Heartbeat("w1", "s-last")
            assert worker.transport.stats["connected"] == 1
            assert worker.transport.stats["lost"] == 0

    run(body)


def test_no_key_touches_the_temporary_directory(
    old: CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ssl`` loads a chain only from files: they must not be files on a disk."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    seen: list[list[Path]] = []
    loaded: list[bytes] = []
    original = ssl.SSLContext.load_cert_chain

    def spying(context: ssl.SSLContext, certfile: Any, keyfile: Any = None, **kw: Any) -> None:
        seen.append(sorted(tmp_path.rglob("*")))
        loaded.append(Path(keyfile).read_bytes())
        original(context, certfile, keyfile, **kw)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spying)
    credentials = old.issue("m1")
    credentials.server_context()
    credentials.join_server_context()
    credentials.client_context()
    assert seen == [[], [], []]
    assert loaded == [credentials.key_pem] * 3
    assert list(tmp_path.iterdir()) == []
