"""Planted rule-1 violation: imports the network module through __import__."""


def socket_module() -> object:
    return __import__("socket")
