"""Where tasks land: exact distributions of SwarmKit's spread (SCHED-04..07, SCHED-11).

Each test is a cluster, one backlog and the exact per-node counts the algorithm
must give, worked out by hand from the rules in core/scheduler/spread.py (the
comments show the arithmetic); ties between equal nodes go to the lower id.
"""

from __future__ import annotations

from typing import Any

from core.model import replace
from core.model.enums import NodeAvailability
from core.model.node import Node
from core.model.task import Task, TaskStatus
from core.tasks.states import TaskState
from tests.scheduler.support import (
    GiB,
    node,
    per_node,
    placements,
    running_on,
    schedule,
    scheduler_with,
    spec,
    tasks,
)


def rack(node_id: str, value: str, **options: Any) -> Node:
    return node(node_id, labels={"rack": value}, **options)


def test_five_tasks_on_three_empty_nodes_land_two_two_one() -> None:
    decisions = schedule([node("n1"), node("n2"), node("n3")], tasks("web", 5))
    assert per_node(decisions) == {"n1": 2, "n2": 2, "n3": 1}
    # The first pass moves on as soon as the next node ranks better, then round robin.
    assert list(placements(decisions).values()) == ["n1", "n2", "n3", "n1", "n2"]


def test_three_replicas_on_three_nodes_run_one_per_node() -> None:
    decisions = schedule([node("n1"), node("n2"), node("n3")], tasks("redis", 3))
    assert per_node(decisions) == {"n1": 1, "n2": 1, "n3": 1}


def test_nodes_busy_with_other_services_get_the_new_tasks_last() -> None:
    # n1 runs 3 tasks of other services and n2 one: the order is n3, n2, n1 (fewer
    # tasks in total first); the fourth task goes round to n3 again.
    existing = running_on("n1", tasks("db", 3)) + running_on("n2", tasks("cache", 1))
    decisions = schedule([node("n1"), node("n2"), node("n3")], tasks("web", 4), existing)
    assert per_node(decisions) == {"n1": 1, "n2": 1, "n3": 2}
    assert list(placements(decisions).values()) == ["n3", "n2", "n1", "n3"]


def test_tasks_of_the_same_service_count_before_the_total() -> None:
    # n1 already runs 2 replicas of web, n2 runs 3 tasks of another service: the
    # new web replica goes to n2 (no web there), whatever its total load.
    existing = running_on("n1", tasks("web", 2)) + running_on("n2", tasks("db", 3))
    decisions = schedule([node("n1"), node("n2")], tasks("web", 1, first_slot=3), existing)
    assert per_node(decisions) == {"n2": 1}


def test_a_node_with_five_recent_failures_goes_to_the_back() -> None:
    scheduler = scheduler_with([node("n1"), node("n2"), node("n3")])
    failed = running_on("n1", tasks("web", 5, first_slot=10))
    for task in failed:
        scheduler.task_changed(task, now=100.0)
        scheduler.task_changed(_failed(task), now=100.0)
    for task in tasks("web", 3):
        scheduler.task_changed(task, now=100.0)
    # n2 and n3 fill first; n1 (5 failures in 5 minutes) ranks behind even a node
    # that already has a replica, so the third task doubles up on n3.
    assert per_node(scheduler.schedule(200.0, 200.0)) == {"n2": 1, "n3": 2}


def test_four_failures_or_old_ones_do_not_count() -> None:
    for count, at in ((4, 100.0), (5, -250.0)):  # too few; more than 300 s ago
        scheduler = scheduler_with([node("n1"), node("n2"), node("n3")])
        for task in running_on("n1", tasks("web", count, first_slot=10)):
            scheduler.task_changed(task, now=at)
            scheduler.task_changed(_failed(task), now=at)
        for task in tasks("web", 3):
            scheduler.task_changed(task, now=100.0)
        assert per_node(scheduler.schedule(100.0, 100.0)) == {"n1": 1, "n2": 1, "n3": 1}


