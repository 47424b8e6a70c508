"""The console script: --help, --version, the demo, and exit statuses."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from cli.demo import run_demo
from cli.main import EXIT_BROKEN_PIPE, EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, main, version


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"shoal {version()}"


def test_help_lists_the_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_no_command_prints_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: shoal" in capsys.readouterr().out


def test_unknown_command_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == EXIT_USER_ERROR
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_demo_tells_each_story_to_its_end() -> None:
    out = io.StringIO()
    assert run_demo(seed=1, out=out) == 0
    text = out.getvalue()
    assert "rejected   No such image: local/nope:1" in text
    assert "failed     task: non-zero exit (1)" in text
    assert "31.0s  web.1  shutdown" in text  # scaled down at 30 s; the agent backs off 1 s
    assert "8.0s  job.1  complete" in text
    summary = text.split("At 60s:")[1]
    assert summary.count("Running        Running") == 2


def test_demo_is_deterministic_per_seed() -> None:
    first, again, other = io.StringIO(), io.StringIO(), io.StringIO()
    run_demo(seed=5, out=first)
    run_demo(seed=5, out=again)
    run_demo(seed=6, out=other)
    assert first.getvalue() == again.getvalue() != other.getvalue()


def test_console_script_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--seed", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Agent status reports" in done.stdout


def test_a_bad_flag_value_exits_with_status_one_and_names_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--seed", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "argument --seed: invalid int value: 'x'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("buffered", [True, False])
def test_a_reader_that_leaves_ends_the_command_quietly(buffered: bool) -> None:
    """``shoal ... | head``: once the reader has gone, the command stops as a Unix
    tool does (the shell's status for SIGPIPE), with no traceback; also when the
    output waited in Python's buffer until the end (the demo's fits in it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    child = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "demo", "--seed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader leaves before a line is written
    errors = child.stderr.read()
    assert child.wait() == EXIT_BROKEN_PIPE
    assert errors == ""


def test_a_broken_pipe_that_is_not_our_output_is_reported_as_a_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A socket's broken pipe (a daemon gone mid-reply) must not pass for a reader
    that had enough: our output is healthy here, so it is a bug, said loudly."""

    def broken(**_: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as back:
        with os.fdopen(write_fd, "w") as out:
            monkeypatch.setattr(sys, "stdout", out)
            monkeypatch.setattr(sys, "stderr", out)
            monkeypatch.setattr("cli.demo.run_demo", broken)
            assert main(["demo"]) == EXIT_INTERNAL_ERROR
            monkeypatch.undo()
        assert "shoal: internal error (this is a bug)" in back.read()
