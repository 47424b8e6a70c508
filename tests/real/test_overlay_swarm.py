"""Overlay networking on three real test hosts (issue 18's real acceptance): a client
container on host 1 reaches ``web``, whose tasks run on hosts 2 and 3, by its VIP and
by ``tasks.web``, over VXLAN; the VIP spreads requests round robin; the published
port answers on every host; a killed task leaves the backends; removing the service
and the network removes every namespace, device and nft table they made.

Driven with the stock docker CLI against shoal's Engine API, as a user would."""

from __future__ import annotations

import subprocess
from collections import Counter

import pytest

from real.agent import labels
from real.agent.images import IMAGE
from real.agent.sandbox import SANDBOX_TASK
from real.scenario.traffic import http_get, resolve, sandbox_netns
from real.testhosts.hosts import TestHost
from real.testhosts.swarm import ShoalSwarm
from tests.real.swarm_support import WEB, api, docker, running_tasks

pytestmark = pytest.mark.slow


def namespaces_of(host: TestHost) -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return sorted(
        line.split()[0] for line in done.stdout.splitlines() if line.startswith(f"{host.netns}-")
    )


def host_nft_tables(host: TestHost) -> str:
    return host.run(["nft", "list", "tables"]).stdout


def test_a_client_reaches_web_over_vxlan_and_the_mesh_answers_everywhere(
    swarm: ShoalSwarm,
) -> None:
    swarm.form(managers=["h1"], workers=["h2", "h3"])
    network_id = docker(swarm, "network", "create", "-d", "overlay", "mynet")
    docker(
        swarm, "service", "create", "--detach", "--name", "web", "--replicas", "3",
        "--network", "mynet", "--publish", "8080:80", "--constraint", "node.role==worker",
        "--stop-grace-period", "1s", IMAGE, *WEB,
    )  # fmt: skip
    docker(
        swarm, "service", "create", "--detach", "--name", "client", "--network", "mynet",
        "--constraint", "node.role==manager", "--stop-grace-period", "1s", IMAGE,
        "sleep", "100000",
    )  # fmt: skip
    tasks = lambda: swarm.docker("h1", "service", "ps", "--no-trunc", "web", "client").stdout  # noqa: E731
    swarm.wait(lambda: len(running_tasks(swarm, "web")) == 3, lambda: f"3 web tasks:\n{tasks()}")
    swarm.wait(lambda: len(running_tasks(swarm, "client")) == 1, lambda: f"the client:\n{tasks()}")
    web = running_tasks(swarm, "web")
    assert set(web.values()) == {"h2", "h3"}
    ((client, client_host),) = running_tasks(swarm, "client").items()
    assert client_host == "h1"
    h1 = swarm.host("h1")
    netns = sandbox_netns(api(h1), client)
    assert netns is not None

    # The embedded DNS: web is its VIP, tasks.web its three tasks.
    swarm.wait(lambda: len(resolve(netns, "tasks.web") or ()) == 3, "tasks.web to resolve")
    vip = resolve(netns, "web")
    assert vip is not None and len(vip) == 1
    assert vip[0] not in (resolve(netns, "tasks.web") or ())

    # 90 requests to the VIP from host 1, round robin over the tasks on hosts 2 and 3,
    # once host 1's balancer has all three (its DNS may hear of them a moment before).
    expected = {task[:12] for task in web}
    swarm.wait(lambda: set(http_get(netns, vip[0], 80, 6)) == expected, "the VIP to balance")
    answers = Counter(http_get(netns, vip[0], 80, 90))
    assert "" not in answers, answers
    assert set(answers) == expected
    assert min(answers.values()) >= 20, answers

    # A worker's daemon killed and started again adopts its running tasks and plumbs
    # their sandboxes again (its new life trusts nothing of the last one's devices,
    # DNS servers or host ports): they answer through the VIP as before.
    on_h2 = {task for task, host in web.items() if host == "h2"}
    swarm.kill("h2")
    swarm.start_daemon("h2")
    swarm.wait(
        lambda: set(http_get(netns, vip[0], 80, 6)) == expected, "the VIP after h2's restart"
    )
    assert on_h2 <= set(running_tasks(swarm, "web")), "h2's tasks were replaced, not adopted"
    h2_task = sorted(on_h2)[0]
    h2_netns = sandbox_netns(api(swarm.host("h2")), h2_task)
    assert h2_netns is not None
    swarm.wait(lambda: len(resolve(h2_netns, "tasks.web") or ()) == 3, "h2's DNS to answer again")

    # The routing mesh: port 8080 of every host, h1 (no web task) included.
    for host in swarm.hosts:
        got = Counter(http_get(host.netns_path, host.address, 8080, 9))
        assert "" not in got and set(got) == {task[:12] for task in web}, (host.name, got)

    # A killed task leaves the backends; its replacement joins them.
    victim, victim_host = sorted(web.items())[0]
    victim_api = api(swarm.host(victim_host))
    (container,) = victim_api.containers(filters={"label": f"{labels.TASK_ID}={victim}"})
    victim_api.kill(container["Id"])

    def left() -> bool:
        got = http_get(netns, vip[0], 80, 6)
        return "" not in got and victim[:12] not in got

    swarm.wait(left, "the killed task to leave the backends")
    swarm.wait(lambda: len(running_tasks(swarm, "web")) == 3, "the replacement task")

    # Removing the services and the network removes everything they made.
    docker(swarm, "service", "rm", "web", "client")
    swarm.wait(
        lambda: not running_tasks(swarm, "web") and not running_tasks(swarm, "client"), "no task"
    )
    docker(swarm, "network", "rm", "mynet")

    def clean() -> bool:
        sandboxes = [
            c for host in swarm.hosts for c in api(host).containers(
                all=True, filters={"label": SANDBOX_TASK}
            )
        ]  # fmt: skip
        return not sandboxes and all(
            not namespaces_of(host)
            and "shoal-ingress" not in host_nft_tables(host)
            and "shoal_gwbridge" not in host.run(["ip", "link"]).stdout
            for host in swarm.hosts
        )

    swarm.wait(clean, f"every namespace, device and rule of {network_id} to go")
