"""``shoal sim serve [SCENARIO.yml] --socket PATH``: a simulated swarm behind Docker's
Engine API, for the ``docker`` CLI (``DOCKER_HOST=unix://PATH``) and docker-py.

The world runs at the wall clock's pace times ``--speed``. The API speaks for one
host (``--node``, by default the first manager), as ``DOCKER_HOST`` names one
dockerd. Without a scenario the hosts (``--managers``, ``--workers``) are booted
outside any swarm: ``docker swarm init`` forms one, and ``POST
/shoal/hosts/NAME/join`` joins the others to it. With a scenario the swarm is
formed as ``shoal sim run`` forms it, time 0 is when it formed, and the file's
steps (commands and faults) run at their instants; its expectations are not judged
(``shoal sim run`` does that) and it serves until stopped (SIGINT, SIGTERM).
``--host-sockets DIR`` also serves every host's own API at ``DIR/HOST.sock``, as
each host's dockerd, so a client can join, leave or ask any host itself.

shoal's own endpoints, beside Docker's (errors as Docker's ``{"message": ...}``):

    GET  /shoal/time                  {"Time": simulated seconds since serving began,
                                       "World": the world's clock, "Speed": the pace}
    POST /shoal/advance?seconds=S     run the world S simulated seconds ahead of its
                                      pace now; answers {"Time": ...} once there
    POST /shoal/faults                {"fault": "crash manager-2", "for": "10s"}: any
                                      fault of the scenario language, read by its
                                      parser; answers {"Victim": HOST, "Time": ...}
                                      (400: a fault that does not parse; 409: one that
                                      cannot strike now, as no leader to crash)
    GET  /shoal/hosts                 [{"Name", "State" (up, paused, crashed), "Role"
                                       (manager, worker, "" outside a swarm), "NodeID",
                                       "Leader", "Api" (the host the API speaks for)}]
    POST /shoal/hosts/NAME/join?role=worker|manager
                                      NAME joins the API host's swarm (booted first if
                                      down; role: the host's own by default)

At wall-clock pace, how API calls interleave with simulated time depends on the
wall clock, so a served run does not replay as ``shoal sim run`` does; ``--speed``
and ``/shoal/advance`` are how a test controls it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import signal
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml
from aiohttp import web

from cli.commands.flags import UsageError
from cli.scenario.judging import Report
from cli.scenario.runner import ScenarioRun, scenario_world
from cli.scenario.schema import HOSTS_MAX, Scenario, ScenarioError, Step, load, parse
from cli.scenario.step_command import run_step
from cli.timeline import Timeline
from core.errors import InvariantViolation
from core.model.cluster import Cluster
from real.engine.app import Call, Routes, build_app, json_response
from real.engine.errors import EngineError, bad_request, from_reply, not_found
from real.engine.images import image_routes
from real.engine.listen import EngineListener
from sim.cluster import ClusterConfig, ClusterWorld, HostState, NoReply, standard_hosts
from sim.serve import PacedWorld, SimBackend

EXIT_FAILED = 2  # the simulated swarm broke an invariant (a planted bug, or shoal's)
ADVANCE_MAX_SECONDS = 86400.0
SPEED_MAX = 10_000.0
ROLES = ("manager", "worker")


class Session:
    """A served swarm: the paced world, the host the API speaks for, and the
    scenario's machinery for faults and steps (a scenario of no steps without one)."""

    def __init__(
        self, world: ClusterWorld, scenario: Scenario, api_host: str, speed: float
    ) -> None:
        self.world, self.scenario, self.api_host = world, scenario, api_host
        self.paced = PacedWorld(world, speed)
        self.runner = ScenarioRun(
            world, scenario, [], Report(scenario, world.seed, timeline=Timeline("")), None
        )
        self.say: Callable[[str], None] = lambda _text: None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- faults ----------------------------------------------------------------------------

    def read_fault(self, fault: Any, lasting: Any) -> Step:
        """A fault in the scenario language, read by the scenario parser (so every
        fault a scenario may name, with its checks), as a step striking now."""
        if not isinstance(fault, str) or not fault.strip():
            raise bad_request('invalid fault: a text such as "crash manager-2" was expected')
        step: dict[str, Any] = {"at": "0s", "fault": fault}
        if lasting is not None:
            if isinstance(lasting, bool) or not isinstance(lasting, str | int | float):
                raise bad_request('invalid for: a duration such as "10s" was expected')
            step["for"] = str(lasting)
        document = {"cluster": _cluster_fields(self.scenario), "steps": [step]}
        try:
            parsed = parse(yaml.safe_dump(document), "<fault>")
        except ScenarioError as error:
            field = error.where.rpartition(".")[2]
            raise bad_request(f"invalid {field}: {error.problem}") from None
        return dataclasses.replace(parsed.steps[0], at=self.paced.now)

    def strike(self, step: Step) -> str:
        """Carry the fault out now (undone when its ``for`` ends); its victim, or an
        EngineError (409) when it cannot strike."""
        report, now = self.runner.report, self.paced.now
        seen = len(report.verdicts)
        try:
            victim = self.runner.fault(step, now)
        except ScenarioError as error:
            raise EngineError(409, error.problem) from None
        failed = [v for v in report.verdicts[seen:] if not v.passed]
        if failed:
            raise EngineError(409, failed[0].seen)
        if step.duration is not None and victim:
            self._spawn(self._undo_at(step.at + step.duration, step, victim))
        return victim

    async def _undo_at(self, when: float, step: Step, victim: str) -> None:
        await self.paced.at(self.paced.start + when)
        self.runner.undo(step, victim, self.paced.now)

    # -- the scenario's steps ----------------------------------------------------------------

    async def play(self) -> None:
        """The scenario's steps at their instants (a command's at once when a step
        before it waited past them, as ``shoal sim run`` runs them)."""
        for step in self.scenario.steps:
            await self.paced.at(self.paced.start + step.at)
            if step.run:
                await self._command(step)
                continue
            try:
                victim = self.strike(step)
            except EngineError as error:
                self.say(f"t={self.paced.now:.3f}s fault: {step.fault}: {error.message}")
            else:
                self.say(f"t={self.paced.now:.3f}s fault: {step.fault} ({victim})".rstrip())

    async def _command(self, step: Step) -> None:
        """The step's command line, parsed and run on a thread (the scenario runner's
        code is synchronous); its calls come back to the loop to be answered."""
        loop, now = asyncio.get_running_loop(), self.paced.now
        leader = self.world.leader()
        host = step.on or (leader.name if leader is not None else self.runner.first_manager())

        def send(method: str, params: dict[str, Any]) -> Any:
            return asyncio.run_coroutine_threadsafe(
                self.paced.call(host, method, params), loop
            ).result()

        verdict = await asyncio.to_thread(
            run_step, step, now, self.runner.rng, send, host, (NoReply,)
        )
        outcome = "failed: " + verdict.seen if verdict is not None and not verdict.passed else "ok"
        self.say(f"t={now:.3f}s step on {host}: {step.run}: {outcome}")

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # -- hosts -------------------------------------------------------------------------------

    def hosts(self) -> list[dict[str, Any]]:
        rows = []
        for name in self.world.names:
            host = self.world.hosts[name]
            node = host.node
            identity = host.identity  # kept on its disk while it is down
            role = "" if identity is None else "manager" if identity.manager else "worker"
            leading = node is not None and node.manager is not None and node.manager.is_leader
            rows.append(
                {
                    "Name": name,
                    "State": host.state.value,
                    "Role": role,
                    "NodeID": identity.node_id if identity is not None else "",
                    "Leader": leading,
                    "Api": name == self.api_host,
                }
            )
        return rows

    async def join(self, name: str, role: str) -> None:
        """``name`` joins the swarm of the API's host, with the token of ``role``."""
        cluster = await self._ask(self.api_host, "SwarmInspect", {})
        assert isinstance(cluster, Cluster)
        host = self.world.hosts[name]
        if host.state is HostState.CRASHED:
            host.boot()
        role = role or ("manager" if host.spec.manager else "worker")
        token = getattr(cluster.join_tokens, role)
        await self._ask(name, "SwarmJoin", {"remote": self.api_host, "token": token})

    async def _ask(self, host: str, method: str, params: dict[str, Any]) -> Any:
        reply = await self.paced.call(host, method, params)
        if not reply.ok:
            raise from_reply(reply)
        return reply.value


