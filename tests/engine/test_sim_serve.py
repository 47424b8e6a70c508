"""``shoal sim serve``: a paced simulated swarm behind the Engine API, driven by
docker-py, with shoal's own endpoints under /shoal/."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import stat
import subprocess
import tempfile
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from cli import sim_serve
from cli.main import main
from core.manager.requests import ClientReply
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from sim.serve import REPLY_DEADLINE_SECONDS, PacedWorld

ROOT = Path(__file__).resolve().parents[2]
SHOAL = ROOT / ".venv" / "bin" / "shoal"
CRASH_SCENARIO = """\
name: worker crash served
cluster: {managers: 1, workers: 2}
steps:
  - {at: 5s, fault: crash worker-1}
  - {at: 6s, fault: pause worker-2, for: 10s}
"""


def options(**given: Any) -> types.SimpleNamespace:
    defaults = dict(
        scenario=None, socket="", speed=1.0, seed=None, managers=None, workers=None, node=None
    )
    return types.SimpleNamespace(**{**defaults, **given})


class Served:
    """A served swarm and a docker-py client on it (``shoal`` for /shoal/ calls)."""

    def __init__(self, session: sim_serve.Session, path: Path) -> None:
        self.session, self.path = session, path
        self.client = docker.APIClient(base_url=f"unix://{path}", version="auto", timeout=60)

    def shoal(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        kwargs.setdefault("timeout", 30)  # docker-py's own calls have theirs
        response = self.client.request(method, self.client.base_url + path, **kwargs)
        body = response.json() if response.content else None
        return response.status_code, body

    def hosts(self) -> dict[str, dict[str, Any]]:
        status, rows = self.shoal("GET", "/shoal/hosts")
        assert status == 200
        return {row["Name"]: row for row in rows}

    def nodes(self) -> dict[str, tuple[str, str]]:
        return {
            n["Description"]["Hostname"]: (n["Spec"]["Role"], n["Status"]["State"])
            for n in self.client.nodes()
        }


@contextlib.contextmanager
def serving(**given: Any) -> Iterator[Served]:
    """``shoal sim serve`` in-process: its loop on a thread, stopped at the end."""
    with tempfile.TemporaryDirectory() as directory:
        if "scenario_text" in given:
            scenario = Path(directory) / "scenario.yml"
            scenario.write_text(given.pop("scenario_text"))
            given["scenario"] = str(scenario)
        path = Path(directory) / "docker.sock"
        session = sim_serve.session_from(options(socket=str(path), **given))
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        result: list[int] = []
        err = io.StringIO()

        def run() -> None:
            result.append(
                loop.run_until_complete(sim_serve.serve(session, path, stop, err, signals=False))
            )

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        for _ in range(1000):  # until it says it serves (the socket then listens)
            if "serving" in err.getvalue() or not thread.is_alive():
                break
            time.sleep(0.01)
        served = Served(session, path)
        try:
            yield served
        finally:
            served.client.close()
            loop.call_soon_threadsafe(stop.set)
            thread.join(30)
            loop.close()
            assert result == [0], err.getvalue()
            assert not path.exists()


# -- docker-py's swarm calls ---------------------------------------------------------------------


def test_docker_py_inits_inspects_and_leaves_a_swarm() -> None:
    with serving() as served:
        client = served.client
        assert client.init_swarm()
        assert served.nodes() == {"manager-1": ("manager", "ready")}
        swarm = client.inspect_swarm()
        assert swarm["JoinTokens"]["Worker"].startswith("SWMTKN-")
        assert served.hosts()["manager-1"]["Role"] == "manager"
        assert client.leave_swarm(force=True)
        with pytest.raises(docker.errors.APIError) as refused:
            client.nodes()
        assert refused.value.status_code == 503
        assert served.hosts()["manager-1"]["Role"] == ""


def test_other_hosts_join_the_api_hosts_swarm() -> None:
    with serving() as served:
        status, body = served.shoal("POST", "/shoal/hosts/worker-1/join")
        assert status == 503 and "not a swarm manager" in body["message"]  # no swarm yet
        served.client.init_swarm()
        assert served.shoal("POST", "/shoal/hosts/worker-1/join")[0] == 200
        assert served.shoal("POST", "/shoal/hosts/worker-2/join?role=manager")[0] == 200
        served.shoal("POST", "/shoal/advance?seconds=10")
        assert served.nodes() == {
            "manager-1": ("manager", "ready"),
            "worker-1": ("worker", "ready"),
            "worker-2": ("manager", "ready"),
        }
        status, body = served.shoal("POST", "/shoal/hosts/nobody/join")
        assert status == 404 and body == {"message": "no such host: nobody"}
        status, body = served.shoal("POST", "/shoal/hosts/worker-1/join?role=boss")
        assert status == 400 and "invalid role" in body["message"]
        status, body = served.shoal("POST", "/shoal/hosts/worker-1/join")
        assert status == 503 and "already part of a swarm" in body["message"]


def test_api_speaks_for_the_node_named() -> None:
    with serving(node="worker-2") as served:
        assert served.client.init_swarm()
        nodes = served.nodes()
        assert nodes == {"worker-2": ("manager", "ready")}
        assert served.hosts()["worker-2"]["Api"] is True


# -- a scenario's steps and shoal's endpoints ------------------------------------------------------


def test_a_scenario_crash_shows_the_node_down_once_time_advances() -> None:
    with serving(scenario_text=CRASH_SCENARIO) as served:
        assert served.nodes()["worker-1"] == ("worker", "ready")  # formed as sim run forms it
        status, clock = served.shoal("POST", "/shoal/advance?seconds=8")
        assert status == 200 and clock["Time"] >= 8.0
        hosts = served.hosts()
        assert hosts["worker-1"]["State"] == "crashed"
        assert hosts["worker-2"]["State"] == "paused"  # for 10 s from t=6
        served.shoal("POST", "/shoal/advance?seconds=30")
        assert served.nodes()["worker-1"] == ("worker", "down")
        assert served.hosts()["worker-2"]["State"] == "up"  # resumed when its 'for' ended


def test_time_and_advance_move_simulated_time_on() -> None:
    with serving(speed=0.001) as served:  # the pace barely moves it: advance does
        status, before = served.shoal("GET", "/shoal/time")
        assert status == 200 and before["Speed"] == 0.001
        status, after = served.shoal("POST", "/v1.41/shoal/advance?seconds=12.5")
        assert status == 200
        assert 12.5 <= after["Time"] - before["Time"] < 13.0
        assert after["World"] - after["Time"] == before["World"] - before["Time"]


def test_faults_in_the_scenario_language() -> None:
    with serving() as served:
        served.client.init_swarm()
        served.shoal("POST", "/shoal/hosts/worker-1/join")
        status, body = served.shoal("POST", "/shoal/faults", json={"fault": "crash leader"})
        assert status == 200 and body["Victim"] == "manager-1"
        assert served.hosts()["manager-1"]["State"] == "crashed"
        with pytest.raises(docker.errors.APIError) as refused:  # a dead dockerd
            served.client.nodes()
        assert refused.value.status_code == 503
        assert "Cannot connect to the Docker daemon" in str(refused.value.explanation)
        assert served.shoal("POST", "/shoal/faults", json={"fault": "boot manager-1"})[0] == 200
        status, body = served.shoal(
            "POST", "/shoal/faults", json={"fault": "isolate worker-1", "for": "5s"}
        )
        assert status == 200 and body["Victim"] == "worker-1"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?seconds=",
        "?seconds=abc",
        "?seconds=0",
        "?seconds=-3",
        "?seconds=nan",
        "?seconds=inf",
        "?seconds=1e9",
    ],
)
def test_advance_refuses_a_bad_duration(query: str, served_once: Served) -> None:
    status, body = served_once.shoal("POST", "/shoal/advance" + query)
    assert status == 400 and body["message"].startswith("invalid seconds")


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("", "request body"),
        ("[1]", "was expected"),
        ("{", "invalid JSON body"),
        ('{"for": "5s"}', "invalid fault"),
        ('{"fault": 3}', "invalid fault"),
        ('{"fault": "explode manager-1"}', "unknown fault 'explode'"),
        ('{"fault": "crash nobody"}', "crash needs a host"),
        ('{"fault": "boot manager-1", "for": "5s"}', "last 'for' a while"),
        ('{"fault": "crash manager-1", "for": "soon"}', "not a duration"),
        ('{"fault": "crash manager-1", "for": true}', "invalid for"),
        ('{"fault": "crash manager-1", "at": "5s"}', "invalid field 'at'"),
        ('{"fault": "kill web"}', "kill needs a task"),
    ],
)
def test_faults_refuse_bad_input(body: str, said: str, served_once: Served) -> None:
    status, answer = served_once.shoal(
        "POST", "/shoal/faults", data=body, headers={"Content-Type": "application/json"}
    )
    assert status == 400, answer
    assert said in answer["message"]


def test_a_fault_that_cannot_strike_now_is_a_conflict(served_once: Served) -> None:
    status, body = served_once.shoal("POST", "/shoal/faults", json={"fault": "crash leader"})
    assert status == 409 and body == {"message": "no leader to fault"}
    status, body = served_once.shoal("POST", "/shoal/faults", json={"fault": "kill web.1"})
    assert status == 409 and "no manager is up" in body["message"]


@pytest.fixture(scope="module")
def served_once() -> Iterator[Served]:
    """One server for the tests that only send it bad input (no swarm formed)."""
    with serving() as served:
        yield served


# -- the paced world ---------------------------------------------------------------------------


class FakeWall:
    """A wall clock that moves ``tick`` seconds each time it is read."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def paced(speed: float = 1.0, tick: float = 1e-4) -> tuple[PacedWorld, FakeWall]:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(1, 1)), 1)
    world.boot_all()
    wall = FakeWall(tick)
    return PacedWorld(world, speed, wall), wall


