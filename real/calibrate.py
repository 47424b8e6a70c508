"""Measuring what the simulator's dockerd model needs (sim/dockerd.py, sim/calibration.py)
on this machine, through the executor real mode runs (real/agent/executor.py).

Private dockerds (real/dockerd.py, one per would-be host, the local busybox image
loaded) are started; then, on a quiet machine:

1. **Each operation alone.** On the first dockerd, ``containers`` tasks are prepared
   (created) one after another, then started, stopped (SIGKILL: what is timed is
   dockerd's teardown, not the image's) and removed. An operation's wall time and the
   machine's CPU time it used (``/proc/stat``, less what the machine burns idle) give
   its ``cpu`` (work) and ``latency`` (the rest of its wall time, spent waiting).
   Then ``containers`` network sandboxes (real/agent/sandbox.py: a container with a
   network namespace of its own, which a task on an overlay network gets before its
   container) are created and started one after another: the ``sandbox`` cost. The
   plumbing that joins a sandbox to its overlay afterwards (netlink, 0.1-0.25 s of
   wall time measured on test hosts) is not part of it.
2. **Concurrency.** The same prepare and start with 4 client threads on one dockerd:
   the speed-up over one thread says how many operations a dockerd carries out at once.
3. **The image.** One container stopped with SIGTERM and a 1 s grace period: if it
   ran until the grace period, the image ignores SIGTERM (busybox's ``sleep`` as PID 1
   does) and the simulator kills it at the grace period too.
4. **Contention, as a check.** Every dockerd prepares and starts ``containers`` tasks at
   once; the makespan is set beside the simulator's prediction from the figures above
   (the machine's cores shared by processor sharing), in ``measured.check``.
5. **Messages.** Round trips of 512-byte messages over TCP on loopback to another
   process; half a round trip is one message's latency.
6. **The data plane.** On one test host, the ingress network programmed the first
   time and again, and task sandboxes joined to it (real/dataplane_costs.py): what
   every node of a routing mesh does while its tasks start.

The executor never pulls (there is no registry; images are loaded on each host), so
``pull`` costs nothing and the images' ``pull_seconds`` are 0. Everything made is
removed at the end, also on failure or ^C.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import simpy

from core.errors import ShoalError
from core.model.duration import SECOND
from core.model.network import Network, NetworkAttachment
from core.model.service import ContainerSpec, TaskSpec
from core.model.task import Task, TaskStatus
from core.tasks.executor import OperationResult, Outcome
from core.tasks.states import TaskState
from real.agent.executor import DockerExecutor
from real.agent.images import IMAGE, SECOND_IMAGE, ensure_busybox_image
from real.agent.sandbox import create_sandbox
from real.dataplane_costs import measure as dataplane_costs
from real.dockerd import Dockerd
from real.meter import Meter, Sample
from real.testhosts import packages, sweep
from real.testhosts.naming import RunId
from sim.calibration import Calibration
from sim.cpu import CpuPool
from sim.dockerd import EngineModel, OpCost, SimDockerd
from sim.executor import ImageBehaviour
from sim.network import LinkModel

#: Client threads of the concurrency probe (as a busy agent has starts in flight).
THREADS = 4
#: The image probe's grace period, seconds.
PROBE_GRACE = 1.0
#: Message size and count of the network probe.
MESSAGE_BYTES = 512
ROUND_TRIPS = 400
#: Cores busy before measuring above which the figures are said to be unreliable.
BUSY_WARNING = 0.2


class CalibrationFailed(ShoalError):
    """A measurement could not be made (an operation failed, not root ...)."""


# -- tasks through the real executor ----------------------------------------------------------


def probe_task(
    n: int,
    stop_signal: str = "SIGKILL",
    grace: float | None = None,
    networks: tuple[NetworkAttachment, ...] = (),
) -> Task:
    """A task of the calibration's own, as the agent would be handed it."""
    spec = ContainerSpec(
        image=IMAGE,
        stop_signal=stop_signal,
        stop_grace_period_ns=None if grace is None else int(grace * SECOND),
    )
    return Task(
        id=f"calibrate{n:016d}",
        service_id="calibrate0000000000000001",
        slot=n,
        node_id="calibrate0000000000000001",
        spec=TaskSpec(container_spec=spec),
        status=TaskStatus(state=TaskState.ASSIGNED, message="assigned"),
        networks_attachments=networks,
    )


