"""Chunks run on a Dask cluster (``dask.distributed``): one task per chunk, sent by
a :class:`distributed.Client` connected to the scheduler at ``--scheduler``.

The workers need shoal installed (they import :mod:`cli.sweep.chunk`) but not the
scenario file: each chunk carries its YAML text. Run them as processes with one
thread each (``dask worker tcp://HOST:8786 --nthreads 1``): a run holds the GIL, so
threads in one process add nothing but contention.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from cli.sweep.local import Work
from cli.sweep.plan import Chunk
from cli.sweep.record import Record
from core.errors import ShoalError

CONNECT_TIMEOUT_S = 10.0


class DaskWorkers:
    """The workers of the Dask cluster whose scheduler is at ``address``."""

    def __init__(self, address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        from distributed import Client
        from distributed.comm.addressing import resolve_address

        self.address = address
        self._futures: list[Any] = []
        try:
            # a malformed address or an unknown host, said before a Client is made
            # (one that fails in its constructor complains again when collected)
            resolve_address(address)
            self._client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
        except Exception as error:  # refused, timed out, or not an address at all
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ShoalError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
        self.count = sum(self._client.nthreads().values())
        self.description = f"{self.count} Dask worker thread{'s' if self.count != 1 else ''}"

    def __enter__(self) -> DaskWorkers:
        return self

    def run(self, work: Work, chunks: Sequence[Chunk]) -> Iterator[tuple[int, list[Record]]]:
        """Each chunk's records as it finishes: (its index in ``chunks``, records)."""
        from distributed import as_completed

        self._futures = [self._client.submit(work, chunk, pure=False) for chunk in chunks]
        index = {future.key: i for i, future in enumerate(self._futures)}
        for future in as_completed(self._futures, loop=self._client.loop):
            chunk = chunks[index[future.key]]
            try:
                records = future.result()
            except Exception as error:  # the worker's environment, not a run (runs crash
                # into their record): shoal missing there, a worker killed, ...
                raise ShoalError(
                    f"a Dask worker failed the chunk of seeds {chunk.seeds[0]}..{chunk.seeds[-1]}"
                    f" ({type(error).__name__}: {error}); do the workers have shoal installed?"
                ) from None
            future.release()
            yield index[future.key], records

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None and self._futures:
            self._client.cancel(self._futures)
        self._client.close()
