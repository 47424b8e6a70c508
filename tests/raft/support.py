"""Builders for Raft unit tests: nodes in a chosen state, and draining their output."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.raft.config import Mutations, RaftConfig
from core.raft.node import RaftNode
from core.raft.storage import PersistentState
from core.raft.types import (
    ConfState,
    Entry,
    HardState,
    Message,
    MessageType,
    NodeId,
    ReadState,
    Role,
    Snapshot,
)

M = MessageType


def paper_config(**changes: object) -> RaftConfig:
    """The Raft paper's algorithm: no PreVote, no CheckQuorum (unless asked for)."""
    settings: dict[str, object] = {"pre_vote": False, "check_quorum": False}
    settings.update(changes)
    return RaftConfig(**settings)  # type: ignore[arg-type]


def with_mutation(name: str, config: RaftConfig | None = None) -> RaftConfig:
    base = config or paper_config()
    return RaftConfig(
        election_ticks=base.election_ticks,
        heartbeat_ticks=base.heartbeat_ticks,
        pre_vote=base.pre_vote,
        check_quorum=base.check_quorum,
        inflight_max=base.inflight_max,
        entries_per_append_max=base.entries_per_append_max,
        snapshot_interval=base.snapshot_interval,
        snapshot_keep_entries=base.snapshot_keep_entries,
        mutations=Mutations(**{name: True}),
    )


def make_node(
    node_id: NodeId = 1,
    voters: Iterable[NodeId] = (1, 2, 3),
    *,
    terms: Iterable[int] = (),
    term: int = 0,
    vote: NodeId = 0,
    commit: int = 0,
    config: RaftConfig | None = None,
    seed: int = 0,
) -> RaftNode:
    """A follower whose log holds one entry per term in ``terms`` (index 1, 2, ...)."""
    entries = [Entry(term=t, index=i, data=f"e{i}".encode()) for i, t in enumerate(terms, start=1)]
    last_term = entries[-1].term if entries else 0
    state = PersistentState(
        hard_state=HardState(term=max(term, last_term), vote=vote, commit=commit),
        snapshot=Snapshot(conf=ConfState(voters=frozenset(voters))),
        entries=entries,
    )
    return RaftNode(node_id, config or paper_config(), random.Random(seed), state)


@dataclass
class Drained:
    messages: list[Message] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)

    def of(self, kind: MessageType) -> list[Message]:
        return [m for m in self.messages if m.type is kind]


def drain(node: RaftNode, *, persist: bool = True) -> Drained:
    """Everything the node wants to do now, persisting its writes on the way."""
    out = Drained()
    for _ in range(100):
        ready = node.ready()
        out.messages.extend(ready.messages)
        out.committed.extend(ready.committed)
        out.read_states.extend(ready.read_states)
        if persist and ready.writes:
            node.persisted(ready.writes[-1].seq)
            continue
        if ready.is_empty():
            return out
    raise AssertionError("node kept producing output")


def message(kind: MessageType, source: NodeId, to: NodeId, term: int, **fields: object) -> Message:
    return Message(kind, to=to, source=source, term=term, **fields)  # type: ignore[arg-type]


def make_leader(
    node_id: NodeId = 1, voters: Iterable[NodeId] = (1, 2, 3), **kw: object
) -> RaftNode:
    """A node that has just won an election (its no-op appended), output drained."""
    node = make_node(node_id, voters, **kw)  # type: ignore[arg-type]
    if node.role is not Role.LEADER:  # a sole voter has won already
        node._become_candidate()
        node._become_leader()
    drain(node)
    return node


def acknowledge(leader: RaftNode, source: NodeId, index: int) -> Drained:
    leader.step(message(M.APP_RESP, source, leader.id, leader.term, index=index))
    return drain(leader)
