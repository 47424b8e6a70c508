"""Which certificate may send, and receive, which message.

SwarmKit checks the peer certificate's OU on every RPC (``tls_authorization`` in its
protos): a worker may only call the dispatcher (its session) and the CA (its
certificate); everything else is for managers. The same rule here, per message:

* A **worker** may send only what its agent says to the dispatcher: ``Register``,
  ``Heartbeat``, ``StatusReport``, ``LogReply`` (its half of ``docker service logs``),
  and a ``JoinRequest``. Everything else is a manager's word: Raft traffic
  (``RaftEnvelope``, and ``MemberRemoved``, the answer to a removed member's), requests
  forwarded to the leader (``ForwardedRequest`` and its reply), relays (``Proxied``),
  ``JoinRaft`` (a promoted node asks for a Raft seat only once it holds a manager
  certificate, as in SwarmKit), and the dispatcher's and leader's answers
  (``Registered``, ``AssignmentsMessage``, ``Promoted``, ...), which a worker sending
  them would forge. And it speaks only for itself: the ``node_id`` of
  its session messages must be its certificate's (CN), as SwarmKit's dispatcher takes
  the node ID from the certificate, never from the request.
* A worker **receives** only what managers say to an agent; the messages only
  managers act on (the agent's session messages and joins are addressed to a
  dispatcher, the rest is manager business) are never sent to a worker certificate,
  so Raft entries and forwarded requests do not leak to workers.
* A connection with **no certificate** (a join) carries only a ``JoinRequest``.

Managers run an agent too, so a manager certificate may send and receive anything,
other nodes' session messages included: a manager that is not the leader relays its
agents' messages to the leader inside ``Proxied`` (``core/node.py``).
"""

from __future__ import annotations

from core.messages import (
    ClusterMessage,
    ForwardedReply,
    ForwardedRequest,
    Heartbeat,
    JoinRaft,
    JoinRequest,
    LogReply,
    MemberRemoved,
    Proxied,
    RaftEnvelope,
    Register,
    RenewCertificate,
    StatusReport,
)
from real.tls import PeerIdentity

WORKER_SENDS: tuple[type, ...] = (
    Register,
    Heartbeat,
    StatusReport,
    LogReply,
    JoinRequest,
    RenewCertificate,
)
"""What a worker certificate may send; every other message is manager-only."""

MANAGERS_RECEIVE: tuple[type, ...] = (
    *WORKER_SENDS,
    JoinRaft,
    RaftEnvelope,
    MemberRemoved,
    ForwardedRequest,
    ForwardedReply,
    Proxied,
)
"""What is never sent to a worker certificate."""

JOINER_SENDS: tuple[type, ...] = (JoinRequest,)

SPEAKS_FOR = (Register, Heartbeat, StatusReport, LogReply, RenewCertificate)
"""Messages that name the node they come from: a worker's must name itself."""


def refusal(sender: PeerIdentity | None, message: ClusterMessage) -> str | None:
    """Why ``sender`` (``None``: a join connection) may not send ``message``, or
    ``None`` when it may. The transport's default authorisation hook."""
    name = type(message).__name__
    if sender is None:
        if isinstance(message, JOINER_SENDS):
            return None
        return f"a node without a certificate may only join, not send {name}"
    if sender.manager:
        return None
    if not isinstance(message, WORKER_SENDS):
        return f"{name} is manager-only: node {sender.node_id} holds a {sender.role} certificate"
    if isinstance(message, SPEAKS_FOR) and message.node_id != sender.node_id:
        return f"node {sender.node_id} may not send {name} for node {message.node_id}"
    return None


def may_receive(receiver: PeerIdentity, message: ClusterMessage) -> bool:
    return receiver.manager or not isinstance(message, MANAGERS_RECEIVE)
