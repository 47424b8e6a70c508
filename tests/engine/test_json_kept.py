"""The Engine API leaves shoal's own fields out of what it shows (SpecVersion,
Endpoint; JoinTokens in swarm inspect) without touching the JSON an object keeps for
its next encoding: ``to_json`` hands out the same dict again, and a message or Raft
entry that encodes the object afterwards must still carry every field. Popping from
it once cost the tasks their SpecVersion in every later assignment; the simulator's
sampled codec check caught it."""

from __future__ import annotations

from core.messages import AssignmentsMessage, decode, encode
from core.model.common import Version
from core.model.service import Service, ServiceSpec
from core.model.task import Task
from real.engine.services import service_json
from real.engine.tasks import task_json


def test_showing_a_task_keeps_its_encoding_whole() -> None:
    task = Task(id="t1", spec_version=Version(index=3))
    assert "SpecVersion" not in task_json(task)
    assert task.to_json()["SpecVersion"] == {"Index": 3}
    message = AssignmentsMessage("s", 1, False, (task,), (), ())
    assert decode(encode(message)) == message


def test_showing_a_service_keeps_its_encoding_whole() -> None:
    service = Service(id="s1", spec=ServiceSpec(name="web"), spec_version=Version(index=2))
    assert "SpecVersion" not in service_json(service)
    assert service.to_json()["SpecVersion"] == {"Index": 2}
