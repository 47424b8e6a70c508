"""Throughput of the model codec and the agent task controller, as JSON.

Later issues run clusters of 95,000 tasks, whose objects cross the codec (API,
traces) and whose controllers step on every status change; this measures both on
this machine. Usage: python benchmarks/model_codec.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from timing import rate

from core.model import Task, TaskStatus
from core.tasks.controller import TaskController
from core.tasks.executor import ExecutorResult, Operation, OperationResult, Outcome
from core.tasks.states import TaskState

GOLDEN_TASK = Path(__file__).parents[1] / "tests" / "golden" / "task-running.json"


def controller_lifecycle() -> None:
    """One task from ASSIGNED to COMPLETE: 4 executor round trips, 8 reports."""
    task = Task(
        id="t", desired_state=TaskState.COMPLETE, status=TaskStatus(state=TaskState.ASSIGNED)
    )
    controller = TaskController(task, epoch=1)
    output = controller.start(0.0, 0.0)
    while output.commands:
        command = output.commands[0]
        outcome = Outcome.EXITED if command.operation is Operation.WAIT else Outcome.OK
        result = OperationResult(outcome, exit_code=0 if outcome is Outcome.EXITED else None)
        output = controller.on_result(
            ExecutorResult(command.token, command.operation, result), 1.0, 1.0
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    document = json.loads(GOLDEN_TASK.read_text())[0]
    task = Task.from_json(document)
    print(
        json.dumps(
            {
                "benchmark": "model_codec",
                "python": platform.python_version(),
                "task_from_json_per_s": round(rate(lambda: Task.from_json(document), args.seconds)),
                "task_to_json_per_s": round(rate(task.to_json, args.seconds)),
                "controller_lifecycles_per_s": round(rate(controller_lifecycle, args.seconds)),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
