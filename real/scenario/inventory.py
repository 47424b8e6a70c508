"""``--hosts inventory.yml``: daemons already running (on VMs), one per scenario host,
reached through their control sockets, with the shell commands that fault them::

    hosts:
      manager-1:
        socket: unix:///run/shoal/m1.sock      # e.g. forwarded with ssh -L
        crash: ssh m1 systemctl kill -s KILL shoal docker
        boot: ssh m1 systemctl start docker shoal
        isolate: ssh m1 nft -f /etc/shoal/isolate.nft
        heal: ssh m1 nft delete table inet shoal-fault
        pause: ssh m1 systemctl kill -s STOP shoal
        resume: ssh m1 systemctl kill -s CONT shoal
        kill: ssh m1 docker kill '$(docker ps -qf label=com.docker.swarm.task.id='$SHOAL_TASK_ID')'
        cut: ssh m1 /etc/shoal/cut.sh $SHOAL_PEER          # m1 may not send to that host
        loss: ssh m1 /etc/shoal/loss.sh $SHOAL_AMOUNT      # 20 (percent); 0 ends it
        duplicate: ssh m1 /etc/shoal/dup.sh $SHOAL_AMOUNT  # 10 (percent); 0 ends it
        delay: ssh m1 /etc/shoal/delay.sh $SHOAL_AMOUNT    # 0.05 (seconds); 0 ends it
        skew: ssh m1 /etc/shoal/skew.sh $SHOAL_AMOUNT      # 40 (seconds, a step); 0: back
        stall-disk: ssh m1 /etc/shoal/stall.sh $SHOAL_AMOUNT  # 1 stalls, 0 ends it
      worker-1: {socket: unix:///run/shoal/w1.sock}

Each command runs with ``sh -c``, with ``SHOAL_HOST`` set to the scenario's host name
(and ``SHOAL_TASK_ID`` for ``kill``, ``SHOAL_PEER`` (a scenario host name) for ``cut``,
``SHOAL_AMOUNT`` for the faults with an amount, run again with 0 when the fault ends);
one that exits non-zero fails its step. ``isolate`` and ``cut`` add to what the host
has; ``heal`` must take every isolation and cut away (loss, duplication and the rest
end through their own command). A ``partition`` is carried out with ``heal`` and
``cut`` on every host. A fault the scenario names that the inventory has no command
for is refused when the files are read. Every scenario host must be listed, and its
daemon must already be in the swarm with the scenario's role, its node's hostname the
scenario's name (the steps and checks name nodes by it).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cli.scenario.schema import Scenario, ScenarioError, _Reader
from real.control import INFO, ControlClient, ControlError
from real.scenario.carrier import AMOUNT_FAULTS, HOST_FAULTS, FaultFailed
from real.scenario.shape import WHOLE, HostShape

#: Seconds a fault's command may take.
COMMAND_SECONDS = 60.0
FIELDS = ("socket", *HOST_FAULTS, "restart", "cut", *AMOUNT_FAULTS)
#: The commands a fault needs on each host it may strike (itself, unless listed).
NEEDS = {"partition": ("cut", "heal")}


@dataclass(frozen=True)
class InventoryHost:
    name: str
    socket: str  # the path
    commands: dict[str, str] = field(default_factory=dict)


def load(path: str, scenario: Scenario) -> dict[str, InventoryHost]:
    """The inventory read and checked against ``scenario``'s hosts."""
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(path, None, "", f"cannot be read: {error}") from None
    reader = _Reader(path)
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise ScenarioError(path, None, "", f"not YAML: {error}") from None
    if root is None:
        raise ScenarioError(path, None, "", "the file is empty")
    top = reader.mapping(root, "", ("hosts",))
    if "hosts" not in top:
        raise reader.fail(root, "hosts", "needed: the scenario's hosts and their sockets")
    out = {}
    for name, node in reader.mapping(top["hosts"], "hosts", ()).items():
        where = f"hosts.{name}"
        fields = reader.mapping(node, where, FIELDS)
        if "socket" not in fields:
            raise reader.fail(node, where, "needs 'socket' (unix:///PATH of its daemon)")
        socket = reader.text(fields["socket"], f"{where}.socket")
        if not socket.startswith("unix:///"):
            raise reader.fail(
                fields["socket"], f"{where}.socket", f"{socket!r} is not unix:///PATH"
            )
        commands = {
            key: reader.text(value, f"{where}.{key}")
            for key, value in fields.items()
            if key != "socket"
        }
        out[name] = InventoryHost(name, socket.removeprefix("unix://"), commands)
    missing = [name for name, _ in scenario.hosts if name not in out]
    if missing:
        raise reader.fail(top["hosts"], "hosts", f"no entry for {', '.join(missing)}")
    sent = [e for e in scenario.expectations if is_traffic(e.check)]
    if sent:
        raise ScenarioError(
            scenario.path,
            sent[0].line,
            "expect",
            f"{sent[0].check!r} sends traffic, which needs shoal's own test hosts: an "
            "inventory's hosts are reached only through their sockets and fault commands",
        )
    return out


