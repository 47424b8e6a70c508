"""The run's trace: one JSON line per event, and a SHA-256 over all of them.

The hash is always computed (it is the determinism check); the lines are written
only when a path is given. Lines are canonical JSON (sorted keys, no spaces, floats
rounded to the microsecond) so the same run gives the same bytes in any process.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO, Any

TIME_DECIMALS = 6
RESERVED = frozenset({"t", "host", "kind"})
#: One encoder for every line: ``json.dumps`` with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
#: A task line as :data:`_CANONICAL` writes it (keys sorted, no spaces).
_TASK_LINE = (
    '{"desired":%s,"host":%s,"id":%s,"index":%d,"kind":"task","node":%s,'
    '"service":%s,"slot":%d,"state":%s,"t":%s}\n'
)
_string = json.encoder.encode_basestring_ascii  # a JSON string as json.dumps writes it


class Trace:
    def __init__(self, path: str | Path | None = None) -> None:
        self._hash = hashlib.sha256()
        self._file: IO[str] | None = open(path, "w", encoding="utf-8") if path else None  # noqa: SIM115
        self.events = 0

    def emit(self, time: float, host: str, kind: str, /, **fields: Any) -> None:
        if fields.keys() & RESERVED:
            raise ValueError(f"trace fields may not be named {sorted(fields.keys() & RESERVED)}")
        record = {"t": round(time, TIME_DECIMALS), "host": host, "kind": kind, **fields}
        self._line(_CANONICAL.encode(record) + "\n")

    def emit_task(
        self,
        time: float,
        host: str,
        *,
        index: int,
        id: str,
        service: str,
        slot: int,
        node: str,
        state: str,
        desired: str,
    ) -> None:
        """``emit(time, host, "task", ...)``, byte for byte, without building a dict
        and sorting its keys: one line per task change on the leader, the most
        frequent line of a big swarm."""
        self._line(
            _TASK_LINE
            % (
                _string(desired),
                _string(host),
                _string(id),
                int(index),
                _string(node),
                _string(service),
                int(slot),
                _string(state),
                repr(round(time, TIME_DECIMALS)),
            )
        )

    def _line(self, line: str) -> None:
        self._hash.update(line.encode())
        self.events += 1
        if self._file is not None:
            self._file.write(line)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
