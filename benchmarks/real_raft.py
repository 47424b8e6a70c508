"""Committed writes per second through three real shoal daemons on loopback, as JSON.

Three ``shoal daemon`` processes (each its own data dir, ``--listen-addr 127.0.0.1:<free
port>``, one private dockerd shared by all three) form a swarm of three managers (``swarm
init`` on one, ``swarm join`` with the manager token on the others), so every write goes
through Raft with mutual TLS between the daemons and an fsync on each of them, as they
always run. A *write* is one ``ServiceUpdate`` sent to the leader's control socket that
changes a label of a service with no replicas: one store change, in a Raft entry of its
own (an API write is a transaction of its own), acknowledged only once a majority has
it on disk and the leader applied it. Each client owns one service, so concurrent
writes never conflict, and sends no ``version`` (it is the only writer, so the leader's
own out-of-sequence check suffices; the docker CLI's extra ``ServiceInspect`` per write
would only add a read). No replicas, so no container work mixes in.

- ``unbatched``: one client, one write in flight: every write pays a full round of
  leader fsync, append to the followers, their fsync, the acknowledgement.
- ``batched_<N>``: N clients on N connections, N writes in flight: the leader packs what
  queued during a round into the next one, and the WAL shares one fsync among them.

Each reports writes/s and latency p50/p99 (ms), measured after a short warm-up. At the
end every service is read back and must carry its client's last acknowledged label.
``fsyncs_per_s`` is this disk's rate (wal_speed.py's measurement, in the same directory
the daemons write to): an unbatched write waits for three fsyncs in sequence today (the
leader's entry, a follower's, then the leader's commit index before the reply).
``cpu_ms_per_write`` is each process's CPU time over the phase divided by its writes
(idle costs included: ``idle_cpu_ms_per_s`` is what the daemons spend with no client),
and ``load_average`` says how busy the machine was (the figures move with it).
``pysyncobj`` holds figures measured on this machine earlier, as constants, for comparison.

Needs root (dockerd). Every process and directory it made is removed at the end, also
on failure, ^C or SIGTERM (and, should it be killed -9, by the next run's sweep).
Usage: python benchmarks/real_raft.py [--seconds 5] [--clients 32 64] [--quick]
[--profile DIR] (``--profile``: run the daemons under cProfile, stats files in DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from wal_speed import _measure as wal_rate

from core.manager.requests import ClientReply, ClientRequest
from core.model.service import (
    ContainerSpec,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.wire import Labels
from real.agent.images import IMAGE
from real.control import CONTROL_PATH, SOCKET_NAME, ControlClient, decode_reply, encode_request
from real.dockerd import Dockerd
from real.testhosts import packages, sweep
from real.testhosts.naming import ENV_TAG, RunId

ROOT = Path(__file__).resolve().parents[1]
MANAGERS = 3
LABEL = "bench.seq"
#: Seconds a daemon may take to open its socket, or the swarm to show every manager.
PATIENCE = 90.0
#: Seconds a daemon gets to exit on SIGTERM before it is killed.
STOP_GRACE = 10.0
#: Figures of PySyncObj measured on this machine (3 nodes on loopback), not by this run.
PYSYNCOBJ = {
    "source": "measured here earlier, not by this run (constants)",
    "batched_writes_per_s": 32_000,
    "batched_note": "with its journal file, which never fsyncs",
    "unbatched_writes_per_s": 5_000,
    "unbatched_p50_ms": 0.7,
}


class BenchError(Exception):
    """The swarm could not be formed or a write was refused (with the daemons' logs)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered)))) - 1
    return ordered[rank]


# -- the daemons -------------------------------------------------------------------------


@dataclass
class Daemon:
    """One ``shoal daemon`` process; its log and data dir are under ``home``."""

    home: Path
    listen: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket(self) -> Path:
        return self.data_dir / SOCKET_NAME

    @property
    def log_path(self) -> Path:
        return self.home / "daemon.log"

    def start(self, docker_url: str, run: RunId, profile: Path | None) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        python = [sys.executable]
        if profile is not None:
            python += ["-m", "cProfile", "-o", str(profile / f"{self.home.name}.prof")]
        argv = [
            *python,
            "-m",
            "cli.main",
            "daemon",
            "--data-dir",
            str(self.data_dir),
            "--listen-addr",
            self.listen,
            "--docker-host",
            docker_url,
        ]
        env = {**os.environ, ENV_TAG: str(run), "PYTHONPATH": str(ROOT)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our ^C reaches us alone: we stop it in order
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise BenchError(f"the daemon in {self.home} exited\n{self.log()}")
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
            except OSError:
                return False
        return True

    def stop(self) -> None:
        """SIGTERM (it exits cleanly, writing its profile if any), SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def shoal(self, *words: str) -> str:
        """``shoal words...`` against this daemon; its stdout (it must succeed)."""
        argv = [sys.executable, "-m", "cli.main", "--host", f"unix://{self.socket}", *words]
        done = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=PATIENCE * 2, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"shoal {' '.join(words)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def log(self, tail: int = 3000) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")[-tail:]
            return f"--- {self.home.name} ---\n{text}"
        return ""


def wait(done: Callable[[], bool], what: str, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        if time.monotonic() > deadline:
            raise BenchError(f"gave up waiting for {what}\n{logs()}")
        time.sleep(0.1)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def swarm_of_managers(profile: Path | None) -> Iterator[list[Daemon]]:
    """A private dockerd and three daemons joined as managers, the leader first; all
    stopped and every directory removed on the way out, whatever happened."""
    packages.ensure_root()
    sweep.sweep()  # what killed runs left behind
    run = RunId.new()
    base = sweep.default_base()
    home = base / run.name("raft")
    dockerd = Dockerd(base / run.name("dd"))
    daemons = [Daemon(home / f"m{i}") for i in range(1, MANAGERS + 1)]
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        dockerd.start()
        for daemon in daemons:
            daemon.start(dockerd.url, run, profile)
        for daemon in daemons:
            wait(daemon.answers, f"{daemon.socket}", daemon.log)
        leader, *others = daemons
        leader.shoal("swarm", "init", "--advertise-addr", "127.0.0.1")
        token = leader.shoal("swarm", "join-token", "-q", "manager").strip()
        for daemon in others:
            daemon.shoal("swarm", "join", "--token", token, leader.listen)

        def formed() -> bool:
            rows = leader.shoal("node", "ls").splitlines()[1:]
            return (
                sum("Leader" in row and "Ready" in row for row in rows) == 1
                and sum("Reachable" in row and "Ready" in row for row in rows) == MANAGERS - 1
            )

        wait(formed, "three Ready managers in node ls", lambda: logs(daemons))
        yield daemons
    finally:
        for daemon in daemons:
            daemon.stop()
        dockerd.remove()
        sweep.remove_run(run)
        signal.signal(signal.SIGTERM, previous)


def logs(daemons: Sequence[Daemon]) -> str:
    return "\n".join(daemon.log() for daemon in daemons)


# -- the writes ----------------------------------------------------------------------------


def spec_of(name: str, seq: int) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        labels=Labels({LABEL: str(seq)}),
        mode=ServiceMode(replicated=ReplicatedService(replicas=0)),
        task_template=TaskSpec(container_spec=ContainerSpec(image=IMAGE)),
    )


def checked(reply: ClientReply, what: str) -> Any:
    if not reply.ok:
        raise BenchError(f"{what} was refused: {reply.error}")
    return reply.value


@dataclass
class Writer:
    """One client: a service of its own, the last label it had acknowledged."""

    service_id: str
    spec: ServiceSpec
    acked: int = 0


class Connection:
    """An asyncio connection to a daemon's control route: one request in flight."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.seq = 0

    @classmethod
    async def open(cls, path: Path) -> Connection:
        return cls(aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))))

    async def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        self.seq += 1
        body = encode_request(ClientRequest(str(self.seq), method, params))
        url = f"http://localhost{CONTROL_PATH}"
        async with self.session.post(url, data=body) as response:
            if response.status != 200:
                raise BenchError(f"the daemon answered {response.status}")
            return decode_reply(await response.read())

    async def close(self) -> None:
        await self.session.close()


