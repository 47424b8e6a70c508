"""Scenario files: YAML read into a checked :class:`Scenario`, each mistake named
by file, line and field (``web.yml:12: steps[2].at: "10x" is not a duration``).
The conditions are listed in :mod:`cli.scenario.conditions`, the quantities in
:mod:`cli.scenario.quantities`; scenarios/README.md describes every form.

    name: rolling update while the leader is cut off
    seed: 1                       # default; --seed overrides it
    cluster:
      managers: 3
      workers: 5
      names: {worker-4: db-1}                 # hosts called otherwise (default manager-N, worker-N)
      resources: {db-1: {cpus: 8, memory: 16G}}   # default 2 CPUs, 4 GiB
      spare: [worker-5]                       # off until a step joins it
      labels: {worker-1: {rack: a}}          # engine labels per host
      images:                                 # simulated behaviour per image
        app:bad: {exit_after: 1, exit_code: 1}
    network: {latency_min: 0.001, loss: 0.0}  # the links (sim.network.LinkModel)
    steps:                                    # times from when the swarm is formed
      - {at: 0s, run: service create --name web --replicas 6 app:1}
      - {at: 30s, run: service update --image app:2 web}
      - {at: 35s, fault: isolate leader, for: 20s}
      - {at: 40s, run: service scale web=7, on: manager-1, fails: true}
      - {at: 60s, fault: loss manager-2 20%, for: 10s}   # of what it sends and receives
      - {at: 60s, fault: duplicate worker-1 10%, for: 10s}  # of what it sends
      - {at: 60s, fault: delay worker-2 50ms, for: 10s}  # added to what it sends
      - {at: 70s, fault: stall-disk manager-3, for: 5s}  # no fsync completes meanwhile
      - {at: 90s, fault: join worker-5}
    expect:                       # judged at looks: every 0.5 s, at steps and instants named
      always:                                 # at every look (of its window)
        - raft safety
        - task invariants
        - no task on worker-3 after 30s
        - {check: services converged, from: 160s}     # a window: from, until or both
      by:
        - {at: 120s, check: service web running 6/6}
        - {at: 150s, check: update web completed}
      at:
        - {at: 60s, check: leader is not manager-1}
      never:                                  # at no look (of its window)
        - node db-1 down
        - {check: service web running < 4, from: 20s, until: 90s}
      measure:                                # QUANTITY OP VALUE, when its window closes
        - max downtime of service web < 10s
        - {check: leader changes <= 1, from: 30s, until: 100s}
    duration: 200s                # how long to run (default: the last step, deadline or
                                  # window bound + 10 s)
    mutations: [ignore_constraints]  # plant a known bug, to see the checkers catch it
                                     # (core/manager/mutations.py, core/raft/config.py)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ShoalError
from core.manager.mutations import ManagerMutations
from core.model.duration import parse_duration
from core.raft.config import Mutations
from sim.executor import ImageBehaviour, parse_signal
from sim.faults import scenario as scenario_faults
from sim.network import LinkModel


class ScenarioError(ShoalError):
    """A scenario file that cannot run: where, which field, what is wrong."""

    def __init__(self, path: str, line: int | None, where: str, problem: str) -> None:
        self.path, self.line, self.where, self.problem = path, line, where, problem
        place = f"{path}:{line}" if line is not None else path
        super().__init__(f"{place}: {where}: {problem}" if where else f"{place}: {problem}")


@dataclass(frozen=True)
class Step:
    at: float
    run: str = ""  # a command line
    fault: str = ""  # a fault: isolate/crash/boot/heal/partition ...
    duration: float | None = None  # how long the fault lasts (then it is undone)
    on: str = ""  # the host the command is sent to (default: the leader)
    fails: bool = False  # the command is expected to be refused (or to time out)
    line: int | None = None


@dataclass(frozen=True)
class Expectation:
    kind: str  # "always", "by", "at", "never" or "measure"
    check: str  # the condition's text (a measure's: QUANTITY OP VALUE)
    at: float | None = None  # the deadline ("by") or the instant ("at")
    line: int | None = None
    # the window of "always", "never" and "measure" (until None: to the run's end)
    start: float = 0.0
    until: float | None = None

    def covers(self, now: float) -> bool:
        """Whether the look at ``now`` falls in the window."""
        return self.start - 1e-9 <= now and (self.until is None or now <= self.until + 1e-9)


@dataclass(frozen=True)
class Scenario:
    path: str
    name: str
    seed: int
    managers: int
    workers: int
    hosts: tuple[tuple[str, bool], ...] = ()  # (name, manager?), the managers first
    resources: dict[str, tuple[int, int]] = field(default_factory=dict)  # cpus, memory bytes
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    spare: tuple[str, ...] = ()  # hosts left off when the swarm forms (a step joins them)
    images: dict[str, ImageBehaviour] = field(default_factory=dict)
    link: LinkModel = field(default_factory=LinkModel)
    steps: tuple[Step, ...] = ()
    expectations: tuple[Expectation, ...] = ()
    duration: float = 0.0
    mutations: tuple[str, ...] = ()  # planted bugs, by name (raft's or the manager's)
    #: Files the steps' commands read (``secret create db_pw pw.txt``), by name: the
    #: scenario carries them, so it runs the same wherever it is run from.
    files: dict[str, str] = field(default_factory=dict)


# -- reading, with positions ------------------------------------------------------------

NUMBER_MAX = 1e6
BYTES_MAX = 2**20
"""A scenario is a page of YAML: a bigger file (or /dev/zero) is refused unread."""
DEPTH_MAX = 32
"""A scenario nests five levels deep; PyYAML composes recursively, so a file nested
hundreds deep would exhaust Python's stack before the schema saw it."""
HOSTS_MAX = 2_500
"""What the simulator carries: Swarm2k's 2,000 workers converge in about 130 s of
CPU; ten thousand hosts run out of time or memory long before a verdict."""
SECONDS_MAX = 30 * 86400.0
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader where PyYAML was built with it: the same nodes and marks, read
about ten times faster (the testing kit parses a scenario on every step it takes)."""
FAULTS = ("crash", "boot", "restart", "isolate", "heal", "join", "force-new-cluster")
LASTING = ("crash", "isolate")  # the faults that may last 'for' a while


class _Reader:
    """Plain values from a YAML node tree, and where each came from."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, where: str, problem: str) -> ScenarioError:
        line = node.start_mark.line + 1 if node is not None else None
        return ScenarioError(self.path, line, where, problem)

    def mapping(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...]
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, where, "a key must be plain text")
            key = key_node.value
            if allowed and key not in allowed:
                raise self.fail(
                    key_node,
                    f"{where}.{key}".lstrip("."),
                    f"unknown field (expected one of {', '.join(allowed)})",
                )
            if key in out:
                raise self.fail(key_node, f"{where}.{key}".lstrip("."), "given twice")
            out[key] = value
        return out

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "expected a list")
        return list(node.value)

    def text(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise self.fail(node, where, "expected text")
        return str(node.value)

    def boolean(self, node: yaml.Node, where: str) -> bool:
        text = self.text(node, where).lower()
        if text not in ("true", "false", "yes", "no"):
            raise self.fail(node, where, f"{text!r} is not true or false")
        return text in ("true", "yes")

    def integer(self, node: yaml.Node, where: str, least: int = 0, most: int = 10_000) -> int:
        text = self.text(node, where)
        try:
            value = int(text)
        except ValueError:
            raise self.fail(node, where, f"{text!r} is not a whole number") from None
        if value < least:
            raise self.fail(node, where, f"must be at least {least}, not {value}")
        if value > most:
            raise self.fail(node, where, f"must be at most {most}, not {value}")
        return value

    def number(self, node: yaml.Node, where: str, most: float = NUMBER_MAX) -> float:
        """A finite number from 0 to ``most``."""
        text = self.text(node, where)
        try:
            value = float(text)
        except ValueError:
            raise self.fail(node, where, f"{text!r} is not a number") from None
        if not 0.0 <= value <= most:  # NaN fails this too
            raise self.fail(node, where, f"must be from 0 to {most:g}, not {text}")
        return value

    def seconds(self, node: yaml.Node, where: str, positive: bool = False) -> float:
        """A duration (``10s``, ``1m30s``, or plain seconds) from 0 to 30 days."""
        text = self.text(node, where)
        try:
            value = parse_duration(text) / 1e9
        except ShoalError:
            try:
                value = float(text)
            except ValueError:
                raise self.fail(node, where, f"{text!r} is not a duration (10s, 1m30s)") from None
        if not 0.0 <= value <= SECONDS_MAX or (positive and value == 0.0):
            bound = "more than 0" if positive else "from 0"
            raise self.fail(node, where, f"must be {bound} and at most 30 days, not {text}")
        return value


def load(path: str | Path) -> Scenario:
    """The file read (at most :data:`BYTES_MAX` bytes of UTF-8) and parsed."""
    text_path = str(path)
    try:
        with Path(path).open("rb") as file:
            data = file.read(BYTES_MAX + 1)
    except OSError as error:
        raise ScenarioError(text_path, None, "", f"cannot be read: {error.strerror}") from None
    if len(data) > BYTES_MAX:
        raise ScenarioError(
            text_path, None, "", f"is larger than {BYTES_MAX // 2**20} MiB: not a scenario"
        )
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ScenarioError(text_path, line, "", "not UTF-8 text (a binary file?)") from None
    return parse(source, text_path)


CLUSTER_FIELDS = ("managers", "workers", "names", "resources", "labels", "images", "spare")
TOP = (
    "name",
    "seed",
    "cluster",
    "network",
    "files",
    "steps",
    "expect",
    "duration",
    "mutations",
)
MUTATIONS = tuple(sorted({*Mutations.__dataclass_fields__, *ManagerMutations.__dataclass_fields__}))


def parse(source: str, path: str = "<scenario>") -> Scenario:
    reader = _Reader(path)
    try:
        root = _compose(source, path)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(
            path, line, "", f"not YAML: {getattr(error, 'problem', error)}"
        ) from None
    if root is None:
        raise ScenarioError(path, None, "", "the file is empty")
    top = reader.mapping(root, "", TOP)
    cluster = reader.mapping(top["cluster"], "cluster", CLUSTER_FIELDS) if "cluster" in top else {}
    managers = (
        reader.integer(cluster["managers"], "cluster.managers", 1, 2**31)
        if "managers" in cluster
        else 3
    )
    workers = (
        reader.integer(cluster["workers"], "cluster.workers", 0, 2**31)
        if "workers" in cluster
        else 0
    )
    if managers + workers > HOSTS_MAX:
        raise reader.fail(
            cluster.get("workers", cluster.get("managers")),
            "cluster",
            f"{managers} managers and {workers} workers: a scenario has at most "
            f"{HOSTS_MAX} hosts (what the simulator carries)",
        )
    roles = [(f"manager-{i}", True) for i in range(1, managers + 1)]
    roles += [(f"worker-{i}", False) for i in range(1, workers + 1)]
    renamed = _names(reader, cluster.get("names"), [name for name, _ in roles])
    named = tuple((renamed.get(name, name), manager) for name, manager in roles)
    hosts = [name for name, _ in named]
    steps = tuple(_steps(reader, top.get("steps"), hosts))
    expectations = tuple(_expectations(reader, top.get("expect")))
    deadlines = [e.at for e in expectations if e.at is not None] + [
        s.at + (s.duration or 0) for s in steps
    ]
    deadlines += [e.until if e.until is not None else e.start for e in expectations]
    duration = (
        reader.seconds(top["duration"], "duration", positive=True)
        if "duration" in top
        else max(deadlines, default=60.0) + 10.0
    )
    _windows_begin_in_time(path, expectations, duration)
    return Scenario(
        path=path,
        name=reader.text(top["name"], "name") if "name" in top else Path(path).stem,
        seed=reader.integer(top["seed"], "seed", most=2**63 - 1) if "seed" in top else 1,
        managers=managers,
        workers=workers,
        hosts=named,
        resources=_resources(reader, cluster.get("resources"), hosts),
        labels=_labels(reader, cluster.get("labels"), hosts),
        spare=_spare(reader, cluster.get("spare"), hosts),
        images=_images(reader, cluster.get("images")),
        link=_link(reader, top.get("network")),
        steps=steps,
        expectations=expectations,
        duration=duration,
        mutations=_mutations(reader, top.get("mutations")),
        files=_files(reader, top.get("files")),
    )


def _compose(source: str, path: str) -> yaml.Node | None:
    """The file's node tree, read by :data:`LOADER`; a file it refuses is read again
    by PyYAML's own loader, whose marks name the line a reader expects (libyaml's
    point past the end of a file cut short)."""
    try:
        _shallow(source, path, LOADER)
        return yaml.compose(source, Loader=LOADER)
    except yaml.YAMLError:
        if LOADER is yaml.SafeLoader:
            raise
    _shallow(source, path, yaml.SafeLoader)
    return yaml.compose(source, Loader=yaml.SafeLoader)


def _shallow(source: str, path: str, loader: type) -> None:
    """Refuse a file nested deeper than :data:`DEPTH_MAX`, reading its events (which
    PyYAML parses without recursion) before composing it (which recurses)."""
    depth = 0
    for event in yaml.parse(source, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > DEPTH_MAX:
                line = event.start_mark.line + 1 if event.start_mark is not None else None
                raise ScenarioError(path, line, "", f"nested more than {DEPTH_MAX} deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _mutations(reader: _Reader, node: yaml.Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    names = []
    for index, item in enumerate(reader.sequence(node, "mutations")):
        name = reader.text(item, f"mutations[{index}]")
        if name not in MUTATIONS:
            raise reader.fail(
                item, f"mutations[{index}]", f"no such mutation (one of {', '.join(MUTATIONS)})"
            )
        names.append(name)
    return tuple(names)


def _files(reader: _Reader, node: yaml.Node | None) -> dict[str, str]:
    if node is None:
        return {}
    return {
        name: reader.text(text, f"files.{name}")
        for name, text in reader.mapping(node, "files", ()).items()
    }


def _labels(reader: _Reader, node: yaml.Node | None, hosts: list[str]) -> dict[str, dict[str, str]]:
    if node is None:
        return {}
    out = {}
    for host, labels in reader.mapping(node, "cluster.labels", ()).items():
        if host not in hosts:
            raise reader.fail(
                labels, f"cluster.labels.{host}", f"no such host (the hosts are {', '.join(hosts)})"
            )
        values = reader.mapping(labels, f"cluster.labels.{host}", ())
        out[host] = {k: reader.text(v, f"cluster.labels.{host}.{k}") for k, v in values.items()}
    return out


def _names(reader: _Reader, node: yaml.Node | None, hosts: list[str]) -> dict[str, str]:
    """``names: {manager-1: alpha}``: hosts called otherwise (the first manager inits)."""
    if node is None:
        return {}
    renamed = {}
    for host, name in reader.mapping(node, "cluster.names", ()).items():
        where = f"cluster.names.{host}"
        if host not in hosts:
            raise reader.fail(name, where, f"no such host (the hosts are {', '.join(hosts)})")
        renamed[host] = reader.text(name, where)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", renamed[host]):
            raise reader.fail(name, where, f"{renamed[host]!r} is not a host name")
    final = [renamed.get(h, h) for h in hosts]
    if len(set(final)) != len(final):
        raise reader.fail(node, "cluster.names", "two hosts would have one name")
    return renamed


def _resources(
    reader: _Reader, node: yaml.Node | None, hosts: list[str]
) -> dict[str, tuple[int, int]]:
    """``resources: {worker-1: {cpus: 4, memory: 8G}}`` (default 2 CPUs, 4 GiB)."""
    if node is None:
        return {}
    out = {}
    for host, spec in reader.mapping(node, "cluster.resources", ()).items():
        where = f"cluster.resources.{host}"
        if host not in hosts:
            raise reader.fail(spec, where, f"no such host (the hosts are {', '.join(hosts)})")
        fields = reader.mapping(spec, where, ("cpus", "memory"))
        cpus = reader.integer(fields["cpus"], f"{where}.cpus", 1) if "cpus" in fields else 2
        if cpus > 1024:
            raise reader.fail(fields["cpus"], f"{where}.cpus", "at most 1024 CPUs")
        memory = 4 * 2**30
        if "memory" in fields:
            text = reader.text(fields["memory"], f"{where}.memory")
            match = re.fullmatch(r"(\d+)([KMG]?)", text.upper().removesuffix("B"))
            if match is None:
                raise reader.fail(
                    fields["memory"], f"{where}.memory", f"{text!r} is not a size (8G)"
                )
            memory = (
                int(match.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]
            )
        out[host] = (cpus, memory)
    return out


def _spare(reader: _Reader, node: yaml.Node | None, hosts: list[str]) -> tuple[str, ...]:
    if node is None:
        return ()
    names = []
    for index, item in enumerate(reader.sequence(node, "cluster.spare")):
        name = reader.text(item, f"cluster.spare[{index}]")
        if name not in hosts or name == hosts[0] or name in names:
            raise reader.fail(
                item, f"cluster.spare[{index}]", f"{name!r} is not a host that can wait"
            )
        names.append(name)
    return tuple(names)


IMAGE_FIELDS = (
    "pull_seconds", "start_seconds", "exit_after", "exit_code", "missing", "oom_after",
    "stop_seconds", "stop_signals", "healthy_after", "unhealthy_after", "probe_seconds",
)  # fmt: skip


def _images(reader: _Reader, node: yaml.Node | None) -> dict[str, ImageBehaviour]:
    if node is None:
        return {}
    out = {}
    for image, spec in reader.mapping(node, "cluster.images", ()).items():
        where = f"cluster.images.{image}"
        values: dict[str, Any] = {}
        for key, value in reader.mapping(spec, where, IMAGE_FIELDS).items():
            if key == "missing":
                values[key] = reader.text(value, f"{where}.{key}") in ("true", "True", "yes")
            elif key == "stop_signals":
                names = [reader.text(v, f"{where}.{key}") for v in reader.sequence(value, where)]
                values[key] = tuple(_signal(reader, value, f"{where}.{key}", n) for n in names)
            elif key == "exit_code":
                values[key] = reader.integer(value, f"{where}.{key}")
                if values[key] > 255:
                    raise reader.fail(value, f"{where}.{key}", "an exit code is 0 to 255")
            else:
                values[key] = reader.number(value, f"{where}.{key}")
        out[image] = ImageBehaviour(**values)
    return out


def _signal(reader: _Reader, node: yaml.Node, where: str, name: str) -> str:
    """A signal as dockerd reads one (``SIGTERM``, ``term`` or ``15``)."""
    signal = parse_signal(name)
    if signal is None:
        raise reader.fail(node, where, f"invalid signal: {name}")
    return signal


LINK_FIELDS = ("latency_min", "latency_mean_extra", "loss", "duplicate", "reorder", "reorder_delay")


def _link(reader: _Reader, node: yaml.Node | None) -> LinkModel:
    if node is None:
        return LinkModel()
    values = {
        k: reader.number(v, f"network.{k}", 1.0 if k in ("loss", "duplicate", "reorder") else 60.0)
        for k, v in reader.mapping(node, "network", LINK_FIELDS).items()
    }
    return LinkModel(**values)


def _steps(reader: _Reader, node: yaml.Node | None, hosts: list[str]) -> list[Step]:
    if node is None:
        return []
    steps = []
    for index, item in enumerate(reader.sequence(node, "steps")):
        where = f"steps[{index}]"
        fields = reader.mapping(item, where, ("at", "run", "fault", "for", "on", "fails"))
        if "at" not in fields:
            raise reader.fail(item, where, "needs 'at' (when, from the swarm's forming)")
        if ("run" in fields) == ("fault" in fields):
            raise reader.fail(item, where, "needs one of 'run' (a command) or 'fault'")
        if "for" in fields and "fault" not in fields:
            raise reader.fail(fields["for"], f"{where}.for", "only a fault lasts 'for' a while")
        for only in ("on", "fails"):
            if only in fields and "run" not in fields:
                raise reader.fail(fields[only], f"{where}.{only}", f"'{only}' goes with 'run'")
        fails = "fails" in fields and reader.boolean(fields["fails"], f"{where}.fails")
        if "on" in fields and reader.text(fields["on"], f"{where}.on") not in hosts:
            raise reader.fail(
                fields["on"], f"{where}.on", f"no such host (the hosts are {', '.join(hosts)})"
            )
        if "fault" in fields:
            _check_fault(reader, fields, where, hosts)
        steps.append(
            Step(
                at=reader.seconds(fields["at"], f"{where}.at"),
                run=reader.text(fields["run"], f"{where}.run") if "run" in fields else "",
                fault=reader.text(fields["fault"], f"{where}.fault") if "fault" in fields else "",
                duration=reader.seconds(fields["for"], f"{where}.for", positive=True)
                if "for" in fields
                else None,
                on=reader.text(fields["on"], f"{where}.on") if "on" in fields else "",
                fails=fails,
                line=item.start_mark.line + 1,
            )
        )
    return sorted(steps, key=lambda s: s.at)


def _check_fault(
    reader: _Reader, fields: dict[str, yaml.Node], where: str, hosts: list[str]
) -> None:
    text = reader.text(fields["fault"], f"{where}.fault")
    verb, _, target = text.partition(" ")
    if verb in scenario_faults.VERBS:  # kill, pull-fails, pause, skew, partition, loss ...
        problem = scenario_faults.check(text, hosts, lasting="for" in fields)
        if problem:
            raise reader.fail(fields["fault"], f"{where}.fault", problem)
        return
    if verb not in FAULTS:
        raise reader.fail(
            fields["fault"],
            f"{where}.fault",
            f"unknown fault {verb!r} (one of {', '.join((*FAULTS, *scenario_faults.VERBS))})",
        )
    if verb == "heal" and target:
        raise reader.fail(fields["fault"], f"{where}.fault", "heal takes no host")
    if verb != "heal" and target not in (*hosts, "leader", "a worker"):
        raise reader.fail(
            fields["fault"],
            f"{where}.fault",
            f"{verb} needs a host: one of {', '.join(hosts)}, leader or 'a worker'",
        )
    if "for" in fields and verb not in LASTING:
        raise reader.fail(
            fields["for"],
            f"{where}.for",
            f"only {', '.join((*LASTING, *scenario_faults.LASTING))} last 'for' a while",
        )


EXPECT = ("always", "by", "at", "never", "measure")


def _expectations(reader: _Reader, node: yaml.Node | None) -> list[Expectation]:
    if node is None:
        return []
    groups = reader.mapping(node, "expect", EXPECT)

    def items(kind: str) -> list[tuple[str, yaml.Node]]:
        listed = reader.sequence(groups[kind], f"expect.{kind}") if kind in groups else []
        return [(f"expect.{kind}[{index}]", item) for index, item in enumerate(listed)]

    out = [_windowed(reader, item, where, "always") for where, item in items("always")]
    for kind in ("by", "at"):
        for where, item in items(kind):
            # a 'by' may say from when it is looked for (what a test waited for)
            fields = reader.mapping(
                item, where, ("at", "check", "from")[: 3 if kind == "by" else 2]
            )
            for needed in ("at", "check"):
                if needed not in fields:
                    raise reader.fail(item, where, f"needs '{needed}'")
            at = reader.seconds(fields["at"], f"{where}.at")
            start = reader.seconds(fields["from"], f"{where}.from") if "from" in fields else 0.0
            if start > at:
                raise reader.fail(
                    fields["from"],
                    f"{where}.from",
                    f"from {start:g}s is after its deadline {at:g}s",
                )
            check = reader.text(fields["check"], f"{where}.check")
            out.append(Expectation(kind, check, at=at, line=item.start_mark.line + 1, start=start))
    for kind in ("never", "measure"):
        out += [_windowed(reader, item, where, kind) for where, item in items(kind)]
    return out


def _windowed(reader: _Reader, item: yaml.Node, where: str, kind: str) -> Expectation:
    """An item of ``always``, ``never`` or ``measure``: its text (the whole run), or
    ``{check: TEXT, from: 30s, until: 90s}`` (either bound may be left out)."""
    line = item.start_mark.line + 1
    if isinstance(item, yaml.ScalarNode):
        return Expectation(kind, reader.text(item, where), line=line)
    if not isinstance(item, yaml.MappingNode):
        raise reader.fail(item, where, "expected a text or {check: TEXT, from: T, until: T}")
    fields = reader.mapping(item, where, ("check", "from", "until"))
    if "check" not in fields:
        raise reader.fail(item, where, "needs 'check'")
    start = reader.seconds(fields["from"], f"{where}.from") if "from" in fields else 0.0
    until = reader.seconds(fields["until"], f"{where}.until") if "until" in fields else None
    if until is not None and start >= until:
        bound = "from" if "from" in fields else "until"
        raise reader.fail(
            fields[bound],
            f"{where}.{bound}",
            f"the window must begin before it ends (from {start:g}s, until {until:g}s)",
        )
    check = reader.text(fields["check"], f"{where}.check")
    return Expectation(kind, check, line=line, start=start, until=until)


def _windows_begin_in_time(
    path: str, expectations: tuple[Expectation, ...], duration: float
) -> None:
    """A window may end after the run (it closes at the end), not begin after it."""
    for expectation in expectations:
        if expectation.start > duration + 1e-9:
            raise ScenarioError(
                path,
                expectation.line,
                f"expect.{expectation.kind}",
                f"{expectation.check!r} from {expectation.start:g}s: the run ends at "
                f"{duration:g}s (its duration)",
            )
