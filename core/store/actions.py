"""Store changes as they travel in the Raft log: one entry, one transaction.

A transaction is a list of :class:`StoreAction` (create, update or delete of one
object) plus the proposer's wall time, which becomes the objects' ``CreatedAt`` /
``UpdatedAt`` on every manager alike (a follower must not read its own clock while
applying, or replicas would differ). Objects travel as Docker's JSON inside msgpack,
the same codec the API speaks, so what the simulator commits is what real mode
would write.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field

import msgpack

from core.errors import InvalidSpec
from core.model.cluster import Cluster
from core.model.common import StoredObject
from core.model.network import Network
from core.model.node import Node
from core.model.secret import Config, Secret
from core.model.service import Service
from core.model.task import Task

#: Parsed log entries kept per process (the managers of a simulated swarm share them).
DECODED_TRANSACTIONS_KEPT = 4096

#: The tables of the store and the object each holds, in Docker's plural names.
TABLES: dict[str, type[StoredObject]] = {
    "clusters": Cluster,
    "configs": Config,
    "networks": Network,
    "nodes": Node,
    "secrets": Secret,
    "services": Service,
    "tasks": Task,
}
TABLE_OF: dict[type[StoredObject], str] = {cls: name for name, cls in TABLES.items()}

#: SwarmKit's bound on one transaction of a batch (``MaxChangesPerTransaction``).
CHANGES_PER_TRANSACTION_MAX = 200
_FORMAT = 1


class ActionKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class StoreAction:
    """One change. For an update, ``obj.version`` is the version it was read at:
    the store refuses the transaction if the object has moved on since.

    ``previous`` (a batch's later transaction changing what an earlier one of the
    same batch changed): the object must be as the entry ``previous`` entries before
    this one left it, for the version it was read at is stamped only then. The
    batch's transactions go into the log back to back."""

    kind: ActionKind
    obj: StoredObject
    previous: int = 0
    #: The object's table, named once here: every manager's apply asks it several
    #: times per action. Derived from ``obj``, so no part of the value.
    table: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", TABLE_OF[type(self.obj)])  # past frozen


@dataclass(frozen=True, slots=True)
class Transaction:
    actions: tuple[StoreAction, ...]
    wall_ns: int  # the proposer's wall clock, stamped on what the actions write
    #: The bytes it was read from, or first written as: a real leader writes an entry
    #: to its WAL and to each follower, a follower the bytes it received to its own
    #: WAL. A cache, no part of the value (equal transactions encode alike).
    encoded: bytes = field(default=b"", init=False, compare=False, repr=False)

    def encode(self) -> bytes:
        if self.encoded:
            return self.encoded
        body = [
            [a.kind.value, a.table, a.obj.to_json(), *([a.previous] if a.previous else [])]
            for a in self.actions
        ]
        packed: bytes = msgpack.packb([_FORMAT, self.wall_ns, body], use_bin_type=True)
        object.__setattr__(self, "encoded", packed)  # past frozen: the cache only
        return packed

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        """Parse a log entry; a malformed one is a bug (or disk corruption), and says
        where it broke. Every manager applies every entry: within one process (a
        simulated swarm) the same bytes are parsed once, the objects being immutable."""
        return _decode_transaction(data)

    @classmethod
    def _parse(cls, data: bytes) -> Transaction:
        try:
            fmt, wall_ns, body = msgpack.unpackb(data, raw=False)
            if fmt != _FORMAT or not isinstance(wall_ns, int):
                raise ValueError(f"format {fmt!r}")
            actions = tuple(
                StoreAction(
                    ActionKind(kind),
                    TABLES[table].from_json(obj, path=table),
                    int(previous[0]) if previous else 0,
                )
                for kind, table, obj, *previous in body
            )
        except (ValueError, TypeError, KeyError, InvalidSpec) as error:
            raise InvalidSpec(
                "store transaction", len(data), f"cannot be decoded: {error}"
            ) from None
        transaction = cls(actions=actions, wall_ns=wall_ns)
        object.__setattr__(transaction, "encoded", data)
        return transaction


@functools.lru_cache(maxsize=DECODED_TRANSACTIONS_KEPT)
def _decode_transaction(data: bytes) -> Transaction:
    return Transaction._parse(data)
