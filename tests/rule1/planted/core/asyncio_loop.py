"""Planted rule-1 violation: runs an event loop."""

import asyncio


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)
