"""The peer timings of issue 21 on real test hosts, under Docker's own swarm and under
shoal: what ``benchmarks/peer_timings.py`` sets the calibrated simulator beside.

The bench of ``benchmarks/real_converge.py`` (three test hosts, h1 the manager of both
swarms, h2 and h3 workers, each dockerd with the local busybox images). Per round and
orchestrator, polled every ``--poll`` seconds, from each command until:

- ``create_60``: a service of 60 replicas (``--stop-grace-period 1s --stop-signal
  SIGKILL``) has 60 tasks Running;
- ``scale_120``: scaled to 120, 120 Running;
- ``update_120``: its image updated (``local/busybox:2``, ``--update-parallelism 10``):
  the service's UpdateStatus is ``completed`` (``update_slots``: where each slot's
  update spent its time, from the tasks' own stamps);
- ``worker_down`` and ``tasks_back``: h3 crashed (kill -9 of its daemon, dockerd and
  containers): h3 Down, and 120 tasks Running on h1 and h2.

Then h3 is restarted, the service removed and every dockerd emptied. Each round starts
once the machine is quiet. Orchestrators alternate; medians, min and max per figure.
Needs root; everything it made is removed at the end, also on failure or ^C.

Usage: python benchmarks/real_peer_timings.py [--rounds 3] [--only docker|shoal] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from real_converge import (  # type: ignore[import-not-found]
    VICTIM,
    Bench,
    BenchError,
    bench_on_hosts,
    restart_victim,
    settle,
    wait_for,
)
from update_slots import slot_times  # type: ignore[import-not-found]

from cli.commands.language import parse
from cli.commands.run import execute
from core.model.enums import NodeState
from core.model.service import Service
from real.agent.images import IMAGE, SECOND_IMAGE
from real.testhosts import packages
from real.testhosts.swarm import SwarmError

FIGURES = ("create_60", "scale_120", "update_120", "worker_down", "tasks_back")


class Orchestrator:
    """What a round does to one swarm: shoal's (through its control API) or Docker's."""

    def __init__(self, bench: Bench, name: str) -> None:
        self.bench, self.name = bench, name

    def command(self, line: str) -> str:
        (command,) = parse(line.split(), random.Random(os.urandom(16)))
        outcome = execute(command, self.bench.call, "")
        if not outcome.ok:
            raise BenchError(f"shoal {line}: {outcome.error}")
        return str(outcome.value)

    def create(self, name: str) -> str:
        if self.name == "shoal":
            return self.command(
                f"service create --name {name} --replicas 60 -d --stop-grace-period 1s "
                f"--stop-signal SIGKILL {IMAGE}"
            )
        import docker

        service = self.bench.docker["h1"].services.create(
            IMAGE,
            name=name,
            mode=docker.types.ServiceMode("replicated", replicas=60),
            stop_grace_period=1_000_000_000,
            stop_signal="SIGKILL",
        )
        return str(service.id)

    def scale(self, service: str, replicas: int) -> None:
        self.cli(f"service scale -d {service}={replicas}")

    def update(self, service: str) -> None:
        self.cli(f"service update -d --image {SECOND_IMAGE} --update-parallelism 10 {service}")

    def cli(self, line: str) -> None:
        """The command as a user types it: shoal's, or the docker CLI on h1's dockerd
        (docker-py's ``scale`` sends the spec back changed, which rolls every task)."""
        if self.name == "shoal":
            self.command(line)
            return
        words = line.split()
        if words[:2] == ["service", "update"]:
            words.insert(2, "--no-resolve-image")  # no registry to resolve a digest from
        argv = ["docker", "-H", self.bench.hosts["h1"].docker_url, *words]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise BenchError(f"docker {line}: {done.stderr.strip()}")

    def tasks(self, service: str) -> list[dict[str, Any]]:
        """The service's tasks as Docker's JSON."""
        if self.name == "docker":
            return list(self.bench.docker["h1"].api.tasks(filters={"service": service}))
        reply = self.bench.call("TaskList", {"service": service})
        return [t.to_json() for t in reply.value or ()] if reply.ok else []

    def updated(self, service: str) -> bool:
        if self.name == "shoal":
            reply = self.bench.call("ServiceInspect", {"service": service})
            found = reply.value if reply.ok else None
            status = found.update_status if isinstance(found, Service) else None
            return status is not None and str(status.state) == "completed"
        attrs = self.bench.docker["h1"].api.inspect_service(service)
        return bool(attrs.get("UpdateStatus", {}).get("State") == "completed")

    def running(self, service: str, away_from: str = "") -> int:
        if self.name == "shoal":
            return int(self.bench.shoal_running(service, away_from))
        return int(self.bench.docker_running(service, away_from))

    def down(self) -> bool:
        if self.name == "shoal":
            return bool(self.bench.shoal_node_state(VICTIM) == NodeState.DOWN)
        return bool(self.bench.docker_node_state(VICTIM) == "down")

    def remove(self, service: str) -> None:
        if self.name == "shoal":
            self.bench.shoal_remove(service)
        else:
            self.bench.docker_remove(service)

    def victim_id(self) -> str:
        ids = self.bench.shoal_ids if self.name == "shoal" else self.bench.docker_ids
        return str(ids[VICTIM])


def one_round(
    bench: Bench, who: Orchestrator, poll: float, slots: list[dict[str, float]]
) -> dict[str, float]:
    bench.rounds += 1
    name = f"peer-{who.name}-{bench.rounds}"
    figures: dict[str, float] = {}

    def timed(figure: str, act: Callable[[], object], done: Callable[[], bool]) -> None:
        settle()
        start = time.monotonic()
        act()
        figures[figure] = round(wait_for(done, f"{who.name}: {figure}", interval=poll) - start, 3)

    service = ""

    def create() -> None:
        nonlocal service
        service = who.create(name)

    timed("create_60", create, lambda: who.running(service) >= 60)
    timed("scale_120", lambda: who.scale(service, 120), lambda: who.running(service) >= 120)
    timed("update_120", lambda: who.update(service), lambda: who.updated(service))
    slots.append(slot_times(who.tasks(service)))
    settle()
    start = time.monotonic()
    bench.hosts.crash(bench.hosts[VICTIM])
    away = who.victim_id()
    marked: list[float] = []

    def back() -> bool:
        if not marked and who.down():
            marked.append(time.monotonic())
        return who.running(service, away_from=away) >= 120

    figures["tasks_back"] = round(
        wait_for(back, f"{who.name}: tasks back", interval=poll) - start, 3
    )
    if not marked:
        marked.append(wait_for(who.down, f"{who.name}: {VICTIM} Down", interval=poll))
    figures["worker_down"] = round(marked[0] - start, 3)
    restart_victim(bench)
    who.remove(service)
    bench.clear()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("docker", "shoal"), help="one orchestrator only")
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or not 0 < args.poll <= 1:
        parser.error("--rounds must be at least 1 and --poll in (0, 1]")
    modes = [args.only] if args.only else ["docker", "shoal"]
    bench_args = argparse.Namespace(replicas=60, poll=args.poll, floor_threads=4, floor="sdk")
    samples: dict[str, dict[str, list[float]]] = {m: {f: [] for f in FIGURES} for m in modes}
    slots: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    try:
        with bench_on_hosts(bench_args) as bench:
            for n in range(args.rounds):
                for mode in modes[n % len(modes) :] + modes[: n % len(modes)]:
                    figures = one_round(bench, Orchestrator(bench, mode), args.poll, slots[mode])
                    print(f"real_peer_timings: {mode} {figures}", file=sys.stderr, flush=True)
                    for figure, value in figures.items():
                        samples[mode][figure].append(value)
    except packages.Unavailable as why:
        print(f"real_peer_timings: {why}", file=sys.stderr)
        return 1
    except (BenchError, SwarmError) as error:
        print(f"real_peer_timings: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("real_peer_timings: interrupted; everything it started was removed", file=sys.stderr)
        return 130
    out = {
        "benchmark": "real_peer_timings",
        "rounds": args.rounds,
        "median_s": {
            m: {f: round(statistics.median(v), 3) for f, v in figs.items()}
            for m, figs in samples.items()
        },
        "min_s": {m: {f: min(v) for f, v in figs.items()} for m, figs in samples.items()},
        "max_s": {m: {f: max(v) for f, v in figs.items()} for m, figs in samples.items()},
        "samples": samples,
        "update_slots": slots,
    }
    text = json.dumps(out, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