def _cluster_fields(scenario: Scenario) -> dict[str, Any]:
    """The ``cluster`` section naming the hosts ``scenario`` has (for the parser's
    host checks)."""
    managers = [name for name, manager in scenario.hosts if manager]
    workers = [name for name, manager in scenario.hosts if not manager]
    standard = [f"manager-{i}" for i in range(1, len(managers) + 1)]
    standard += [f"worker-{i}" for i in range(1, len(workers) + 1)]
    names = {s: n for s, n in zip(standard, managers + workers, strict=True) if s != n}
    fields: dict[str, Any] = {"managers": len(managers), "workers": len(workers)}
    if names:
        fields["names"] = names
    return fields


# -- shoal's endpoints ---------------------------------------------------------------------


def shoal_routes(session: Session) -> Routes:
    routes = Routes()

    def clock() -> dict[str, float]:
        paced = session.paced
        return {"Time": paced.now, "World": session.world.env.now, "Speed": paced.speed}

    @routes.get("/shoal/time")
    async def time_now(call: Call) -> web.StreamResponse:
        return json_response(clock())

    @routes.post("/shoal/advance")
    async def advance(call: Call) -> web.StreamResponse:
        text = call.query("seconds")
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not 0 < seconds <= ADVANCE_MAX_SECONDS:  # NaN and infinity fail this too
            raise bad_request(
                f"invalid seconds {text!r}: a number of seconds above 0 and at most "
                f"{ADVANCE_MAX_SECONDS:g} was expected"
            )
        await session.paced.advance(seconds)
        return json_response(clock())

    @routes.post("/shoal/faults")
    async def fault(call: Call) -> web.StreamResponse:
        body = await call.body()
        if not isinstance(body, dict):
            raise bad_request('invalid JSON body: {"fault": "crash manager-2"} was expected')
        unknown = sorted(set(body) - {"fault", "for"})
        if unknown:
            raise bad_request(f"invalid field {unknown[0]!r}: only fault and for are known")
        step = session.read_fault(body.get("fault"), body.get("for"))
        victim = session.strike(step)
        return json_response({"Victim": victim, **clock()})

    @routes.get("/shoal/hosts")
    async def hosts(call: Call) -> web.StreamResponse:
        return json_response(session.hosts())

    @routes.post("/shoal/hosts/{name}/join")
    async def join(call: Call) -> web.StreamResponse:
        name, role = call.arg("name"), call.query("role")
        if name not in session.world.hosts:
            raise not_found(f"no such host: {name}")
        if role not in ("", *ROLES):
            raise bad_request(f"invalid role {role!r}: manager or worker was expected")
        await session.join(name, role)
        return web.Response(status=200)

    return routes


