"""``docker swarm init --autolock``, ``swarm update --autolock``, ``swarm unlock-key
[-q] [--rotate]`` and ``swarm unlock`` typed at a simulated swarm: Docker's output,
the docker CLI's own refusals, and a restarted manager that stays locked until its
key is typed at the prompt."""

from __future__ import annotations

import argparse
import io
import random
import re

from cli.scenario.schema import Step
from cli.scenario.step_command import run_step
from cli.sim_shell import Shell, run
from sim.cluster import ClusterConfig, ClusterWorld, HostState, standard_hosts

KEY = re.compile(r"SWMKEY-1-[A-Za-z0-9+/]{43}")
BANNER = (
    "To unlock a swarm manager after it restarts, run the `docker swarm unlock`\n"
    "command and provide the following key:\n\n    {key}\n\n"
    "Remember to store this key in a password manager, since without it you\n"
    "will not be able to restart the manager.\n"
)


def session(*lines: str) -> str:
    out = io.StringIO()
    args = argparse.Namespace(managers=3, workers=1, seed=5, echo=True)
    assert run(args, lines=list(lines), out=out) == 0
    return out.getvalue()


def _keys(text: str) -> list[str]:
    return KEY.findall(text)


def test_turning_autolock_on_rotating_and_off_prints_what_docker_prints() -> None:
    out = session(
        "swarm unlock-key",
        "swarm unlock-key --rotate",
        "swarm update --autolock=maybe",
        "swarm update --autolock",
        "swarm unlock-key -q",
        "swarm unlock-key --rotate",
        "swarm unlock-key --rotate -q",
        "swarm update --autolock=true",
        "swarm update --autolock=false",
        "swarm unlock-key",
    )
    blocks = out.split("shoal> ")[1:]
    assert blocks[0] == "swarm unlock-key\nno unlock key is set\n"
    assert blocks[1] == (
        "swarm unlock-key --rotate\ncannot rotate because autolock is not turned on\n"
    )
    assert 'invalid argument "maybe" for "--autolock" flag' in blocks[2]
    first = _keys(blocks[3])[0]
    assert blocks[3] == "swarm update --autolock\nSwarm updated.\n" + BANNER.format(key=first)
    assert blocks[4] == f"swarm unlock-key -q\n{first}\n"
    second = _keys(blocks[5])[0]
    assert second != first
    assert blocks[5] == (
        "swarm unlock-key --rotate\nSuccessfully rotated manager unlock key.\n"
        + BANNER.format(key=second)
    )
    third = blocks[6].splitlines()[1]
    assert KEY.fullmatch(third) and third not in (first, second)
    # already on: the update says so without the key, and the key stays
    assert blocks[7] == "swarm update --autolock=true\nSwarm updated.\n"
    assert blocks[8] == "swarm update --autolock=false\nSwarm updated.\n"
    assert blocks[9] == "swarm unlock-key\nno unlock key is set\n"


def test_a_restarted_manager_is_unlocked_with_the_key_typed_at_the_prompt() -> None:
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(3, 1)), 5)
    world.form_swarm()
    out = io.StringIO()
    shell = Shell(world, out, world.streams.child("shell"))

    def typed(*lines: str) -> list[str]:
        out.seek(0)
        out.truncate()
        assert shell.run(lines, echo=True) == 0
        return out.getvalue().split("shoal> ")[1:]

    key = _keys("".join(typed("swarm update --autolock", "advance 5s")))[0]
    old = _keys("".join(typed("swarm unlock-key --rotate", "advance 5s")))[0]
    assert old != key
    key, old = old, key
    # the docker CLI asks Info first: no key is read (the next line is a command)
    running, worker, listed_before = typed(
        "@manager-3 swarm unlock", "@worker-1 swarm unlock", "@manager-3 node ls"
    )
    assert running == "@manager-3 swarm unlock\nError: swarm is not locked\n"
    assert worker == "@worker-1 swarm unlock\nError: swarm is not locked\n"
    assert listed_before.count("Ready") == 4
    typed("crash manager-3", "boot manager-3")
    assert world.hosts["manager-3"].state is HostState.LOCKED
    (refused,) = typed("@manager-3 node ls")
    assert refused == (
        "@manager-3 node ls\nError response from daemon: Swarm is encrypted and needs to be "
        'unlocked before it can be used. Please use "docker swarm unlock" to unlock it.\n'
    )
    assert typed("@manager-3 swarm unlock", "SWMKEY-1-n%pe", "@manager-3 swarm unlock", old) == [
        "@manager-3 swarm unlock\nError response from daemon: invalid key string\n",
        "@manager-3 swarm unlock\nError response from daemon: swarm could not be unlocked: "
        "invalid key provided\n",
    ]
    assert world.hosts["manager-3"].state is HostState.LOCKED
    assert typed("@manager-3 swarm unlock", key, "advance 20s")[0] == "@manager-3 swarm unlock\n"
    assert world.hosts["manager-3"].state is HostState.UP
    listed = typed("@manager-3 node ls")[0]
    assert listed.count("Ready") == 4, listed


def test_init_with_autolock_prints_the_key_after_the_join_advice() -> None:
    out = io.StringIO()
    args = argparse.Namespace(managers=1, workers=0, seed=3, echo=False)
    assert run(args, lines=["swarm leave --force", "swarm init --autolock"], out=out) == 0
    text = out.getvalue()
    key = _keys(text)[0]
    assert text.endswith(
        "'docker swarm join-token manager' and follow the instructions.\n" + BANNER.format(key=key)
    )


def test_a_scenario_step_that_unlocks_reads_no_stdin_and_fails_cleanly() -> None:
    """A scenario has no standard input: the key read is empty, and a swarm that is
    not locked is told so before any key is read; either way the step fails in
    Docker's words, never with a traceback. A worker's unlock-key is wrapped as the
    docker CLI wraps it."""
    world = ClusterWorld(ClusterConfig(hosts=standard_hosts(1, 1)), 6)
    world.form_swarm()

    def call(method: str, params: dict[str, object]) -> object:
        return world.call("manager-1", method, **params)

    verdict = run_step(Step(at=0, run="docker swarm unlock"), 0.0, random.Random(1), call,
                       "manager-1", ())  # fmt: skip
    assert verdict is not None and not verdict.passed
    assert "Error: swarm is not locked" in verdict.seen
    world.call("manager-1", "SwarmUpdate", autolock=True)
    world.run_for(5)
    world.restart(world.hosts["manager-1"])
    verdict = run_step(Step(at=0, run="docker swarm unlock"), 0.0, random.Random(1), call,
                       "manager-1", ())  # fmt: skip
    assert verdict is not None and not verdict.passed
    assert "invalid key string" in verdict.seen

    out = io.StringIO()
    shell = Shell(world, out, world.streams.child("shell"))
    assert shell.run(["@worker-1 swarm unlock-key"]) == 0
    assert out.getvalue() == (
        "could not fetch unlock key: Error response from daemon: This node is not a swarm "
        "manager. Worker nodes can't be used to view or modify cluster state. Please run "
        "this command on a manager node or promote the current node to a manager.\n"
    )
