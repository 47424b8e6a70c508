"""Committed proposals per wall second of a 3-node Raft cluster, as JSON.

The cluster is in-process with instant delivery and instant fsync, so the figure is
the cost of the Raft core itself (message handling, log, progress, commit), which
bounds how fast a simulated manager group can go. Two ways of proposing:

- ``unbatched``: one proposal, then drive the cluster until the leader applies it;
  every entry pays for its own append, acknowledgement and durable write.
- ``batched``: ``--batch`` proposals at once; they travel in appends of up to
  ``entries_per_append_max`` entries and each node persists them in one write.

No safety checker runs here (the tests do that); the driver is the minimum that
honours the contract: persist every write, confirm it, then send and apply.
Usage: python benchmarks/raft_throughput.py [--proposals 20000] [--batch 256]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections import deque

from core.raft.config import RaftConfig
from core.raft.node import RaftNode, bootstrap_state
from core.raft.types import Message, NodeId, Role

VOTERS: tuple[NodeId, ...] = (1, 2, 3)
PAYLOAD = b"x" * 128  # about the size of a small store update


class InstantCluster:
    """Three nodes, a FIFO of messages, disks that are durable as soon as written."""

    def __init__(self, config: RaftConfig) -> None:
        self.disks = {n: bootstrap_state(VOTERS) for n in VOTERS}
        self.nodes = {
            n: RaftNode(n, config, random.Random(f"bench/{n}"), self.disks[n].copy())
            for n in VOTERS
        }
        self.queue: deque[Message] = deque()
        self.applied = dict.fromkeys(VOTERS, 0)
        self.writes = dict.fromkeys(VOTERS, 0)

    def drain(self, node_id: NodeId) -> bool:
        """Handle one node's outputs until it is quiet; whether it did anything."""
        node, disk = self.nodes[node_id], self.disks[node_id]
        busy = False
        while True:
            ready = node.ready()
            if ready.is_empty():
                return busy
            busy = True
            for write in ready.writes:
                disk.apply(write)
                node.persisted(write.seq)
                self.writes[node_id] += 1
            self.queue.extend(ready.messages)
            if ready.committed:
                self.applied[node_id] = ready.committed[-1].index

    def settle(self) -> None:
        """Deliver and drain until no node has anything left to say."""
        while True:
            busy = False
            for node_id in VOTERS:
                busy |= self.drain(node_id)
            if not self.queue and not busy:
                return
            while self.queue:
                message = self.queue.popleft()
                self.nodes[message.to].step(message)

    def elect(self) -> NodeId:
        for _ in range(1000):
            for node in self.nodes.values():
                node.tick()
            self.settle()
            leaders = [n for n, node in self.nodes.items() if node.role is Role.LEADER]
            if leaders:
                return leaders[0]
        raise RuntimeError("no leader elected")


def committed_per_second(proposals: int, batch: int) -> tuple[float, int]:
    """Proposals committed and applied on every node per wall second."""
    cluster = InstantCluster(RaftConfig(snapshot_interval=10**9))
    leader_id = cluster.elect()
    leader = cluster.nodes[leader_id]
    first = leader.log.last_index() + 1
    writes_before = cluster.writes[leader_id]
    started = time.perf_counter()
    done = 0
    while done < proposals:
        for _ in range(min(batch, proposals - done)):
            leader.propose(PAYLOAD)
            done += 1
        cluster.settle()
    # Followers learn the final commit index from the next heartbeat.
    leader.tick()
    cluster.settle()
    elapsed = time.perf_counter() - started
    last = first + proposals - 1
    if min(cluster.applied.values()) < last:
        raise RuntimeError(f"not every node applied up to {last}: {cluster.applied}")
    return proposals / elapsed, cluster.writes[leader_id] - writes_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proposals", type=int, default=20_000, help="proposals per run")
    parser.add_argument("--batch", type=int, default=256, help="proposals per batch")
    args = parser.parse_args()
    unbatched, unbatched_writes = committed_per_second(args.proposals, 1)
    batched, batched_writes = committed_per_second(args.proposals, args.batch)
    print(
        json.dumps(
            {
                "benchmark": "raft_throughput",
                "python": platform.python_version(),
                "nodes": len(VOTERS),
                "proposals": args.proposals,
                "payload_bytes": len(PAYLOAD),
                "unbatched_committed_per_s": round(unbatched),
                "unbatched_leader_writes": unbatched_writes,
                "batch_size": args.batch,
                "batched_committed_per_s": round(batched),
                "batched_leader_writes": batched_writes,
                "batching_speedup": round(batched / unbatched, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
