"""The certificates work for the real transport: stdlib ``ssl`` mutual TLS, in memory.

Both ends use what real mode will: the root as the only trust anchor, CERT_REQUIRED, TLS 1.2+,
and workers dialling managers by the server name ``swarm-manager``. No sockets: the two ends
exchange bytes through memory BIOs. OpenSSL checks validity against the real clock, so the
certificates meant to be valid are signed at the real time (read here, in the test, never in
core); the expired one was signed in 2023 for a day.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest

from core.ca.root import RootCA, create_root_ca
from core.ca.verify import peer_identity
from core.model.enums import NodeRole
from tests.ca.support import NODE, WALL, entropy, node_cert


def make_root(seed: int = 1) -> RootCA:
    return create_root_ca(entropy(seed), time.time())


def context(
    tmp: Path, name: str, root: RootCA, cert_and_key: tuple[bytes, bytes], *, server: bool
) -> ssl.SSLContext:
    purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
    ctx = ssl.create_default_context(purpose, cadata=root.cert_pem.decode())
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    (tmp / f"{name}.crt").write_bytes(cert_and_key[0])
    (tmp / f"{name}.key").write_bytes(cert_and_key[1])
    ctx.load_cert_chain(tmp / f"{name}.crt", tmp / f"{name}.key")
    return ctx


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> bytes | None:
    """Run a handshake and one client write; the server's view of the client's DER."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_out, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(to_server, server_out, server_side=True)
    client = client_ctx.wrap_bio(to_client, client_out, server_hostname="swarm-manager")
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        to_server.write(client_out.read())
        to_client.write(server_out.read())
        if all(done.values()):
            break
    client.write(b"ping")
    to_server.write(client_out.read())
    assert server.read() == b"ping"
    return server.getpeercert(binary_form=True)


def node_context(
    tmp: Path,
    name: str,
    trust: RootCA,
    role: NodeRole,
    *,
    seed: int,
    signer: RootCA | None = None,
    wall: float | None = None,
    expiry: int | None = None,
    server: bool,
) -> ssl.SSLContext:
    """A context trusting ``trust`` with a ``role`` certificate that ``signer`` (the trusted
    root unless told) signed at ``wall`` (now unless told)."""
    cert = node_cert(
        signer or trust,
        role,
        seed=seed,
        wall=time.time() if wall is None else wall,
        expiry=expiry,
    )
    return context(tmp, name, trust, cert, server=server)


def test_a_worker_and_a_manager_of_one_cluster_shake_hands(tmp_path: Path) -> None:
    root = make_root()
    manager = node_context(tmp_path, "m", root, NodeRole.MANAGER, seed=3, server=True)
    worker = node_context(
        tmp_path, "w", root.public(), NodeRole.WORKER, seed=4, signer=root, server=False
    )
    der = handshake(manager, worker)
    assert der is not None
    assert peer_identity(der).role is NodeRole.WORKER
    assert peer_identity(der).node_id == NODE


def test_a_worker_certificate_cannot_serve_as_a_manager(tmp_path: Path) -> None:
    # A worker's SANs do not include swarm-manager, so hostname checking refuses it.
    root = make_root()
    impostor = node_context(tmp_path, "i", root, NodeRole.WORKER, seed=3, server=True)
    client = node_context(tmp_path, "w", root, NodeRole.WORKER, seed=4, server=False)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(impostor, client)


def test_a_client_from_another_ca_is_refused(tmp_path: Path) -> None:
    ours, theirs = make_root(seed=1), make_root(seed=2)
    manager = node_context(tmp_path, "m", ours, NodeRole.MANAGER, seed=3, server=True)
    stranger = node_context(
        tmp_path, "s", ours, NodeRole.WORKER, seed=4, signer=theirs, server=False
    )
    with pytest.raises(ssl.SSLError, match="unable to get local issuer certificate"):
        handshake(manager, stranger)


def test_an_expired_client_is_refused(tmp_path: Path) -> None:
    # Signed in November 2023 for one day: long expired by any real clock; the root is
    # backdated to then so that only the node certificate is out of date.
    root = create_root_ca(entropy(1), WALL)
    manager = node_context(tmp_path, "m", root, NodeRole.MANAGER, seed=3, server=True)
    stale = node_context(
        tmp_path, "x", root, NodeRole.WORKER, seed=4, wall=WALL, expiry=86_400, server=False
    )
    with pytest.raises(ssl.SSLError, match="certificate has expired"):
        handshake(manager, stale)
