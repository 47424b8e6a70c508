"""Planted rule-1 violation: reads a file."""


def read(path: str) -> str:
    with open(path) as handle:
        return handle.read()
