"""The replicated store: versioned objects, transactions and watch events."""

from core.store.actions import (
    CHANGES_PER_TRANSACTION_MAX,
    TABLES,
    ActionKind,
    StoreAction,
    Transaction,
)
from core.store.store import (
    Applied,
    Batch,
    Event,
    EventCommit,
    MemoryStore,
    NameConflict,
    ObjectExists,
    ObjectMissing,
    ReadTx,
    SequenceConflict,
    StoreError,
    WriteTx,
)
from core.store.watch import PENDING_EVENTS_MAX, Subscription, WatchQueue

__all__ = [
    "CHANGES_PER_TRANSACTION_MAX",
    "PENDING_EVENTS_MAX",
    "TABLES",
    "ActionKind",
    "Applied",
    "Batch",
    "Event",
    "EventCommit",
    "MemoryStore",
    "NameConflict",
    "ObjectExists",
    "ObjectMissing",
    "ReadTx",
    "SequenceConflict",
    "StoreAction",
    "StoreError",
    "Subscription",
    "Transaction",
    "WatchQueue",
    "WriteTx",
]
