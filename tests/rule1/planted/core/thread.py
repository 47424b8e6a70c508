"""Planted rule-1 violation: starts a thread."""

import threading


def start(work: object) -> threading.Thread:
    worker = threading.Thread(target=work)
    worker.start()
    return worker
