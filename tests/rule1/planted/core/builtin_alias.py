"""Planted rule-1 violation: forbidden builtins named first, then called through an alias."""


def clock_module() -> object:
    f = __import__
    return f("time")


def run(code: str) -> None:
    e = exec
    e(code)


def read(path: str) -> str:
    o = open
    with o(path) as handle:
        return handle.read()
