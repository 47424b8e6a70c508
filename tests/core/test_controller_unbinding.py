"""A task with a service binding (on a network other than the default bridge) leaves
its services' load balancing, and moby's executor waits GOSSIP_CONVERGE_SECONDS for
that to spread before it stops the container; on the default bridge it does not."""

from __future__ import annotations

from core.model.common import Driver
from core.model.network import Network, NetworkAttachment, NetworkSpec
from core.model.task import Task, TaskStatus
from core.tasks.controller import (
    GOSSIP_CONVERGE_SECONDS,
    RETRY_DELAY_SECONDS,
    Phase,
    TaskController,
    has_service_binding,
)
from core.tasks.executor import Operation
from core.tasks.states import TaskState
from sim.scripted import ControllerLoop, ScriptedExecutor, ok, temporary

S = TaskState
OP = Operation


def on(network: str, driver: str) -> NetworkAttachment:
    return NetworkAttachment(
        network=Network(spec=NetworkSpec(name=network), driver_state=Driver(name=driver)),
        addresses=("10.0.1.5/24",),
    )


OVERLAY = (on("web-net", "overlay"),)


def story(
    attachments: tuple[NetworkAttachment, ...], desired: S = S.RUNNING
) -> tuple[ControllerLoop, TaskController]:
    task = Task(
        id="t1",
        desired_state=desired,
        status=TaskStatus(state=S.ASSIGNED),
        networks_attachments=attachments,
    )
    controller = TaskController(task, epoch=1)
    loop = ControllerLoop(ScriptedExecutor())
    loop.add(controller)
    return loop, controller


def stopped_at(loop: ControllerLoop) -> float:
    (when,) = [r.time for r in loop.reports if r.status.state is S.SHUTDOWN]
    return when


def test_a_service_binding_is_a_network_other_than_the_default_bridge() -> None:
    assert has_service_binding(Task(networks_attachments=OVERLAY))
    assert has_service_binding(Task(networks_attachments=(on("mine", "bridge"),)))
    assert not has_service_binding(Task(networks_attachments=(on("bridge", "bridge"),)))
    assert not has_service_binding(Task(networks_attachments=(on("web-net", ""),)))
    assert not has_service_binding(Task())


def test_a_running_task_on_an_overlay_stops_after_the_backoff_and_the_gossip_wait() -> None:
    loop, controller = story(OVERLAY)
    loop.run(until=5)
    loop.desire(5.0, "t1", S.SHUTDOWN)
    loop.run(until=5.0 + RETRY_DELAY_SECONDS + 0.5)
    assert controller.phase is Phase.UNBINDING
    assert ("t1", OP.SHUTDOWN) not in loop.executor.calls
    loop.run(until=20)
    assert stopped_at(loop) == 5.0 + RETRY_DELAY_SECONDS + GOSSIP_CONVERGE_SECONDS


def test_a_parked_task_on_an_overlay_waits_only_for_gossip() -> None:
    loop, _ = story(OVERLAY, desired=S.READY)
    loop.run(until=3)
    loop.desire(3.0, "t1", S.SHUTDOWN)
    loop.run(until=20)
    assert stopped_at(loop) == 3.0 + GOSSIP_CONVERGE_SECONDS


def test_the_default_bridge_has_no_gossip_wait() -> None:
    loop, _ = story((on("bridge", "bridge"),), desired=S.READY)
    loop.run(until=3)
    loop.desire(3.0, "t1", S.SHUTDOWN)
    loop.run(until=20)
    assert stopped_at(loop) == 3.0


def test_removal_of_a_running_task_on_an_overlay_waits_then_stops_then_removes() -> None:
    loop, controller = story(OVERLAY)
    loop.run(until=5)
    loop.close(5.0, "t1")
    loop.run(until=20)
    assert stopped_at(loop) == 5.0 + GOSSIP_CONVERGE_SECONDS
    assert [op for _, op in loop.executor.calls][-2:] == [OP.SHUTDOWN, OP.REMOVE]
    assert controller.phase is Phase.DONE


def test_removal_during_the_gossip_wait_lets_it_run_out_and_stops_once() -> None:
    loop, controller = story(OVERLAY, desired=S.READY)
    loop.run(until=3)
    loop.desire(3.0, "t1", S.SHUTDOWN)
    loop.run(until=4)
    loop.close(4.0, "t1")
    loop.run(until=20)
    assert stopped_at(loop) == 3.0 + GOSSIP_CONVERGE_SECONDS
    operations = [op for _, op in loop.executor.calls]
    assert operations.count(OP.SHUTDOWN) == 1 and operations[-1] is OP.REMOVE
    assert controller.phase is Phase.DONE


def test_a_stop_that_failed_is_tried_again_after_the_retry_delay_and_another_gossip_wait() -> None:
    loop, _ = story(OVERLAY, desired=S.READY)
    loop.executor.script("t1", OP.SHUTDOWN, [temporary("stop timed out"), ok()])
    loop.run(until=3)
    loop.desire(3.0, "t1", S.SHUTDOWN)
    loop.run(until=30)
    first = 3.0 + GOSSIP_CONVERGE_SECONDS
    assert stopped_at(loop) == first + RETRY_DELAY_SECONDS + GOSSIP_CONVERGE_SECONDS
