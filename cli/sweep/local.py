"""Chunks run on local worker processes (``concurrent.futures`` over
``multiprocessing``'s spawn context: a worker starts from a fresh interpreter, as a
Dask worker does, so it runs from what its chunk carries and nothing else).

Ctrl-C is the parent's to handle: the workers ignore SIGINT (a terminal sends it to
the whole process group), and when the parent stops early it cancels what has not
started and terminates the workers, so none is left running a chunk. A worker whose
parent died without stopping it (kill -9) exits within a second.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from types import TracebackType

from cli.sweep.plan import Chunk
from cli.sweep.record import Record
from core.errors import ShoalError

Work = Callable[[Chunk], list[Record]]


PARENT_CHECK_S = 1.0


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker once its parent is gone: an orphan would wait on the
    executor's queue for ever."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


class LocalWorkers:
    """``count`` worker processes on this machine."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.description = f"{count} local worker{'s' if count != 1 else ''}"
        self._futures: list[Future[list[Record]]] = []
        main = threading.current_thread() is threading.main_thread()
        self._executor = ProcessPoolExecutor(
            count,
            mp_context=get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        # A worker started while SIGINT is ignored ignores it from its first instruction
        # (Python installs its handler only over the default one); the executor starts
        # one per task submitted while none is idle, so start them all now.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            started = [self._executor.submit(int) for _ in range(count)]
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        try:
            for future in started:
                future.result()
        except BaseException:  # Ctrl-C while they boot
            self.stop()
            raise

    def __enter__(self) -> LocalWorkers:
        return self

    def run(self, work: Work, chunks: Sequence[Chunk]) -> Iterator[tuple[int, list[Record]]]:
        """Each chunk's records as it finishes: (its index in ``chunks``, records)."""
        self._futures = [self._executor.submit(work, chunk) for chunk in chunks]
        index = {id(future): i for i, future in enumerate(self._futures)}
        for future in as_completed(self._futures):
            try:
                records = future.result()
            except BrokenProcessPool:  # every chunk not done fails with it: which one
                # the dead worker held is not known
                raise ShoalError(
                    "a local worker process died (killed, or out of memory?): "
                    "the sweep cannot go on without it"
                ) from None
            yield index[id(future)], records

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self._executor.shutdown(wait=True)
        else:
            self.stop()

    def stop(self) -> None:
        """Cancel what has not started; end the workers now, mid-chunk."""
        for future in self._futures:
            future.cancel()
        # Python 3.14 has ProcessPoolExecutor.terminate_workers(); before it, the
        # executor's processes are only reachable through its private table
        workers = getattr(self._executor, "_processes", None) or {}
        for process in list(workers.values()):
            process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=True)
