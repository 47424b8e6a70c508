"""PKI-07, CL-08: ``docker swarm ca`` and ``swarm update --cert-expiry`` as Docker's CLI
takes them: the root printed, a rotation started (to a new root or a given one), the
flags that need ``--rotate`` refused in docker/cli's words, ``--external-ca`` refused
with nothing changed, and the progress docker/cli prints while nodes rotate."""

from __future__ import annotations

import random

import pytest

from cli.commands.common import Call
from cli.commands.flags import UsageError
from cli.commands.language import parse
from cli.output.answers import render
from cli.output.ca_progress import bar, rotation_progress
from cli.output.views import Context
from core.ca.root import RootCA
from core.model import replace
from core.model.cluster import Cluster, ExternalCA
from core.model.common import TLSInfo
from core.model.node import Node, NodeDescription
from tests.ca.test_rotation import self_signed
from tests.cli.test_commands_in_a_swarm import ok, run
from tests.cluster.support import swarm
from tests.cluster.test_pki_join import cluster_of


def files(contents: dict[str, str]) -> object:
    def read(path: str) -> str:
        if path not in contents:
            raise FileNotFoundError(2, "No such file or directory")
        return contents[path]

    return read


def refused(line: str, reader: object = None) -> str:
    with pytest.raises(UsageError) as caught:
        parse(line, random.Random(1), reader or files({}))  # type: ignore[arg-type]
    return caught.value.message


@pytest.mark.parametrize("flag", ["--ca-cert ca.pem", "--ca-key k.pem", "--cert-expiry 2h"])
def test_flags_that_change_the_ca_need_rotate(flag: str) -> None:
    name = flag.split()[0]
    assert refused(f"swarm ca {flag}") == (
        f"`{name}` flag requires the `--rotate` flag to update the CA"
    )


def test_external_ca_is_refused_clearly() -> None:
    message = refused("swarm ca --rotate --external-ca protocol=cfssl,url=https://ca.example")
    assert "--external-ca is not supported by shoal" in message


def test_a_ca_cert_without_its_key_is_refused_in_docker_cli_words() -> None:
    reader = files({"ca.pem": self_signed(5)[0]})
    assert refused("swarm ca --rotate --ca-cert ca.pem", reader) == (
        "the --ca-cert flag requires that a --ca-key flag and/or --external-ca flag be "
        "provided as well"
    )


def test_ca_files_must_be_pem() -> None:
    reader = files({"ca.pem": "hello", "k.pem": "hello"})
    assert refused("swarm ca --rotate --ca-cert ca.pem --ca-key k.pem", reader) == (
        "file contents must be in PEM format"
    )
    assert refused("swarm ca --rotate --ca-cert gone.pem --ca-key k.pem", reader) == (
        "open gone.pem: no such file or directory"
    )


def test_swarm_ca_prints_the_root_and_rotate_moves_the_swarm_to_a_new_one() -> None:
    world = swarm(1, managers=1, workers=2)
    before = cluster_of(world)
    (shown,) = run(world, "docker swarm ca")
    text = render("ca", {}, {}, shown.value, Context(now=0.0))
    assert text is not None and text == before.tls_info.trust_root.strip()
    assert text.startswith("-----BEGIN CERTIFICATE-----")
    ok(world, "docker swarm ca --rotate -d")
    assert cluster_of(world).root_rotation_in_progress
    assert world.run_until(lambda: not cluster_of(world).root_rotation_in_progress, 60)
    after = cluster_of(world)
    assert after.tls_info.trust_root != before.tls_info.trust_root
    assert after.join_tokens.worker != before.join_tokens.worker


def test_rotate_to_a_given_root_and_key() -> None:
    world = swarm(2, managers=1, workers=1)
    cert, key = self_signed(5)
    reader = files({"ca.pem": cert, "ca.key": key})
    commands = parse(
        "swarm ca --rotate -d --ca-cert ca.pem --ca-key ca.key", random.Random(1), reader
    )  # type: ignore[arg-type]
    (call,) = commands
    assert world.call("manager-1", call.method, **call.params).ok  # type: ignore[union-attr]
    assert world.run_until(lambda: not cluster_of(world).root_rotation_in_progress, 60)
    assert cluster_of(world).tls_info.trust_root == cert


def test_cert_expiry_below_an_hour_is_refused_and_nothing_changes() -> None:
    world = swarm(3, managers=1, workers=1)
    before = cluster_of(world)
    (outcome,) = run(world, "docker swarm update --cert-expiry 59m")
    assert not outcome.ok and "minimum certificate expiry time is: 1h0m0s" in str(outcome.error)
    (outcome,) = run(world, "docker swarm ca --rotate -d --cert-expiry 30m")
    assert not outcome.ok and "minimum certificate expiry time is: 1h0m0s" in str(outcome.error)
    assert cluster_of(world) == before


def test_an_external_ca_in_the_spec_is_refused_by_the_api_and_nothing_changes() -> None:
    world = swarm(4, managers=1, workers=1)
    before = cluster_of(world)
    spec = before.spec
    external = replace(spec.ca_config, external_cas=(ExternalCA(url="https://ca.example"),))
    reply = world.call("manager-1", "SwarmUpdate", spec=replace(spec, ca_config=external))
    assert not reply.ok and "external CAs are not supported" in str(reply.error)
    assert cluster_of(world) == before


def test_progress_counts_nodes_as_docker_cli_does() -> None:
    root = RootCA(self_signed(5)[0].encode()).tls_info()
    cluster = Cluster(id="c", tls_info=root, root_rotation_in_progress=True)
    rotated = Node(id="a", description=NodeDescription(tls_info=root))
    behind = Node(id="b", description=NodeDescription(tls_info=TLSInfo()))
    text, done = rotation_progress(cluster, [rotated, behind])
    assert not done
    assert text.splitlines()[1] == f"  rotated TLS certificates:  {bar(1, 2, 'nodes')}"
    assert text.splitlines()[2] == f"  rotated CA certificates:   {bar(0, 2, 'nodes')}"
    finished = replace(cluster, root_rotation_in_progress=False)
    text, done = rotation_progress(finished, [rotated, rotated])
    assert done and text.endswith("] 2/2 nodes")
    assert bar(2, 2, "nodes") == "[" + "=" * 50 + ">] 2/2 nodes"


def test_a_swarm_without_a_root_is_an_error_as_docker_says() -> None:
    (shown,) = parse("swarm ca", random.Random(1))
    assert isinstance(shown, Call)
    assert shown.refuse is not None
    assert shown.refuse(Cluster()) == "No CA information available"
    assert shown.refuse(Cluster(tls_info=TLSInfo(trust_root="-----BEGIN..."))) is None
