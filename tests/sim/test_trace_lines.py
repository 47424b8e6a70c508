"""A task line written by ``emit_task`` is the very line ``emit(..., "task", ...)``
writes (the same bytes, so the same trace hash), whatever the strings hold."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sim.trace import Trace

TEXT = st.text(max_size=12)  # quotes, backslashes, control and non-ASCII characters too


TASK_FIELDS = st.fixed_dictionaries(
    {"index": st.integers(0, 10**9), "slot": st.integers(0, 10**6)}
    | {name: TEXT for name in ("id", "service", "node", "state", "desired")}
)


@given(
    time=st.one_of(st.floats(0, 1e7, allow_nan=False), st.integers(0, 10**7)),
    host=TEXT,
    fields=TASK_FIELDS,
)
def test_a_task_line_is_the_generic_line(time: float, host: str, fields: dict[str, Any]) -> None:
    generic, fast = Trace(), Trace()
    generic.emit(time, host, "task", **fields)
    fast.emit_task(time, host, **fields)
    assert fast.hexdigest() == generic.hexdigest()
    assert fast.events == generic.events == 1


def test_the_lines_written_to_a_file_are_equal(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    generic, fast = Trace(directory / "generic.jsonl"), Trace(directory / "fast.jsonl")
    fields = {"index": 7, "id": "t1", "service": "s", "slot": 3, "node": "n"}
    fields |= {"state": "RUNNING", "desired": "RUNNING"}
    generic.emit(12.3456789, "manager-1", "task", **fields)
    fast.emit_task(12.3456789, "manager-1", **fields)  # type: ignore[arg-type]
    generic.close()
    fast.close()
    line = (directory / "fast.jsonl").read_text()
    assert line == (directory / "generic.jsonl").read_text()
    assert line.startswith('{"desired":"RUNNING","host":"manager-1","id":"t1","index":7,')
