"""Throughput of the Raft wire codec, as JSON.

The simulator can pass every Raft message through the wire codec (and real mode sends
the same bytes over TCP), so a long run encodes and decodes hundreds of thousands of
them; this measures a heartbeat and a full append on this machine.
Usage: python benchmarks/raft_codec.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import platform

from timing import rate

from core.raft.codec import decode_message, encode_message
from core.raft.types import Entry, Message, MessageType

ENTRIES = 64
ENTRY_BYTES = 128

HEARTBEAT = Message(MessageType.HEARTBEAT, to=2, source=1, term=7, commit=1_234)
APPEND = Message(
    MessageType.APP,
    to=2,
    source=1,
    term=7,
    log_term=7,
    index=100_000,
    entries=tuple(
        Entry(7, 100_001 + i, data=bytes((i + j) % 256 for j in range(ENTRY_BYTES)))
        for i in range(ENTRIES)
    ),
    commit=100_000,
)


def measure(name: str, message: Message, seconds: float) -> dict[str, int]:
    data = encode_message(message)
    assert decode_message(data) == message
    return {
        f"{name}_bytes": len(data),
        f"{name}_encode_per_s": round(rate(lambda: encode_message(message), seconds)),
        f"{name}_decode_per_s": round(rate(lambda: decode_message(data), seconds)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    print(
        json.dumps(
            {
                "benchmark": "raft_codec",
                "python": platform.python_version(),
                **measure("heartbeat", HEARTBEAT, args.seconds),
                **measure(f"append_{ENTRIES}x{ENTRY_BYTES}", APPEND, args.seconds),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
