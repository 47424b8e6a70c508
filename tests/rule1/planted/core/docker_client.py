"""Planted rule-1 violation: depends on the real driver's Docker client."""

import docker


def client() -> object:
    return docker.from_env()
