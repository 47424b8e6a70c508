"""The replicated store: Raft's state machine, the same on every manager.

Writers build a :class:`~core.store.actions.Transaction` against the committed state
(:meth:`MemoryStore.transaction`), propose its bytes to Raft, and every manager
applies the committed entry with :meth:`MemoryStore.apply`. Checks happen at apply
time, deterministically, so all replicas agree on the outcome even when several
transactions were in flight at once: an update against a stale version
(optimistic concurrency), a create of an existing id or a taken name, or a delete of
a missing object makes the *whole* transaction fail with the same error everywhere
and change nothing.

``apply`` returns the watch events of the transaction, in order, followed by an
:class:`EventCommit`: events exist only for what was committed, in commit order, and
followers produce exactly the leader's (SwarmKit: followers' watchers see changes
"as if they were happening now"). Every object written gets ``Version.Index`` = the
Raft index of its entry.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgpack

from core.errors import InvalidSpec, ShoalError
from core.model import replace
from core.model.common import StoredObject, Version
from core.model.timestamp import Timestamp
from core.store.actions import (
    CHANGES_PER_TRANSACTION_MAX,
    TABLES,
    ActionKind,
    StoreAction,
    Transaction,
)

#: Tables whose objects have unique names (SwarmKit's unique name index, which
#: ignores case).
NAMED_TABLES = ("configs", "networks", "secrets", "services")


class StoreError(ShoalError):
    """A transaction the store refuses; SwarmKit's words."""


class SequenceConflict(StoreError):
    # as a client is told it: SwarmKit's store.ErrSequenceConflict, gRPC code Unknown
    api_code, api_message = "Unknown", "update out of sequence"

    def __init__(self, table: str, object_id: str) -> None:
        super().__init__(f"update out of sequence: {table} {object_id}")


class ObjectExists(StoreError):
    def __init__(self, table: str, object_id: str) -> None:
        super().__init__(f"object already exists: {table} {object_id}")


class ObjectMissing(StoreError):
    def __init__(self, table: str, object_id: str) -> None:
        super().__init__(f"object does not exist: {table} {object_id}")


