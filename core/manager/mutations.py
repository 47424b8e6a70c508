"""Deliberate orchestrator and scheduler bugs, for proving that the cluster checkers
catch them (DESIGN.md §7: every checker is shown to bite).

Never set outside tests. Each switch breaks one rule a Swarm user relies on; the
Raft ones live beside Raft's knobs (:class:`core.raft.config.Mutations`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ManagerMutations:
    # scheduler: place tasks on nodes that are down, paused or drained
    schedule_on_unavailable_nodes: bool = False
    # scheduler: ignore the service's placement constraints
    ignore_constraints: bool = False
    # orchestrator: leave the tasks of a down or drained node where they are
    keep_tasks_on_invalid_nodes: bool = False
    # orchestrator: two reconcile jobs for a service in one write round, the second
    # reading only the committed tasks (not the first one's), so a slot can get two
    reconcile_twice: bool = False
    # orchestrator: restart a stopped task by resetting its status, not replacing it
    restart_in_place: bool = False

    def any(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    def enabled(self) -> list[str]:
        return [name for name in self.__dataclass_fields__ if getattr(self, name)]


NO_MUTATIONS = ManagerMutations()
