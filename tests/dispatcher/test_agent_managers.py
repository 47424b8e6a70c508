"""The agent's list of managers: what the dispatcher pushes, what the agent keeps,
and where it turns once every manager of the list has gone (simulated seconds)."""

from __future__ import annotations

import random
from dataclasses import replace

from core.agent.agent import LEADER_ELECTED_SPREAD, Agent, AgentOutput
from core.dataplane.delta import diff
from core.dataplane.state import Endpoint, NetworkState
from core.messages import (
    AssignmentsMessage,
    HeartbeatAck,
    LeaderElected,
    ManagerList,
    Register,
    Registered,
)
from core.model.node import NodeDescription


def registered_agent(managers: tuple[str, ...]) -> Agent:
    """An agent that knows only ``a`` and opened a session there; the dispatcher
    said ``managers``."""
    agent = Agent("n1", ("a",), NodeDescription(hostname="w"), random.Random(1))
    agent.start(0.0, 0.0)
    agent.receive("a", Registered("n1", "s1", 5.0, managers), 0.0, 0.0)
    return agent


def registers_until(agent: Agent, seconds: float, start: float = 0.0) -> list[str]:
    """The hosts the agent sends Register to while nothing answers it."""
    hosts: list[str] = []
    now = start
    while now < start + seconds:
        now += 0.05
        out: AgentOutput = agent.tick(now, now)
        hosts += [host for host, m in out.messages if isinstance(m, Register)]
    return hosts


def test_the_managers_of_a_registration_are_kept_and_written() -> None:
    agent = registered_agent(("a", "b"))
    assert agent.managers == ["a", "b"]
    assert agent.flush().managers == ("a", "b")


def test_a_pushed_list_replaces_the_old_one_and_a_heartbeat_ack_repairs_a_lost_push() -> None:
    agent = registered_agent(("a",))
    agent.flush()
    agent.receive("a", ManagerList("s1", ("a", "b", "c")), 1.0, 1.0)
    assert agent.managers == ["a", "b", "c"]
    assert agent.flush().managers == ("a", "b", "c")
    agent.receive("a", ManagerList("old-session", ("x",)), 1.0, 1.0)
    assert agent.managers == ["a", "b", "c"]  # another session's news is not this one's
    agent.receive("a", HeartbeatAck("s1", 5.0, 0, ("b", "c")), 2.0, 2.0)
    assert agent.managers == ["b", "c"]
    assert agent.flush().managers == ("b", "c")
    agent.receive("a", HeartbeatAck("s1", 5.0, 0, ("b", "c")), 7.0, 7.0)
    assert agent.flush().managers is None  # unchanged: nothing to write


def test_an_agent_tries_the_managers_it_learnt_of_after_registering() -> None:
    """Registered with ``a`` when ``a`` was the only manager; ``b`` joined later:
    once ``a`` is gone, the agent reaches ``b`` (before, it tried ``a`` for good)."""
    agent = registered_agent(("a",))
    agent.receive("a", ManagerList("s1", ("a", "b")), 1.0, 1.0)
    tried = registers_until(agent, 60.0, start=1.0)  # ``a`` answers nothing from now on
    assert "b" in tried


def test_with_every_listed_manager_gone_it_falls_back_to_every_manager_ever_seen() -> None:
    agent = registered_agent(("a", "b"))
    agent.receive("a", ManagerList("s1", ("c",)), 1.0, 1.0)  # a and b demoted, say
    assert agent.managers == ["c"]
    tried = registers_until(agent, 120.0, start=1.0)
    assert {"a", "b", "c"} <= set(tried)


def test_a_new_leader_draws_a_sessionless_agent_at_once_and_a_live_session_stays() -> None:
    agent = Agent("n1", ("a", "b"), NodeDescription(hostname="w"), random.Random(1))
    agent.start(0.0, 0.0)
    registers_until(agent, 40.0)  # nothing answers: the backoff has grown
    assert agent.backoff > 1.0
    agent.receive("c", LeaderElected("n1"), 40.0, 40.0)
    assert agent.flush().messages == []  # spread over a moment, not at once...
    assert "c" in agent.seen
    registered = agent.tick(40.0 + LEADER_ELECTED_SPREAD, 40.0 + LEADER_ELECTED_SPREAD)
    assert [h for h, m in registered.messages if isinstance(m, Register)] == ["c"]  # ...there
    agent.receive("c", LeaderElected("n1"), 40.6, 40.6)  # its Register is on its way
    assert agent.flush().messages == []  # no second registration
    assert agent.tick(41.0, 41.0).messages == []
    agent.receive("c", Registered("n1", "s1", 5.0, ("c",)), 41.1, 41.1)
    agent.flush()
    agent.receive("d", LeaderElected("n1"), 42.0, 42.0)  # stale, or not yet needed
    assert agent.flush().messages == [] and agent.session == "s1"
    agent.receive("d", LeaderElected("n2"), 42.0, 42.0)  # another node's
    assert agent.flush().messages == []


def test_an_agent_keeps_the_service_names_its_assignments_say() -> None:
    agent = registered_agent(("a",))
    complete = AssignmentsMessage("s1", 1, True, (), (), (("svc1", "web"), ("svc2", "db")))
    agent.receive("a", complete, 1.0, 1.0)
    assert dict(agent.service_names) == {"svc1": "web", "svc2": "db"}
    agent.receive("a", AssignmentsMessage("s1", 2, False, (), (), (("svc3", "cache"),)), 2.0, 2.0)
    assert dict(agent.service_names) == {"svc1": "web", "svc2": "db", "svc3": "cache"}
    agent.receive("a", AssignmentsMessage("s1", 3, True, (), (), (("svc3", "cache"),)), 3.0, 3.0)
    assert dict(agent.service_names) == {"svc3": "cache"}, "a whole set forgets the rest"


def test_an_agent_follows_network_deltas_and_starts_over_on_one_it_cannot_follow() -> None:
    header = NetworkState("net1", "app", 4097, "10.0.1.0/24", "10.0.1.1")
    one = replace(header, endpoints=(Endpoint("10.0.1.5", "n2", "h2", "t1", "web.1.t1"),))
    two = replace(one, endpoints=(*one.endpoints, Endpoint("10.0.1.6", "n2", "h2", "t2")))
    agent = registered_agent(("a",))
    whole = AssignmentsMessage("s1", 1, True, (), (), networks=(diff(None, one, 0, 3),))
    agent.receive("a", whole, 1.0, 1.0)
    assert agent.flush().networks == {"net1": one}
    step = AssignmentsMessage("s1", 2, False, (), (), networks=(diff(one, two, 3, 4),))
    agent.receive("a", step, 2.0, 2.0)
    assert agent.flush().networks == {"net1": two}
    stale = AssignmentsMessage("s1", 3, False, (), (), networks=(diff(one, two, 3, 4),))
    agent.receive("a", stale, 3.0, 3.0)  # it holds version 4: this one is not for it
    assert agent.session == "" and agent.networks == {"net1": two}