# -- the command -----------------------------------------------------------------------------


def add_parser(sim: Any) -> None:
    parser = sim.add_parser(
        "serve",
        help="serve a simulated swarm over Docker's Engine API (for docker and docker-py)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", nargs="?", help="a scenario (YAML): its swarm and steps")
    parser.add_argument("--socket", required=True, help="the unix socket to serve on")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)"
    )
    parser.add_argument("--seed", type=int, help="the run's seed (default: the file's, or 1)")
    parser.add_argument("--managers", type=int, help="hosts to be managers (default 1)")
    parser.add_argument("--workers", type=int, help="hosts to be workers (default 2)")
    parser.add_argument("--node", help="the host the API speaks for (default: the first manager)")
    parser.add_argument(
        "--host-sockets",
        metavar="DIR",
        help="also serve each simulated host's own API at DIR/HOST.sock, as each host's "
        "dockerd (to join, leave or ask any host as a client would)",
    )


def session_from(args: Any) -> Session:
    """The swarm ``args`` describe, formed if a scenario says so; a mistake in
    the flags or the file is a :class:`UsageError` or :class:`ScenarioError`."""
    if not (math.isfinite(args.speed) and 0 < args.speed <= SPEED_MAX):
        raise UsageError(f"--speed must be above 0 and at most {SPEED_MAX:g}, not {args.speed}")
    if args.scenario is not None:
        if args.managers is not None or args.workers is not None:
            raise UsageError("--managers and --workers are the scenario's own: give one or other")
        scenario = load(args.scenario)
        world = scenario_world(scenario, scenario.seed if args.seed is None else args.seed, None)
        node = _api_host(args.node, world)
        try:
            world.form_swarm(spare=scenario.spare)
        except (AssertionError, InvariantViolation) as error:
            raise UsageError(f"the scenario's swarm did not form: {error}") from None
        return Session(world, scenario, node, args.speed)
    managers = 1 if args.managers is None else args.managers
    workers = 2 if args.workers is None else args.workers
    if managers < 1 or workers < 0 or managers + workers > HOSTS_MAX:
        raise UsageError(
            f"a simulated cluster has at least 1 manager, no fewer than 0 workers and "
            f"at most {HOSTS_MAX} hosts"
        )
    seed = 1 if args.seed is None else args.seed
    hosts = standard_hosts(managers, workers)
    world = ClusterWorld(ClusterConfig(hosts=hosts), seed)
    node = _api_host(args.node, world)
    world.boot_all()
    roles = tuple((h.name, h.manager) for h in hosts)
    scenario = Scenario("<serve>", "serve", seed, managers, workers, hosts=roles)
    return Session(world, scenario, node, args.speed)


