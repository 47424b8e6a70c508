"""The host data plane's programs, run off the driver's loop: only the latest one
asked for, and again after a failure.

Each program is the whole set of networks the node needs (the agent's word is never
a delta), so one that is superseded before it runs need not run at all; run anyway,
an older set would tear down what a task has just joined. A program that fails
(a netlink or nft call refused) is tried again with a growing pause, unless a newer
one has come meanwhile, so a passing fault leaves no node with stale rules. The
simulated data plane has the same "a later call supersedes" rule
(sim/dataplane.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The pause before the first retry of a failed program, doubled up to the most.
RETRY_INITIAL_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0


class LatestPrograms(Generic[T]):
    """Runs ``run`` on the latest value submitted, one at a time, on a thread of
    its own."""

    def __init__(
        self,
        run: Callable[[T], None],
        *,
        retry_initial: float = RETRY_INITIAL_SECONDS,
        retry_max: float = RETRY_MAX_SECONDS,
    ) -> None:
        self._run = run
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._cond = threading.Condition()
        self._wanted: tuple[T] | None = None  # boxed: None is a value too
        self._closed = False
        self._busy = False  # a program is running
        self._submitted = 0  # programs asked for, to see a newer one during a pause
        self.failures = 0  # programs that raised, for logs and tests
        self._thread = threading.Thread(target=self._loop, name="dataplane", daemon=True)
        self._thread.start()

    def submit(self, wanted: T) -> None:
        with self._cond:
            self._wanted = (wanted,)
            self._submitted += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Stop after the program under way, if any; what waits is dropped."""
        with self._cond:
            self._closed = True
            self._wanted = None
            self._cond.notify_all()
        self._thread.join()

    def idle(self, timeout: float) -> bool:
        """Wait until nothing waits to run (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._wanted is None and not self._busy, timeout)

    def _pause(self, seconds: float) -> None:
        """Wait (holding the condition) up to ``seconds``; a newer program, or the
        close, ends the wait early, so the newer one runs at once."""
        seen = self._submitted
        self._cond.wait_for(lambda: self._closed or self._submitted != seen, seconds)

    def _loop(self) -> None:
        pause = 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._wanted is not None)
                if self._closed or self._wanted is None:
                    return
                (wanted,), self._wanted = self._wanted, None
                self._busy = True
            try:
                self._run(wanted)
            except Exception:
                self.failures += 1
                pause = min(self._retry_max, max(self._retry_initial, pause * 2))
                log.exception("programming the data plane failed; again in %.1f s", pause)
                with self._cond:
                    self._busy = False
                    if self._wanted is None:  # again after a pause, unless a newer one comes
                        self._wanted = (wanted,)
                        self._pause(pause)
                continue
            pause = 0.0
            with self._cond:
                self._busy = False
                self._cond.notify_all()
