"""``docker network create|ls|inspect|rm`` and the services' network flags: Docker's
command lines into requests, Docker's messages for the ones it refuses, Docker's
output, and what they do to a simulated swarm."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from cli.commands.common import Call, Change, Found
from cli.commands.flags import UsageError
from cli.commands.language import parse
from cli.commands.run import failure
from cli.commands.service import _networks
from cli.output.networks import network_inspect, network_ls
from cli.output.views import service_pretty
from core.model import replace
from core.model.common import Driver
from core.model.network import IPAMConfig, IPAMOptions, Network, NetworkSpec
from core.model.service import (
    ContainerSpec,
    NetworkAttachmentConfig,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.timestamp import Timestamp
from core.model.wire import Labels
from sim.cluster import ClusterWorld
from tests.cli.swarm_lines import printed, run
from tests.cluster.support import running, swarm

GOLDEN = Path(__file__).parent.parent / "golden"
VNI = "com.docker.network.driver.overlay.vxlanid_list"


def one(line: str) -> Call | Change:
    (command,) = parse(line, random.Random(1))
    return command


def call(line: str) -> Call:
    command = one(line)
    assert isinstance(command, Call)
    return command


def created(line: str) -> NetworkSpec:
    made = call(line)
    assert made.method == "NetworkCreate" and made.show == "id"
    spec = made.params["spec"]
    assert isinstance(spec, NetworkSpec)
    return spec


def refused(line: str) -> str:
    with pytest.raises(UsageError) as caught:
        parse(line, random.Random(1))
    return caught.value.message


# -- network create ------------------------------------------------------------------------


def test_create_defaults_to_an_overlay_network_with_the_default_ipam() -> None:
    spec = created("docker network create appnet")
    assert spec.name == "appnet"
    assert spec.driver_configuration == Driver(name="overlay")
    assert spec.ipam_options == IPAMOptions(driver=Driver(name="default"))
    assert not (spec.attachable or spec.internal or spec.ingress or spec.ipv6_enabled)
    assert dict(spec.labels) == {}


def test_create_reads_every_flag() -> None:
    spec = created(
        "network create -d overlay --subnet 10.20.0.0/24 --gateway 10.20.0.1 "
        "--ip-range 10.20.0.128/25 --attachable --internal --ipv6 --label x=y --label bare "
        "-o encrypted=true --opt com.docker.network.driver.mtu=1400 --ipam-driver default "
        "--ipam-opt a=b --scope swarm appnet"
    )
    assert spec.driver_configuration == Driver(
        name="overlay",
        options=Labels({"encrypted": "true", "com.docker.network.driver.mtu": "1400"}),
    )
    assert spec.ipam_options == IPAMOptions(
        driver=Driver(name="default", options=Labels({"a": "b"})),
        configs=(IPAMConfig(subnet="10.20.0.0/24", range="10.20.0.128/25", gateway="10.20.0.1"),),
    )
    assert spec.attachable and spec.internal and spec.ipv6_enabled and not spec.ingress
    assert dict(spec.labels) == {"x": "y", "bare": ""}


def test_create_takes_subnets_comma_separated_or_repeated_in_their_order() -> None:
    spec = created(
        "network create --subnet 10.1.0.0/24,10.2.0.0/24 --subnet 10.3.0.0/24 "
        "--gateway 10.3.0.1 --gateway 10.1.0.1 multi"
    )
    assert spec.ipam_options is not None
    assert [(c.subnet, c.gateway) for c in spec.ipam_options.configs] == [
        ("10.1.0.0/24", "10.1.0.1"),
        ("10.2.0.0/24", ""),
        ("10.3.0.0/24", "10.3.0.1"),
    ]


def test_create_ingress() -> None:
    assert created("network create --ingress -d overlay my-ingress").ingress


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--gateway 10.0.9.1", "every ip-range or gateway must have a corresponding subnet"),
        (
            "--subnet 10.9.0.0/24 --ip-range 10.9.0.0/25 --ip-range 10.9.1.0/25",
            "every ip-range or gateway must have a corresponding subnet",
        ),
        ("--subnet 10.9.0.0/24 --gateway 10.8.0.1", "no matching subnet for gateway 10.8.0.1"),
        ("--subnet 10.9.0.0/24 --gateway nonsense", "no matching subnet for gateway nonsense"),
        ("--subnet 10.9.0.0/24 --ip-range 10.8.0.0/25", "no matching subnet for range 10.8.0.0/25"),
        (
            "--subnet 10.9.0.0/16 --subnet 10.9.1.0/24",
            "multiple overlapping subnet configuration is not supported",
        ),
        (
            "--subnet 10.9.0.0/24 --subnet 10.9.0.0/24",
            "multiple overlapping subnet configuration is not supported",
        ),
        (
            "--subnet 10.9.0.0/24,10.8.0.0/24 --gateway 10.9.0.1 --gateway 10.9.0.2",
            "cannot configure multiple gateways (10.9.0.2, 10.9.0.1) for the same subnet "
            "(10.9.0.0/24)",
        ),
        (
            "--subnet 10.9.0.0/24,10.8.0.0/24 --ip-range 10.9.0.0/25 --ip-range 10.9.0.128/25",
            "cannot configure multiple ranges (10.9.0.128/25, 10.9.0.0/25) on the same subnet "
            "(10.9.0.0/24)",
        ),
        ("--subnet 10.9.0.0 --gateway 10.9.0.1", "invalid subnet: invalid CIDR address: 10.9.0.0"),
        ("--subnet 10.9.0.0/24 --ip-range 10.9.0.0/99", "invalid CIDR address: 10.9.0.0/99"),
        (
            "--label =x",
            'invalid argument "=x" for "--label" flag: invalid label \'=x\': empty name',
        ),
        (
            "--label 'a b=c'",
            'invalid argument "a b=c" for "--label" flag: label \'a b\' contains whitespaces',
        ),
        ("--scope local", "cannot downgrade network scope for overlay networks"),
    ],
)
def test_create_refuses_what_docker_refuses_in_its_words(flags: str, message: str) -> None:
    assert refused(f"docker network create {flags} appnet") == message


def test_create_refuses_a_local_driver_naming_the_problem() -> None:
    message = refused("docker network create -d bridge mybridge")
    assert "bridge network would be local to one host" in message
    assert "overlay" in message
    assert "local to one host" in refused("docker network create --driver macvlan mine")


def test_create_refuses_a_predefined_name_and_a_missing_name() -> None:
    assert refused("network create host") == (
        "operation is not permitted on predefined host network "
    )
    assert refused("network create") == '"docker network create" requires exactly 1 argument.'
    assert refused("network create a b") == '"docker network create" requires exactly 1 argument.'


def test_network_group_errors() -> None:
    assert refused("docker network").startswith('"docker network" requires a subcommand.')
    assert refused("docker network prune") == 'unknown command "prune" for "docker network"'
    assert refused("docker network ls --bogus") == "unknown flag: --bogus"


# -- network ls / inspect / rm: the requests ---------------------------------------------------


def test_ls_sends_names_and_id_prefixes_as_dockerd_does_and_keeps_the_rest() -> None:
    listing = call("network ls -f name=appnet --filter id=ab -f driver=overlay -q --no-trunc")
    assert listing.method == "NetworkList"
    assert listing.params == {"names": ["appnet"], "id_prefixes": ["ab"]}
    assert listing.view["quiet"] and listing.view["no_trunc"]
    assert ("driver", "overlay") in listing.view["filters"]
    assert call("network list").params == {"names": [], "id_prefixes": []}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("-f type=other", "invalid filter: 'type'='other'"),
        (
            "-f dangling=maybe",
            'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")',
        ),
        ("-f dangling=true -f dangling=false", 'got more than one value for filter key "dangling"'),
        ("-f colour=red", "invalid filter 'colour'"),
        ("-f name", "bad format of filter (expected name=value)"),
    ],
)
def test_ls_refuses_bad_filters(flags: str, message: str) -> None:
    assert refused(f"network ls {flags}") == message


def test_inspect_and_rm_make_one_request_per_network() -> None:
    inspected = parse("network inspect -f '{{.Name}}' appnet ingress", random.Random(1))
    assert [(c.method, c.params, c.show) for c in inspected if isinstance(c, Call)] == [
        ("NetworkInspect", {"network": "appnet"}, "network inspect"),
        ("NetworkInspect", {"network": "ingress"}, "network inspect"),
    ]
    for verb in ("rm", "remove"):
        removed = parse(f"network {verb} a b", random.Random(1))
        assert [(c.method, c.params) for c in removed if isinstance(c, Call)] == [
            ("NetworkRemove", {"network": "a"}),
            ("NetworkRemove", {"network": "b"}),
        ]
    assert refused("network rm") == '"docker network rm" requires at least 1 argument.'
    assert refused("network inspect") == '"docker network inspect" requires at least 1 argument.'
    assert refused("network inspect --pretty x") == "unknown flag: --pretty"
    assert 'function "nope" not defined' in refused("network inspect -f '{{nope}}' x")


# -- service --network / --network-add / --network-rm ---------------------------------------------


def created_service(line: str) -> ServiceSpec:
    spec = call(line).params["spec"]
    assert isinstance(spec, ServiceSpec)
    return spec


def test_service_create_takes_networks_short_and_long() -> None:
    spec = created_service(
        "service create --name web --network appnet "
        "--network name=Other,alias=API,alias=b,driver-opt=Com.X=Y,ip=10.0.0.9 nginx"
    )
    assert spec.task_template.networks == (
        NetworkAttachmentConfig(target="appnet"),
        # Docker lower-cases every key and value of the long form
        NetworkAttachmentConfig(
            target="other", aliases=("api", "b"), driver_opts=Labels({"com.x": "y"})
        ),
    )
    assert created_service("service create nginx").task_template.networks == ()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("name=a,colour=red", "invalid field key colour"),
        ("alias=a,b=c", "invalid field key b"),
        ("alias=a", "network name/id is not specified"),
        ("name=a,alias", "invalid field alias"),
        ("name=a,driver-opt=x", "invalid key value pair format in driver options"),
    ],
)
def test_service_network_long_form_errors(value: str, reason: str) -> None:
    message = refused(f"service create --network {value} nginx")
    assert message == f'invalid argument "{value}" for "--network" flag: {reason}'
    message = refused(f"service update --network-add {value} web")
    assert message == f'invalid argument "{value}" for "--network-add" flag: {reason}'


def on(*targets: str, legacy: bool = False) -> ServiceSpec:
    attachments = tuple(NetworkAttachmentConfig(target=t) for t in targets)
    spec = ServiceSpec(
        name="web",
        task_template=TaskSpec(
            container_spec=ContainerSpec(image="nginx"),
            networks=() if legacy else attachments,
        ),
        mode=ServiceMode(replicated=ReplicatedService(replicas=1)),
    )
    return replace(spec, networks=attachments) if legacy else spec


def targets(spec: ServiceSpec) -> list[str]:
    assert spec.networks == ()
    return [a.target for a in spec.task_template.networks]


IDS = {"appnet": "id-app", "id-app": "id-app", "backend": "id-back", "id-b": "id-back"}


def test_update_networks_as_docker_cli_does_with_the_networks_looked_up() -> None:
    added = [NetworkAttachmentConfig(target="backend", aliases=("db",))]
    spec = _networks(on("id-z", "id-app"), added, ["appnet"], IDS)
    assert spec.task_template.networks == (
        NetworkAttachmentConfig(target="id-back", aliases=("db",)),
        NetworkAttachmentConfig(target="id-z"),
    )  # sorted by target
    # one not attached: nothing to remove; the deprecated Networks move into the template
    assert targets(_networks(on("id-z", legacy=True), [], ["backend"], IDS)) == ["id-z"]
    with pytest.raises(UsageError) as caught:
        _networks(on("id-back"), [NetworkAttachmentConfig(target="id-b")], [], IDS)
    assert caught.value.message == "service is already attached to network id-b"


def test_update_and_create_name_the_networks_the_cli_looks_up_first() -> None:
    change = one("service update --network-rm a --network-add name=b,alias=x --network-rm b web")
    assert isinstance(change, Change)
    assert change.networks == ("a", "b")  # those removed, then those added; each once
    assert one("service update --image x web").networks == ()
    create = call("service create --network zed --network name=alpha,alias=a nginx")
    assert create.networks == ("zed", "alpha")
    assert create.resolved is not None
    sent = create.resolved(Found({"zed": "id-1", "alpha": "id-2"}))["spec"]
    assert [(a.target, a.aliases) for a in sent.task_template.networks] == [
        ("id-1", ()),
        ("id-2", ("a",)),
    ]  # by ID, sorted by it, as docker/cli's ToService
    assert call("service create nginx").networks == ()


# -- what is printed ------------------------------------------------------------------------------


def network(name: str, network_id: str, **spec: Any) -> Network:
    return Network(
        id=network_id,
        created_at=Timestamp.parse("2026-11-22T05:43:31.647865993Z"),
        spec=NetworkSpec(name=name, driver_configuration=Driver(name="overlay"), **spec),
        driver_state=Driver(name="overlay", options=Labels({VNI: "4097"})),
        ipam_options=IPAMOptions(
            driver=Driver(name="default"),
            configs=(IPAMConfig(subnet="10.20.0.0/24", gateway="10.20.0.1"),),
        ),
    )


APPNET = network("appnet", "pw26xrw2c70glmr8ug4dtzu97", attachable=True, labels=Labels({"x": "y"}))


def test_inspect_prints_dockerd_network_resource_as_captured() -> None:
    """tests/golden/network-appnet.json, less what only a host with the network's
    containers shows (Containers, Peers)."""
    (captured,) = json.loads((GOLDEN / "network-appnet.json").read_text())
    (shown,) = json.loads(network_inspect([APPNET]))
    local = {"Containers", "Peers"}
    assert {k: v for k, v in shown.items() if k not in local} == {
        k: v for k, v in captured.items() if k not in local
    }
    assert list(shown) == [k for k in captured if k != "Peers"]  # Docker's key order
    assert network_inspect([APPNET], "{{.Name}} {{.IPAM.Driver}}") == "appnet default"
    assert json.loads(network_inspect([APPNET], "json"))[0]["Id"] == APPNET.id


INGRESS = replace(
    network("ingress", "5df7sqz652iiwdxba56v08i1m", ingress=True),
    created_at=Timestamp.parse("2026-11-22T05:43:29.630510718Z"),
    driver_state=Driver(name="overlay", options=Labels({VNI: "4096"})),
    ipam_options=IPAMOptions(
        driver=Driver(name="default"),
        configs=(IPAMConfig(subnet="10.0.0.0/24", gateway="10.0.0.1"),),
    ),
)


def test_inspect_shows_the_ingress_network_as_a_node_holds_it() -> None:
    """tests/golden/network-ingress.json: dockerd answers with the node's own copy
    of the ingress network (every swarm node holds one), whose Containers and
    Labels are maps even when empty; shoal lists none of its endpoints."""
    (captured,) = json.loads((GOLDEN / "network-ingress.json").read_text())
    (shown,) = json.loads(network_inspect([INGRESS]))
    assert shown == {k: v for k, v in captured.items() if k != "Peers"} | {"Containers": {}}
    assert captured["Labels"] == {}
    # any other network as the swarm shows it: no containers, no empty labels
    (plain,) = json.loads(network_inspect([network("plain", "pp0000000000000000000000c")]))
    assert (plain["Containers"], plain["Labels"]) == (None, None)


def names_listed(networks: list[Network], *filters: tuple[str, str]) -> list[str]:
    return network_ls(networks, filters, fmt="{{.Name}}").splitlines()


def test_ls_table_sorted_naturally_by_name() -> None:
    nets = [
        network("network-2-foo", "bbbbbbbbbbbbbbbbbbbbbbbbb"),
        network("network-1-foo", "aaaaaaaaaaaaaaaaaaaaaaaaa"),
        network("network-10-foo", "ccccccccccccccccccccccccc"),
    ]
    assert network_ls(nets) == (
        "NETWORK ID     NAME             DRIVER    SCOPE\n"
        "aaaaaaaaaaaa   network-1-foo    overlay   swarm\n"
        "bbbbbbbbbbbb   network-2-foo    overlay   swarm\n"
        "cccccccccccc   network-10-foo   overlay   swarm"
    )
    assert network_ls(nets, quiet=True).splitlines() == ["aaaaaaaaaaaa", "b" * 12, "c" * 12]
    assert network_ls(nets, quiet=True, no_trunc=True).splitlines()[0] == "a" * 25
    row = json.loads(network_ls([APPNET], fmt="json"))
    assert row == {
        "CreatedAt": "2026-11-22 05:43:31.647865993 +0000 UTC",
        "Driver": "overlay",
        "ID": "pw26xrw2c70g",
        "IPv6": "false",
        "Internal": "false",
        "Labels": "x=y",
        "Name": "appnet",
        "Scope": "swarm",
    }
    assert network_ls([APPNET], fmt="table {{.Name}}\t{{.Labels}}") == (
        "NAME      LABELS\nappnet    x=y"
    )


def test_ls_filters_as_dockerd_does() -> None:
    nets = [
        APPNET,
        network("backend", "qq0000000000000000000000a", internal=True),
        network("ingress", "ii0000000000000000000000b", ingress=True),
    ]
    assert names_listed(nets, ("label", "x")) == ["appnet"]
    assert names_listed(nets, ("label", "x=z")) == []
    assert names_listed(nets, ("name", "app"), ("name", "ingress")) == ["appnet", "ingress"]
    assert names_listed(nets, ("name", "^b.*d$")) == ["backend"]  # Go's regexp match
    assert names_listed(nets, ("name", "[")) == []  # a bad expression matches nothing
    assert names_listed(nets, ("id", "qq0")) == ["backend"]
    assert names_listed(nets, ("driver", "bridge")) == []
    assert names_listed(nets, ("scope", "swarm"), ("driver", "overlay")) == [
        "appnet",
        "backend",
        "ingress",
    ]
    assert names_listed(nets, ("scope", "local")) == []
    assert names_listed(nets, ("type", "custom")) == ["appnet", "backend", "ingress"]
    assert names_listed(nets, ("type", "builtin")) == []
    assert names_listed(nets, ("dangling", "true")) == ["appnet", "backend", "ingress"]
    assert names_listed(nets, ("dangling", "0")) == []


def test_pretty_service_shows_its_networks_by_name_and_its_endpoint_mode() -> None:
    attached = (
        NetworkAttachmentConfig(target=APPNET.id),
        NetworkAttachmentConfig(target="unknownid"),
    )
    spec = on()
    spec = replace(spec, task_template=replace(spec.task_template, networks=attached))
    service = Service(id="svc", spec=spec)
    text = service_pretty(service, 0.0, {APPNET.id: APPNET})
    assert "\nResources:\nNetworks: appnet unknownid \nEndpoint Mode:\tvip" in text
    assert "Networks: pw26xrw2c70glmr8ug4dtzu97 unknownid \n" in service_pretty(service, 0.0)
    assert "Networks:" not in service_pretty(Service(id="svc", spec=on()), 0.0)


# -- against a simulated swarm ---------------------------------------------------------------


def a_service(world: ClusterWorld, name: str) -> Service:
    store = world.leader_store()
    assert store is not None
    return next(
        s
        for s in store.tables["services"].values()
        if isinstance(s, Service) and s.spec.name == name
    )


def test_a_network_through_its_life_in_a_swarm() -> None:
    world = swarm(3, managers=1, workers=2)
    network_id = printed(world, "docker network create -d overlay appnet")
    world.run_for(2)
    table = printed(world, "docker network ls").splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [line.split()[1:] for line in table[1:]] == [
        ["appnet", "overlay", "swarm"],
        ["ingress", "overlay", "swarm"],
    ]
    assert table[1].split()[0] == network_id[:12]
    (shown,) = json.loads(printed(world, "docker network inspect appnet"))
    assert shown["Id"] == network_id and shown["Scope"] == "swarm"
    assert shown["IPAM"]["Config"] == [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}]
    assert shown["Options"] == {VNI: "4097"}  # ingress holds 10.0.0.0/24 and VNI 4096
    (ingress,) = json.loads(printed(world, "docker network inspect ingress"))
    assert ingress["Ingress"] and ingress["Options"] == {VNI: "4096"}

    printed(world, "docker service create -d --name web --replicas 2 --network appnet nginx")
    assert world.run_until(lambda: len(running(world, a_service(world, "web").id)) == 2, 60)
    service = a_service(world, "web")
    assert [a.target for a in service.spec.task_template.networks] == [network_id]
    ((vip_network, vip),) = [(v.network_id, v.addr) for v in service.endpoint.virtual_ips]
    assert vip_network == network_id and vip.startswith("10.0.1.") and vip.endswith("/24")
    (inspected,) = json.loads(printed(world, "docker service inspect web"))
    assert inspected["Endpoint"]["VirtualIPs"] == [{"NetworkID": network_id, "Addr": vip}]

    (busy,) = run(world, "docker network rm appnet")
    assert not busy.ok and busy.code == "FailedPrecondition"
    assert busy.error.endswith(f"network {network_id} is in use by service {service.id}")
    printed(world, "docker service rm web")
    assert world.run_until(lambda: not running(world, service.id), 60)
    world.run_for(5)
    assert printed(world, "docker network rm appnet") == "appnet"
    assert printed(world, "docker network ls -q") == ingress["Id"][:12]
    (missing,) = run(world, "docker network inspect appnet")
    assert not missing.ok and missing.code == "NotFound"


def test_service_update_adds_and_removes_networks_in_a_swarm() -> None:
    world = swarm(4, managers=1, workers=1)
    front = printed(world, "network create front")
    back = printed(world, "network create back")
    printed(world, "service create -d --name web --network front nginx")
    world.run_for(5)
    printed_update = run(world, "service update -d --network-add name=back,alias=api web")
    assert all(o.ok for o in printed_update)
    assert world.run_until(
        lambda: (
            {v.network_id for v in a_service(world, "web").endpoint.virtual_ips} == {front, back}
        ),
        30,
    )
    attached = a_service(world, "web").spec.task_template.networks
    assert sorted((a.target, a.aliases) for a in attached) == sorted(
        [(front, ()), (back, ("api",))]
    )
    with pytest.raises(UsageError) as caught:  # refused before anything is sent
        run(world, f"service update -d --network-add {back} web")
    assert caught.value.message == f"service is already attached to network {back}"
    (removed,) = run(world, f"service update -d --network-rm {front[:6]} web")
    assert removed.ok, removed.error
    assert [a.target for a in a_service(world, "web").spec.task_template.networks] == [back]


def test_service_networks_are_named_by_name_as_docker_cli_allows() -> None:
    """docker/cli looks each network up (NetworkInspect) before it writes: names
    and IDs alike end up as IDs, sorted; one already attached is refused, whatever
    it is called by; one not found is refused in the client's words, with nothing
    written."""
    world = swarm(5, managers=1, workers=1)
    front = printed(world, "network create front")
    back = printed(world, "network create back")
    printed(world, "service create -d --name web --network front --network back nginx")
    printed(world, f"service create -d --name other --network {back} --network front nginx")
    assert targets(a_service(world, "web").spec) == sorted([front, back])  # either order given
    assert targets(a_service(world, "other").spec) == sorted([front, back])
    printed(world, "service rm other")
    version = a_service(world, "web").version.index
    for named in ("front", front, front[:7]):
        with pytest.raises(UsageError) as caught:
            run(world, f"service update -d --network-add {named} web")
        assert caught.value.message == f"service is already attached to network {named}"
    (removed,) = run(world, "service update -d --network-rm front web")
    assert removed.ok, removed.error
    assert targets(a_service(world, "web").spec) == [back]
    (unknown,) = run(world, "service update -d --network-rm nope web")
    assert not unknown.ok and unknown.said == "Error: No such network: nope"
    assert failure(unknown) == ("", "Error: No such network: nope")
    assert a_service(world, "web").version.index > version
    version = a_service(world, "web").version.index
    (unknown,) = run(world, "service update -d --network-add nope web")
    assert unknown.said == "Error: No such network: nope"
    assert a_service(world, "web").version.index == version  # nothing written
    (refused_create,) = run(world, "service create -d --name api --network nope nginx")
    assert not refused_create.ok and refused_create.said == "Error: No such network: nope"
    store = world.leader_store()
    assert store is not None
    assert [s.spec.name for s in store.tables["services"].values() if isinstance(s, Service)] == [
        "web"
    ]


def test_a_network_not_found_is_said_in_the_docker_clients_words() -> None:
    world = swarm(6, managers=1, workers=0)
    (inspected,) = run(world, "network inspect nope")
    assert failure(inspected) == ("[]", "Error: No such network: nope")
    (removed,) = run(world, "network rm nope")
    assert failure(removed) == ("", "Error: No such network: nope")
    (service,) = run(world, "service inspect nope")  # docker/cli's own, lower-case
    assert failure(service) == ("[]", "Error: no such service: nope")
    printed(world, "service create -d --name web nginx")
    (busy,) = run(world, "service create -d --name web nginx")
    assert failure(busy)[1].startswith("Error response from daemon: ")
