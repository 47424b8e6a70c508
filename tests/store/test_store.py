"""The replicated store: transactions, optimistic concurrency, batches, events,
snapshots. Each test: a store in a given state, one transaction or entry, and the
exact events, errors and objects that follow."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import InvalidSpec
from core.model import replace
from core.model.common import Version
from core.model.node import Node
from core.model.service import Service, ServiceSpec
from core.model.task import Task
from core.store import (
    CHANGES_PER_TRANSACTION_MAX,
    ActionKind,
    Event,
    EventCommit,
    MemoryStore,
    NameConflict,
    ObjectExists,
    ObjectMissing,
    SequenceConflict,
    StoreAction,
    StoreError,
    Subscription,
    Transaction,
    WatchQueue,
    WriteTx,
)

SECOND_NS = 1_000_000_000


def service(service_id: str, name: str) -> Service:
    return Service(id=service_id, spec=ServiceSpec(name=name))


def committed(
    store: MemoryStore, build: Callable[[WriteTx], object], wall_s: float = 100.0
) -> tuple[Event | EventCommit, ...]:
    """Build a transaction, commit it at the next index, return its events."""
    transaction = store.transaction(build, int(wall_s * SECOND_NS))
    applied = store.apply(store.version + 1, Transaction.decode(transaction.encode()))
    assert applied.error is None
    return applied.events


def test_a_create_gets_the_entrys_index_and_the_proposers_time() -> None:
    store = MemoryStore()
    events = committed(store, lambda tx: tx.create(service("s1", "web")), wall_s=100.0)
    stored = store.view().get("services", "s1")
    assert stored is not None
    assert stored.version == Version(index=1)
    assert stored.created_at == stored.updated_at
    assert stored.created_at.seconds() == 100.0
    assert events == (Event(ActionKind.CREATE, "services", None, stored), EventCommit(1))


def test_an_update_keeps_created_at_and_moves_updated_at_and_the_version() -> None:
    store = MemoryStore()
    committed(store, lambda tx: tx.create(service("s1", "web")), wall_s=100.0)
    old = store.view().get("services", "s1")
    assert isinstance(old, Service)
    renamed = replace(old, spec=replace(old.spec, name="api"))
    events = committed(store, lambda tx: tx.update(renamed), wall_s=160.0)
    new = store.view().get("services", "s1")
    assert new is not None and new.version == Version(index=2)
    assert (new.created_at, new.updated_at.seconds()) == (old.created_at, 160.0)
    assert events == (Event(ActionKind.UPDATE, "services", old, new), EventCommit(2))


def test_a_write_against_a_stale_version_fails_before_and_after_proposing() -> None:
    store = MemoryStore()
    committed(store, lambda tx: tx.create(service("s1", "web")))
    read = store.view().get("services", "s1")
    assert read is not None
    # Two writers read version 1 and both propose an update.
    first = store.transaction(lambda tx: tx.update(replace(read, spec=ServiceSpec(name="a"))), 0)
    second = store.transaction(lambda tx: tx.update(replace(read, spec=ServiceSpec(name="b"))), 0)
    assert store.apply(2, first).error is None
    refused = store.apply(3, second)
    assert isinstance(refused.error, SequenceConflict)
    assert str(refused.error) == "update out of sequence: services s1"
    assert refused.events == (EventCommit(3),)  # nothing changed, but the index moved
    assert store.view().get("services", "s1").spec.name == "a"
    with pytest.raises(SequenceConflict):  # a writer that reads first learns at once
        store.transaction(lambda tx: tx.update(replace(read, spec=ServiceSpec(name="c"))), 0)


def test_a_write_must_hold_the_stored_version_exactly_not_a_later_one() -> None:
    """SwarmKit compares the versions for equality: a version the store never gave
    out (ahead of the stored one) is as out of sequence as a stale one."""
    store = MemoryStore()
    committed(store, lambda tx: tx.create(service("s1", "web")))
    read = store.view().get("services", "s1")
    assert read is not None
    ahead = replace(read, version=Version(index=read.version.index + 1))
    with pytest.raises(SequenceConflict):
        store.transaction(lambda tx: tx.update(ahead), 0)
    forged = Transaction(actions=(StoreAction(ActionKind.UPDATE, ahead),), wall_ns=0)
    assert isinstance(store.apply(2, forged).error, SequenceConflict)


def test_a_refused_transaction_changes_none_of_its_objects() -> None:
    store = MemoryStore()
    committed(store, lambda tx: tx.create(service("s1", "web")))

    def two(tx: WriteTx) -> None:
        tx.create(service("s2", "api"))
        tx.create(service("s3", "db"))

    both = store.transaction(two, 0)
    store.apply(2, store.transaction(lambda tx: tx.create(service("s3", "other")), 0))
    assert isinstance(store.apply(3, both).error, ObjectExists)
    assert [o.id for o in store.view().find("services")] == ["s1", "s3"]


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda tx: tx.create(service("s1", "x")), ObjectExists, "object already exists"),
        (
            lambda tx: tx.delete(Task(id="t9")),
            ObjectMissing,
            "object does not exist: tasks t9",
        ),
        (
            lambda tx: tx.create(service("s2", "WEB")),
            NameConflict,
            "name conflicts with an existing object: services 'web'",
        ),
    ],
)
def test_creates_deletes_and_names_are_checked(
    build: Callable[[WriteTx], object], error: type[StoreError], message: str
) -> None:
    store = MemoryStore()
    committed(store, lambda tx: tx.create(service("s1", "web")))
    with pytest.raises(error, match=message):
        store.transaction(build, 0)


def test_tasks_and_nodes_may_share_names_and_a_transaction_sees_its_own_writes() -> None:
    store = MemoryStore()

    def build(tx: WriteTx) -> None:
        tx.create(Task(id="t1", name="web.1"))
        tx.create(Task(id="t2", name="web.1"))
        tx.create(Node(id="n1"))
        assert [t.id for t in tx.find("tasks")] == ["t1", "t2"]
        tx.delete(tx.get("tasks", "t2"))

    committed(store, build)
    assert [o.id for o in store.objects()] == ["n1", "t1"]


def test_a_transaction_holds_at_most_200_changes() -> None:
    store = MemoryStore()
    with pytest.raises(StoreError, match="at most 200 changes, not 201: use a batch"):
        store.transaction(
            lambda tx: [
                tx.create(Task(id=f"t{i}")) for i in range(CHANGES_PER_TRANSACTION_MAX + 1)
            ],
            0,
        )


def test_a_batch_packs_updates_into_transactions_of_at_most_200_changes() -> None:
    store = MemoryStore()
    batch = store.batch(0)
    for i in range(450):
        assert batch.update(lambda tx, i=i: tx.create(Task(id=f"t{i:03d}"))) is None

    # An update that fails leaves no trace, even of the changes it made first.
    def half_done(tx: WriteTx) -> None:
        tx.create(Task(id="x1"))
        tx.create(Task(id="t000"))

    assert isinstance(batch.update(half_done), ObjectExists)
    transactions = batch.transactions()
    assert [len(t.actions) for t in transactions] == [200, 200, 50]
    for index, transaction in enumerate(transactions, start=1):
        assert store.apply(index, transaction).error is None
    assert len(store.tables["tasks"]) == 450 and "x1" not in store.tables["tasks"]


def test_an_update_of_a_batch_is_never_split() -> None:
    store = MemoryStore()
    batch = store.batch(0)
    batch.update(lambda tx: [tx.create(Task(id=f"a{i}")) for i in range(150)])
    batch.update(lambda tx: [tx.create(Task(id=f"b{i}")) for i in range(100)])
    assert [len(t.actions) for t in batch.transactions()] == [150, 100]


def test_followers_apply_the_same_entries_to_the_same_events_and_bytes() -> None:
    leader, follower = MemoryStore(), MemoryStore()
    entries = []
    for build in (
        lambda tx: tx.create(service("s1", "web")),
        lambda tx: tx.create(Task(id="t1", service_id="s1")),
        lambda tx: tx.delete(leader.view().get("tasks", "t1")),
    ):
        transaction = leader.transaction(build, 5 * SECOND_NS)
        entries.append(transaction.encode())
        leader.apply(leader.version + 1, transaction)
    replayed = [follower.apply(i, Transaction.decode(data)) for i, data in enumerate(entries, 1)]
    assert follower.snapshot() == leader.snapshot()
    assert [a.events for a in replayed][-1][0].kind is ActionKind.DELETE


def test_a_snapshot_restores_every_object_and_the_version() -> None:
    store = MemoryStore()
    committed(store, lambda tx: tx.create(service("s1", "web")))
    committed(store, lambda tx: tx.create(Node(id="n1")))
    restored = MemoryStore.restore(store.snapshot())
    assert restored.version == 2
    assert list(restored.objects()) == list(store.objects())
    assert restored.snapshot() == store.snapshot()


def test_undecodable_entries_and_snapshots_say_so() -> None:
    with pytest.raises(InvalidSpec, match="store transaction"):
        Transaction.decode(b"\x93\x01")
    with pytest.raises(InvalidSpec, match="store snapshot"):
        MemoryStore.restore(b"not msgpack at all")


def test_entries_apply_in_increasing_order_only() -> None:
    store = MemoryStore()
    store.apply_noop(5)
    with pytest.raises(AssertionError, match="entry 5 applied after 5"):
        store.apply(5, Transaction(actions=(), wall_ns=0))


# -- watching ----------------------------------------------------------------------------


def test_subscribers_get_the_committed_events_they_asked_for_in_order() -> None:
    store, queue = MemoryStore(), WatchQueue()
    tasks = queue.subscribe(Subscription(tables=frozenset({"tasks"})))
    deletes = queue.subscribe(Subscription(kinds=frozenset({ActionKind.DELETE}), commits=False))
    mine = queue.subscribe(
        Subscription(where=lambda e: getattr(e.object, "service_id", "") == "s1", commits=False)
    )
    queue.publish(committed(store, lambda tx: tx.create(service("s1", "web"))))
    queue.publish(committed(store, lambda tx: tx.create(Task(id="t1", service_id="s1"))))
    queue.publish(committed(store, lambda tx: tx.delete(store.view().get("tasks", "t1"))))
    assert [(type(e).__name__, getattr(e, "kind", None)) for e in tasks.drain()] == [
        ("EventCommit", None),
        ("Event", ActionKind.CREATE),
        ("EventCommit", None),
        ("Event", ActionKind.DELETE),
        ("EventCommit", None),
    ]
    assert [e.table for e in deletes.drain()] == ["tasks"]
    assert [e.kind for e in mine.drain()] == [ActionKind.CREATE, ActionKind.DELETE]
    assert tasks.drain() == []


def test_a_subscriber_that_falls_too_far_behind_is_closed() -> None:
    store, queue = MemoryStore(), WatchQueue()
    slow = queue.subscribe(Subscription(limit=3))
    queue.publish(committed(store, lambda tx: tx.create(Task(id="t1"))))
    assert not slow.closed
    queue.publish(committed(store, lambda tx: tx.create(Task(id="t2"))))
    assert slow.closed and slow.drain() == []
    queue.publish(committed(store, lambda tx: tx.create(Task(id="t3"))))
    assert slow.drain() == []