#: The network a sandbox probe's task is on (never made: only the sandbox's own
#: settings read it, as a task on an overlay network gets them).
PROBE_NETWORK = NetworkAttachment(
    network=Network(id="calibrate0000000000000002"), addresses=("10.255.0.2/24",)
)


def sandbox_task(n: int) -> Task:
    """A probe task on an overlay network: it gets a sandbox."""
    return probe_task(n, networks=(PROBE_NETWORK,))


def sandboxes(api: Any, meter: Meter, tasks: Sequence[Task]) -> Sample:
    """Each task's sandbox created and started, one after another, as the agent makes
    it before the task's container; removed afterwards (untimed)."""
    made: list[str] = []

    def work() -> None:
        for task in tasks:
            made.append(create_sandbox(api, task))
            api.start(made[-1])
            api.inspect_container(made[-1])  # its namespace's pid, as the agent reads it

    try:
        return meter.run(len(tasks), work)
    finally:
        for cid in made:
            with contextlib.suppress(Exception):
                api.remove_container(cid, force=True)


def check(result: OperationResult, what: str) -> None:
    if result.outcome not in (Outcome.OK, Outcome.ALREADY):
        raise CalibrationFailed(f"{what}: {result.outcome.name} {result.error}".strip())


def each(executor: DockerExecutor, tasks: Sequence[Task], operation: str) -> None:
    for task in tasks:
        check(getattr(executor, operation)(task), f"{operation} {task.id}")


def in_threads(executor: DockerExecutor, tasks: Sequence[Task], threads: int) -> None:
    """Prepare and start every task, ``threads`` tasks at a time."""

    def one(task: Task) -> None:
        check(executor.prepare(task), f"prepare {task.id}")
        check(executor.start(task), f"start {task.id}")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(one, t) for t in tasks]:
            future.result()


def clear(executor: DockerExecutor, tasks: Sequence[Task]) -> None:
    for task in tasks:
        with contextlib.suppress(Exception):
            executor.shutdown(task)
        with contextlib.suppress(Exception):
            executor.remove(task)


# -- the measurements -------------------------------------------------------------------------


def operations(executor: DockerExecutor, meter: Meter, tasks: Sequence[Task]) -> dict[str, Sample]:
    """Each operation, one after another on one dockerd."""
    samples = {}
    for operation, name in (
        ("prepare", "create"),
        ("start", "start"),
        ("shutdown", "stop"),
        ("remove", "remove"),
    ):
        work = functools.partial(each, executor, tasks, operation)
        samples[name] = meter.run(len(tasks), work)
    return samples


def speedup(executor: DockerExecutor, meter: Meter, tasks: Sequence[Task], serial: float) -> float:
    """How much faster ``THREADS`` client threads prepare and start than one did."""
    sample = meter.run(len(tasks), lambda: in_threads(executor, tasks, THREADS))
    clear(executor, tasks)
    return serial / sample.wall if sample.wall > 0 else 1.0


def image_behaviour(executor: DockerExecutor) -> ImageBehaviour:
    """How the image takes SIGTERM: exits (how long it takes) or runs on until killed."""
    task = probe_task(999_999, stop_signal="SIGTERM", grace=PROBE_GRACE)
    check(executor.prepare(task), "prepare the image probe")
    check(executor.start(task), "start the image probe")
    start = time.monotonic()
    check(executor.shutdown(task), "stop the image probe")
    took = time.monotonic() - start
    check(executor.remove(task), "remove the image probe")
    if took >= 0.8 * PROBE_GRACE:
        return ImageBehaviour(pull_seconds=0.0, start_seconds=0.0, stop_signals=())
    return ImageBehaviour(pull_seconds=0.0, start_seconds=0.0, stop_seconds=took)


