"""Issue 15 #12: ``swarm leave`` on a manager warns about quorum only when leaving
would lose it (dockerd's ``removingManagerCausesLossOfQuorum``: reachable - 2 <=
unreachable), counted from the leader's view of the managers, on whichever
manager the command runs."""

from __future__ import annotations

import pytest

from core.node import leave_refusal
from sim.cluster import ClusterWorld
from tests.cluster.support import swarm

QUORUM = "Without a Raft quorum your swarm will be inaccessible."
ATTEMPTING = "You are attempting to leave the swarm on a node that is participating as a manager."
RESTORE = (
    "The only way to restore a swarm that has lost consensus is to reinitialize it with "
    "`--force-new-cluster`. Use `--force` to suppress this message."
)


@pytest.mark.parametrize(
    ("stats", "sentence"),
    [
        ((True, 3, 0), ""),  # one of three healthy managers
        ((True, 5, 0), ""),
        ((True, 4, 1), ""),
        ((True, 2, 1), "Removing this node leaves 1 managers out of 3. " + QUORUM + " "),
        ((True, 2, 0), "Removing this node leaves 1 managers out of 2. " + QUORUM + " "),
        ((True, 3, 2), "Removing this node leaves 2 managers out of 5. " + QUORUM + " "),
        ((False, 2, 1), ""),  # this node is not a reachable manager itself
    ],
)
def test_the_quorum_sentence_only_when_leaving_would_lose_quorum(
    stats: tuple[bool, int, int], sentence: str
) -> None:
    assert leave_refusal(stats) == ATTEMPTING + " " + sentence + RESTORE


def test_the_last_manager_and_the_unknown_cases_have_their_own_words() -> None:
    assert leave_refusal((True, 1, 0)) == (
        ATTEMPTING + " Removing the last manager erases all current state of the swarm. Use "
        "`--force` to ignore this message."
    )
    assert leave_refusal(None) == ATTEMPTING + " " + RESTORE
    assert leave_refusal(None, active=False) == (
        ATTEMPTING + " Doing so may lose the consensus of your cluster. " + RESTORE
    )


def leave(world: ClusterWorld, host: str) -> str:
    reply = world.call(host, "SwarmLeave")
    assert not reply.ok  # a manager leaves only with --force
    return reply.error


@pytest.mark.parametrize("seed", (1, 2))
def test_leaving_one_of_three_healthy_managers_says_nothing_of_quorum(seed: int) -> None:
    world = swarm(seed, managers=3, workers=1)
    leader = world.leader()
    assert leader is not None
    for host in ("manager-1", "manager-2", "manager-3"):  # the leader and the followers
        error = leave(world, host)
        assert ATTEMPTING in error and RESTORE in error and QUORUM not in error, (host, error)
    follower = next(h for h in ("manager-2", "manager-3") if h != leader.name)
    world.hosts[follower].crash()
    world.run_for(30)  # the leader no longer hears from it
    survivor = next(h for h in ("manager-1", "manager-2", "manager-3") if h != follower)
    error = leave(world, survivor)
    assert "Removing this node leaves 1 managers out of 3. " + QUORUM in error, error
    assert world.hosts[survivor].identity is not None  # refused: still in the swarm
