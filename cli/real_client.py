"""``shoal [--host unix://PATH] swarm|node|service|network|secret|config|stack ...``:
Docker's commands sent to a real daemon's control socket (see real/control.py), in the
command language of ``shoal sim shell`` (cli/commands) and printed as it prints them (cli/output).

As the docker CLI does: ``service create``/``update`` without ``-d`` waits for the
service to converge and draws its progress; a refused command prints the daemon's
error (``Error response from daemon: ...``) on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import Any, TextIO, TypeVar

from cli.commands.common import Call, Change, Printed
from cli.commands.flags import UsageError
from cli.commands.language import parse
from cli.commands.run import Outcome, execute, failure
from cli.output.answers import KINDS, swarm_updated, unlock_banner
from cli.output.answers import render as answer_text
from cli.output.ca_progress import await_rotation
from cli.output.progress import (
    CONVERGE_SECONDS,
    VERIFY_SECONDS,
    converged,
    progress,
    waits,
    wanted,
)
from cli.output.views import Context
from core.manager.requests import ClientReply
from core.model.cluster import Cluster
from core.model.network import Network
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from real.control import DEFAULT_DATA_DIR, INFO, SOCKET_NAME, ControlClient

GROUPS = ("swarm", "node", "service", "network", "secret", "config", "stack")
DEFAULT_HOST = f"unix://{DEFAULT_DATA_DIR}/{SOCKET_NAME}"
LEADER_WAIT_SECONDS = 60.0  # how long ``swarm init`` waits for its node to lead
POLL_SECONDS = 0.5
EXIT_FAILED = 1
T = TypeVar("T")


def socket_path(host: str) -> str:
    if not host.startswith("unix://") or len(host) <= len("unix://"):
        raise UsageError(f"invalid --host {host!r}: shoal's daemon listens on unix:///PATH")
    return host[len("unix://") :]


class RealClient:
    def __init__(self, control: ControlClient, out: TextIO, err: TextIO) -> None:
        self.control, self.out, self.err = control, out, err
        self.info: dict[str, Any] = {}

    def run(self, words: list[str]) -> int:
        try:
            commands = parse(words, random.Random(os.urandom(16)))
        except UsageError as error:
            print(
                error.message if not error.hint else f"{error.message}\n{error.hint}", file=self.err
            )
            return EXIT_FAILED
        info = self.send(INFO, {})
        self.info = dict(info.value) if info.ok and info.value else {}
        status = 0
        for command in commands:
            if isinstance(command, Call) and command.view.get("wait"):
                self.await_rotation(bool(command.view.get("quiet")))
            outcome = execute(command, self.send, self.info.get("hostname", ""), time.time())
            if not self.show(outcome):
                status = EXIT_FAILED
                continue
            if waits(command):
                self.converge(str(outcome.value))
            if isinstance(outcome.value, Printed):
                for service_id in outcome.value.wait:
                    self.converge(service_id)
        return status

    def send(self, method: str, params: dict[str, Any]) -> ClientReply:
        return self.control.call(method, params)

    def say(self, text: str) -> None:
        if text:
            print(text, file=self.out)

    # -- printing -------------------------------------------------------------------------

    def show(self, outcome: Outcome) -> bool:
        command = outcome.command
        if isinstance(outcome.value, Printed):  # a script's lines, each on its stream
            for where, text in outcome.value.lines:
                print(text, file=self.out if where == "out" else self.err)
            return outcome.ok
        if not outcome.ok:
            shown, said = failure(outcome)
            self.say(shown)
            print(said, file=self.err)
            return False
        if isinstance(command, Change):
            self.say("" if command.quiet else command.said or command.service)
            return True
        assert isinstance(command, Call)
        self.say(self._render(command, outcome.value))
        return True

    def _render(self, call: Call, value: Any) -> str:
        view, show = call.view, call.show
        if show in ("created", "id", "value"):
            return str(value)
        if show == "name":
            return str(call.params.get("service") or call.params.get("node"))
        if show == "swarm init":
            initialized = self._initialized(str(value))
            if view.get("autolock"):
                key = self.send("SwarmUnlockKey", {})
                initialized += "\n" + unlock_banner(str(key.value) if key.ok else "")
            return initialized
        if show == "swarm join":
            joined = self.send(INFO, {})
            manager = bool(joined.ok and joined.value and joined.value["manager"])
            return f"This node joined a swarm as a {'manager' if manager else 'worker'}."
        if show == "join-token":
            token = getattr(value.join_tokens, view["role"])
            if view.get("quiet"):
                return str(token)
            rotated = view.get("rotated")
            done = f"Successfully rotated {view['role']} join token.\n\n" if rotated else ""
            return done + self._join_advice(view["role"], str(token))
        if show == "swarm updated":
            return swarm_updated(value)
        if show == "promoted":
            return f"Node {call.params['node']} promoted to a manager in the swarm."
        if show == "demoted":
            return f"Manager {call.params['node']} demoted in the swarm."
        text = answer_text(show, view, call.params, value, self._context(show))
        if text is not None:
            return text
        return "" if value is None else str(value)

    def _initialized(self, node_id: str) -> str:
        """Docker's init returns once the node leads; the CLI then reads the tokens."""
        deadline = time.monotonic() + LEADER_WAIT_SECONDS
        swarm = self.send("SwarmInspect", {})
        while not (swarm.ok and swarm.value is not None) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            swarm = self.send("SwarmInspect", {})
        if not swarm.ok or swarm.value is None:
            return f"Error response from daemon: {swarm.error or 'no leader'}"
        tokens = swarm.value.join_tokens
        return (
            f"Swarm initialized: current node ({node_id}) is now a manager.\n\n"
            + self._join_advice("worker", tokens.worker)
            + "\nTo add a manager to this swarm, run 'docker swarm join-token manager' "
            "and follow the instructions."
        )

    def _join_advice(self, role: str, token: str) -> str:
        address = self.info.get("host", "")
        return (
            f"To add a {role} to this swarm, run the following command:\n\n"
            f"    docker swarm join --token {token} {address}\n"
        )

    def _context(self, show: str) -> Context:
        """What a listing needs beside its rows: every node, service and task (a
        service shown ``--pretty``: the networks, for their names)."""
        if show == "service inspect --pretty":
            networks = self._listed("NetworkList", Network)
            return Context(
                now=time.time(),
                self_node_id=self.info.get("node_id", ""),
                networks={n.id: n for n in networks},
            )
        if show not in KINDS:
            return Context(now=time.time(), self_node_id=self.info.get("node_id", ""))
        nodes = self._listed("NodeList", Node)
        services = self._listed("ServiceList", Service)
        return Context(
            now=time.time(),
            self_node_id=self.info.get("node_id", ""),
            nodes={n.id: n for n in nodes},
            services={s.id: s for s in services},
            tasks=self._listed("TaskList", Task),
        )

    def _listed(self, method: str, kind: type[T]) -> list[T]:
        reply = self.send(method, {})
        if not reply.ok:
            return []
        return [v for v in reply.value or () if isinstance(v, kind)]

    # -- waiting ----------------------------------------------------------------------------

    def converge(self, service_id: str) -> None:
        """Docker's wait after ``create``/``update`` without ``-d``: until the service's
        tasks all run (and an update is done), stable for 5 s, or 2 minutes pass."""
        deadline = time.monotonic() + CONVERGE_SECONDS
        stable_since: float | None = None
        service, tasks = self._service(service_id)
        while time.monotonic() < deadline:
            if converged(service, tasks):
                now = time.monotonic()
                stable_since = now if stable_since is None else stable_since
                if now - stable_since >= VERIFY_SECONDS:
                    break
            else:
                stable_since = None
            time.sleep(POLL_SECONDS)
            service, tasks = self._service(service_id)
        self.say(progress(service, tasks, stable_since is not None))

    def await_rotation(self, quiet: bool) -> None:
        """``swarm ca --rotate`` without ``-d``: the wait, then the last progress
        (unless ``-q``)."""
        shown = await_rotation(self._swarm, time.sleep, time.monotonic)
        if not quiet:
            self.say(shown)

    def _swarm(self) -> tuple[Cluster, list[Node]] | None:
        swarm = self.send("SwarmInspect", {})
        if not swarm.ok or not isinstance(swarm.value, Cluster):
            return None
        return swarm.value, self._listed("NodeList", Node)

    def _service(self, service_id: str) -> tuple[Service | None, list[Task]]:
        read = self.send("ServiceInspect", {"service": service_id})
        service = read.value if read.ok and isinstance(read.value, Service) else None
        return service, wanted(service_id, self._listed("TaskList", Task))


def add_parsers(parser: argparse.ArgumentParser, commands: Any) -> None:
    """``--host`` and the Docker command groups, each taking the rest of the line."""
    parser.add_argument(
        "-H",
        "--host",
        default=os.environ.get("SHOAL_HOST", DEFAULT_HOST),
        help=f"the daemon's control socket (default {DEFAULT_HOST}, or $SHOAL_HOST)",
    )
    for group in GROUPS:
        sub = commands.add_parser(group, help=f"Docker's {group} commands, sent to the daemon")
        sub.add_argument("words", nargs=argparse.REMAINDER, help=f"as for docker {group}")


def run(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    control = ControlClient(socket_path(args.host))
    try:
        return RealClient(control, out or sys.stdout, err or sys.stderr).run(
            [args.command, *args.words]
        )
    finally:
        control.close()
