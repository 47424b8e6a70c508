"""The cluster messages' wire codec: what a peer sends that is no message of this
build is one error, MessageDecodeError, whatever is wrong with it."""

from __future__ import annotations

import msgpack
import pytest

from core.messages import Heartbeat, MessageDecodeError, Register, decode, encode
from core.model.node import NodeDescription


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
