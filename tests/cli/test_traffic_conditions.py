"""Traffic expectations read from scenario text, and judged against a view whose
answers are given (the simulated ones are in tests/cluster/test_networking.py and
the shipped scenarios)."""

from __future__ import annotations

import pytest

from cli.scenario.conditions import BadCondition, read
from core.model.service import Service, ServiceSpec
from core.model.task import Task, TaskStatus
from core.store import MemoryStore
from core.tasks.states import TaskState


class View:
    """Three running tasks of web (slots 1-3); requests answered as told."""

    def __init__(self, answers: list[str], resolved: tuple[str, ...] | None = None) -> None:
        self.answers = answers
        self.resolved = resolved
        self.asked: list[tuple[str, int, str, int]] = []
        self.store = MemoryStore()
        self.store.tables["services"] = {"s1": Service(id="s1", spec=ServiceSpec(name="web"))}
        running = TaskStatus(state=TaskState.RUNNING)
        tasks = (Task(id=f"t{n}", service_id="s1", slot=n, status=running) for n in (1, 2, 3))
        self.store.tables["tasks"] = {t.id: t for t in tasks}

    def leader(self) -> str:
        return "manager-1"

    def leader_store(self) -> MemoryStore:
        return self.store

    def containers_on(self, host: str) -> int:
        return 0

    def request(self, target: str, port: int, client: str, count: int) -> list[str]:
        self.asked.append((target, port, client, count))
        return self.answers[:count]

    def resolve(self, client: str, name: str) -> tuple[str, ...] | None:
        return self.resolved


def judge(text: str, view: View) -> tuple[bool, str]:
    condition = read(text)
    assert condition.probe is not None
    return condition.probe(view)  # type: ignore[arg-type]


EVEN = ["t1", "t2", "t3"] * 3


def test_reaching_every_running_task_and_each_often_enough() -> None:
    view = View(EVEN)
    assert judge("request 9 times to worker-1:8080 reaches all 3 tasks of web", view)[0]
    assert view.asked == [("worker-1", 8080, "", 9)]
    holds, seen = judge(
        "request 9 times to web from client reaches all 3 tasks of web at least 3 times each", view
    )
    assert holds and seen.startswith("9 answered of 9: web.1 x3, web.2 x3, web.3 x3")
    assert view.asked[-1] == ("web", 0, "client", 9)
    uneven = View(EVEN + ["t1"] * 3)  # t1 x6, t2 x3, t3 x3
    assert not judge(
        "request 12 times to web from client reaches all 3 tasks of web at least 4 times each",
        uneven,
    )[0]


@pytest.mark.parametrize(
    "answers",
    [
        ["t1", "t2", "t1"] * 3,  # a task never answers
        ["t1", "t2", "t3", ""] * 2 + ["t1"],  # a request unanswered
        ["t1", "t2", "t3", "x9"] * 2 + ["t1"],  # an answer from no running task of web
    ],
)
def test_a_missing_task_an_unanswered_request_or_a_stranger_fails(answers: list[str]) -> None:
    assert not judge("request 9 times to worker-1:8080 reaches all 3 tasks of web", View(answers))[
        0
    ]


def test_the_count_of_tasks_must_be_the_running_count() -> None:
    assert not judge("request 9 times to worker-1:8080 reaches all 2 tasks of web", View(EVEN))[0]


def test_fails_holds_only_when_nothing_answers() -> None:
    assert judge("request 3 times to worker-1:9000 fails", View(["", "", ""]))[0]
    assert not judge("request 3 times to worker-1:9000 fails", View(["", "t1", ""]))[0]


def test_resolves_counts_addresses() -> None:
    view = View([], ("10.0.1.3", "10.0.1.4", "10.0.1.5"))
    assert judge("client resolves tasks.web to 3 addresses", view) == (
        True,
        "3 addresses: 10.0.1.3, 10.0.1.4, 10.0.1.5",
    )
    assert not judge("client resolves tasks.web to 2 addresses", view)[0]
    assert judge("client resolves nosuch to 0 addresses", View([], None)) == (
        False,
        "nosuch does not resolve from client",
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("request 9 times to web reaches all 3 tasks of web", "say a host's port"),
        ("request 0 times to worker-1:80 fails", "1 to 10000"),
        ("request 9 times to worker-1:70000 fails", "1 to 65535"),
        (
            "request 3 times to worker-1:80 reaches all 3 tasks of web at least 2 times each",
            "cannot reach",
        ),
    ],
)
def test_unreadable_requests_are_refused_saying_why(text: str, problem: str) -> None:
    with pytest.raises(BadCondition, match=problem):
        read(text)


def test_a_host_target_is_named_for_the_scenario_to_check() -> None:
    assert read("request 1 times to worker-9:80 fails").host == "worker-9"
    assert read("request 1 times to web from client fails").host == ""
