"""``docker service logs`` in a simulated swarm: the leader gathers the output of
every container of the service from the agents, in time order, through a follower
too; a node that cannot be asked is named in Docker's warning."""

from __future__ import annotations

from core.model.service import Placement
from sim.executor import ImageBehaviour
from tests.cluster.support import node_id, replicated, running, swarm

TALKER = ImageBehaviour(output=("listening on :80", "ready"))
ON_WORKERS = Placement(constraints=("node.role==worker",))


def test_service_logs_gather_every_container_output_in_time_order() -> None:
    world = swarm(1, managers=3, workers=3, talker=TALKER)
    spec = replicated("web", 3, "talker", placement=ON_WORKERS)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 3, 60)
    reply = world.call("manager-2", "ServiceLogs", service="web")  # forwarded to the leader
    assert reply.ok, reply.error
    logs, warnings = reply.value["Logs"], reply.value["Warnings"]
    assert warnings == ()
    tasks = {t.id: t for t in running(world, service_id)}
    assert sorted({entry["TaskID"] for entry in logs}) == sorted(tasks)
    for task_id, task in tasks.items():
        lines = [e["Line"] for e in logs if e["TaskID"] == task_id]
        assert lines == ["listening on :80", "ready"]
        assert {e["NodeID"] for e in logs if e["TaskID"] == task_id} == {task.node_id}
    stamps = [e["Timestamp"] for e in logs]
    assert stamps == sorted(stamps)


def test_a_down_node_is_named_in_the_warning() -> None:
    world = swarm(2, managers=1, workers=2, talker=TALKER)
    spec = replicated("web", 2, "talker", placement=ON_WORKERS)
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    assert world.run_until(lambda: len(running(world, service_id)) == 2, 60)
    on_first = [t for t in running(world, service_id) if t.node_id == node_id(world, "worker-1")]
    world.hosts["worker-1"].crash()
    world.run_for(20)  # down now; its tasks replaced on worker-2
    reply = world.call("manager-1", "ServiceLogs", service=service_id)
    assert reply.ok, reply.error
    (warning,) = reply.value["Warnings"]
    assert warning == (
        "incomplete log stream. some logs could not be retrieved for the following reasons: "
        f"node {node_id(world, 'worker-1')} is not available"
    )
    seen = {e["TaskID"] for e in reply.value["Logs"]}
    assert not seen & {t.id for t in on_first}
    assert seen and all(e["NodeID"] == node_id(world, "worker-2") for e in reply.value["Logs"])


def test_logs_of_an_unknown_service_are_refused() -> None:
    world = swarm(1, managers=1, workers=1)
    reply = world.call("manager-1", "ServiceLogs", service="nope")
    assert not reply.ok
    assert reply.error == "service nope not found"  # dockerd words a failed lookup itself