def catch_up(world: PacedWorld) -> None:
    """Pacing steps until one reaches the pace it began with."""
    for _ in range(10_000):
        if not world.step():
            return
    raise AssertionError("the pacer never caught up with its pace")


def test_a_pacing_step_runs_to_the_pace_of_its_start_and_no_further() -> None:
    world, wall = paced(speed=100.0)
    wall.now += 1.0  # a second of wall time: 100 simulated seconds due
    target = world.target()
    assert world.step() is True  # behind: bounded work, then the loop serves
    assert world.world.env.now < target
    catch_up(world)
    # the last step stopped at the pace it saw when it began, though the wall moved on
    assert world.world.env.now < world.target()
    assert world.world.env.now >= target


def test_a_waiter_wakes_at_its_instant() -> None:
    world, wall = paced()

    async def scenario() -> float:
        waiting = asyncio.ensure_future(world.at(world.world.env.now + 2.537))
        await asyncio.sleep(0)
        wall.now += 10.0
        while not waiting.done():
            world.step()
            await asyncio.sleep(0)
        return world.world.env.now

    assert asyncio.run(scenario()) == pytest.approx(2.537, abs=1e-9)  # not a chunk later


def test_a_call_to_a_host_that_crashes_while_it_waits_is_answered_503() -> None:
    world, _ = paced()

    async def scenario() -> ClientReply:
        world.world.hosts["manager-1"].pause()  # the request queues, unanswered
        call = asyncio.ensure_future(world.call("manager-1", "NodeList", {}))
        await asyncio.sleep(0)
        world.world.hosts["manager-1"].crash()
        world.step()
        await asyncio.sleep(0)  # the call's task takes its answer
        assert call.done()  # not left hanging
        return call.result()

    reply = asyncio.run(scenario())
    assert not reply.ok and reply.code == "Unavailable"
    assert reply.error == "Cannot connect to the Docker daemon"


