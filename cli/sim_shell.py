"""``shoal sim shell``: a simulated swarm to type Docker commands at.

Simulated time stands still between lines; ``advance 30s`` moves it on. Besides
Docker's ``service``, ``node``, ``swarm`` and ``network`` commands (sent to the leader, or to a host
named first, ``@manager-2 node ls``), the shell knows:

    advance DURATION      run the swarm for that long (10s, 1m30s)
    crash HOST            the host goes down (its unsynced disk lost)
    boot HOST             a crashed host comes back
    isolate HOST [HOST]   cut hosts off from the rest of the swarm
    heal                  every link back
    time                  the simulated time
    help, quit

A Docker mistake prints Docker's message and the shell goes on. Ctrl-C at the
prompt drops the line typed and gives a new prompt, as a shell does; Ctrl-C while a
command runs ends the shell with status 130, as it ends a ``docker`` command (a
swarm stopped in the middle of a simulated step cannot be trusted to go on).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from cli.commands.common import Call, Change, Printed
from cli.commands.flags import UsageError
from cli.commands.language import parse
from cli.commands.run import Outcome, execute, failure
from cli.main import EXIT_INTERRUPTED
from cli.output.answers import render as answer_text
from cli.output.answers import swarm_updated, unlock_banner
from cli.output.ca_progress import await_rotation
from cli.output.progress import CONVERGE_SECONDS, VERIFY_SECONDS, converged, progress, waits, wanted
from cli.output.views import Context
from cli.words import split
from core.errors import ShoalError
from core.manager.requests import ClientReply
from core.model.cluster import Cluster
from core.model.duration import parse_duration
from core.model.enums import NodeRole
from core.model.network import Network
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from sim.cluster import ClusterConfig, ClusterWorld, HostState, standard_hosts
from sim.faults.topology import components

PROMPT = "shoal> "
LEADER_WAIT_SECONDS = 60.0  # how long ``swarm init`` waits for its node to lead
HELP = (  # (command, what it does): what ``help`` prints, in Docker's words for its own
    ("service create", "Create a new service"),
    ("service inspect", "Display detailed information on one or more services"),
    ("service logs", "Fetch the logs of a service or task"),
    ("service ls", "List services"),
    ("service ps", "List the tasks of one or more services"),
    ("service rm", "Remove one or more services"),
    ("service rollback", "Revert changes to a service's configuration"),
    ("service scale", "Scale one or multiple replicated services"),
    ("service update", "Update a service"),
    ("node demote", "Demote one or more nodes from manager in the swarm"),
    ("node inspect", "Display detailed information on one or more nodes"),
    ("node ls", "List nodes in the swarm"),
    ("node promote", "Promote one or more nodes to manager in the swarm"),
    ("node ps", "List tasks running on one or more nodes, defaults to current node"),
    ("node rm", "Remove one or more nodes from the swarm"),
    ("node update", "Update a node"),
    ("network create", "Create a network"),
    ("network inspect", "Display detailed information on one or more networks"),
    ("network ls", "List networks"),
    ("network rm", "Remove one or more networks"),
    ("stack deploy", "Deploy a new stack or update an existing stack"),
    ("stack ls", "List stacks"),
    ("stack ps", "List the tasks in the stack"),
    ("stack rm", "Remove one or more stacks"),
    ("stack services", "List the services in the stack"),
    ("swarm init", "Initialize a swarm"),
    ("swarm join", "Join a swarm as a node and/or manager"),
    ("swarm ca", "Display and rotate the root CA"),
    ("swarm join-token", "Manage join tokens"),
    ("swarm leave", "Leave the swarm"),
    ("swarm update", "Update the swarm"),
    ("@HOST COMMAND", "send a Docker command to HOST (default: the leader)"),
    ("advance DURATION", "run the swarm for that long (10s, 1m30s)"),
    ("crash HOST", "the host goes down (its unsynced disk lost)"),
    ("boot HOST", "a crashed host comes back"),
    ("isolate HOST [HOST...]", "cut hosts off from the rest of the swarm"),
    ("heal", "every link back"),
    ("time", "the simulated time"),
    ("help", "this list"),
    ("quit, exit", "leave the shell (Ctrl-D too)"),
)
MANAGERS_RECOMMENDED_MAX = 7


class Shell:
    def __init__(self, world: ClusterWorld, out: TextIO, rng: random.Random) -> None:
        self.world, self.out, self.rng = world, out, rng
        self._lines: Iterator[str] = iter(())

    # -- the loop -------------------------------------------------------------------------

    def run(self, lines: Iterable[str], echo: bool = False) -> int:
        self._lines = iter(lines)
        try:
            for line in self._lines:
                if echo:
                    self.say(PROMPT + line.rstrip("\n"))
                if not self.handle(line):
                    break
        except KeyboardInterrupt:  # Ctrl-C while a command ran (the prompt's is _prompted's)
            self.say("^C: interrupted; the shell ends")
            return EXIT_INTERRUPTED
        return 0

    def handle(self, line: str) -> bool:
        """Carry out one line; False once the user asked to quit."""
        text = line.strip()
        if not text or text.startswith("#"):
            return True
        try:
            words = split(text)
        except ValueError as error:  # an unclosed quote
            self.say(f"Error: cannot split the line: {error}")
            return True
        verb = words[0]
        try:
            if verb in ("quit", "exit"):
                return False
            if verb in ("help", "?"):
                width = max(len(command) for command, _ in HELP)
                self.say("\n".join(f"{c:<{width}}  {what}" for c, what in HELP))
            elif verb == "advance":
                self._advance(words[1:])
            elif verb == "time":
                self.say(f"t={self.world.env.now:.3f}s")
            elif verb in ("crash", "boot", "isolate", "heal"):
                self._fault(verb, words[1:])
            else:
                self._docker(words)
        except UsageError as error:
            self.say(
                f"Error: {error.message}" if not error.hint else f"{error.message}\n{error.hint}"
            )
        except ShoalError as error:
            self.say(f"Error: {error}")
        return True

    def say(self, text: str) -> None:
        if text:
            print(text, file=self.out)

    # -- time and faults --------------------------------------------------------------------

    def _advance(self, words: list[str]) -> None:
        if len(words) != 1:
            raise UsageError("advance takes one duration, e.g. advance 30s")
        seconds = parse_duration(words[0]) / 1e9
        if seconds <= 0:
            raise UsageError(f"advance needs a positive duration, not {words[0]}")
        self.world.run_for(seconds)
        self.say(f"t={self.world.env.now:.3f}s")

    def _fault(self, verb: str, hosts: list[str]) -> None:
        for name in hosts:
            if name not in self.world.hosts:
                raise UsageError(f"no host {name}: the hosts are {', '.join(self.world.names)}")
        if verb == "heal":
            self.world.network.heal()
        elif verb == "isolate":
            if not hosts:
                raise UsageError("isolate names at least one host")
            rest = [n for n in self.world.names if n not in hosts]
            self.world.network.set_graph(
                components(self.world.names, [[h] for h in hosts] + [rest])
            )
        else:
            if len(hosts) != 1:
                raise UsageError(f"{verb} names one host")
            host = self.world.hosts[hosts[0]]
            if verb == "crash":
                host.crash()
            elif host.state is HostState.CRASHED:
                host.boot()
        self.say(f"{verb} {' '.join(hosts)}".rstrip())

    # -- Docker's commands ------------------------------------------------------------------

    def _docker(self, words: list[str]) -> None:
        target = None
        if words[0].startswith("@"):
            target, words = words[0][1:], words[1:]
            if target not in self.world.hosts:
                raise UsageError(f"no host {target}")
        host = target or self._leader_name()
        for command in parse(words, self.rng, self._read):
            if isinstance(command, Call) and command.view.get("wait"):
                self.await_rotation(host, bool(command.view.get("quiet")))
            now = self.world.hosts[host].clock.wall(self.world.env.now)
            outcome = execute(command, lambda m, p: self._send(host, m, p), host, now)
            self.show(outcome, host)
            if outcome.ok and waits(command):
                self.converge(str(outcome.value))
            if isinstance(outcome.value, Printed):
                for service_id in outcome.value.wait:
                    self.converge(service_id)

    def _read(self, path: str) -> str:
        """A file a command reads; its standard input (``-``, ``swarm unlock``'s key)
        is the shell's next line, as a prompt would read it."""
        if path == "-":
            return next(self._lines, "")
        return Path(path).read_text(encoding="utf-8")

    def converge(self, service_id: str) -> None:
        """Docker's wait after ``create``/``update`` without ``-d``: simulated time
        runs until the service's tasks all run (and an update is done), stable for
        5 s, or 2 minutes pass; then the progress as Docker draws it."""
        world, deadline = self.world, self.world.env.now + CONVERGE_SECONDS
        stable_since: float | None = None
        while world.env.now < deadline:
            if converged(*_wanted(world, service_id)):
                stable_since = world.env.now if stable_since is None else stable_since
                if world.env.now - stable_since >= VERIFY_SECONDS:
                    break
            else:
                stable_since = None
            world.run_for(0.5)
        self.say(progress(*_wanted(world, service_id), stable_since is not None))

    def await_rotation(self, host: str, quiet: bool) -> None:
        """``swarm ca --rotate`` without ``-d``: simulated time runs until every node
        has a certificate from the new root and trusts it alone (or the real client's
        bound passes), then the last progress, unless ``-q``."""
        world = self.world

        def read() -> tuple[Cluster, list[Node]] | None:
            swarm = self._send(host, "SwarmInspect", {})
            nodes = self._send(host, "NodeList", {})
            if not swarm.ok or not isinstance(swarm.value, Cluster) or not nodes.ok:
                return None
            return swarm.value, [n for n in nodes.value or () if isinstance(n, Node)]

        shown = await_rotation(read, world.run_for, lambda: world.env.now)
        if not quiet:
            self.say(shown)

    def _leader_name(self) -> str:
        leader = self.world.leader()
        if leader is not None:
            return leader.name
        up = [h.name for h in self.world.up_hosts() if h.spec.manager]
        if not up:
            raise UsageError("no manager is up: boot one first")
        return up[0]

    def _send(self, host: str, method: str, params: dict[str, Any]) -> ClientReply:
        return self.world.call(host, method, **params)

    def show(self, outcome: Outcome, host: str) -> None:
        command = outcome.command
        if isinstance(outcome.value, Printed):  # a script's lines, in the order said
            for _, text in outcome.value.lines:
                self.say(text)
            return
        if not outcome.ok:
            for text in failure(outcome):
                self.say(text)
            return
        if isinstance(command, Change):
            self.say("" if command.quiet else command.said or command.service)
            return
        assert isinstance(command, Call)
        self.say(self._render(command, outcome.value, host))

    def _render(self, call: Call, value: Any, host: str) -> str:
        view, show = call.view, call.show
        if show in ("created", "id"):
            return str(value)
        if show == "name":
            return str(call.params.get("service") or call.params.get("node"))
        if show == "swarm init":
            # Docker's init returns once the node leads; the CLI then reads the tokens
            self.world.run_until(lambda: self.world.leader() is not None, LEADER_WAIT_SECONDS)
            swarm = self._send(host, "SwarmInspect", {})
            if not swarm.ok or swarm.value is None:
                return f"Error response from daemon: {swarm.error or 'no leader'}"
            tokens = swarm.value.join_tokens
            initialized = (
                f"Swarm initialized: current node ({value}) is now a manager.\n\n"
                + _join_advice("worker", tokens.worker, host)
                + "\nTo add a manager to this swarm, run 'docker swarm join-token manager' "
                "and follow the instructions."
            )
            if view.get("autolock"):
                key = self._send(host, "SwarmUnlockKey", {})
                initialized += "\n" + unlock_banner(str(key.value) if key.ok else "")
            return initialized
        if show == "swarm join":
            identity = self.world.hosts[host].identity
            role = "manager" if identity is not None and identity.manager else "worker"
            return f"This node joined a swarm as a {role}." + self._too_many_managers()
        if show == "join-token":
            token = getattr(value.join_tokens, view["role"])
            if view.get("quiet"):
                return str(token)
            rotated = (
                f"Successfully rotated {view['role']} join token.\n\n"
                if view.get("rotated")
                else ""
            )
            return rotated + _join_advice(view["role"], token, host)
        if show == "swarm updated":
            return swarm_updated(value)
        if show == "value":
            return str(value)
        if show == "promoted":
            promoted = f"Node {call.params['node']} promoted to a manager in the swarm."
            return promoted + self._too_many_managers()
        if show == "demoted":
            return f"Manager {call.params['node']} demoted in the swarm."
        text = answer_text(show, view, call.params, value, self._context(host))
        if text is not None:
            return text
        return "" if value is None else str(value)

    def _too_many_managers(self) -> str:
        """shoal's warning past 7 managers (3, 5 or 7 are what Docker recommends)."""
        store = self.world.leader_store()
        if store is None:
            return ""
        nodes = [n for n in store.tables["nodes"].values() if isinstance(n, Node)]
        managers = sum(1 for n in nodes if n.spec.role is NodeRole.MANAGER)
        if managers <= MANAGERS_RECOMMENDED_MAX:
            return ""
        return (
            f"\nWARNING: this swarm has {managers} managers. More than "
            f"{MANAGERS_RECOMMENDED_MAX} add Raft traffic without a fault tolerance worth it: "
            "3, 5 or 7 managers are recommended."
        )

    def _context(self, host: str) -> Context:
        store = self.world.leader_store()
        nodes: dict[str, Node] = {}
        services: dict[str, Service] = {}
        tasks: list[Task] = []
        networks: dict[str, Network] = {}
        if store is not None:
            nodes = {k: v for k, v in store.tables["nodes"].items() if isinstance(v, Node)}
            services = {k: v for k, v in store.tables["services"].items() if isinstance(v, Service)}
            tasks = [t for t in store.tables["tasks"].values() if isinstance(t, Task)]
            networks = {k: v for k, v in store.tables["networks"].items() if isinstance(v, Network)}
        me = next((n.id for n in nodes.values() if n.description.hostname == host), "")
        clock = self.world.hosts[host].clock
        return Context(
            now=clock.wall(self.world.env.now),
            self_node_id=me,
            nodes=nodes,
            services=services,
            tasks=tasks,
            networks=networks,
        )


def _wanted(world: ClusterWorld, service_id: str) -> tuple[Service | None, list[Task]]:
    """The service and its tasks meant to run, as the leader's store has them."""
    store = world.leader_store()
    if store is None:
        return None, []
    service = store.tables["services"].get(service_id)
    tasks = wanted(service_id, (t for t in store.tables["tasks"].values() if isinstance(t, Task)))
    return (service if isinstance(service, Service) else None), tasks


def _join_advice(role: str, token: str, manager: str) -> str:
    return (
        f"To add a {role} to this swarm, run the following command:\n\n"
        f"    docker swarm join --token {token} {manager}:2377\n"
    )


def add_parser(sim: Any) -> None:
    shell = sim.add_parser(
        "shell",
        help="type Docker commands at a simulated swarm, advancing time by hand",
        description=__doc__,
    )
    shell.add_argument("--managers", type=int, default=3, help="managers (default 3)")
    shell.add_argument("--workers", type=int, default=5, help="workers (default 5)")
    shell.add_argument("--seed", type=int, default=1, help="the run's seed (default 1)")
    shell.add_argument("--echo", action="store_true", help="print each line read (for scripts)")


def run(args: Any, lines: Iterable[str] | None = None, out: TextIO | None = None) -> int:
    if args.managers < 1 or args.workers < 0:
        raise UsageError("a swarm needs at least 1 manager and no fewer than 0 workers")
    out = out or sys.stdout
    world = ClusterWorld(
        ClusterConfig(hosts=standard_hosts(args.managers, args.workers)), args.seed
    )
    world.form_swarm()
    shell = Shell(world, out, world.streams.child("shell"))
    shell.say(
        f"a swarm of {args.managers} managers and {args.workers} workers, "
        f"t={world.env.now:.3f}s; 'help' lists the commands"
    )
    interactive = lines is None and sys.stdin.isatty()
    source = lines if lines is not None else _prompted(out) if interactive else sys.stdin
    return shell.run(source, echo=args.echo)


def _prompted(out: TextIO, read: Callable[[str], str] = input) -> Iterable[str]:
    """Lines typed at the prompt: Ctrl-C drops the line and prompts again, Ctrl-D ends."""
    while True:
        try:
            yield read(PROMPT)
        except KeyboardInterrupt:
            print("^C", file=out)
        except EOFError:
            print(file=out)
            return