def test_failures_of_another_version_of_the_service_do_not_count() -> None:
    scheduler = scheduler_with([node("n1"), node("n2"), node("n3")])
    for task in running_on("n1", tasks("web", 5, first_slot=10, version=1)):
        scheduler.task_changed(task, now=100.0)
        scheduler.task_changed(_failed(task), now=100.0)
    for task in tasks("web", 3, version=2):
        scheduler.task_changed(task, now=100.0)
    assert per_node(scheduler.schedule(100.0, 100.0)) == {"n1": 1, "n2": 1, "n3": 1}


def _failed(task: Task) -> Task:
    return replace(task, status=TaskStatus(state=TaskState.FAILED))


def test_racks_with_unequal_node_counts_get_equal_shares() -> None:
    # 6 tasks over racks a (1 node), b (2), c (3): 2 per rack, then spread within.
    nodes = [rack("a1", "a"), rack("b1", "b"), rack("b2", "b")]
    nodes += [rack("c1", "c"), rack("c2", "c"), rack("c3", "c")]
    decisions = schedule(nodes, tasks("web", 6, task_spec=spec(preferences=("node.labels.rack",))))
    assert per_node(decisions) == {"a1": 2, "b1": 1, "b2": 1, "c1": 1, "c2": 1}


def test_nodes_missing_the_label_form_their_own_branch() -> None:
    # Racks a and b have two nodes each, u1 has no rack label: the "" branch gets
    # the same share as each rack (SCHED-05; moby#35433), so u1 takes 2 of 6.
    nodes = [rack("a1", "a"), rack("a2", "a"), rack("b1", "b"), rack("b2", "b"), node("u1")]
    decisions = schedule(nodes, tasks("web", 6, task_spec=spec(preferences=("node.labels.rack",))))
    assert per_node(decisions) == {"a1": 1, "a2": 1, "b1": 1, "b2": 1, "u1": 2}


def test_a_preference_no_node_has_is_as_if_there_were_none() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    decisions = schedule(nodes, tasks("web", 5, task_spec=spec(preferences=("node.labels.dc",))))
    assert per_node(decisions) == {"n1": 2, "n2": 2, "n3": 1}


def test_two_levels_of_preferences_spread_datacenters_then_racks() -> None:
    # dc east: rack r1 (e1), rack r2 (e2, e3); dc west: rack r3 (w1). 8 tasks: 4 per
    # datacenter; in east 2 per rack; west has one rack and one node.
    def dc_rack(node_id: str, dc: str, value: str) -> Node:
        return node(node_id, labels={"dc": dc, "rack": value})

    nodes = [dc_rack("e1", "east", "r1"), dc_rack("e2", "east", "r2")]
    nodes += [dc_rack("e3", "east", "r2"), dc_rack("w1", "west", "r3")]
    prefs = spec(preferences=("node.labels.dc", "node.labels.rack"))
    decisions = schedule(nodes, tasks("web", 8, task_spec=prefs))
    assert per_node(decisions) == {"e1": 2, "e2": 1, "e3": 1, "w1": 4}


def test_high_availability_beats_the_preference_for_the_extra_replica() -> None:
    # SCHED-07: two labelled nodes plus unlabelled ones, three replicas: the third
    # goes to a node without the label rather than doubling up on a labelled one.
    nodes = [rack("a1", "a"), rack("b1", "b"), node("u1"), node("u2")]
    decisions = schedule(nodes, tasks("web", 3, task_spec=spec(preferences=("node.labels.rack",))))
    assert per_node(decisions) == {"a1": 1, "b1": 1, "u1": 1}


