"""TLS for the real transport: contexts built from the cluster CA's PEM bytes, and the
peer identity read from a certificate.

A node holds three PEM blobs from the cluster CA (``core/ca`` makes them): the root
certificate, its own certificate and its key. As in SwarmKit, the certificate says
who the node is: CN = node ID, OU = ``swarm-manager`` or ``swarm-worker``, O = cluster
ID. The root is the only trust anchor (no system store). TLS 1.2 is the floor.

Two kinds of connection reach one port, told apart by the server name the client
asks for (SNI), which the server reads from the ClientHello before the handshake
(:func:`client_hello_server_name`):

* ``swarm-ca``: a node that has no certificate yet, joining. The server
  authenticates itself only, sending its certificate with its intermediate; the
  client verifies the chain against the root the join token names
  (:func:`join_client_context`, :func:`check_join_server`). Such a connection may
  carry nothing but a join.
* anything else (members ask for ``swarm-manager``, as SwarmKit's agents do):
  mutual TLS, a client without a certificate from this CA, or with an expired one,
  fails the handshake.

The mode cannot be chosen in an ``sni_callback`` instead: switching the context there
swaps the certificate but not the verify mode (OpenSSL copies none), so a server
either asks every client for a certificate or none.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from core.errors import ShoalError

MANAGER_ROLE = "swarm-manager"
WORKER_ROLE = "swarm-worker"
MANAGER_SERVER_NAME = "swarm-manager"  # what members ask for (SwarmKit's agents dial it)
JOIN_SERVER_NAME = "swarm-ca"  # what a node without a certificate asks for (its first CSR)


class TLSIdentityError(ShoalError):
    """A certificate that does not name a node of a cluster."""


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    node_id: str
    role: str  # MANAGER_ROLE or WORKER_ROLE
    cluster_id: str

    @property
    def manager(self) -> bool:
        return self.role == MANAGER_ROLE


def _one(name: x509.Name, oid: x509.ObjectIdentifier, what: str) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        raise TLSIdentityError(f"the certificate has {len(values)} {what} fields, not one")
    value = values[0].value
    return value if isinstance(value, str) else value.decode()


def identity_of(cert: x509.Certificate) -> PeerIdentity:
    subject = cert.subject
    role = _one(subject, NameOID.ORGANIZATIONAL_UNIT_NAME, "OU")
    if role not in (MANAGER_ROLE, WORKER_ROLE):
        raise TLSIdentityError(f"the certificate's role {role!r} is not a swarm role")
    return PeerIdentity(
        node_id=_one(subject, NameOID.COMMON_NAME, "CN"),
        role=role,
        cluster_id=_one(subject, NameOID.ORGANIZATION_NAME, "O"),
    )


def identity_of_der(der: bytes | None) -> PeerIdentity:
    """The identity in a peer certificate as ``getpeercert(binary_form=True)`` gives it
    (None when the peer showed none: refused like any other unusable certificate)."""
    if der is None:
        raise TLSIdentityError("the peer showed no certificate")
    return identity_of(x509.load_der_x509_certificate(der))


@dataclass(frozen=True)
class Credentials:
    """What the cluster CA gave a node, as PEM bytes."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def identity(self) -> PeerIdentity:
        return identity_of(x509.load_pem_x509_certificate(self.cert_pem))

    def _load_chain(self, context: ssl.SSLContext) -> None:
        """``ssl`` reads a certificate chain only from files; the key must touch no
        disk, so the files are anonymous memory (:func:`_memory_file`)."""
        with _memory_file(self.cert_pem) as cert, _memory_file(self.key_pem) as key:
            context.load_cert_chain(cert, key)

    def server_context(self) -> ssl.SSLContext:
        """Mutual TLS: the client must show a certificate of this CA."""
        context = _base(ssl.PROTOCOL_TLS_SERVER)
        self._load_chain(context)
        context.load_verify_locations(cadata=self.ca_pem.decode())
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def join_server_context(self) -> ssl.SSLContext:
        """Server authentication only, for nodes that have no certificate yet."""
        context = _base(ssl.PROTOCOL_TLS_SERVER)
        self._load_chain(context)
        context.verify_mode = ssl.CERT_NONE
        return context

    def client_context(self) -> ssl.SSLContext:
        """Mutual TLS towards a member. The chain is verified against the cluster root;
        the name is not: the transport reads the server's role and cluster from its
        certificate and checks them per message (what a name could only approximate,
        since one connection carries all the messages for a host)."""
        context = _base(ssl.PROTOCOL_TLS_CLIENT)
        self._load_chain(context)
        context.load_verify_locations(cadata=self.ca_pem.decode())
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        return context


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path to ``data`` held in an anonymous memory file (``memfd_create``): never
    on a disk, never named in a directory, gone once closed."""
    fd = os.memfd_create("shoal-tls", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as file:
            file.write(data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _base(protocol: int) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def join_client_context(root_pem: bytes | None = None) -> ssl.SSLContext:
    """A node with no certificate. Without a root yet (its first connection, which
    fetches one) it takes the server's certificate as it comes and checks nothing: it
    sends nothing either. With the root its token names, the server's whole chain must
    lead to that root: during a root rotation a manager's certificate comes from the
    new root, through the intermediate the old root cross-signed, which the server
    sends after it (as SwarmKit's joiner verifies through it)."""
    context = _base(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if root_pem is None:
        context.verify_mode = ssl.CERT_NONE
        return context
    context.load_verify_locations(cadata=root_pem.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def root_digest(ca_pem: bytes) -> str:
    """The SHA-256 of the root certificate's PEM bytes, in hex (SwarmKit digests the
    PEM, ``digest.FromBytes(rootCA.Certs)``)."""
    return hashlib.sha256(ca_pem).hexdigest()


def check_join_server(server_der: bytes, now: datetime.datetime) -> PeerIdentity:
    """The server a joining node reached is a manager whose certificate is valid at
    ``now``. Its chain to the root was verified in the handshake
    (:func:`join_client_context` with the root), which proved too that the server
    holds the certificate's key."""
    leaf = x509.load_der_x509_certificate(server_der)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise TLSIdentityError("the manager's certificate has expired or is not yet valid")
    identity = identity_of(leaf)
    if not identity.manager:
        raise TLSIdentityError(f"the node joined through is a {identity.role}, not a manager")
    return identity


def client_hello_server_name(record: bytes) -> str | None:
    """The server name (SNI) a TLS ClientHello asks for, from the first record of a
    connection; ``None`` when it names none. Raises ``ValueError`` on bytes that are
    not a whole ClientHello record (see :func:`client_hello_length`)."""
    try:
        return _server_name(_client_hello_body(record))
    except IndexError:
        raise ValueError("a truncated ClientHello") from None


def _server_name(body: bytes) -> str | None:
    pos = 2 + 32  # client version, random
    pos += 1 + body[pos]  # session id
    pos += 2 + int.from_bytes(body[pos : pos + 2])  # cipher suites
    pos += 1 + body[pos]  # compression methods
    if pos == len(body):
        return None  # no extensions
    end = pos + 2 + int.from_bytes(body[pos : pos + 2])
    pos += 2
    _need(body, end)
    while pos + 4 <= end:
        kind, size = int.from_bytes(body[pos : pos + 2]), int.from_bytes(body[pos + 2 : pos + 4])
        pos += 4
        _need(body, pos + size)
        if kind == 0:  # server_name: a list of (type, name); type 0 is a host name
            names, stop = pos + 2, pos + size
            while names + 3 <= stop:
                name_type = body[names]
                length = int.from_bytes(body[names + 1 : names + 3])
                if name_type == 0:
                    return body[names + 3 : names + 3 + length].decode("ascii", "replace")
                names += 3 + length
            return None
        pos += size
    return None


def client_hello_length(head: bytes) -> int:
    """How many bytes the first TLS record takes, from its 5-byte header; raises
    ``ValueError`` when it is not a handshake record."""
    _need(head, 5)
    if head[0] != 22:
        raise ValueError("not a TLS handshake")
    return 5 + int.from_bytes(head[3:5])


def _client_hello_body(record: bytes) -> bytes:
    length = client_hello_length(record)
    _need(record, length)
    handshake = record[5:length]
    _need(handshake, 4)
    if handshake[0] != 1:
        raise ValueError("not a ClientHello")
    size = int.from_bytes(handshake[1:4])
    _need(handshake, 4 + size)  # a ClientHello split over records is not read here
    return handshake[4 : 4 + size]


def _need(data: bytes, size: int) -> None:
    if len(data) < size:
        raise ValueError("a truncated TLS record")
