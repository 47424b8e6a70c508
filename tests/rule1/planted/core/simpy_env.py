"""Planted rule-1 violation: depends on the simulation driver."""

import simpy


def environment() -> simpy.Environment:
    return simpy.Environment()
