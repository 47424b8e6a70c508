"""``shoal demo``: the agent's task state machine, driven through six stories.

Each task runs SwarmKit's agent task controller against a scripted executor on a
small deterministic event loop, and the demo prints every status the agent would
report, then a ``docker service ps``-style summary. The simulator replaces this demo
with a whole-cluster scenario once it exists.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TextIO

from core.model.ids import new_id
from core.model.task import Task, TaskStatus
from core.tasks.controller import TaskController
from core.tasks.executor import Operation
from core.tasks.states import TaskState
from sim.scripted import ControllerLoop, Scripted, ScriptedExecutor, exits, fatal, ok, temporary

WALL_EPOCH = 1_795_000_000.0  # an arbitrary fixed wall clock for printed times


@dataclass
class Story:
    name: str
    summary: str
    desired: TaskState = TaskState.RUNNING
    script: dict[Operation, list[Scripted]] = field(default_factory=dict)
    later: list[tuple[float, TaskState]] = field(default_factory=list)


STORIES = [
    Story(
        "web.1",
        "runs until the service is scaled down at 30s",
        script={Operation.PREPARE: [ok(2.0)], Operation.START: [ok(0.5)]},
        later=[(30.0, TaskState.REMOVE)],
    ),
    Story(
        "web.2",
        "crashes 12s after starting",
        script={Operation.PREPARE: [ok(2.0)], Operation.WAIT: [exits(1, 12.0)]},
    ),
    Story(
        "web.3",
        "its image does not exist",
        script={Operation.PREPARE: [fatal("No such image: local/nope:1", 0.3)]},
    ),
    Story(
        "web.4",
        "the image pull hiccups twice, then works",
        script={
            Operation.PREPARE: [
                temporary("registry timeout", 0.5),
                temporary("registry timeout", 0.5),
                ok(1.0),
            ]
        },
    ),
    Story(
        "web.5",
        "a replacement parked at READY until its restart delay ends at 5s",
        desired=TaskState.READY,
        script={Operation.PREPARE: [ok(1.0)]},
        later=[(5.0, TaskState.RUNNING)],
    ),
    Story(
        "job.1",
        "a job task that runs to completion",
        desired=TaskState.COMPLETE,
        script={Operation.WAIT: [exits(0, 8.0)]},
    ),
]


def run_demo(seed: int, out: TextIO, until: float = 60.0) -> int:
    rng = random.Random(seed)
    executor = ScriptedExecutor()
    loop = ControllerLoop(executor, wall_epoch=WALL_EPOCH)
    names: dict[str, Story] = {}
    for story in STORIES:
        task = Task(
            id=new_id(rng),
            desired_state=story.desired,
            status=TaskStatus(state=TaskState.ASSIGNED, message="scheduler assigned task to node"),
        )
        names[task.id] = story
        for operation, answers in story.script.items():
            executor.script(task.id, operation, answers)
        loop.add(TaskController(task, epoch=1))
        for when, desired in story.later:
            loop.desire(when, task.id, desired)
    loop.run(until)
    _print_history(loop, names, out)
    _print_summary(loop, names, out, until)
    return 0


def _print_history(loop: ControllerLoop, stories: dict[str, Story], out: TextIO) -> None:
    out.write("Agent status reports (simulated seconds):\n")
    for report in loop.reports:
        status = report.status
        detail = status.err or status.message
        name = stories[report.task_id].name
        out.write(f"  {report.time:6.1f}s  {name:<6} {status.state.wire_name:<10} {detail}\n")


def _print_summary(
    loop: ControllerLoop, stories: dict[str, Story], out: TextIO, until: float
) -> None:
    out.write(f"\nAt {until:.0f}s:\n")
    header = ("ID", 13), ("NAME", 7), ("DESIRED STATE", 14), ("CURRENT STATE", 14), ("ERROR", 32)
    out.write("  " + " ".join(f"{title:<{width}}" for title, width in header) + " STORY\n")
    for task_id, controller in loop.controllers.items():
        task = controller.task
        story = stories[task_id]
        name = story.name
        error = f'"{task.status.err}"' if task.status.err else ""
        out.write(
            f"  {task_id[:12]:<13} {name:<7} {task.desired_state.wire_name.capitalize():<14} "
            f"{task.status.state.wire_name.capitalize():<14} {error:<32} {story.summary}\n"
        )
