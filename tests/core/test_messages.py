"""The cluster messages' wire codec: what a peer sends that is no message of this
build is one error, MessageDecodeError, whatever is wrong with it."""

from __future__ import annotations

import msgpack
import pytest

from core.messages import (
    ForwardedRequest,
    Heartbeat,
    MessageDecodeError,
    Register,
    decode,
    encode,
)
from core.model.cluster import ClusterSpec
from core.model.network import NetworkSpec
from core.model.node import NodeDescription, NodeSpec
from core.model.secret import ConfigSpec, SecretSpec
from core.model.wire import Labels


def test_a_message_round_trips() -> None:
    message = Register("n1", NodeDescription(hostname="w1"))
    assert decode(encode(message)) == message


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ([1, "Heartbeat", ["n1"]], "not a Heartbeat"),  # a field missing
        ([1, "Heartbeat", ["n1", "s", "extra"]], "not a Heartbeat"),  # one too many
        ([1, "Register", ["n1", {"$model": "NodeDescription", "v": 5}]], "not a Register"),
        ([1, "Register", ["n1", {"$model": "Nope", "v": {}}]], "unknown model"),
        ([1, "Register", ["n1", {"odd": 1}]], "a map without a type tag"),
        ([1, "RaftEnvelope", [{"$raft": b"\x00garbage"}]], "not a RaftEnvelope"),
        ([2, "Heartbeat", ["n1", "s"]], "format 2"),
        ([1, "Nope", []], "unknown cluster message"),
        ("not a list", "not a cluster message"),
    ],
)
def test_anything_else_is_a_message_decode_error(frame: object, problem: str) -> None:
    with pytest.raises(MessageDecodeError, match=problem):
        decode(msgpack.packb(frame, use_bin_type=True))


def test_garbage_bytes_are_a_message_decode_error() -> None:
    with pytest.raises(MessageDecodeError):
        decode(b"\xc1\xff\x00")
    assert decode(encode(Heartbeat("n1", "s"))) == Heartbeat("n1", "s")


@pytest.mark.parametrize(
    "spec",
    [
        NodeSpec(name="n", labels=Labels({"a": "b"})),
        ClusterSpec(name="default"),
        SecretSpec(name="s", data="aGk="),
        ConfigSpec(name="c", data="aGk="),
        NetworkSpec(name="net"),
    ],
    ids=lambda spec: type(spec).__name__,
)
def test_every_spec_the_control_api_takes_can_be_forwarded_to_the_leader(spec: object) -> None:
    """A follower forwards a client's request to its leader as a message: an Engine
    API spec that does not encode fails every request that reaches a follower."""
    request = ForwardedRequest("manager-2", "r1", "Update", (("spec", spec),))
    assert decode(encode(request)) == request
