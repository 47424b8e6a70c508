"""What the embedded DNS answers, from network states (core/dataplane/names.py)."""

from __future__ import annotations

from core.dataplane.names import resolve, reverse
from core.dataplane.state import Endpoint, NetworkState, ServiceBinding

TASK = Endpoint("10.0.1.5", "n1", "h1", "t1", "web.1.t1")
WEB = ServiceBinding("s1", "web", "10.0.1.2", (TASK,), aliases=("www",))
IDLE = ServiceBinding("s2", "idle", "10.0.1.3", ())
RR = ServiceBinding("s3", "rr", "", (Endpoint("10.0.1.6", "n1", "h1", "t2", "rr.1.t2"),))
NET = NetworkState("net1", "mynet", 4097, "10.0.1.0/24", "10.0.1.1", services=(IDLE, RR, WEB))


def test_service_names_tasks_containers_and_aliases() -> None:
    assert resolve("web", [NET]) == ("10.0.1.2",)
    assert resolve("WWW.", [NET]) == ("10.0.1.2",)
    assert resolve("tasks.web", [NET]) == ("10.0.1.5",)
    assert resolve("web.1.t1", [NET]) == ("10.0.1.5",)
    assert resolve("rr", [NET]) == ("10.0.1.6",)
    assert resolve("example.com", [NET]) is None


def test_a_service_without_a_running_task_is_no_name_but_its_tasks_name_is_empty() -> None:
    assert resolve("idle", [NET]) is None
    assert resolve("tasks.idle", [NET]) == ()


def test_reverse_names_are_qualified_by_the_network() -> None:
    assert reverse("10.0.1.5", [NET]) == "web.1.t1.mynet"
    assert reverse("10.0.1.2", [NET]) == "web.mynet"
    assert reverse("10.0.1.3", [NET]) is None  # idle's VIP: no record while it has no task
    assert reverse("10.0.1.99", [NET]) is None
