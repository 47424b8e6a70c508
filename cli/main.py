"""The ``shoal`` console script: argument parsing and output only.

User mistakes exit with status 1 and one line naming the problem; an unexpected
exception is a bug in shoal and exits with status 70 (EX_SOFTWARE) with a traceback;
Ctrl-C exits with status 130, without one.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from core.errors import ShoalError

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a reader that left


def version() -> str:
    try:
        return metadata.version("shoal")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class Parser(argparse.ArgumentParser):
    """argparse with shoal's exit status for user mistakes (1, not argparse's 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def real_client_groups() -> tuple[str, ...]:
    """The Docker command groups ``shoal`` sends to a real daemon."""
    from cli.real_client import GROUPS

    return GROUPS


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="shoal",
        description="Docker Swarm mode rebuilt in Python, tested to destruction: "
        "a deterministic simulated cluster and a real backend sharing one core.",
    )
    parser.add_argument("--version", action="version", version=f"shoal {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="drive tasks through the agent's state machine and show their history",
        description="Runs SwarmKit's agent task controller against a scripted executor "
        "and prints each task's states as `docker service ps` would.",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed for task ids (default 1)")
    from cli import sim_raft, sim_run, sim_serve, sim_shell, sim_sweep

    sim = sim_raft.add_parser(commands)
    sim_run.add_parser(sim)
    sim_sweep.add_parser(sim)
    sim_shell.add_parser(sim)
    sim_serve.add_parser(sim)
    from cli import real_client
    from real import daemon

    daemon.add_parser(commands)
    real_client.add_parsers(parser, commands)
    from cli import real_run

    real_run.add_parser(commands)
    from cli import fidelity_cmd

    fidelity_cmd.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        code = _dispatch(parser, args)
        sys.stdout.flush()  # here, not at exit: a reader that left is seen below
        return code
    except ShoalError as error:
        print(f"Error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:  # Ctrl-C: stopped by the user, as a shell reports it
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if isinstance(error, BrokenPipeError) and _quiet_closed_outputs():
            return EXIT_BROKEN_PIPE  # `| head` had enough: quiet, as any Unix tool
        # a bug, not a user mistake: say so loudly
        import traceback

        traceback.print_exc()
        print("shoal: internal error (this is a bug)", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "demo":
        from cli.demo import run_demo

        return run_demo(seed=args.seed, out=sys.stdout)
    if args.command == "sim" and args.sim_command == "shell":
        from cli import sim_shell

        return sim_shell.run(args)
    if args.command == "sim" and args.sim_command == "serve":
        from cli import sim_serve

        return sim_serve.run(args)
    if args.command == "sim" and args.sim_command == "run":
        from cli import sim_run

        return sim_run.main(args)
    if args.command == "sim" and args.sim_command == "sweep":
        from cli import sim_sweep

        return sim_sweep.main(args)
    if args.command == "sim":
        from cli import sim_raft

        return sim_raft.run(args)
    if args.command == "real" and args.real_command == "calibrate":
        from cli import real_calibrate

        return real_calibrate.main(args)
    if args.command == "real":
        from cli import real_run

        return real_run.main(args)
    if args.command == "fidelity":
        from cli import fidelity_cmd

        return fidelity_cmd.main(args)
    if args.command == "daemon":
        from real import daemon

        return daemon.run(args)
    if args.command in real_client_groups():
        from cli import real_client

        return real_client.run(args)
    parser.error(f"unknown command {args.command!r}")


def _quiet_closed_outputs() -> bool:
    """Whether our standard output or error is a pipe whose reader has gone (as
    ``shoal ... | head`` leaves it); each such one is pointed at /dev/null, so that
    nothing more, the interpreter's last flush included, fails on it. A broken
    pipe that is not one of them (a socket's) is a bug and answers False."""
    closed = []
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            continue  # replaced by something without a descriptor (a test's buffer)
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        if any(revents & select.POLLERR for _, revents in poll.poll(0)):
            closed.append(fd)
    for fd in closed:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return bool(closed)


if __name__ == "__main__":
    sys.exit(main())