def contention(executors: Sequence[DockerExecutor], per_host: int, first: int) -> float:
    """Seconds for every dockerd to prepare and start ``per_host`` tasks at once."""
    batches = [
        [probe_task(first + h * per_host + i) for i in range(per_host)]
        for h in range(len(executors))
    ]
    errors: list[BaseException] = []

    def host(executor: DockerExecutor, tasks: list[Task]) -> None:
        try:
            for task in tasks:
                check(executor.prepare(task), f"prepare {task.id}")
                check(executor.start(task), f"start {task.id}")
        except BaseException as error:  # reported by the caller's thread
            errors.append(error)

    threads = [
        threading.Thread(target=host, args=(e, b)) for e, b in zip(executors, batches, strict=True)
    ]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - start
    for executor, batch in zip(executors, batches, strict=True):
        clear(executor, batch)
    if errors:
        raise CalibrationFailed(str(errors[0]))
    return took


def predicted(engine: EngineModel, cores: float, hosts: int, per_host: int) -> float:
    """What the simulator's model says :func:`contention` takes."""
    env = simpy.Environment()
    machine = CpuPool(env, cores)
    ends: list[float] = []
    for _ in range(hosts):
        dockerd = SimDockerd(env, engine, machine)
        for _ in range(per_host):
            dockerd.do("create", lambda: None)
            dockerd.do("start", lambda: ends.append(float(env.now)))
    env.run()
    return max(ends, default=0.0)


