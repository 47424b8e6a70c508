"""``docker node rm`` is refused exactly as SwarmKit's RemoveNode refuses it (issue 15
item 12): a manager still in the Raft membership must be demoted first; without
``--force`` only a READY node is refused (down, unknown and disconnected nodes go);
the errors name the node by its ID, whatever the user typed."""

from __future__ import annotations

import random

import pytest

from core.manager.api import ApiContext, Write, handle
from core.manager.requests import ApiError
from core.model.enums import NodeRole, NodeState
from core.model.node import ManagerStatus, Node, NodeDescription, NodeSpec, NodeStatus
from core.store import MemoryStore

NODE_ID = "n0de1d0000000000000000001"


def context(role: NodeRole, state: NodeState, raft_id: int | None = None) -> ApiContext:
    """A store holding one node ``worker-1``; Raft member 7 is a voter."""
    store = MemoryStore()
    node = Node(
        id=NODE_ID,
        spec=NodeSpec(role=role),
        description=NodeDescription(hostname="worker-1"),
        status=NodeStatus(state=state),
        manager_status=ManagerStatus(raft_id=raft_id) if raft_id is not None else None,
    )
    store.tables["nodes"][node.id] = node
    return ApiContext(store=store, rng=random.Random(1), wall=0.0, voters=frozenset({7}))


def remove(ctx: ApiContext, force: bool = False) -> ApiError | Write:
    try:
        result = handle(ctx, "NodeRemove", {"node": "worker-1", "force": force})
    except ApiError as error:
        return error
    assert isinstance(result, Write)
    return result


def test_a_ready_node_needs_force_and_the_error_names_its_id() -> None:
    refused = remove(context(NodeRole.WORKER, NodeState.READY))
    assert isinstance(refused, ApiError)
    assert (refused.code, refused.message) == (
        "FailedPrecondition",
        f"node {NODE_ID} is not down and can't be removed",
    )
    assert isinstance(remove(context(NodeRole.WORKER, NodeState.READY), force=True), Write)


@pytest.mark.parametrize("state", [NodeState.DOWN, NodeState.UNKNOWN, NodeState.DISCONNECTED])
def test_a_node_that_is_not_ready_goes_without_force(state: NodeState) -> None:
    assert isinstance(remove(context(NodeRole.WORKER, state)), Write)


@pytest.mark.parametrize("force", [False, True])
def test_a_manager_in_the_raft_membership_must_be_demoted_first(force: bool) -> None:
    refused = remove(context(NodeRole.MANAGER, NodeState.DOWN, raft_id=7), force=force)
    assert isinstance(refused, ApiError)
    assert (refused.code, refused.message) == (
        "FailedPrecondition",
        f"node {NODE_ID} is a cluster manager and is a member of the raft cluster. "
        "It must be demoted to worker before removal",
    )


def test_a_manager_no_longer_in_the_membership_may_be_removed() -> None:
    assert isinstance(remove(context(NodeRole.MANAGER, NodeState.DOWN, raft_id=9)), Write)
    assert isinstance(remove(context(NodeRole.MANAGER, NodeState.DOWN)), Write)
