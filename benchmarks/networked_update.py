"""What overlay networks cost the simulated swarm, as JSON: one rolling update of a
replicated service, once with its tasks on an overlay network and publishing a port
through the routing mesh (so every node needs the ingress network), once with
neither.

Each run: 1 manager and ``--workers`` workers (100), one service of ``--tasks``
replicas (2,000) converged first, then ``service update`` to a new image with
``--parallelism`` (50) and no delay, measured until every task runs the new image.
Reported for each: the wall and CPU seconds of the update, the simulated seconds it
took, the assignment messages the leader sent and the network states in them, and
the ratio of the networked update's CPU time to the plain one's.

Usage: python benchmarks/networked_update.py [--workers 100] [--tasks 2000]
    [--parallelism 50] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

from core.messages import AssignmentsMessage
from core.model.duration import SECOND
from core.model.network import IPAMConfig, IPAMOptions, NetworkSpec
from core.model.service import (
    ContainerSpec,
    EndpointSpec,
    NetworkAttachmentConfig,
    PortConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
)
from core.tasks.states import TaskState
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts


def service_spec(tasks: int, image: str, networked: bool, parallelism: int) -> ServiceSpec:
    networks = (NetworkAttachmentConfig(target="appnet"),) if networked else ()
    ports = (PortConfig(target_port=80, published_port=8080),) if networked else ()
    return ServiceSpec(
        name="web",
        task_template=TaskSpec(container_spec=ContainerSpec(image=image), networks=networks),
        mode=ServiceMode(replicated=ReplicatedService(replicas=tasks)),
        endpoint_spec=EndpointSpec(ports=ports),
        update_config=UpdateConfig(parallelism=parallelism, delay_ns=0 * SECOND),
    )


def running_image(world: ClusterWorld, image: str) -> int:
    return sum(
        1
        for task in world.tasks()
        if task.status.state is TaskState.RUNNING
        and task.desired_state <= TaskState.RUNNING
        and task.spec.container_spec is not None
        and task.spec.container_spec.image == image
    )


class SentCounter:
    """Counts the assignment messages the nodes hand out, and the network states in
    them, by wrapping the world's observer (which sees every node's output)."""

    def __init__(self) -> None:
        self.messages = 0
        self.network_states = 0

    def install(self, world: ClusterWorld) -> None:
        observe = world.observe

        def counted(host: Any, node: Any, ready: Any) -> None:
            for _, message in ready.messages:
                if isinstance(message, AssignmentsMessage):
                    self.messages += 1
                    self.network_states += len(message.networks)
            observe(host, node, ready)

        world.observe = counted  # type: ignore[method-assign]


def measure(args: argparse.Namespace, networked: bool) -> dict[str, Any]:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(1, args.workers)), args.seed)
    world.form_swarm()
    if networked:
        # Docker's default subnets (/24) hold 254 addresses: a 2,000-task service
        # needs a /16 on its own network and on ingress, as it would in Docker.
        reply = world.call("manager-1", "NetworkRemove", network="ingress")
        assert reply.ok, reply.error
        wide = (("ingress", "10.0.0.0/16", True), ("appnet", "10.1.0.0/16", False))
        for name, subnet, ingress in wide:
            ipam = IPAMOptions(configs=(IPAMConfig(subnet=subnet),))
            reply = world.call(
                "manager-1",
                "NetworkCreate",
                spec=NetworkSpec(name=name, ingress=ingress, ipam_options=ipam),
            )
            assert reply.ok, reply.error
    spec = service_spec(args.tasks, "nginx:1", networked, args.parallelism)
    reply = world.call("manager-1", "ServiceCreate", spec=spec)
    assert reply.ok, reply.error
    assert world.run_until(lambda: running_image(world, "nginx:1") == args.tasks, 600, step=1)
    world.run_for(5)
    counter = SentCounter()
    counter.install(world)
    started_sim = world.env.now
    wall, cpu = time.perf_counter(), time.process_time()
    update = world.call(
        "manager-1",
        "ServiceUpdate",
        service="web",
        spec=replace(
            spec,
            task_template=replace(
                spec.task_template, container_spec=ContainerSpec(image="nginx:2")
            ),
        ),
    )
    assert update.ok, update.error
    done = world.run_until(lambda: running_image(world, "nginx:2") == args.tasks, 3600, step=1)
    return {
        "converged": done,
        "update_wall_s": round(time.perf_counter() - wall, 2),
        "update_cpu_s": round(time.process_time() - cpu, 2),
        "update_sim_s": round(world.env.now - started_sim, 1),
        "assignment_messages": counter.messages,
        "network_states_sent": counter.network_states,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--parallelism", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plain = measure(args, networked=False)
    networked = measure(args, networked=True)
    print(
        json.dumps(
            {
                "workers": args.workers,
                "tasks": args.tasks,
                "parallelism": args.parallelism,
                "plain": plain,
                "networked": networked,
                "cpu_ratio": round(networked["update_cpu_s"] / max(plain["update_cpu_s"], 1e-9), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
