"""``docker network ...`` and services' networks at the shell and at ``shoal``
against a real daemon: Docker's words for a network not found, ``--pretty`` naming
a service's networks, the commands listed and dispatched."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from typing import Any

import pytest

from cli.main import main
from cli.real_client import RealClient
from cli.sim_shell import run
from core.manager.requests import ClientReply
from real.control import INFO, decode_reply, encode_reply
from sim.cluster import ClusterWorld
from tests.cluster.support import swarm


def session(*lines: str) -> list[str]:
    out = io.StringIO()
    args = argparse.Namespace(managers=1, workers=1, seed=3, echo=False)
    assert run(args, lines=list(lines), out=out) == 0
    return out.getvalue().splitlines()


def test_the_shell_says_a_network_not_found_as_the_docker_client_does() -> None:
    lines = session("network inspect nope", "network rm nope", "service inspect nope")
    assert lines[1:] == [
        "[]",
        "Error: No such network: nope",
        "Error: No such network: nope",
        "[]",
        "Error: no such service: nope",
    ]
    lines = session("service create -d --network nope nginx", "service update --network-rm x y")
    assert lines[1] == "Error: No such network: nope"
    assert lines[2] == "Error response from daemon: service y not found"


def test_the_shell_names_a_services_networks_and_lists_the_network_commands() -> None:
    lines = session(
        "network create appnet",
        "service create -d --name web --network appnet nginx",
        "service inspect --pretty web",
        "help",
    )
    assert "Networks: appnet " in lines
    helped = [line.split("  ")[0] for line in lines if line.startswith("network ")]
    assert helped == ["network create", "network inspect", "network ls", "network rm"]


class Control:
    """A daemon's control socket, standing in: the simulated leader answers, every
    reply going through the socket's encoding."""

    def __init__(self, world: ClusterWorld) -> None:
        self.world = world

    def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        if method == INFO:
            return ClientReply("1", True, {"hostname": "manager-1"})
        reply = self.world.call("manager-1", method, **params)
        return decode_reply(encode_reply(reply))


def client_run(world: ClusterWorld, line: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = RealClient(Control(world), out, err).run(line.split())  # type: ignore[arg-type]
    return status, out.getvalue(), err.getvalue()


def test_shoal_against_a_daemon_shows_networks_by_name_and_docker_clients_errors() -> None:
    world = swarm(8, managers=1, workers=1)
    status, created, _ = client_run(world, "network create appnet")
    assert status == 0
    assert client_run(world, "service create -d --name web --network appnet nginx")[0] == 0
    status, shown, _ = client_run(world, "service inspect --pretty web")
    assert status == 0 and "Networks: appnet \n" in shown
    status, listed, _ = client_run(world, "network ls -q --no-trunc")
    assert created.strip() in listed.split()
    assert client_run(world, "network inspect nope") == (
        1,
        "[]\n",
        "Error: No such network: nope\n",
    )
    assert client_run(world, "network rm nope") == (1, "", "Error: No such network: nope\n")


def test_shoal_sends_network_commands_to_a_daemon(capsys: pytest.CaptureFixture[str]) -> None:
    """``shoal --host unix://... network ls`` reaches the daemon's socket (none here)."""
    assert main(["--host", "unix:///nonexistent/shoal.sock", "network", "ls"]) == 1
    assert "Cannot connect to the Docker daemon at unix:///nonexistent/shoal.sock" in (
        capsys.readouterr().err
    )


def test_the_cli_and_the_network_json_load_no_http_server() -> None:
    """The conversion shoal's CLI shares with the Engine API layer is pure: the CLI
    starts without aiohttp."""
    code = (
        "import sys, cli.main, cli.commands.language, cli.output.answers, "
        "cli.sim_shell, cli.real_client, real.engine.network_json; "
        "print('aiohttp' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "False"
