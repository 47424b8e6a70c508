"""Messages are passed between simulated hosts as values (sim/network.py), which is
only sound if no host can change what another holds: every message type is deeply
immutable. Checked statically over every type a message can carry, and on every
message of a busy simulated swarm; a mutable value smuggled in is caught, and so is a
value the codec cannot carry, by the network's sampled codec check."""

from __future__ import annotations

import dataclasses
import enum
import random
import types
import typing
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import simpy

from cli.scenario.runner import scenario_world
from cli.scenario.schema import load
from core.messages import ClusterMessage, Heartbeat, LogReply
from core.model.common import StoredObject
from core.model.wire import Labels
from core.raft.types import Payload
from core.store.actions import TABLES, Transaction
from sim.calibration import default
from sim.cluster import BY_CODEC, Envelope, _by_codec, _decode, _encode
from sim.network import CodecMismatch, Network
from tests.cluster.support import replicated, swarm

ATOMS = (type(None), bool, int, float, str, bytes)
#: ``Any`` fields and what they hold (checked on the values instead).
ANY_FIELDS = {("Proxied", "message"), ("Envelope", "message")}
#: Types a field names by their base or protocol, and what stands for them in a message:
#: a Raft entry's payload is a store transaction, a stored object one of the tables'.
STANDS_FOR: dict[Any, tuple[type, ...]] = {
    Payload: (Transaction,),
    StoredObject: tuple(TABLES[name] for name in sorted(TABLES)),
}


def problems(value: Any, where: str = "message") -> Iterator[str]:
    """Where ``value`` holds something mutable."""
    if isinstance(value, (*ATOMS, enum.Enum)):
        return
    if isinstance(value, tuple | frozenset):
        for index, item in enumerate(value):
            yield from problems(item, f"{where}[{index}]")
        return
    if isinstance(value, Labels):
        return  # an immutable str -> str mapping
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if not type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            yield f"{where}: {type(value).__name__} is not frozen"
        for spec in dataclasses.fields(value):
            yield from problems(getattr(value, spec.name), f"{where}.{spec.name}")
        return
    yield f"{where}: a {type(value).__name__}, which can change"


def type_problems(hint: Any, where: str, seen: set[type]) -> Iterator[str]:
    """Where the type ``hint`` admits something mutable."""
    origin = typing.get_origin(hint)
    if hint is Any:
        yield f"{where}: Any (a message that carries it must cross by the codec)"
        return
    if hint in ATOMS or isinstance(hint, typing.TypeVar):
        return
    if hint in STANDS_FOR:
        for concrete in STANDS_FOR[hint]:
            yield from type_problems(concrete, where, seen)
        return
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            yield from type_problems(arm, where, seen)
        return
    if origin is typing.Literal:
        return
    if origin in (tuple, frozenset):
        for arm in typing.get_args(hint):
            if arm is not Ellipsis:
                yield from type_problems(arm, f"{where}[]", seen)
        return
    if origin is not None:
        yield f"{where}: {hint} can change"
        return
    if not isinstance(hint, type):
        yield f"{where}: {hint!r} is not a type this check knows"
        return
    if issubclass(hint, enum.Enum) or issubclass(hint, Labels) or hint in seen:
        return
    if not dataclasses.is_dataclass(hint):
        yield f"{where}: {hint.__name__} is neither a frozen dataclass nor a value"
        return
    seen.add(hint)
    if not hint.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        yield f"{where}: {hint.__name__} is not frozen"
    hints = typing.get_type_hints(hint)
    for spec in dataclasses.fields(hint):
        if (hint.__name__, spec.name) in ANY_FIELDS:
            continue
        yield from type_problems(hints[spec.name], f"{hint.__name__}.{spec.name}", seen)


def test_every_message_type_is_deeply_immutable() -> None:
    seen: set[type] = set()
    found = list(type_problems(Envelope, "Envelope", seen))
    for cls in typing.get_args(ClusterMessage):
        if cls not in BY_CODEC:  # API values: they cross as bytes always
            found += type_problems(cls, cls.__name__, seen)
    assert not found, "\n".join(found)
    assert len(seen) > 60  # the messages and every model type they carry


def test_every_message_of_a_busy_swarm_is_deeply_immutable() -> None:
    world = swarm(3, managers=3, workers=3)
    sent: list[Any] = []
    send = world.network.send

    def watched(source: str, target: str, message: Any) -> None:
        sent.append(message)
        send(source, target, message)

    world.network.send = watched  # type: ignore[method-assign]
    assert world.call("manager-1", "ServiceCreate", spec=replicated("web", 6)).ok
    world.run_for(20)
    world.hosts["worker-1"].crash()
    world.run_for(20)
    assert len(sent) > 300
    kinds = {type(e.message).__name__ for e in sent}
    assert {"RaftEnvelope", "Heartbeat", "AssignmentsMessage", "StatusReport"} <= kinds
    found = [p for message in sent if not _by_codec(message) for p in problems(message)]
    assert not found, "\n".join(found[:20])


def test_a_list_smuggled_into_a_message_is_found() -> None:
    beat = Heartbeat("node-1", "session-1")
    assert list(problems(beat)) == []
    smuggled = replace(beat, session=["session-1"])  # type: ignore[arg-type]
    assert list(problems(smuggled)) == ["message.session: a list, which can change"]


def network(check_every: int) -> tuple[simpy.Environment, Network, list[Any]]:
    env = simpy.Environment()

    net = Network(env, random.Random(1), ["a", "b"], wire=False, codec_check_every=check_every)
    net.encode, net.decode = _encode, _decode
    got: list[Any] = []
    net.receivers["b"] = got.append
    return env, net, got


def test_a_value_the_codec_cannot_carry_is_caught_by_the_sampled_check() -> None:
    line = (1.0, "task-1", 1, object())  # a line the codec cannot carry
    bad = Envelope("a", LogReply("request-1", "node-1", (line,)))  # type: ignore[arg-type]
    env, net, got = network(check_every=1)
    with pytest.raises(CodecMismatch, match="the codec cannot carry"):
        net.send("a", "b", bad)
    env, net, got = network(check_every=2)  # only every second message is checked
    good = Envelope("a", Heartbeat("node-1", "session-1"))
    net.send("a", "b", bad)  # the first: passed unchecked
    with pytest.raises(CodecMismatch):
        net.send("a", "b", bad)
    env, net, got = network(check_every=1)
    net.send("a", "b", good)
    env.run()
    assert got == [good] and got[0] is good  # passed as the value itself


def test_strict_codec_sends_every_message_as_bytes() -> None:
    scenario = load("scenarios/worker-crash.yml")
    strict = scenario_world(scenario, 1, None, default().with_strict_codec())
    assert strict.network.wire  # every message encoded, and decoded on arrival
    assert not scenario_world(scenario, 1, None, default()).network.wire
