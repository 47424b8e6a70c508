"""Fuzzed command lines and scenario files: whatever comes in, the answer is a
result or one user error that names the problem, never another exception."""

from __future__ import annotations

import io
import random

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.commands.flags import UsageError
from cli.commands.language import parse as parse_command
from cli.scenario.conditions import BadCondition, read
from cli.scenario.schema import ScenarioError
from cli.scenario.schema import parse as parse_scenario

# bounded in CI, many more nightly (HYPOTHESIS_PROFILE)
NIGHTLY = settings.default.max_examples > 200
LINES = 5_000 if NIGHTLY else 300
FILES = 5_000 if NIGHTLY else 300
TEXTS = 2_000 if NIGHTLY else 200
SHELL = 1_000 if NIGHTLY else 60

WORDS = st.sampled_from(
    [
        "docker", "service", "node", "create", "update", "scale", "rollback", "rm", "ls", "ps",
        "inspect", "logs", "promote", "demote", "--name", "--replicas", "-p", "--publish",
        "--mode", "global", "replicated-job", "--update-parallelism", "--update-delay",
        "--update-failure-action", "--rollback", "--force", "-d", "-q", "--env-add", "--env-rm",
        "--label-add", "--constraint", "--placement-pref", "--reserve-cpu", "--reserve-memory",
        "--availability", "drain", "--role", "--filter", "--format", "json", "--health-cmd",
        "--no-healthcheck", "--env-file", "--image", "web", "web=3", "nginx:1", "8080:80",
        "10s", "1.5", "-1", "abc", "=", "--", "-", "spread=node.labels.rack", "published=80",
        "512M", "x=y", "'", '"', "inf", "nan", "sNaN", "1e999999", "99999999999",
        "99999999999999999999999", "--detach=true", "-d=false", "web=0", "--publish-rm",
        "--rollback-monitor", "--restart-max-attempts", "--health-interval",
    ]
)  # fmt: skip


@settings(max_examples=LINES)
@given(words=st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=10))
def test_command_lines_give_commands_or_a_usage_error(words: list[str]) -> None:
    try:
        parse_command(words, random.Random(1), read_file=lambda path: "A=1\n")
    except UsageError as error:
        assert error.message
    line = " ".join(words)
    try:
        parse_command(line, random.Random(1), read_file=lambda path: "A=1\n")
    except UsageError as error:
        assert error.message


SCALARS = st.one_of(
    st.integers(-5, 500),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=15),
    st.booleans(),
    st.none(),
    st.sampled_from(["10s", "1m", "0s", "service web running 1/1", "crash leader", "isolate x"]),
)
KEYS = st.sampled_from(
    [
        "name", "seed", "cluster", "network", "steps", "expect", "duration", "managers",
        "workers", "labels", "images", "spare", "at", "run", "fault", "for", "on", "fails",
        "always", "by", "check", "latency_min", "loss", "exit_after", "worker-1", "app:1", "x",
    ]
)  # fmt: skip
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=20,
)


@settings(max_examples=FILES)
@given(tree=st.dictionaries(KEYS, TREES, max_size=7))
def test_scenario_files_give_a_scenario_or_an_error_naming_the_place(
    tree: dict[str, object],
) -> None:
    text = yaml.safe_dump(tree)
    try:
        scenario = parse_scenario(text, "fuzz.yml")
    except ScenarioError as error:
        assert str(error).startswith("fuzz.yml")
        return
    for expectation in scenario.expectations:
        try:
            read(expectation.check)
        except BadCondition as error:
            assert str(error)


@settings(max_examples=TEXTS)
@given(text=st.text(max_size=80))
def test_any_text_as_a_scenario_is_a_scenario_or_its_error(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.yml")
    except ScenarioError as error:
        assert str(error).startswith("fuzz.yml")


_WORLD: list[object] = []


def _shell() -> object:
    """One small swarm for every example (state carries over: what matters is that
    no line crashes the shell)."""
    if not _WORLD:
        from cli.sim_shell import Shell
        from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts

        world = ClusterWorld(ClusterConfig(hosts=standard_hosts(1, 1)), 1)
        world.form_swarm()
        _WORLD.append(Shell(world, io.StringIO(), random.Random(1)))
    return _WORLD[0]


@settings(max_examples=SHELL)
@given(words=st.lists(st.one_of(WORDS, st.sampled_from(["-d", "advance", "1s"])), max_size=8))
def test_shell_lines_never_crash(words: list[str]) -> None:
    shell = _shell()
    assert shell.handle("service " + " ".join(words))  # type: ignore[attr-defined]
    assert shell.handle("node " + " ".join(words))  # type: ignore[attr-defined]
