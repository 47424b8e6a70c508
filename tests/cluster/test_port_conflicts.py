"""Published ingress ports are the swarm's: a second service asking for one that a
service holds is refused at create and at update with Docker's error."""

from __future__ import annotations

from core.model.enums import PublishMode
from core.model.service import EndpointSpec, PortConfig, ServiceSpec
from core.model.wire import replace
from tests.cluster.support import replicated, swarm


def publishing(name: str, port: int, mode: PublishMode = PublishMode.INGRESS) -> ServiceSpec:
    ports = (PortConfig(target_port=80, published_port=port, publish_mode=mode),)
    return replace(replicated(name, 1), endpoint_spec=EndpointSpec(ports=ports))


def test_an_ingress_port_in_use_is_refused_at_create_and_update() -> None:
    world = swarm(1, managers=1, workers=1)
    first = world.call("manager-1", "ServiceCreate", spec=publishing("web", 8080))
    assert first.ok, first.error
    again = world.call("manager-1", "ServiceCreate", spec=publishing("api", 8080))
    assert not again.ok and again.code == "InvalidArgument"
    assert again.error == (
        "rpc error: code = InvalidArgument desc = port '8080' is already in use by service "
        f"'web' ({first.value}) as an ingress port"
    )
    other = world.call("manager-1", "ServiceCreate", spec=publishing("api", 8081))
    assert other.ok, other.error
    moved = world.call("manager-1", "ServiceUpdate", service="api", spec=publishing("api", 8080))
    assert not moved.ok and "is already in use by service 'web'" in moved.error
    # the service may keep its own port, and a host-mode port is not the swarm's
    assert world.call("manager-1", "ServiceUpdate", service="web", spec=publishing("web", 8080)).ok
    host = world.call(
        "manager-1", "ServiceCreate", spec=publishing("local", 8080, PublishMode.HOST)
    )
    assert host.ok, host.error