def is_traffic(check: str) -> bool:
    """A condition that sends requests or asks a resolver (cli/scenario/conditions.py)."""
    return check.startswith("request ") or " resolves " in check


class Inventory:
    """The carrier of an inventory's daemons (checked to be the scenario's swarm)."""

    def __init__(self, scenario: Scenario, hosts: dict[str, InventoryHost], path: str) -> None:
        self.hosts: tuple[tuple[str, bool], ...] = scenario.hosts
        self.entries, self.path = hosts, path

    def check_swarm(self) -> None:
        """Each daemon answers, in the swarm, with the scenario's role and name."""
        for name, manager in self.hosts:
            info = self._info(name)
            role = "manager" if manager else "worker"
            if not info.get("node_id"):
                raise ScenarioError(self.path, None, f"hosts.{name}", "its daemon is in no swarm")
            if bool(info.get("manager")) != manager:
                raise ScenarioError(
                    self.path, None, f"hosts.{name}", f"the scenario wants a {role} there"
                )
            if info.get("hostname") != name:
                raise ScenarioError(
                    self.path,
                    None,
                    f"hosts.{name}",
                    f"its node is called {info.get('hostname')!r}: name each host after "
                    "its node's hostname (node ls), as the steps and checks name nodes",
                )

    def _info(self, name: str) -> dict[str, object]:
        entry = self.entries[name]
        try:
            client = ControlClient(entry.socket, 10.0)
        except ControlError as error:
            raise ScenarioError(self.path, None, f"hosts.{name}.socket", str(error)) from None
        try:
            reply = client.call(INFO, {})
        except ControlError as error:
            raise ScenarioError(self.path, None, f"hosts.{name}.socket", str(error)) from None
        finally:
            client.close()
        return dict(reply.value) if reply.ok and isinstance(reply.value, dict) else {}

    # -- the carrier -----------------------------------------------------------------------

    def refusal(self, verb: str, host: str) -> str:
        if host == "leader":
            names = [n for n, m in self.hosts if m]
        elif host == "a worker":
            names = [n for n, m in self.hosts if not m]
        else:
            names = [host] if host else [n for n, _ in self.hosts]
        if verb == "partition":  # it can cut any host off from any other
            names = [n for n, _ in self.hosts]
        for needed in NEEDS.get(verb, (verb,)):
            lacking = [n for n in names if not self._can(needed, n)]
            if lacking:
                return f"the inventory gives no {needed!r} command for {', '.join(lacking)}"
        return ""

    def _can(self, verb: str, host: str) -> bool:
        commands = self.entries[host].commands
        if verb == "restart":
            return "restart" in commands or ("crash" in commands and "boot" in commands)
        return verb in commands

    def socket(self, host: str) -> str:
        return self.entries[host].socket

    def strike(self, verb: str, host: str, task_id: str = "") -> None:
        commands = self.entries[host].commands
        if verb == "restart" and "restart" not in commands:
            self.strike("crash", host)
            self.strike("boot", host)
            return
        self._run(verb, host, {"SHOAL_TASK_ID": task_id})

    def shape(self, host: str, held: HostShape, wanted: HostShape) -> None:
        if held != WHOLE:
            self._run("heal", host)
        if wanted.isolated:
            self._run("isolate", host)
        for peer in wanted.unreachable:
            self._run("cut", host, {"SHOAL_PEER": peer})

    def fault(self, verb: str, host: str, amount: float) -> None:
        shown = amount * 100 if verb in ("loss", "duplicate") else amount
        self._run(verb, host, {"SHOAL_AMOUNT": f"{shown:g}"})

    def _run(self, verb: str, host: str, extra: dict[str, str] | None = None) -> None:
        """The inventory's ``verb`` command for ``host``; a failure raises FaultFailed."""
        commands = self.entries[host].commands
        env = {**os.environ, "SHOAL_HOST": host, "SHOAL_TASK_ID": "", **(extra or {})}
        try:
            done = subprocess.run(
                ["sh", "-c", commands[verb]],
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise FaultFailed(f"{verb} on {host}: no end after {COMMAND_SECONDS:g}s") from None
        except KeyError:
            raise FaultFailed(f"the inventory gives no {verb!r} command for {host}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise FaultFailed(
                f"{verb} on {host} exited {done.returncode}" + (f": {said[-1]}" if said else "")
            )

    def containers_on(self, host: str) -> int | None:
        return None  # not seen from here: the leader's view of the node stands in

    # An inventory's scenario has no traffic expectation (load refuses one).
    def request(self, host: str, task_id: str, target: str, port: int, count: int) -> list[str]:
        return [""] * count

    def resolve(self, host: str, task_id: str, name: str) -> tuple[str, ...] | None:
        return None
