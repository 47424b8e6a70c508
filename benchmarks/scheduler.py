"""Tasks placed per second by the scheduler on a large cluster, as JSON.

The backlog is the issue's: 100,000 PENDING tasks (1,000 services of 100 replicas)
on 5,000 nodes, every service with a CPU and memory reservation, a constraint from
a small set (none, ``node.labels.disk==ssd``, ``node.role==worker``,
``node.labels.dc!=dc2``) and two levels of spread preferences (datacenter, then
rack: 3 datacenters of 10 racks). Passes run back to back with the default cap
(10,000 tasks a pass) until the queue is empty; ``load`` (building the node set
from a store snapshot) is timed apart from the passes.

Usage: python benchmarks/scheduler.py [--nodes 5000] [--services 1000] [--replicas 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter

from core.model import Labels
from core.model.common import Platform, ResourceRequirements, Resources, Version
from core.model.enums import NodeState
from core.model.node import Node, NodeDescription, NodeSpec, NodeStatus
from core.model.service import (
    ContainerSpec,
    Placement,
    PlacementPreference,
    Service,
    SpreadOver,
    TaskSpec,
)
from core.model.task import Task, TaskStatus
from core.scheduler.scheduler import Scheduler
from core.tasks.states import TaskState

CPU = 1_000_000_000
MiB = 1 << 20
CONSTRAINTS = ((), ("node.labels.disk==ssd",), ("node.role==worker",), ("node.labels.dc!=dc2",))
PREFERENCES = tuple(
    PlacementPreference(spread=SpreadOver(spread_descriptor=d))
    for d in ("node.labels.dc", "node.labels.rack")
)


def make_nodes(count: int) -> tuple[Node, ...]:
    return tuple(
        Node(
            id=f"node-{i:05d}",
            version=Version(index=1),
            spec=NodeSpec(
                labels=Labels(
                    dc=f"dc{i % 3}", rack=f"rack{(i // 3) % 10}", disk="ssd" if i % 2 else "hdd"
                )
            ),
            description=NodeDescription(
                hostname=f"host-{i}",
                platform=Platform(os="linux", architecture="x86_64"),
                resources=Resources(nano_cpus=16 * CPU, memory_bytes=64 << 30),
            ),
            status=NodeStatus(state=NodeState.READY),
        )
        for i in range(count)
    )


def make_backlog(services: int, replicas: int) -> tuple[tuple[Service, ...], tuple[Task, ...]]:
    made_services, made_tasks = [], []
    for s in range(services):
        service_id = f"svc-{s:04d}"
        made_services.append(Service(id=service_id, spec_version=Version(index=1)))
        spec = TaskSpec(
            container_spec=ContainerSpec(image="app:1"),
            resources=ResourceRequirements(
                reservations=Resources(
                    nano_cpus=CPU // 10 * (1 + s % 3), memory_bytes=64 * MiB * (1 + s % 4)
                )
            ),
            placement=Placement(constraints=CONSTRAINTS[s % 4], preferences=PREFERENCES),
        )
        made_tasks += [
            Task(
                id=f"{service_id}.{slot:04d}",
                service_id=service_id,
                slot=slot,
                spec=spec,
                spec_version=Version(index=1),
                status=TaskStatus(state=TaskState.PENDING),
            )
            for slot in range(1, replicas + 1)
        ]
    return tuple(made_services), tuple(made_tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=100)
    args = parser.parse_args()
    nodes = make_nodes(args.nodes)
    services, backlog = make_backlog(args.services, args.replicas)

    scheduler = Scheduler()
    started = time.perf_counter()
    scheduler.load(nodes, backlog, services)
    load_seconds = time.perf_counter() - started
    passes, assigned = 0, 0
    started = time.perf_counter()
    decisions = scheduler.schedule(0.0, 0.0)
    while True:
        passes += 1
        assigned += sum(1 for d in decisions if d.new.status.state is TaskState.ASSIGNED)
        if scheduler.next_deadline is None:
            break
        decisions = scheduler.tick(0.0, 0.0)
    pass_seconds = time.perf_counter() - started
    loads = Counter(info.active_tasks for info in scheduler.nodes.infos.values())
    print(
        json.dumps(
            {
                "benchmark": "scheduler",
                "python": platform.python_version(),
                "nodes": args.nodes,
                "services": args.services,
                "tasks": len(backlog),
                "assigned": assigned,
                "passes": passes,
                "load_seconds": round(load_seconds, 3),
                "schedule_seconds": round(pass_seconds, 3),
                "tasks_placed_per_second": round(assigned / pass_seconds),
                "tasks_per_node_min": min(loads),
                "tasks_per_node_max": max(loads),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