async def _write_until(
    conn: Connection, writer: Writer, stop: float, latencies: list[float]
) -> None:
    """Write labels one after another until ``stop``, recording each one's latency."""
    while True:
        sent = time.perf_counter()
        if sent >= stop:
            return
        seq = writer.acked + 1
        params = {
            "service": writer.service_id,
            "spec": replace(writer.spec, labels=Labels({LABEL: str(seq)})),
        }
        checked(await conn.call("ServiceUpdate", params), "ServiceUpdate")
        writer.acked = seq
        latencies.append(time.perf_counter() - sent)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(
    conns: Sequence[Connection], writers: Sequence[Writer], stop: float
) -> list[float]:
    latencies: list[float] = []
    await asyncio.gather(
        *(_write_until(c, w, stop, latencies) for c, w in zip(conns, writers, strict=True))
    )
    return latencies


async def measure(
    daemons: Sequence[Daemon], writers: Sequence[Writer], seconds: float, warmup: float
) -> dict[str, Any]:
    """Every writer writing to the leader (the first daemon) at once for ``warmup`` +
    ``seconds``; the figures of the writes sent after the warm-up (those in flight at
    the end included), and the CPU time each process spent per write meanwhile."""
    conns = [await Connection.open(daemons[0].socket) for _ in writers]
    try:
        await _timed(conns, writers, time.perf_counter() + warmup)
        pids = [daemon.pid for daemon in daemons]
        cpu_before = [cpu_seconds(pid) for pid in pids]
        own_before = time.process_time()
        start = time.perf_counter()
        latencies = await _timed(conns, writers, start + seconds)
        elapsed = time.perf_counter() - start
        cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
        own = time.process_time() - own_before
    finally:
        for conn in conns:
            await conn.close()
    count = len(latencies)
    return {
        "clients": len(writers),
        "writes": count,
        "writes_per_s": round(count / elapsed),
        "p50_ms": round(percentile(latencies, 0.50) * 1e3, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
        "cpu_ms_per_write": {
            "leader": round(cpu[0] * 1e3 / count, 2),
            "followers": [round(c * 1e3 / count, 2) for c in cpu[1:]],
            "bench_client": round(own * 1e3 / count, 2),
        },
    }


def idle_cpu(daemons: Sequence[Daemon], seconds: float) -> dict[str, Any]:
    """CPU milliseconds per second each daemon spends with no client: the cost of
    timers and heartbeats, which every figure per write includes."""
    before = [cpu_seconds(daemon.pid) for daemon in daemons]
    started = time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    spent = [cpu_seconds(d.pid) - b for d, b in zip(daemons, before, strict=True)]
    return {
        "leader": round(spent[0] * 1e3 / elapsed, 1),
        "followers": [round(s * 1e3 / elapsed, 1) for s in spent[1:]],
    }


def create_writers(leader: Daemon, count: int) -> list[Writer]:
    control = ControlClient(str(leader.socket))
    try:
        writers = []
        for i in range(count):
            spec = spec_of(f"bench-{i}", 0)
            service_id = checked(control.call("ServiceCreate", {"spec": spec}), "ServiceCreate")
            writers.append(Writer(str(service_id), spec))
        return writers
    finally:
        control.close()


def verify(leader: Daemon, writers: Sequence[Writer]) -> int:
    """Read every service back: each must carry its last acknowledged label. The
    number of acknowledged writes in all."""
    control = ControlClient(str(leader.socket))
    try:
        for writer in writers:
            service = checked(
                control.call("ServiceInspect", {"service": writer.service_id}), "ServiceInspect"
            )
            assert isinstance(service, Service)
            found = service.spec.labels.get(LABEL)
            if found != str(writer.acked):
                raise BenchError(
                    f"service {writer.service_id} carries {LABEL}={found}, "
                    f"but write {writer.acked} was acknowledged"
                )
        return sum(writer.acked for writer in writers)
    finally:
        control.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "benchmark": "real_raft",
        "python": platform.python_version(),
        "managers": MANAGERS,
        "write": "ServiceUpdate of one label on a 0-replica service, to the leader's "
        "control socket",
        "seconds": args.seconds,
        "load_average": round(os.getloadavg()[0], 2),
    }
    profile = Path(args.profile).absolute() if args.profile else None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    with swarm_of_managers(profile) as daemons:
        leader = daemons[0]
        results["fsyncs_per_s"] = round(
            wal_rate(str(leader.home / "wal-speed"), 1, args.fsync_seconds, True)
        )
        writers = create_writers(leader, max(args.clients))
        results["idle_cpu_ms_per_s"] = idle_cpu(daemons, args.warmup)
        solo = asyncio.run(measure(daemons, writers[:1], args.seconds, args.warmup))
        results["unbatched"] = solo
        for count in args.clients:
            figures = asyncio.run(measure(daemons, writers[:count], args.seconds, args.warmup))
            results[f"batched_{count}"] = figures
        results["acknowledged_writes"] = verify(leader, writers)
        results["verified"] = True
    results["pysyncobj"] = PYSYNCOBJ
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per phase")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[32, 64], help="clients of the batched runs"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: short, 8 clients")
    parser.add_argument("--profile", default=None, help="run the daemons under cProfile")
    args = parser.parse_args(argv)
    args.warmup, args.fsync_seconds = 1.0, 1.0
    if args.quick:
        args.seconds, args.clients, args.warmup, args.fsync_seconds = 1.0, [8], 0.2, 0.2
    if args.seconds <= 0 or min(args.clients) < 1:
        parser.error("--seconds must be positive and --clients at least 1")
    try:
        results = run(args)
    except packages.Unavailable as why:
        print(f"real_raft: {why}", file=sys.stderr)
        return 1
    except BenchError as error:
        print(f"real_raft: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("real_raft: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
