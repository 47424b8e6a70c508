"""The shell as a user meets it: ``help`` lists the commands, a long line is split
in one pass, Ctrl-C behaves as in a shell, and ``swarm init --force-new-cluster``
answers as Docker does instead of crashing."""

from __future__ import annotations

import argparse
import io
import shlex
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.main import main
from cli.sim_shell import HELP, _prompted, run
from cli.words import split


def session(*lines: str, managers: int = 1, workers: int = 1) -> tuple[int, list[str]]:
    out = io.StringIO()
    args = argparse.Namespace(managers=managers, workers=workers, seed=1, echo=False)
    status = run(args, lines=list(lines), out=out)
    return status, out.getvalue().splitlines()


def test_help_lists_every_command_with_a_summary() -> None:
    status, out = session("help")
    assert status == 0
    listed = out[1:]
    assert len(listed) == len(HELP)
    for (command, summary), line in zip(HELP, listed, strict=True):
        assert line.startswith(command) and line.rstrip().endswith(summary) and summary
    for group, verb in (c.split()[:2] for c, _ in HELP if c.split()[0] in ("service", "node")):
        _, said = session(f"{group} {verb} --no-such-flag")
        assert "is not a docker command" not in said[-1] and "unknown command" not in said[-1]


def test_force_new_cluster_answers_as_docker_does() -> None:
    status, out = session("swarm init --force-new-cluster", "node ls", managers=3)
    assert status == 0
    assert out[1].startswith("Swarm initialized: current node (")
    assert any("docker swarm join --token SWMTKN-1-" in line for line in out)
    assert any("Leader" in line for line in out if "manager-1" in line)


def test_a_100000_character_line_is_split_and_refused_in_docker_words() -> None:
    name = "x" * 100_000
    status, out = session(f'service create --name "{name}" nginx', f"service ps '{name}'", "time")
    assert status == 0
    assert out[-1].startswith("t=")  # the shell went on
    assert f'invalid ServiceSpec.Name "{name}"' in out[1]  # the whole name, as one word
    assert out[2] == f"Error response from daemon: service {name} not found"


T = TypeVar("T")
LINES = st.text(alphabet=" \t\nab\\'\"-=", max_size=12)


@given(LINES)
def test_the_splitter_splits_as_shlex_does(line: str) -> None:
    try:
        expected: list[str] | str = shlex.split(line)
    except ValueError as error:
        expected = str(error)
    try:
        got: list[str] | str = split(line)
    except ValueError as error:
        got = str(error)
    assert got == expected


def unless_interrupted(call: Callable[[], T]) -> T:
    """``call()``, failing the test (not ending pytest) if Ctrl-C escapes it."""
    try:
        return call()
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped with a traceback")


def interrupted_after(*lines: str) -> Iterator[str]:
    yield from lines
    raise KeyboardInterrupt


def test_ctrl_c_during_a_command_ends_the_shell_with_130() -> None:
    out = io.StringIO()
    args = argparse.Namespace(managers=1, workers=0, seed=1, echo=False)
    assert unless_interrupted(lambda: run(args, lines=interrupted_after("time"), out=out)) == 130
    assert out.getvalue().splitlines()[-1] == "^C: interrupted; the shell ends"


def test_ctrl_c_at_the_prompt_drops_the_line_and_prompts_again() -> None:
    typed: list[str | type[BaseException]] = ["time", KeyboardInterrupt, "help", EOFError]

    def read(prompt: str) -> str:
        got = typed.pop(0)
        if isinstance(got, type):
            raise got
        return got

    out = io.StringIO()
    assert unless_interrupted(lambda: list(_prompted(out, read))) == ["time", "help"]
    assert out.getvalue() == "^C\n\n"


def test_ctrl_c_anywhere_in_the_cli_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import sim_run

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(sim_run, "main", interrupted)
    assert unless_interrupted(lambda: main(["sim", "run", "any.yml"])) == 130
    assert "Traceback" not in capsys.readouterr().err