def test_a_call_to_a_paused_host_is_given_up_after_the_deadline() -> None:
    world, wall = paced()

    async def scenario() -> tuple[ClientReply, float]:
        world.world.hosts["manager-1"].pause()
        started = world.world.env.now
        call = asyncio.ensure_future(world.call("manager-1", "NodeList", {}))
        await asyncio.sleep(0)
        wall.now += REPLY_DEADLINE_SECONDS - 1
        catch_up(world)
        assert not call.done()
        wall.now += 2
        catch_up(world)
        await asyncio.sleep(0)
        assert call.done()
        return call.result(), world.world.env.now - started

    reply, waited = asyncio.run(scenario())
    assert not reply.ok and reply.code == "Unavailable" and "did not answer" in reply.error
    assert waited >= REPLY_DEADLINE_SECONDS


# -- the command ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--speed", "0"], "--speed must be above 0"),
        (["--speed", "nan"], "--speed must be above 0"),
        (["--managers", "0"], "at least 1 manager"),
        (["--workers", "-1"], "no fewer than 0 workers"),
        (["--node", "nobody"], "--node nobody: no such host"),
        (["SCENARIO", "--managers", "2"], "the scenario's own"),
        (["MISSING"], "cannot be read"),
        (["BAD"], "unknown fault 'explode'"),
        (["--host-sockets", "MISSING"], "no such directory"),
    ],
)
def test_bad_flags_and_files_exit_1_with_a_message(
    argv: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.yml").write_text(CRASH_SCENARIO)
    (tmp_path / "bad.yml").write_text("steps:\n  - {at: 1s, fault: explode manager-1}\n")
    files = {"SCENARIO": "s.yml", "MISSING": "missing.yml", "BAD": "bad.yml"}
    argv = [str(tmp_path / files[a]) if a in files else a for a in argv]
    code = main(["sim", "serve", *argv, "--socket", str(tmp_path / "d.sock")])
    err = capsys.readouterr().err
    assert code == 1
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "d.sock").exists()


def shoal_exits(*argv: str) -> subprocess.CompletedProcess[str]:
    """The console script, bounded: one that wrongly serves times out and fails."""
    return subprocess.run(
        [str(SHOAL), *argv], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def test_a_socket_where_it_cannot_be_is_refused(tmp_path: Path) -> None:
    missing = shoal_exits("sim", "serve", "--socket", str(tmp_path / "no" / "d.sock"))
    assert missing.returncode == 1 and "no directory" in missing.stderr
    (tmp_path / "file").write_text("keep me")
    taken = shoal_exits("sim", "serve", "--socket", str(tmp_path / "file"))
    assert taken.returncode == 1 and "not a socket" in taken.stderr
    assert (tmp_path / "file").read_text() == "keep me"


def test_the_console_script_serves_until_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    process = subprocess.Popen(
        [str(SHOAL), "sim", "serve", "--socket", str(path), "--speed", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stderr is not None
        assert "serving a simulated swarm" in process.stderr.readline()  # then it listens
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        if os.geteuid() == 0:
            assert path.stat().st_gid == 0
        client = docker.APIClient(base_url=f"unix://{path}", version="auto", timeout=60)
        assert client.init_swarm()
        assert [n["Description"]["Hostname"] for n in client.nodes()] == ["manager-1"]
        client.close()
        second = shoal_exits("sim", "serve", "--socket", str(path))
        assert second.returncode == 1 and "a server is listening there" in second.stderr
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not path.exists()
