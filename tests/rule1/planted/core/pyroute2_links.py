"""Planted rule-1 violation: depends on the real driver's netlink library."""

from pyroute2 import IPRoute


def links() -> list[object]:
    with IPRoute() as ipr:
        return list(ipr.get_links())
