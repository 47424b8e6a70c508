"""Network states sent as deltas (core/dataplane/delta.py): a delta carries only
what changed, and applying it to the state it was taken from gives the new state
exactly, whatever changed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.dataplane.delta import NetworkDelta, StateFollower, address_order, diff
from core.dataplane.state import Endpoint, NetworkState, PublishedPort, ServiceBinding


def apply(current: NetworkState | None, delta: NetworkDelta) -> NetworkState:
    """What a node holding ``current`` (at the delta's base) makes of the delta."""
    follower = StateFollower()
    if current is not None:
        assert follower.follow(diff(None, current, 0, delta.base or 1))
    assert follower.follow(delta)
    assert follower.state is not None and follower.version == delta.version
    return follower.state


HEADER = NetworkState("net1", "mynet", 4097, "10.0.1.0/24", "10.0.1.1")


def task(n: int, node: str = "n1", host: str = "h1") -> Endpoint:
    return Endpoint(f"10.0.1.{n}", node, host, f"t{n:03d}", f"web.{n}.t{n:03d}")


def state(endpoints: list[Endpoint], bindings: list[ServiceBinding]) -> NetworkState:
    """A state in the dispatcher's order: endpoints by address, backends by task,
    bindings by name."""
    return NetworkState(
        HEADER.network_id,
        HEADER.name,
        HEADER.vni,
        HEADER.subnet,
        HEADER.gateway,
        endpoints=tuple(sorted(endpoints, key=address_order)),
        services=tuple(
            sorted(
                (
                    ServiceBinding(
                        b.service_id,
                        b.name,
                        b.vip,
                        tuple(sorted(b.backends, key=lambda e: e.task_id)),
                        b.ports,
                        b.aliases,
                    )
                    for b in bindings
                ),
                key=lambda b: (b.name, b.service_id),
            )
        ),
    )


LB = Endpoint("10.0.1.200", "n1", "h1")
BEFORE = state(
    [task(5), task(6), task(7), LB],
    [ServiceBinding("s1", "web", "10.0.1.2", (task(5), task(6), task(7)))],
)


def test_a_whole_state_is_every_endpoint_and_binding_and_rebuilds_the_state() -> None:
    whole = diff(None, BEFORE, 0, 4)
    assert (whole.base, whole.version) == (0, 4)
    assert len(whole.endpoints) == 4
    assert whole.services[0].backends_added == ("t005", "t006", "t007")
    assert whole.services[0].binding.backends == ()  # sent once, as endpoints
    assert apply(None, whole) == BEFORE
    assert apply(BEFORE, whole) == BEFORE  # a whole state replaces what was held


def test_one_task_more_is_one_endpoint_and_one_backend_key() -> None:
    after = state(
        [task(5), task(6), task(7), task(8), LB],
        [ServiceBinding("s1", "web", "10.0.1.2", (task(5), task(6), task(7), task(8)))],
    )
    delta = diff(BEFORE, after, 4, 5)
    assert (delta.base, delta.version) == (4, 5)
    assert delta.endpoints == (task(8),)
    assert delta.endpoints_removed == ()
    assert [(c.backends_added, c.backends_removed) for c in delta.services] == [(("t008",), ())]
    assert apply(BEFORE, delta) == after


def test_a_task_leaving_is_its_key_only_and_a_moved_endpoint_is_resent() -> None:
    moved = task(6, node="n2", host="h2")
    after = state([task(5), moved, LB], [ServiceBinding("s1", "web", "10.0.1.2", (task(5), moved))])
    delta = diff(BEFORE, after, 4, 5)
    assert delta.endpoints == (moved,)
    assert delta.endpoints_removed == ("t007",)
    assert [(c.backends_added, c.backends_removed) for c in delta.services] == [((), ("t007",))]
    assert apply(BEFORE, delta) == after  # the backend is the moved endpoint


def test_an_unchanged_binding_is_not_sent_and_a_removed_one_is_named() -> None:
    idle = ServiceBinding("s2", "idle", "10.0.1.3", ())
    before = state([task(5), LB], [ServiceBinding("s1", "web", "10.0.1.2", (task(5),)), idle])
    after = state([task(5), task(9), LB], [ServiceBinding("s1", "web", "10.0.1.2", (task(5),))])
    delta = diff(before, after, 1, 2)
    assert delta.services == ()
    assert delta.services_removed == ("s2",)
    assert apply(before, delta) == after


ADDRESSES = st.integers(min_value=2, max_value=40)


@st.composite
def states(draw: st.DrawFn) -> NetworkState:
    numbers = draw(st.sets(ADDRESSES, max_size=12))
    endpoints = [
        task(n, node=draw(st.sampled_from(["n1", "n2"])), host=draw(st.sampled_from(["h1", "h9"])))
        for n in sorted(numbers)
    ]
    bindings = []
    for service in sorted(draw(st.sets(st.sampled_from(["s1", "s2", "s3"])))):
        backends = [e for e in endpoints if draw(st.booleans())]
        ports = (PublishedPort("tcp", 8080, 80),) if draw(st.booleans()) else ()
        vip = draw(st.sampled_from(["", f"10.0.1.{100 + int(service[1])}"]))
        bindings.append(ServiceBinding(service, f"name-{service}", vip, tuple(backends), ports))
    if draw(st.booleans()):
        endpoints.append(LB)
    return state(endpoints, bindings)


@given(states(), states())
def test_applying_the_delta_between_two_states_gives_the_second(
    old: NetworkState, new: NetworkState
) -> None:
    assert apply(old, diff(old, new, 7, 8)) == new
    assert apply(None, diff(None, new, 0, 8)) == new


def test_a_delta_for_another_version_changes_nothing() -> None:
    follower = StateFollower()
    assert not follower.follow(diff(BEFORE, BEFORE, 4, 5)), "it holds no state at all"
    assert follower.follow(diff(None, BEFORE, 0, 4))
    later = state([task(5), LB], [])
    assert not follower.follow(diff(BEFORE, later, 3, 5))
    assert (follower.state, follower.version) == (BEFORE, 4)
