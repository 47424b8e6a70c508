"""Requests whose strings are not UTF-8 text are refused before they are written: a
lone surrogate (from a JSON escape, or a command-line argument that was not UTF-8)
would otherwise fail the leader's log write."""

from __future__ import annotations

import random

import pytest

from core.manager.api import ApiContext, Write, handle
from core.manager.requests import ApiError, ClientReply
from core.model.service import ContainerSpec, ServiceSpec, TaskSpec
from core.model.wire import Labels
from core.store import MemoryStore, SequenceConflict


def spec(**labels: str) -> ServiceSpec:
    return ServiceSpec(
        name="web",
        labels=Labels(labels),
        task_template=TaskSpec(container_spec=ContainerSpec(image="nginx")),
    )


def ctx() -> ApiContext:
    return ApiContext(store=MemoryStore(), rng=random.Random(1), wall=1.0)


@pytest.mark.parametrize("labels", [{"\ud800": "x"}, {"k": "caf\udce9"}], ids=["key", "value"])
def test_a_lone_surrogate_anywhere_in_a_spec_is_refused(labels: dict[str, str]) -> None:
    with pytest.raises(ApiError) as refused:
        handle(ctx(), "ServiceCreate", {"spec": spec(**labels)})
    assert refused.value.code == "InvalidArgument"
    assert "spec.Labels" in refused.value.message and "not valid UTF-8" in refused.value.message


def test_text_that_is_utf8_passes() -> None:
    assert isinstance(handle(ctx(), "ServiceCreate", {"spec": spec(k="café ☃ 😀")}), Write)


def test_a_write_refused_as_out_of_sequence_is_told_in_swarmkits_words() -> None:
    """A write whose object changed between its check and its commit fails in the
    store; the client hears SwarmKit's ErrSequenceConflict (code Unknown: 500)."""
    reply = ClientReply.failed("r1", SequenceConflict("services", "abc"))
    assert (reply.code, reply.error) == (
        "Unknown",
        "rpc error: code = Unknown desc = update out of sequence",
    )
