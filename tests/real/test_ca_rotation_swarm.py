"""PKI-07/PKI-08 for real: ``docker swarm ca --rotate`` from the stock docker CLI on a
3-host shoal swarm (two managers, one worker, mutual TLS between their daemons). The CLI
waits for the rotation as it does against Docker (polling ``GET /swarm`` and ``GET
/nodes``) and prints the new root; meanwhile the swarm keeps working over TLS contexts
swapped live: the service's tasks keep their containers, never restarted, every node
stays Ready, and afterwards every node's certificate is issued by the new root, which
it alone trusts, and the join tokens name the new root's digest."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from core.ca.chain import issued_by
from core.ca.root import RootCA
from core.ca.tokens import parse_join_token
from core.model.cluster import Cluster
from real.agent.images import IMAGE
from real.testhosts.swarm import ShoalSwarm, ready_nodes
from tests.real.swarm_support import WEB, api, docker, running_tasks

pytestmark = pytest.mark.slow


def containers(swarm: ShoalSwarm) -> dict[str, tuple[str, str, int]]:
    """task id -> (container id, StartedAt, RestartCount) of the running web tasks."""
    found = {}
    for host in swarm.hosts:
        client = api(host)
        for listed in client.containers(filters={"label": "com.docker.swarm.service.name=web"}):
            state = client.inspect_container(listed["Id"])
            task = listed["Labels"]["com.docker.swarm.task.id"]
            found[task] = (listed["Id"], state["State"]["StartedAt"], state["RestartCount"])
    return found


def presented(swarm: ShoalSwarm, server: str) -> x509.Certificate:
    """The certificate ``server``'s swarm port presents now, read from another host
    (a joining node's handshake: no client certificate needed)."""
    done = swarm.host("h3").run(
        ["openssl", "s_client", "-connect", swarm.address(server), "-servername", "swarm-ca"],
        input="",
    )
    assert "-----BEGIN CERTIFICATE-----" in done.stdout, done.stdout + done.stderr
    return x509.load_pem_x509_certificate(done.stdout.encode())


def test_the_stock_cli_rotates_the_root_ca_while_the_service_keeps_running(
    swarm: ShoalSwarm,
) -> None:
    swarm.form(managers=["h1", "h2"], workers=["h3"])
    docker(
        swarm, "service", "create", "--detach", "--name", "web", "--replicas", "3",
        "--stop-grace-period", "1s", IMAGE, *WEB,
    )  # fmt: skip
    swarm.wait(lambda: len(running_tasks(swarm, "web")) == 3, "3 web tasks")
    before = containers(swarm)
    old_root = docker(swarm, "swarm", "ca")
    assert old_root.startswith("-----BEGIN CERTIFICATE-----")
    old_token = docker(swarm, "swarm", "join-token", "-q", "worker")

    rotated = swarm.docker("h1", "swarm", "ca", "--rotate")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr + swarm.logs()
    new_root = rotated.stdout.strip()[rotated.stdout.strip().index("-----BEGIN") :]
    assert new_root != old_root
    assert docker(swarm, "swarm", "ca") == new_root
    assert docker(swarm, "swarm", "ca", "-q") == new_root

    client = swarm.control("h1")
    try:
        cluster = client.call("SwarmInspect", {}).value
    finally:
        client.close()
    assert isinstance(cluster, Cluster) and not cluster.root_rotation_in_progress
    issuer = cluster.tls_info.to_json()
    nodes = json.loads(docker(swarm, "node", "inspect", *docker(swarm, "node", "ls", "-q").split()))
    assert len(nodes) == 3
    for node in nodes:
        tls = node["Description"]["TLSInfo"]
        assert tls["TrustRoot"].strip() == new_root, node["Description"]["Hostname"]
        assert tls["CertIssuerPublicKey"] == issuer["CertIssuerPublicKey"]
        assert tls["CertIssuerSubject"] == issuer["CertIssuerSubject"]
    token = docker(swarm, "swarm", "join-token", "-q", "worker")
    assert token != old_token
    assert parse_join_token(token).root_digest == RootCA((new_root + "\n").encode()).digest

    # each manager's transport presents its new certificate, without a restart
    for manager in ("h1", "h2"):
        assert issued_by(presented(swarm, manager), RootCA((new_root + "\n").encode()).certificate)

    # the same containers run, never restarted, and the swarm still works over TLS
    assert containers(swarm) == before
    assert ready_nodes(swarm.must("h1", "node", "ls")) == 3
    docker(swarm, "service", "scale", "--detach", "web=4")
    swarm.wait(lambda: len(running_tasks(swarm, "web")) == 4, "a 4th web task after rotation")
