"""Planted rule-1 violation: spawns a process."""

import subprocess


def run(argv: list[str]) -> int:
    return subprocess.run(argv, check=False).returncode
