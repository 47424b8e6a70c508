"""A simulated swarm at wall-clock pace, as the backend of Docker's Engine API
(``shoal sim serve``).

:class:`PacedWorld` runs inside an asyncio loop: a pacing task moves SimPy's clock
to ``start + (wall - start_wall) * speed`` in small, bounded runs, and between them
the loop serves HTTP. A control API call is sent to its host at once and answered
when the world produces the reply, as a dockerd answers; a host that crashed (or
crashes while the call waits) answers as a dead dockerd, ``Cannot connect to the
Docker daemon`` (503), and one that never answers (paused, SIGSTOPped) is given up
after :data:`REPLY_DEADLINE_SECONDS` of simulated time.

The interleaving of calls with simulated time depends on the wall clock, so a
served run is not replayable as ``shoal sim run`` is: ``speed`` and
:meth:`PacedWorld.advance` are how a test takes control of time.

Nothing here knows HTTP (the routes are real/engine's and cli/sim_serve.py's).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.manager.requests import REQUEST_TIMEOUT_SECONDS, ClientReply
from sim.cluster import ClusterWorld, HostState

PACE_SECONDS = 0.01  # wall time between pacing steps when the world has caught up
CHUNK_SECONDS = 0.1  # simulated seconds per SimPy run: the work done between checks
BUSY_SECONDS = 0.02  # wall time the pacer may hold the loop before letting it serve
REPLY_DEADLINE_SECONDS = REQUEST_TIMEOUT_SECONDS + 10.0  # past the core's own timeout
DEAD_DAEMON = "Cannot connect to the Docker daemon"  # as sim.cluster answers for a down host
EPSILON = 1e-9


@dataclass
class _Pending:
    host: str
    incarnation: int
    deadline: float  # simulated
    future: asyncio.Future[ClientReply]


class PacedWorld:
    """``world`` run at ``speed`` times the wall clock (``wall``: a monotonic clock
    in seconds, the loop's by default) once :meth:`run` is started."""

    def __init__(
        self, world: ClusterWorld, speed: float = 1.0, wall: Callable[[], float] | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.world, self.speed = world, speed
        self._wall = wall or time.monotonic
        self.start = world.env.now  # the served run's time 0
        self._base_sim, self._base_wall = world.env.now, self._wall()
        self._pending: dict[str, _Pending] = {}
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    # -- time ------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Simulated seconds since the run started serving."""
        return self.world.env.now - self.start

    def target(self) -> float:
        """The simulated instant the world should have reached by now."""
        return self._base_sim + (self._wall() - self._base_wall) * self.speed

    def restart_clock(self) -> None:
        """Pace from here on from the world's present (after a setup that ran it)."""
        self._base_sim, self._base_wall = self.world.env.now, self._wall()

    async def at(self, instant: float) -> None:
        """Wait until the world reaches ``instant`` (absolute simulated time); the
        pacer stops there, so what the waiter does happens at that instant."""
        if self.world.env.now >= instant - EPSILON:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (instant, next(self._order), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Run the world ``seconds`` ahead of its pace now (in bounded runs, the loop
        serving between them), and return when it got there."""
        now, target = self.world.env.now, self.target()
        self._base_sim += seconds + max(0.0, now - target)  # from where the world is
        goal = max(now, target) + seconds
        await self.at(goal)

    # -- calls -----------------------------------------------------------------------------

    async def call(self, host: str, method: str, params: Mapping[str, Any]) -> ClientReply:
        """``method`` sent to ``host``, and its reply when the world produces it."""
        world = self.world
        future: asyncio.Future[ClientReply] = asyncio.get_running_loop().create_future()
        request_id = world.send_request(host, method, **params)
        incarnation = world.hosts[host].incarnation
        deadline = world.env.now + REPLY_DEADLINE_SECONDS
        self._pending[request_id] = _Pending(host, incarnation, deadline, future)
        self._settle()  # a down host answers at once
        try:
            return await future
        finally:
            self._pending.pop(request_id, None)
            world.replies.pop(request_id, None)

    # -- pacing ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Pace the world until cancelled; a failure in the world (a checker's
        violation, a bug) fails every waiting call and is raised."""
        try:
            while True:
                hurried = self.step()
                await asyncio.sleep(0 if hurried else PACE_SECONDS)
        except asyncio.CancelledError:
            self._fail_all("the simulated swarm is shutting down")
            raise
        except Exception as error:
            self._fail_all(f"the simulated swarm stopped: {error}")
            raise

    def step(self) -> bool:
        """One bounded run towards the target; True when the loop should come back
        at once (a waiter woke at its instant, or the world is behind its pace)."""
        env, started, target = self.world.env, self._wall(), self.target()
        while True:
            goal = min(target, env.now + CHUNK_SECONDS)
            if self._waiters:
                goal = min(goal, self._waiters[0][0])
            if goal > env.now:
                env.run(until=goal)
            self._settle()
            if self._wake():
                return True
            if env.now >= target - EPSILON:
                return False
            if self._wall() - started >= BUSY_SECONDS:
                return True

    def _settle(self) -> None:
        """Answer every call whose reply came, whose host went down, or that waited
        past its deadline (in the order they were made)."""
        world = self.world
        for request_id, pending in list(self._pending.items()):
            if pending.future.done():
                continue
            host = world.hosts[pending.host]
            reply = world.replies.get(request_id)
            if reply is None and (
                host.state is HostState.CRASHED or host.incarnation != pending.incarnation
            ):
                reply = unavailable(request_id, DEAD_DAEMON)
            elif reply is None and world.env.now >= pending.deadline:
                reply = unavailable(
                    request_id,
                    f"{pending.host} did not answer in {REPLY_DEADLINE_SECONDS:g}s "
                    "of simulated time (is it paused?)",
                )
            if reply is not None:
                pending.future.set_result(reply)

    def _wake(self) -> bool:
        woke = False
        while self._waiters and self._waiters[0][0] <= self.world.env.now + EPSILON:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                woke = True
        return woke

    def _fail_all(self, message: str) -> None:
        """Nothing waits on a world that no longer runs: calls fail, waits end."""
        for request_id, pending in list(self._pending.items()):
            if not pending.future.done():
                pending.future.set_result(unavailable(request_id, message))
        for _, _, future in self._waiters:
            future.cancel()
        self._waiters.clear()


def unavailable(request_id: str, message: str) -> ClientReply:
    return ClientReply(request_id, False, error=message, code="Unavailable")


def host_info(world: ClusterWorld, host: str) -> dict[str, Any]:
    """The host's :meth:`core.node.SwarmNode.info`, or who it is while it is down."""
    return world.hosts[host].info()


class SimBackend:
    """The Engine API's backend: the host ``host`` of a paced world, as
    ``DOCKER_HOST`` names one dockerd."""

    def __init__(self, paced: PacedWorld, host: str) -> None:
        if host not in paced.world.hosts:
            raise ValueError(f"no host {host}")
        self.paced, self.host = paced, host

    async def call(self, method: str, params: dict[str, Any]) -> ClientReply:
        return await self.paced.call(self.host, method, params)

    def info(self) -> Mapping[str, Any]:
        return host_info(self.paced.world, self.host)