def _api_host(name: str | None, world: ClusterWorld) -> str:
    if name is None:
        return next(h.name for h in world.config.hosts if h.manager)
    if name not in world.hosts:
        raise UsageError(f"--node {name}: no such host (the hosts are {', '.join(world.names)})")
    return name


def check_socket(path: Path) -> None:
    """Refuse a socket path in a missing directory, over a file that is not a
    socket, or where a server already listens (a stale socket is replaced)."""
    if not path.parent.is_dir():
        raise UsageError(f"cannot serve on {path}: no directory {path.parent}")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise UsageError(f"cannot serve on {path}: it exists and is not a socket")
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return  # left behind by a server that is gone
    raise UsageError(f"cannot serve on {path}: a server is listening there")


def _app(session: Session, host: str) -> web.Application:
    return build_app(
        SimBackend(session.paced, host),
        [shoal_routes(session), image_routes(set())],  # each host pulls its own images
    )


async def serve(
    session: Session,
    path: Path,
    stop: asyncio.Event | None = None,
    err: TextIO | None = None,
    signals: bool = True,
    host_dir: Path | None = None,
) -> int:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); 0, or :data:`EXIT_FAILED`
    when the world broke an invariant."""
    err = err or sys.stderr
    session.say = lambda text: print(text, file=err, flush=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    listener = EngineListener(_app(session, session.api_host))
    others = {
        name: EngineListener(_app(session, name))
        for name in (session.world.names if host_dir is not None else ())
    }
    tasks: list[asyncio.Task[None]] = []
    try:
        for at, serving in [(path, listener)] + [
            (host_dir / f"{name}.sock", one) for name, one in others.items() if host_dir
        ]:
            await serving.start()
            try:
                await serving.unix(at)
            except OSError as error:
                raise UsageError(f"cannot serve on {at}: {error.strerror or error}") from None
        session.paced.restart_clock()
        pacer = asyncio.ensure_future(session.paced.run())
        tasks = [pacer, asyncio.ensure_future(session.play())]
        pacer.add_done_callback(lambda _: stop.set())
        hosts = ", ".join(session.world.names)
        session.say(f"serving a simulated swarm ({hosts}) as {session.api_host} on unix://{path}")
        await stop.wait()
        if pacer.done() and not pacer.cancelled():
            broken = pacer.exception()
            if isinstance(broken, InvariantViolation):
                session.say(f"Error: the simulated swarm broke an invariant: {broken}")
                return EXIT_FAILED
            if broken is not None:
                raise broken
        return 0
    finally:
        if signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        session.cancel()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await listener.close()
        for one in others.values():
            await one.close()


def run(args: Any, err: TextIO | None = None) -> int:
    path = Path(args.socket).absolute()
    check_socket(path)
    host_dir = Path(args.host_sockets).absolute() if args.host_sockets else None
    if host_dir is not None and not host_dir.is_dir():
        raise UsageError(f"--host-sockets {host_dir}: no such directory")
    session = session_from(args)
    if host_dir is not None:
        for name in session.world.names:
            check_socket(host_dir / f"{name}.sock")
    return asyncio.run(serve(session, path, err=err, host_dir=host_dir))