def message_latency(round_trips: int = ROUND_TRIPS) -> LinkModel:
    """One message's latency over TCP to another process, from round trips on loopback."""
    echo = (
        "import socket,sys\n"
        "s=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n"
        "print(s.getsockname()[1],flush=True)\n"
        "c,_=s.accept();c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\n"
        f"n={MESSAGE_BYTES}\n"
        "while True:\n"
        " b=b''\n"
        " while len(b)<n:\n"
        "  d=c.recv(n-len(b))\n"
        "  if not d: sys.exit(0)\n"
        "  b+=d\n"
        " c.sendall(b)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", echo], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        samples = []
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            message = b"x" * MESSAGE_BYTES
            for _ in range(round_trips):
                start = time.perf_counter()
                conn.sendall(message)
                got = 0
                while got < MESSAGE_BYTES:
                    got += len(conn.recv(MESSAGE_BYTES - got))
                samples.append((time.perf_counter() - start) / 2)
    finally:
        server.kill()
        server.wait()
    samples.sort()
    floor = samples[len(samples) // 20]  # the 5th percentile: the floor, less outliers
    return LinkModel(
        latency_min=floor, latency_mean_extra=max(1e-6, statistics.fmean(samples) - floor)
    )


# -- the whole run ----------------------------------------------------------------------------


@contextlib.contextmanager
def dockerds(count: int) -> Iterator[list[Dockerd]]:
    """``count`` private dockerds with the busybox image, removed afterwards."""
    packages.ensure_root()
    packages.ensure()
    run = RunId.new()
    made: list[Dockerd] = []
    try:
        for i in range(count):
            daemon = Dockerd(sweep.default_base() / run.name(f"cal{i + 1}"))
            made.append(daemon)
            daemon.start()
            ensure_busybox_image(daemon.client())
        yield made
    finally:
        for daemon in made:
            with contextlib.suppress(Exception):
                daemon.remove()
        sweep.remove_run(run)


def calibrate(
    hosts: int = 3,
    containers: int = 20,
    rounds: int = 3,
    say: Callable[[str], None] = lambda _: None,
) -> Calibration:
    """Measure this machine (root; a few minutes at most); the calibration, each figure
    the median of ``rounds``."""
    if hosts < 1 or containers < 2 or rounds < 1:
        raise CalibrationFailed("needs at least 1 host, 2 containers and 1 round")
    cores = float(len(os.sched_getaffinity(0)))
    with dockerds(hosts) as daemons:
        say(f"{hosts} dockerds up")
        executors = [DockerExecutor(d.client()) for d in daemons]
        for executor in executors:
            executor.open()
        try:
            return _measure(executors, daemons, cores, containers, rounds, say)
        finally:
            for executor in executors:
                executor.close()


def _measure(
    executors: list[DockerExecutor],
    daemons: list[Dockerd],
    cores: float,
    containers: int,
    rounds: int,
    say: Callable[[str], None],
) -> Calibration:
    first = executors[0]
    warm = [probe_task(900_000 + i) for i in range(3)]  # containerd's first snapshot
    in_threads(first, warm, 1)
    clear(first, warm)
    meter = Meter.settled()
    if meter.idle_rate > BUSY_WARNING:
        say(
            f"warning: {meter.idle_rate:.2f} cores were busy before measuring: the CPU "
            "figures are what is left over; calibrate on a quiet machine"
        )
    numbers = iter(range(10**6))
    samples: list[dict[str, Sample]] = []
    speedups: list[float] = []
    for n in range(1, rounds + 1):
        samples.append(
            operations(first, meter, [probe_task(next(numbers)) for _ in range(containers)])
        )
        made = [sandbox_task(next(numbers)) for _ in range(containers)]
        samples[-1]["sandbox"] = sandboxes(first.api, meter, made)
        serial = samples[-1]["create"].wall + samples[-1]["start"].wall
        again = [probe_task(next(numbers)) for _ in range(containers)]
        speedups.append(speedup(first, meter, again, serial))
        say(
            f"round {n}: "
            + ", ".join(f"{k} {v.wall / v.count:.3f}s" for k, v in samples[-1].items())
        )
    op_cores = min(cores, max(1.0, statistics.median(_cores_busy(r) for r in samples)))
    costs = {
        op: OpCost(
            latency=statistics.median(r[op].cost(op_cores).latency for r in samples),
            cpu=statistics.median(r[op].cost(op_cores).cpu for r in samples),
        )
        for op in ("sandbox", "create", "start", "stop", "remove")
    }
    faster = statistics.median(speedups)
    engine = EngineModel(
        pull=OpCost(),  # the executor never pulls: images are loaded on each host
        sandbox=costs["sandbox"],
        create=costs["create"],
        start=costs["start"],
        stop=costs["stop"],
        remove=costs["remove"],
        concurrency=1 if faster < 1.25 else max(1, round(faster)),
        op_cores=round(op_cores, 3),
    )
    image = image_behaviour(first)
    took = [contention(executors, containers, 10**5 * (n + 1)) for n in range(rounds)]
    model = predicted(engine, cores, len(executors), containers)
    say(f"contention: {statistics.median(took):.2f}s measured (median), {model:.2f}s predicted")
    link = message_latency()
    dataplane = dataplane_costs(meter, rounds, say=say)
    version = daemons[0].client().version()
    measured = {
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "by": "shoal real calibrate",
        "host": platform.node(),
        "kernel": platform.release(),
        "dockerd": str(version.get("Version", "")),
        "cpus": int(cores),
        "hosts": len(executors),
        "containers": containers,
        "rounds": rounds,
        "threads_speedup": [round(x, 3) for x in speedups],
        "busy_before_cores": round(meter.idle_rate, 3),
        "check": {
            "what": f"{len(executors)} dockerds at once, each creating and starting {containers}",
            "measured_s": [round(t, 3) for t in took],
            "predicted_s": round(model, 3),
        },
    }
    return Calibration(
        engine=engine,
        dataplane=dataplane,
        cores=cores,
        link=link,
        images={IMAGE: image, SECOND_IMAGE: image},
        measured=measured,
    )


def _cores_busy(phases: dict[str, Sample]) -> float:
    """How many cores creating and starting kept busy, on average, one at a time."""
    create, start = phases["create"], phases["start"]
    return (create.busy + start.busy) / (create.wall + start.wall)