class NameConflict(StoreError):
    def __init__(self, table: str, name: str) -> None:
        super().__init__(f"name conflicts with an existing object: {table} {name!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """A committed change: ``old`` is None for a create, ``new`` None for a delete."""

    kind: ActionKind
    table: str
    old: StoredObject | None
    new: StoredObject | None

    @property
    def object(self) -> StoredObject:
        found = self.new if self.new is not None else self.old
        assert found is not None
        return found


@dataclass(frozen=True, slots=True)
class EventCommit:
    """The end of one committed transaction, at Raft index ``version``."""

    version: int


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one entry did: its events, or the error that refused it."""

    events: tuple[Event | EventCommit, ...]
    error: StoreError | None = None


def _name(obj: StoredObject) -> str | None:
    spec = getattr(obj, "spec", None)
    name = getattr(spec, "name", None)
    return name.lower() if isinstance(name, str) and name else None


class _Layer:
    """Changes over the committed tables, read through: a transaction sees its own
    writes, and nothing reaches the tables until :meth:`commit`."""

    __slots__ = ("base", "changes", "journal")

    def __init__(self, base: dict[str, dict[str, StoredObject]]) -> None:
        self.base = base
        self.changes: dict[tuple[str, str], StoredObject | None] = {}
        # what each put replaced since the last mark: (key, was it changed, its value)
        self.journal: list[tuple[tuple[str, str], bool, StoredObject | None]] = []

    def get(self, table: str, object_id: str) -> StoredObject | None:
        key = (table, object_id)
        return self.changes[key] if key in self.changes else self.base[table].get(object_id)

    def ids(self, table: str) -> list[str]:
        changed = {i for t, i in self.changes if t == table}
        kept = [i for i in self.base[table] if i not in changed]
        return sorted(kept + [i for i in changed if self.changes[(table, i)] is not None])

    def changed_ids(self, table: str) -> list[str]:
        """The ids of the table this layer wrote (created, changed or deleted)."""
        return [i for t, i in self.changes if t == table]

    def put(self, table: str, object_id: str, obj: StoredObject | None) -> None:
        key = (table, object_id)
        self.journal.append((key, key in self.changes, self.changes.get(key)))
        self.changes[key] = obj

    def mark(self) -> None:
        self.journal.clear()

    def roll_back(self) -> None:
        """Undo every put since the last :meth:`mark`."""
        while self.journal:
            key, was_changed, previous = self.journal.pop()
            if was_changed:
                self.changes[key] = previous
            else:
                del self.changes[key]

    def commit(self) -> None:
        for (table, object_id), obj in self.changes.items():
            if obj is None:
                self.base[table].pop(object_id, None)
            else:
                self.base[table][object_id] = obj


class ReadTx:
    """A read view (no copies: objects are immutable)."""

    def __init__(self, layer: _Layer) -> None:
        self.layer = layer

    def get(self, table: str, object_id: str) -> StoredObject | None:
        return self.layer.get(table, object_id)

    def find(
        self, table: str, where: Callable[[StoredObject], bool] | None = None
    ) -> list[StoredObject]:
        """The table's objects (matching ``where``), in id order."""
        found = (self.layer.get(table, i) for i in self.layer.ids(table))
        return [obj for obj in found if obj is not None and (where is None or where(obj))]


class WriteTx(ReadTx):
    """Collects actions against the committed state plus its own earlier actions;
    the same checks as :meth:`MemoryStore.apply` run here, so a writer learns of a
    conflict before it proposes anything."""

    def __init__(self, tables: dict[str, dict[str, StoredObject]]) -> None:
        super().__init__(_Layer(tables))
        self.actions: list[StoreAction] = []

    def create(self, obj: StoredObject) -> None:
        self._do(StoreAction(ActionKind.CREATE, obj))

    def update(self, obj: StoredObject) -> None:
        self._do(StoreAction(ActionKind.UPDATE, obj))

    def delete(self, obj: StoredObject) -> None:
        self._do(StoreAction(ActionKind.DELETE, obj))

    def _do(self, action: StoreAction) -> None:
        _check(self.layer, action)
        # Later actions of this transaction see the object as written (its version
        # is fixed only at apply time, so it keeps the one it was read at).
        deleted = action.kind is ActionKind.DELETE
        self.layer.put(action.table, action.obj.id, None if deleted else action.obj)
        self.actions.append(action)


class Batch:
    """Many small updates in as few transactions as fit: SwarmKit's ``Batch``. Each
    :meth:`update` is atomic (its changes share one transaction, and a refused one
    leaves no trace); different updates may land in different transactions of at
    most :data:`CHANGES_PER_TRANSACTION_MAX` changes."""

    def __init__(self, store: MemoryStore, wall_ns: int) -> None:
        self._tx = WriteTx(store.tables)
        self._wall_ns = wall_ns
        self._starts: list[int] = [0]  # where each transaction's actions begin
        self._written_in: dict[tuple[str, str], int] = {}  # object -> its last transaction

    def update(self, build: Callable[[WriteTx], None]) -> ShoalError | None:
        """Add one update; return the error that refused it (a store check, or any
        expected error ``build`` raised), if any."""
        tx, count = self._tx, len(self._tx.actions)
        tx.layer.mark()
        try:
            build(tx)
        except ShoalError as error:
            tx.layer.roll_back()
            del tx.actions[count:]
            return error
        added = len(tx.actions) - count
        if added > CHANGES_PER_TRANSACTION_MAX:
            raise StoreError(f"one update of a batch made {added} changes")
        if count - self._starts[-1] + added > CHANGES_PER_TRANSACTION_MAX:
            self._starts.append(count)
        number = len(self._starts) - 1  # the transaction this update is in
        for position in range(count, len(tx.actions)):
            action = tx.actions[position]
            key = (action.table, action.obj.id)
            earlier = self._written_in.get(key, number)
            if earlier < number and action.kind is not ActionKind.CREATE:
                tx.actions[position] = dataclasses.replace(action, previous=number - earlier)
            self._written_in[key] = number
        return None

    def boundary(self) -> None:
        """Start a new transaction with the next update (a write that must commit
        or fail on its own, as an API request does)."""
        if len(self._tx.actions) > self._starts[-1]:
            self._starts.append(len(self._tx.actions))

    @property
    def changes(self) -> int:
        return len(self._tx.actions)

    @property
    def transaction_count(self) -> int:
        """Transactions so far; the last update's changes are in the last one."""
        bounds = [*self._starts, len(self._tx.actions)]
        return sum(1 for low, high in itertools.pairwise(bounds) if high > low)

    def transactions(self) -> list[Transaction]:
        actions, bounds = self._tx.actions, [*self._starts, len(self._tx.actions)]
        return [
            Transaction(actions=tuple(actions[low:high]), wall_ns=self._wall_ns)
            for low, high in itertools.pairwise(bounds)
            if high > low
        ]


class MemoryStore:
    """The committed state. Invariant: ``version`` is the Raft index of the last
    entry applied, and every object's ``version.index`` is at most ``version``."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, StoredObject]] = {name: {} for name in TABLES}
        self.version = 0

    def view(self) -> ReadTx:
        return ReadTx(_Layer(self.tables))

    def transaction(self, build: Callable[[WriteTx], None], wall_ns: int) -> Transaction:
        """Run ``build`` against the committed state; return what to propose."""
        tx = WriteTx(self.tables)
        build(tx)
        if len(tx.actions) > CHANGES_PER_TRANSACTION_MAX:
            raise StoreError(
                f"a transaction holds at most {CHANGES_PER_TRANSACTION_MAX} changes, "
                f"not {len(tx.actions)}: use a batch"
            )
        return Transaction(actions=tuple(tx.actions), wall_ns=wall_ns)

    def batch(self, wall_ns: int) -> Batch:
        return Batch(self, wall_ns)

    def apply(self, index: int, transaction: Transaction) -> Applied:
        """Apply the transaction committed at Raft ``index``, or refuse all of it."""
        if index <= self.version:
            raise AssertionError(f"entry {index} applied after {self.version}")
        self.version = index
        layer = _Layer(self.tables)
        events: list[Event | EventCommit] = []
        stamp = Timestamp(unix_ns=transaction.wall_ns)
        written = layer.changes  # all-or-nothing by not committing: no journal here
        try:
            for action in transaction.actions:
                key = (action.table, action.obj.id)
                # A second write of an object in one transaction holds the version the
                # writer saw before the first (the index is stamped only here); so does
                # a write after an earlier transaction of its batch.
                first = key not in written
                if first and action.previous:
                    _check_written_at(layer, action, index - action.previous)
                old = _check(layer, action, versioned=first and not action.previous)
                new = _stamped(action, old, index, stamp)
                written[key] = new
                events.append(Event(action.kind, action.table, old, new))
        except StoreError as error:
            return Applied(events=(EventCommit(index),), error=error)
        layer.commit()
        events.append(EventCommit(index))
        return Applied(events=tuple(events))

    def apply_noop(self, index: int) -> Applied:
        """An entry that holds no transaction (Raft's own, a membership change)."""
        self.version = max(self.version, index)
        return Applied(events=(EventCommit(index),))

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Every object and the version, for Raft's snapshots (tables in name order,
        objects in id order, so equal stores give equal bytes)."""
        body = {
            name: [self.tables[name][i].to_json() for i in sorted(self.tables[name])]
            for name in sorted(self.tables)
        }
        packed: bytes = msgpack.packb([1, self.version, body], use_bin_type=True)
        return packed

    @classmethod
    def restore(cls, data: bytes) -> MemoryStore:
        store = cls()
        try:
            fmt, version, body = msgpack.unpackb(data, raw=False)
            if fmt != 1:
                raise ValueError(f"format {fmt!r}")
            for name, objects in body.items():
                model = TABLES[name]
                store.tables[name] = {
                    o.id: o for o in (model.from_json(raw, path=name) for raw in objects)
                }
        except (ValueError, TypeError, KeyError, InvalidSpec) as error:
            raise InvalidSpec("store snapshot", len(data), f"cannot be decoded: {error}") from None
        store.version = version
        return store

    def objects(self) -> Iterator[StoredObject]:
        for name in sorted(self.tables):
            objects = self.tables[name]
            for object_id in sorted(objects):
                yield objects[object_id]


def _check(layer: _Layer, action: StoreAction, versioned: bool = True) -> StoredObject | None:
    """Raise unless ``action`` applies; return the object it replaces. ``versioned``:
    whether the object's version must equal the stored one."""
    table, obj = action.table, action.obj
    stored = layer.get(table, obj.id)
    if action.kind is ActionKind.CREATE:
        if stored is not None:
            raise ObjectExists(table, obj.id)
        _check_name(layer, table, obj)
        return None
    if stored is None:
        raise ObjectMissing(table, obj.id)
    if versioned and stored.version.index != obj.version.index:
        raise SequenceConflict(table, obj.id)
    if action.kind is ActionKind.UPDATE:
        _check_name(layer, table, obj)
    return stored


def _check_written_at(layer: _Layer, action: StoreAction, index: int) -> None:
    stored = layer.get(action.table, action.obj.id)
    if stored is not None and stored.version.index != index:
        raise SequenceConflict(action.table, action.obj.id)


def _check_name(layer: _Layer, table: str, obj: StoredObject) -> None:
    if table not in NAMED_TABLES:
        return
    name = _name(obj)
    if name is None:
        return
    for other_id in layer.ids(table):
        other = layer.get(table, other_id)
        if other_id != obj.id and other is not None and _name(other) == name:
            raise NameConflict(table, name)


#: Stamped copies of recently applied actions, by the action's identity: every
#: manager applies the same decoded entry (one parse per process) and stamps it
#: alike, so the copy is made once and shared, the objects being immutable.
_STAMPED: dict[tuple[int, int, int], tuple[StoreAction, StoredObject]] = {}
_STAMPED_MAX = 65_536


def _stamped(
    action: StoreAction, old: StoredObject | None, index: int, stamp: Timestamp
) -> StoredObject | None:
    if action.kind is ActionKind.DELETE:
        return None
    created = stamp if old is None else old.created_at
    key = (id(action), index, created.unix_ns)
    known = _STAMPED.get(key)
    if known is not None and known[0] is action:
        return known[1]
    obj = replace(action.obj, version=Version(index=index), created_at=created, updated_at=stamp)
    if len(_STAMPED) >= _STAMPED_MAX:
        _STAMPED.clear()
    _STAMPED[key] = (action, obj)
    return obj
