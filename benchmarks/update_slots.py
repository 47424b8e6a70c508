"""Where each slot of a rolling update spends its time, from the tasks' own stamps: shared
by ``peer_timings.py`` (the simulator) and ``real_peer_timings.py`` (real swarms)."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from real.agent.images import SECOND_IMAGE


def stamp(text: str) -> float:
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{frac or 0}")


def slot_times(tasks: list[dict[str, Any]]) -> dict[str, float]:
    """Where a slot's update spends its time, medians over the slots: from the new task's
    creation to the old task's shutdown (the stop), and from there to the new task
    running (the start). Times are the tasks' own stamps (CreatedAt, Status.Timestamp)."""
    by_slot: dict[int, list[dict[str, Any]]] = {}
    for task in tasks:
        by_slot.setdefault(int(task.get("Slot", 0)), []).append(task)
    stops, starts, whole = [], [], []
    for slot in sorted(by_slot):
        old = [t for t in by_slot[slot] if t["Spec"]["ContainerSpec"]["Image"] != SECOND_IMAGE]
        new = [t for t in by_slot[slot] if t["Spec"]["ContainerSpec"]["Image"] == SECOND_IMAGE]
        if len(new) != 1 or not old:
            continue
        created = stamp(new[0]["CreatedAt"])
        running = stamp(new[0]["Status"]["Timestamp"])
        stopped = max(stamp(t["Status"]["Timestamp"]) for t in old)
        stops.append(stopped - created)
        starts.append(running - stopped)
        whole.append(running - created)
    if not whole:
        return {}
    return {
        "slots": len(whole),
        "stop_s": round(statistics.median(stops), 3),
        "start_s": round(statistics.median(starts), 3),
        "slot_s": round(statistics.median(whole), 3),
    }