def test_a_rack_too_small_for_its_share_gives_the_rest_to_the_others() -> None:
    # Rack a has one node and max one replica per node: of 4 tasks it takes 1, and
    # rack b (3 nodes) takes the other 3, one per node.
    nodes = [rack("a1", "a"), rack("b1", "b"), rack("b2", "b"), rack("b3", "b")]
    capped = spec(preferences=("node.labels.rack",), max_replicas=1)
    decisions = schedule(nodes, tasks("web", 4, task_spec=capped))
    assert per_node(decisions) == {"a1": 1, "b1": 1, "b2": 1, "b3": 1}


def test_a_rack_short_of_resources_gives_its_share_to_the_others() -> None:
    # b1 has room for one 1-CPU task; rack a (a1, a2) takes the 3 others.
    nodes = [rack("a1", "a"), rack("a2", "a"), rack("b1", "b", cpus=1.5)]
    decisions = schedule(
        nodes, tasks("web", 4, task_spec=spec(cpus=1, preferences=("node.labels.rack",)))
    )
    assert per_node(decisions) == {"a1": 2, "a2": 1, "b1": 1}


def test_existing_tasks_count_towards_their_branch() -> None:
    # Rack a already runs 2 replicas: of 2 more, both go to rack b.
    nodes = [rack("a1", "a"), rack("b1", "b"), rack("b2", "b")]
    prefs = spec(preferences=("node.labels.rack",))
    existing = running_on("a1", tasks("web", 2, task_spec=prefs))
    decisions = schedule(nodes, tasks("web", 2, task_spec=prefs, first_slot=3), existing)
    assert per_node(decisions) == {"b1": 1, "b2": 1}


def test_full_nodes_are_skipped_and_the_next_best_node_takes_over() -> None:
    # Each node fits 2 tasks of 1 CPU. 5 tasks: the best 5 nodes would be all of
    # them; with 3 nodes, 6 slots, the fifth task still finds room.
    nodes = [node("n1", cpus=2), node("n2", cpus=2), node("n3", cpus=2)]
    decisions = schedule(nodes, tasks("web", 5, task_spec=spec(cpus=1)))
    assert per_node(decisions) == {"n1": 2, "n2": 2, "n3": 1}


def test_the_least_loaded_leaf_nodes_are_used_beyond_the_first_n() -> None:
    # A leaf of 4 nodes and a group of 2 tasks that each fill a node: n1 and n2 are
    # the best two, and they stay the only ones used.
    nodes = [node(f"n{i}", memory=1 * GiB) for i in range(1, 5)]
    decisions = schedule(nodes, tasks("web", 2, task_spec=spec(memory=1 * GiB)))
    assert per_node(decisions) == {"n1": 1, "n2": 1}


def test_paused_and_drained_nodes_take_no_new_tasks() -> None:
    nodes = [
        node("n1", availability=NodeAvailability.PAUSE),
        node("n2", availability=NodeAvailability.DRAIN),
        node("n3"),
    ]
    assert per_node(schedule(nodes, tasks("web", 3))) == {"n3": 3}


def test_an_uneven_branch_never_takes_more_than_its_level_has_left() -> None:
    # Zone a already runs 3 replicas, all on its ssd node. Of 4 new tasks zone a's
    # share is 1 (3 + 4 = 7 over two zones: 4 and 3); inside zone a the hdd branch
    # is owed 2 by its own count, but only 1 is left to give. SwarmKit asks it for
    # 2, overshoots and can loop for ever (found by the property tests).
    def zone_disk(node_id: str, zone: str, disk: str) -> Node:
        return node(node_id, labels={"zone": zone, "disk": disk})

    nodes = [zone_disk("n1", "a", "ssd"), zone_disk("n2", "a", "hdd"), zone_disk("n3", "b", "ssd")]
    prefs = spec(preferences=("node.labels.zone", "node.labels.disk"))
    existing = running_on("n1", tasks("web", 3, task_spec=prefs, first_slot=10))
    decisions = schedule(nodes, tasks("web", 4, task_spec=prefs), existing)
    assert per_node(decisions) == {"n2": 1, "n3": 3}
